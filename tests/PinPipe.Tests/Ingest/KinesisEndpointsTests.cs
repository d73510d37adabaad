using System.Net;
using System.Numerics;
using System.Security.Cryptography;
using System.Text;
using System.Text.Json;
using PinPipe.Ingest;

namespace PinPipe.Tests.Ingest;

/// <summary>The Kinesis proxy routes of SPEC §6 on a real server over a real log: answers' shapes and what is stored.</summary>
public sealed class KinesisEndpointsTests
{
    private const string Pin = "streaming-t-pin";
    private const string Geo = "streaming-t-geo";
    private static readonly BigInteger TwoTo128 = BigInteger.One << 128;

    private static Task<IngestApiHarness> StartAsync(IngestOptions? options = null) =>
        IngestApiHarness.StartAsync(options, ("t.pin", 1), (Pin, 1), (Geo, 3));

    private static async Task<JsonDocument> OkJsonAsync(HttpResponseMessage response)
    {
        var body = await response.Content.ReadAsStringAsync();
        Assert.True(response.StatusCode == HttpStatusCode.OK, $"expected 200, got {response.StatusCode}: {body}");
        Assert.Equal("application/json", response.Content.Headers.ContentType?.MediaType);
        return JsonDocument.Parse(body);
    }

    private static string[] Names(JsonElement e) => [.. e.EnumerateObject().Select(p => p.Name)];

    /// <summary>The shard of a partition key among <paramref name="shards"/>, computed here from Kinesis's rule: MD5 as a 128-bit number, even ranges.</summary>
    private static int ShardOf(string key, int shards)
    {
#pragma warning disable CA5351 // Kinesis's shard rule, not security
        var hash = new BigInteger(MD5.HashData(Encoding.UTF8.GetBytes(key)), isUnsigned: true, isBigEndian: true);
#pragma warning restore CA5351
        return (int)BigInteger.Min(hash / (TwoTo128 / shards), shards - 1);
    }

    private static string Value(PinPipe.Log.ConsumedRecord r) => Encoding.UTF8.GetString(r.Value!);

    [Fact]
    public async Task Listing_streams_names_only_the_topics_that_are_streams()
    {
        await using var api = await StartAsync();
        using var response = await api.Client.GetAsync("streams");
        using var doc = await OkJsonAsync(response);
        Assert.Equal(["HasMoreStreams", "StreamNames"], Names(doc.RootElement));
        Assert.False(doc.RootElement.GetProperty("HasMoreStreams").GetBoolean());
        Assert.Equal([Geo, Pin], doc.RootElement.GetProperty("StreamNames").EnumerateArray().Select(s => s.GetString()));
    }

    [Fact]
    public async Task Describing_a_stream_gives_one_shard_per_partition_with_ranges_that_split_the_hash_space()
    {
        await using var api = await StartAsync();
        using (var put = await api.SendAsync(HttpMethod.Put, $"streams/{Geo}/records", """{"records":[{"data":1,"partition-key":"a"},{"data":2,"partition-key":"b"}]}"""))
            Assert.Equal(HttpStatusCode.OK, put.StatusCode);
        using var response = await api.Client.GetAsync($"streams/{Geo}");
        using var doc = await OkJsonAsync(response);
        var d = doc.RootElement.GetProperty("StreamDescription");
        Assert.Equal(["StreamDescription"], Names(doc.RootElement));
        Assert.Equal(Geo, d.GetProperty("StreamName").GetString());
        Assert.Equal($"arn:aws:kinesis:us-east-1:000000000000:stream/{Geo}", d.GetProperty("StreamARN").GetString());
        Assert.Equal("ACTIVE", d.GetProperty("StreamStatus").GetString());
        Assert.False(d.GetProperty("HasMoreShards").GetBoolean());
        Assert.Equal(24, d.GetProperty("RetentionPeriodHours").GetInt32());
        var shards = d.GetProperty("Shards").EnumerateArray().ToList();
        Assert.Equal(["shardId-000000000000", "shardId-000000000001", "shardId-000000000002"], shards.Select(s => s.GetProperty("ShardId").GetString()));
        BigInteger expectedStart = 0;
        foreach (var s in shards)
        {
            var start = BigInteger.Parse(s.GetProperty("HashKeyRange").GetProperty("StartingHashKey").GetString()!, System.Globalization.CultureInfo.InvariantCulture);
            var end = BigInteger.Parse(s.GetProperty("HashKeyRange").GetProperty("EndingHashKey").GetString()!, System.Globalization.CultureInfo.InvariantCulture);
            Assert.Equal(expectedStart, start);
            if (expectedStart < TwoTo128 / 3 * 2) Assert.Equal(TwoTo128 / 3, end - start + 1); // the last shard takes the remainder
            expectedStart = end + 1;
            var sequence = s.GetProperty("SequenceNumberRange").GetProperty("StartingSequenceNumber").GetString()!;
            Assert.Matches("^[0-9]+$", sequence);
        }
        Assert.Equal(TwoTo128, expectedStart);

        using var one = await api.Client.GetAsync($"streams/{Pin}");
        using var oneDoc = await OkJsonAsync(one);
        var range = Assert.Single(oneDoc.RootElement.GetProperty("StreamDescription").GetProperty("Shards").EnumerateArray()).GetProperty("HashKeyRange");
        Assert.Equal("0", range.GetProperty("StartingHashKey").GetString());
        Assert.Equal("340282366920938463463374607431768211455", range.GetProperty("EndingHashKey").GetString());
    }

