using PinPipe.Scheduling;
using PinPipe.Tests.Log;
using PinPipe.Tests.Support;

namespace PinPipe.Tests.Scheduling;

/// <summary>The maintenance's scheduler beside the batch one on the same history: its own lock and run ids, and it waits for a batch run in progress.</summary>
public sealed class MaintenanceSchedulingTests
{
    private static readonly TimeSpan Patience = TimeSpan.FromSeconds(30);

    private static async Task EventuallyAsync(Func<bool> condition, Func<string> what)
    {
        var deadline = DateTime.UtcNow + Patience;
        while (!condition())
        {
            if (DateTime.UtcNow > deadline) Assert.Fail($"timed out waiting for {what()}");
            await Task.Delay(5);
        }
    }

    [Fact]
    public async Task The_maintenance_waits_for_a_batch_run_in_progress_then_runs_under_its_own_run_id()
    {
        using var dir = new TempDirectory("maint-sched");
        string history = dir.File("runs.db");
        var clock = new ManualTimeProvider(new DateTimeOffset(2024, 3, 10, 3, 0, 0, TimeSpan.Zero));
        var runs = new List<ScheduledRun>();
        var maintenance = new BatchScheduler(new ScheduleOptions { Cron = "30 3 * * *", HistoryPath = history }, (run, _) =>
        {
            lock (runs) runs.Add(run);
            return Task.CompletedTask;
        }, timeProvider: clock)
        {
            Job = "maintenance",
            WaitForRunLock = true,
            ClockCheckInterval = TimeSpan.FromMilliseconds(5),
            RunLockPoll = TimeSpan.FromSeconds(1),
        };
        var due = new DateTimeOffset(2024, 3, 10, 3, 30, 0, TimeSpan.Zero);
        var batchRun = BatchRunLock.TryAcquire(BatchRunLock.PathFor(history)); // a batch run in progress
        Assert.NotNull(batchRun);
        using var stop = new CancellationTokenSource();
        var running = maintenance.RunAsync(cancellationToken: stop.Token);
        try
        {
            // A batch scheduler can still run on the same history: the maintenance holds a lock of its own.
            using (var batchScheduler = BatchRunLock.TryAcquire(BatchScheduler.SchedulerLockPathFor(history))) Assert.NotNull(batchScheduler);
            Assert.NotNull(BatchScheduler.SchedulerLockPathFor(history, "maintenance"));
            Assert.Null(BatchRunLock.TryAcquire(BatchScheduler.SchedulerLockPathFor(history, "maintenance")));

            await EventuallyAsync(() => maintenance.WaitingUntil == due, () => $"the wait for {due:O} (waits for {maintenance.WaitingUntil:O})");
            clock.Advance(due - clock.GetUtcNow());
            // Due, but the batch run holds the run lock: it waits for it (polling), without running or failing.
            await EventuallyAsync(() => maintenance.WaitingUntil == due + TimeSpan.FromSeconds(1), () => $"the wait for the run lock (waits for {maintenance.WaitingUntil:O})");
            lock (runs) Assert.Empty(runs);

            batchRun.Dispose();
            clock.Advance(TimeSpan.FromSeconds(1));
            await EventuallyAsync(() => { lock (runs) return runs.Count == 1; }, () => "the maintenance run");
        }
        finally
        {
            await stop.CancelAsync();
            await running.WaitAsync(Patience);
        }
        Assert.Equal("maintenance__scheduled__2024-03-10T03:30:00Z", runs[0].RunId);
        using var recorded = RunHistory.Open(history);
        var attempt = Assert.Single(recorded.Latest(10));
        Assert.Equal(("maintenance__scheduled__2024-03-10T03:30:00Z", RunOutcome.Succeeded), (attempt.RunId, attempt.Outcome));
    }
}
