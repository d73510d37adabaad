using System.Numerics;
using System.Text;
using System.Text.Json;
using PinPipe.Log.Kinesis;

namespace PinPipe.Tests.Log.Kinesis;

/// <summary>The shard reader against kinesalite: every record once, in order per key, checkpoints, splits and merges; throttling and expiry through the stub.</summary>
public sealed class KinesisShardReaderTests : IDisposable
{
    private readonly KinesisClient _client = Kinesalite.Client();

    public void Dispose() => _client.Dispose();

    private static KinesisPutEntry Entry(string key, int n) => new(Encoding.UTF8.GetBytes($"{key}/{n}"), key);

    private async Task<List<KinesisPutOutcome>> PutAsync(string stream, IEnumerable<KinesisPutEntry> entries)
    {
        var outcomes = new List<KinesisPutOutcome>();
        foreach (var chunk in entries.Chunk(100)) outcomes.AddRange(await _client.PutRecordsAsync(stream, chunk));
        Assert.All(outcomes, o => Assert.True(o.Succeeded));
        return outcomes;
    }

    /// <summary>Reads until <paramref name="count"/> records came (at most 300 calls); each call's records apart.</summary>
    private static async Task<List<IReadOnlyList<KinesisRecord>>> ReadCallsAsync(KinesisShardReader reader, int count, int maxRecords = 1000)
    {
        var calls = new List<IReadOnlyList<KinesisRecord>>();
        for (int i = 0; i < 300 && calls.Sum(c => c.Count) < count; i++) calls.Add(await reader.ReadAsync(maxRecords));
        return calls;
    }

    private static async Task<List<KinesisRecord>> ReadAsync(KinesisShardReader reader, int count, int maxRecords = 1000) =>
        [.. (await ReadCallsAsync(reader, count, maxRecords)).SelectMany(c => c)];

    private static string Text(KinesisRecord r) => Encoding.UTF8.GetString(r.Data.Span);

    /// <summary>Each key's records came in the order written: key/0, key/1, ...</summary>
    private static void AssertOrderPerKey(IEnumerable<KinesisRecord> records)
    {
        foreach (var group in records.GroupBy(r => r.PartitionKey))
            Assert.Equal(Enumerable.Range(0, group.Count()).Select(n => $"{group.Key}/{n}"), group.Select(Text));
    }

    [Fact]
    public async Task Reads_every_record_of_every_shard_once_in_order_per_key()
    {
        string stream = Kinesalite.NewStream("all");
        await _client.EnsureStreamAsync(stream, 2, TimeSpan.FromSeconds(30));
        var outcomes = await PutAsync(stream, Enumerable.Range(0, 200).Select(i => Entry($"k{i % 10}", i / 10)));
        var reader = new KinesisShardReader(_client, stream, new Dictionary<string, string>(), ShardIteratorType.TrimHorizon);

        var records = await ReadAsync(reader, 200, maxRecords: 50);

        Assert.Equal(200, records.Count);
        Assert.Equal(outcomes.Select(o => o.SequenceNumber).Order(), records.Select(r => r.SequenceNumber).Order());
        AssertOrderPerKey(records);
        Assert.Equal(2, reader.ReadingShards.Count);
        // The positions are each shard's last sequence number.
        foreach (var shard in reader.ReadingShards)
            Assert.Equal(outcomes.Where(o => o.ShardId == shard).Select(o => BigInteger.Parse(o.SequenceNumber!)).Max().ToString(), reader.Positions[shard]);
        Assert.Empty(await reader.ReadAsync(50));
        Assert.Equal(0, reader.MillisBehindLatest);
    }

