using PinPipe.Lake.Delta;
using PinPipe.Lake.Directory;
using PinPipe.Tests.Log;
using PinPipe.Tests.Support;
using static PinPipe.Tests.Lake.Delta.DeltaTestKit;

namespace PinPipe.Tests.Lake.Delta;

/// <summary>
/// Tombstones past a checkpoint stay in its file: a writer holds only those of the commits since, each checkpoint carries the
/// older ones over (without the expired ones and those of paths live again), VACUUM still sees them all, and a reader
/// leaves them in a newer checkpoint once it holds many.
/// </summary>
public sealed class DeltaTombstoneTests : IDisposable
{
    private static readonly DeltaSchema Schema = IndNameSchema;

    private readonly TempDirectory _dir = new("delta-tomb");
    private readonly DirectoryObjectStore _store;
    // Two hours ahead of the files' real modification times: VACUUM with a one-hour retention keeps a removed file only for its tombstone.
    private readonly ManualTimeProvider _clock = new(DateTimeOffset.UtcNow + TimeSpan.FromHours(2));
    private int _next;

    public DeltaTombstoneTests() => _store = new DirectoryObjectStore(_dir.File("bucket"), "b");

    public void Dispose() => _dir.Dispose();

    private DeltaTable Table(int rebaseTombstones = 10_000) => new(_store, "t", null, _clock) { RebaseTombstones = rebaseTombstones };

    private string Rows(int rows = 2)
    {
        string file = IndNameRows(_dir.Path, _next, rows);
        _next += rows;
        return file;
    }

    /// <summary>Appends until the table's version is <paramref name="version"/>; returns the paths added.</summary>
    private async Task<List<string>> AppendToAsync(DeltaTable table, long version)
    {
        var added = new List<string>();
        while (((await table.LatestAsync())?.Version ?? -1) < version)
            added.AddRange((await table.CommitAsync(new DeltaWrite(Schema, [Rows()]))).Added.Select(f => f.Path));
        return added;
    }

    /// <summary>A compaction: removes <paramref name="paths"/>, adds one file.</summary>
    private static async Task<DeltaCommitResult> CompactAsync(DeltaTable table, IEnumerable<string> paths, string file) =>
        await table.CommitAsync(new DeltaWrite(Schema, [file]) { Removes = [.. paths], DataChange = false, Operation = "OPTIMIZE" });

    /// <summary>The remove rows of the checkpoint of <paramref name="version"/>: path and dataChange.</summary>
    private List<(string Path, bool DataChange)> CheckpointRemoves(long version)
    {
        using var c = OpenDuckDb();
        string cp = _store.LocalPath($"t/_delta_log/{version:D20}.checkpoint.parquet")!;
        Assert.True(File.Exists(cp), $"no checkpoint of version {version}");
        return [.. Query(c, $"SELECT remove.path, remove.dataChange FROM read_parquet('{cp}') WHERE remove IS NOT NULL ORDER BY 1").Select(r => ((string)r[0]!, (bool)r[1]!))];
    }