    [Fact]
    public async Task Creating_a_stream_makes_a_topic_with_the_asked_or_default_shard_count_and_deleting_removes_it()
    {
        await using var api = await StartAsync(new IngestOptions { DefaultShardCount = 2 });
        using (var created = await api.SendAsync(HttpMethod.Post, "streams/streaming-new", """{"ShardCount": 4}"""))
        {
            Assert.Equal(HttpStatusCode.OK, created.StatusCode);
            Assert.Equal("", await created.Content.ReadAsStringAsync());
        }
        using (var bare = await api.SendAsync(HttpMethod.Post, "streams/streaming-bare"))
            Assert.Equal(HttpStatusCode.OK, bare.StatusCode);
        using (var nullCount = await api.SendAsync(HttpMethod.Post, "streams/streaming-null", """{"ShardCount": null, "StreamName": "ignored"}"""))
            Assert.Equal(HttpStatusCode.OK, nullCount.StatusCode);
        Assert.Equal(4, (await api.Log.DescribeTopicAsync("streaming-new"))!.Partitions);
        Assert.Equal(2, (await api.Log.DescribeTopicAsync("streaming-bare"))!.Partitions);
        Assert.Equal(2, (await api.Log.DescribeTopicAsync("streaming-null"))!.Partitions);
        using (var described = await api.Client.GetAsync("streams/streaming-new"))
        using (var doc = await OkJsonAsync(described))
            Assert.Equal(4, doc.RootElement.GetProperty("StreamDescription").GetProperty("Shards").GetArrayLength());

        using (var deleted = await api.SendAsync(HttpMethod.Delete, "streams/streaming-new"))
        {
            Assert.Equal(HttpStatusCode.OK, deleted.StatusCode);
            Assert.Equal("", await deleted.Content.ReadAsStringAsync());
        }
        Assert.Null(await api.Log.DescribeTopicAsync("streaming-new"));
        using var list = await api.Client.GetAsync("streams");
        using var listDoc = await OkJsonAsync(list);
        Assert.Equal(["streaming-bare", "streaming-null", Geo, Pin], listDoc.RootElement.GetProperty("StreamNames").EnumerateArray().Select(s => s.GetString()));
    }

