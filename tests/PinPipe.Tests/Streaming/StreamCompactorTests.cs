using System.Globalization;
using System.Text.RegularExpressions;
using Microsoft.Extensions.Logging;
using PinPipe.Lake;
using PinPipe.Lake.Delta;
using PinPipe.Lake.Directory;
using PinPipe.Streaming;
using PinPipe.Tests.Lake.Delta;
using PinPipe.Tests.Log;
using PinPipe.Tests.Support;

namespace PinPipe.Tests.Streaming;

/// <summary>
/// The stream job's compaction on its own: real Delta tables in a directory bucket, real Parquet files written by
/// DuckDB, and <see cref="StreamCompactor"/> as <see cref="StreamTable"/> drives it.
/// </summary>
public sealed class StreamCompactorTests : IDisposable
{
    private static readonly DeltaSchema Schema = new([new DeltaField("ind", DeltaType.Long), new DeltaField("name", DeltaType.String)]);

    private readonly TempDirectory _dir = new("compactor");
    private readonly DirectoryObjectStore _store;
    private readonly CapturedLogs _logs = new();
    private readonly ILoggerFactory _loggers;

    public StreamCompactorTests()
    {
        _store = new DirectoryObjectStore(_dir.File("bucket"), "b");
        _loggers = _logs.Factory();
        Directory.CreateDirectory(Work);
    }

    private string Work => _dir.File("work");

    public void Dispose()
    {
        _loggers.Dispose();
        _logs.Dispose();
        _dir.Dispose();
    }

    private StreamCompactor NewCompactor(int compactEvery, long smallFileBytes = 8L << 20, long targetFileBytes = 128L << 20) =>
        new("t_pin_table", _store, "delta/clean", "delta/rejects", Work, compactEvery, smallFileBytes, _loggers.CreateLogger("pinpipe.stream"), _loggers, TimeProvider.System, targetFileBytes);

    /// <summary>Appends one file of <paramref name="rows"/> rows per call, as a micro-batch does, and returns the table.</summary>
    private async Task<DeltaTable> AppendAsync(string prefix, params int[] rows)
    {
        var table = new DeltaTable(_store, prefix);
        int first = 0;
        foreach (int n in rows)
        {
            string file = DeltaTestKit.WriteParquet(_dir.Path, $"SELECT i::BIGINT AS ind, 'name ' || i AS name FROM range({first}, {first + n}) t(i)");
            await table.CommitAsync(new DeltaWrite(Schema, [file]));
            first += n;
        }
        return table;
    }

    /// <summary>Starts until the running compaction has ended and a start has seen how (bounded: a hang fails the test).</summary>
    private static async Task StartUntil(StreamCompactor compactor, Func<bool> done)
    {
        var waited = System.Diagnostics.Stopwatch.StartNew();
        await compactor.StartAsync();
        while (!done())
        {
            Assert.True(waited.Elapsed < TimeSpan.FromSeconds(60), "the compaction did not end within 60 s");
            await Task.Delay(20);
            await compactor.StartAsync();
        }
    }

    private static async Task<List<string>> RowsAsync(DeltaSnapshot snapshot) =>
        (await DeltaTestKit.ReadAllAsync(snapshot)).Select(r => $"{r[0]}|{r[1]}").Order(StringComparer.Ordinal).ToList();

    [Fact]
    public async Task Finish_compacts_each_due_table_into_one_file_with_the_same_rows_and_counts_it()
    {
        var clean = await AppendAsync("delta/clean", 3, 4, 5);
        var rejects = await AppendAsync("delta/rejects", 1, 2, 3, 4);
        var cleanBefore = (await clean.LoadAsync())!;
        var rejectsBefore = (await rejects.LoadAsync())!;
        var compactor = NewCompactor(compactEvery: 3);
        compactor.Resumed(cleanBefore, rejectsBefore);
        Assert.Equal((3, 4), (compactor.CleanSmallFiles, compactor.RejectSmallFiles));

        await compactor.FinishAsync();

        foreach (var (table, before) in new[] { (clean, cleanBefore), (rejects, rejectsBefore) })
        {
            var after = (await table.LoadAsync())!;
            Assert.Single(after.Files);
            Assert.Equal(before.Version + 1, after.Version);
            Assert.Equal(await RowsAsync(before), await RowsAsync(after));
        }
        Assert.Equal(2, compactor.Compactions);
        Assert.Equal((1, 1), (compactor.CleanSmallFiles, compactor.RejectSmallFiles));
        Assert.Contains(_logs.Entries, e => e.Level == LogLevel.Debug && e.Message.StartsWith("t_pin_table: compacted 3 small files of delta/clean into one", StringComparison.Ordinal));
        Assert.Empty(Directory.EnumerateFiles(Work, "*.parquet")); // the rewritten file is in the bucket, not left in the work folder
    }

