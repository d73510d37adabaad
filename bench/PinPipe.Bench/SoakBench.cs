using System.Collections.Concurrent;
using System.Diagnostics;
using System.Globalization;
using System.Net;
using System.Net.Http.Headers;
using System.Net.Sockets;
using System.Text;
using System.Text.Json;
using PinPipe.Configuration;
using PinPipe.Hosting;
using PinPipe.Lake;
using PinPipe.Lake.Delta;
using PinPipe.Log;
using PinPipe.Source;
using PinPipe.Streaming;
using PinPipe.Transform;

namespace PinPipe.Bench;

/// <summary>
/// The soak (issues #10 and #13): <c>pinpipe serve</c>, <c>pinpipe sink</c>, <c>pinpipe stream</c> and one
/// <c>pinpipe emulate --rate R --records-per-request N</c> per lane as separate processes (Release build) over one data
/// folder for <c>--minutes</c> (<c>--lane stream</c>: the streaming lane only, no sink). The emulators draw from the 11,000
/// seeded rows with repeats, as the original did, so the tables hardly grow; <c>--unique</c> seeds a row for every post of
/// the run and has each emulator post them in order, each once, so the tables grow as a real feed's would. Every 10 s it samples each
/// process's resident memory (VmRSS, read every second: a sample is their mean, and the lowest and highest read of the
/// long-running processes go beside it, not judged); the records per second ingested, landed by the sink and committed by the stream
/// job; the sink's and the stream job's lag (records past their committed offsets, from their <c>/metrics</c>, read every
/// second: a sample is their mean); the API's request latency (p50/p99 of the requests in those 10 s, by route family, from
/// its histogram); and the end-to-end latency of probe records, ten posted to each lane every second at random moments
/// (<see cref="ProbeAsync"/>; a sample is the median of those that arrived in its 10 s): ack → committed in the bucket
/// (the sink's committed offset passes it) and ack → readable in the streaming <c>pin</c> table (a Delta commit's txn
/// passes it).
/// At the end the emulators must report nothing lost; once every record is consumed a <c>pinpipe batch</c> runs and
/// then <c>pinpipe verify</c>, which must exit 0. It writes <c>soak.csv</c> and <c>soak.svg</c> into
/// <c>bench/results/soak-&lt;time&gt;/</c> and judges every series after the warm-up (5 minutes, at most half the
/// run): memory sample by sample within ±10 % of its median, rates, lags and latencies by the medians of 5-minute
/// windows within ±10 % of the whole median (single 10-s samples of a lag or a latency swing with each flush).
/// </summary>
internal static class SoakBench
{
    private static readonly TimeSpan Interval = TimeSpan.FromSeconds(10);

    /// <summary>How often the lags and the processes' memory are read: a 10-s sample is the mean of these.</summary>
    private static readonly TimeSpan ReadInterval = TimeSpan.FromSeconds(1);

    /// <summary>
    /// One probe goes to each lane at a random moment within each slot of this length (10 a second): a 10-s sample is the
    /// median of the probes that arrived in it.
    /// </summary>
    private static readonly TimeSpan ProbeSlot = TimeSpan.FromMilliseconds(100);

    /// <summary>The wait between two reads of the sink's committed offsets for the bucket probes (a read takes a few ms more).</summary>
    private static readonly TimeSpan SinkPoll = TimeSpan.FromMilliseconds(50);
    private static readonly TimeSpan Window = TimeSpan.FromMinutes(5);
    private const double Tolerance = 0.10;
    private const long ProbeBase = 900_000_000; // probe inds: far above the source's

    private sealed record Sample(double Minutes, long[] RssKb, Dictionary<string, double> Values);

    /// <summary>
    /// Columns of the CSV that explain a stall but are not judged: for each long-running process, its CPU use (% of one
    /// core), the GC's pauses (ms), its thread pool's backlog, and the lowest and highest of its VmRSS reads (MiB) over the
    /// sample's 10 s; the sink's failures; the whole
    /// machine's busy CPU and the CPU time the hypervisor gave other guests (steal), in % of all cores (<c>/proc/stat</c>);
    /// and the baseline's CPU probe taken again with each sample, per second of its thread's CPU time
    /// (<see cref="Baseline.ThreadCpuMBps"/>): at a steady load a fall in it is the host running a core slower, which every
    /// process's CPU use and latency then follow; the same for the stream job's kind of work, the median CPU time of
    /// <see cref="ProbeBatches"/> micro-batches of <see cref="HeldMicroBatch"/> in the harness (<c>duckdb_probe_ms</c>); the pin
    /// table's micro-batches (<see cref="PinSteps"/>); and the clean tables' files the stream job's duplicate checks read or
    /// found in the key cache (<see cref="KeyFileSources"/>).
    /// </summary>
    private static string[] Diagnostics(bool both)
    {
        var keys = new List<string>();
        foreach (string process in both ? ServiceProcesses : [.. ServiceProcesses.Where(p => p != "sink")])
            keys.AddRange([$"{process}_cpu_pct", $"{process}_gc_pause_ms", $"{process}_threadpool_queue", $"{process}_rss_low_mib", $"{process}_rss_high_mib"]);
        if (both) keys.Add("sink_failures");
        keys.AddRange(["machine_busy_pct", "machine_steal_pct", "cpu_probe_mbps", "duckdb_probe_ms"]);
        keys.AddRange(DoublingQuantiles(both).Select(q => q.Key));
        keys.AddRange(PinSteps.Select(s => $"pin_{s}_ms").Prepend("pin_batch_ms").Prepend("pin_batch_records"));
        keys.AddRange(KeyFileSources.Select(s => $"stream_key_files_{s}"));
        return [.. keys];
    }

    private static readonly string[] ServiceProcesses = ["serve", "sink", "stream"];

    /// <summary>
    /// The API's p50 and p99 (the <see cref="Measures"/> of the lanes run) from the same histogram taken with the bounds a
    /// doubling apart that it had before (<see cref="Observability.PinPipeMetrics.IngestDurationBounds"/>): what the coarser
    /// layout read in the same seconds, as <c>kafka_p99_2x_ms</c> beside <c>kafka_p99_ms</c>.
    /// </summary>
    private static IEnumerable<(string Key, string Label)> DoublingQuantiles(bool both) =>
        Measures.Where(m => (both || !m.BothLanesOnly) && m.Label.StartsWith("API ", StringComparison.Ordinal))
            .Select(m => (m.Key.Replace("_ms", "_2x_ms", StringComparison.Ordinal), $"{m.Label}, from buckets a doubling apart"));

    /// <summary>The micro-batches of the DuckDB probe with each sample (about 10 ms of CPU each): the sample takes their median.</summary>
    private const int ProbeBatches = 5;

    /// <summary>
    /// Where the stream job's duplicate checks found the keys of the clean tables' files that could hold a new key, in the sample
    /// (<c>pinpipe_stream_key_files_total</c>, all tables): files read from the bucket, or held by the key cache.
    /// </summary>
    private static readonly string[] KeyFileSources = ["read", "cached"];

    /// <summary>The steps of a micro-batch the stream job times (<c>pinpipe_stream_batch_step_seconds</c>), sampled for the pin table: what the table probe waits for.</summary>
    private static readonly string[] PinSteps = ["collect", "clean", "write", "commit"];

