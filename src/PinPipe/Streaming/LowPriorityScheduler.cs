using System.Collections.Concurrent;
using System.Runtime.InteropServices;
using PinPipe.DuckDb;

namespace PinPipe.Streaming;

/// <summary>
/// Threads of their own that run at a lower CPU priority (a higher nice value) than the rest of the process, for CPU-bound
/// work beside the micro-batches that nobody waits for: a compaction's rewrite of small files. On a machine whose cores
/// are busy the kernel then gives the micro-batches, the API and the other services the CPU first, and the rewrite what is
/// left, as RocksDB lowers the priority of its compaction threads. On an idle core it runs at full speed: a nice value
/// only matters while threads compete.
/// </summary>
/// <remarks>
/// Linux only (<c>setpriority</c> on each thread's id: a thread's nice value is its own there). Elsewhere, or when the
/// call fails, the threads run at the normal priority and <see cref="Lowered"/> is false. The threads are made once and
/// kept: an unprivileged process may raise a thread's nice value but not lower it again, so a thread-pool thread must never
/// be lowered. Nor may one start on a lowered thread: a new thread inherits its creator's nice value, and the runtime
/// starts some of its threads (the thread pool's workers and gate thread, the JIT's) on the thread that first needs them.
/// So the only way in is <see cref="Run"/>, which completes its task on a thread of the normal priority of its own, and
/// that thread queues what awaits the task to the thread pool: a lowered thread runs the work and nothing else. It is not
/// a <see cref="TaskScheduler"/> on purpose: a task started on one would end on the lowered thread and skip that hand-off,
/// and a thread waiting for such a task could run it inline at its own priority. Work run here must not wait on work of
/// the normal threads that could in turn wait on it.
/// </remarks>
internal sealed class LowPriorityScheduler : IWorkRunner, IDisposable
{
    private readonly BlockingCollection<Action> _queue = [];
    private readonly Thread[] _threads;
    private readonly BlockingCollection<Action> _completions = [];
    private int _disposed; // 1 once Dispose began
    private readonly Thread _completing;
    private int _lowered;
    private long _executed;

