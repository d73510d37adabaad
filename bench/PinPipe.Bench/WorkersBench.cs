using System.Diagnostics;
using System.Globalization;
using PinPipe.Configuration;
using PinPipe.Hosting;
using PinPipe.Lake;
using PinPipe.Lake.Delta;
using PinPipe.Log;
using PinPipe.Source;
using PinPipe.Transform;

namespace PinPipe.Bench;

/// <summary>
/// Issue #12 §5: several <c>pinpipe sink</c> and <c>pinpipe stream</c> workers (Release build, separate processes) in one
/// group over topics and streams of 6 partitions each, on the embedded log (this process owns it, as <c>serve</c> would)
/// and the directory bucket.
/// <list type="bullet">
/// <item><b>Throughput</b> with 1, 2 and 3 workers draining a backlog of <c>--records</c> records per topic (and per
/// stream): records/s from the first commit seen to the last (so process start-up is not counted), read from the group's
/// committed offsets (sink) and the clean tables' txns (stream). The orders 1-2-3 and 3-2-1 alternate by round.</item>
/// <item><b>Rebalance</b>: 3 workers under a steady load; one is SIGKILLed; the time until every partition's committed
/// position moves again (the killed worker's partitions, taken over by the others).</item>
/// <item><b>Nothing lost</b>: after each drain, every record is in the bucket once (sink: lines of the round's objects;
/// stream: the clean tables' row counts, all inds being distinct).</item>
/// </list>
/// On 2 cores the workers share the same cores: the figure to read is the coordination's overhead, not scaling.
/// </summary>
internal static class WorkersBench
{
    internal const int Partitions = 6;
    private static readonly int[] Workers = [1, 2, 3];
    private static readonly TimeSpan Timeout = TimeSpan.FromMinutes(2);
    private static readonly RecordKind[] Kinds = [RecordKind.Pin, RecordKind.Geo, RecordKind.User];

    /// <summary>A lane's workers: their command line, the topics they read, and where the group stands per partition.</summary>
    private sealed record Lane(string Name, string[] Topics, Func<int, int, string[]> Args, Func<Task<Dictionary<string, long>>> Positions)
    {
        /// <summary>Settings for the workers, as <c>Section__Key=value</c>.</summary>
        public IReadOnlyList<string> Env { get; init; } = [];
    }

