using PinPipe.Log.Kinesis;

namespace PinPipe.Tests.Log.Kinesis;

public sealed class KinesisCheckpointTests
{
    private const string Stream = "streaming-u-pin";
    private const string Shard = "shardId-000000000001";
    private const string Typical = "49590338271490256608559692538361571095921575989136588898";

    private static Dictionary<string, long> Txns(IEnumerable<(string AppId, long Version)> txns, Dictionary<string, long>? into = null)
    {
        into ??= new Dictionary<string, long>(StringComparer.Ordinal);
        foreach (var (appId, version) in txns) into[appId] = version;
        return into;
    }

    [Theory]
    [InlineData(Typical)]
    [InlineData("0")]
    [InlineData("7")]
    [InlineData("100000000")]
    [InlineData("1000000000")]
    public void A_sequence_number_round_trips(string sequence)
    {
        var txns = KinesisCheckpoint.Encode(Stream, null, Shard, sequence, 3);
        var decoded = KinesisCheckpoint.Decode(Txns(txns), Stream, null);

        Assert.Equal(new KinesisShardCheckpoint(sequence, 3), decoded[Shard]);
        Assert.Single(decoded);
    }

    [Fact]
    public void The_longest_sequence_number_round_trips_in_15_txns()
    {
        string longest = "9" + new string('8', 128);
        var txns = KinesisCheckpoint.Encode(Stream, "key", Shard, longest, KinesisCheckpoint.MaxGeneration);

        Assert.Equal(15, txns.Count);
        Assert.Equal(longest, KinesisCheckpoint.Decode(Txns(txns), Stream, "key")[Shard].SequenceNumber);
    }

    [Fact]
    public void A_typical_number_takes_seven_txns_named_by_stream_shard_and_chunk()
    {
        var txns = KinesisCheckpoint.Encode(Stream, "1700000000", Shard, Typical, 1);

        Assert.Equal(7, txns.Count);
        Assert.Equal($"pinpipe-kinesis:{Stream}@1700000000:{Shard}#0", txns[0].AppId);
        Assert.Equal($"pinpipe-kinesis:{Stream}@1700000000:{Shard}#6", txns[6].AppId);
        // 56 digits padded to 63: the first chunk is 0000000 + "49".
        Assert.Equal(1_000_000_000L + 49, txns[0].Version);
    }

    [Fact]
    public void Every_version_goes_up_from_one_commit_to_the_next_even_where_a_chunk_goes_down()
    {
        // 1999999999 -> 2000000000: the low chunk falls from 999999999 to 0.
        var committed = KinesisCheckpoint.Decode(Txns(KinesisCheckpoint.Encode(Stream, null, Shard, "1999999999", 1)), Stream, null);
        var before = Txns(KinesisCheckpoint.Encode(Stream, null, Shard, "1999999999", 1));
        var next = KinesisCheckpoint.Advance(Stream, null, new Dictionary<string, string> { [Shard] = "2000000000" }, committed);

        Assert.NotEmpty(next);
        foreach (var (appId, version) in next)
            Assert.True(!before.TryGetValue(appId, out long old) || version > old, $"{appId}: {version} must pass {old}");
        Assert.Equal(new KinesisShardCheckpoint("2000000000", 2), KinesisCheckpoint.Decode(Txns(next, before), Stream, null)[Shard]);
    }

    [Fact]
    public void Advance_writes_only_the_shards_that_moved_and_starts_new_ones_at_generation_1()
    {
        var committed = new Dictionary<string, KinesisShardCheckpoint>
        {
            ["shardId-000000000000"] = new("5", 4),
            ["shardId-000000000001"] = new("9", 2),
        };
        var positions = new Dictionary<string, string>
        {
            ["shardId-000000000000"] = "5",   // did not move
            ["shardId-000000000001"] = "12",
            ["shardId-000000000002"] = "3",   // new (a child)
        };

        var txns = KinesisCheckpoint.Advance(Stream, null, positions, committed);
        var decoded = KinesisCheckpoint.Decode(Txns(txns), Stream, null);

        Assert.Equal(2, decoded.Count);
        Assert.Equal(new KinesisShardCheckpoint("12", 3), decoded["shardId-000000000001"]);
        Assert.Equal(new KinesisShardCheckpoint("3", 1), decoded["shardId-000000000002"]);
    }

    [Fact]
    public void After_is_what_the_table_decodes_once_the_txns_of_Advance_are_committed()
    {
        var committed = new Dictionary<string, KinesisShardCheckpoint>
        {
            ["shardId-000000000000"] = new("5", 4),
            ["shardId-000000000001"] = new("9", 2),
            ["shardId-000000000003"] = new("77", 1), // a shard this read did not touch
        };
        var table = new Dictionary<string, long>(StringComparer.Ordinal);
        foreach (var (shard, checkpoint) in committed) Txns(KinesisCheckpoint.Encode(Stream, "k", shard, checkpoint.SequenceNumber, checkpoint.Generation), table);
        var positions = new Dictionary<string, string> { ["shardId-000000000000"] = "5", ["shardId-000000000001"] = "1000000012", ["shardId-000000000002"] = "3" };

        var after = KinesisCheckpoint.After(positions, committed);
        Txns(KinesisCheckpoint.Advance(Stream, "k", positions, committed), table);

        Assert.Equal(after.OrderBy(a => a.Key), KinesisCheckpoint.Decode(table, Stream, "k").OrderBy(a => a.Key));
        Assert.Equal(new KinesisShardCheckpoint("5", 4), after["shardId-000000000000"]);
        Assert.Equal(new KinesisShardCheckpoint("1000000012", 3), after["shardId-000000000001"]);
        Assert.Equal(new KinesisShardCheckpoint("3", 1), after["shardId-000000000002"]);
        Assert.Equal(new KinesisShardCheckpoint("77", 1), after["shardId-000000000003"]);
    }

