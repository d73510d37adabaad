using System.Text;
using System.Text.Json;
using PinPipe.Lake;
using PinPipe.Lake.Delta;
using PinPipe.Lake.Directory;
using PinPipe.Tests.Support;
using static PinPipe.Tests.Lake.Delta.DeltaTestKit;

namespace PinPipe.Tests.Lake.Delta;

/// <summary>Checkpoints we write: when, what they hold, that our reader (and its fallbacks) read them like the log.</summary>
public sealed class DeltaCheckpointTests : IDisposable
{
    private const string CheckpointKey = "t/_delta_log/00000000000000000010.checkpoint.parquet";

    private readonly TempDirectory _temp = new("delta-cp");
    private readonly DirectoryObjectStore _store;

    public DeltaCheckpointTests() => _store = new DirectoryObjectStore(_temp.Path, "lake");

    public void Dispose() => _temp.Dispose();

    /// <summary>Twelve commits (v0..v11): appends with txns, an overwrite at v5; returns each commit's result.</summary>
    private async Task<List<DeltaCommitResult>> TwelveCommitsAsync()
    {
        var table = new DeltaTable(_store, "t");
        var results = new List<DeltaCommitResult>();
        for (int i = 0; i < 12; i++)
        {
            var write = new DeltaWrite(DeltaTableWriteTests.EventSchema, [DeltaTableWriteTests.EventFile(_temp.Path, $"c{i}")])
            {
                Mode = i == 5 ? DeltaWriteMode.Overwrite : DeltaWriteMode.Append,
                Txn = new DeltaTxn(i % 2 == 0 ? "even" : "odd", i),
            };
            results.Add(await table.CommitAsync(write));
        }
        return results;
    }

    /// <summary>The table replayed from its commits only: the log copied to another prefix without checkpoints.</summary>
    private async Task<DeltaSnapshot> ReplayWithoutCheckpointAsync()
    {
        await foreach (var info in _store.ListAsync("t/"))
        {
            if (info.Key.Contains(".checkpoint.", StringComparison.Ordinal) || info.Key.EndsWith("_last_checkpoint", StringComparison.Ordinal)) continue;
            await _store.PutAsync("replay/" + info.Key[2..], (await _store.GetAsync(info.Key))!);
        }
        return (await new DeltaTable(_store, "replay").LoadAsync())!;
    }

    private static void AssertSameState(DeltaSnapshot expected, DeltaSnapshot actual)
    {
        Assert.Equal(expected.Version, actual.Version);
        Assert.Equal(expected.Protocol, actual.Protocol);
        Assert.Equal(expected.Metadata, actual.Metadata);
        Assert.Equal(expected.Txns.OrderBy(kv => kv.Key, StringComparer.Ordinal), actual.Txns.OrderBy(kv => kv.Key, StringComparer.Ordinal));
        Assert.Equal(expected.Files.Select(f => (f.Path, f.Size, f.ModificationTime, f.Stats)), actual.Files.Select(f => (f.Path, f.Size, f.ModificationTime, f.Stats)));
    }

