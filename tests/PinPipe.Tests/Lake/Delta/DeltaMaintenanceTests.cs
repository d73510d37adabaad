using DuckDB.NET.Data;
using PinPipe.DuckDb;
using PinPipe.Lake;
using PinPipe.Lake.Delta;
using PinPipe.Lake.Directory;
using PinPipe.Tests.Log;
using PinPipe.Tests.Support;
using static PinPipe.Tests.Lake.Delta.DeltaTestKit;

namespace PinPipe.Tests.Lake.Delta;

/// <summary>
/// VACUUM, the expired log cleanup and OPTIMIZE on real Delta tables in a directory bucket: time is moved with the tables'
/// clock (deletion timestamps, the cutoff) and with the files' modification times, never by sleeping.
/// </summary>
public sealed class DeltaMaintenanceTests : IDisposable
{
    private static readonly DeltaSchema Schema = IndNameSchema;
    private static readonly TimeSpan Week = TimeSpan.FromDays(7);

    private readonly TempDirectory _dir = new("delta-maint");
    private readonly DirectoryObjectStore _store;
    private readonly ManualTimeProvider _clock = new(DateTimeOffset.UtcNow);
    private int _next;

    public DeltaMaintenanceTests() => _store = new DirectoryObjectStore(_dir.File("bucket"), "b");

    public void Dispose() => _dir.Dispose();

    private DeltaTable Table(string prefix = "delta/t", TimeProvider? time = null) => new(_store, prefix, null, time ?? _clock);

    /// <summary>A file of <paramref name="rows"/> new rows (ind counts on across calls).</summary>
    private string Rows(int rows)
    {
        string file = IndNameRows(_dir.Path, _next, rows);
        _next += rows;
        return file;
    }

    private static async Task<List<long>> IndsAsync(DeltaSnapshot snapshot) =>
        (await ReadAllAsync(snapshot)).Select(r => (long)r[0]!).Order().ToList();

    private string LocalPath(string key) => _store.LocalPath(key)!;

    /// <summary>Puts a data file no commit references (a killed run's) with the modification time <paramref name="modified"/>.</summary>
    private async Task<string> UncommittedAsync(string name, DateTimeOffset modified)
    {
        string key = "delta/t/" + name;
        await _store.PutAsync(key, await File.ReadAllBytesAsync(Rows(3)));
        File.SetLastWriteTimeUtc(LocalPath(key), modified.UtcDateTime);
        return key;
    }

    /// <summary>
    /// v0, v1 append A and B; v2 overwrites them with C; ten days later v3 overwrites C with D and v4 appends E. Also an old
    /// and a young file no commit references. Returns the keys by name.
    /// </summary>
    private async Task<Dictionary<string, string>> HistoryAsync(DeltaTable table)
    {
        var keys = new Dictionary<string, string>();
        async Task Commit(string name, DeltaWriteMode mode)
        {
            var result = await table.CommitAsync(new DeltaWrite(Schema, [Rows(10)]) { Mode = mode });
            keys[name] = "delta/t/" + result.Added[0].Path;
        }
        await Commit("A", DeltaWriteMode.Append);
        await Commit("B", DeltaWriteMode.Append);
        await Commit("C", DeltaWriteMode.Overwrite);
        _clock.Advance(TimeSpan.FromDays(10));
        await Commit("D", DeltaWriteMode.Overwrite);
        await Commit("E", DeltaWriteMode.Append);
        var now = _clock.GetUtcNow();
        keys["old uncommitted"] = await UncommittedAsync("part-00000-killed-run-c000.snappy.parquet", now - TimeSpan.FromDays(8));
        keys["young uncommitted"] = await UncommittedAsync("part-00000-in-progress-c000.snappy.parquet", now - TimeSpan.FromHours(2));
        // Every data file other than the uncommitted ones was written "now" by the real clock: 10 days before the table's clock.
        foreach (var name in new[] { "A", "B", "C", "D", "E" }) File.SetLastWriteTimeUtc(LocalPath(keys[name]), (now - TimeSpan.FromDays(10)).UtcDateTime);
        return keys;
    }

