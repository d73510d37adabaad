using PinPipe.Lake.Delta;
using PinPipe.Lake.Directory;
using PinPipe.Tests.Support;
using static PinPipe.Tests.Lake.Delta.DeltaTestKit;

namespace PinPipe.Tests.Lake.Delta;

/// <summary><see cref="DeltaSnapshot.OpenKeyScanAsync"/>: only the files whose key stats allow one of the keys are read.</summary>
public sealed class DeltaKeyScanTests : IDisposable
{
    private static readonly DeltaSchema Schema = new(new DeltaField("ind", DeltaType.Long), new DeltaField("title", DeltaType.String));

    private readonly TempDirectory _temp = new("delta-key-scan");
    private readonly DirectoryObjectStore _store;

    public DeltaKeyScanTests() => _store = new DirectoryObjectStore(_temp.Path, "bucket");

    public void Dispose() => _temp.Dispose();

    [Theory]
    [InlineData(new long[] { 20, 21 }, 0, new long[0])] // above every file's range: nothing read
    [InlineData(new long[] { 4, 5, 9 }, 0, new long[0])] // between the two ranges
    [InlineData(new long[] { 11, 11, 30 }, 1, new long[] { 11 })] // duplicates allowed; one file can hold them
    [InlineData(new long[] { 2, 12 }, 2, new long[] { 2, 12 })]
    [InlineData(new long[0], 0, new long[0])]
    public async Task Only_files_whose_range_holds_a_key_are_read_and_the_scan_finds_the_held_keys(long[] keys, int filesRead, long[] held)
    {
        var snapshot = await TwoFilesAsync();
        using var scan = await snapshot.OpenKeyScanAsync("ind", keys);
        Assert.Equal((filesRead, 2 - filesRead), (scan.FilesRead, scan.FilesSkipped));
        using var c = OpenDuckDb();
        string wanted = keys.Length == 0 ? "NULL" : string.Join(", ", keys);
        var found = Query(c, $"SELECT DISTINCT ind FROM {scan.Sql} AS t WHERE ind IN ({wanted}) ORDER BY ind").Select(r => (long)r[0]!).ToArray();
        Assert.Equal(held, found);
        // The scan of no file still has the column, typed as the table's.
        Assert.Equal("BIGINT", Query(c, $"SELECT typeof(ind) FROM (SELECT * FROM {scan.Sql} AS t UNION ALL SELECT 0) LIMIT 1").Single()[0]);
    }

    [Fact]
    public async Task A_column_not_in_the_table_is_refused_even_when_no_file_is_read()
    {
        var snapshot = await TwoFilesAsync();
        await Assert.ThrowsAsync<ArgumentException>(() => snapshot.OpenKeyScanAsync("nope", []));
    }

    [Fact]
    public async Task With_a_cache_each_file_is_read_once_and_the_next_checks_take_its_keys_from_the_cache()
    {
        var snapshot = await TwoFilesAsync();
        var cache = new DeltaKeyCache(1 << 20);
        using (var first = await snapshot.OpenKeyScanAsync("ind", [2, 12, 30], cache))
        {
            Assert.Equal((2, 0, 0, 0), (first.FilesRead, first.FilesSkipped, first.FilesScanned, first.FilesCached));
            Assert.Equal([2L, 12L], first.HeldKeys);
            using var c = OpenDuckDb();
            Assert.Equal(0L, Query(c, $"SELECT count(*) FROM {first.Sql} AS t").Single()[0]); // every file went to the cache: the scan reads none
        }
        Assert.Equal((2, 6L * sizeof(long)), (cache.FileCount, cache.Bytes));

        // Spoil both files: a check that read them would fail.
        foreach (var file in snapshot.Files) await File.WriteAllTextAsync(_store.LocalPath(snapshot.KeyOf(file))!, "not parquet");
        using var second = await snapshot.OpenKeyScanAsync("ind", [1, 3, 5, 11, 13], cache);
        Assert.Equal((0, 0, 0, 2), (second.FilesRead, second.FilesSkipped, second.FilesScanned, second.FilesCached));
        Assert.Equal([1L, 3L, 11L], second.HeldKeys);
        // The stats still rule files out before the cache is looked at.
        using var third = await snapshot.OpenKeyScanAsync("ind", [20], cache);
        Assert.Equal((0, 2, 0, 0), (third.FilesRead, third.FilesSkipped, third.FilesScanned, third.FilesCached));
        Assert.Empty(third.HeldKeys);
    }

