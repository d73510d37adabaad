using System.Diagnostics;
using System.Runtime.InteropServices;

namespace PinPipe.Log.Sqlite;

/// <summary>
/// Turns at SQLite's write lock between a log's producer, whose writer loop commits group after group, and every other
/// writer of the file: offset commits and group heartbeats, from consumer processes or from the producer's own other
/// connections.
/// </summary>
/// <remarks>
/// <para>SQLite gives its write lock to whoever asks when it is free; a writer that finds it taken polls (its busy
/// handler sleeps 1 ms at first, then up to 100 ms between tries). The writer loop begins its next transaction
/// microseconds after the last one commits, so under load a polling writer almost never finds the lock free: in the
/// 35-minute soak of issue #13 the sink's offset commits waited 1 to 2 s each at 20k records/s, and up to 5 s (the
/// busy timeout, then a retry) now and then, which stalled the sink for seconds.</para>
/// <para>So a writer other than the loop takes an exclusive <c>flock(2)</c> on a file beside the log
/// (<see cref="PathOf"/>) before its transaction and lets go after it (<see cref="Run{T}"/>), and the loop looks at
/// that lock before each group (<see cref="Yield"/>): while it is held, the loop waits (at most
/// <see cref="MaxYield"/> a group), so the other writer's next try finds SQLite's lock free. The flock is advice, never
/// needed for correctness: SQLite's own locks still order the transactions. A writer that cannot take its turn in
/// time writes anyway, and a turn held for longer than any write takes (<see cref="StaleAfter"/>: a process stopped
/// while it held it) is ignored until it is let go. The kernel drops a killed process's flocks. Off Linux
/// both sides do nothing.</para>
/// </remarks>
internal sealed class WriterTurns : IDisposable
{
    private const int LockSh = 1, LockEx = 2, LockNb = 4, LockUn = 8;
    private const int ORdWr = 2, OCreat = 0x40, OCloexec = 0x80000, OwnerReadWrite = 0x180; // Linux's values; 0600

    /// <summary>The longest the writer loop waits before one group while another writer has its turn. Default 250 ms.</summary>
    internal TimeSpan MaxYield { get; set; } = TimeSpan.FromMilliseconds(250);

    /// <summary>
    /// A turn held this long without a break is taken as left by a stopped process, and the loop stops waiting for it
    /// until it is let go. Default 20 s: the longest a write retries while the database is busy.
    /// </summary>
    internal TimeSpan StaleAfter { get; set; } = TimeSpan.FromMilliseconds(SqliteBusy.TimeoutMs * SqliteBusy.MaxAttempts);

    /// <summary>The longest a writer waits for its turn (other writers holding theirs) before it writes anyway.</summary>
    internal static readonly TimeSpan TakeTimeout = TimeSpan.FromMilliseconds(SqliteBusy.TimeoutMs);

    private readonly TurnFile? _file; // the producer's handle, for looking at the lock
    private long _heldSince;           // when the loop first found the turn taken, without a break since; 0 when free

    private WriterTurns(TurnFile? file) => _file = file;

    /// <summary>The file whose lock marks a writer's turn: beside the log, <c>&lt;log&gt;-writers</c>.</summary>
    internal static string PathOf(string logPath) => logPath + "-writers";

    /// <summary>Times the loop waited, and how long in all (ticks of <see cref="Stopwatch"/>).</summary>
    internal long Yields { get; private set; }

    internal long YieldedTicks { get; private set; }

    /// <summary>The producer's side: opens (creates) the turn file of the log at <paramref name="logPath"/>.</summary>
    internal static WriterTurns ForProducer(string logPath) =>
        new(Supported ? TurnFile.TryOpen(logPath) : null);