    [Fact]
    public async Task Vacuum_deletes_only_files_no_version_within_the_retention_references_and_old_uncommitted_ones()
    {
        var table = Table();
        var keys = await HistoryAsync(table);
        var log = await KeysAsync(_store, "delta/t/_delta_log/");
        var rowsAt = new Dictionary<long, List<long>>();
        foreach (long v in new long[] { 2, 3, 4 }) rowsAt[v] = await IndsAsync((await table.LoadAsync(v))!);

        var result = await table.VacuumAsync(Week);

        Assert.NotNull(result);
        Assert.False(result.DryRun);
        Assert.Equal(new[] { keys["A"], keys["B"], keys["old uncommitted"] }.Order(StringComparer.Ordinal), result.Deleted.Select(f => f.Key).Order(StringComparer.Ordinal));
        Assert.Equal(result.Deleted.Sum(f => f.Size), result.DeletedBytes);
        var left = await KeysAsync(_store, "delta/t/");
        foreach (var name in new[] { "C", "D", "E", "young uncommitted" }) Assert.Contains(keys[name], left);
        foreach (var name in new[] { "A", "B", "old uncommitted" }) Assert.DoesNotContain(keys[name], left);
        Assert.Equal(log, await KeysAsync(_store, "delta/t/_delta_log/")); // the log is never touched
        // Versions within the retention still read all their rows: v2's file was removed only by v3, within the week.
        foreach (var (v, rows) in rowsAt) Assert.Equal(rows, await IndsAsync((await table.LoadAsync(v))!));
        Assert.Equal(20, rowsAt[4].Count);
    }

    [Fact]
    public async Task A_dry_run_lists_what_vacuum_would_delete_and_deletes_nothing()
    {
        var table = Table();
        var keys = await HistoryAsync(table);
        var before = await KeysAsync(_store, "delta/t/");

        var dry = await table.VacuumAsync(Week, dryRun: true);

        Assert.True(dry!.DryRun);
        Assert.Equal(new[] { keys["A"], keys["B"], keys["old uncommitted"] }.Order(StringComparer.Ordinal), dry.Deleted.Select(f => f.Key).Order(StringComparer.Ordinal));
        Assert.Equal(before, await KeysAsync(_store, "delta/t/"));
    }

    [Fact]
    public async Task Vacuum_with_a_zero_retention_leaves_only_the_latest_versions_files_and_a_missing_table_is_null()
    {
        var table = Table();
        var keys = await HistoryAsync(table);
        var result = await table.VacuumAsync(TimeSpan.Zero);
        var data = (await KeysAsync(_store, "delta/t/")).Where(k => !k.StartsWith("delta/t/_delta_log/", StringComparison.Ordinal));
        Assert.Equal(new[] { keys["D"], keys["E"] }.Order(StringComparer.Ordinal), data.Order(StringComparer.Ordinal));
        Assert.Equal(5, result!.Deleted.Count); // A, B, C and both uncommitted files
        Assert.Equal(20, (await IndsAsync((await table.LoadAsync())!)).Count);
        Assert.Null(await Table("delta/none").VacuumAsync(Week));
    }

    /// <summary>Commits <paramref name="count"/> appends (a checkpoint every 10 versions) with <paramref name="table"/>.</summary>
    private async Task AppendsAsync(DeltaTable table, int count)
    {
        for (int i = 0; i < count; i++) await table.CommitAsync(new DeltaWrite(Schema, [Rows(2)]));
    }

    /// <summary>Sets the modification time of the log's commits of versions [from, to] (inclusive).</summary>
    private void AgeCommits(long from, long to, TimeSpan age)
    {
        for (long v = from; v <= to; v++)
            File.SetLastWriteTimeUtc(LocalPath($"delta/t/_delta_log/{v:D20}.json"), (_clock.GetUtcNow() - age).UtcDateTime);
    }

    private async Task<List<string>> LogNamesAsync() =>
        (await KeysAsync(_store, "delta/t/_delta_log/")).Select(k => k["delta/t/_delta_log/".Length..]).ToList();

