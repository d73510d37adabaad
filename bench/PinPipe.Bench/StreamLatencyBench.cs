using System.Buffers;
using System.Diagnostics;
using System.Globalization;
using System.Net;
using System.Text;
using System.Text.Json;
using PinPipe.Configuration;
using PinPipe.Hosting;
using PinPipe.Ingest;
using PinPipe.Lake;
using PinPipe.Log;
using PinPipe.Source;
using PinPipe.Streaming;
using PinPipe.Transform;

namespace PinPipe.Bench;

/// <summary>
/// The streaming lane's ack-to-readable latency (issue #4): in this process the ingest API over a real embedded log
/// (durable acks) and an HTTP client that puts records into the three streams at a fixed total rate; <c>pinpipe stream</c>
/// (Release build) as a child process. Each acknowledged record's SequenceNumber gives its (stream, partition, offset);
/// the clean tables' <c>_delta_log</c> folders are polled for new commits, and a record is readable once a commit's
/// <c>txn</c> version (the next offset to read) passes its offset. Reported per trigger and rate: p50/p99 of
/// readable − ack, the rate achieved, whether the lag stayed bounded, and the child's resident memory (VmRSS) in the steady phase.
/// </summary>
internal static class StreamLatencyBench
{
    private const string UserId = "bench";
    private const int InFlight = 64;
    private static readonly int[] DefaultRates = [1_000, 5_000, 10_000, 25_000, 50_000, 100_000];
    private static readonly string[] DefaultTriggers = ["1s", "250ms", "100ms"];
    private static readonly TimeSpan CatchUpTimeout = TimeSpan.FromSeconds(20);
    /// <summary>How often the child's RSS is read.</summary>
    private static readonly TimeSpan RssEvery = TimeSpan.FromMilliseconds(200);
    /// <summary>The span a steady RSS is the mean over (<see cref="Run.RssSteadyMiB"/>), the soak's sample.</summary>
    private static readonly TimeSpan RssWindow = TimeSpan.FromSeconds(10);

    private sealed record Run(string Trigger, int Rate, double Achieved, int PerRequest, double P50, double P99, double Max,
        long Unreadable, long Failed, double EarlyP99, double LateP99, double RssMedianMiB, double RssMaxMiB)
    {
        /// <summary>
        /// The steady RSS: the highest mean of <see cref="RssWindow"/> of reads in the steady phase, as the soak takes a
        /// memory sample (the mean of its reads over 10 s); <see cref="RssMaxMiB"/> is the highest single read.
        /// </summary>
        public double RssSteadyMiB { get; init; }

        /// <summary>Cores the stream job used while the records were sent (its CPU time over the wall time).</summary>
        public double StreamCores { get; init; }

        /// <summary>Cores this process (the API and the client) used meanwhile.</summary>
        public double BenchCores { get; init; }

        /// <summary>From starting <c>pinpipe stream</c> (records already waiting) to its first micro-batch's commit.</summary>
        public double StartSeconds { get; init; }

        /// <summary>
        /// The rate was appended and every record became readable, with a lag that did not grow through the run: the p99
        /// of the records acknowledged in the last quarter is at most twice that of the first half plus the trigger.
        /// </summary>
        public bool Sustained => Achieved >= 0.95 * Rate && Unreadable == 0 && Failed == 0 && LateP99 <= 2 * EarlyP99 + Seconds(Trigger);
    }

