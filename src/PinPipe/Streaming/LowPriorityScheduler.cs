using System.Collections.Concurrent;
using System.Runtime.InteropServices;
using PinPipe.DuckDb;

namespace PinPipe.Streaming;

/// <summary>
/// A <see cref="TaskScheduler"/> whose own threads run at a lower CPU priority (a higher nice value) than the rest of the
/// process, for CPU-bound work beside the micro-batches that nobody waits for: a compaction's rewrite of small files. On
/// a machine whose cores are busy the kernel then gives the micro-batches, the API and the other services the CPU first,
/// and the rewrite what is left, as RocksDB lowers the priority of its compaction threads. On an idle core it runs at full
/// speed: a nice value only matters while threads compete.
/// </summary>
/// <remarks>
/// Linux only (<c>setpriority</c> on each thread's id: a thread's nice value is its own there). Elsewhere, or when the
/// call fails, the threads run at the normal priority and <see cref="Lowered"/> is false. The threads are made once and
/// kept: an unprivileged process may raise a thread's nice value but not lower it again, so a thread-pool thread must never
/// be lowered. Nor may one start on a lowered thread: a new thread inherits its creator's nice value, and the runtime
/// starts some of its threads (the thread pool's workers and gate thread, the JIT's) on the thread that first needs them.
/// So <see cref="Run"/> completes its task on a thread of the normal priority of its own, which queues what awaits the
/// task to the thread pool: a lowered thread runs the work and nothing else. Work queued here must not wait on work of the
/// normal threads that could in turn wait on it.
/// </remarks>
internal sealed class LowPriorityScheduler : TaskScheduler, IWorkRunner, IDisposable
{
    private readonly BlockingCollection<Task> _queue = [];
    private readonly Thread[] _threads;
    private readonly Completions _completions;
    private int _lowered;
    private long _executed;

    [ThreadStatic]
    private static LowPriorityScheduler? t_current;

    /// <param name="threads">Threads that run the queued work (at least 1).</param>
    /// <param name="nice">The nice value of the threads, 1 to 19 (Linux's range above the default 0); 0 leaves them at the process's.</param>
    /// <param name="name">The threads' name (each gets its index after it).</param>
    public LowPriorityScheduler(int threads, int nice, string name)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(threads, 1);
        ArgumentOutOfRangeException.ThrowIfLessThan(nice, 0);
        ArgumentOutOfRangeException.ThrowIfGreaterThan(nice, 19);
        Nice = nice;
        _completions = new Completions($"{name}-done"); // started here, on the caller's thread: at its priority
        using var started = new CountdownEvent(threads);
        _threads = new Thread[threads];
        for (int i = 0; i < threads; i++)
        {
            _threads[i] = new Thread(() => Run(started)) { IsBackground = true, Name = $"{name}-{i}" };
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

    /// <summary>Pieces of work its threads have taken so far (counted as each starts).</summary>
    public long Executed => Interlocked.Read(ref _executed);

    public override int MaximumConcurrencyLevel => _threads.Length;

    private void Run(CountdownEvent started)
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
        t_current = this;
        foreach (var task in _queue.GetConsumingEnumerable())
        {
            Interlocked.Increment(ref _executed); // before: whoever awaits the work sees it counted
            TryExecuteTask(task);
        }
    }

    protected override void QueueTask(Task task) => _queue.Add(task);

    // Inline only on one of this scheduler's own threads: a normal thread must not run the work at its own priority.
    protected override bool TryExecuteTaskInline(Task task, bool taskWasPreviouslyQueued)
    {
        if (t_current != this || taskWasPreviouslyQueued) return false;
        Interlocked.Increment(ref _executed);
        return TryExecuteTask(task);
    }

    protected override IEnumerable<Task> GetScheduledTasks() => _queue.ToArray();

    /// <summary>
    /// Runs <paramref name="work"/> on one of the threads. Its task ends on the thread of the normal priority that completes
    /// this scheduler's work, and what awaits it goes on on the thread pool, started by that thread if it must start one.
    /// </summary>
    /// <exception cref="TaskSchedulerException">The scheduler is disposed.</exception>
    public Task<T> Run<T>(Func<T> work, CancellationToken cancellationToken = default)
    {
        var done = new TaskCompletionSource<T>(TaskCreationOptions.RunContinuationsAsynchronously);
        var task = new Task<T>(work, cancellationToken, TaskCreationOptions.DenyChildAttach);
        // The hand-off is attached before the work is queued: a Dispose in between then refuses the work (Start throws)
        // instead of closing the completions' thread before the work's end could reach it.
        task.ContinueWith(static (ran, state) => Complete((TaskCompletionSource<T>)state!, ran), done, CancellationToken.None, TaskContinuationOptions.DenyChildAttach, _completions);
        if (!task.IsCompleted) task.Start(this); // a token cancelled already: the task is, and its hand-off says so
        return done.Task;
    }

    private static void Complete<T>(TaskCompletionSource<T> done, Task<T> ran)
    {
        if (ran.IsCompletedSuccessfully) done.TrySetResult(ran.Result);
        else if (ran.IsCanceled)
        {
            try { ran.GetAwaiter().GetResult(); }
            catch (OperationCanceledException e) { done.TrySetCanceled(e.CancellationToken); }
        }
        else done.TrySetException(ran.Exception!.InnerExceptions);
    }

    /// <summary>Stops taking work; the threads end once the queued work has run and its tasks have ended.</summary>
    public void Dispose()
    {
        _queue.CompleteAdding();
        foreach (var t in _threads) t.Join();
        _queue.Dispose();
        _completions.Dispose(); // after the lowered threads: the last of the work queued its completion
    }

    /// <summary>
    /// One thread of the normal priority that runs the continuations completing <see cref="Run"/>'s tasks (a few
    /// microseconds each). A lowered thread only adds to its queue, which starts no thread.
    /// </summary>
    private sealed class Completions : TaskScheduler, IDisposable
    {
        private readonly BlockingCollection<Task> _queue = [];
        private readonly Thread _thread;

        public Completions(string name)
        {
            _thread = new Thread(() =>
            {
                foreach (var task in _queue.GetConsumingEnumerable()) TryExecuteTask(task);
            })
            { IsBackground = true, Name = name };
            _thread.Start();
        }

        protected override void QueueTask(Task task) => _queue.Add(task);

        protected override bool TryExecuteTaskInline(Task task, bool taskWasPreviouslyQueued) => false;

        protected override IEnumerable<Task> GetScheduledTasks() => _queue.ToArray();

        public override int MaximumConcurrencyLevel => 1;

        public void Dispose()
        {
            _queue.CompleteAdding();
            _thread.Join();
            _queue.Dispose();
        }
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
