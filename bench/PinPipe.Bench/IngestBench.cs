using System.Globalization;
using System.Text;
using PinPipe.Ingest;
using PinPipe.Ingest.Keys;
using PinPipe.Log;
using PinPipe.Log.Sqlite;

namespace PinPipe.Bench;

/// <summary>
/// wrk against the ingest API (durable acks over the embedded log) and against a no-op Kestrel endpoint,
/// alternating in one run, for single-record and 500-record requests.
/// </summary>
internal static class IngestBench
{
    public static async Task<List<string>> RunAsync(BenchArgs args)
    {
        Wrk.EnsureInstalled();
        var lines = new List<string>();
        using var dir = new BenchDirectory("ingest");
        var record = RecordSamples.PinRecord();
        var single = dir.WriteFile("single.json", $$"""{"records":[{"value":{{record}}}]}""");
        var batch = dir.WriteFile("batch500.json", "{\"records\":[" + string.Join(",", Enumerable.Repeat($$"""{"value":{{record}}}""", 500)) + "]}");

        // --log-dir puts the log elsewhere (a tmpfs: no fsync waits), to show what durability costs on this machine's disk.
        using var logDir = args.LogDir is null ? null : new BenchDirectory("ingest-log", args.LogDir);
        string logPath = logDir?.File("log.db") ?? dir.File("log.db");
        Progress($"ingest: the embedded log at {logPath}");
        await using var log = await LogFactory.OpenAsync(new LogOptions { Path = logPath, RetentionBytes = 2L << 30 });
        var writer = (SqliteLog)log;
        await log.CreateTopicAsync("bench.pin", 1);
        // The API as it was before keys and metrics (both off), and as it runs by default once a key exists: keys checked on
        // every request and metrics counted, scraped every second as a Prometheus would (at 15 s by default, far less often).
        await using var api = await IngestServer.StartAsync(new IngestOptions { Urls = "http://127.0.0.1:0", Metrics = false }, log);
        var keys = new KeyStore(dir.File("keys.json"));
        var (_, key) = await keys.CreateAsync("bench", KeyScope.Produce, null);
        await using var guarded = await IngestServer.StartAsync(new IngestOptions { Urls = "http://127.0.0.1:0", KeysFile = keys.Path, Metrics = true }, log);
        await using var noop = await NoOpServer.StartAsync();
        var apiUrl = new Uri(api.BaseAddress, "topics/bench.pin");
        var guardedUrl = new Uri(guarded.BaseAddress, "topics/bench.pin");
        var noopUrl = new Uri(noop.Address, "topics/bench.pin");
        using var scraper = new HttpClient { BaseAddress = guarded.BaseAddress };
        scraper.DefaultRequestHeaders.Add("x-api-key", key);

        foreach (var (name, file, records, connections) in new[] { ("1 record/request", single, 1, args.Connections), ("500 records/request", batch, 500, Math.Min(args.Connections, 16)) })
        {
            var noopRuns = new List<WrkResult>();
            var apiRuns = new List<WrkResult>();
            var guardedRuns = new List<WrkResult>();
            var writerRuns = new List<(WriterStats Stats, TimeSpan Wall)>(); // the log's writer during the keys + metrics off runs
            for (int round = 0; round < args.Rounds; round++)
            {
                Progress($"ingest {name}: round {round + 1}/{args.Rounds}, no-op endpoint");
                noopRuns.Add(Wrk.Post(noopUrl, file, connections, 2, args.Duration));
                // The two configurations in alternating order, so that neither always runs on a warmer log.
                bool guardedFirst = round % 2 == 1;
                for (int i = 0; i < 2; i++)
                {
                    if (guardedFirst == (i == 0))
                    {
                        Progress($"ingest {name}: round {round + 1}/{args.Rounds}, pinpipe serve, keys + metrics on (scraped every 1 s)");
                        var done = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
#pragma warning disable CA2025 // awaited just below, long before the client is disposed
                        var scraping = ScrapeEverySecondAsync(scraper, done.Task);
#pragma warning restore CA2025
                        guardedRuns.Add(Wrk.Post(guardedUrl, file, connections, 2, args.Duration, key));
                        done.SetResult();
                        await scraping;
                    }
                    else
                    {
                        Progress($"ingest {name}: round {round + 1}/{args.Rounds}, pinpipe serve, keys + metrics off");
                        var before = writer.Stats;
                        var wall = System.Diagnostics.Stopwatch.StartNew();
                        apiRuns.Add(Wrk.Post(apiUrl, file, connections, 2, args.Duration));
                        writerRuns.Add((Minus(writer.Stats, before), wall.Elapsed));
                    }
                    await log.EnforceRetentionAsync();
                }
            }
            foreach (var (runs, what) in new[] { (apiRuns, "pinpipe serve"), (guardedRuns, "pinpipe serve with keys and metrics") })
                if (runs.Sum(r => r.Non2xx + r.SocketErrors) > 0)
                    lines.Add($"WARNING: {name}: {runs.Sum(r => r.Non2xx)} non-2xx answers, {runs.Sum(r => r.SocketErrors)} socket errors from {what}");
            double apiRps = Median(apiRuns.Select(r => r.RequestsPerSecond)), noopRps = Median(noopRuns.Select(r => r.RequestsPerSecond));
            double guardedRps = Median(guardedRuns.Select(r => r.RequestsPerSecond));
            lines.Add(Row($"wrk, {name}, {connections} connections", "no-op Kestrel", noopRps, noopRps * records, Median(noopRuns.Select(r => r.P50Ms)), Median(noopRuns.Select(r => r.P99Ms))));
            lines.Add(Row($"wrk, {name}, {connections} connections", "pinpipe serve (durable), keys + metrics off", apiRps, apiRps * records, Median(apiRuns.Select(r => r.P50Ms)), Median(apiRuns.Select(r => r.P99Ms)))
                + $" ratio to no-op {apiRps / noopRps:0.00}×; {WriterLine(writerRuns)}");
            lines.Add(Row($"wrk, {name}, {connections} connections", "pinpipe serve (durable), keys + metrics on", guardedRps, guardedRps * records, Median(guardedRuns.Select(r => r.P50Ms)), Median(guardedRuns.Select(r => r.P99Ms)))
                + $" ratio to no-op {guardedRps / noopRps:0.00}×; cost of keys + metrics {(1 - guardedRps / apiRps) * 100:0.0}% of req/s"
                + $" (per round: {string.Join(", ", apiRuns.Zip(guardedRuns, (a, g) => $"{(1 - g.RequestsPerSecond / a.RequestsPerSecond) * 100:0.0}%"))})");
        }
        return lines;
    }