    public static async Task<List<string>> RunAsync(BenchArgs args)
    {
        var (dll, error) = await BatchBench.PrepareCliAsync("stream");
        if (dll is null) return [$"stream-latency: {error}"];
        var runs = new List<Run>();
        var rates = args.Rates ?? DefaultRates;
        var triggers = args.Triggers ?? DefaultTriggers;
        foreach (var t in triggers) Seconds(t);
        for (int round = 0; round < args.Rounds; round++)
            foreach (int rate in rates)
                foreach (string trigger in triggers) // side by side: every trigger at a rate before the next rate
                {
                    var run = await RunOnceAsync(dll, trigger, rate, args.Duration, args.StreamEnv, args.PrefillRows);
                    runs.Add(run);
                    IngestBench.Progress(string.Create(CultureInfo.InvariantCulture,
                        $"stream-latency: trigger {trigger}, {rate:N0} records/s: start → first commit {run.StartSeconds:0.00} s, appended {run.Achieved:N0}/s, p50 {run.P50 * 1000:N0} ms, p99 {run.P99 * 1000:N0} ms, max {run.Max * 1000:N0} ms, unreadable {run.Unreadable}, p99 first half/last quarter {run.EarlyP99 * 1000:N0}/{run.LateP99 * 1000:N0} ms, RSS {run.RssMedianMiB:N0} MiB (highest 10-s mean {run.RssSteadyMiB:N0}, highest read {run.RssMaxMiB:N0}), CPU stream job {run.StreamCores:0.00} cores, API + client {run.BenchCores:0.00}{(run.Sustained ? "" : " NOT SUSTAINED")}"));
                }

        var lines = new List<string>
        {
            "",
            $"Ack → readable in the clean Delta table, {args.Duration.TotalSeconds:0} s per run, medians of {args.Rounds} round(s); stream job = `pinpipe stream` child (Release), RSS = its VmRSS read every 0.2 s in the steady phase (the last three quarters): the median read, the steady RSS (a round's highest 10-s mean of reads, as the soak samples memory: the median of the rounds and the highest round) and the highest single read (the API and the client run in the bench process):",
            "",
            "| trigger | target rate | records/request | appended | p50 | p99 | max | p99 first half / last quarter | lag bounded | stream job RSS: median read / steady (highest 10-s mean: median of the rounds, highest round) / highest read | CPU: stream job / API + client (cores) |",
            "|---|---|---|---|---|---|---|---|---|---|---|",
        };
        foreach (string trigger in triggers)
            foreach (int rate in rates)
            {
                var r = runs.Where(x => x.Trigger == trigger && x.Rate == rate).ToList();
                if (r.Count == 0) continue;
                int sustained = r.Count(x => x.Sustained);
                string unreadable = r.Sum(x => x.Unreadable) > 0 ? $", {r.Max(x => x.Unreadable):N0} not readable {CatchUpTimeout.TotalSeconds:0} s after the run" : "";
                lines.Add(string.Create(CultureInfo.InvariantCulture,
                    $"| {trigger} | {rate:N0}/s | {r[0].PerRequest} | {M(r, x => x.Achieved):N0}/s | {M(r, x => x.P50) * 1000:N0} ms | {M(r, x => x.P99) * 1000:N0} ms | {M(r, x => x.Max) * 1000:N0} ms | {M(r, x => x.EarlyP99) * 1000:N0} / {M(r, x => x.LateP99) * 1000:N0} ms | {(sustained == r.Count ? "yes" : sustained == 0 ? "no" : $"{sustained}/{r.Count} rounds")}{unreadable} | {M(r, x => x.RssMedianMiB):N0} / {M(r, x => x.RssSteadyMiB):N0}, {r.Max(x => x.RssSteadyMiB):N0} / {r.Max(x => x.RssMaxMiB):N0} MiB | {M(r, x => x.StreamCores):0.00} / {M(r, x => x.BenchCores):0.00} |"));
            }
        if (args.PrefillRows > 0)
        {
            lines.Add("");
            lines.Add(string.Create(CultureInfo.InvariantCulture, $"Tables pre-filled with {args.PrefillRows:N0} clean rows each (sorted by ind, files of about 128 MiB, txns at the stream's start): the job restarted over them."));
            lines.Add("");
            lines.Add("| trigger | target rate | start → first commit (≤ 5 s) | steady RSS, highest 10-s mean (≤ 300 MB) |");
            lines.Add("|---|---|---|---|");
            foreach (var r in runs)
                lines.Add(string.Create(CultureInfo.InvariantCulture,
                    $"| {r.Trigger} | {r.Rate:N0}/s | {r.StartSeconds:0.00} s {Mark(r.StartSeconds <= 5)} | {r.RssSteadyMiB:N0} MiB {Mark(r.RssSteadyMiB * 1.048576 <= 300)} |"));
        }
        lines.Add("");
        lines.Add("| trigger | p50 ≤ 100 ms at 10k/s | p99 ≤ 250 ms at 10k/s | highest sustained rate (≥ 100k/s) | p99 ≤ 1 s at 100k/s | steady RSS ≤ 300 MB |");
        lines.Add("|---|---|---|---|---|---|");
        foreach (string trigger in triggers)
        {
            var at10k = runs.Where(x => x.Trigger == trigger && x.Rate == 10_000).ToList();
            var mine = runs.Where(x => x.Trigger == trigger).ToList();
            int best = rates.Where(rate => mine.Where(x => x.Rate == rate).All(x => x.Sustained) && mine.Any(x => x.Rate == rate)).DefaultIfEmpty(0).Max();
            double p50 = M(at10k, x => x.P50), p99 = M(at10k, x => x.P99);
            var at100k = mine.Where(x => x.Rate == 100_000).ToList();
            double p99At100k = M(at100k, x => x.P99);
            var sustainedRuns = mine.Where(x => x.Sustained).ToList();
            // Judged as every other target, by the median of the rounds: each rate's median of its rounds' steady RSS, the highest
            // of the rates; the highest round and the highest single read are printed beside it.
            double rss = sustainedRuns.GroupBy(x => x.Rate).Select(g => M([.. g], x => x.RssSteadyMiB)).DefaultIfEmpty(double.NaN).Max();
            double rssRound = sustainedRuns.Select(x => x.RssSteadyMiB).DefaultIfEmpty(double.NaN).Max();
            double rssRead = sustainedRuns.Select(x => x.RssMaxMiB).DefaultIfEmpty(double.NaN).Max();
            // A run whose lag grew has no steady memory (its micro-batches grow with the lag): with no sustained run there is
            // nothing to judge, and the cell says so with the unsustained runs' highest round instead of a NaN.
            string rssCell = sustainedRuns.Count == 0
                ? string.Create(CultureInfo.InvariantCulture, $"not judged: no run sustained its rate (highest round of the unsustained {mine.Select(x => x.RssSteadyMiB).DefaultIfEmpty(0).Max():N0} MiB) ✗")
                : string.Create(CultureInfo.InvariantCulture, $"{rss:N0} MiB, the median of the rounds' steady RSS (highest 10-s mean) at the rate where it is highest {Mark(rss * 1.048576 <= 300)} (highest round {rssRound:N0} MiB, highest read {rssRead:N0} MiB)");
            lines.Add(string.Create(CultureInfo.InvariantCulture,
                $"| {trigger} | {(at10k.Count == 0 ? "not run" : $"{p50 * 1000:N0} ms {Mark(p50 <= 0.1)}")} | {(at10k.Count == 0 ? "not run" : $"{p99 * 1000:N0} ms {Mark(p99 <= 0.25)}")} | {(best == 0 ? "none" : $"{best:N0}/s")} {Mark(best >= 100_000)} | {(at100k.Count == 0 ? "not run" : $"{p99At100k * 1000:N0} ms {Mark(p99At100k <= 1 && at100k.All(x => x.Sustained))}")} | {rssCell} |"));
        }
        return lines;
    }

