using PinPipe.Streaming;

namespace PinPipe.Tests.Streaming;

/// <summary>The compactions' threads of a lower CPU priority: real threads, their nice value read back from the kernel.</summary>
public sealed class LowPrioritySchedulerTests
{
    [Fact]
    public async Task Work_runs_on_its_own_threads_at_the_nice_value_and_the_callers_threads_keep_theirs()
    {
        Assert.True(OperatingSystem.IsLinux(), "these tests read nice values through Linux's getpriority");
        int? callers = LowPriorityScheduler.CurrentThreadNice();
        Assert.NotNull(callers);
        Assert.True(callers < 12, $"the test runs at nice {callers}: a scheduler of nice 12 could not be lower");

        using var scheduler = new LowPriorityScheduler(2, 12, "test-low");
        Assert.True(scheduler.Lowered);
        Assert.Equal(2, scheduler.Threads);
        var seen = await Task.WhenAll(Enumerable.Range(0, 8).Select(_ =>
            scheduler.Run(() => (Nice: LowPriorityScheduler.CurrentThreadNice(), Thread.CurrentThread.Name))));
        Assert.All(seen, s => Assert.Equal(12, s.Nice));
        Assert.All(seen, s => Assert.StartsWith("test-low-", s.Name, StringComparison.Ordinal));
        Assert.Equal(8, scheduler.Executed);

        // The awaits after the work came back to thread-pool threads, which were never lowered.
        Assert.Equal(callers, await Task.Run(LowPriorityScheduler.CurrentThreadNice));
        Assert.Equal(callers, LowPriorityScheduler.CurrentThreadNice());
    }

    [Fact]
    public async Task The_work_ends_on_a_thread_of_the_normal_priority_which_hands_on_what_awaits_it()
    {
        int? callers = LowPriorityScheduler.CurrentThreadNice();
        Assert.True(callers < 12, $"the test runs at nice {callers}: a scheduler of nice 12 could not be lower");
        using var scheduler = new LowPriorityScheduler(1, 12, "test-handoff");
        using var release = new ManualResetEventSlim();
        var work = scheduler.Run(() =>
        {
            release.Wait(TimeSpan.FromSeconds(30));
            return LowPriorityScheduler.CurrentThreadNice();
        });
        // Registered before the work ends: its end hands the continuation to the scheduler given, from the thread it ends
        // on. The thread pool's queue is handed work the same way, and may start a thread on the thread that hands it.
        var handing = new HandOffRecorder();
        var after = work.ContinueWith(_ => (LowPriorityScheduler.CurrentThreadNice(), Thread.CurrentThread.Name), CancellationToken.None,
            TaskContinuationOptions.ExecuteSynchronously, handing);
        Assert.False(after.IsCompleted);
        release.Set();

        var (nice, thread) = await after;
        Assert.Equal(12, await work);
        var (handedBy, handedAt) = Assert.Single(handing.QueuedBy);
        Assert.Equal(callers, handedAt);
        Assert.Equal("test-handoff-done", handedBy); // the scheduler's thread of the normal priority, not its lowered test-handoff-0
        Assert.Equal(callers, nice);
        Assert.NotEqual("test-handoff-0", thread);
    }

    /// <summary>Runs its tasks on the thread pool, recording the thread (name, nice value) that queued each.</summary>
    private sealed class HandOffRecorder : TaskScheduler
    {
        public System.Collections.Concurrent.ConcurrentQueue<(string? Thread, int? Nice)> QueuedBy { get; } = new();

        protected override void QueueTask(Task task)
        {
            QueuedBy.Enqueue((Thread.CurrentThread.Name, LowPriorityScheduler.CurrentThreadNice()));
            ThreadPool.UnsafeQueueUserWorkItem(_ => TryExecuteTask(task), null);
        }

        protected override bool TryExecuteTaskInline(Task task, bool taskWasPreviouslyQueued) => false;

        protected override IEnumerable<Task> GetScheduledTasks() => [];
    }

    [Fact]
    public async Task A_normal_thread_waiting_for_queued_work_does_not_run_it_itself()
    {
        using var scheduler = new LowPriorityScheduler(1, 12, "test-inline");
        using var release = new ManualResetEventSlim();
        var blocker = scheduler.Run(() => release.Wait(TimeSpan.FromSeconds(30)));
        var queued = scheduler.Run(() => Thread.CurrentThread.Name);
        // Task.Wait runs a queued task inline on the waiting thread when its scheduler lets it. Run's task is not the
        // work's own, so nothing can: this guards that design.
#pragma warning disable xUnit1031 // the blocking wait is what is tested, on a thread-pool thread of its own
        var waiting = Task.Run(() => queued.Wait(TimeSpan.FromSeconds(30)));
#pragma warning restore xUnit1031
        Assert.NotSame(waiting, await Task.WhenAny(waiting, Task.Delay(200)));
        release.Set();
        Assert.True(await blocker);
        Assert.True(await waiting);
        Assert.Equal("test-inline-0", await queued);
    }