    /// <param name="threads">Threads that run the queued work (at least 1).</param>
    /// <param name="nice">The nice value of the threads, 1 to 19 (Linux's range above the default 0); 0 leaves them at the process's.</param>
    /// <param name="name">The threads' name (each gets its index after it; the thread of the normal priority that completes the work <c>{name}-done</c>).</param>
    public LowPriorityScheduler(int threads, int nice, string name)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(threads, 1);
        ArgumentOutOfRangeException.ThrowIfLessThan(nice, 0);
        ArgumentOutOfRangeException.ThrowIfGreaterThan(nice, 19);
        Nice = nice;
        // Started here, on the caller's thread: at its priority. It runs only the completions, a few microseconds each.
        _completing = new Thread(() =>
        {
            foreach (var complete in _completions.GetConsumingEnumerable()) complete();
        })
        { IsBackground = true, Name = $"{name}-done" };
        _completing.Start();
        using var started = new CountdownEvent(threads);
        _threads = new Thread[threads];
        for (int i = 0; i < threads; i++)
        {
            _threads[i] = new Thread(() => RunQueued(started)) { IsBackground = true, Name = $"{name}-{i}" };
            _threads[i].Start();
        }
        started.Wait(); // each thread has set its priority before any work is queued
    }

    private static readonly ConcurrentDictionary<int, Lazy<LowPriorityScheduler>> SharedByNice = new();

    /// <summary>
    /// The process's scheduler of this nice value for the stream jobs' compactions, made at its first use and kept for the
    /// process's life: one thread per two cores (<see cref="MaintenanceSlot.For"/>: a job runs at most that many at once).
    /// </summary>
    public static LowPriorityScheduler Shared(int nice) =>
        SharedByNice.GetOrAdd(nice, n => new Lazy<LowPriorityScheduler>(() =>
            new LowPriorityScheduler(MaintenanceSlot.For(int.MaxValue, Environment.ProcessorCount), n, "pinpipe-compact"))).Value;

    /// <summary>The nice value asked for.</summary>
    public int Nice { get; }

    /// <summary>How many pieces of work can run at once: the lowered threads.</summary>
    public int Threads => _threads.Length;

    /// <summary>Whether every thread runs at <see cref="Nice"/> (false elsewhere than Linux, with a nice of 0, or when the call failed).</summary>
    public bool Lowered => Nice > 0 && Volatile.Read(ref _lowered) == _threads.Length;

    /// <summary>The nice value of the calling thread (Linux; null elsewhere or when it cannot be read): for tests.</summary>
    internal static int? CurrentThreadNice()
    {
        if (!OperatingSystem.IsLinux()) return null;
        try
        {
            Marshal.SetLastPInvokeError(0);
            int nice = getpriority(PrioProcess, gettid());
            return nice == -1 && Marshal.GetLastPInvokeError() != 0 ? null : nice;
        }
        catch (EntryPointNotFoundException)
        {
            return null;
        }
    }

    /// <summary>Pieces of work its threads have run so far (counted as each starts; work cancelled before its turn is not).</summary>
    public long Executed => Interlocked.Read(ref _executed);

    private void RunQueued(CountdownEvent started)
    {
        try
        {
            if (Nice > 0 && OperatingSystem.IsLinux() && setpriority(PrioProcess, gettid(), Nice) == 0) Interlocked.Increment(ref _lowered);
        }
        catch (EntryPointNotFoundException)
        {
            // A C library without gettid (glibc before 2.30): the thread keeps the normal priority.
        }
        started.Signal();
        foreach (var work in _queue.GetConsumingEnumerable()) work();
    }

    /// <summary>
    /// Runs <paramref name="work"/> on one of the lowered threads. Its task ends on the thread of the normal priority that
    /// completes this scheduler's work, and what awaits it goes on on the thread pool, started by that thread if it must
    /// start one.
    /// </summary>
    /// <exception cref="ObjectDisposedException">The scheduler is disposed (unless the token is cancelled already: the task then ends cancelled).</exception>
    public Task<T> Run<T>(Func<T> work, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(work);
        var done = new TaskCompletionSource<T>(TaskCreationOptions.RunContinuationsAsynchronously);
        var context = ExecutionContext.Capture(); // the work sees the caller's async locals, as a task's would
        void RunOne()
        {
            if (context is null) RunInContext();
            else ExecutionContext.Run(context, static state => ((Action)state!)(), (Action)RunInContext);
        }
        void RunInContext()
        {
            Action complete;
            if (cancellationToken.IsCancellationRequested) complete = () => done.TrySetCanceled(cancellationToken);
            else
            {
                Interlocked.Increment(ref _executed); // before: whoever awaits the work sees it counted
                try
                {
                    var result = work();
                    complete = () => done.TrySetResult(result);
                }
                catch (OperationCanceledException e) when (e.CancellationToken == cancellationToken && cancellationToken.IsCancellationRequested)
                {
                    complete = () => done.TrySetCanceled(cancellationToken);
                }
#pragma warning disable CA1031 // any failure of the work is its task's, as a task's own would be
                catch (Exception e)
#pragma warning restore CA1031
                {
                    complete = () => done.TrySetException(e);
                }
            }
            _completions.Add(complete, CancellationToken.None); // Dispose closes this queue only after the lowered threads have ended
        }
        if (cancellationToken.IsCancellationRequested)
        {
            done.TrySetCanceled(cancellationToken); // before the work starts: on the caller's thread, which is not lowered
            return done.Task;
        }
        try
        {
            _queue.Add(RunOne, CancellationToken.None); // the token is the work's: cancelled, its turn skips it
        }
        catch (InvalidOperationException e)
        {
            throw new ObjectDisposedException($"The {nameof(LowPriorityScheduler)} is disposed: it takes no more work.", e);
        }
        return done.Task;
    }

    /// <summary>Stops taking work; the threads end once the queued work has run and its tasks have ended. A second call does nothing.</summary>
    public void Dispose()
    {
        if (Interlocked.Exchange(ref _disposed, 1) == 1) return;
        _queue.CompleteAdding();
        foreach (var t in _threads) t.Join();
        _completions.CompleteAdding(); // after the lowered threads: the last of the work queued its completion
        _completing.Join();
        _queue.Dispose();
        _completions.Dispose();
    }

    private const int PrioProcess = 0; // PRIO_PROCESS: with a thread id, that thread alone (Linux)

    [DllImport("libc", SetLastError = true, EntryPoint = "setpriority")]
    [DefaultDllImportSearchPaths(DllImportSearchPath.System32)]
    private static extern int setpriority(int which, int who, int prio);

    [DllImport("libc", SetLastError = true, EntryPoint = "getpriority")]
    [DefaultDllImportSearchPaths(DllImportSearchPath.System32)]
    private static extern int getpriority(int which, int who);

    [DllImport("libc", EntryPoint = "gettid")]
    [DefaultDllImportSearchPaths(DllImportSearchPath.System32)]
    private static extern int gettid();
}
