using System.Globalization;
using System.Net;
using System.Net.Http.Headers;
using System.Text;
using PinPipe.Hosting;
using PinPipe.Log;
using PinPipe.Log.Sqlite;
using PinPipe.Tests.Support;

namespace PinPipe.Tests.Integration;

/// <summary>
/// Sink workers: three <c>pinpipe sink</c> processes share the embedded log's topics (six partitions each) as one consumer
/// group, under load through a real <c>pinpipe serve</c>; one is killed with SIGKILL and another started. Afterwards every
/// acknowledged record is in the bucket exactly once, and each partition's objects follow each other without gap or overlap.
/// </summary>
public sealed class SinkWorkersTests
{
    private static readonly TimeSpan Timeout = TimeSpan.FromSeconds(90);
    private const string Group = "connect-pinpipe-s3-sink";

    [Fact]
    public async Task Three_workers_over_six_partitions_one_killed_and_one_started_under_load_sink_every_record_exactly_once()
    {
        using var dir = new TempDirectory("sink-workers");
        string user = "workers" + Guid.NewGuid().ToString("N")[..6];
        var names = new PinPipeSettings { UserId = user, DataDir = dir.Path }.Resolve().Names;
        int port = CliProcess.FreePort();
        var environment = new Dictionary<string, string?> { ["PINPIPE_Log__DefaultPartitions"] = "6" };
        await using var serve = CliProcess.StartWithEnvironment(environment, dir.Path,
            "serve", "--data-dir", dir.Path, "--user-id", user, "--urls", $"http://127.0.0.1:{port}");
        await serve.WaitHealthyAsync(new Uri($"http://127.0.0.1:{port}/healthz"), Timeout);

        string[] sinkArgs = ["sink", "--data-dir", dir.Path, "--user-id", user, "--flush-size", "40", "--rotate-interval", "1s", "--session-timeout", "2s"];
        var workers = new List<CliProcess>();
        try
        {
            for (int i = 0; i < 3; i++) workers.Add(CliProcess.Start(dir.Path, sinkArgs));

            using var client = new HttpClient { BaseAddress = new Uri($"http://127.0.0.1:{port}/") };
            using var stopLoad = new CancellationTokenSource();
            long acknowledged = 0;
            var load = Task.Run(async () =>
            {
                int n = 0;
                while (!stopLoad.IsCancellationRequested)
                {
                    foreach (string topic in names.Topics)
                    {
                        var records = Enumerable.Range(0, 20).Select(_ => n++).Select(i => $$$"""{"key":"k{{{i % 97}}}","value":{"n":{{{i}}}}}""");
                        using var body = new StringContent($$"""{"records":[{{string.Join(",", records)}}]}""", Encoding.UTF8);
                        body.Headers.ContentType = MediaTypeHeaderValue.Parse("application/vnd.kafka.json.v2+json");
                        using var response = await client.PostAsync($"topics/{topic}", body);
                        Assert.True(response.StatusCode == HttpStatusCode.OK, await response.Content.ReadAsStringAsync());
                        Interlocked.Add(ref acknowledged, 20);
                    }
                    await Task.Delay(15);
                }
            });

            // The three share the eighteen partitions before the kill.
            await UntilAsync(() => workers.All(w => w.Output.Contains("assigned to this worker", StringComparison.Ordinal)), "all three workers were assigned partitions", workers);
            await Task.Delay(2000);
            var killed = workers[0];
            killed.Kill();
            workers.Add(CliProcess.Start(dir.Path, sinkArgs));
            await Task.Delay(5000);
            await stopLoad.CancelAsync();
            await load;
            Assert.True(acknowledged >= 1000, $"only {acknowledged} records were posted");

            // Everything logged is committed by the group (the killed worker's partitions moved to the others).
            await using var log = await SqliteLog.OpenAsync(new LogOptions { Path = Path.Combine(dir.Path, "log.db"), Access = LogAccess.Consumer });
            var deadline = DateTime.UtcNow + Timeout;
            IReadOnlyList<GroupPosition> positions;
            while ((positions = await GroupPositions.OfAsync(log, Group, names.Topics, CancellationToken.None)).Any(p => p.Lag > 0))
            {
                Assert.True(DateTime.UtcNow < deadline, $"the group did not catch up: {string.Join(", ", positions.Where(p => p.Lag > 0).Select(p => $"{p.Topic}[{p.Partition}] lag {p.Lag}"))}\n{string.Join("\n---\n", workers.Select(w => w.Output))}");
                await Task.Delay(200);
            }
            Assert.Equal(18, positions.Count);
            long logged = positions.Sum(p => p.Marks.High);
            Assert.Equal(acknowledged, logged);

            // Every record once: objects of a partition start where the previous one ended, and end at the log's end.
            string bucket = Path.Combine(dir.Path, "buckets", $"user-{user}-bucket", "topics");
            var seen = new HashSet<string>(StringComparer.Ordinal);
            long lines = 0;
            foreach (var position in positions)
            {
                string folder = Path.Combine(bucket, position.Topic, $"partition={position.Partition}");
                long expected = 0;
                foreach (string file in Directory.GetFiles(folder, "*.json").Order(StringComparer.Ordinal))
                {
                    long start = long.Parse(Path.GetFileNameWithoutExtension(file).Split('+')[^1], CultureInfo.InvariantCulture);
                    Assert.True(start == expected, $"{Path.GetFileName(file)} starts at {start}, the previous object ended at {expected}");
                    var content = await File.ReadAllLinesAsync(file);
                    foreach (string line in content)
                        Assert.True(seen.Add($"{position.Topic} {line}"), $"{position.Topic}: {line} is in the bucket twice");
                    expected = start + content.Length;
                    lines += content.Length;
                }
                Assert.Equal(position.Marks.High, expected);
            }
            Assert.Equal(acknowledged, lines);

            // The started worker took over partitions, and the survivors' work went on.
            Assert.Contains("assigned to this worker", workers[3].Output, StringComparison.Ordinal);
            foreach (var worker in workers.Skip(1)) Assert.False(worker.HasExited, worker.Output);
        }
        finally
        {
            foreach (var worker in workers) await worker.DisposeAsync();
        }
    }

    private static async Task UntilAsync(Func<bool> condition, string what, IEnumerable<CliProcess> processes)
    {
        var deadline = DateTime.UtcNow + Timeout;
        while (!condition())
        {
            Assert.True(DateTime.UtcNow < deadline, $"Not within {Timeout.TotalSeconds} s: {what}\n{string.Join("\n---\n", processes.Select(p => p.Output))}");
            await Task.Delay(100);
        }
    }
}
