using System.Collections.Concurrent;
using System.Globalization;
using System.Net;
using System.Net.Http.Headers;
using System.Text;
using System.Text.Json;
using Microsoft.Extensions.Logging.Abstractions;
using PinPipe.Configuration;
using PinPipe.DuckDb;
using PinPipe.Hosting;
using PinPipe.Lake;
using PinPipe.Lake.Delta;
using PinPipe.Log;
using PinPipe.Source;
using PinPipe.Tests.Support;
using PinPipe.Transform;
using Xunit.Abstractions;

namespace PinPipe.Tests.Integration;

/// <summary>
/// Issue #13 §2: the real CLI processes (<c>serve</c>, <c>sink</c>, <c>stream</c>, <c>batch</c>) under continuous load from
/// two <c>pinpipe emulate</c> processes (both lanes) and a prober that posts records with unique keys and remembers which
/// were acknowledged. Each cycle SIGKILLs one of them at a random moment, restarts it and runs <c>pinpipe verify</c> on
/// the live pipeline, which must find no gap and no duplicate. At the end every acknowledged record is in the log, in the
/// batch tables and in the streaming tables, once. <c>PINPIPE_KILL_CYCLES</c> sets the cycles per process: 5 in the test
/// command (about 3 minutes); the 20 each (about 11 minutes on 2 cores) is a benchmark run (BENCHMARKS.md).
/// </summary>
public sealed class KillCycleTests(ITestOutputHelper output)
{
    private const long ProbeBase = 900_000_000; // the prober's inds: far above the source's

    [Fact]
    public async Task Sigkill_of_serve_sink_stream_and_batch_at_random_moments_loses_no_acknowledged_record_and_duplicates_none()
    {
        int cycles = int.TryParse(Environment.GetEnvironmentVariable("PINPIPE_KILL_CYCLES"), CultureInfo.InvariantCulture, out int n) && n > 0 ? n : 5;
        int seed = Environment.TickCount;
        output.WriteLine($"kill cycles: {cycles} per process, seed {seed}");
        var random = new Random(seed);
        using var dir = new TempDirectory("kill-cycles");
        var (seeded, seedOutput) = await CliProcess.RunAsync(dir.Path, TimeSpan.FromMinutes(2), "seed", "--rows", "2000");
        Assert.True(seeded == 0, seedOutput);

        int port = CliProcess.FreePort();
        string api = $"http://127.0.0.1:{port}";
        string[] serveArgs = ["serve", "--urls", api, "--partitions", "2"];
        string[] sinkArgs = ["sink", "--flush-size", "100", "--rotate-interval", "1s", "--session-timeout", "2s", "--partitions", "2"];
        string[] streamArgs = ["stream", "--session-timeout", "2s", "--partitions", "2"];
        var running = new Dictionary<string, CliProcess>
        {
            ["serve"] = CliProcess.Start(dir.Path, serveArgs),
        };
        var settings = new PinPipeSettings { DataDir = Path.Combine(dir.Path, ".pinpipe") }.Resolve();
        var names = settings.Names;
        var acked = new ConcurrentDictionary<long, string>(); // prober ind → lane
        try
        {
            await running["serve"].WaitHealthyAsync(new Uri(api + "/healthz"), TimeSpan.FromSeconds(60));
            running["sink"] = CliProcess.Start(dir.Path, sinkArgs);
            running["stream"] = CliProcess.Start(dir.Path, streamArgs);
            running["emulate-batch"] = CliProcess.Start(dir.Path, "emulate", "--api-url", api, "--lane", "batch", "--rate", "40", "--records-per-request", "5", "--max-attempts", "30");
            running["emulate-stream"] = CliProcess.Start(dir.Path, "emulate", "--api-url", api, "--lane", "stream", "--rate", "40", "--records-per-request", "5", "--max-attempts", "30");

            using var stopProbing = new CancellationTokenSource();
            var prober = ProbeAsync(api, names, acked, stopProbing.Token);
            var victims = new[] { "serve", "sink", "stream", "batch" };
            int verified = 0;
            for (int cycle = 0; cycle < cycles * victims.Length; cycle++)
            {
                string victim = victims[cycle % victims.Length];
                await Task.Delay(random.Next(200, 1500));
                if (victim == "batch")
                {
                    await using var batch = CliProcess.Start(dir.Path, "batch");
                    await Task.Delay(random.Next(100, 3000));
                    batch.Kill();
                }
                else
                {
                    running[victim].Kill();
                    await running[victim].DisposeAsync();
                    running[victim] = CliProcess.Start(dir.Path, victim switch { "serve" => serveArgs, "sink" => sinkArgs, _ => streamArgs });
                    if (victim == "serve") await running["serve"].WaitHealthyAsync(new Uri(api + "/healthz"), TimeSpan.FromSeconds(60));
                }
                var (code, text) = await CliProcess.RunAsync(dir.Path, TimeSpan.FromMinutes(2), "verify");
                Assert.True(code == 0, $"cycle {cycle} (killed {victim}): pinpipe verify exited {code}:\n{text}");
                verified++;
            }
            await stopProbing.CancelAsync();
            await prober;

            // The emulators stop cleanly and lost nothing (exit 1 would say records were lost).
            foreach (string emulator in new[] { "emulate-batch", "emulate-stream" })
            {
                int exit = await running[emulator].InterruptAsync(TimeSpan.FromSeconds(60));
                Assert.True(exit == 0, $"{emulator} exited {exit}:\n{running[emulator].Output}");
                Assert.DoesNotContain("LOST:", running[emulator].Output, StringComparison.Ordinal);
            }

            // Everything consumed, then one batch run to completion: every check consistent.
            await using (var log = await LogFactory.OpenAsync(settings.Log with { Access = LogAccess.Consumer }))
                await WaitConsumedAsync(log, settings, TimeSpan.FromMinutes(3));
            var (batched, batchOutput) = await CliProcess.RunAsync(dir.Path, TimeSpan.FromMinutes(3), "batch");
            Assert.True(batched == 0, batchOutput);
            var (final, finalOutput) = await CliProcess.RunAsync(dir.Path, TimeSpan.FromMinutes(2), "verify");
            Assert.True(final == 0, finalOutput);
            output.WriteLine($"{verified} cycles verified; {acked.Count} probe records acknowledged");
            Assert.True(acked.Count > 50, $"only {acked.Count} probe records were acknowledged");

            // Every acknowledged probe record is in the log, in the batch pin table and in the streaming pin table.
            var store = await ObjectStoreFactory.OpenAsync(settings.ObjectStore, names.Bucket, NullLogger.Instance);
            await using (var log = await LogFactory.OpenAsync(settings.Log with { Access = LogAccess.Consumer }))
            {
                var inLog = new HashSet<long>();
                foreach (string topic in new[] { names.PinTopic, names.PinStream })
                    for (int p = 0; p < 2; p++)
                        foreach (var r in await log.ReadAsync(topic, p, 0, int.MaxValue))
                            if (r.Value is not null && JsonDocument.Parse(r.Value).RootElement.TryGetProperty("index", out var i) && i.TryGetInt64(out long ind) && ind >= ProbeBase)
                                inLog.Add(ind * 2 + (topic == names.PinTopic ? 0 : 1));
                foreach (var (ind, lane) in acked)
                    Assert.True(inLog.Contains(ind * 2 + (lane == "batch" ? 0 : 1)), $"acknowledged probe record {ind} ({lane} lane) is not in the log");
            }
            var batchInds = await IndsAsync(store, "delta/pin");
            var streamInds = await IndsAsync(store, PipelineJobs.StreamTarget(settings).TablePrefix(RecordKind.Pin));
            foreach (var (ind, lane) in acked)
                Assert.True((lane == "batch" ? batchInds : streamInds).Contains(ind), $"acknowledged probe record {ind} ({lane} lane) is not in its Delta table");
        }
        finally
        {
            foreach (var p in running.Values)
            {
                try { p.Kill(); } catch (InvalidOperationException) { }
                await p.DisposeAsync();
            }
        }
    }