    [Fact]
    public async Task PutRecord_in_the_original_emulator_shape_stores_the_compact_json_of_Data_keyed_by_the_partition_key()
    {
        await using var api = await StartAsync();
        var sequences = new List<string>();
        string[] bodies =
        [
            $$"""{"StreamName": "{{Pin}}", "Data": {"index": 1, "title": "a b\tc", "tags": [1, 2]}, "PartitionKey": "partition-1"}""",
            $$"""{"StreamName":"{{Pin}}","Data":{"index":2,"title":"x"},"PartitionKey":"partition-1"}""",
            "{\n  \"Data\": {\n    \"index\": 3,\n    \"s\": \"say \\\"hi\\\" \\u00e9\"\n  },\n  \"PartitionKey\": \"k3\"\n}",
        ];
        foreach (var body in bodies)
        {
            using var response = await api.SendAsync(HttpMethod.Put, $"streams/{Pin}/record", body);
            using var doc = await OkJsonAsync(response);
            Assert.Equal(["SequenceNumber", "ShardId"], Names(doc.RootElement));
            Assert.Equal("shardId-000000000000", doc.RootElement.GetProperty("ShardId").GetString());
            sequences.Add(doc.RootElement.GetProperty("SequenceNumber").GetString()!);
        }
        Assert.All(sequences, s => Assert.Matches("^[1-9][0-9]*$", s));
        Assert.True(BigInteger.Parse(sequences[0]) < BigInteger.Parse(sequences[1]) && BigInteger.Parse(sequences[1]) < BigInteger.Parse(sequences[2]), string.Join(" ", sequences));

        var stored = await api.ReadAllAsync(Pin);
        Assert.Equal(
            ["""{"index":1,"title":"a b\tc","tags":[1,2]}""", """{"index":2,"title":"x"}""", """{"index":3,"s":"say \"hi\" \u00e9"}"""],
            stored.Select(Value));
        Assert.Equal(["partition-1", "partition-1", "k3"], stored.Select(r => Encoding.UTF8.GetString(r.Key!)));
    }

    [Fact]
    public async Task PutRecord_in_the_tutorial_shape_stores_the_json_text_of_a_string_with_its_quotes_on_the_shard_of_its_key()
    {
        await using var api = await StartAsync();
        var key = "some key";
        using var response = await api.SendAsync(HttpMethod.Put, $"streams/{Geo}/record", $$"""{"Data": "some data", "PartitionKey": "{{key}}"}""");
        using var doc = await OkJsonAsync(response);
        int shard = ShardOf(key, 3);
        Assert.Equal($"shardId-00000000000{shard}", doc.RootElement.GetProperty("ShardId").GetString());
        var stored = Assert.Single(await api.Log.ReadAsync(Geo, shard, 0, 10));
        Assert.Equal("\"some data\"", Value(stored));
        Assert.Equal(key, Encoding.UTF8.GetString(stored.Key!));
    }

    [Fact]
    public async Task PutRecords_acknowledges_every_record_in_order_and_stores_objects_compact_and_strings_bare()
    {
        await using var api = await StartAsync();
        var body = """
            {"records": [
              {"data": {"index": 1, "a": [1, 2]}, "partition-key": "1"},
              {"data": "plain \"text\"", "partition-key": "2"},
              {"data": 42, "partition-key": "3"},
              {"partition-key": "4", "data": {"index": 4}}
            ]}
            """;
        using var response = await api.SendAsync(HttpMethod.Put, $"streams/{Pin}/records", body);
        using var doc = await OkJsonAsync(response);
        Assert.Equal(["FailedRecordCount", "Records"], Names(doc.RootElement));
        Assert.Equal(0, doc.RootElement.GetProperty("FailedRecordCount").GetInt32());
        var results = doc.RootElement.GetProperty("Records").EnumerateArray().ToList();
        Assert.Equal(4, results.Count);
        Assert.All(results, r => Assert.Equal(["SequenceNumber", "ShardId"], Names(r)));
        Assert.All(results, r => Assert.Equal("shardId-000000000000", r.GetProperty("ShardId").GetString()));
        var sequences = results.Select(r => BigInteger.Parse(r.GetProperty("SequenceNumber").GetString()!)).ToList();
        Assert.Equal(sequences.Order(), sequences);
        Assert.Equal(4, sequences.Distinct().Count());

        var stored = await api.ReadAllAsync(Pin);
        Assert.Equal(["""{"index":1,"a":[1,2]}""", "plain \"text\"", "42", """{"index":4}"""], stored.Select(Value));
        Assert.Equal(["1", "2", "3", "4"], stored.Select(r => Encoding.UTF8.GetString(r.Key!)));
    }

