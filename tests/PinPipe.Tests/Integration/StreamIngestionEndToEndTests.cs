using System.Globalization;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;
using PinPipe.Log;
using PinPipe.Source;
using PinPipe.Tests.Support;

namespace PinPipe.Tests.Integration;

/// <summary>
/// The streaming lane's ingestion as a user runs it, each part its own process on loopback:
/// <c>pinpipe seed</c> → <c>pinpipe serve</c> (which creates the three streams) → <c>pinpipe emulate --lane stream</c> → the log.
/// </summary>
public sealed class StreamIngestionEndToEndTests
{
    private const string UserId = "e2e";
    private static readonly string[] Streams = [$"streaming-{UserId}-pin", $"streaming-{UserId}-geo", $"streaming-{UserId}-user"];
    private static readonly TimeSpan Timeout = TimeSpan.FromSeconds(120);

    [Fact]
    public async Task The_streams_hold_every_posted_row_as_its_source_json_in_the_original_and_the_batched_shape()
    {
        const int Posts = 150;
        using var dir = new TempDirectory("e2e-stream");
        string[] common = ["--user-id", UserId];
        var seed = await CliProcess.RunAsync(dir.Path, Timeout, ["seed", "--rows", "1000", .. common]);
        Assert.True(seed.ExitCode == 0, seed.Output);

        int port = CliProcess.FreePort();
        var api = $"http://127.0.0.1:{port}";
        await using (var serve = CliProcess.Start(dir.Path, ["serve", "--urls", api, .. common]))
        {
            await serve.WaitHealthyAsync(new Uri($"{api}/healthz"), Timeout);
            using (var http = new HttpClient())
            {
                using var doc = JsonDocument.Parse(await http.GetStringAsync($"{api}/streams"));
                Assert.Equal(Streams.Order(StringComparer.Ordinal), doc.RootElement.GetProperty("StreamNames").EnumerateArray().Select(s => s.GetString()));
            }
            foreach (var perRequest in new[] { "1", "40" })
            {
                var emulated = await CliProcess.RunAsync(dir.Path, Timeout, ["emulate", "--lane", "stream", "--api-url", api,
                    "--count", Posts.ToString(CultureInfo.InvariantCulture), "--records-per-request", perRequest, "--concurrency", "4", .. common]);
                Assert.True(emulated.ExitCode == 0, emulated.Output);
                Assert.Contains($"{Posts * 3:N0} acknowledged", emulated.Output, StringComparison.Ordinal);
            }
            Assert.Equal(0, await serve.InterruptAsync(Timeout));
        }

        await using var source = new SqliteSourceDatabase($"Data Source={Path.Combine(dir.Path, ".pinpipe", "source.db")}");
        await using var log = await LogFactory.OpenAsync(new LogOptions { Path = Path.Combine(dir.Path, ".pinpipe", "log.db") });
        Assert.Empty(await log.ReadAsync($"{UserId}.pin", 0, 0, 10));
        var indexesPerStream = new List<List<long>>();
        for (int s = 0; s < 3; s++)
        {
            var records = await log.ReadAsync(Streams[s], 0, 0, int.MaxValue);
            Assert.Equal(2 * Posts, records.Count);
            var indexes = records.Select(r => JsonNode.Parse(r.Value)![s == 0 ? "index" : "ind"]!.GetValue<long>()).ToList();
            var rows = await source.GetPostsAsync(indexes);
            Assert.Equal(indexes, rows.Select(r => r.Pin.Index));
            for (int i = 0; i < records.Count; i++)
            {
                var expected = s == 0 ? SourceJson.Pin(rows[i].Pin) : s == 1 ? SourceJson.Geo(rows[i].Geo!) : SourceJson.User(rows[i].User!);
                Assert.True(JsonNode.DeepEquals(JsonNode.Parse(expected), JsonNode.Parse(records[i].Value)), Encoding.UTF8.GetString(records[i].Value!));
                Assert.DoesNotContain("\", \"", Encoding.UTF8.GetString(records[i].Value!), StringComparison.Ordinal);
                // The original emulator's fixed key on the first run, the post's index in batches on the second.
                Assert.Equal(i < Posts ? "partition-1" : indexes[i].ToString(CultureInfo.InvariantCulture), Encoding.UTF8.GetString(records[i].Key!));
            }
            indexesPerStream.Add(indexes);
        }
        // Every post gave its pin, geo and user record.
        Assert.Equal(indexesPerStream[0].Order(), indexesPerStream[1].Order());
        Assert.Equal(indexesPerStream[0].Order(), indexesPerStream[2].Order());
    }
}