    /// <summary>The highest mean of <paramref name="window"/> consecutive reads (of all of them when there are fewer); 0 for none.</summary>
    private static double HighestWindowMean(long[] reads, int window)
    {
        if (reads.Length == 0) return 0;
        window = Math.Clamp(window, 1, reads.Length);
        double sum = 0;
        for (int i = 0; i < window; i++) sum += reads[i];
        double best = sum;
        for (int i = window; i < reads.Length; i++)
        {
            sum += reads[i] - reads[i - window];
            best = Math.Max(best, sum);
        }
        return best / window;
    }

    /// <summary>A trigger's seconds: <c>250ms</c>, <c>1s</c> (the durations of flags and settings).</summary>
    private static double Seconds(string trigger) => Durations.Parse(trigger).TotalSeconds;

    private static string Mark(bool ok) => ok ? "✓" : "✗";

    private static double M(List<Run> runs, Func<Run, double> f) => IngestBench.Median(runs.Select(f));

    private static async Task<Run> RunOnceAsync(string dll, string trigger, int rate, TimeSpan duration, IReadOnlyList<string> env, long prefillRows)
    {
        using var dir = new BenchDirectory("stream-latency");
        var settings = new PinPipeSettings { DataDir = dir.Path, UserId = UserId }.Resolve();
        var streams = settings.Names.Streams;
        int perRequest = Math.Clamp(rate / 3 / 200, 1, 500); // ≈ 200 requests a second per stream
        int posts = (int)Math.Ceiling(rate / 3.0 * duration.TotalSeconds / perRequest) * perRequest;
        const int WarmPosts = 30;

        // Bodies are built before anything runs, so that building them takes no CPU from the measurement.
        var warm = Bodies(SyntheticData.FirstIndex, WarmPosts, WarmPosts, settings);
        var bodies = Bodies(SyntheticData.FirstIndex + WarmPosts, posts, perRequest, settings);

        await using var log = await LogFactory.OpenAsync(settings.Log);
        foreach (string s in streams) await log.CreateTopicAsync(s, 1);
        await using var api = await IngestServer.StartAsync(new IngestOptions { Urls = "http://127.0.0.1:0" }, log);
        var store = ObjectStoreFactory.Create(settings.ObjectStore, settings.Names.Bucket);
        using var handler = new SocketsHttpHandler { MaxConnectionsPerServer = InFlight };
        using var http = new HttpClient(handler) { BaseAddress = api.BaseAddress, Timeout = TimeSpan.FromSeconds(60) };
        var topicIds = new List<string?>();
        foreach (string s in streams) topicIds.Add((await log.DescribeTopicAsync(s))!.TopicId);
        if (prefillRows > 0) await StreamPrefill.FillAsync(settings, store, topicIds, prefillRows);
        // Warm-up: the records wait in the streams; the child starts (JIT, DuckDB) and commits a first micro-batch before the clock starts.
        var warmAcks = new Acks();
        await Task.WhenAll(warm.Select(b => SendAsync(http, b, warmAcks)));
        if (warmAcks.Failed > 0) throw new InvalidOperationException($"the API refused {warmAcks.Failed} warm-up records");
        long childStart = Stopwatch.GetTimestamp();
        // The child's whole log (with --verbose: every micro-batch and the time of its steps) is kept in bench/results.
        string logs = Path.Combine(Repo.Root, "bench", "results", "stream-latency");
        Directory.CreateDirectory(logs);
        using var child = PinPipeChild.Start(dll, dir.Path, ["stream", "--data-dir", dir.Path, "--user-id", UserId, "--trigger", trigger, "--verbose"], env,
            logFile: Path.Combine(logs, $"stream-{trigger}-{rate}-{DateTime.UtcNow:yyyyMMdd-HHmmss}.log"));
        using var stopWatch = new CancellationTokenSource();
        var watcher = new CommitWatcher(store, settings, topicIds);
        var watching = watcher.RunAsync(stopWatch.Token);
        try
        {
            if (!await WaitReadableAsync(watcher, warmAcks, TimeSpan.FromSeconds(90), child))
                throw new InvalidOperationException("pinpipe stream did not commit the warm-up records in 90 s:\n" + child.Output);
            double startSeconds = Enumerable.Range(0, 3).Select(k => watcher.Commits(k)).Where(c => c.Count > 0)
                .Min(c => c[0].SeenAt - childStart) / (double)Stopwatch.Frequency;

            var acks = new Acks();
            using var gate = new SemaphoreSlim(InFlight);
            var pending = new List<Task>(bodies.Count);
            var rss = new List<long>();
            var clock = Stopwatch.StartNew();
            long start = Stopwatch.GetTimestamp();
            TimeSpan childCpu0 = child.CpuTime(), benchCpu0 = Process.GetCurrentProcess().TotalProcessorTime;
            var sampling = Task.Run(async () =>
            {
                while (clock.Elapsed < duration)
                {
                    long kb = child.RssKb();
                    if (clock.Elapsed > duration / 4 && kb > 0) lock (rss) rss.Add(kb);
                    await Task.Delay(RssEvery);
                }
            });
            for (int i = 0; i < bodies.Count; i++)
            {
                var due = TimeSpan.FromSeconds((double)i * perRequest / rate);
                while (clock.Elapsed < due) await Task.Delay(1);
                await gate.WaitAsync();
                var body = bodies[i];
                pending.Add(Task.Run(async () =>
                {
                    try { await SendAsync(http, body, acks); }
                    finally { gate.Release(); }
                }));
            }
            await Task.WhenAll(pending);
            double sent = clock.Elapsed.TotalSeconds;
            double streamCores = (child.CpuTime() - childCpu0).TotalSeconds / sent;
            double benchCores = (Process.GetCurrentProcess().TotalProcessorTime - benchCpu0).TotalSeconds / sent;
            await sampling;
            await WaitReadableAsync(watcher, acks, CatchUpTimeout, child); // what is still unreadable after counts as such

            // Latency per record: the first commit of its stream whose txn passes its offset.
            var all = new List<(double At, double Lag)>();
            long unreadable = 0;
            for (int k = 0; k < 3; k++)
            {
                var commits = watcher.Commits(k);
                foreach (var (offset, ackAt) in acks.Of(k))
                {
                    int c = FirstPassing(commits, offset);
                    if (c < 0) { unreadable++; continue; }
                    all.Add(((ackAt - start) / (double)Stopwatch.Frequency, (commits[c].SeenAt - ackAt) / (double)Stopwatch.Frequency));
                }
            }
            if (all.Count == 0) throw new InvalidOperationException("no record became readable:\n" + child.Output);
            var lags = all.Select(a => a.Lag).Order().ToArray();
            double span = duration.TotalSeconds;
            double early = P99(all.Where(a => a.At < span / 2).Select(a => a.Lag));
            double late = P99(all.Where(a => a.At >= span * 3 / 4).Select(a => a.Lag));
            long[] samples;
            lock (rss) samples = [.. rss];
            return new Run(trigger, rate, acks.Count / sent, perRequest, Percentile(lags, 0.50), Percentile(lags, 0.99), lags[^1],
                unreadable, acks.Failed, double.IsNaN(early) ? 0 : early, double.IsNaN(late) ? 0 : late,
                IngestBench.Median(samples.Select(s => s / 1024.0)), samples.DefaultIfEmpty(0).Max() / 1024.0)
            {
                RssSteadyMiB = HighestWindowMean(samples, (int)(RssWindow / RssEvery)) / 1024.0,
                StartSeconds = startSeconds,
                StreamCores = streamCores,
                BenchCores = benchCores,
            };
        }
        finally
        {
            await child.StopAsync();
            await stopWatch.CancelAsync();
            try { await watching; } catch (OperationCanceledException) { }
            (store as IDisposable)?.Dispose();
        }
    }