    [Fact]
    public async Task A_compaction_of_the_clean_table_hands_its_file_and_the_files_it_replaced_to_the_key_cache()
    {
        var clean = await AppendAsync("delta/clean", 3, 4, 5);
        var rejects = await AppendAsync("delta/rejects", 1, 2);
        var before = (await clean.LoadAsync())!;
        // The hand-over is taken when each compaction's commit is written: it must be there before a check can see the commit.
        var store = new CommitWatchingStore(_store);
        var compactor = new StreamCompactor("t_pin_table", store, "delta/clean", "delta/rejects", Work, 2, 8L << 20, _loggers.CreateLogger("pinpipe.stream"), _loggers, TimeProvider.System);
        store.OnCommit = key => store.Taken.Add((key, [.. compactor.TakeCleanRewrites()]));
        compactor.Resumed(before, (await rejects.LoadAsync())!);
        Assert.Empty(compactor.TakeCleanRewrites());

        await compactor.FinishAsync(); // both tables compacted

        var after = (await clean.LoadAsync())!;
        Assert.Equal(2, store.Taken.Count);
        var (cleanCommit, handed) = store.Taken.Single(t => t.Key.StartsWith("delta/clean/", StringComparison.Ordinal));
        var rewrite = Assert.Single(handed); // at the clean table's commit; the reject table's compaction hands nothing
        Assert.Empty(store.Taken.Single(t => t != (cleanCommit, handed)).Rewrites);
        Assert.Equal(Assert.Single(after.Files).Path, rewrite.File);
        Assert.Equal(before.Files.Select(f => f.Path).Order(StringComparer.Ordinal), rewrite.From.Order(StringComparer.Ordinal));
        Assert.Empty(compactor.TakeCleanRewrites()); // taken once
        Assert.Equal(2, compactor.Compactions);

        // With the replaced files' keys kept, the new file's are their union, and a check over the new version reads no file.
        var cache = new DeltaKeyCache(1 << 20);
        for (int i = 0; i < before.Files.Count; i++)
        {
            int first = new[] { 0, 3, 7 }[i], rows = new[] { 3, 4, 5 }[i];
            var file = before.Files.Single(f => f.TryGetRange("ind", out long min, out _) && min == first);
            Assert.True(cache.TryAdd(file.Path, [.. Enumerable.Range(first, rows).Select(k => (long)k)]));
        }
        Assert.True(cache.TryAddUnion(rewrite.File, rewrite.From));
        using var scan = await after.OpenKeyScanAsync("ind", [2, 6, 11, 12], cache);
        Assert.Equal((0, 1), (scan.FilesRead, scan.FilesCached));
        Assert.Equal([2L, 6L, 11L], scan.HeldKeys);
        Assert.Equal((1, 12L * sizeof(long)), (cache.FileCount, cache.Bytes)); // the replaced files left at the check
    }