    [Fact]
    public async Task A_reader_from_a_checkpoint_reads_exactly_the_records_after_it()
    {
        string stream = Kinesalite.NewStream("resume");
        await _client.EnsureStreamAsync(stream, 2, TimeSpan.FromSeconds(30));
        await PutAsync(stream, Enumerable.Range(0, 60).Select(i => Entry($"k{i % 6}", i / 6)));
        var first = new KinesisShardReader(_client, stream, new Dictionary<string, string>(), ShardIteratorType.TrimHorizon);
        var taken = (await ReadCallsAsync(first, 1, maxRecords: 8)).SelectMany(c => c).ToList();
        var checkpoint = first.Positions;
        Assert.InRange(taken.Count, 1, 8);

        // What a restarted job does: its checkpoint through the Delta txns and back.
        var txns = KinesisCheckpoint.Advance(stream, null, checkpoint, new Dictionary<string, KinesisShardCheckpoint>()).ToDictionary(t => t.AppId, t => t.Version);
        var restored = KinesisCheckpoint.Decode(txns, stream, null).ToDictionary(kv => kv.Key, kv => kv.Value.SequenceNumber);
        Assert.Equal(checkpoint.OrderBy(kv => kv.Key), restored.OrderBy(kv => kv.Key));
        await PutAsync(stream, Enumerable.Range(60, 30).Select(i => Entry($"k{i % 6}", i / 6)));
        var second = new KinesisShardReader(_client, stream, restored, ShardIteratorType.TrimHorizon);
        var rest = await ReadAsync(second, 90 - taken.Count);

        Assert.Equal(90 - taken.Count, rest.Count);
        var all = taken.Concat(rest).ToList();
        Assert.Equal(90, all.Select(r => r.SequenceNumber).Distinct().Count());
        AssertOrderPerKey(all);
        Assert.Empty(await second.ReadAsync(100));
    }

    [Fact]
    public async Task A_split_shards_children_are_read_only_after_the_parent_is_drained()
    {
        string stream = Kinesalite.NewStream("split");
        await _client.EnsureStreamAsync(stream, 1, TimeSpan.FromSeconds(30));
        var before = await PutAsync(stream, Enumerable.Range(0, 40).Select(i => Entry($"k{i % 8}", i / 8)));
        string parent = before[0].ShardId!;
        await _client.SplitShardAsync(stream, parent, (BigInteger.Pow(2, 127)).ToString());
        await _client.WaitForActiveAsync(stream, TimeSpan.FromSeconds(30));
        var after = await PutAsync(stream, Enumerable.Range(40, 40).Select(i => Entry($"k{i % 8}", i / 8)));
        var children = after.Select(o => o.ShardId!).Distinct().ToList();
        Assert.DoesNotContain(parent, children);

        var reader = new KinesisShardReader(_client, stream, new Dictionary<string, string>(), ShardIteratorType.TrimHorizon);
        var calls = await ReadCallsAsync(reader, 80, maxRecords: 15);
        var records = calls.SelectMany(c => c).ToList();

        Assert.Equal(80, records.Count);
        AssertOrderPerKey(records);
        // No child record in the call that took the parent's last records, nor before.
        int lastParentCall = calls.FindLastIndex(c => c.Any(r => r.ShardId == parent));
        int firstChildCall = calls.FindIndex(c => c.Any(r => r.ShardId != parent));
        Assert.True(firstChildCall > lastParentCall, $"a child was read in call {firstChildCall}, the parent's last records in call {lastParentCall}");
        Assert.Equal([parent], reader.DrainedShards);
        Assert.Equal(children.Order(StringComparer.Ordinal), reader.ReadingShards.Where(s => children.Contains(s)).Order(StringComparer.Ordinal));
        var shards = await _client.ListShardsAsync(stream);
        Assert.All(shards.Where(s => children.Contains(s.ShardId)), s => Assert.Equal(parent, s.ParentShardId));
    }