    private static double P99(IEnumerable<double> lags)
    {
        var sorted = lags.Order().ToArray();
        return sorted.Length == 0 ? double.NaN : Percentile(sorted, 0.99);
    }

    private static double Percentile(double[] sorted, double p) => sorted[Math.Min(sorted.Length - 1, (int)Math.Ceiling(p * sorted.Length) - 1)];

    /// <summary>The index of the first commit whose next offset is past <paramref name="offset"/>; -1 when none.</summary>
    private static int FirstPassing(IReadOnlyList<(long Next, long SeenAt)> commits, long offset)
    {
        int lo = 0, hi = commits.Count;
        while (lo < hi)
        {
            int mid = (lo + hi) / 2;
            if (commits[mid].Next > offset) hi = mid; else lo = mid + 1;
        }
        return lo < commits.Count ? lo : -1;
    }

    private static async Task<bool> WaitReadableAsync(CommitWatcher watcher, Acks acks, TimeSpan timeout, PinPipeChild child)
    {
        var deadline = Stopwatch.StartNew();
        while (deadline.Elapsed < timeout)
        {
            bool all = true;
            for (int k = 0; k < 3 && all; k++) all = acks.MaxOffset(k) < watcher.Next(k);
            if (all) return true;
            if (child.HasExited) throw new InvalidOperationException($"pinpipe stream exited with {child.ExitCode}:\n{child.Output}");
            await Task.Delay(20);
        }
        return false;
    }

