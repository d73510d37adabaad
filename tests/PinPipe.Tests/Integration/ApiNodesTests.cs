using System.Net;
using System.Net.Http.Headers;
using System.Text;
using System.Text.Json;
using PinPipe.Hosting;
using PinPipe.Log;
using PinPipe.Log.Kafka;
using PinPipe.Tests.Log.Kafka;
using PinPipe.Tests.Support;

namespace PinPipe.Tests.Integration;

/// <summary>
/// Several API nodes: two <c>pinpipe serve</c> processes over one Kafka log (librdkafka's mock cluster, whose brokers
/// listen on 127.0.0.1) keep nothing between requests, so records posted through either are all in the log, in order
/// per key; on the embedded log a second <c>serve</c> on the same data folder is refused, naming the process that holds it.
/// </summary>
[Collection(KafkaClusterCollection.Name)]
public sealed class ApiNodesTests(KafkaMockClusterFixture cluster)
{
    private static readonly TimeSpan Timeout = TimeSpan.FromSeconds(60);

    [Fact]
    public async Task Two_serve_processes_on_one_kafka_log_take_records_through_both_all_present_in_order_per_key()
    {
        using var dir = new TempDirectory("api-nodes");
        string user = $"nodes{Guid.NewGuid():N}"[..13];
        var names = new PinPipeSettings { UserId = user, DataDir = dir.Path }.Resolve().Names;
        // The mock cluster has no CreateTopics: the topics and streams are made through its control API, as an operator
        // would make them on MSK; each serve then finds them.
        foreach (string topic in names.Topics.Concat(names.Streams))
            await cluster.TopicAdmin.CreateAsync(topic, 3, 1, new Dictionary<string, string>(), CancellationToken.None);

        var nodes = new List<(CliProcess Process, HttpClient Client)>();
        try
        {
            for (int n = 0; n < 2; n++)
            {
                int port = CliProcess.FreePort();
                var process = CliProcess.Start(dir.Path, "serve", "--log", "kafka", "--bootstrap-servers", cluster.BootstrapServers,
                    "--urls", $"http://127.0.0.1:{port}", "--user-id", user, "--data-dir", Path.Combine(dir.Path, $"node{n}"));
                nodes.Add((process, new HttpClient { BaseAddress = new Uri($"http://127.0.0.1:{port}/") }));
                await process.WaitHealthyAsync(new Uri($"http://127.0.0.1:{port}/healthz"), Timeout);
            }

            // Ten keys, twenty records each, each record acknowledged before the next of its key, alternating nodes.
            const int Keys = 10, PerKey = 20;
            var keyed = Enumerable.Range(0, Keys).Select(async k =>
            {
                for (int seq = 0; seq < PerKey; seq++)
                {
                    var (_, client) = nodes[(k + seq) % 2];
                    using var body = new StringContent($$$"""{"records":[{"key":"k{{{k}}}","value":{"key":{{{k}}},"seq":{{{seq}}}}}]}""", Encoding.UTF8);
                    body.Headers.ContentType = MediaTypeHeaderValue.Parse("application/vnd.kafka.json.v2+json");
                    using var response = await client.PostAsync($"topics/{names.PinTopic}", body);
                    Assert.True(response.StatusCode == HttpStatusCode.OK, await response.Content.ReadAsStringAsync());
                }
            });
            await Task.WhenAll(keyed);

            await using var log = await KafkaLog.OpenAsync(new LogOptions { Kind = LogKind.Kafka, Kafka = new() { ["bootstrap.servers"] = cluster.BootstrapServers } });
            var seen = new List<(int Key, int Seq, int Partition, long Offset)>();
            for (int p = 0; p < 3; p++)
                foreach (var r in await log.ReadAsync(names.PinTopic, p, 0, 10_000))
                {
                    using var doc = JsonDocument.Parse(r.Value!);
                    seen.Add((doc.RootElement.GetProperty("key").GetInt32(), doc.RootElement.GetProperty("seq").GetInt32(), r.Partition, r.Offset));
                }

            Assert.Equal(Keys * PerKey, seen.Count);
            Assert.Equal(Keys * PerKey, seen.Select(s => (s.Key, s.Seq)).Distinct().Count());
            foreach (var group in seen.GroupBy(s => s.Key))
            {
                Assert.Single(group.Select(s => s.Partition).Distinct()); // one key, one partition, whichever node took it
                Assert.Equal(Enumerable.Range(0, PerKey), group.OrderBy(s => s.Offset).Select(s => s.Seq));
            }
            Assert.True(seen.Select(s => s.Partition).Distinct().Count() > 1, "the keys all landed on one partition");
        }
        finally
        {
            foreach (var (process, client) in nodes)
            {
                client.Dispose();
                await process.DisposeAsync();
            }
        }
    }

    [Fact]
    public async Task A_second_serve_on_the_same_embedded_log_is_refused_naming_the_process_that_holds_it()
    {
        using var dir = new TempDirectory("api-nodes-embedded");
        int port = CliProcess.FreePort();
        await using var first = CliProcess.Start(dir.Path, "serve", "--urls", $"http://127.0.0.1:{port}", "--user-id", "nodes");
        await first.WaitHealthyAsync(new Uri($"http://127.0.0.1:{port}/healthz"), Timeout);

        var (code, output) = await CliProcess.RunAsync(dir.Path, Timeout, "serve", "--urls", $"http://127.0.0.1:{CliProcess.FreePort()}", "--user-id", "nodes");

        Assert.NotEqual(0, code);
        Assert.Contains("is already open by process", output, StringComparison.Ordinal);
        Assert.Contains("one process at a time writes the embedded log", output, StringComparison.Ordinal);
        Assert.False(first.HasExited, first.Output);
    }
}