    [Fact]
    public async Task A_large_checkpoint_spaces_the_next_ones_and_readers_replay_the_commits_since_it()
    {
        // The checkpoint of v10 holds 13 actions (protocol, metadata, 11 files): at one action per version the next is due 13 versions later, at v30.
        var table = new DeltaTable(_store, "t") { CheckpointActionsPerVersion = 1 };
        var results = new List<DeltaCommitResult>();
        for (int i = 0; i <= 31; i++)
            results.Add(await table.CommitAsync(new DeltaWrite(DeltaTableWriteTests.EventSchema, [DeltaTableWriteTests.EventFile(_temp.Path, $"pace{i}")])));

        Assert.Equal([10L, 30L], results.Where(r => r.Checkpointed).Select(r => r.Version));
        Assert.False(await _store.ExistsAsync("t/_delta_log/00000000000000000020.checkpoint.parquet"));
        using var pointer = JsonDocument.Parse((await _store.GetAsync("t/_delta_log/_last_checkpoint"))!);
        Assert.Equal(30, pointer.RootElement.GetProperty("version").GetInt64());
        var fresh = (await new DeltaTable(_store, "t").LoadAsync())!;
        Assert.Equal(31, fresh.Version);
        AssertSameState(await ReplayWithoutCheckpointAsync(), fresh);

        // At the default, 250 actions per version, every due checkpoint of so small a table is written.
        var fast = new DeltaTable(_store, "t");
        var due = new List<DeltaCommitResult>();
        for (int i = 32; i <= 50; i++)
            due.Add(await fast.CommitAsync(new DeltaWrite(DeltaTableWriteTests.EventSchema, [DeltaTableWriteTests.EventFile(_temp.Path, $"pace{i}")])));
        Assert.Equal([40L, 50L], due.Where(r => r.Checkpointed).Select(r => r.Version));
    }

    [Fact]
    public async Task A_cached_state_far_behind_a_checkpoint_loads_from_it_instead_of_replaying_every_commit()
    {
        var writer = new DeltaTable(_store, "t");
        await writer.CommitAsync(new DeltaWrite(DeltaTableWriteTests.EventSchema, [DeltaTableWriteTests.EventFile(_temp.Path, "far0")]));
        var reader = new DeltaTable(_store, "t") { MaxReplay = 3 };
        Assert.Equal(0, (await reader.LoadAsync())!.Version);
        for (int i = 1; i <= 11; i++)
            await writer.CommitAsync(new DeltaWrite(DeltaTableWriteTests.EventSchema, [DeltaTableWriteTests.EventFile(_temp.Path, $"far{i}")]));

        // Commits 5..9 are gone (as after the log cleanup): replaying one by one would stop at v4; the reader loads from v10's checkpoint.
        for (int v = 5; v <= 9; v++) await _store.DeleteAsync($"t/_delta_log/{v:D20}.json");
        var latest = (await reader.LatestAsync())!;
        Assert.Equal(11, latest.Version);
        Assert.Equal(12, latest.Files.Count);
    }