    [Fact]
    public async Task A_writer_holds_only_the_tombstones_since_its_checkpoint_and_each_checkpoint_carries_all_of_them()
    {
        var table = Table();
        var first = await AppendToAsync(table, 4); // v0..v4
        await CompactAsync(table, first[..4], Rows()); // v5: 4 tombstones
        Assert.Equal(4, (await table.LatestAsync())!.State.Tombstones.Count);
        await AppendToAsync(table, 10); // the checkpoint of v10 takes them
        var atTen = (await table.LatestAsync())!.State;
        Assert.Empty(atTen.Tombstones);
        Assert.Equal(10, atTen.TombstoneBaseVersion);
        Assert.Equal(first[..4].Order(StringComparer.Ordinal), CheckpointRemoves(10).Select(r => r.Path));

        var second = (await table.LatestAsync())!.Files.Select(f => f.Path).Where(p => p != first[4]).Take(3).ToList();
        await CompactAsync(table, second, Rows()); // v11: 3 more
        var atEleven = (await table.LatestAsync())!.State;
        Assert.Equal(second.Order(StringComparer.Ordinal), atEleven.Tombstones.Keys.Order(StringComparer.Ordinal));
        Assert.All(atEleven.Tombstones.Values, t => Assert.Equal(11, t.CommitVersion));
        await AppendToAsync(table, 20);

        // The checkpoint of v20: the four carried over from v10's and the three since, each once, no data change.
        var removes = CheckpointRemoves(20);
        Assert.Equal(first[..4].Concat(second).Order(StringComparer.Ordinal), removes.Select(r => r.Path));
        Assert.All(removes, r => Assert.False(r.DataChange));
        Assert.Empty((await table.LatestAsync())!.State.Tombstones);

        // A fresh load reads the same live files as the writer and leaves the tombstones in the file.
        var fresh = (await Table().LoadAsync())!;
        Assert.Empty(fresh.State.Tombstones);
        Assert.Equal(20, fresh.State.TombstoneBaseVersion);
        Assert.Equal((await table.LatestAsync())!.Files.Select(f => f.Path).Order(StringComparer.Ordinal), fresh.Files.Select(f => f.Path).Order(StringComparer.Ordinal));

        // VACUUM reads them from the checkpoint: with a one-hour retention it keeps all seven removed files (their modification
        // times are two hours old by the table's clock: only their tombstones keep them), and deletes them with none.
        var keep = (await Table().VacuumAsync(TimeSpan.FromHours(1), dryRun: true))!;
        Assert.Empty(keep.Deleted);
        var all = (await Table().VacuumAsync(TimeSpan.Zero, dryRun: true))!;
        Assert.Equal(first[..4].Concat(second).Select(p => "t/" + p).Order(StringComparer.Ordinal), all.Deleted.Select(d => d.Key).Order(StringComparer.Ordinal));
    }

    [Fact]
    public async Task A_checkpoint_drops_expired_carried_tombstones_and_those_of_paths_live_again()
    {
        var table = Table();
        var files = await AppendToAsync(table, 4);
        await CompactAsync(table, files[..2], Rows()); // v5: removes files 0 and 1
        await AppendToAsync(table, 10);
        Assert.Equal(files[..2].Order(StringComparer.Ordinal), CheckpointRemoves(10).Select(r => r.Path));

        // Another writer (Spark's RESTORE, say) adds file 0 back at v11: its tombstone no longer holds.
        string v0 = await File.ReadAllTextAsync(_store.LocalPath($"t/_delta_log/{0:D20}.json")!);
        string add = v0.Split('\n').Single(l => l.Contains("\"add\"", StringComparison.Ordinal) && l.Contains(files[0], StringComparison.Ordinal));
        Assert.True(await _store.PutIfAbsentAsync($"t/_delta_log/{11:D20}.json", System.Text.Encoding.UTF8.GetBytes(add + "\n")));
        await AppendToAsync(table, 20);
        Assert.Equal([files[1]], CheckpointRemoves(20).Select(r => r.Path));
        Assert.Contains(files[0], (await Table().LoadAsync())!.Files.Select(f => f.Path));

        // Eight days later file 1's tombstone has expired (delta.deletedFileRetentionDuration, a week): the next checkpoint drops it.
        _clock.Advance(TimeSpan.FromDays(8));
        var live = (await table.LatestAsync())!.Files.Select(f => f.Path).Where(p => p != files[0]).Take(2).ToList();
        await CompactAsync(table, live, Rows()); // v21
        await AppendToAsync(table, 30);
        Assert.Equal(live.Order(StringComparer.Ordinal), CheckpointRemoves(30).Select(r => r.Path));
    }

