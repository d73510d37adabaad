using PinPipe.Configuration;
using PinPipe.Emulation;
using PinPipe.Ingest;
using PinPipe.Log;
using PinPipe.Source;

namespace PinPipe.Bench;

/// <summary>The emulator against <c>pinpipe serve</c> in this process: fixed-rate latency and unthrottled throughput.</summary>
internal static class EmulatorBench
{
    /// <summary>Single-record requests at a fixed 10k requests/s (3,333 posts/s): latency p50/p99 of durable acks.</summary>
    public static async Task<List<string>> RunLatencyAsync(BenchArgs args)
    {
        var lines = new List<string>();
        foreach (double requestsPerSecond in new[] { 1_000.0, 5_000.0, 10_000.0 })
        {
            var runs = new List<EmulatorResult>();
            for (int round = 0; round < args.Rounds; round++)
            {
                IngestBench.Progress($"latency at {requestsPerSecond:N0} requests/s: round {round + 1}/{args.Rounds}");
                runs.Add(await RunEmulatorAsync(new EmulatorOptions { Rate = requestsPerSecond / 3, Concurrency = 256, RecordsPerRequest = 1, Duration = args.Duration }));
            }
            lines.Add(Row($"emulator at a fixed {requestsPerSecond:N0} requests/s, 1 record/request", runs));
        }
        return lines;
    }

    /// <summary>Unthrottled emulator: how many records/s it gets acknowledged.</summary>
    public static async Task<List<string>> RunThroughputAsync(BenchArgs args)
    {
        var lines = new List<string>();
        foreach (var (perRequest, concurrency) in new[] { (1, 64), (100, 16), (500, 8) })
        {
            var runs = new List<EmulatorResult>();
            for (int round = 0; round < args.Rounds; round++)
            {
                IngestBench.Progress($"emulator unthrottled, {perRequest} records/request: round {round + 1}/{args.Rounds}");
                runs.Add(await RunEmulatorAsync(new EmulatorOptions { Concurrency = concurrency, RecordsPerRequest = perRequest, Duration = args.Duration }));
            }
            lines.Add(Row($"emulator unthrottled, {perRequest} records/request, {concurrency} in flight", runs));
        }
        return lines;
    }

    private static string Row(string load, List<EmulatorResult> runs)
    {
        var lost = runs.Sum(r => r.RecordsLost);
        return IngestBench.Row(load, "pinpipe serve (durable)", IngestBench.Median(runs.Select(r => r.Requests / r.Duration.TotalSeconds)),
                   IngestBench.Median(runs.Select(r => r.RecordsPerSecond)),
                   IngestBench.Median(runs.Select(r => r.LatencyP50.TotalMilliseconds)), IngestBench.Median(runs.Select(r => r.LatencyP99.TotalMilliseconds)))
               + (lost > 0 ? $" {lost} records LOST" : "");
    }

    private static async Task<EmulatorResult> RunEmulatorAsync(EmulatorOptions options)
    {
        using var dir = new BenchDirectory("emulator");
        var names = new PipelineNames("bench");
        await using var source = new SqliteSourceDatabase($"Data Source={dir.File("source.db")}");
        await Seeder.SeedAsync(source, 11_000, 42);
        await using var log = await LogFactory.OpenAsync(new LogOptions { Path = dir.File("log.db") });
        foreach (var t in names.Topics) await log.CreateTopicAsync(t, 1);
        await using var api = await IngestServer.StartAsync(new IngestOptions { Urls = "http://127.0.0.1:0" }, log);
        var emulator = new Emulator(options with { ApiUrl = api.BaseAddress.ToString().TrimEnd('/') }, source, names);
        return await emulator.RunAsync();
    }
}