    [Fact]
    public async Task Log_cleanup_deletes_only_expired_commits_a_newer_checkpoint_covers_and_the_table_stays_readable()
    {
        var table = Table();
        await AppendsAsync(table, 25); // v0..v24, checkpoints at 10 and 20
        AgeCommits(0, 14, TimeSpan.FromDays(31)); // older than the 30 days of delta.logRetentionDuration
        AgeCommits(15, 24, TimeSpan.FromDays(29));
        var rows = await IndsAsync((await table.LoadAsync())!);

        var result = await Table().CleanUpLogAsync();

        // Checkpoint 10 covers v0..v9 (all expired); checkpoint 20 is newer but v15..v19 before it are not expired.
        Assert.Equal(10, result!.EarliestVersion);
        Assert.Equal(Enumerable.Range(0, 10).Select(v => $"{v:D20}.json"), result.Deleted.Select(f => f.Key[(f.Key.LastIndexOf('/') + 1)..]));
        var names = await LogNamesAsync();
        Assert.Contains($"{10:D20}.checkpoint.parquet", names);
        Assert.Contains($"{10:D20}.json", names);
        Assert.DoesNotContain($"{9:D20}.json", names);

        var fresh = Table();
        Assert.Equal(rows, await IndsAsync((await fresh.LoadAsync())!));
        Assert.Equal(24, (await IndsAsync((await fresh.LoadAsync(11))!)).Count); // v10 and later can still be read
        var gone = await Assert.ThrowsAsync<DeltaException>(() => fresh.LoadAsync(5));
        Assert.Equal(DeltaErrorCode.VersionNotFound, gone.Code);
        Assert.Contains("no longer has version 5", gone.Message, StringComparison.Ordinal);
        Assert.Contains("before version 10", gone.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Log_cleanup_keeps_expired_commits_no_checkpoint_covers_and_respects_the_table_properties()
    {
        var table = Table();
        await AppendsAsync(table, 9); // no checkpoint yet
        AgeCommits(0, 8, TimeSpan.FromDays(365));
        Assert.Empty((await table.CleanUpLogAsync())!.Deleted);
        Assert.Equal(9, (await LogNamesAsync()).Count);

        // delta.logRetentionDuration in Spark's 'interval' form, and the cleanup switched off.
        foreach (var (config, expected) in new[] { ("interval 1 hour", 10), ("off", 0) })
        {
            var prefix = $"delta/{(config == "off" ? "off" : "short")}";
            var t = Table(prefix);
            var properties = config == "off"
                ? new Dictionary<string, string> { ["delta.enableExpiredLogCleanup"] = "false" }
                : new Dictionary<string, string> { ["delta.logRetentionDuration"] = config };
            await t.CommitAsync(new DeltaWrite(Schema, [Rows(1)]) { Configuration = properties });
            for (int i = 0; i < 10; i++) await t.CommitAsync(new DeltaWrite(Schema, [Rows(1)]));
            for (long v = 0; v <= 10; v++) File.SetLastWriteTimeUtc(LocalPath($"{prefix}/_delta_log/{v:D20}.json"), (_clock.GetUtcNow() - TimeSpan.FromHours(2)).UtcDateTime);
            var result = await Table(prefix).CleanUpLogAsync();
            Assert.Equal(expected, result!.Deleted.Count);
            Assert.Equal(config != "off", result.Enabled);
            Assert.Equal(11, (await IndsAsync((await Table(prefix).LoadAsync())!)).Count);
        }
    }

    [Fact]
    public async Task A_checkpoint_cleans_up_the_expired_log_on_its_own_and_drops_expired_tombstones()
    {
        var writer = Table(time: TimeProvider.System);
        await AppendsAsync(writer, 19); // v0..v18, checkpoint at 10
        await writer.CommitAsync(new DeltaWrite(Schema, [Rows(2)]) { Mode = DeltaWriteMode.Overwrite }); // v19: 19 tombstones
        var rows = await IndsAsync((await writer.LoadAsync())!);

        // A month and a day later the job commits again: the checkpoint of v20 makes v0..v19 unnecessary, and they are expired.
        var later = new ManualTimeProvider(DateTimeOffset.UtcNow + TimeSpan.FromDays(31));
        var result = await Table(time: later).CommitAsync(new DeltaWrite(Schema, [Rows(2)]));

        Assert.True(result.Checkpointed);
        var names = await LogNamesAsync();
        Assert.Equal(new[] { $"{20:D20}.checkpoint.parquet", $"{20:D20}.json", "_last_checkpoint" }, names);
        var fresh = Table(time: later);
        var latest = (await fresh.LoadAsync())!;
        Assert.Equal(rows.Concat(await IndsAsync(latest)).Distinct().Count(), (await IndsAsync(latest)).Count);
        Assert.Equal(rows.Count + 2, (await IndsAsync(latest)).Count);
        Assert.Empty(latest.State.Tombstones); // the checkpoint dropped the tombstones older than a week
    }

    [Fact]
    public async Task A_long_running_writer_drops_expired_tombstones_from_the_state_it_caches()
    {
        var clock = new ManualTimeProvider(DateTimeOffset.UtcNow);
        var writer = Table(time: clock);
        await AppendsAsync(writer, 3);
        await writer.CommitAsync(new DeltaWrite(Schema, [Rows(2)]) { Mode = DeltaWriteMode.Overwrite }); // v3: 3 tombstones
        Assert.Equal(3, (await writer.LatestAsync())!.State.Tombstones.Count);

        clock.Advance(TimeSpan.FromDays(6)); // within the week: kept
        await writer.CommitAsync(new DeltaWrite(Schema, [Rows(2)]));
        Assert.Equal(3, (await writer.LatestAsync())!.State.Tombstones.Count);

        clock.Advance(TimeSpan.FromDays(2)); // past delta.deletedFileRetentionDuration (a week): dropped, as a checkpoint drops them
        await writer.CommitAsync(new DeltaWrite(Schema, [Rows(2)]));
        var cached = (await writer.LatestAsync())!;
        Assert.Empty(cached.State.Tombstones);
        Assert.Equal(3, cached.Files.Count);

        // Another writer's commit read through LatestAsync drops them too.
        var reader = Table(time: clock);
        Assert.Equal(3, (await reader.LoadAsync())!.State.Tombstones.Count); // a fresh load replays the removes (no checkpoint yet)
        await writer.CommitAsync(new DeltaWrite(Schema, [Rows(2)]));
        var read = (await reader.LatestAsync())!;
        Assert.Empty(read.State.Tombstones);
        Assert.Equal(4, read.Files.Count);
    }

    [Fact]
    public async Task Optimize_bin_packs_small_files_into_one_commit_without_changing_the_rows()
    {
        var table = Table();
        await AppendsAsync(table, 6);
        var before = (await table.LoadAsync())!;
        using var db = DuckDbSession.Open();
        string work = _dir.File("work");
        Directory.CreateDirectory(work);

        var result = await table.OptimizeAsync(db, work);

        Assert.NotNull(result!.Commit);
        Assert.Equal((6, before.Files.Sum(f => f.Size)), (result.FilesCompacted, result.BytesCompacted));
        var after = (await table.LoadAsync())!;
        Assert.Equal(before.Version + 1, after.Version);
        Assert.Single(after.Files);
        Assert.Equal(await IndsAsync(before), await IndsAsync(after));
        string commit = await File.ReadAllTextAsync(LocalPath($"delta/t/_delta_log/{after.Version:D20}.json"));
        Assert.Contains("\"operation\":\"OPTIMIZE\"", commit, StringComparison.Ordinal);
        Assert.DoesNotContain("\"dataChange\":true", commit, StringComparison.Ordinal);
        Assert.Empty(Directory.EnumerateFileSystemEntries(work));

        // Nothing left to pack: no commit.
        var again = await table.OptimizeAsync(db, work);
        Assert.Null(again!.Commit);
        Assert.Equal(after.Version, (await table.LoadAsync())!.Version);
    }

    [Fact]
    public void PlanBins_packs_files_under_the_target_into_bins_of_at_most_the_target_and_drops_single_files()
    {
        static DeltaFile F(string path, long size) => new(path, new Dictionary<string, string?>(), size, 0, null);
        var files = new[] { F("a", 40), F("b", 50), F("big", 100), F("c", 30), F("d", 90), F("e", 5) };
        var bins = DeltaTable.PlanBins(files, targetFileBytes: 100);
        Assert.Equal("a,b|d,e", string.Join("|", bins.Select(b => string.Join(",", b.Select(f => f.Path)))));
    }
}