    [Fact]
    public async Task PutRecords_puts_each_record_on_the_shard_its_key_hashes_to_keeping_request_order_within_a_shard()
    {
        await using var api = await StartAsync();
        var keys = Enumerable.Range(0, 60).Select(i => $"key-{i}").ToList();
        var body = "{\"records\":[" + string.Join(",", keys.Select((k, i) => $$"""{"data":{"n":{{i}}},"partition-key":"{{k}}"}""")) + "]}";
        using var response = await api.SendAsync(HttpMethod.Put, $"streams/{Geo}/records", body);
        using var doc = await OkJsonAsync(response);
        var results = doc.RootElement.GetProperty("Records").EnumerateArray().ToList();
        for (int i = 0; i < keys.Count; i++)
            Assert.Equal($"shardId-00000000000{ShardOf(keys[i], 3)}", results[i].GetProperty("ShardId").GetString());
        for (int shard = 0; shard < 3; shard++)
        {
            var expected = keys.Select((k, i) => (k, i)).Where(x => ShardOf(x.k, 3) == shard).Select(x => $$"""{"n":{{x.i}}}""").ToList();
            Assert.NotEmpty(expected);
            Assert.Equal(expected, (await api.Log.ReadAsync(Geo, shard, 0, 1000)).Select(Value));
        }
    }

    [Fact]
    public async Task When_one_shards_append_fails_its_records_carry_an_error_and_the_other_shards_records_are_durable()
    {
        // A log that takes values of at most 100 bytes: the big records' shard fails, the small ones' is written.
        await using var api = await IngestApiHarness.StartAsync(o => o with { MaxRecordBytes = 100 }, null, (Geo, 3));
        var keys = Enumerable.Range(0, 100).Select(i => $"k{i}").ToList();
        string small = keys.First(k => ShardOf(k, 3) == 0), big = keys.First(k => ShardOf(k, 3) == 1);
        string smallToo = keys.Last(k => ShardOf(k, 3) == 0), bigToo = keys.Last(k => ShardOf(k, 3) == 1);
        var large = new string('x', 200);
        var body = $$"""
            {"records":[{"data":{"i":0},"partition-key":"{{small}}"},{"data":"{{large}}","partition-key":"{{big}}"},
                        {"data":{"i":2},"partition-key":"{{smallToo}}"},{"data":"{{large}}","partition-key":"{{bigToo}}"}]}
            """;
        using var response = await api.SendAsync(HttpMethod.Put, $"streams/{Geo}/records", body);
        using var doc = await OkJsonAsync(response);
        Assert.Equal(2, doc.RootElement.GetProperty("FailedRecordCount").GetInt32());
        var results = doc.RootElement.GetProperty("Records").EnumerateArray().ToList();
        foreach (int i in new[] { 0, 2 })
        {
            Assert.Equal(["SequenceNumber", "ShardId"], Names(results[i]));
            Assert.Equal("shardId-000000000000", results[i].GetProperty("ShardId").GetString());
        }
        foreach (int i in new[] { 1, 3 })
        {
            Assert.Equal(["ErrorCode", "ErrorMessage"], Names(results[i]));
            Assert.Equal("InternalFailure", results[i].GetProperty("ErrorCode").GetString());
            Assert.Contains("shardId-000000000001", results[i].GetProperty("ErrorMessage").GetString(), StringComparison.Ordinal);
        }
        Assert.Equal(["""{"i":0}""", """{"i":2}"""], (await api.Log.ReadAsync(Geo, 0, 0, 10)).Select(Value));
        Assert.Equal(new long[] { 2, 0, 0 }, await api.CountsAsync(Geo));
    }

    [Fact]
    public async Task The_routes_answer_under_a_path_base_like_an_api_gateway_stage()
    {
        await using var api = await StartAsync(new IngestOptions { PathBase = "/dev" });
        using var response = await api.SendAsync(HttpMethod.Put, $"streams/{Pin}/record", """{"Data":{"a":1},"PartitionKey":"p"}""");
        using var doc = await OkJsonAsync(response);
        Assert.EndsWith("/dev/", api.Server.BaseAddress.ToString(), StringComparison.Ordinal);
        Assert.Equal(["""{"a":1}"""], (await api.ReadAllAsync(Pin)).Select(Value));
    }
}