    [Fact]
    public async Task A_compaction_reads_at_most_four_small_file_sizes_and_leaves_large_files()
    {
        var table = await AppendAsync("delta/clean", 5_000, 10, 10, 10, 10, 10, 10);
        var before = (await table.LoadAsync())!;
        var large = before.Files.MaxBy(f => f.Size)!;
        var small = before.Files.Where(f => f != large).ToArray(); // in the snapshot's order, the order the compaction takes them
        long smallFileBytes = small.Max(f => f.Size) + 1;
        Assert.True(large.Size > smallFileBytes && 5 * small.Min(f => f.Size) > 4 * smallFileBytes, $"the test needs a large file and small ones of about one size: {string.Join(", ", before.Files.Select(f => f.Size))}");
        var compactor = NewCompactor(compactEvery: 6, smallFileBytes);
        compactor.Resumed(before, null);
        Assert.Equal(6, compactor.CleanSmallFiles);

        await compactor.FinishAsync();

        var after = (await table.LoadAsync())!;
        // The first four small files became one (larger than a small file); the large one and the other two stayed.
        var kept = after.Files.Where(f => before.Files.Any(b => b.Path == f.Path)).Select(f => f.Path).Order(StringComparer.Ordinal);
        Assert.Equal(new[] { large.Path, small[4].Path, small[5].Path }.Order(StringComparer.Ordinal), kept);
        var written = Assert.Single(after.Files, f => before.Files.All(b => b.Path != f.Path));
        Assert.True(written.Size >= smallFileBytes, $"the compacted file has {written.Size} bytes");
        Assert.Equal(await RowsAsync(before), await RowsAsync(after));
        Assert.Equal(1, compactor.Compactions);
        Assert.Equal(2, compactor.CleanSmallFiles); // 6 - 4, and the new file is not small
    }

    [Fact]
    public async Task Nothing_is_compacted_below_the_threshold_or_with_compact_every_0()
    {
        var table = await AppendAsync("delta/clean", 1, 1, 1);
        var before = (await table.LoadAsync())!;
        foreach (var compactor in new[] { NewCompactor(compactEvery: 4), NewCompactor(compactEvery: 0) })
        {
            compactor.Resumed(before, null);
            await compactor.StartAsync();
            await compactor.EndAsync();
            await compactor.FinishAsync();
            Assert.Equal(0, compactor.Compactions);
        }
        var appended = NewCompactor(compactEvery: 4);
        appended.Resumed(before, null);
        appended.CleanAppended(1); // a micro-batch's file makes it due
        await appended.FinishAsync();
        Assert.Equal(1, appended.Compactions);
        Assert.Equal(before.Version + 1, (await table.LoadAsync())!.Version);
    }

    /// <summary>A clean table of three small files, the second's data file deleted, and a compactor resumed over it (due at 3).</summary>
    private async Task<(DeltaTable Table, DeltaSnapshot Before, string Missing, StreamCompactor Compactor)> MissingFileAsync()
    {
        var table = await AppendAsync("delta/clean", 2, 2, 2);
        var before = (await table.LoadAsync())!;
        string missing = before.KeyOf(before.Files[1]);
        File.Delete(_store.LocalPath(missing)!);
        var compactor = NewCompactor(compactEvery: 3);
        compactor.Resumed(before, null);
        return (table, before, missing, compactor);
    }

    [Fact]
    public async Task A_missing_data_file_fails_the_compaction_naming_it_and_the_table_keeps_its_files()
    {
        var (table, before, missing, compactor) = await MissingFileAsync();

        var ex = await Assert.ThrowsAsync<DeltaException>(compactor.FinishAsync);
        Assert.Equal(DeltaErrorCode.Corrupt, ex.Code);
        Assert.Contains(missing, ex.Message, StringComparison.Ordinal);
        Assert.Equal(before.Version, (await table.LoadAsync())!.Version);
        Assert.Equal(0, compactor.Compactions);

        // When the job stops without finishing (EndAsync), a running compaction's failure is logged as a warning.
        var running = NewCompactor(compactEvery: 3);
        running.Resumed(before, null);
        await running.StartAsync();
        await running.EndAsync();
        Assert.Contains(_logs.Entries, e => e.Level == LogLevel.Warning && e.Exception is DeltaException
            && e.Message == "t_pin_table: a compaction failed while the job stopped; the table keeps its small files.");
    }