    [Fact]
    public async Task After_twelve_commits_the_checkpoint_at_ten_reads_the_same_as_replaying_the_log()
    {
        var results = await TwelveCommitsAsync();
        Assert.Equal(Enumerable.Range(0, 12).Select(i => (long)i), results.Select(r => r.Version));
        Assert.Equal([10L], results.Where(r => r.Checkpointed).Select(r => r.Version));
        Assert.True(await _store.ExistsAsync(CheckpointKey));

        // _last_checkpoint points to it, with its size.
        using var pointer = JsonDocument.Parse((await _store.GetAsync("t/_delta_log/_last_checkpoint"))!);
        var p = pointer.RootElement;
        Assert.Equal(10, p.GetProperty("version").GetInt64());
        Assert.Equal(new FileInfo(_store.LocalPath(CheckpointKey)!).Length, p.GetProperty("sizeInBytes").GetInt64());
        using var c = OpenDuckDb();
        string cp = _store.LocalPath(CheckpointKey)!;
        Assert.Equal(p.GetProperty("size").GetInt64(), Query(c, $"SELECT count(*) FROM read_parquet('{cp}')").Single()[0]);
        // Live at v10: files of v5..v10; tombstones: the five files of v0..v4 removed at v5; txns: even and odd.
        Assert.Equal(6, p.GetProperty("numOfAddFiles").GetInt64());
        Assert.Equal(6L, Query(c, $"SELECT count(*) FROM read_parquet('{cp}') WHERE \"add\" IS NOT NULL AND NOT \"add\".dataChange").Single()[0]);
        Assert.Equal(5L, Query(c, $"SELECT count(*) FROM read_parquet('{cp}') WHERE remove IS NOT NULL AND NOT remove.dataChange").Single()[0]);
        Assert.Equal(2L, Query(c, $"SELECT count(*) FROM read_parquet('{cp}') WHERE txn IS NOT NULL").Single()[0]);
        Assert.Equal(1L, Query(c, $"SELECT count(*) FROM read_parquet('{cp}') WHERE metaData IS NOT NULL").Single()[0]);
        Assert.Equal(1L, Query(c, $"SELECT count(*) FROM read_parquet('{cp}') WHERE protocol IS NOT NULL").Single()[0]);

        // The column layout Spark reads (interop §1.6): removes carry no stats.
        var columns = Query(c, $"DESCRIBE SELECT * FROM read_parquet('{cp}')").ToDictionary(r => (string)r[0]!, r => (string)r[1]!);
        Assert.Equal(["txn", "add", "remove", "metaData", "protocol"], columns.Keys);
        Assert.Equal("STRUCT(appId VARCHAR, \"version\" BIGINT, lastUpdated BIGINT)", columns["txn"]);
        Assert.Equal("STRUCT(path VARCHAR, partitionValues MAP(VARCHAR, VARCHAR), size BIGINT, modificationTime BIGINT, dataChange BOOLEAN, stats VARCHAR, tags MAP(VARCHAR, VARCHAR))", columns["add"]);
        Assert.Equal("STRUCT(path VARCHAR, deletionTimestamp BIGINT, dataChange BOOLEAN, extendedFileMetadata BOOLEAN, partitionValues MAP(VARCHAR, VARCHAR), size BIGINT)", columns["remove"]);
        Assert.Equal("STRUCT(id VARCHAR, \"name\" VARCHAR, description VARCHAR, format STRUCT(provider VARCHAR, \"options\" MAP(VARCHAR, VARCHAR)), schemaString VARCHAR, partitionColumns VARCHAR[], \"configuration\" MAP(VARCHAR, VARCHAR), createdTime BIGINT)", columns["metaData"]);
        Assert.Equal("STRUCT(minReaderVersion INTEGER, minWriterVersion INTEGER, readerFeatures VARCHAR[], writerFeatures VARCHAR[])", columns["protocol"]);

        // A fresh reader starts from the checkpoint and agrees with a replay of the log.
        var fromCheckpoint = (await new DeltaTable(_store, "t").LoadAsync())!;
        var replayed = await ReplayWithoutCheckpointAsync();
        Assert.Equal(11, fromCheckpoint.Version);
        AssertSameState(replayed, fromCheckpoint);
        Assert.Equal(10, fromCheckpoint.Txns["even"]);
        Assert.Equal(11, fromCheckpoint.Txns["odd"]);
        Assert.Equal(7 * 3, (await ReadAllAsync(fromCheckpoint)).Count);
        Assert.Equal((await ReadAllAsync(replayed)).Select(r => (string)r[0]!).Order(StringComparer.Ordinal),
            (await ReadAllAsync(fromCheckpoint)).Select(r => (string)r[0]!).Order(StringComparer.Ordinal));

        // Time travel to a version before the checkpoint replays from the start.
        var v4 = (await new DeltaTable(_store, "t").LoadAsync(4))!;
        Assert.Equal(5, v4.Files.Count);
    }