    /// <summary>
    /// A sampled series other than memory: its name, unit and how its flatness is judged. <paramref name="HostBound"/>: a
    /// time or a backlog, which at a steady load grows as the host runs the pipeline's work slower; judged again against
    /// the host's speed (<see cref="HostAdjusted"/>).
    /// </summary>
    private sealed record Series(string Key, string Label, string Unit, bool BothLanesOnly = false, bool HostBound = false);

    private static readonly Series[] Measures =
    [
        new("ingest_rps", "ingested", "records/s"),
        new("sink_rps", "landed by the sink", "records/s", BothLanesOnly: true),
        new("stream_rps", "committed by the stream job", "records/s"),
        new("sink_lag", "sink lag", "records", BothLanesOnly: true, HostBound: true),
        new("stream_lag", "stream job lag", "records", HostBound: true),
        new("kafka_p50_ms", "API p50, Kafka REST", "ms", BothLanesOnly: true, HostBound: true),
        new("kafka_p99_ms", "API p99, Kafka REST", "ms", BothLanesOnly: true, HostBound: true),
        new("kinesis_p50_ms", "API p50, Kinesis", "ms", HostBound: true),
        new("kinesis_p99_ms", "API p99, Kinesis", "ms", HostBound: true),
        new("probe_bucket_ms", "probe ack → in the bucket", "ms", BothLanesOnly: true, HostBound: true),
        new("probe_table_ms", "probe ack → readable in the Delta table", "ms", HostBound: true),
    ];

