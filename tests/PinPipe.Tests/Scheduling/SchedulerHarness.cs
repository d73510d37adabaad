using PinPipe.Scheduling;
using PinPipe.Tests.Log;
using PinPipe.Tests.Support;

namespace PinPipe.Tests.Scheduling;

/// <summary>
/// A <see cref="BatchScheduler"/> on a hand-moved clock with a real history file: the test moves the clock once
/// the scheduler waits for the time it expects, and the job reports each call.
/// </summary>
internal sealed class SchedulerHarness : IAsyncDisposable
{
    private static readonly TimeSpan Patience = TimeSpan.FromSeconds(30);
    private readonly TempDirectory _dir = new("sched");
    private readonly CancellationTokenSource _stop = new();
    private Task? _running;
    private int _active;
    private int _maxActive;

    public SchedulerHarness(DateTimeOffset start, ScheduleOptions? options = null, Func<ScheduledRun, CancellationToken, Task>? job = null)
    {
        Clock = new ManualTimeProvider(start);
        Options = (options ?? new ScheduleOptions()) with { HistoryPath = _dir.File("runs.db") };
        Job = job ?? ((_, _) => Task.CompletedTask);
        Scheduler = new BatchScheduler(Options, RecordAsync, timeProvider: Clock) { ClockCheckInterval = TimeSpan.FromMilliseconds(5) };
    }

    public ManualTimeProvider Clock { get; }
    public ScheduleOptions Options { get; }
    public BatchScheduler Scheduler { get; }

    /// <summary>What the scheduler calls; the harness counts the calls around it.</summary>
    public Func<ScheduledRun, CancellationToken, Task> Job { get; set; }

    /// <summary>The job's calls so far, in order, each with the clock's time at the call.</summary>
    public List<(ScheduledRun Run, DateTimeOffset At)> Calls { get; } = [];

    /// <summary>The most runs that were in the job at once.</summary>
    public int MaxConcurrent => Volatile.Read(ref _maxActive);

    public string HistoryPath => Options.HistoryPath;

    public Task Running => _running ?? throw new InvalidOperationException("not started");

    public void Start(bool runNow = false) => _running = Task.Run(() => Scheduler.RunAsync(runNow, _stop.Token));

    private async Task RecordAsync(ScheduledRun run, CancellationToken cancellationToken)
    {
        int active = Interlocked.Increment(ref _active);
        int max;
        while (active > (max = Volatile.Read(ref _maxActive)) && Interlocked.CompareExchange(ref _maxActive, active, max) != max) { }
        lock (Calls) Calls.Add((run, Clock.GetUtcNow()));
        try
        {
            await Job(run, cancellationToken);
        }
        finally
        {
            Interlocked.Decrement(ref _active);
        }
    }

    public int CallCount { get { lock (Calls) return Calls.Count; } }

    public (ScheduledRun Run, DateTimeOffset At) Call(int index) { lock (Calls) return Calls[index]; }

    /// <summary>Waits until the scheduler waits for <paramref name="due"/> (so the clock can be moved past it).</summary>
    public Task WaitingFor(DateTimeOffset due) =>
        Eventually(() => Scheduler.WaitingUntil == due, () => $"the scheduler to wait for {due:O} (it waits for {Scheduler.WaitingUntil:O}; {CallCount} calls)");

    /// <summary>Waits until the job has been called <paramref name="count"/> times.</summary>
    public Task Called(int count) => Eventually(() => CallCount >= count, () => $"{count} calls of the job (got {CallCount})");

    /// <summary>Moves the clock to <paramref name="at"/>.</summary>
    public void MoveTo(DateTimeOffset at) => Clock.Advance(at - Clock.GetUtcNow());

    /// <summary>The history as another reader sees it, newest first.</summary>
    public IReadOnlyList<RunRecord> History(int count = 100)
    {
        using var history = RunHistory.Open(HistoryPath);
        return history.Latest(count);
    }

    public async Task StopAsync()
    {
        await _stop.CancelAsync();
        if (_running is not null) await _running.WaitAsync(Patience);
    }

    public static async Task Eventually(Func<bool> condition, Func<string> what)
    {
        var deadline = DateTime.UtcNow + Patience;
        while (!condition())
        {
            if (DateTime.UtcNow > deadline) throw new TimeoutException($"Timed out waiting for {what()}.");
            await Task.Delay(2);
        }
    }

    public async ValueTask DisposeAsync()
    {
        try { await StopAsync(); }
        finally
        {
            _stop.Dispose();
            _dir.Dispose();
        }
    }
}