    [Fact]
    public async Task A_reader_past_the_rebase_threshold_leaves_its_tombstones_in_a_newer_checkpoint()
    {
        var writer = Table();
        var files = await AppendToAsync(writer, 3);
        var reader = Table(rebaseTombstones: 2);
        var patient = Table(rebaseTombstones: 100);
        Assert.Equal(3, (await reader.LoadAsync())!.Version);
        Assert.Equal(3, (await patient.LoadAsync())!.Version);

        await CompactAsync(writer, files[..3], Rows()); // v4: 3 tombstones
        await AppendToAsync(writer, 10); // checkpoint at v10
        var more = (await writer.LatestAsync())!.Files.Select(f => f.Path).Take(2).ToList();
        await CompactAsync(writer, more, Rows()); // v11: 2 more

        var state = (await reader.LatestAsync())!.State;
        Assert.Equal(11, state.Version);
        Assert.Equal(10, state.TombstoneBaseVersion);
        Assert.Equal(more.Order(StringComparer.Ordinal), state.Tombstones.Keys.Order(StringComparer.Ordinal));
        // Below the threshold a reader keeps every tombstone it replayed.
        var kept = (await patient.LatestAsync())!.State;
        Assert.Equal(-1, kept.TombstoneBaseVersion);
        Assert.Equal(more.Concat(files[..3]).Order(StringComparer.Ordinal), kept.Tombstones.Keys.Order(StringComparer.Ordinal));
    }

    [Fact]
    public async Task Tombstones_of_a_checkpoint_of_another_shape_are_carried_over_through_memory()
    {
        var table = Table();
        var files = await AppendToAsync(table, 4);
        await CompactAsync(table, files[..3], Rows()); // v5
        await AppendToAsync(table, 10);

        // Another writer's checkpoint of v10: its remove struct lacks fields ours has, so DuckDB cannot carry it over file to file.
        string cp = _store.LocalPath($"t/_delta_log/{10:D20}.checkpoint.parquet")!;
        string other = Path.Combine(_dir.Path, "other.parquet");
        using (var c = OpenDuckDb())
        {
            Query(c, $"""
                COPY (SELECT txn, "add", CASE WHEN remove IS NULL THEN NULL ELSE struct_pack(path := remove.path, deletionTimestamp := remove.deletionTimestamp, dataChange := remove.dataChange) END AS remove,
                    metaData, protocol FROM read_parquet('{cp}')) TO '{other}' (FORMAT parquet)
                """);
        }
        File.Copy(other, cp, overwrite: true);

        var writer = Table();
        Assert.Equal(10, (await writer.LoadAsync())!.State.TombstoneBaseVersion);
        await AppendToAsync(writer, 20);
        Assert.Equal(files[..3].Order(StringComparer.Ordinal), CheckpointRemoves(20).Select(r => r.Path));
        Assert.Equal(3, (await Table().VacuumAsync(TimeSpan.Zero, dryRun: true))!.Deleted.Count);
    }

    [Fact]
    public async Task A_writer_whose_tombstone_base_is_gone_loads_afresh_and_its_next_checkpoint_holds_every_tombstone()
    {
        var table = Table();
        var files = await AppendToAsync(table, 4);
        await CompactAsync(table, files[..2], Rows()); // v5
        await AppendToAsync(table, 10); // base: the checkpoint of v10

        File.Delete(_store.LocalPath($"t/_delta_log/{10:D20}.checkpoint.parquet")!); // as if the log cleanup of another writer deleted it
        await AppendToAsync(table, 19);
        var twenty = await table.CommitAsync(new DeltaWrite(Schema, [Rows()]));
        Assert.Equal((20L, false), (twenty.Version, twenty.Checkpointed)); // it could not carry v10's tombstones over: no checkpoint

        await AppendToAsync(table, 30); // the next commit loaded the log afresh (all of it: no checkpoint left)
        Assert.Equal(files[..2].Order(StringComparer.Ordinal), CheckpointRemoves(30).Select(r => r.Path));
    }
}