    public static async Task<List<string>> RunAsync(BenchArgs args)
    {
        var (dll, error) = await BatchBench.PrepareCliAsync("stream");
        if (dll is null) return [$"soak: {error}"];
        bool both = args.Lane != "stream";
        var duration = TimeSpan.FromMinutes(args.Minutes);
        var warmup = TimeSpan.FromMinutes(Math.Min(args.WarmupMinutes, args.Minutes / 2.0));
        using var dir = new BenchDirectory("soak");
        string output = Path.Combine(Repo.Root, "bench", "results", $"soak-{DateTime.UtcNow:yyyyMMdd-HHmmss}");
        Directory.CreateDirectory(output);
        string url = Url(FreePort()), sinkMetrics = Url(FreePort()), streamMetrics = Url(FreePort());
        string[] common = ["--data-dir", dir.Path, "--user-id", "soak"];
        string rate = args.Rate.ToString(CultureInfo.InvariantCulture), perRequest = args.RecordsPerRequest.ToString(CultureInfo.InvariantCulture);
        string seconds = string.Create(CultureInfo.InvariantCulture, $"{(int)duration.TotalSeconds}s");

        // --unique: a row for each post the run sends (and 5 % to spare), each emulator posting them in order, each once.
        long rows = args.Unique ? (long)Math.Ceiling(args.Rate * duration.TotalSeconds * 1.05) + 1_000 : 0;
        string[] order = args.Unique ? ["--order", "sequential"] : [];
        var seedTime = Stopwatch.StartNew();
        var seed = await ChildRun.RunAsync("dotnet", [dll, "seed", .. common, .. args.Unique ? new[] { "--rows", rows.ToString(CultureInfo.InvariantCulture) } : []], dir.Path);
        if (seed.ExitCode != 0) return [$"soak: pinpipe seed exited with {seed.ExitCode}: {seed.Excerpt()}"];
        if (args.Unique) IngestBench.Progress(string.Create(CultureInfo.InvariantCulture, $"soak: seeded {rows:N0} posts in {seedTime.Elapsed.TotalSeconds:0} s"));
        string LogFile(string name) => Path.Combine(output, name.Replace(' ', '-') + ".log");
        var children = new List<PinPipeChild> { PinPipeChild.Start(dll, dir.Path, ["serve", "--urls", url, .. common], logFile: LogFile("serve")) };
        var names = new List<string> { "serve" };
        var settings = new PinPipeSettings { DataDir = dir.Path, UserId = "soak" }.Resolve();
        var store = ObjectStoreFactory.Create(settings.ObjectStore, settings.Names.Bucket);
        var tables = new[] { RecordKind.Pin, RecordKind.Geo, RecordKind.User }.Select(k => new DeltaTable(store, PipelineJobs.StreamTarget(settings).TablePrefix(k))).ToArray();
        using var http = new HttpClient { Timeout = TimeSpan.FromSeconds(10) };
        var samples = new List<Sample>();
        var probes = new ConcurrentQueue<(string Key, double Value)>(); // probe latencies and lags, read between two samples
        var lines = new List<string>();
        try
        {
            await WaitHealthyAsync(url, children[0]);
            if (both) Add("sink", PinPipeChild.Start(dll, dir.Path, ["sink", .. common], [$"Metrics__Urls={sinkMetrics}"], logFile: LogFile("sink")));
            Add("stream", PinPipeChild.Start(dll, dir.Path, ["stream", .. common], [$"Metrics__Urls={streamMetrics}", .. args.StreamEnv], logFile: LogFile("stream")));
            var emulators = new List<PinPipeChild>();
            foreach (string lane in both ? new[] { "batch", "stream" } : ["stream"])
            {
                emulators.Add(PinPipeChild.Start(dll, dir.Path, ["emulate", "--lane", lane, "--api-url", url, "--rate", rate, "--records-per-request", perRequest, "--duration", seconds, .. order, .. common], logFile: LogFile($"emulate {lane}")));
                Add($"emulate {lane}", emulators[^1]);
            }

            void Add(string name, PinPipeChild child)
            {
                children.Add(child);
                names.Add(name);
            }

            using var duckDbProbe = await HeldMicroBatch.CreateAsync(Path.Combine(dir.Path, "duckdb-probe"));
            using var stopProbing = new CancellationTokenSource();
            string pinTable = StreamJob.TableName(PipelineJobs.StreamTarget(settings).UserId, RecordKind.Pin);
            var watcher = new TableWatcher(store.LocalPath(PipelineJobs.StreamTarget(settings).TablePrefix(RecordKind.Pin) + "/_delta_log")
                ?? throw new InvalidOperationException("the soak needs a directory bucket"), settings.Names.PinStream);
            var watching = watcher.RunAsync(stopProbing.Token);
            var probing = ProbeAsync(url, sinkMetrics, both, settings.Names, watcher, probes, stopProbing.Token);
            var lagging = PollLagsAsync(both ? sinkMetrics : null, streamMetrics, [.. children], probes, stopProbing.Token);

            // Every series of a sample is the change since the sample before; the first one's, since these reads (each
            // process's metrics once its endpoint answers).
            var first = (Serve: await FirstScrapeAsync(http, url), Sink: both ? await FirstScrapeAsync(http, sinkMetrics) : PromText.Parse(""),
                Stream: await FirstScrapeAsync(http, streamMetrics));
            var clock = Stopwatch.StartNew();
            long lastCommitted = await CommittedAsync(tables);
            var lastCpu = MachineCpu.Read();
            var last = (At: 0.0, first.Serve, first.Sink, first.Stream);
            while (clock.Elapsed < duration)
            {
                await Task.Delay(Interval - TimeSpan.FromTicks(clock.Elapsed.Ticks % Interval.Ticks));
                foreach (var c in children.Where(c => !emulators.Contains(c) || clock.Elapsed < duration - Interval))
                    if (c.HasExited) throw new InvalidOperationException($"pinpipe {c.Name} exited with {c.ExitCode}:\n{c.Output}");
                double at = clock.Elapsed.TotalSeconds;
                var serve = await ScrapeAsync(http, url);
                var sink = both ? await ScrapeAsync(http, sinkMetrics) : PromText.Parse("");
                var stream = await ScrapeAsync(http, streamMetrics);
                long committed = await CommittedAsync(tables);
                double span = at - last.At;
                var values = new Dictionary<string, double>
                {
                    ["ingest_rps"] = (serve.Sum("pinpipe_ingest_records_total", ("status", "200")) - last.Serve.Sum("pinpipe_ingest_records_total", ("status", "200"))) / span,
                    ["stream_rps"] = (committed - lastCommitted) / span,
                    ["stream_lag"] = Drain(probes, "stream_lag", Mean),
                    ["kinesis_p50_ms"] = 1000 * Quantile(0.5, "kinesis", last.Serve, serve),
                    ["kinesis_p99_ms"] = 1000 * Quantile(0.99, "kinesis", last.Serve, serve),
                    ["kinesis_p50_2x_ms"] = 1000 * Quantile(0.5, "kinesis", last.Serve, serve, doubling: true),
                    ["kinesis_p99_2x_ms"] = 1000 * Quantile(0.99, "kinesis", last.Serve, serve, doubling: true),
                    ["probe_table_ms"] = Drain(probes, "probe_table_ms", IngestBench.Median),
                };
                if (both)
                {
                    values["sink_rps"] = (sink.Sum("pinpipe_sink_records_total") - last.Sink.Sum("pinpipe_sink_records_total")) / span;
                    values["sink_lag"] = Drain(probes, "sink_lag", Mean);
                    values["kafka_p50_ms"] = 1000 * Quantile(0.5, "kafka-rest", last.Serve, serve);
                    values["kafka_p99_ms"] = 1000 * Quantile(0.99, "kafka-rest", last.Serve, serve);
                    values["kafka_p50_2x_ms"] = 1000 * Quantile(0.5, "kafka-rest", last.Serve, serve, doubling: true);
                    values["kafka_p99_2x_ms"] = 1000 * Quantile(0.99, "kafka-rest", last.Serve, serve, doubling: true);
                    values["probe_bucket_ms"] = Drain(probes, "probe_bucket_ms", IngestBench.Median);
                }
                foreach (var (name, now, before) in new[] { ("serve", serve, last.Serve), ("sink", sink, last.Sink), ("stream", stream, last.Stream) }.Where(p => both || p.Item1 != "sink"))
                {
                    values[$"{name}_cpu_pct"] = 100 * (now.Sum("process_cpu_seconds_total") - before.Sum("process_cpu_seconds_total")) / span;
                    values[$"{name}_gc_pause_ms"] = 1000 * (now.Sum("dotnet_gc_pause_seconds_total") - before.Sum("dotnet_gc_pause_seconds_total"));
                    values[$"{name}_threadpool_queue"] = now.Sum("dotnet_threadpool_queue_length");
                }
                if (both) values["sink_failures"] = sink.Sum("pinpipe_sink_failures_total") - last.Sink.Sum("pinpipe_sink_failures_total");
                // The pin table's micro-batches in the sample: their mean size, time and time by step (the table probe's path).
                double Mean10s(string metric, params (string Key, string Value)[] match)
                {
                    double count = stream.Sum(metric + "_count", match) - last.Stream.Sum(metric + "_count", match);
                    return count > 0 ? (stream.Sum(metric + "_sum", match) - last.Stream.Sum(metric + "_sum", match)) / count : double.NaN;
                }
                foreach (string source in KeyFileSources)
                    values[$"stream_key_files_{source}"] = stream.Sum("pinpipe_stream_key_files_total", ("source", source)) - last.Stream.Sum("pinpipe_stream_key_files_total", ("source", source));
                values["pin_batch_records"] = Mean10s("pinpipe_stream_batch_records", ("table", pinTable));
                values["pin_batch_ms"] = 1000 * Mean10s("pinpipe_stream_batch_duration_seconds", ("table", pinTable));
                foreach (string step in PinSteps) values[$"pin_{step}_ms"] = 1000 * Mean10s("pinpipe_stream_batch_step_seconds", ("table", pinTable), ("step", step));
                var cpu = MachineCpu.Read();
                (values["machine_busy_pct"], values["machine_steal_pct"]) = cpu.Since(lastCpu);
                lastCpu = cpu;
                values["cpu_probe_mbps"] = Baseline.ThreadCpuMBps();
                // On a thread of its own: the probes' and polls' tasks keep the pool's threads.
                values["duckdb_probe_ms"] = await Task.Factory.StartNew(
                    () => IngestBench.Median(Enumerable.Range(0, ProbeBatches).Select(_ => duckDbProbe.Run().CpuMs).ToList()),
                    CancellationToken.None, TaskCreationOptions.LongRunning, TaskScheduler.Default);
                var rss = new long[children.Count];
                for (int i = 0; i < children.Count; i++)
                {
                    var reads = DrainAll(probes, RssKey(i));
                    rss[i] = reads.Count > 0 ? (long)reads.Average() : children[i].RssKb();
                    if (!ServiceProcesses.Contains(names[i]) || reads.Count == 0) continue;
                    values[$"{names[i]}_rss_low_mib"] = reads.Min() / 1024;
                    values[$"{names[i]}_rss_high_mib"] = reads.Max() / 1024;
                }
                var sample = new Sample(at / 60, rss, values);
                samples.Add(sample);
                (last, lastCommitted) = ((at, serve, sink, stream), committed);
                IngestBench.Progress(string.Create(CultureInfo.InvariantCulture,
                    $"soak: {sample.Minutes:0.00}/{args.Minutes:0} min; RSS {string.Join(", ", names.Select((n, i) => $"{n} {sample.RssKb[i] / 1024:N0}"))} MiB; ingested {V(values, "ingest_rps")}/s, sink {V(values, "sink_rps")}/s lag {V(values, "sink_lag")}, stream {V(values, "stream_rps")}/s lag {V(values, "stream_lag")}; API p99 kafka {V(values, "kafka_p99_ms")} kinesis {V(values, "kinesis_p99_ms")} ms; probes bucket {V(values, "probe_bucket_ms")} table {V(values, "probe_table_ms")} ms"));
            }

            // The samples are written before the end's checks, so that a failing check keeps them.
            await WriteCsvAsync(Path.Combine(output, "soak.csv"), [.. names], samples, both);
            await File.WriteAllTextAsync(Path.Combine(output, "soak.svg"), Svg([.. names], samples, warmup, args, both));
            lines.AddRange(Report([.. names], samples, warmup, args, both, output));
            lines.Add("");
            // The probes stop with the samples: they post records all the time, so while they ran the sink's lag came back to
            // 0 only when a flush happened to land between two of them, and the drain below waited minutes for that.
            await stopProbing.CancelAsync();
            try { await probing; }
            catch (Exception ex) when (ex is HttpRequestException or InvalidOperationException or TaskCanceledException or JsonException) { lines.Add($"A PROBE FAILED: {ex.Message}"); }
            await watching;
            await lagging;
            try
            {
                await EndAsync();
            }
            catch (InvalidOperationException ex)
            {
                lines.Add($"END CHECKS FAILED: {ex.Message}");
            }

            async Task EndAsync()
            {
                // The emulators stop at their --duration and must have lost nothing; then every record is consumed.
                foreach (var e in emulators)
                {
                    var end = Stopwatch.StartNew();
                    while (!e.HasExited && end.Elapsed < TimeSpan.FromMinutes(3)) await Task.Delay(500);
                    if (!e.HasExited || e.ExitCode != 0 || e.Output.Contains("LOST:", StringComparison.Ordinal))
                        throw new InvalidOperationException($"pinpipe emulate did not end cleanly ({(e.HasExited ? $"exit {e.ExitCode}" : "still running")}):\n{e.Output}");
                    lines.Add($"{e.Output.Split('\n').LastOrDefault(l => l.Contains("acknowledged", StringComparison.OrdinalIgnoreCase))?.Trim()}");
                }
                var drain = Stopwatch.StartNew();
                await WaitConsumedAsync(settings, both, TimeSpan.FromMinutes(10));
                lines.Add(string.Create(CultureInfo.InvariantCulture, $"Every record consumed {drain.Elapsed.TotalSeconds:0} s after the emulators stopped."));

                if (both)
                {
                    var batch = await ChildRun.RunAsync("dotnet", [dll, "batch", .. common], dir.Path);
                    if (batch.ExitCode != 0) throw new InvalidOperationException($"pinpipe batch exited with {batch.ExitCode}: {batch.Excerpt()}");
                    lines.Add(string.Create(CultureInfo.InvariantCulture, $"`pinpipe batch` over the whole bucket: {batch.Wall.TotalSeconds:0.0} s, peak RSS {batch.PeakRssBytes / (1 << 20):N0} MiB."));
                }
                var verify = await ChildRun.RunAsync("dotnet", [dll, "verify", "--lane", both ? "all" : "stream", .. common], dir.Path);
                lines.Add(string.Create(CultureInfo.InvariantCulture,
                    $"`pinpipe verify{(both ? "" : " --lane stream")}` on the live pipeline at the end: exit {verify.ExitCode} ({(verify.ExitCode == 0 ? "consistent" : "NOT CONSISTENT")}), {verify.Wall.TotalSeconds:0.0} s, peak RSS {verify.PeakRssBytes / (1 << 20):N0} MiB."));
                lines.AddRange(verify.Stdout.Split('\n', StringSplitOptions.RemoveEmptyEntries).Select(l => "    " + l.TrimEnd()));
            }
        }
        finally
        {
            foreach (var c in Enumerable.Reverse(children)) await c.StopAsync();
            foreach (var c in children) c.Dispose();
            (store as IDisposable)?.Dispose();
        }
        return lines;
    }