    [Fact]
    public async Task A_merged_shard_is_read_after_both_parents_and_a_restart_goes_on_in_the_child()
    {
        string stream = Kinesalite.NewStream("merge");
        await _client.EnsureStreamAsync(stream, 2, TimeSpan.FromSeconds(30));
        var before = await PutAsync(stream, Enumerable.Range(0, 40).Select(i => Entry($"k{i % 8}", i / 8)));
        var parents = (await _client.ListShardsAsync(stream)).Select(s => s.ShardId).Order(StringComparer.Ordinal).ToList();
        await _client.MergeShardsAsync(stream, parents[0], parents[1]);
        await _client.WaitForActiveAsync(stream, TimeSpan.FromSeconds(30));
        await PutAsync(stream, Enumerable.Range(40, 24).Select(i => Entry($"k{i % 8}", i / 8)));

        var reader = new KinesisShardReader(_client, stream, new Dictionary<string, string>(), ShardIteratorType.TrimHorizon);
        var calls = await ReadCallsAsync(reader, 64, maxRecords: 20);
        var records = calls.SelectMany(c => c).ToList();
        Assert.Equal(64, records.Count);
        AssertOrderPerKey(records);
        int lastParentCall = calls.FindLastIndex(c => c.Any(r => parents.Contains(r.ShardId)));
        int firstChildCall = calls.FindIndex(c => c.Any(r => !parents.Contains(r.ShardId)));
        Assert.True(firstChildCall > lastParentCall);
        Assert.Equal(parents, reader.DrainedShards);

        // A new reader from these positions drains the parents again (nothing new in them) and reads only the child's rest.
        await PutAsync(stream, Enumerable.Range(64, 16).Select(i => Entry($"k{i % 8}", i / 8)));
        var restarted = new KinesisShardReader(_client, stream, reader.Positions, ShardIteratorType.TrimHorizon);
        var rest = await ReadAsync(restarted, 16);
        Assert.Equal(16, rest.Count);
        Assert.Equal(Enumerable.Range(64, 16).Select(i => $"k{i % 8}/{i / 8}").Order(), rest.Select(Text).Order());
        Assert.Equal(parents, restarted.DrainedShards);
        Assert.DoesNotContain(before, o => rest.Any(r => r.SequenceNumber == o.SequenceNumber));
    }

    [Fact]
    public async Task From_latest_a_first_start_reads_only_what_is_written_after_it()
    {
        string stream = Kinesalite.NewStream("latest");
        await _client.EnsureStreamAsync(stream, 2, TimeSpan.FromSeconds(30));
        await PutAsync(stream, Enumerable.Range(0, 20).Select(i => Entry($"old{i % 4}", i / 4)));
        var reader = new KinesisShardReader(_client, stream, new Dictionary<string, string>(), ShardIteratorType.Latest);
        Assert.Empty(await reader.ReadAsync(100)); // takes the LATEST iterators

        await PutAsync(stream, Enumerable.Range(0, 12).Select(i => Entry($"new{i % 4}", i / 4)));
        var records = await ReadAsync(reader, 12);

        Assert.Equal(12, records.Count);
        Assert.All(records, r => Assert.StartsWith("new", r.PartitionKey, StringComparison.Ordinal));
    }

    [Fact]
    public async Task Throttled_reads_back_off_and_then_read_everything()
    {
        string stream = Kinesalite.NewStream("throttle");
        await _client.EnsureStreamAsync(stream, 1, TimeSpan.FromSeconds(30));
        await PutAsync(stream, Enumerable.Range(0, 30).Select(i => Entry("k", i)));
        int throttled = 0;
        // A stand-in: kinesalite never throttles. The first three GetRecords are refused as Kinesis refuses a sixth read in a second.
        await using var stub = await KinesisStub.StartAsync(new Uri(Kinesalite.Url), (op, _) =>
            op == "GetRecords" && Interlocked.Increment(ref throttled) <= 3
                ? StubAnswer.Error(400, "ProvisionedThroughputExceededException", "Rate exceeded for shard shardId-000000000000.")
                : null);
        using var client = Kinesalite.Client(stub.Url, pollInterval: TimeSpan.FromMilliseconds(10));
        var reader = new KinesisShardReader(client, stream, new Dictionary<string, string>(), ShardIteratorType.TrimHorizon);

        var records = await ReadAsync(reader, 30);

        Assert.Equal(30, records.Count);
        AssertOrderPerKey(records);
        // Three refused, then the reads that took the records.
        Assert.True(stub.Operations.Count(o => o == "GetRecords") >= 4);
        // Backed off, not re-listed or re-iterated: one ListShards and one GetShardIterator.
        Assert.Equal(1, stub.Operations.Count(o => o == "GetShardIterator"));
    }