    [Fact]
    public async Task A_graceful_stop_logs_and_counts_the_running_compactions_failure_then_throws_its_own()
    {
        var (table, before, missing, compactor) = await MissingFileAsync();

        await compactor.StartAsync(); // a compaction beside the micro-batches, which fails; no micro-batch comes after it
        var ex = await Assert.ThrowsAsync<DeltaException>(compactor.FinishAsync);

        // The running one's failure is logged and counted as between micro-batches; the stop's own compaction (the file
        // still missing) fails too, and that is what the stop throws.
        Assert.Equal(1, compactor.Failures);
        var error = Assert.Single(_logs.Entries, e => e.Level == LogLevel.Error);
        Assert.Contains("t_pin_table: a compaction failed (1 in a row): ", error.Message, StringComparison.Ordinal);
        Assert.EndsWith("The stop compacts what is due once more.", error.Message, StringComparison.Ordinal); // not "tried in 30s": the stop tries at once
        Assert.Contains(missing, ex.Message, StringComparison.Ordinal);
        Assert.Equal(before.Version, (await table.LoadAsync())!.Version);
        Assert.Equal(0, compactor.Compactions);
    }

    [Fact]
    public async Task A_compaction_that_fails_beside_the_micro_batches_is_logged_and_counted_and_tried_again_after_a_backoff()
    {
        var table = await AppendAsync("delta/clean", 2, 2, 2);
        var before = (await table.LoadAsync())!;
        string missing = before.KeyOf(before.Files[1]);
        string moved = _dir.File("moved.parquet");
        File.Move(_store.LocalPath(missing)!, moved);
        var clock = new ManualTimeProvider(DateTimeOffset.UtcNow);
        var compactor = new StreamCompactor("t_pin_table", _store, "delta/clean", "delta/rejects", Work, 3, 8L << 20,
            _loggers.CreateLogger("pinpipe.stream"), _loggers, clock);
        compactor.Resumed(before, null);

        async Task RunOnceAsync()
        {
            await compactor.StartAsync(); // starts one when due
            await compactor.EndAsync(); // waits for it (a failure here would be a warning: the test reads errors only)
        }

        // The first compaction fails on the missing file; the next start logs and counts it instead of throwing.
        await StartUntil(compactor, () => compactor.Failures > 0 || compactor.Compactions > 0);
        Assert.Equal(1, compactor.Failures);
        var error = Assert.Single(_logs.Entries, e => e.Level == LogLevel.Error);
        Assert.IsType<DeltaException>(error.Exception);
        Assert.Contains("t_pin_table: a compaction failed (1 in a row): ", error.Message, StringComparison.Ordinal);
        Assert.Contains(missing, error.Message, StringComparison.Ordinal);
        Assert.EndsWith("the next compaction is tried in 30s.", error.Message, StringComparison.Ordinal);
        Assert.Equal(before.Version, (await table.LoadAsync())!.Version);

        // Within the backoff no compaction starts, however many micro-batches end.
        for (int i = 0; i < 5; i++) await RunOnceAsync();
        Assert.Equal(1, compactor.Failures);
        Assert.Equal(before.Version, (await table.LoadAsync())!.Version);

        // After it the next one runs: failing again, the wait doubles; once the file is back, it compacts.
        clock.Advance(TimeSpan.FromSeconds(31));
        await StartUntil(compactor, () => compactor.Failures > 1 || compactor.Compactions > 0);
        Assert.Equal(2, compactor.Failures);
        Assert.EndsWith("the next compaction is tried in 1m.", _logs.Entries.Last(e => e.Level == LogLevel.Error).Message, StringComparison.Ordinal);
        File.Move(moved, _store.LocalPath(missing)!);
        clock.Advance(TimeSpan.FromSeconds(61));
        await RunOnceAsync();
        Assert.Equal(1, compactor.Compactions);
        Assert.Equal(2, compactor.Failures);
        var after = (await table.LoadAsync())!;
        Assert.Single(after.Files);
        Assert.Equal(await RowsAsync(before), await RowsAsync(after));
    }