    /// <summary>One request: the stream it goes to (0 pin, 1 geo, 2 user), its route and body.</summary>
    private sealed record Body(int Stream, string Route, bool Single, int Records, byte[] Content);

    /// <summary>Requests of <paramref name="perRequest"/> records for posts <paramref name="from"/>.., interleaved pin, geo, user.</summary>
    private static List<Body> Bodies(long from, int posts, int perRequest, PinPipeSettings settings)
    {
        var generated = SyntheticData.GenerateBatch(11, from, posts);
        var buffer = new ArrayBufferWriter<byte>();
        var result = new List<Body>();
        for (int start = 0; start < posts; start += perRequest)
        {
            var chunk = generated.AsSpan(start, Math.Min(perRequest, posts - start)).ToArray();
            for (int k = 0; k < 3; k++)
            {
                string stream = settings.Names.Streams[k];
                var json = new StringBuilder();
                bool single = chunk.Length == 1;
                json.Append(single ? $"{{\"StreamName\":\"{stream}\",\"Data\":" : "{\"records\":[");
                for (int i = 0; i < chunk.Length; i++)
                {
                    buffer.Clear();
                    if (k == 0) SourceJson.WritePin(buffer, chunk[i].Pin);
                    else if (k == 1) SourceJson.WriteGeo(buffer, chunk[i].Geo!);
                    else SourceJson.WriteUser(buffer, chunk[i].User!);
                    string key = chunk[i].Pin.Index.ToString(CultureInfo.InvariantCulture);
                    if (single) json.Append(Encoding.UTF8.GetString(buffer.WrittenSpan)).Append($",\"PartitionKey\":\"{key}\"}}");
                    else json.Append(i == 0 ? "" : ",").Append("{\"data\":").Append(Encoding.UTF8.GetString(buffer.WrittenSpan)).Append($",\"partition-key\":\"{key}\"}}");
                }
                if (!single) json.Append("]}");
                result.Add(new Body(k, $"streams/{stream}/{(single ? "record" : "records")}", single, chunk.Length, Encoding.UTF8.GetBytes(json.ToString())));
            }
        }
        return result;
    }