    [Fact]
    public async Task An_expired_iterator_is_replaced_after_the_last_record_read()
    {
        string stream = Kinesalite.NewStream("expired");
        await _client.EnsureStreamAsync(stream, 1, TimeSpan.FromSeconds(30));
        await PutAsync(stream, Enumerable.Range(0, 10).Select(i => Entry("k", i)));
        bool expire = false;
        await using var stub = await KinesisStub.StartAsync(new Uri(Kinesalite.Url), (op, _) =>
            op == "GetRecords" && expire && !(expire = false)
                ? StubAnswer.Error(400, "ExpiredIteratorException", "Iterator expired.")
                : null);
        using var client = Kinesalite.Client(stub.Url);
        var reader = new KinesisShardReader(client, stream, new Dictionary<string, string>(), ShardIteratorType.TrimHorizon);
        var first = await ReadAsync(reader, 10);
        string last = reader.Positions.Single().Value;
        await PutAsync(stream, Enumerable.Range(10, 5).Select(i => Entry("k", i)));

        expire = true;
        var rest = await ReadAsync(reader, 5);

        Assert.Equal(10, first.Count);
        Assert.Equal(Enumerable.Range(10, 5).Select(i => $"k/{i}"), rest.Select(Text));
        Assert.Equal(2, stub.Operations.Count(o => o == "GetShardIterator"));
        using var renewed = JsonDocument.Parse(stub.Requests.Last(r => r.Operation == "GetShardIterator").Body);
        Assert.Equal("AFTER_SEQUENCE_NUMBER", renewed.RootElement.GetProperty("ShardIteratorType").GetString());
        Assert.Equal(last, renewed.RootElement.GetProperty("StartingSequenceNumber").GetString());
    }

    [Fact]
    public async Task A_deleted_stream_is_thrown_and_nothing_of_that_call_is_taken()
    {
        string stream = Kinesalite.NewStream("deleted");
        await _client.EnsureStreamAsync(stream, 1, TimeSpan.FromSeconds(30));
        await PutAsync(stream, [Entry("k", 0)]);
        var reader = new KinesisShardReader(_client, stream, new Dictionary<string, string>(), ShardIteratorType.TrimHorizon);
        Assert.Single(await ReadAsync(reader, 1));
        var positions = reader.Positions;

        await _client.DeleteStreamAsync(stream);
        var e = await Assert.ThrowsAsync<KinesisException>(async () => { for (int i = 0; i < 50; i++) await reader.ReadAsync(10); });

        Assert.True(e.IsNotFound);
        Assert.Equal(positions, reader.Positions);
    }

    [Fact]
    public async Task A_checkpoint_of_another_shard_is_refused_naming_it()
    {
        string stream = Kinesalite.NewStream("badcp");
        await _client.EnsureStreamAsync(stream, 2, TimeSpan.FromSeconds(30));
        var outcomes = await PutAsync(stream, Enumerable.Range(0, 20).Select(i => Entry($"k{i}", 0)));
        var shards = outcomes.Select(o => o.ShardId!).Distinct().Order(StringComparer.Ordinal).ToList();
        Assert.Equal(2, shards.Count);
        string foreign = outcomes.First(o => o.ShardId == shards[1]).SequenceNumber!;
        var reader = new KinesisShardReader(_client, stream, new Dictionary<string, string> { [shards[0]] = foreign }, ShardIteratorType.TrimHorizon);

        var e = await Assert.ThrowsAsync<KinesisException>(() => reader.ReadAsync(10));

        Assert.Contains($"the checkpoint {foreign} of {shards[0]}", e.Message, StringComparison.Ordinal);
        Assert.False(e.IsRetriable);
    }

    [Fact]
    public void A_checkpoint_that_is_not_a_sequence_number_is_refused_at_once()
    {
        var e = Assert.Throws<ArgumentException>(() =>
            new KinesisShardReader(_client, "s", new Dictionary<string, string> { ["shardId-000000000000"] = "12x" }, ShardIteratorType.TrimHorizon));
        Assert.Contains("shardId-000000000000", e.Message, StringComparison.Ordinal);
        Assert.Throws<ArgumentException>(() => new KinesisShardReader(_client, "s", new Dictionary<string, string>(), ShardIteratorType.AfterSequenceNumber));
    }
}
