using System.Net;
using System.Numerics;
using System.Text;
using System.Text.Json;
using PinPipe.Ingest;

namespace PinPipe.Tests.Ingest;

/// <summary>
/// Sequence numbers as Kinesis's: 56 digits, increasing with the offset within a shard, and decodable to the stream,
/// the shard's partition and the offset of the record (the log holds it there).
/// </summary>
public sealed class KinesisShardsTests
{
    private const string Pin = "streaming-t-pin";
    private const string Geo = "streaming-t-geo";

    private static async Task<JsonElement> OkAsync(HttpResponseMessage response)
    {
        var body = await response.Content.ReadAsStringAsync();
        Assert.True(response.StatusCode == HttpStatusCode.OK, $"expected 200, got {response.StatusCode}: {body}");
        using var doc = JsonDocument.Parse(body);
        return doc.RootElement.Clone();
    }

    /// <summary>Asserts the shape of <paramref name="sequence"/> and that it decodes to <paramref name="stream"/>'s partition of <paramref name="shardId"/>; gives the offset.</summary>
    private static long Decode(string sequence, string stream, string shardId)
    {
        Assert.Matches("^[0-9]{56}$", sequence);
        Assert.StartsWith("49", sequence, StringComparison.Ordinal);
        Assert.True(KinesisShards.TryParseSequenceNumber(sequence, stream, out int partition, out long offset), sequence);
        Assert.Equal(shardId, KinesisShards.ShardId(partition));
        Assert.False(KinesisShards.TryParseSequenceNumber(sequence, stream == Pin ? Geo : Pin, out _, out _), "another stream's name does not decode it");
        return offset;
    }

    [Fact]
    public async Task PutRecord_and_PutRecords_answer_56_digit_sequence_numbers_that_increase_and_decode_to_where_the_record_is()
    {
        await using var api = await IngestApiHarness.StartAsync(null, ("t.pin", 1), (Pin, 1), (Geo, 3));
        var seen = new List<(string Stream, string Shard, string Sequence, string Data)>();
        for (int i = 0; i < 3; i++)
        {
            using var one = await api.SendAsync(HttpMethod.Put, $"streams/{Pin}/record", $$"""{"Data":{"one":{{i}}},"PartitionKey":"k{{i}}"}""");
            var answer = await OkAsync(one);
            seen.Add((Pin, answer.GetProperty("ShardId").GetString()!, answer.GetProperty("SequenceNumber").GetString()!, $$"""{"one":{{i}}}"""));
        }
        string records = "{\"records\":[" + string.Join(",", Enumerable.Range(0, 40).Select(i => $$"""{"data":{"many":{{i}}},"partition-key":"key-{{i}}"}""")) + "]}";
        using var many = await api.SendAsync(HttpMethod.Put, $"streams/{Geo}/records", records);
        var results = (await OkAsync(many)).GetProperty("Records").EnumerateArray().ToList();
        for (int i = 0; i < results.Count; i++)
            seen.Add((Geo, results[i].GetProperty("ShardId").GetString()!, results[i].GetProperty("SequenceNumber").GetString()!, $$"""{"many":{{i}}}"""));

        Assert.Equal(seen.Count, seen.Select(s => s.Sequence).Distinct().Count());
        foreach (var shard in seen.GroupBy(s => (s.Stream, s.Shard)))
        {
            var offsets = shard.Select(s => Decode(s.Sequence, s.Stream, s.Shard)).ToList();
            // In request order within a shard: the offsets grow, and so do the sequence numbers read as numbers.
            Assert.Equal(offsets.Order(), offsets);
            var numbers = shard.Select(s => BigInteger.Parse(s.Sequence, System.Globalization.CultureInfo.InvariantCulture)).ToList();
            Assert.Equal(numbers.Order(), numbers);
            Assert.Equal(numbers.Count, numbers.Distinct().Count());
        }
        Assert.True(seen.Where(s => s.Stream == Geo).Select(s => s.Shard).Distinct().Count() > 1, "the 40 keys spread over the shards");

        // What a sequence number names is the record: read the log at its stream, partition and offset.
        foreach (var (stream, _, sequence, data) in seen)
        {
            Assert.True(KinesisShards.TryParseSequenceNumber(sequence, stream, out int partition, out long offset));
            var record = Assert.Single(await api.Log.ReadAsync(stream, partition, offset, 1));
            Assert.Equal(offset, record.Offset);
            Assert.Equal(data, Encoding.UTF8.GetString(record.Value!));
        }
    }

    [Fact]
    public async Task DescribeStream_gives_each_shards_starting_sequence_number_in_the_same_shape()
    {
        await using var api = await IngestApiHarness.StartAsync(null, ("t.pin", 1), (Geo, 3));
        using var response = await api.Client.GetAsync($"streams/{Geo}");
        var shards = (await OkAsync(response)).GetProperty("StreamDescription").GetProperty("Shards").EnumerateArray().ToList();
        Assert.Equal(3, shards.Count);
        foreach (var shard in shards)
        {
            var start = shard.GetProperty("SequenceNumberRange").GetProperty("StartingSequenceNumber").GetString()!;
            Assert.Equal(0, Decode(start, Geo, shard.GetProperty("ShardId").GetString()!));
        }
    }

    [Fact]
    public void The_encoding_spans_every_partition_and_offset_and_refuses_other_shapes()
    {
        Assert.True(KinesisShards.TryParseSequenceNumber(KinesisShards.SequenceNumber(Pin, 9999, long.MaxValue), Pin, out int p, out long o));
        Assert.Equal((9999, long.MaxValue), (p, o));
        Assert.Equal(56, KinesisShards.SequenceNumber(Pin, 0, 0).Length);
        Assert.True(BigInteger.Parse(KinesisShards.SequenceNumber(Pin, 2, 9)) < BigInteger.Parse(KinesisShards.SequenceNumber(Pin, 2, 10)));
        // Kinesis's own, the 27 digits of earlier versions ("49" + offset + partition), and text that is not a number.
        foreach (var other in new[] { "49590338271490256608559692538361571095921575989136588898", "490000000000000000004200003", "12", "", "49" + new string('x', 54) })
            Assert.False(KinesisShards.TryParseSequenceNumber(other, Pin, out _, out _), other);
    }
}