    private static List<string> Report(string[] names, List<Sample> samples, TimeSpan warmup, BenchArgs args, bool both, string output)
    {
        var steady = samples.Where(s => s.Minutes >= warmup.TotalMinutes).ToList();
        var lines = new List<string>
        {
            "",
            string.Create(CultureInfo.InvariantCulture,
                $"Soak: {string.Join(", ", names.Select(n => $"`pinpipe {n}`"))} as separate processes, each emulator at --rate {args.Rate} posts/s (3 records each) --records-per-request {args.RecordsPerRequest}{(args.Unique ? " --order sequential (every post new: the source seeded with a row for each)" : " (rows drawn with repeats from the 11,000 seeded)")}, for {args.Minutes} min; sampled every {Interval.TotalSeconds:0} s (memory and lags: the mean of reads every second; end-to-end probes: the median of ten a second per lane, each at a random moment); judged after the first {warmup.TotalMinutes:0.#} min. CSV (with each process's CPU, GC pauses and thread-pool backlog), chart and the processes' logs: {output}"),
            "",
            "| series | median after warm-up | min / max | samples: range (± % of median) | 5-min window medians: range | flat (±10 %) |",
            "|---|---|---|---|---|---|",
        };
        bool allFlat = true;
        for (int p = 0; p < names.Length; p++)
        {
            var values = steady.Select(s => (s.Minutes, Value: s.RssKb[p] / 1024.0)).Where(v => v.Value > 0 && (!names[p].StartsWith("emulate", StringComparison.Ordinal) || v.Minutes < args.Minutes - 0.2)).ToList();
            allFlat &= Row(lines, $"RSS {names[p]}", "MiB", values, bySample: true);
        }
        // The single reads beside the judged means: how far the RSS moves within a sample (a micro-batch's working set, freed pages kept for reuse).
        foreach (string process in ServiceProcesses.Where(p => both || p != "sink"))
            Row(lines, $"RSS {process}, 1-s reads (lowest and highest of each sample)", "MiB",
                [.. steady.SelectMany(s => new[] { $"{process}_rss_low_mib", $"{process}_rss_high_mib" }.Select(k => (s.Minutes, Value: s.Values.GetValueOrDefault(k, double.NaN)))).Where(v => !double.IsNaN(v.Value))],
                bySample: true, judged: false);
        foreach (var m in Measures.Where(m => both || !m.BothLanesOnly))
            allFlat &= Row(lines, m.Label, m.Unit, [.. steady.Select(s => (s.Minutes, Value: s.Values.GetValueOrDefault(m.Key, double.NaN))).Where(v => !double.IsNaN(v.Value))], bySample: false);
        // The host beside the judged series: at a steady load, window medians that follow these are the host, not the pipeline;
        // and the API's quantiles as the histogram's former buckets, a doubling apart, read them.
        foreach (var (key, label, unit) in new[] { ("machine_busy_pct", "host: machine busy", "%"), ("cpu_probe_mbps", "host: CPU probe per CPU-second", "MB/s"), ("duckdb_probe_ms", "host: DuckDB micro-batch probe, CPU", "ms") }
            .Concat(DoublingQuantiles(both).Select(q => (q.Key, q.Label, "ms"))))
            Row(lines, label, unit, [.. steady.Select(s => (s.Minutes, Value: s.Values.GetValueOrDefault(key, double.NaN))).Where(v => !double.IsNaN(v.Value))], bySample: false, judged: false);
        lines.Add("");
        lines.Add(allFlat ? "Every series flat within ±10 % after the warm-up: PASS." : "Not every series flat within ±10 % after the warm-up: FAIL (see the last column).");
        lines.AddRange(HostAdjusted(steady, both));
        lines.AddRange(WhatTheTailFollows(steady, both));
        return lines;
    }

    /// <summary>
    /// What the API's p99 moved with, sample by sample after the warm-up: its Pearson correlation with the host's and the
    /// processes' diagnostic columns (busy, steal, both probes, each process's CPU and GC pauses, the pin micro-batch's
    /// clean step). Each run's report gives the figures its write-up needs instead of a pass over the CSV by hand.
    /// </summary>
    private static List<string> WhatTheTailFollows(List<Sample> steady, bool both)
    {
        string tail = both ? "kafka_p99_ms" : "kinesis_p99_ms";
        string[] signals =
        [
            "machine_busy_pct", "machine_steal_pct", "cpu_probe_mbps", "duckdb_probe_ms",
            .. ServiceProcesses.Where(p => both || p != "sink").SelectMany(p => new[] { $"{p}_cpu_pct", $"{p}_gc_pause_ms" }),
            "pin_clean_ms",
        ];
        var parts = new List<string>();
        foreach (string signal in signals)
        {
            var pairs = steady.Select(s => (X: s.Values.GetValueOrDefault(tail, double.NaN), Y: s.Values.GetValueOrDefault(signal, double.NaN)))
                .Where(p => !double.IsNaN(p.X) && !double.IsNaN(p.Y)).ToList();
            double r = Correlation(pairs);
            if (!double.IsNaN(r)) parts.Add(string.Create(CultureInfo.InvariantCulture, $"{signal} {r:+0.00;-0.00}"));
        }
        return parts.Count == 0 ? [] :
            ["", $"What {Measures.Single(m => m.Key == tail).Label} followed, sample by sample after the warm-up (Pearson correlation): {string.Join(", ", parts)}."];
    }

