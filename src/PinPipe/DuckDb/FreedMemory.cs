using System.Runtime.InteropServices;

namespace PinPipe.DuckDb;

/// <summary>
/// Hands memory that DuckDB and the C heap have freed back to the system, as DuckDB's own <c>Allocator::FlushAll</c> does
/// when an instance closes: a purge of every jemalloc arena (DuckDB's Linux builds link jemalloc and export its
/// <c>mallctl</c> as <c>duckdb_je_mallctl</c>) and glibc's <c>malloc_trim(0)</c>.
/// </summary>
/// <remarks>
/// Between the phases of a long job (the batch job's read, clean and write per table) the pages a finished phase freed
/// are otherwise kept for reuse and returned on a timer, so the process's peak depends on when the next phase runs
/// relative to that timer: the same run peaked anywhere from 480 to 700 MB. Purged at the phase boundaries the peak is
/// the largest phase's own working set, run after run. Elsewhere (macOS, Windows, musl) the calls do not exist and
/// this does nothing.
/// </remarks>
internal static class FreedMemory
{
    /// <summary>jemalloc's <c>MALLCTL_ARENAS_ALL</c>: the pseudo-arena index that means every arena.</summary>
    private const string PurgeAllArenas = "arena.4096.purge";

    private static int s_jemalloc = 1, s_glibc = 1; // 0 once the call turned out not to exist here

    [DefaultDllImportSearchPaths(DllImportSearchPath.SafeDirectories)]
    [DllImport("duckdb", EntryPoint = "duckdb_je_mallctl", CharSet = CharSet.Ansi, BestFitMapping = false, ThrowOnUnmappableChar = true)]
    private static extern int JeMallctl(string name, nint oldValue, nint oldLength, nint newValue, nuint newLength);

    [DefaultDllImportSearchPaths(DllImportSearchPath.SafeDirectories)]
    [DllImport("libc", EntryPoint = "malloc_trim")]
    private static extern int MallocTrim(nuint pad);

    /// <summary>Returns the freed pages of DuckDB's allocator and of the C heap to the system (a few milliseconds).</summary>
    /// <returns>Which of the two this platform has (a call that does not exist here is not tried again).</returns>
    public static (bool Jemalloc, bool Glibc) Release()
    {
        if (Volatile.Read(ref s_jemalloc) == 1)
        {
            try { _ = JeMallctl(PurgeAllArenas, 0, 0, 0, 0); }
            catch (Exception ex) when (ex is DllNotFoundException or EntryPointNotFoundException) { Volatile.Write(ref s_jemalloc, 0); }
        }
        if (Volatile.Read(ref s_glibc) == 1)
        {
            try
            {
                if (OperatingSystem.IsLinux()) _ = MallocTrim(0);
                else Volatile.Write(ref s_glibc, 0);
            }
            catch (Exception ex) when (ex is DllNotFoundException or EntryPointNotFoundException) { Volatile.Write(ref s_glibc, 0); }
        }
        return (Volatile.Read(ref s_jemalloc) == 1, Volatile.Read(ref s_glibc) == 1);
    }
}