    public static async Task<List<string>> RunAsync(BenchArgs args)
    {
        var (dll, error) = await BatchBench.PrepareCliAsync("stream");
        if (dll is null) return [$"workers: {error}"];
        using var dir = new BenchDirectory("workers");
        const string User = "w";
        var settings = new PinPipeSettings { DataDir = dir.Path, UserId = User }.Resolve();
        await using var log = await LogFactory.OpenAsync(settings.Log);
        foreach (string t in settings.Names.Topics.Concat(settings.Names.Streams)) await log.CreateTopicAsync(t, Partitions);
        long next = SyntheticData.FirstIndex;
        IngestBench.Progress($"workers: filling 3 topics and 3 streams of {Partitions} partitions with {args.Records:N0} records each");
        next = await AppendAsync(log, settings, next, args.Records);
        long backlog = args.Records * 3L;

        string[] common = ["--data-dir", dir.Path, "--user-id", User];
        var sinkRates = Workers.ToDictionary(w => w, _ => new List<double>());
        var streamRates = Workers.ToDictionary(w => w, _ => new List<double>());
        var checks = new List<string>();
        for (int round = 1; round <= args.Rounds; round++)
        {
            foreach (int w in round % 2 == 1 ? Workers : Workers.Reverse())
            {
                string bucket = $"w-sink-{round}-{w}", group = $"bench-sink-{round}-{w}";
                var sink = SinkLane(log, settings, common, bucket, group);
                sinkRates[w].Add(await DrainAsync(sink, w, backlog, dll, dir.Path, round, args.Rounds));
                long landed = CountLines(Path.Combine(settings.ObjectStore.Root, bucket));
                checks.Add($"sink, {w} workers, round {round}: {landed:N0} lines in the bucket for {backlog:N0} records{(landed == backlog ? "" : " ← MISMATCH")}");

                string streamBucket = $"w-stream-{round}-{w}";
                var stream = StreamLane(settings, streamBucket, $"bench-stream-{round}-{w}", out var store);
                using (store as IDisposable)
                {
                    streamRates[w].Add(await DrainAsync(stream, w, backlog, dll, dir.Path, round, args.Rounds));
                    long rows = await RowsAsync(store, settings);
                    checks.Add($"stream, {w} workers, round {round}: {rows:N0} clean rows for {backlog:N0} records of distinct inds{(rows == backlog ? "" : " ← MISMATCH")}");
                }
            }
        }

        // Rebalance: three workers, a steady load, one killed; the victim on this machine (its death seen by its pid) or
        // looking like another machine's (a UTS namespace of its own: its death seen only as silence, the session timeout).
        var rebalance = new List<string>();
        foreach (bool remote in new[] { false, true })
            foreach (string lane in new[] { "sink", "stream" })
                for (int round = 1; round <= args.Rounds; round++)
                {
                    string bucket = $"w-{lane}-rebalance-{(remote ? "r" : "l")}{round}", group = $"bench-{lane}-rebalance-{(remote ? "r" : "l")}{round}";
                    IObjectStore? store = null;
                    var l = lane == "sink" ? SinkLane(log, settings, common, bucket, group, rebalance: true) : StreamLane(settings, bucket, group, out store);
                    using (store as IDisposable)
                    {
                        string where = remote ? "another machine (own UTS namespace)" : "this machine";
                        try
                        {
                            var (seconds, median) = await RebalanceAsync(l, log, settings, dll, dir.Path, remote, () => next, n => next = n);
                            rebalance.Add(string.Create(CultureInfo.InvariantCulture, $"| {lane} | {where} | {round} | {seconds:0.0} s | {median:0.0} s |"));
                            IngestBench.Progress($"workers: {lane} rebalance ({where}) round {round}: every partition moving again {seconds:0.0} s after the kill");
                        }
                        catch (Exception e) when (e is TimeoutException or InvalidOperationException)
                        {
                            rebalance.Add($"| {lane} | {where} | {round} | failed: {e.Message.Split('\n')[0].Replace("|", "\\|", StringComparison.Ordinal)} | |");
                            IngestBench.Progress($"workers: {lane} rebalance ({where}) round {round} failed: {e.Message}");
                        }
                    }
                }

        var lines = new List<string>
        {
            "",
            string.Create(CultureInfo.InvariantCulture, $"Workers: backlog of {args.Records:N0} records in each of 3 topics and 3 streams, {Partitions} partitions each; embedded log, directory bucket; medians of {args.Rounds} rounds (records/s from the first commit seen to the last, so process start-up is not counted)."),
            "",
            "| lane | 1 worker | 2 workers | 3 workers | 2 / 1 | 3 / 1 |",
            "|---|---|---|---|---|---|",
        };
        foreach (var (name, rates) in new[] { ("sink", sinkRates), ("stream", streamRates) })
        {
            double one = IngestBench.Median(rates[1]), two = IngestBench.Median(rates[2]), three = IngestBench.Median(rates[3]);
            lines.Add(string.Create(CultureInfo.InvariantCulture, $"| {name} | {one:N0} records/s | {two:N0} records/s | {three:N0} records/s | {two / one:0.00} | {three / one:0.00} |"));
        }
        lines.AddRange(["", "Rebalance (3 workers, steady load, one SIGKILLed; session timeout 10 s, target 15 s): seconds from the kill until every partition's committed position moved again, and until the median partition's did (the survivors' own partitions, at their usual pace).", "", "| lane | the killed worker on | round | every partition moving again | median partition |", "|---|---|---|---|---|"]);
        lines.AddRange(rebalance);
        lines.AddRange(["", "Nothing lost or duplicated:", ""]);
        lines.AddRange(checks.Select(c => "* " + c));
        return lines;
    }