    /// <summary>
    /// Compactions share one DuckDB (closing one purges every jemalloc arena of the process, which costs the micro-batches of
    /// every table their pages): it is replaced after its set number of compactions and after a failure, and closed when
    /// the job stops.
    /// </summary>
    [Fact]
    public async Task Compactions_share_one_DuckDB_replaced_after_its_count_or_a_failure_and_closed_at_the_end()
    {
        var table = await AppendAsync("delta/clean", 2, 2);
        var compactor = new StreamCompactor("t_pin_table", _store, "delta/clean", "delta/rejects", Work, 2, 8L << 20,
            _loggers.CreateLogger("pinpipe.stream"), _loggers, TimeProvider.System, reopenDbEvery: 3);
        compactor.Resumed((await table.LoadAsync())!, null);

        Assert.False(compactor.DbOpen);
        var opens = new List<long>();
        for (int i = 1; i <= 4; i++)
        {
            if (i > 1)
            {
                await AppendAsync("delta/clean", 2);
                compactor.CleanAppended(1);
            }
            await StartUntil(compactor, () => compactor.Compactions == i);
            opens.Add(compactor.DbOpens);
            Assert.True(compactor.DbOpen, $"the DuckDB was closed after compaction {i}");
        }
        Assert.Equal([1, 1, 1, 2], opens); // the fourth compaction is the first on a new DuckDB

        // A failed compaction closes its DuckDB: the next one opens another, though the count is not reached.
        var before = (await table.LoadAsync())!;
        await AppendAsync("delta/clean", 2);
        compactor.CleanAppended(1);
        string missing = before.KeyOf(before.Files[0]);
        string moved = _dir.File("moved.parquet");
        File.Move(_store.LocalPath(missing)!, moved);
        await StartUntil(compactor, () => compactor.Failures == 1);
        Assert.False(compactor.DbOpen);
        File.Move(moved, _store.LocalPath(missing)!);
        await compactor.FinishAsync(); // a graceful stop compacts what is due, on a new DuckDB, and closes it
        Assert.Equal(5, compactor.Compactions);
        Assert.Equal(3, compactor.DbOpens);
        Assert.False(compactor.DbOpen);
        Assert.Single((await table.LoadAsync())!.Files);
    }

    /// <summary>
    /// The job's tables share one <see cref="MaintenanceSlot"/>: a compaction that comes due while another table's work holds
    /// it waits for a later start, and a compaction holds it while it runs.
    /// </summary>
    [Fact]
    public async Task A_table_behind_its_stream_puts_its_compaction_off_until_it_catches_up_or_holds_twice_the_files()
    {
        var table = await AppendAsync("delta/clean", 2, 2, 2);
        var compactor = NewCompactor(compactEvery: 2);
        compactor.Resumed((await table.LoadAsync())!, null);

        // Due (3 small files of 2), but behind: put off while it has fewer than 2 × 2, logged once however often it is asked.
        for (int i = 0; i < 3; i++) await compactor.StartAsync(behind: true);
        await compactor.EndAsync();
        Assert.Equal(0, compactor.Compactions);
        Assert.Equal(1, compactor.PutOff);
        Assert.Equal(3, (await table.LoadAsync())!.Files.Count);
        Assert.Single(_logs.Entries, e => e.Message.Contains("t_pin_table: behind its stream; its compaction waits until it catches up (or has 4 small files).", StringComparison.Ordinal));

        // Caught up: the next start compacts.
        await compactor.StartAsync(behind: false);
        await StartUntil(compactor, () => compactor.Compactions == 1);
        Assert.Single((await table.LoadAsync())!.Files);
        Assert.Contains(_logs.Entries, e => e.Message.Contains("t_pin_table: no compaction put off now (the bound is 4 small files).", StringComparison.Ordinal));

        // Behind, with the bound reached (1 compacted + 3 new = 4 small files): compacted anyway, nothing put off.
        await AppendAsync("delta/clean", 2, 2, 2);
        compactor.CleanAppended(3);
        await compactor.StartAsync(behind: true);
        while (compactor.Compactions < 2)
        {
            await Task.Delay(20);
            await compactor.StartAsync(behind: true);
        }
        await compactor.EndAsync();
        Assert.Equal(1, compactor.PutOff);
        Assert.Single((await table.LoadAsync())!.Files);
    }