    [Fact]
    public async Task With_a_checkpoint_loading_and_committing_do_not_need_the_commits_before_it()
    {
        await TwelveCommitsAsync();
        for (int v = 0; v < 10; v++) await _store.DeleteAsync($"t/_delta_log/{v:D20}.json");

        var table = new DeltaTable(_store, "t");
        var s = (await table.LoadAsync())!;
        Assert.Equal(11, s.Version);
        Assert.Equal(7, s.Files.Count);
        var r = await table.CommitAsync(new DeltaWrite(DeltaTableWriteTests.EventSchema, [DeltaTableWriteTests.EventFile(_temp.Path, "after")]));
        Assert.Equal(12, r.Version);
        var fresh = new DeltaTable(_store, "t");
        var r2 = await fresh.CommitAsync(new DeltaWrite(DeltaTableWriteTests.EventSchema, [DeltaTableWriteTests.EventFile(_temp.Path, "fresh")]) { Txn = new DeltaTxn("odd", 13) });
        Assert.Equal(13, r2.Version);
        Assert.Equal(9, (await fresh.LoadAsync())!.Files.Count);

        // Without the checkpoint the shortened log cannot be read, and the reader says why.
        await _store.DeleteAsync(CheckpointKey);
        var e = await Assert.ThrowsAsync<DeltaException>(() => new DeltaTable(_store, "t").LoadAsync());
        Assert.Equal(DeltaErrorCode.Corrupt, e.Code);
        Assert.Contains("starts at version 10", e.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task A_multi_part_checkpoint_reads_the_same_and_an_incomplete_one_is_ignored()
    {
        await TwelveCommitsAsync();
        var expected = (await new DeltaTable(_store, "t").LoadAsync())!;

        string cp = _store.LocalPath(CheckpointKey)!;
        string part1 = _store.LocalPath("t/_delta_log/00000000000000000010.checkpoint.0000000001.0000000002.parquet")!;
        string part2 = _store.LocalPath("t/_delta_log/00000000000000000010.checkpoint.0000000002.0000000002.parquet")!;
        using (var c = OpenDuckDb())
        {
            Execute(c, $"COPY (SELECT * FROM read_parquet('{cp}') WHERE \"add\" IS NULL) TO '{part1}' (FORMAT parquet)");
            Execute(c, $"COPY (SELECT * FROM read_parquet('{cp}') WHERE \"add\" IS NOT NULL) TO '{part2}' (FORMAT parquet)");
        }
        await _store.DeleteAsync(CheckpointKey);
        await _store.PutAsync("t/_delta_log/_last_checkpoint", Encoding.UTF8.GetBytes("""{"version":10,"size":15,"parts":2}"""));
        AssertSameState(expected, (await new DeltaTable(_store, "t").LoadAsync())!);

        // Only the commits after the checkpoint are needed, so the checkpoint was used (here downloaded: no local paths).
        var remote = new RemoteLikeStore(_store);
        await _store.PutAsync("t/_delta_log/00000000000000000000.json.moved", (await _store.GetAsync("t/_delta_log/00000000000000000000.json"))!);
        await _store.DeleteAsync("t/_delta_log/00000000000000000000.json");
        AssertSameState(expected, (await new DeltaTable(remote, "t").LoadAsync())!);
        await _store.PutAsync("t/_delta_log/00000000000000000000.json", (await _store.GetAsync("t/_delta_log/00000000000000000000.json.moved"))!);

        // A set with a part missing is not a checkpoint: the reader replays the whole log instead.
        File.Delete(part2);
        AssertSameState(expected, (await new DeltaTable(_store, "t").LoadAsync())!);
    }

    [Fact]
    public async Task The_checkpoint_interval_comes_from_the_table_configuration()
    {
        var table = new DeltaTable(_store, "t");
        var config = new Dictionary<string, string> { ["delta.checkpointInterval"] = "3" };
        var results = new List<DeltaCommitResult>();
        for (int i = 0; i < 7; i++)
            results.Add(await table.CommitAsync(new DeltaWrite(DeltaTableWriteTests.EventSchema, [DeltaTableWriteTests.EventFile(_temp.Path, $"i{i}")]) { Configuration = config }));
        Assert.Equal([3L, 6L], results.Where(r => r.Checkpointed).Select(r => r.Version));
        Assert.Equal(["t/_delta_log/00000000000000000003.checkpoint.parquet", "t/_delta_log/00000000000000000006.checkpoint.parquet"],
            (await KeysAsync(_store, "t/_delta_log/")).Where(k => k.Contains(".checkpoint.", StringComparison.Ordinal)));
        var s = (await new DeltaTable(_store, "t").LoadAsync())!;
        Assert.Equal("3", s.Metadata.Configuration["delta.checkpointInterval"]);
        Assert.Equal(7, s.Files.Count);
    }
}
