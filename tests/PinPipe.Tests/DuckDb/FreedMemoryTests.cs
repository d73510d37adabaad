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
}