    [Fact]
    public async Task A_due_compaction_waits_while_the_jobs_maintenance_slot_is_taken_and_holds_it_while_it_runs()
    {
        var table = await AppendAsync("delta/clean", 2, 2, 2);
        var slot = new MaintenanceSlot();
        var compactor = new StreamCompactor("t_geo_table", _store, "delta/clean", "delta/rejects", Work, 2, 8L << 20,
            _loggers.CreateLogger("pinpipe.stream"), _loggers, TimeProvider.System, slot: slot);
        compactor.Resumed((await table.LoadAsync())!, null);

        // Another table's work holds the slot: however often it is asked, the due compaction does not start.
        Assert.True(slot.TryTake());
        for (int i = 0; i < 3; i++) await compactor.StartAsync();
        await compactor.EndAsync();
        Assert.Equal(0, compactor.Compactions);
        Assert.Equal(3, (await table.LoadAsync())!.Files.Count);

        // Free again: the next start runs it, holding the slot until it ends.
        slot.Release();
        await compactor.StartAsync();
        Assert.True(slot.Taken);
        Assert.False(slot.TryTake());
        await StartUntil(compactor, () => compactor.Compactions == 1);
        // The compaction is counted just before its task ends and gives the slot back: wait for that end, bounded.
        for (var waited = System.Diagnostics.Stopwatch.StartNew(); slot.Taken && waited.Elapsed < TimeSpan.FromSeconds(10);) await Task.Delay(5);
        Assert.False(slot.Taken);
        Assert.Single((await table.LoadAsync())!.Files);

        // A failed compaction releases it too.
        await AppendAsync("delta/clean", 2);
        compactor.CleanAppended(1);
        var before = (await table.LoadAsync())!;
        string missing = before.KeyOf(before.Files[0]);
        File.Move(_store.LocalPath(missing)!, _dir.File("moved.parquet"));
        await StartUntil(compactor, () => compactor.Failures == 1);
        Assert.False(slot.Taken);
    }

    [Fact]
    public async Task A_compactions_DuckDB_work_runs_on_the_low_priority_threads_it_is_given_and_keeps_the_rows_and_stats()
    {
        var table = await AppendAsync("delta/clean", 3, 4, 5);
        var before = (await table.LoadAsync())!;
        using var scheduler = new LowPriorityScheduler(1, 9, "test-compact");
        var store = new LogWritersStore(_store);
        var compactor = new StreamCompactor("t_user_table", store, "delta/clean", "delta/rejects", Work, 3, 8L << 20,
            _loggers.CreateLogger("pinpipe.stream"), _loggers, TimeProvider.System, runner: scheduler);
        compactor.Resumed(before, null);

        await StartUntil(compactor, () => compactor.Compactions == 1);
        await compactor.EndAsync();

        // The rewrite of the bin and the new file's stats: two pieces of work, both on the scheduler's thread.
        Assert.Equal(2, scheduler.Executed);
        // The commit after them went on at the normal priority: it holds the table's commit gate, which the micro-batches wait for.
        var commit = Assert.Single(store.Writers, w => w.Key.EndsWith(".json", StringComparison.Ordinal));
        Assert.NotEqual("test-compact-0", commit.Thread); // the lowered thread
        Assert.NotEqual(9, commit.Nice);
        var after = (await new DeltaTable(_store, "delta/clean").LoadAsync())!;
        var file = Assert.Single(after.Files);
        Assert.Equal(await RowsAsync(before), await RowsAsync(after));
        // Stats as a commit computes them from the file: 12 records, ind from 0 to 11, no nulls.
        using var stats = System.Text.Json.JsonDocument.Parse(file.Stats!);
        Assert.Equal(12, stats.RootElement.GetProperty("numRecords").GetInt64());
        Assert.Equal(0, stats.RootElement.GetProperty("minValues").GetProperty("ind").GetInt64());
        Assert.Equal(11, stats.RootElement.GetProperty("maxValues").GetProperty("ind").GetInt64());
        Assert.Equal(0, stats.RootElement.GetProperty("nullCount").GetProperty("name").GetInt64());
    }