    [Theory]
    [InlineData("9", "10", -1)]
    [InlineData("10", "9", 1)]
    [InlineData("42", "42", 0)]
    [InlineData("49590338271490256608559692538361571095921575989136588898", "49590338271490256608559692538361571095921575989136588899", -1)]
    [InlineData("49590338271490256608559692538361571095921575989136588898", "5959033827149025660855969253836157109592157598913658889", 1)]
    public void Sequence_numbers_compare_as_numbers_not_as_text(string a, string b, int expected)
    {
        Assert.Equal(expected, Math.Sign(KinesisCheckpoint.Compare(a, b)));
        Assert.Equal(-expected, Math.Sign(KinesisCheckpoint.Compare(b, a)));
    }

    [Fact]
    public void The_newest_generation_wins_and_an_older_longer_numbers_chunks_are_ignored()
    {
        var table = Txns(KinesisCheckpoint.Encode(Stream, null, Shard, "1234567890123", 1)); // two chunks
        Txns(KinesisCheckpoint.Encode(Stream, null, Shard, "42", 2), table);                 // one chunk; #1 of generation 1 stays

        Assert.Equal(new KinesisShardCheckpoint("42", 2), KinesisCheckpoint.Decode(table, Stream, null)[Shard]);
    }

    [Fact]
    public void Other_streams_other_keys_and_other_txns_are_not_read()
    {
        var table = Txns(KinesisCheckpoint.Encode(Stream, "a", Shard, "11", 1));
        Txns(KinesisCheckpoint.Encode(Stream + "x", null, Shard, "22", 1), table);
        Txns(KinesisCheckpoint.Encode(Stream, null, Shard, "33", 1), table);
        table["pinpipe-stream:streaming-u-pin:0"] = 17;

        Assert.Equal("11", KinesisCheckpoint.Decode(table, Stream, "a")[Shard].SequenceNumber);
        Assert.Equal("33", KinesisCheckpoint.Decode(table, Stream, null)[Shard].SequenceNumber);
        Assert.Empty(KinesisCheckpoint.Decode(table, Stream, "b"));
    }

    [Fact]
    public void A_start_mark_round_trips_apart_from_the_checkpoint()
    {
        var table = Txns(KinesisCheckpoint.Encode(Stream, "k", Shard, Typical, 3));
        var start = KinesisCheckpoint.EncodeStart(Stream, "k", Shard, "12345678901234567890123");
        Txns(start, table);

        Assert.All(start, t => Assert.StartsWith($"pinpipe-kinesis-start:{Stream}@k:{Shard}#", t.AppId, StringComparison.Ordinal));
        Assert.All(start, t => Assert.Equal(1, t.Version / 1_000_000_000)); // generation 1: written once
        Assert.Equal("12345678901234567890123", KinesisCheckpoint.DecodeStarts(table, Stream, "k")[Shard]);
        Assert.Empty(KinesisCheckpoint.DecodeStarts(table, Stream, "other"));
        Assert.Equal(new KinesisShardCheckpoint(Typical, 3), Assert.Single(KinesisCheckpoint.Decode(table, Stream, "k")).Value); // the mark is not a checkpoint
    }

    [Fact]
    public void A_missing_chunk_of_the_newest_generation_is_an_error_naming_it()
    {
        var table = Txns(KinesisCheckpoint.Encode(Stream, null, Shard, Typical, 1));
        table.Remove(KinesisCheckpoint.AppId(Stream, null, Shard, 3));

        var e = Assert.Throws<FormatException>(() => KinesisCheckpoint.Decode(table, Stream, null));
        Assert.Contains($"pinpipe-kinesis:{Stream}:{Shard}#3", e.Message, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("")]
    [InlineData("012")]
    [InlineData("12a")]
    [InlineData("-1")]
    public void What_is_not_a_sequence_number_is_refused(string text)
    {
        Assert.False(KinesisCheckpoint.IsSequenceNumber(text));
        Assert.Throws<ArgumentException>(() => KinesisCheckpoint.Encode(Stream, null, Shard, text, 1));
    }

    [Fact]
    public void A_generation_out_of_range_is_refused()
    {
        Assert.Throws<ArgumentOutOfRangeException>(() => KinesisCheckpoint.Encode(Stream, null, Shard, "1", 0));
        Assert.Throws<ArgumentOutOfRangeException>(() => KinesisCheckpoint.Encode(Stream, null, Shard, "1", KinesisCheckpoint.MaxGeneration + 1));
        Assert.False(KinesisCheckpoint.IsSequenceNumber(new string('1', 130)));
    }
}