    /// <summary>Pearson's correlation of the pairs; NaN with fewer than three or when either side does not vary.</summary>
    internal static double Correlation(IReadOnlyList<(double X, double Y)> pairs)
    {
        if (pairs.Count < 3) return double.NaN;
        double mx = pairs.Average(p => p.X), my = pairs.Average(p => p.Y), sxy = 0, sxx = 0, syy = 0;
        foreach (var (x, y) in pairs)
        {
            sxy += (x - mx) * (y - my);
            sxx += (x - mx) * (x - mx);
            syy += (y - my) * (y - my);
        }
        return sxx == 0 || syy == 0 ? double.NaN : sxy / Math.Sqrt(sxx * syy);
    }

    /// <summary>
    /// The times and backlogs (<see cref="Series.HostBound"/>) judged again against the host's speed for the pipeline's own
    /// work: each sample divided by the DuckDB probe's of the same sample over the probe's median, i.e. in the probe's
    /// units; then ±10 % by window as before. A pipeline that slows by itself (a leak, work growing with history) moves
    /// these as it moves the raw series; a host that runs every process slower moves the probe with them. Reported beside
    /// the verdict above, which it does not change. Not a perfect yardstick: the probe is CPU-bound work in one thread,
    /// while the API's latencies also wait for fsyncs and for a core, and a busier machine slows the probe's caches a little too.
    /// </summary>
    private static List<string> HostAdjusted(List<Sample> steady, bool both)
    {
        var probe = steady.Select(s => s.Values.GetValueOrDefault("duckdb_probe_ms", double.NaN)).ToList();
        if (probe.All(double.IsNaN)) return [];
        double probeMedian = IngestBench.Median(probe.Where(p => !double.IsNaN(p)));
        var lines = new List<string>
        {
            "",
            string.Create(CultureInfo.InvariantCulture, $"Against the host's speed (each sample of a time or backlog × the DuckDB probe's median {probeMedian:0.00} ms / the probe in that sample; not the verdict):"),
            "",
            "| series | median after warm-up | min / max | samples: range (± % of median) | 5-min window medians: range | flat (±10 %) |",
            "|---|---|---|---|---|---|",
        };
        bool allFlat = true;
        foreach (var m in Measures.Where(m => m.HostBound && (both || !m.BothLanesOnly)))
        {
            var values = steady.Select((s, i) => (s.Minutes, Value: s.Values.GetValueOrDefault(m.Key, double.NaN) * probeMedian / probe[i]))
                .Where(v => !double.IsNaN(v.Value) && !double.IsInfinity(v.Value)).ToList();
            allFlat &= Row(lines, m.Label + ", against the host", m.Unit, values, bySample: false);
        }
        lines.Add("");
        lines.Add(allFlat ? "Against the host's speed every time and backlog is flat within ±10 %." : "Against the host's speed not every time and backlog is flat within ±10 % (see the last column).");
        return lines;
    }

    /// <summary>One row of the report; false when a judged row is not flat or has no sample after the warm-up (a row not judged is never false).</summary>
    private static bool Row(List<string> lines, string name, string unit, List<(double Minutes, double Value)> values, bool bySample, bool judged = true)
    {
        if (values.Count == 0) { lines.Add($"| {name} | no sample after the warm-up | | | | |"); return !judged; }
        double median = IngestBench.Median(values.Select(v => v.Value));
        // 5-minute windows from the end of the warm-up; a last stub shorter than a window joins the one before it.
        double from = values.Min(v => v.Minutes), to = values.Max(v => v.Minutes);
        int last = Math.Max(0, (int)Math.Ceiling((to - from) / Window.TotalMinutes - 0.5) - 1);
        var windows = values.GroupBy(v => Math.Min(last, (int)((v.Minutes - from) / Window.TotalMinutes))).Select(g => IngestBench.Median(g.Select(v => v.Value))).ToList();
        double sampleLow = Rel(values.Min(v => v.Value), median), sampleHigh = Rel(values.Max(v => v.Value), median);
        double windowLow = Rel(windows.Min(), median), windowHigh = Rel(windows.Max(), median);
        bool flat = bySample ? sampleLow >= -Tolerance && sampleHigh <= Tolerance : windowLow >= -Tolerance && windowHigh <= Tolerance;
        lines.Add(string.Create(CultureInfo.InvariantCulture,
            $"| {name} | {Number(median)} {unit} | {Number(values.Min(v => v.Value))} / {Number(values.Max(v => v.Value))} | {Percent(sampleLow)} / {Percent(sampleHigh)} | {Percent(windowLow)} / {Percent(windowHigh)} | {(!judged ? "not judged" : flat ? "yes" : "**no**")}{(judged ? bySample ? " (by sample)" : " (by window)" : "")} |"));
        return flat || !judged;
    }

    private static double Rel(double value, double median) => median == 0 ? (value == 0 ? 0 : double.PositiveInfinity) : (value - median) / median;

    private static string Number(double v) => v.ToString(Math.Abs(v) >= 100 ? "N0" : "N1", CultureInfo.InvariantCulture);

    private static string V(Dictionary<string, double> values, string key) =>
        values.TryGetValue(key, out double v) && !double.IsNaN(v) ? v.ToString("N0", CultureInfo.InvariantCulture) : "-";

    /// <summary>A signed percentage with one decimal (<c>-5.1%</c>, <c>+0.0%</c>).</summary>
    private static string Percent(double fraction) => double.IsInfinity(fraction) ? "∞" : Math.Round(fraction * 100, 1).ToString("+0.0;-0.0;+0.0", CultureInfo.InvariantCulture) + "%";

    private static double Quantile(double q, string family, PromText before, PromText after, bool doubling = false)
    {
        SortedDictionary<double, double> Read(PromText scrape)
        {
            var buckets = scrape.Buckets("pinpipe_ingest_request_duration_seconds", ("family", family));
            return doubling ? PromText.Coarsen(buckets, IsDoublingBound) : buckets;
        }
        return PromText.Quantile(q, Read(before), Read(after));
    }

    /// <summary>Whether a bound is one of the ingest histogram's bounds before they were a quarter of a doubling apart: 0.25 ms × 2^k.</summary>
    private static bool IsDoublingBound(double le)
    {
        double k = Math.Log2(le / 0.00025);
        return k > -0.001 && Math.Abs(k - Math.Round(k)) < 0.001;
    }

    /// <summary>The values of that key read since the last sample, aggregated (median or mean); NaN when none.</summary>
    private static double Drain(ConcurrentQueue<(string Key, double Value)> readings, string key, Func<IEnumerable<double>, double> aggregate)
    {
        var values = DrainAll(readings, key);
        return values.Count == 0 ? double.NaN : aggregate(values);
    }