    private static async Task SendAsync(HttpClient http, Body body, Acks acks)
    {
        using var content = new ByteArrayContent(body.Content);
        content.Headers.ContentType = new System.Net.Http.Headers.MediaTypeHeaderValue("application/json");
        try
        {
            using var response = await http.PutAsync(body.Route, content);
            byte[] answer = await response.Content.ReadAsByteArrayAsync();
            long at = Stopwatch.GetTimestamp();
            if (response.StatusCode != HttpStatusCode.OK)
            {
                acks.Fail(body.Records);
                return;
            }
            using var doc = JsonDocument.Parse(answer);
            if (body.Single)
            {
                Record(doc.RootElement);
                return;
            }
            foreach (var r in doc.RootElement.GetProperty("Records").EnumerateArray()) Record(r);

            void Record(JsonElement r)
            {
                if (r.TryGetProperty("SequenceNumber", out var s) && KinesisShards.TryParseSequenceNumber(s.GetString()!, out _, out int partition, out long offset))
                {
                    if (partition != 0) throw new InvalidOperationException($"a record went to partition {partition}; the bench creates one shard per stream");
                    acks.Add(body.Stream, offset, at);
                }
                else acks.Fail(1);
            }
        }
        catch (HttpRequestException)
        {
            acks.Fail(body.Records);
        }
    }