    [Fact]
    public async Task Files_whose_keys_do_not_fit_the_cache_are_scanned_at_each_check_and_the_keys_found_are_those_of_both()
    {
        var snapshot = await TwoFilesAsync();
        var cache = new DeltaKeyCache(3 * sizeof(long)); // one file's three keys: the first by path (the paths are random)
        long? cachedKey = null;
        for (int check = 0; check < 2; check++)
        {
            using var scan = await snapshot.OpenKeyScanAsync("ind", [2, 12], cache);
            Assert.Equal(check == 0 ? (2, 1, 0) : (1, 1, 1), (scan.FilesRead, scan.FilesScanned, scan.FilesCached));
            long held = Assert.Single(scan.HeldKeys); // the cached file's
            Assert.True(held is 2 or 12, $"held {held}");
            Assert.Equal(cachedKey ??= held, held); // the same file stays cached
            using var c = OpenDuckDb();
            var scanned = Query(c, $"SELECT DISTINCT ind FROM {scan.Sql} AS t WHERE ind IN (2, 12) ORDER BY ind").Select(r => (long)r[0]!).ToArray();
            Assert.Equal([held == 2 ? 12L : 2L], scanned); // the other file's
        }
        Assert.Equal((1, 3L * sizeof(long)), (cache.FileCount, cache.Bytes));

        // No budget: as without a cache.
        using var none = await snapshot.OpenKeyScanAsync("ind", [2, 12], new DeltaKeyCache(0));
        Assert.Equal((2, 2, 0), (none.FilesRead, none.FilesScanned, none.FilesCached));
        Assert.Empty(none.HeldKeys);
    }

    [Fact]
    public async Task A_check_reads_at_most_MaxFilesLoadedPerCheck_files_into_the_cache_and_scans_the_others()
    {
        int files = DeltaSnapshot.MaxFilesLoadedPerCheck + 3;
        var paths = Enumerable.Range(0, files)
            .Select(f => WriteParquet(_temp.Path, $"SELECT CAST({f * 10} + i AS BIGINT) AS ind, 'pin' AS title FROM range(0, 2) r(i)")).ToArray();
        var table = new DeltaTable(_store, "many");
        await table.CommitAsync(new DeltaWrite(Schema, paths));
        var snapshot = (await table.LoadAsync())!;
        long[] keys = Enumerable.Range(0, files).Select(f => f * 10L).ToArray();
        var cache = new DeltaKeyCache(1 << 20);
        (int Read, int Scanned, int Cached)[] expected = [(files, 3, 0), (3, 0, DeltaSnapshot.MaxFilesLoadedPerCheck), (0, 0, files)];
        foreach (var (read, scanned, cached) in expected)
        {
            using var scan = await snapshot.OpenKeyScanAsync("ind", keys, cache);
            Assert.Equal((read, scanned, cached), (scan.FilesRead, scan.FilesScanned, scan.FilesCached));
            using var c = OpenDuckDb();
            var fromScan = Query(c, $"SELECT DISTINCT ind FROM {scan.Sql} AS t WHERE ind % 10 = 0").Select(r => (long)r[0]!);
            Assert.Equal(keys, scan.HeldKeys.Concat(fromScan).Order().ToArray()); // every key found, once from either side
            Assert.Equal(keys.Length - 3 * Math.Sign(scanned), scan.HeldKeys.Count);
        }
    }

    [Fact]
    public async Task A_file_no_longer_live_leaves_the_cache_at_the_next_check()
    {
        string low = WriteParquet(_temp.Path, "SELECT CAST(i AS BIGINT) AS ind, 'pin ' || i AS title FROM range(1, 4) r(i)");
        string high = WriteParquet(_temp.Path, "SELECT CAST(i AS BIGINT) AS ind, 'pin ' || i AS title FROM range(10, 13) r(i)");
        var table = new DeltaTable(_store, "keys");
        await table.CommitAsync(new DeltaWrite(Schema, [low]));
        await table.CommitAsync(new DeltaWrite(Schema, [high]));
        var cache = new DeltaKeyCache(1 << 20);
        using (await (await table.LoadAsync())!.OpenKeyScanAsync("ind", [2, 11], cache)) { }
        Assert.Equal(2, cache.FileCount);
        // Overwrite: both files removed, one new file of 1..12.
        string all = WriteParquet(_temp.Path, "SELECT CAST(i AS BIGINT) AS ind, 'pin ' || i AS title FROM range(1, 13) r(i)");
        await table.CommitAsync(new DeltaWrite(Schema, [all]) { Mode = DeltaWriteMode.Overwrite });
        using var scan = await (await table.LoadAsync())!.OpenKeyScanAsync("ind", [5], cache);
        Assert.Equal((1, 0, 0), (scan.FilesRead, scan.FilesScanned, scan.FilesCached));
        Assert.Equal([5L], scan.HeldKeys);
        Assert.Equal((1, 12L * sizeof(long)), (cache.FileCount, cache.Bytes));
    }