    /// <summary>Takes the readings of <paramref name="key"/> out of the queue, leaving the others.</summary>
    private static List<double> DrainAll(ConcurrentQueue<(string Key, double Value)> readings, string key)
    {
        var values = new List<double>();
        int n = readings.Count;
        for (int i = 0; i < n && readings.TryDequeue(out var r); i++)
        {
            if (r.Key == key) values.Add(r.Value);
            else readings.Enqueue(r);
        }
        return values;
    }

    /// <summary>The readings' key of child <paramref name="index"/>'s VmRSS (kB).</summary>
    private static string RssKey(int index) => string.Create(CultureInfo.InvariantCulture, $"rss:{index}");

    private static double Mean(IEnumerable<double> values) => values.Average();

    /// <summary>
    /// Every second: the sink's and the stream job's lags (the sums of <c>pinpipe_sink_lag</c> and <c>pinpipe_stream_lag</c>
    /// from their <c>/metrics</c>), and each child's VmRSS while it runs (a read of 0, gone, is left out).
    /// </summary>
    private static async Task PollLagsAsync(string? sinkMetrics, string streamMetrics, PinPipeChild[] children, ConcurrentQueue<(string Key, double Value)> readings, CancellationToken stop)
    {
        using var http = new HttpClient { Timeout = TimeSpan.FromSeconds(5) };
        var clock = Stopwatch.StartNew();
        try
        {
            while (!stop.IsCancellationRequested)
            {
                await Task.Delay(ReadInterval - TimeSpan.FromTicks(clock.Elapsed.Ticks % ReadInterval.Ticks), stop);
                if (sinkMetrics is not null && (await ScrapeAsync(http, sinkMetrics)).Sum("pinpipe_sink_lag") is var sink) readings.Enqueue(("sink_lag", sink));
                readings.Enqueue(("stream_lag", (await ScrapeAsync(http, streamMetrics)).Sum("pinpipe_stream_lag")));
                for (int i = 0; i < children.Length; i++)
                    if (children[i].RssKb() is > 0 and var kb) readings.Enqueue((RssKey(i), kb));
            }
        }
        catch (OperationCanceledException) when (stop.IsCancellationRequested) { }
    }

    /// <summary>The metrics of <paramref name="url"/> once it answers (a process just started); empty after 30 s without an answer.</summary>
    private static async Task<PromText> FirstScrapeAsync(HttpClient http, string url)
    {
        var deadline = DateTime.UtcNow + TimeSpan.FromSeconds(30);
        PromText? metrics;
        while ((metrics = await TryScrapeAsync(http, url)) is null && DateTime.UtcNow < deadline) await Task.Delay(100);
        return metrics ?? PromText.Parse("");
    }

    private static async Task<PromText> ScrapeAsync(HttpClient http, string url) => await TryScrapeAsync(http, url) ?? PromText.Parse("");

    /// <summary>The metrics of <paramref name="url"/>; null when it does not answer.</summary>
    private static async Task<PromText?> TryScrapeAsync(HttpClient http, string url)
    {
        try { return PromText.Parse(await http.GetStringAsync(new Uri(url + "/metrics"))); }
        catch (HttpRequestException) { return null; }
        catch (TaskCanceledException) { return null; }
    }

    /// <summary>
    /// One pin record with a fresh ind to each lane at a random moment within every <see cref="ProbeSlot"/> (10 a second),
    /// each probe on its own: the time from its acknowledgement to the sink's committed offset passing it (read every
    /// <see cref="SinkPoll"/>) and to a commit of the streaming pin table whose txn passes it (<see cref="TableWatcher"/>).
    /// </summary>
    /// <remarks>
    /// The moments are random so that the probes sample every point of the lanes' own cycles alike (the stream job's 100 ms
    /// trigger, the filling of the sink's objects), whatever their periods. Ten a second, because one record's latency
    /// spreads over a whole cycle: the median of ten probes (one a second) had a standard deviation of 23–28 % of its
    /// median over the 10-s samples, so a 5-minute window's median had a standard error of about 5–6 % (BENCHMARKS.md, soak).
    /// </remarks>
    private static async Task ProbeAsync(string api, string sinkMetrics, bool both, PipelineNames names, TableWatcher watcher,
        ConcurrentQueue<(string Key, double Value)> probes, CancellationToken stop)
    {
        using var client = new HttpClient { BaseAddress = new Uri(api + "/"), Timeout = TimeSpan.FromSeconds(30) };
        var sinkRead = PromText.Parse(""); // the sink's metrics, last read
        var polling = both ? PollSinkAsync() : Task.CompletedTask;
        long next = ProbeBase;
        var clock = Stopwatch.StartNew();
        var running = new List<Task>();
        var random = new Random(7);
        try
        {
            for (long slot = 0; !stop.IsCancellationRequested; slot++)
            {
                var wait = ProbeSlot * (slot + random.NextDouble()) - clock.Elapsed; // read once: Task.Delay takes -1 ms as forever
                if (wait > TimeSpan.Zero) await Task.Delay(wait, stop);
                foreach (var done in running.Where(t => t.IsCompleted).ToList())
                {
                    running.Remove(done);
                    await done; // a probe that failed fails the soak's probing, named in its report
                }
                running.Add(ProbeTableAsync(next++));
                if (both) running.Add(ProbeBucketAsync(next++));
                // Behind (a stalled machine): the slots missed are skipped, not sent in a burst.
                slot = Math.Max(slot, (long)(clock.Elapsed / ProbeSlot) - 1);
            }
        }
        catch (OperationCanceledException) when (stop.IsCancellationRequested) { }
        try { await Task.WhenAll(running); }
        catch (OperationCanceledException) when (stop.IsCancellationRequested) { }
        await polling;

        string Pin(long ind) => Encoding.UTF8.GetString(SourceJson.Pin(SyntheticData.Generate(7, ind, 1).Single().Pin));

        // Its own client: after a probe failed, the poll goes on until the run's end without what ProbeAsync disposes.
        async Task PollSinkAsync()
        {
            using var http = new HttpClient { Timeout = TimeSpan.FromSeconds(5) };
            var uri = new Uri(sinkMetrics + "/metrics");
            try
            {
                while (!stop.IsCancellationRequested)
                {
                    // A read that failed leaves the last one standing (an empty one would hold every probe out until the next).
                    try { Volatile.Write(ref sinkRead, PromText.Parse(await http.GetStringAsync(uri, stop))); }
                    catch (HttpRequestException) { }
                    catch (TaskCanceledException) when (!stop.IsCancellationRequested) { }
                    await Task.Delay(SinkPoll, stop);
                }
            }
            catch (OperationCanceledException) when (stop.IsCancellationRequested) { }
        }

        async Task ProbeTableAsync(long ind)
        {
            using var body = new StringContent($$"""{"StreamName":"{{names.PinStream}}","Data":{{Pin(ind)}},"PartitionKey":"{{ind}}"}""");
            body.Headers.ContentType = MediaTypeHeaderValue.Parse("application/json");
            using var response = await client.PutAsync($"streams/{names.PinStream}/record", body, stop);
            long acked = Stopwatch.GetTimestamp();
            if (response.StatusCode != HttpStatusCode.OK) throw new InvalidOperationException($"a stream probe got {(int)response.StatusCode}: {await response.Content.ReadAsStringAsync(stop)}");
            using var doc = JsonDocument.Parse(await response.Content.ReadAsStringAsync(stop));
            if (!PinPipe.Ingest.KinesisShards.TryParseSequenceNumber(doc.RootElement.GetProperty("SequenceNumber").GetString()!, out _, out int partition, out long offset))
                throw new InvalidOperationException($"a stream probe's answer has no sequence number: {doc.RootElement}");
            while (watcher.Next(partition) <= offset) await Task.Delay(20, stop);
            probes.Enqueue(("probe_table_ms", Stopwatch.GetElapsedTime(acked).TotalMilliseconds));
        }

        async Task ProbeBucketAsync(long ind)
        {
            using var body = new StringContent($$"""{"records":[{"value":{{Pin(ind)}}}]}""");
            body.Headers.ContentType = MediaTypeHeaderValue.Parse("application/vnd.kafka.json.v2+json");
            using var response = await client.PostAsync($"topics/{names.PinTopic}", body, stop);
            long acked = Stopwatch.GetTimestamp();
            if (response.StatusCode != HttpStatusCode.OK) throw new InvalidOperationException($"a batch probe got {(int)response.StatusCode}: {await response.Content.ReadAsStringAsync(stop)}");
            using var doc = JsonDocument.Parse(await response.Content.ReadAsStringAsync(stop));
            var first = doc.RootElement.GetProperty("offsets")[0];
            string partition = first.GetProperty("partition").GetInt32().ToString(CultureInfo.InvariantCulture);
            long offset = first.GetProperty("offset").GetInt64();
            while (Volatile.Read(ref sinkRead).Sum("pinpipe_sink_committed_offset", ("topic", names.PinTopic), ("partition", partition)) <= offset)
                await Task.Delay(10, stop);
            probes.Enqueue(("probe_bucket_ms", Stopwatch.GetElapsedTime(acked).TotalMilliseconds));
        }
    }