    [Fact]
    public async Task Work_cancelled_before_it_starts_does_not_run_and_its_task_ends_cancelled()
    {
        using var scheduler = new LowPriorityScheduler(1, 4, "test-cancel");
        using var cancelled = new CancellationTokenSource();
        await cancelled.CancelAsync();
        int ran = 0;
        var early = scheduler.Run(() => Interlocked.Increment(ref ran), cancelled.Token);
        var e1 = await Assert.ThrowsAnyAsync<OperationCanceledException>(() => early);
        Assert.Equal(cancelled.Token, e1.CancellationToken);
        Assert.True(early.IsCanceled);

        // Queued behind running work, then cancelled: the thread skips it when its turn comes.
        using var release = new ManualResetEventSlim();
        using var later = new CancellationTokenSource();
        var blocker = scheduler.Run(() => release.Wait(TimeSpan.FromSeconds(30)));
        var queued = scheduler.Run(() => Interlocked.Increment(ref ran), later.Token);
        await later.CancelAsync();
        release.Set();
        Assert.True(await blocker);
        var e2 = await Assert.ThrowsAnyAsync<OperationCanceledException>(() => queued);
        Assert.Equal(later.Token, e2.CancellationToken);
        Assert.Equal(0, Volatile.Read(ref ran));

        // Work that throws for its own token ends cancelled too; one that throws for another token ends faulted.
        using var inside = new CancellationTokenSource();
        var stopping = scheduler.Run<int>(() =>
        {
            inside.Cancel();
            inside.Token.ThrowIfCancellationRequested();
            return 1;
        }, inside.Token);
        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => stopping);
        Assert.True(stopping.IsCanceled);
        using var other = new CancellationTokenSource();
        await other.CancelAsync();
        var foreign = scheduler.Run<int>(() => throw new OperationCanceledException(other.Token));
        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => foreign);
        Assert.True(foreign.IsFaulted);
        Assert.Equal(3, scheduler.Executed); // the blocker, stopping and foreign: not the two cancelled before their turn
    }

    private static readonly AsyncLocal<string?> Caller = new();

    [Fact]
    public async Task The_work_runs_in_the_callers_execution_context_and_leaves_none_behind_on_the_thread()
    {
        using var scheduler = new LowPriorityScheduler(1, 6, "test-context");
        Caller.Value = "first caller";
        Assert.Equal("first caller", await scheduler.Run(() =>
        {
            string? seen = Caller.Value;
            Caller.Value = "set by the work";
            return seen;
        }));
        Assert.Equal("first caller", Caller.Value); // the work's change stays in its own context
        Caller.Value = null;
        Assert.Null(await scheduler.Run(() => Caller.Value)); // the next work sees its caller's, not what the last left on the thread
    }

    [Fact]
    public async Task A_failure_of_the_work_reaches_the_caller_and_the_thread_runs_the_next()
    {
        using var scheduler = new LowPriorityScheduler(1, 5, "test-fail");
        var error = await Assert.ThrowsAsync<InvalidOperationException>(() => scheduler.Run<int>(() => throw new InvalidOperationException("broken file")));
        Assert.Equal("broken file", error.Message);
        Assert.Equal(5, await scheduler.Run(LowPriorityScheduler.CurrentThreadNice));
    }

    [Fact]
    public async Task Nice_0_runs_the_work_at_the_processs_own_priority()
    {
        using var scheduler = new LowPriorityScheduler(1, 0, "test-zero");
        Assert.False(scheduler.Lowered);
        Assert.Equal(LowPriorityScheduler.CurrentThreadNice(), await scheduler.Run(LowPriorityScheduler.CurrentThreadNice));
    }

    [Fact]
    public async Task Dispose_lets_queued_work_finish_and_then_takes_no_more()
    {
        var scheduler = new LowPriorityScheduler(1, 3, "test-dispose");
        var slow = scheduler.Run(() =>
        {
            Thread.Sleep(100);
            return 1;
        });
        var next = scheduler.Run(() => 2);
        scheduler.Dispose();
        Assert.True(slow.IsCompletedSuccessfully);
        Assert.True(next.IsCompletedSuccessfully);
        Assert.Equal(2, await next);
        Assert.Throws<ObjectDisposedException>(() => { _ = scheduler.Run(() => 3); });
        Assert.Null(Record.Exception(scheduler.Dispose)); // a second Dispose does nothing
        Assert.Throws<ObjectDisposedException>(() => { _ = scheduler.Run(() => 4); });
    }

    [Fact]
    public void Shared_gives_one_scheduler_per_nice_value_with_a_thread_per_two_cores()
    {
        var a = LowPriorityScheduler.Shared(17);
        Assert.Same(a, LowPriorityScheduler.Shared(17));
        Assert.NotSame(a, LowPriorityScheduler.Shared(18));
        Assert.Equal(17, a.Nice);
        Assert.Equal(Math.Max(1, Environment.ProcessorCount / 2), a.Threads);
    }

    [Theory]
    [InlineData(0, 10)]
    [InlineData(1, -1)]
    [InlineData(1, 20)]
    public void Bad_arguments_are_refused(int threads, int nice) =>
        Assert.Throws<ArgumentOutOfRangeException>(() => new LowPriorityScheduler(threads, nice, "test-bad"));
}