    private static WriterStats Minus(WriterStats a, WriterStats b) =>
        new(a.Groups - b.Groups, a.Appends - b.Appends, a.Write - b.Write, a.Commit - b.Commit, a.Checkpoint - b.Checkpoint);

    /// <summary>
    /// The log writer's share of the runs (medians): busy time per second of the run (wrk's start and end included), the
    /// commit's part (WAL frames written and fsync'd), appends per group (per fsync) and a commit's mean time.
    /// </summary>
    private static string WriterLine(List<(WriterStats Stats, TimeSpan Wall)> runs) => string.Create(CultureInfo.InvariantCulture,
        $"log writer busy {Median(runs.Select(r => r.Stats.Busy / r.Wall)) * 100:0}% of the time " +
        $"(commits {Median(runs.Select(r => r.Stats.Commit / r.Wall)) * 100:0}%), " +
        $"{Median(runs.Select(r => (double)r.Stats.Appends / Math.Max(1, r.Stats.Groups))):0.0} appends a group, " +
        $"{Median(runs.Select(r => r.Stats.Groups / r.Wall.TotalSeconds)):N0} groups/s, " +
        $"commit {Median(runs.Select(r => r.Stats.Commit.TotalMilliseconds / Math.Max(1, r.Stats.Groups))):0.00} ms each");

    /// <summary>GET /metrics every second until <paramref name="done"/> completes, as Prometheus scrapes; a failed scrape stops the benchmark.</summary>
    private static async Task ScrapeEverySecondAsync(HttpClient client, Task done)
    {
        while (!done.IsCompleted)
        {
            using (var response = await client.GetAsync("metrics")) response.EnsureSuccessStatusCode();
            await Task.WhenAny(done, Task.Delay(TimeSpan.FromSeconds(1)));
        }
    }

    public static string Row(string load, string target, double requestsPerSecond, double recordsPerSecond, double p50, double p99)
    {
        // A figure a benchmark does not measure (NaN) shows as a dash rather than "NaN".
        static string Or(double value, string text) => double.IsNaN(value) ? "–" : text;
        return string.Create(CultureInfo.InvariantCulture,
            $"| {load} | {target} | {Or(requestsPerSecond, $"{requestsPerSecond:N0} req/s")} | {Or(recordsPerSecond, $"{recordsPerSecond:N0} records/s")} | {Or(p50, $"p50 {p50:0.00} ms")} | {Or(p99, $"p99 {p99:0.00} ms")} |");
    }

    public static double Median(IEnumerable<double> values)
    {
        var sorted = values.Order().ToArray();
        return sorted.Length == 0 ? double.NaN : sorted.Length % 2 == 1 ? sorted[sorted.Length / 2] : (sorted[sorted.Length / 2 - 1] + sorted[sorted.Length / 2]) / 2;
    }

    public static void Progress(string message) => Console.Error.WriteLine($"{DateTime.Now:HH:mm:ss} {message}");
}

/// <summary>A scratch folder for one benchmark, deleted afterwards.</summary>
internal sealed class BenchDirectory : IDisposable
{
    public BenchDirectory(string name, string? under = null)
    {
        Path = System.IO.Path.Combine(under ?? System.IO.Path.Combine(System.IO.Path.GetTempPath(), "pinpipe-bench"), $"{name}-{Guid.NewGuid():N}");
        Directory.CreateDirectory(Path);
    }

    public string Path { get; }
    public string File(string name) => System.IO.Path.Combine(Path, name);

    public string WriteFile(string name, string content)
    {
        var f = File(name);
        System.IO.File.WriteAllText(f, content, new UTF8Encoding(false));
        return f;
    }

    public void Dispose()
    {
        try { Directory.Delete(Path, true); } catch (IOException) { }
    }
}