    /// <summary>Follows a streaming table's <c>_delta_log</c> (every 10 ms) and keeps, per partition of one stream, the highest txn version committed (the next offset to read).</summary>
    private sealed class TableWatcher(string folder, string stream)
    {
        private readonly ConcurrentDictionary<int, long> _next = new();

        public long Next(int partition) => _next.GetValueOrDefault(partition);

        public async Task RunAsync(CancellationToken stop)
        {
            long version = 0;
            string prefix = $"pinpipe-stream:{stream}";
            while (!stop.IsCancellationRequested)
            {
                string file = Path.Combine(folder, $"{version:D20}.json");
                if (File.Exists(file))
                {
                    string[] lines;
                    try { lines = await File.ReadAllLinesAsync(file, CancellationToken.None); }
                    catch (IOException) { continue; }
                    foreach (string line in lines.Where(l => l.Contains("\"txn\"", StringComparison.Ordinal)))
                    {
                        using var doc = JsonDocument.Parse(line);
                        if (!doc.RootElement.TryGetProperty("txn", out var txn)) continue;
                        string appId = txn.GetProperty("appId").GetString()!;
                        int colon = appId.LastIndexOf(':');
                        if (!appId.StartsWith(prefix, StringComparison.Ordinal) || appId.Length <= prefix.Length || appId[prefix.Length] is not ('@' or ':')) continue;
                        int partition = int.Parse(appId[(colon + 1)..], CultureInfo.InvariantCulture);
                        long next = txn.GetProperty("version").GetInt64();
                        _next.AddOrUpdate(partition, next, (_, old) => Math.Max(old, next));
                    }
                    version++;
                    continue;
                }
                try { await Task.Delay(10, stop); }
                catch (OperationCanceledException) { return; }
            }
        }
    }

    private static async Task WaitConsumedAsync(PinPipeSettings settings, bool both, TimeSpan timeout)
    {
        await using var log = await LogFactory.OpenAsync(settings.Log with { Access = LogAccess.Consumer });
        var consumers = settings.Consumers();
        var deadline = Stopwatch.StartNew();
        var topics = both ? settings.Names.Topics.Concat(settings.Names.Streams) : settings.Names.Streams;
        while (true)
        {
            long lag = 0;
            foreach (string topic in topics)
                for (int p = 0; p < settings.Log.DefaultPartitions; p++)
                {
                    var marks = await log.GetWatermarksAsync(topic, p);
                    foreach (string group in consumers.Of(topic)) lag += marks.Lag(await log.GetCommittedOffsetAsync(group, topic, p));
                }
            if (lag == 0) return;
            if (deadline.Elapsed > timeout) throw new InvalidOperationException($"{lag:N0} records still not consumed {timeout.TotalMinutes:0} min after the emulators stopped");
            await Task.Delay(1000);
        }
    }

    /// <summary>Records the stream job committed: the sum over the clean tables of their txns' next offsets.</summary>
    private static async Task<long> CommittedAsync(DeltaTable[] tables)
    {
        long total = 0;
        foreach (var t in tables)
        {
            var snapshot = await t.LatestAsync();
            if (snapshot is null) continue;
            total += snapshot.Txns.Where(kv => kv.Key.StartsWith("pinpipe-stream:", StringComparison.Ordinal)).Sum(kv => kv.Value);
        }
        return total;
    }

    private static async Task WriteCsvAsync(string file, string[] names, List<Sample> samples, bool both)
    {
        var measures = Measures.Where(m => both || !m.BothLanesOnly).ToList();
        string[] diagnostics = Diagnostics(both);
        var csv = new StringBuilder("minutes," + string.Join(',', names.Select(n => n.Replace(' ', '_') + "_rss_mib")) + "," + string.Join(',', measures.Select(m => m.Key).Concat(diagnostics)) + "\n");
        foreach (var s in samples)
        {
            csv.Append(s.Minutes.ToString("0.00", CultureInfo.InvariantCulture));
            foreach (long kb in s.RssKb) csv.Append(CultureInfo.InvariantCulture, $",{kb / 1024.0:0.0}");
            foreach (string key in measures.Select(m => m.Key).Concat(diagnostics))
            {
                double v = s.Values.GetValueOrDefault(key, double.NaN);
                // Three decimals: a p50 of about 1 ms read to 0.1 ms would move a tenth by rounding alone.
                csv.Append(',').Append(double.IsNaN(v) ? "" : v.ToString("0.###", CultureInfo.InvariantCulture));
            }
            csv.Append('\n');
        }
        await File.WriteAllTextAsync(file, csv.ToString());
    }

    private static readonly string[] Colors = ["#1f77b4", "#ff7f0e", "#d62728", "#2ca02c", "#9467bd", "#8c564b", "#e377c2", "#17becf"];