    [Fact]
    public async Task Larger_files_are_compacted_tier_by_tier_up_to_the_target_size_and_files_at_the_target_are_left_alone()
    {
        // Four medium files (one tier above the small ones), two small ones and one file at the target size.
        var table = await AppendAsync("delta/clean", 60, 60, 60, 60, 5, 5, 3_000);
        var before = (await table.LoadAsync())!;
        var bySize = before.Files.OrderBy(f => f.Size).ToArray();
        var small = bySize[..2];
        var medium = bySize[2..6];
        var target = bySize[6];
        long smallFileBytes = small.Max(f => f.Size) + 1;
        long targetFileBytes = target.Size;
        Assert.True(medium.All(f => f.Size >= smallFileBytes && f.Size < 4 * smallFileBytes) && medium.Sum(f => f.Size) <= targetFileBytes,
            $"the test needs four files of the tier above the small ones that fit in one target-sized file: {string.Join(", ", before.Files.Select(f => f.Size))}");
        var compactor = NewCompactor(compactEvery: 2, smallFileBytes, targetFileBytes);
        compactor.Resumed(before, null);

        await compactor.FinishAsync();

        var after = (await table.LoadAsync())!;
        Assert.Equal(before.Version + 1, after.Version); // one OPTIMIZE commit for both tiers
        Assert.Equal(3, after.Files.Count); // the small ones into one, the medium ones into one, the large one as it was
        Assert.Contains(after.Files, f => f.Path == target.Path);
        Assert.DoesNotContain(after.Files, f => small.Concat(medium).Any(b => b.Path == f.Path));
        Assert.Equal(await RowsAsync(before), await RowsAsync(after));
        // What it read (both bins) and how long it took, in the same line.
        string mib = (small.Concat(medium).Sum(f => f.Size) / (1024.0 * 1024.0)).ToString("0.0", CultureInfo.InvariantCulture);
        var line = Assert.Single(_logs.Entries, e => e.Message.StartsWith("t_pin_table: compacted 2 small files of delta/clean into one and 4 larger files into one", StringComparison.Ordinal));
        Assert.Matches($@"^t_pin_table: compacted 2 small files of delta/clean into one and 4 larger files into one: {Regex.Escape(mib)} MiB in \d+\.\d\d s \(Delta v{after.Version}\)\.$", line.Message);
        Assert.Equal(1, compactor.Compactions);
    }

    /// <summary>The directory store, recording which thread (its name and nice value) wrote each object of a Delta log; its local paths stay visible, as the job sees them.</summary>
    /// <summary>Calls <see cref="OnCommit"/> with the key of each Delta commit before it is written (local paths kept).</summary>
    private sealed class CommitWatchingStore(IObjectStore store) : RemoteLikeStore(store), IObjectStore
    {
        private readonly IObjectStore _store = store;

        string? IObjectStore.LocalPath(string key) => _store.LocalPath(key);

        public Action<string>? OnCommit { get; set; }

        public List<(string Key, List<(string File, string[] From)> Rewrites)> Taken { get; } = [];

        public override ValueTask<bool> PutIfAbsentAsync(string key, ReadOnlyMemory<byte> content, CancellationToken cancellationToken = default)
        {
            if (key.Contains("/_delta_log/", StringComparison.Ordinal) && key.EndsWith(".json", StringComparison.Ordinal)) OnCommit?.Invoke(key);
            return base.PutIfAbsentAsync(key, content, cancellationToken);
        }
    }

    private sealed class LogWritersStore(IObjectStore store) : RemoteLikeStore(store), IObjectStore
    {
        private readonly IObjectStore _store = store;

        string? IObjectStore.LocalPath(string key) => _store.LocalPath(key);

        public System.Collections.Concurrent.ConcurrentQueue<(string Key, string? Thread, int? Nice)> Writers { get; } = new();

        public override ValueTask PutAsync(string key, ReadOnlyMemory<byte> content, CancellationToken cancellationToken = default)
        {
            Record(key);
            return base.PutAsync(key, content, cancellationToken);
        }

        public override ValueTask<bool> PutIfAbsentAsync(string key, ReadOnlyMemory<byte> content, CancellationToken cancellationToken = default)
        {
            Record(key);
            return base.PutIfAbsentAsync(key, content, cancellationToken);
        }

        private void Record(string key)
        {
            if (key.Contains("/_delta_log/", StringComparison.Ordinal))
                Writers.Enqueue((key, Thread.CurrentThread.Name, LowPriorityScheduler.CurrentThreadNice()));
        }
    }
}
