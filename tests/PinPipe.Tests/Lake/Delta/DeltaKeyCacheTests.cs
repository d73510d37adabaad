using PinPipe.Lake.Delta;

namespace PinPipe.Tests.Lake.Delta;

public sealed class DeltaKeyCacheTests
{
    private static DeltaFile File(string path) => new(path, new Dictionary<string, string?>(), 1, 0, null);

    [Fact]
    public void Keys_are_kept_while_they_fit_the_budget_and_a_file_no_longer_live_gives_its_bytes_back()
    {
        var cache = new DeltaKeyCache(5 * sizeof(long));
        Assert.True(cache.Fits(5));
        Assert.False(cache.Fits(6));
        Assert.True(cache.TryAdd("a.parquet", [1, 2, 3]));
        Assert.True(cache.TryAdd("a.parquet", [1, 2, 3])); // already kept: nothing added
        Assert.Equal((1, 3L * sizeof(long)), (cache.FileCount, cache.Bytes));
        Assert.False(cache.Fits(3));
        Assert.False(cache.TryAdd("b.parquet", [4, 5, 6])); // 6 keys would not fit
        Assert.True(cache.TryAdd("c.parquet", [7, 8]));
        Assert.Equal((2, 5L * sizeof(long)), (cache.FileCount, cache.Bytes));
        Assert.True(cache.TryGet("c.parquet", out var keys));
        Assert.Equal([7L, 8L], keys);
        Assert.False(cache.TryGet("b.parquet", out _));

        cache.Retain(new Dictionary<string, DeltaFile> { ["c.parquet"] = File("c.parquet"), ["d.parquet"] = File("d.parquet") });
        Assert.Equal((1, 2L * sizeof(long)), (cache.FileCount, cache.Bytes));
        Assert.False(cache.TryGet("a.parquet", out _));
        Assert.True(cache.TryAdd("b.parquet", [4, 5, 6]));
        Assert.Throws<ArgumentOutOfRangeException>(() => new DeltaKeyCache(-1));
    }

    [Fact]
    public void A_compacted_file_gets_the_union_of_the_keys_kept_for_the_files_it_replaced_when_all_are_kept_and_it_fits()
    {
        var cache = new DeltaKeyCache(12 * sizeof(long));
        Assert.True(cache.TryAdd("a.parquet", [1, 5, 9]));
        Assert.True(cache.TryAdd("b.parquet", [2, 5]));
        Assert.True(cache.TryAdd("c.parquet", [3]));
        Assert.True(cache.TryAddUnion("abc.parquet", ["a.parquet", "b.parquet", "c.parquet"]));
        Assert.True(cache.TryGet("abc.parquet", out var keys));
        Assert.Equal([1L, 2L, 3L, 5L, 9L], keys); // 5, in two of them, once
        Assert.True(cache.TryGet("a.parquet", out _)); // the files replaced stay until they are no longer live
        Assert.Equal((4, 11L * sizeof(long)), (cache.FileCount, cache.Bytes));

        Assert.False(cache.TryAddUnion("ax.parquet", ["a.parquet", "x.parquet"])); // x's keys are not kept
        Assert.False(cache.TryAddUnion("ab.parquet", ["a.parquet", "b.parquet"])); // 5 keys, 1 left in the budget
        Assert.False(cache.TryAddUnion("none.parquet", []));
        Assert.Equal((4, 11L * sizeof(long)), (cache.FileCount, cache.Bytes));
        Assert.False(cache.TryGet("ab.parquet", out _));

        // Handed over before its commit: checks on the version before it keep it, and the replaced files.
        var before = new Dictionary<string, DeltaFile> { ["a.parquet"] = File("a.parquet"), ["b.parquet"] = File("b.parquet"), ["c.parquet"] = File("c.parquet") };
        cache.Retain(before);
        cache.Retain(before);
        Assert.Equal((4, 11L * sizeof(long)), (cache.FileCount, cache.Bytes));
        // Its commit landed: the replaced files leave, it stays, and from now on it leaves as any file once no longer live.
        cache.Retain(new Dictionary<string, DeltaFile> { ["abc.parquet"] = File("abc.parquet") });
        Assert.Equal((1, 5L * sizeof(long)), (cache.FileCount, cache.Bytes));
        cache.Retain(new Dictionary<string, DeltaFile> { ["d.parquet"] = File("d.parquet") });
        Assert.Equal((0, 0L), (cache.FileCount, cache.Bytes));

        // One whose commit never lands (it failed) leaves after MaxPendingChecks checks.
        Assert.True(cache.TryAdd("e.parquet", [1, 2]));
        Assert.True(cache.TryAddUnion("failed.parquet", ["e.parquet"]));
        var without = new Dictionary<string, DeltaFile> { ["e.parquet"] = File("e.parquet") };
        for (int i = 0; i < DeltaKeyCache.MaxPendingChecks; i++) cache.Retain(without);
        Assert.True(cache.TryGet("failed.parquet", out _));
        cache.Retain(without);
        Assert.False(cache.TryGet("failed.parquet", out _));
        Assert.Equal((1, 2L * sizeof(long)), (cache.FileCount, cache.Bytes));
    }
}