    private static Lane SinkLane(ILog log, PinPipeSettings settings, string[] common, string bucket, string group, bool rebalance = false) =>
        new("sink", [.. settings.Names.Topics], (worker, _) => ["sink", .. common, "--bucket", bucket, "--flush-size", rebalance ? "500" : "10000", "--rotate-interval", "1s"],
            async () => (await GroupPositions.OfAsync(log, group, settings.Names.Topics)).ToDictionary(p => $"{p.Topic}/{p.Partition}", p => p.Committed ?? 0))
        { Env = [$"Sink__GroupId={group}"] };

    private static Lane StreamLane(PinPipeSettings settings, string bucket, string group, out IObjectStore store)
    {
        var opened = ObjectStoreFactory.Create(settings.ObjectStore with { Bucket = bucket }, bucket);
        store = opened;
        var tables = Kinds.Select(k => new DeltaTable(opened, PipelineJobs.StreamTarget(settings).TablePrefix(k))).ToArray();
        return new Lane("stream", [.. settings.Names.Streams], (worker, _) => ["stream", "--data-dir", settings.DataDir, "--user-id", settings.UserId, "--bucket", bucket],
            async () =>
            {
                var positions = new Dictionary<string, long>();
                foreach (var t in tables)
                {
                    var snapshot = await t.LatestAsync();
                    if (snapshot is null) continue;
                    foreach (var (appId, version) in snapshot.Txns)
                        if (appId.StartsWith("pinpipe-stream:", StringComparison.Ordinal)) positions[appId] = version;
                }
                return positions;
            })
        { Env = [$"Stream__GroupId={group}"] };
    }

    /// <summary>Starts <paramref name="workers"/> workers on the backlog; their rate from the first commit seen to the last.</summary>
    private static async Task<double> DrainAsync(Lane lane, int workers, long backlog, string dll, string dir, int round, int rounds)
    {
        IngestBench.Progress($"workers: {lane.Name}, {workers} worker(s), round {round}/{rounds}");
        var children = Enumerable.Range(0, workers).Select(i => PinPipeChild.Start(dll, dir, lane.Args(i, workers), lane.Env)).ToList();
        try
        {
            var clock = Stopwatch.StartNew();
            double? firstAt = null;
            long done = 0, firstDone = 0;
            while (done < backlog)
            {
                if (clock.Elapsed > Timeout) throw new TimeoutException($"{lane.Name} with {workers} workers: {done:N0} of {backlog:N0} records after {Timeout}; the first worker's output:\n{children[0].Output}");
                foreach (var c in children)
                    if (c.HasExited) throw new InvalidOperationException($"pinpipe {c.Name} exited with {c.ExitCode}:\n{c.Output}");
                await Task.Delay(50);
                done = (await lane.Positions()).Values.Sum();
                if (firstAt is null && done > 0) (firstAt, firstDone) = (clock.Elapsed.TotalSeconds, done);
            }
            if (firstDone >= backlog / 2) throw new InvalidOperationException($"{lane.Name} with {workers} workers: half the backlog came in the first commit seen; use more --records");
            double rate = (backlog - firstDone) / Math.Max(clock.Elapsed.TotalSeconds - firstAt!.Value, 1e-3);
            IngestBench.Progress(string.Create(CultureInfo.InvariantCulture, $"workers: {lane.Name}, {workers} worker(s): {rate:N0} records/s, all committed after {clock.Elapsed.TotalSeconds:0.0} s"));
            return rate;
        }
        finally
        {
            foreach (var c in children) await c.StopAsync();
            foreach (var c in children) c.Dispose();
        }
    }