    /// <summary>Acknowledged records: (offset, ack timestamp) per stream.</summary>
    private sealed class Acks
    {
        private readonly List<(long Offset, long At)>[] _acks = [[], [], []];
        private readonly long[] _max = [-1, -1, -1];
        private long _failed;

        public long Failed => Interlocked.Read(ref _failed);

        public long Count { get { lock (_acks) return _acks.Sum(a => a.Count); } }

        public void Add(int stream, long offset, long at)
        {
            lock (_acks)
            {
                _acks[stream].Add((offset, at));
                _max[stream] = Math.Max(_max[stream], offset);
            }
        }

        public void Fail(int records) => Interlocked.Add(ref _failed, records);

        public long MaxOffset(int stream) { lock (_acks) return _max[stream]; }

        public List<(long Offset, long At)> Of(int stream) { lock (_acks) return [.. _acks[stream]]; }
    }

    /// <summary>
    /// Polls the three clean tables' <c>_delta_log</c> folders (every 2 ms) for the next commit file and notes, per
    /// stream, each commit's txn version (the next offset to read) and when the commit was first seen.
    /// </summary>
    private sealed class CommitWatcher(IObjectStore store, PinPipeSettings settings, IReadOnlyList<string?> topicIds)
    {
        private static readonly RecordKind[] Kinds = [RecordKind.Pin, RecordKind.Geo, RecordKind.User];
        private readonly List<(long Next, long SeenAt)>[] _commits = [[], [], []];

        public IReadOnlyList<(long Next, long SeenAt)> Commits(int stream) { lock (_commits) return [.. _commits[stream]]; }

        public long Next(int stream) { lock (_commits) return _commits[stream].Count == 0 ? 0 : _commits[stream][^1].Next; }

        public async Task RunAsync(CancellationToken cancellationToken)
        {
            var folders = Kinds.Select(k => store.LocalPath(PipelineJobs.StreamTarget(settings).TablePrefix(k) + "/_delta_log")
                ?? throw new InvalidOperationException("the bench needs a directory bucket")).ToArray();
            var appIds = settings.Names.Streams.Select((s, k) => StreamJob.AppId(s, 0, topicIds[k])).ToArray();
            long[] version = [0, 0, 0];
            while (!cancellationToken.IsCancellationRequested)
            {
                for (int k = 0; k < 3; k++)
                {
                    while (true)
                    {
                        string file = Path.Combine(folders[k], $"{version[k]:D20}.json");
                        if (!File.Exists(file)) break;
                        long seen = Stopwatch.GetTimestamp();
                        string[] lines;
                        try { lines = await File.ReadAllLinesAsync(file, CancellationToken.None); }
                        catch (IOException) { break; }
                        foreach (string line in lines)
                        {
                            if (!line.Contains("\"txn\"", StringComparison.Ordinal)) continue;
                            using var doc = JsonDocument.Parse(line);
                            if (!doc.RootElement.TryGetProperty("txn", out var txn) || txn.GetProperty("appId").GetString() != appIds[k]) continue;
                            long next = txn.GetProperty("version").GetInt64();
                            if (next == 0) continue; // a pre-filled table's start: nothing of the stream yet
                            lock (_commits) _commits[k].Add((next, seen));
                        }
                        version[k]++;
                    }
                }
                try { await Task.Delay(2, cancellationToken); }
                catch (OperationCanceledException) { return; }
            }
        }
    }
}