    /// <summary>Three panels over time (memory per process, lags, latencies), the warm-up shaded.</summary>
    private static string Svg(string[] names, List<Sample> samples, TimeSpan warmup, BenchArgs args, bool both)
    {
        const int W = 900, PanelH = 260;
        var svg = new StringBuilder();
        svg.Append(CultureInfo.InvariantCulture, $"<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{W}\" height=\"{PanelH * 3 + 40}\" font-family=\"sans-serif\" font-size=\"12\">\n");
        svg.Append(CultureInfo.InvariantCulture, $"<rect width=\"{W}\" height=\"{PanelH * 3 + 40}\" fill=\"white\"/>\n");
        svg.Append(CultureInfo.InvariantCulture, $"<text x=\"60\" y=\"22\" font-size=\"15\">Soak: {(both ? "both lanes" : "streaming lane")}, each emulator --rate {args.Rate} posts/s (3 records each), {args.Minutes:0} min</text>\n");
        double maxX = Math.Max(args.Minutes, samples.Count == 0 ? 1 : samples[^1].Minutes);
        Panel(svg, 40, "RSS (MiB)", maxX, warmup, [.. names.Select((n, i) => (n, samples.Select(s => (s.Minutes, s.RssKb[i] / 1024.0)).ToList()))]);
        Panel(svg, 40 + PanelH, "lag (records)", maxX, warmup,
            [.. new[] { ("sink_lag", "sink"), ("stream_lag", "stream job") }.Where(k => both || k.Item1 != "sink_lag").Select(k => (k.Item2, Points(samples, k.Item1)))]);
        Panel(svg, 40 + 2 * PanelH, "latency (ms)", maxX, warmup,
            [.. new[] { ("kafka_p99_ms", "API p99 Kafka REST"), ("kinesis_p99_ms", "API p99 Kinesis"), ("probe_bucket_ms", "probe ack → bucket"), ("probe_table_ms", "probe ack → Delta table") }
                .Where(k => both || !k.Item1.StartsWith("kafka", StringComparison.Ordinal) && k.Item1 != "probe_bucket_ms").Select(k => (k.Item2, Points(samples, k.Item1)))]);
        svg.Append("</svg>\n");
        return svg.ToString();

        static List<(double, double)> Points(List<Sample> samples, string key) =>
            [.. samples.Select(s => (s.Minutes, s.Values.GetValueOrDefault(key, double.NaN))).Where(p => !double.IsNaN(p.Item2))];
    }

    private static void Panel(StringBuilder svg, int top, string title, double maxX, TimeSpan warmup, List<(string Name, List<(double Minutes, double Value)> Points)> series)
    {
        const int W = 900, H = 260, L = 70, R = 190, T = 25, B = 35;
        double maxY = Math.Max(1, series.SelectMany(s => s.Points).Select(p => p.Value).DefaultIfEmpty(1).Max() * 1.1);
        double X(double m) => L + m / maxX * (W - L - R);
        double Y(double v) => top + H - B - v / maxY * (H - T - B);
        string F(double v) => v.ToString("0.#", CultureInfo.InvariantCulture);
        svg.Append(CultureInfo.InvariantCulture, $"<text x=\"{L}\" y=\"{top + 16}\" font-size=\"13\">{WebUtility.HtmlEncode(title)}</text>\n");
        svg.Append(CultureInfo.InvariantCulture, $"<rect x=\"{F(X(0))}\" y=\"{top + T}\" width=\"{F(X(warmup.TotalMinutes) - X(0))}\" height=\"{H - T - B}\" fill=\"#eeeeee\"/>\n");
        for (int i = 0; i <= 4; i++)
        {
            double v = maxY * i / 4;
            svg.Append(CultureInfo.InvariantCulture, $"<line x1=\"{L}\" x2=\"{W - R}\" y1=\"{F(Y(v))}\" y2=\"{F(Y(v))}\" stroke=\"#dddddd\"/><text x=\"{L - 5}\" y=\"{F(Y(v) + 4)}\" text-anchor=\"end\">{v.ToString(maxY >= 20 ? "N0" : "0.#", CultureInfo.InvariantCulture)}</text>\n");
        }
        for (int i = 0; i <= 6; i++)
            svg.Append(CultureInfo.InvariantCulture, $"<text x=\"{F(X(maxX * i / 6))}\" y=\"{top + H - B + 15}\" text-anchor=\"middle\">{F(maxX * i / 6)}</text>\n");
        svg.Append(CultureInfo.InvariantCulture, $"<text x=\"{(L + W - R) / 2}\" y=\"{top + H - 5}\" text-anchor=\"middle\">minutes</text>\n");
        for (int i = 0; i < series.Count; i++)
        {
            var (name, points) = series[i];
            string color = Colors[i % Colors.Length];
            if (points.Count > 1)
                svg.Append(CultureInfo.InvariantCulture, $"<polyline fill=\"none\" stroke=\"{color}\" stroke-width=\"1.5\" points=\"{string.Join(' ', points.Select(p => $"{F(X(p.Minutes))},{F(Y(p.Value))}"))}\"/>\n");
            svg.Append(CultureInfo.InvariantCulture, $"<line x1=\"{W - R + 10}\" x2=\"{W - R + 30}\" y1=\"{top + T + 10 + i * 18}\" y2=\"{top + T + 10 + i * 18}\" stroke=\"{color}\" stroke-width=\"2\"/><text x=\"{W - R + 35}\" y=\"{top + T + 14 + i * 18}\">{WebUtility.HtmlEncode(name)}</text>\n");
        }
    }

    private static string Url(int port) => string.Create(CultureInfo.InvariantCulture, $"http://127.0.0.1:{port}");

    private static int FreePort()
    {
        using var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        return ((IPEndPoint)listener.LocalEndpoint).Port;
    }

    private static async Task WaitHealthyAsync(string url, PinPipeChild serve)
    {
        using var http = new HttpClient { Timeout = TimeSpan.FromSeconds(5) };
        var deadline = Stopwatch.StartNew();
        while (deadline.Elapsed < TimeSpan.FromSeconds(120))
        {
            if (serve.HasExited) throw new InvalidOperationException($"pinpipe serve exited with {serve.ExitCode}:\n{serve.Output}");
            try
            {
                using var response = await http.GetAsync(new Uri(url + "/healthz"));
                if (response.IsSuccessStatusCode) return;
            }
            catch (HttpRequestException) { }
            catch (TaskCanceledException) { }
            await Task.Delay(250);
        }
        throw new InvalidOperationException($"pinpipe serve did not answer /healthz in 120 s:\n{serve.Output}");
    }
}

/// <summary>The machine's CPU time from the first line of <c>/proc/stat</c> (jiffies, all cores): busy, steal and the total.</summary>
internal readonly record struct MachineCpu(long Busy, long Steal, long Total)
{
    public static MachineCpu Read()
    {
        try
        {
            string line = File.ReadLines("/proc/stat").First();
            long[] f = [.. line.Split(' ', StringSplitOptions.RemoveEmptyEntries).Skip(1).Select(x => long.Parse(x, CultureInfo.InvariantCulture))];
            // user nice system idle iowait irq softirq steal (guest time is inside user)
            long idle = f[3] + f[4], steal = f.Length > 7 ? f[7] : 0, total = f.Take(8).Sum();
            return new MachineCpu(total - idle - steal, steal, total);
        }
        catch (IOException)
        {
            return default; // not Linux: the columns stay empty
        }
    }

    /// <summary>Busy and steal as % of all the cores' time since <paramref name="before"/>; NaN without /proc/stat.</summary>
    public (double BusyPct, double StealPct) Since(MachineCpu before)
    {
        long total = Total - before.Total;
        return total <= 0 ? (double.NaN, double.NaN) : (100.0 * (Busy - before.Busy) / total, 100.0 * (Steal - before.Steal) / total);
    }
}