    /// <summary>
    /// Three workers under a steady load (about 3,000 records/s a topic); once every partition has moved, one worker is
    /// SIGKILLed. Returns the seconds until every partition's position moved again after the kill, and until the median
    /// partition's did.
    /// </summary>
    private static async Task<(double Seconds, double Median)> RebalanceAsync(Lane lane, ILog log, PinPipeSettings settings, string dll, string dir,
        bool remote, Func<long> next, Action<long> setNext)
    {
        var children = Enumerable.Range(0, 3).Select(i => PinPipeChild.Start(dll, dir, lane.Args(i, 3), lane.Env, remote && i == 2 ? "pinpipe-bench-remote" : null)).ToList();
        using var stopLoad = new CancellationTokenSource();
        var load = Task.Run(async () =>
        {
            long index = next();
            while (!stopLoad.IsCancellationRequested)
            {
                index = await AppendAsync(log, settings, index, 300, lane.Topics);
                await Task.Delay(100);
            }
            setNext(index);
        });
        try
        {
            // Steady: every partition moved within the last two seconds.
            var moved = new Dictionary<string, DateTime>();
            var last = await lane.Positions();
            var deadline = DateTime.UtcNow + TimeSpan.FromMinutes(2);
            while (moved.Count < lane.Topics.Length * Partitions || moved.Values.Any(t => DateTime.UtcNow - t > TimeSpan.FromSeconds(2)))
            {
                if (DateTime.UtcNow > deadline) throw new TimeoutException($"{lane.Name}: not every partition moved ({moved.Count} did)");
                foreach (var c in children)
                    if (c.HasExited) throw new InvalidOperationException($"pinpipe {c.Name} exited with {c.ExitCode}: {c.Output}");
                await Task.Delay(100);
                var now = await lane.Positions();
                foreach (var (key, value) in now)
                    if (!last.TryGetValue(key, out long before) || value > before) moved[key] = DateTime.UtcNow;
                last = now;
            }
            await Task.Delay(TimeSpan.FromSeconds(3));
            last = await lane.Positions();
            var victim = children[^1];
            var clock = Stopwatch.StartNew();
            victim.Kill();
            var movedAfter = new Dictionary<string, double>();
            while (movedAfter.Count < last.Count)
            {
                if (clock.Elapsed > TimeSpan.FromMinutes(1)) throw new TimeoutException($"{lane.Name}: {last.Count - movedAfter.Count} partitions did not move again within a minute of the kill");
                await Task.Delay(50);
                var now = await lane.Positions();
                foreach (var (key, value) in now)
                    if (!movedAfter.ContainsKey(key) && value > last.GetValueOrDefault(key)) movedAfter[key] = clock.Elapsed.TotalSeconds;
            }
            return (movedAfter.Values.Max(), IngestBench.Median(movedAfter.Values));
        }
        finally
        {
            await stopLoad.CancelAsync();
            await load;
            foreach (var c in children) await c.StopAsync();
            foreach (var c in children) c.Dispose();
        }
    }

    /// <summary>Appends <paramref name="count"/> posts (distinct inds from <paramref name="index"/>) to each topic and stream (or only <paramref name="only"/>), spread over the partitions.</summary>
    internal static async Task<long> AppendAsync(ILog log, PinPipeSettings settings, long index, long count, string[]? only = null)
    {
        const int Chunk = 3_000;
        for (long done = 0; done < count; done += Chunk)
        {
            int n = (int)Math.Min(Chunk, count - done);
            var posts = SyntheticData.GenerateBatch(11, index, n);
            index += n;
            for (int k = 0; k < 3; k++)
            {
                var records = posts.Select((p, i) => new LogRecord(null, k switch
                {
                    0 => SourceJson.Pin(p.Pin),
                    1 => SourceJson.Geo(p.Geo!),
                    _ => SourceJson.User(p.User!),
                }, i % Partitions)).ToList();
                foreach (string topic in new[] { settings.Names.Topics[k], settings.Names.Streams[k] })
                    if (only is null || only.Contains(topic)) await log.AppendAsync(topic, records);
            }
        }
        return index;
    }

    private static long CountLines(string bucketDir)
    {
        if (!Directory.Exists(bucketDir)) return 0;
        long lines = 0;
        foreach (string file in Directory.EnumerateFiles(Path.Combine(bucketDir, "topics"), "*.json", SearchOption.AllDirectories))
            if (!file.EndsWith("+topic-id.json", StringComparison.Ordinal))
                foreach (string _ in File.ReadLines(file)) lines++;
        return lines;
    }

    private static async Task<long> RowsAsync(IObjectStore store, PinPipeSettings settings)
    {
        long rows = 0;
        foreach (var kind in Kinds)
        {
            var snapshot = await new DeltaTable(store, PipelineJobs.StreamTarget(settings).TablePrefix(kind)).LoadAsync();
            rows += snapshot?.Files.Sum(f => f.NumRecords ?? 0) ?? 0;
        }
        return rows;
    }
}
