using PinPipe.DuckDb;
using Xunit;

namespace PinPipe.Tests.DuckDb;

public sealed class FreedMemoryTests
{
    [Fact]
    public void On_linux_both_the_jemalloc_purge_and_malloc_trim_are_found_and_repeated_calls_are_safe()
    {
        // The batch job's flat peak (BENCHMARKS.md, history) rests on these two calls existing in DuckDB's native
        // library and in glibc: a DuckDB.NET upgrade that stops exporting duckdb_je_mallctl must fail here, not silently.
        using (var connection = DuckDbSession.Open(new DuckDbSettings { Threads = 1, MemoryLimit = "256MB" }))
            connection.Execute("CREATE TABLE t AS SELECT range AS i, repeat('x', 100) AS s FROM range(200000); DROP TABLE t");
        var first = FreedMemory.Release();
        var second = FreedMemory.Release();
        if (OperatingSystem.IsLinux())
        {
            Assert.True(first.Jemalloc, "duckdb_je_mallctl was not found in DuckDB's native library");
            Assert.True(first.Glibc, "malloc_trim was not found in libc");
        }
        else Assert.False(first.Glibc);
        Assert.Equal(first, second);
    }

    [Fact]
    public void SetDecay_sets_jemallocs_decay_for_the_arenas_in_use_refuses_an_invalid_one_and_DuckDB_keeps_working()
    {
        // The stream job's flat RSS (BENCHMARKS.md, soak) rests on this: with DuckDB's 1-second decay the process also
        // holds what it freed lately, and every instance that closes purges all of it at once.
        using (var connection = DuckDbSession.Open(new DuckDbSettings { Threads = 1, MemoryLimit = "256MB" }))
            connection.Execute("CREATE TABLE t AS SELECT range AS i FROM range(100000); DROP TABLE t"); // arena 0 in use
        long? before = FreedMemory.DirtyDecay(0);
        try
        {
            var atDuckDbs = FreedMemory.SetDecay(1000); // DuckDB's own (another test's stream job may have changed it)
            var soon = FreedMemory.SetDecay(100);
            if (!OperatingSystem.IsLinux())
            {
                Assert.Equal(DecayResult.NoJemalloc, soon);
                return;
            }
            Assert.Equal(DecayResult.Set, atDuckDbs);
            Assert.Equal(DecayResult.Set, soon);
            Assert.NotNull(before);
            // A stream job of another test, starting meanwhile, sets its own (Stream:FreedMemoryDecay): read until this
            // one's setting is seen, each time right after setting it.
            long? seen = FreedMemory.DirtyDecay(0);
            for (int attempt = 0; attempt < 20 && seen != 100; attempt++)
            {
                FreedMemory.SetDecay(100);
                seen = FreedMemory.DirtyDecay(0);
            }
            Assert.Equal(100L, seen);
            // jemalloc takes -1 (never) and up to its longest time; below -1 it answers an error, which is not "no jemalloc".
            Assert.Equal(DecayResult.Refused, FreedMemory.SetDecay(-2));
            using var db = DuckDbSession.Open(new DuckDbSettings { Threads = 1, MemoryLimit = "256MB" });
            Assert.Equal(4_999_950_000L, db.QueryLongs("SELECT sum(range)::BIGINT FROM range(100000)")[0]);
            Assert.Null(FreedMemory.DirtyDecay(100_000)); // an arena that does not exist: no value, no crash
        }
        finally
        {
            if (before is { } ms) FreedMemory.SetDecay(ms);
        }
    }
}
