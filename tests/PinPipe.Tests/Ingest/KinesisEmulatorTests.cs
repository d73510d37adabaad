using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;
using System.Text.RegularExpressions;
using PinPipe.Configuration;
using PinPipe.Emulation;
using PinPipe.Source;
using PinPipe.Tests.Emulation;

namespace PinPipe.Tests.Ingest;

/// <summary>The emulator's stream lane against the real Kinesis proxy routes over a real log.</summary>
public sealed class KinesisEmulatorTests
{
    private static readonly PipelineNames Names = new("u1");

    private static Task<IngestApiHarness> StartAsync(int shards) =>
        IngestApiHarness.StartAsync(null, [.. Names.Streams.Select(s => (s, shards))]);

    private static EmulatorOptions Options(IngestApiHarness api, long count, int perRequest, int concurrency) => new()
    {
        ApiUrl = api.Server.BaseAddress.ToString(),
        Lane = EmulatorLane.Stream,
        Count = count,
        RecordsPerRequest = perRequest,
        Concurrency = concurrency,
        RetryBaseDelay = TimeSpan.FromMilliseconds(5),
        Seed = 11,
    };

    /// <summary>The source row's raw JSON (SPEC §3), compact as the proxy stores it: whitespace outside strings removed.</summary>
    private static string Expected(InMemorySourceDatabase source, int stream, long index)
    {
        var post = source[index];
        var raw = Encoding.UTF8.GetString(stream switch
        {
            0 => SourceJson.Pin(post.Pin),
            1 => SourceJson.Geo(post.Geo!),
            _ => SourceJson.User(post.User!),
        });
        var compact = JsonText.Replace(raw, m => m.Value[0] == '"' ? m.Value : "");
        Assert.True(JsonNode.DeepEquals(JsonNode.Parse(raw), JsonNode.Parse(compact)));
        Assert.NotEqual(raw, compact);
        return compact;
    }

    private static readonly Regex JsonText = new("\"(?:[^\"\\\\]|\\\\.)*\"|\\s+", RegexOptions.CultureInvariant);

    private static long IndexOf(byte[] value, int stream)
    {
        using var doc = JsonDocument.Parse(value);
        return doc.RootElement.GetProperty(stream == 0 ? "index" : "ind").GetInt64();
    }

    [Theory]
    [InlineData(1, 1, 1)]
    [InlineData(7, 1, 1)]
    [InlineData(1, 4, 1)]
    [InlineData(25, 4, 3)]
    public async Task Every_row_lands_in_its_stream_as_the_source_rows_json(int perRequest, int concurrency, int shards)
    {
        const int Posts = 60;
        await using var api = await StartAsync(shards);
        await using var source = InMemorySourceDatabase.Generate(200);

        var result = await new Emulator(Options(api, Posts, perRequest, concurrency), source, Names).RunAsync();

        Assert.Equal(Posts, result.Posts);
        Assert.Equal(3 * Posts, result.RecordsSent);
        Assert.Equal(3 * Posts, result.RecordsAcknowledged);
        Assert.Equal(0, result.RecordsFailed);
        Assert.Equal(0, result.Retries);
        Assert.Empty(result.Errors);
        Assert.Equal(3 * Posts, await api.TotalRecordsAsync());

        var indexes = new List<List<long>>();
        for (int s = 0; s < 3; s++)
        {
            var stored = await api.ReadAllAsync(Names.Streams[s]);
            Assert.Equal(Posts, stored.Count);
            var mine = stored.Select(r => IndexOf(r.Value!, s)).ToList();
            for (int i = 0; i < stored.Count; i++)
            {
                Assert.Equal(Expected(source, s, mine[i]), Encoding.UTF8.GetString(stored[i].Value!));
                Assert.Equal(perRequest == 1 ? "partition-1" : mine[i].ToString(System.Globalization.CultureInfo.InvariantCulture), Encoding.UTF8.GetString(stored[i].Key!));
            }
            indexes.Add(mine);
        }
        // Each post gave its pin, geo and user record; one request at a time on one shard keeps the posts' order.
        if (concurrency == 1 && shards == 1)
        {
            Assert.Equal(indexes[0], indexes[1]);
            Assert.Equal(indexes[0], indexes[2]);
        }
        else
        {
            Assert.Equal(indexes[0].Order(), indexes[1].Order());
            Assert.Equal(indexes[0].Order(), indexes[2].Order());
        }
    }

    [Fact]
    public async Task Records_for_a_missing_stream_are_counted_failed_while_the_others_are_acknowledged()
    {
        await using var api = await StartAsync(1);
        await api.Log.DeleteTopicAsync(Names.GeoStream);
        await using var source = InMemorySourceDatabase.Generate(50);

        var result = await new Emulator(Options(api, 10, 4, 2), source, Names).RunAsync();

        Assert.Equal(30, result.RecordsSent);
        Assert.Equal(20, result.RecordsAcknowledged);
        Assert.Equal(10, result.RecordsFailed);
        Assert.Equal(10, result.RecordsLost);
        Assert.Equal(0, result.Retries);
        Assert.Contains(result.Errors, e => e.Contains($"Stream {Names.GeoStream} under account 000000000000 not found", StringComparison.Ordinal));
        Assert.Equal(20, await api.TotalRecordsAsync());
    }
}