    /// <summary>Posts pin records with unique inds to both lanes until stopped; remembers those acknowledged with 200.</summary>
    private static async Task ProbeAsync(string api, PipelineNames names, ConcurrentDictionary<long, string> acked, CancellationToken stop)
    {
        using var client = new HttpClient { BaseAddress = new Uri(api + "/"), Timeout = TimeSpan.FromSeconds(10) };
        long next = ProbeBase;
        while (!stop.IsCancellationRequested)
        {
            long ind = next++;
            var post = SyntheticData.Generate(7, ind, 1).Single();
            string value = Encoding.UTF8.GetString(SourceJson.Pin(post.Pin));
            bool batch = ind % 2 == 0;
            using var body = batch
                ? new StringContent($$"""{"records":[{"value":{{value}}}]}""")
                : new StringContent($$"""{"StreamName":"{{names.PinStream}}","Data":{{value}},"PartitionKey":"{{ind}}"}""");
            body.Headers.ContentType = MediaTypeHeaderValue.Parse(batch ? "application/vnd.kafka.json.v2+json" : "application/json");
            try
            {
                using var response = batch
                    ? await client.PostAsync($"topics/{names.PinTopic}", body, stop)
                    : await client.PutAsync($"streams/{names.PinStream}/record", body, stop);
                if (response.StatusCode == HttpStatusCode.OK) acked[ind] = batch ? "batch" : "stream";
            }
            catch (HttpRequestException) { } // serve is down: not acknowledged
            catch (TaskCanceledException) when (!stop.IsCancellationRequested) { }
            catch (OperationCanceledException) { return; }
            await Task.Delay(20, CancellationToken.None);
        }
    }

    private static async Task WaitConsumedAsync(ILog log, PinPipeSettings settings, TimeSpan timeout)
    {
        var deadline = DateTime.UtcNow + timeout;
        var consumers = settings.Consumers();
        while (true)
        {
            long lag = 0;
            foreach (string topic in settings.Names.Topics.Concat(settings.Names.Streams))
                for (int p = 0; p < 2; p++)
                {
                    var w = await log.GetWatermarksAsync(topic, p);
                    foreach (string group in consumers.Of(topic)) lag += w.Lag(await log.GetCommittedOffsetAsync(group, topic, p));
                }
            if (lag == 0) return;
            Assert.True(DateTime.UtcNow < deadline, $"{lag} records still not consumed after {timeout}");
            await Task.Delay(500);
        }
    }

    private static async Task<HashSet<long>> IndsAsync(IObjectStore store, string prefix)
    {
        var snapshot = await new DeltaTable(store, prefix).LoadAsync();
        Assert.NotNull(snapshot);
        using var scan = await snapshot.OpenScanAsync(["ind"]);
        using var db = DuckDbSession.Open();
        return [.. db.Query($"SELECT ind FROM {scan.Sql} WHERE ind >= {ProbeBase}", r => r.GetInt64(0))];
    }
}
