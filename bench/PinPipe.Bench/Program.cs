using System.Globalization;
using System.Runtime.InteropServices;
using PinPipe.Bench;

// PinPipe's benchmark harness. Usage:
//   dotnet run --project bench/PinPipe.Bench -c Release -- [ingest|latency|emulator|sink|seed|clean|micro-batch|stream|stream-latency|batch|soak|history|all] [--seconds N] [--rounds N] [--connections N] [--records N] [--posts N] [--rates N,N] [--triggers 1s,250ms] [--stream-env Key=Value] [--minutes N --warmup N --rate N --records-per-request N] [--prefill-rows N] [--log-dir DIR]
//   workers: [--records 200000 (per topic and stream)] [--rounds N]: 1, 2 and 3 sink and stream processes over 6 partitions, and a rebalance after a SIGKILL
//   verify: [--posts 1000000] [--rounds N]: pinpipe verify over a pipeline of that many posts (log, bucket, batch and streaming tables)
//   history: [--days 30] [--posts-per-day 100000] [--full-days 1,10,20,30|none] [--out DIR (default bench/results/history-<time>)] [--keep-data] [--land-only]
//   soak: [--minutes 60] [--rate 2000 (posts/s per lane)] [--records-per-request 10] [--lane both|stream] [--unique] [--stream-env Key=Value]: serve, sink, stream and an emulator
//     per lane as separate processes; RSS, rates, lags and latencies every 10 s; batch and verify at the end; CSV and SVG chart in bench/results/
// (batch, pinpipe batch against the pandas port of the notebook, stream-latency, ack → readable through pinpipe stream at fixed rates, and
// history, a day of landings then pinpipe batch, day after day, take minutes per round and are not part of all)
//   --cli PATH: the PinPipe.Cli.dll the child processes run (e.g. a `dotnet publish` output, ReadyToRun or not) instead of a Release build of src/PinPipe.Cli
//   baseline: only the machine's baseline, which every run prints first (a CPU probe on one core and on all, an fsync probe)
// Prints a Markdown table of figures (medians of the rounds) for BENCHMARKS.md.
var args2 = BenchArgs.Parse(args);
var lines = new List<string>
{
    $"Machine: {Environment.ProcessorCount} cores, {GC.GetGCMemoryInfo().TotalAvailableMemoryBytes / (1 << 30)} GiB, {RuntimeInformation.OSDescription}, .NET {Environment.Version}; {DateTime.UtcNow:yyyy-MM-dd HH:mm} UTC",
    $"Command: dotnet run --project bench/PinPipe.Bench -c Release -- {string.Join(' ', args)}",
};
string what = args2.What;
if (what is "history" && HistoryBench.Validate(args2) is { } usage)
{
#pragma warning disable CA1849 // console output of a command line tool
    Console.Error.WriteLine($"error: {usage}");
#pragma warning restore CA1849
    return 2;
}
if (what is not ("ingest" or "latency" or "emulator" or "sink" or "seed" or "clean" or "micro-batch" or "stream" or "stream-latency" or "batch" or "soak" or "history" or "workers" or "verify" or "delta-log" or "baseline" or "all"))
{
#pragma warning disable CA1849 // console output of a command line tool: short synchronous writes to the terminal
    Console.Error.WriteLine($"unknown benchmark '{what}': use ingest, latency, emulator, sink, seed, clean, micro-batch, stream, stream-latency, batch, soak, history, workers, verify, delta-log, baseline or all");
#pragma warning restore CA1849
    return 2;
}
if (!args2.LandOnly) // history --land-only writes data and measures nothing
{
    IngestBench.Progress(Baseline.FlushPendingWrites());
    IngestBench.Progress("measuring the machine's baseline (CPU and fsync probes)");
    var baseline = Baseline.Measure();
    IngestBench.Progress(baseline.Line());
    lines.Add(baseline.Line());
}
if (what is not ("batch" or "micro-batch" or "stream-latency" or "soak" or "history" or "workers" or "verify" or "delta-log" or "baseline")) lines.AddRange(["", "| load | target | requests/s | records/s | p50 | p99 |", "|---|---|---|---|---|---|"]);
if (what is "ingest" or "all") lines.AddRange(await IngestBench.RunAsync(args2));
if (what is "latency" or "all") lines.AddRange(await EmulatorBench.RunLatencyAsync(args2));
if (what is "emulator" or "all") lines.AddRange(await EmulatorBench.RunThroughputAsync(args2));
if (what is "sink" or "all") lines.AddRange(await SinkBench.RunAsync(args2));
if (what is "seed" or "all") lines.AddRange(await SeedBench.RunAsync(args2));
if (what is "clean" or "all") lines.AddRange(await CleanBench.RunAsync(args2));
if (what is "micro-batch") lines.AddRange(await MicroBatchBench.RunAsync(args2));
if (what is "stream" or "all") lines.AddRange(await StreamBench.RunAsync(args2));
if (what is "stream-latency") lines.AddRange(await StreamLatencyBench.RunAsync(args2));
if (what is "batch") lines.AddRange(await BatchBench.RunAsync(args2));
if (what is "soak") lines.AddRange(await SoakBench.RunAsync(args2));
if (what is "history") lines.AddRange(await HistoryBench.RunAsync(args2));
if (what is "workers") lines.AddRange(await WorkersBench.RunAsync(args2));
if (what is "verify") lines.AddRange(await VerifyBench.RunAsync(args2));
if (what is "delta-log") lines.AddRange(await DeltaLogBench.RunAsync(args2));
foreach (var l in lines) Console.WriteLine(l);
return 0;

