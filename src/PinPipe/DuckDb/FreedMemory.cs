using System.Globalization;
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

    /// <summary>
    /// Sets jemalloc's dirty and muzzy decay of every arena, and of arenas created later: how long pages that DuckDB's
    /// allocator frees stay with the process before they go back to the system. Process-wide, and kept until the process
    /// ends or the next call.
    /// </summary>
    /// <remarks>
    /// For a long-running job whose working set is small and steady (the stream job): with DuckDB's decay of 1 second the
    /// process holds its working set plus whatever it freed in the last second, and any DuckDB instance that closes purges
    /// all of it at once (its <c>Allocator::FlushAll</c>). A decay of 0 keeps the RSS at the working set but costs each
    /// query page faults and TLB shootdowns for every page it touches again: a micro-batch of 1,000 pins cleaned in 38–41
    /// ms instead of 21–26 ms (BENCHMARKS.md).
    /// </remarks>
    /// <returns>
    /// <see cref="DecayResult.Set"/>; <see cref="DecayResult.NoJemalloc"/> where this platform's DuckDB has no jemalloc
    /// (macOS, Windows, musl: nothing changes); <see cref="DecayResult.Refused"/> when jemalloc answered the setting with
    /// an error (an out-of-range value).
    /// </returns>
    internal static DecayResult SetDecay(long milliseconds)
    {
        if (Volatile.Read(ref s_jemalloc) == 0) return DecayResult.NoJemalloc;
        nint value = Marshal.AllocHGlobal(nint.Size);
        try
        {
            Marshal.WriteIntPtr(value, (nint)milliseconds); // ssize_t
            if (JeMallctl("arenas.dirty_decay_ms", 0, 0, value, (nuint)nint.Size) != 0) return DecayResult.Refused;
            _ = JeMallctl("arenas.muzzy_decay_ms", 0, 0, value, (nuint)nint.Size);
            uint arenas = Arenas();
            for (uint i = 0; i < arenas; i++)
            {
                // An arena index not yet in use answers EFAULT; it takes the defaults set above when it is created.
                _ = JeMallctl(string.Create(CultureInfo.InvariantCulture, $"arena.{i}.dirty_decay_ms"), 0, 0, value, (nuint)nint.Size);
                _ = JeMallctl(string.Create(CultureInfo.InvariantCulture, $"arena.{i}.muzzy_decay_ms"), 0, 0, value, (nuint)nint.Size);
            }
            return DecayResult.Set;
        }
        catch (Exception ex) when (ex is DllNotFoundException or EntryPointNotFoundException)
        {
            Volatile.Write(ref s_jemalloc, 0);
            return DecayResult.NoJemalloc;
        }
        finally
        {
            Marshal.FreeHGlobal(value);
        }
    }

    /// <summary>jemalloc's dirty decay of arena <paramref name="arena"/> in milliseconds; null when it cannot be read.</summary>
    internal static long? DirtyDecay(uint arena)
    {
        if (Volatile.Read(ref s_jemalloc) == 0) return null;
        nint value = Marshal.AllocHGlobal(nint.Size), length = Marshal.AllocHGlobal(nint.Size);
        try
        {
            Marshal.WriteIntPtr(length, nint.Size);
            return JeMallctl(string.Create(CultureInfo.InvariantCulture, $"arena.{arena}.dirty_decay_ms"), value, length, 0, 0) == 0
                ? Marshal.ReadIntPtr(value)
                : null;
        }
        catch (Exception ex) when (ex is DllNotFoundException or EntryPointNotFoundException)
        {
            return null;
        }
        finally
        {
            Marshal.FreeHGlobal(value);
            Marshal.FreeHGlobal(length);
        }
    }

    /// <summary>jemalloc's arena slots (<c>arenas.narenas</c>), 0 when it cannot be read.</summary>
    private static uint Arenas()
    {
        nint value = Marshal.AllocHGlobal(sizeof(uint)), length = Marshal.AllocHGlobal(nint.Size);
        try
        {
            Marshal.WriteIntPtr(length, sizeof(uint));
            return JeMallctl("arenas.narenas", value, length, 0, 0) == 0 ? (uint)Marshal.ReadInt32(value) : 0;
        }
        finally
        {
            Marshal.FreeHGlobal(value);
            Marshal.FreeHGlobal(length);
        }
    }

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

/// <summary>What <see cref="FreedMemory.SetDecay"/> did.</summary>
internal enum DecayResult
{
    /// <summary>Every arena's decay, and the default of arenas created later, is the value asked for.</summary>
    Set,
    /// <summary>This platform's DuckDB has no jemalloc: nothing changed.</summary>
    NoJemalloc,
    /// <summary>jemalloc answered the setting with an error: nothing changed.</summary>
    Refused,
}