    [Fact]
    public async Task From_a_store_without_local_files_a_check_downloads_the_files_it_loads_into_the_cache_at_once()
    {
        const int files = 4;
        var paths = Enumerable.Range(0, files)
            .Select(f => WriteParquet(_temp.Path, $"SELECT CAST({f * 10} + i AS BIGINT) AS ind, 'pin' AS title FROM range(0, 3) r(i)")).ToArray();
        await new DeltaTable(_store, "remote").CommitAsync(new DeltaWrite(Schema, paths));
        var store = new GatedDownloadsStore(_store, files);
        var snapshot = (await new DeltaTable(store, "remote").LoadAsync())!;
        var cache = new DeltaKeyCache(1 << 20);
        long[] keys = [1, 12, 22, 31, 40];
        using (var scan = await snapshot.OpenKeyScanAsync("ind", keys, cache))
        {
            Assert.Equal((files, 0, 0), (scan.FilesRead, scan.FilesScanned, scan.FilesCached));
            Assert.Equal([1L, 12L, 22L, 31L], scan.HeldKeys);
        }
        // Every download was under way before any finished: one after the other, the first would have waited alone.
        Assert.Equal(files, store.MostAtOnce);
        Assert.Equal(files, store.Downloads);
        Assert.Equal((files, files * 3L * sizeof(long)), (cache.FileCount, cache.Bytes));

        // A file gone from the bucket fails the check, naming it, and nothing goes into the cache.
        File.Delete(_store.LocalPath(snapshot.KeyOf(snapshot.Files[2]))!);
        var fresh = new DeltaKeyCache(1 << 20);
        var error = await Assert.ThrowsAsync<DeltaException>(() => snapshot.OpenKeyScanAsync("ind", keys, fresh));
        Assert.Contains(snapshot.Files[2].Path, error.Message, StringComparison.Ordinal);
        Assert.Equal(0, fresh.FileCount);
    }

    /// <summary>Hides local paths, and holds each data file's download until <paramref name="expected"/> are under way (or 5 s passed).</summary>
    private sealed class GatedDownloadsStore(PinPipe.Lake.IObjectStore inner, int expected) : RemoteLikeStore(inner)
    {
        private readonly TaskCompletionSource _all = new(TaskCreationOptions.RunContinuationsAsynchronously);
        private int _inFlight, _mostAtOnce, _downloads;

        public int MostAtOnce => Volatile.Read(ref _mostAtOnce);

        public int Downloads => Volatile.Read(ref _downloads);

        public override async ValueTask<Stream?> OpenReadAsync(string key, CancellationToken cancellationToken = default)
        {
            if (!key.EndsWith(".parquet", StringComparison.Ordinal)) return await base.OpenReadAsync(key, cancellationToken);
            Interlocked.Increment(ref _downloads);
            int now = Interlocked.Increment(ref _inFlight);
            InterlockedMax(ref _mostAtOnce, now);
            if (now >= expected) _all.TrySetResult();
            try
            {
                await Task.WhenAny(_all.Task, Task.Delay(TimeSpan.FromSeconds(5), cancellationToken));
                return await base.OpenReadAsync(key, cancellationToken);
            }
            finally
            {
                Interlocked.Decrement(ref _inFlight);
            }
        }

        private static void InterlockedMax(ref int target, int value)
        {
            int seen;
            while ((seen = Volatile.Read(ref target)) < value && Interlocked.CompareExchange(ref target, value, seen) != seen) { }
        }
    }

    /// <summary>A table of two files: ind 1..3 and ind 10..12.</summary>
    private async Task<DeltaSnapshot> TwoFilesAsync()
    {
        string low = WriteParquet(_temp.Path, "SELECT CAST(i AS BIGINT) AS ind, 'pin ' || i AS title FROM range(1, 4) r(i)");
        string high = WriteParquet(_temp.Path, "SELECT CAST(i AS BIGINT) AS ind, 'pin ' || i AS title FROM range(10, 13) r(i)");
        var table = new DeltaTable(_store, "keys");
        await table.CommitAsync(new DeltaWrite(Schema, [low]));
        await table.CommitAsync(new DeltaWrite(Schema, [high]));
        return (await table.LoadAsync())!;
    }
}