namespace PinPipe.Bench
{
    internal sealed record BenchArgs(string What, TimeSpan Duration, int Rounds, int Connections, int Records, long Posts)
    {
        /// <summary>stream-latency: the total rates to try (records/s), from <c>--rates 1000,10000</c>; null = the bench's own list.</summary>
        public IReadOnlyList<int>? Rates { get; init; }

        /// <summary>stream-latency: the triggers to try, from <c>--triggers 1s,250ms</c>; null = the bench's own list.</summary>
        public IReadOnlyList<string>? Triggers { get; init; }

        /// <summary>stream-latency and soak: extra configuration for the <c>pinpipe stream</c> child, from <c>--stream-env Stream__MemoryLimit=100MB</c> (as <c>PINPIPE_</c> variables).</summary>
        public IReadOnlyList<string> StreamEnv { get; init; } = [];

        /// <summary>soak: minutes to run, from <c>--minutes</c> (default 60).</summary>
        public double Minutes { get; init; } = 60;

        /// <summary>soak: minutes of warm-up before the series are judged, from <c>--warmup</c> (default 5, at most half the run).</summary>
        public double WarmupMinutes { get; init; } = 5;

        /// <summary>soak: both lanes (default, <c>--lane both</c>) or the streaming lane only (<c>--lane stream</c>).</summary>
        public string Lane { get; init; } = "both";

        /// <summary>soak: each emulator's posts per second (3 records each), from <c>--rate</c> (default 2,000).</summary>
        public int Rate { get; init; } = 2_000;

        /// <summary>soak: the emulator's records per request, from <c>--records-per-request</c> (default 10).</summary>
        public int RecordsPerRequest { get; init; } = 10;

        /// <summary>stream-latency: clean rows each stream table holds before the job starts, from <c>--prefill-rows</c> (default 0).</summary>
        public long PrefillRows { get; init; }

        /// <summary>history: days of landings (<c>--days</c>, default 30).</summary>
        public int Days { get; init; } = 30;

        /// <summary>history: new posts a day (<c>--posts-per-day</c>, default 100,000).</summary>
        public long PostsPerDay { get; init; } = 100_000;

        /// <summary>history: the days with a full rebuild and the pandas port beside the incremental run (<c>--full-days 1,10,20,30</c>; <c>none</c> = empty: incremental runs only, and no full rebuild before the vacuum check); null = <see cref="HistoryBench.FullDays"/>'s default.</summary>
        public IReadOnlyList<int>? FullDays { get; init; }

        /// <summary>history: the output folder (<c>--out</c>); null = <c>bench/results/history-&lt;UTC time&gt;</c>.</summary>
        public string? Out { get; init; }

        /// <summary>history: keep the data folder (bucket, tables, runs) in the output folder (<c>--keep-data</c>).</summary>
        public bool KeepData { get; init; }

        /// <summary>soak: every post new to the pipeline (<c>--unique</c>): the source is seeded with enough rows for the run and the emulators post them in order, each once (<c>--order sequential</c>), instead of drawing from the 11,000 seeded rows with repeats.</summary>
        public bool Unique { get; init; }