    /// <summary>
    /// The writer loop's side, before each group: while another writer has its turn, waits until it ends (at most
    /// <see cref="MaxYield"/>; not at all for a turn held longer than <see cref="StaleAfter"/>).
    /// </summary>
    internal void Yield()
    {
        if (_file is null || IsFree())
        {
            _heldSince = 0;
            return;
        }
        long start = Stopwatch.GetTimestamp();
        if (_heldSince == 0) _heldSince = start;
        else if (Stopwatch.GetElapsedTime(_heldSince) > StaleAfter) return;
        while (Stopwatch.GetElapsedTime(start) < MaxYield)
        {
            Thread.Sleep(1);
            if (IsFree())
            {
                _heldSince = 0;
                break;
            }
        }
        Yields++;
        long waited = Stopwatch.GetTimestamp() - start;
        YieldedTicks += waited;
        Observability.PinPipeMetrics.LogWriterYield.Inc((double)waited / Stopwatch.Frequency);
    }

    private bool IsFree()
    {
        if (Flock(_file!.Fd, LockSh | LockNb) != 0) return false;
        _ = Flock(_file.Fd, LockUn); // cannot fail on a lock this handle holds
        return true;
    }

    /// <summary>
    /// Another writer's side: runs <paramref name="write"/> (its own transaction, retried while the database is busy as
    /// <see cref="SqliteBusy.Run{T}"/> does) during a turn, so the producer's writer loop leaves SQLite's lock free for it.
    /// </summary>
    internal static T Run<T>(string logPath, Func<T> write)
    {
        using var turn = Take(logPath);
        return SqliteBusy.Run(write);
    }

    /// <summary>Takes a turn (waiting at most <see cref="TakeTimeout"/> for other writers' turns); disposing it ends it. Null off Linux or when the turn file cannot be opened.</summary>
    internal static IDisposable? Take(string logPath)
    {
        if (!Supported) return null;
#pragma warning disable CA2000 // the turn is the caller's to dispose: closing the file ends it
        var file = TurnFile.TryOpen(logPath);
#pragma warning restore CA2000
        if (file is null) return null;
        long start = Stopwatch.GetTimestamp();
        while (Flock(file.Fd, LockEx | LockNb) != 0 && Stopwatch.GetElapsedTime(start) < TakeTimeout) Thread.Sleep(1);
        return file; // closing the file lets go of its lock
    }

    /// <summary>Whether some writer has its turn now (false off Linux).</summary>
    internal static bool IsTaken(string logPath)
    {
        if (!Supported) return false;
        using var file = TurnFile.TryOpen(logPath);
        return file is not null && Flock(file.Fd, LockSh | LockNb) != 0;
    }

    private static bool Supported => OperatingSystem.IsLinux();

    public void Dispose() => _file?.Dispose();

    /// <summary>
    /// The turn file, opened with open(2) rather than a <see cref="FileStream"/>: .NET takes a shared flock of its own on
    /// every file it opens for writing (its emulation of <see cref="FileShare"/>) and would hold it as long as the stream.
    /// </summary>
    private sealed class TurnFile : IDisposable
    {
        private TurnFile(int fd) => Fd = fd;

        internal int Fd { get; private set; }

        /// <summary>Null when the file cannot be opened (a folder this process may not write): turns are advice, and the write goes on without one.</summary>
        internal static TurnFile? TryOpen(string logPath)
        {
            int fd = OpenFile(PathOf(logPath), ORdWr | OCreat | OCloexec, OwnerReadWrite);
            return fd < 0 ? null : new TurnFile(fd);
        }

        public void Dispose()
        {
            if (Fd < 0) return;
            _ = CloseFile(Fd); // closing lets go of the lock; nothing was written to report
            Fd = -1;
        }
    }

    [DllImport("libc", SetLastError = true, EntryPoint = "open")]
    [DefaultDllImportSearchPaths(DllImportSearchPath.System32)]
    private static extern int OpenFile([MarshalAs(UnmanagedType.LPUTF8Str)] string path, int flags, int mode);

    [DllImport("libc", SetLastError = true, EntryPoint = "close")]
    [DefaultDllImportSearchPaths(DllImportSearchPath.System32)]
    private static extern int CloseFile(int fd);

    [DllImport("libc", SetLastError = true, EntryPoint = "flock")]
    [DefaultDllImportSearchPaths(DllImportSearchPath.System32)]
    private static extern int Flock(int fd, int operation);
}