        /// <summary>history: only land the days (kept in <c>&lt;out&gt;/data</c>, described in <c>landings.json</c>), no <c>pinpipe</c> run (<c>--land-only</c>).</summary>
        public bool LandOnly { get; init; }

        /// <summary>delta-log: commits to make (<c>--commits</c>, default 20,000).</summary>
        public int Commits { get; init; } = 20_000;

        /// <summary>ingest: the folder the embedded log goes in (<c>--log-dir</c>, e.g. a tmpfs to see what the fsyncs cost); null = the system's temporary folder.</summary>
        public string? LogDir { get; init; }

        public static BenchArgs Parse(string[] args)
        {
            string what = "all";
            int seconds = 10, rounds = 3, connections = 64, records = 1_000_000;
            long posts = 1_000_000;
            List<int>? rates = null;
            List<string>? triggers = null;
            var streamEnv = new List<string>();
            double minutes = 60;
            double warmupMinutes = 5;
            string lane = "both";
            int rate = 2_000, perRequest = 10;
            long prefill = 0;
            int days = 30;
            long postsPerDay = 100_000;
            List<int>? fullDays = null;
            string? outDir = null;
            bool keepData = false, landOnly = false, unique = false;
            int commits = 20_000;
            string? logDir = null;
            for (int i = 0; i < args.Length; i++)
            {
                int Next() => int.Parse(args[++i], CultureInfo.InvariantCulture);
                switch (args[i])
                {
                    case "--seconds": seconds = Next(); break;
                    case "--rounds": rounds = Next(); break;
                    case "--connections": connections = Next(); break;
                    case "--records": records = Next(); break;
                    case "--posts": posts = long.Parse(args[++i], CultureInfo.InvariantCulture); break;
                    case "--rates": rates = args[++i].Split(',').Select(r => int.Parse(r, CultureInfo.InvariantCulture)).ToList(); break;
                    case "--triggers": triggers = [.. args[++i].Split(',')]; break;
                    case "--stream-env": streamEnv.Add(args[++i]); break;
                    case "--minutes": minutes = double.Parse(args[++i], CultureInfo.InvariantCulture); break;
                    case "--warmup": warmupMinutes = double.Parse(args[++i], CultureInfo.InvariantCulture); break;
                    case "--rate": rate = Next(); break;
                    case "--lane": lane = args[++i] is "both" or "stream" ? args[i] : throw new ArgumentException($"--lane {args[i]}: use both or stream"); break;
                    case "--records-per-request": perRequest = Next(); break;
                    case "--prefill-rows": prefill = long.Parse(args[++i], CultureInfo.InvariantCulture); break;
                    case "--days": days = Next(); break;
                    case "--posts-per-day": postsPerDay = long.Parse(args[++i], CultureInfo.InvariantCulture); break;
                    case "--full-days": fullDays = args[++i] == "none" ? [] : args[i].Split(',').Select(d => int.Parse(d, CultureInfo.InvariantCulture)).Distinct().Order().ToList(); break;
                    case "--out": outDir = Path.GetFullPath(args[++i]); break;
                    case "--keep-data": keepData = true; break;
                    case "--unique": unique = true; break;
                    case "--land-only": landOnly = true; break;
                    case "--commits": commits = Next(); break;
                    case "--log-dir": logDir = Path.GetFullPath(args[++i]); break;
                    case "--cli": BatchBench.CliDll = Path.GetFullPath(args[++i]); break;
                    default: what = args[i]; break;
                }
            }
            return new BenchArgs(what, TimeSpan.FromSeconds(seconds), rounds, connections, records, posts)
            {
                Rates = rates,
                Triggers = triggers,
                StreamEnv = streamEnv,
                Minutes = minutes,
                WarmupMinutes = warmupMinutes,
                Lane = lane,
                Rate = rate,
                RecordsPerRequest = perRequest,
                PrefillRows = prefill,
                Days = days,
                PostsPerDay = postsPerDay,
                LogDir = logDir,
                FullDays = fullDays,
                Out = outDir,
                KeepData = keepData,
                Unique = unique,
                LandOnly = landOnly,
                Commits = commits,
            };
        }
    }
}
