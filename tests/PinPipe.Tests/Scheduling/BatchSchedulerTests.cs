using PinPipe.Lake;
using PinPipe.Scheduling;
using PinPipe.Tests.Support;

namespace PinPipe.Tests.Scheduling;

/// <summary>The scheduler on a hand-moved clock: when runs fire, retries, no catch-up, no overlap, locks, cancellation.</summary>
public sealed class BatchSchedulerTests
{
    private static DateTimeOffset Utc(int year, int month, int day, int hour = 0, int minute = 0, int second = 0) =>
        new(year, month, day, hour, minute, second, TimeSpan.Zero);

    [Fact]
    public async Task The_default_schedule_fires_at_each_midnight_utc()
    {
        await using var h = new SchedulerHarness(Utc(2024, 3, 10, 15, 30));
        h.Start();

        await h.WaitingFor(Utc(2024, 3, 11));
        h.MoveTo(Utc(2024, 3, 10, 23, 59, 59));
        await Task.Delay(50); // a chance to fire early, which the start times below would show
        h.MoveTo(Utc(2024, 3, 11));
        await h.Called(1);
        await h.WaitingFor(Utc(2024, 3, 12));
        h.MoveTo(Utc(2024, 3, 12));
        await h.Called(2);
        await h.WaitingFor(Utc(2024, 3, 13));

        Assert.Equal(2, h.CallCount);
        Assert.Equal(new ScheduledRun("scheduled__2024-03-11T00:00:00Z", Utc(2024, 3, 11), 1), h.Call(0).Run);
        Assert.Equal(Utc(2024, 3, 11), h.Call(0).At);
        Assert.Equal(new ScheduledRun("scheduled__2024-03-12T00:00:00Z", Utc(2024, 3, 12), 1), h.Call(1).Run);
        Assert.Equal(Utc(2024, 3, 12), h.Call(1).At);

        var history = h.History();
        Assert.Equal(2, history.Count);
        Assert.All(history, r => Assert.Equal(RunOutcome.Succeeded, r.Outcome));
        Assert.Equal([Utc(2024, 3, 12), Utc(2024, 3, 11)], history.Select(r => r.StartedAt));
        Assert.Equal([Utc(2024, 3, 12), Utc(2024, 3, 11)], history.Select(r => r.EndedAt!.Value));
        Assert.All(history, r => Assert.Null(r.Error));
    }

    [Fact]
    public async Task An_every_minute_cron_fires_at_each_whole_minute()
    {
        await using var h = new SchedulerHarness(Utc(2024, 5, 1, 12, 0, 30), new ScheduleOptions { Cron = "* * * * *" });
        h.Start();
        for (int minute = 1; minute <= 3; minute++)
        {
            await h.WaitingFor(Utc(2024, 5, 1, 12, minute));
            h.MoveTo(Utc(2024, 5, 1, 12, minute));
            await h.Called(minute);
        }
        await h.WaitingFor(Utc(2024, 5, 1, 12, 4));

        Assert.Equal([Utc(2024, 5, 1, 12, 1), Utc(2024, 5, 1, 12, 2), Utc(2024, 5, 1, 12, 3)], Enumerable.Range(0, 3).Select(i => h.Call(i).Run.ScheduledAt));
        Assert.Equal([Utc(2024, 5, 1, 12, 1), Utc(2024, 5, 1, 12, 2), Utc(2024, 5, 1, 12, 3)], Enumerable.Range(0, 3).Select(i => h.Call(i).At));
        Assert.All(Enumerable.Range(0, 3), i => Assert.Equal(1, h.Call(i).Run.Attempt));
    }

    [Fact]
    public async Task A_failed_attempt_is_retried_retry_delay_later_and_retries_stop_after_a_success()
    {
        await using var h = new SchedulerHarness(Utc(2024, 1, 1, 23), new ScheduleOptions { Retries = 3, RetryDelay = TimeSpan.FromMinutes(2) });
        h.Job = (run, _) => run.Attempt < 3 ? throw new IOException($"source unavailable ({run.Attempt})") : Task.CompletedTask;
        h.Start();

        await h.WaitingFor(Utc(2024, 1, 2));
        h.MoveTo(Utc(2024, 1, 2));
        await h.WaitingFor(Utc(2024, 1, 2, 0, 2));
        h.MoveTo(Utc(2024, 1, 2, 0, 2));
        await h.WaitingFor(Utc(2024, 1, 2, 0, 4));
        h.MoveTo(Utc(2024, 1, 2, 0, 4));
        await h.WaitingFor(Utc(2024, 1, 3)); // the next occurrence, not a fourth attempt

        Assert.Equal(3, h.CallCount);
        Assert.Equal([1, 2, 3], Enumerable.Range(0, 3).Select(i => h.Call(i).Run.Attempt));
        Assert.All(Enumerable.Range(0, 3), i => Assert.Equal("scheduled__2024-01-02T00:00:00Z", h.Call(i).Run.RunId));
        Assert.All(Enumerable.Range(0, 3), i => Assert.Equal(Utc(2024, 1, 2), h.Call(i).Run.ScheduledAt));

        var history = h.History().Reverse().ToList();
        Assert.Equal([1, 2, 3], history.Select(r => r.Attempt));
        Assert.Equal([Utc(2024, 1, 2), Utc(2024, 1, 2, 0, 2), Utc(2024, 1, 2, 0, 4)], history.Select(r => r.StartedAt));
        Assert.Equal([RunOutcome.Failed, RunOutcome.Failed, RunOutcome.Succeeded], history.Select(r => r.Outcome));
        Assert.Equal(["source unavailable (1)", "source unavailable (2)", null], history.Select(r => r.Error));
    }

    [Fact]
    public async Task A_run_failing_every_attempt_is_recorded_failed_with_its_error_and_the_schedule_goes_on()
    {
        await using var h = new SchedulerHarness(Utc(2024, 1, 1, 12), new ScheduleOptions { Retries = 2, RetryDelay = TimeSpan.FromSeconds(30) });
        h.Job = (run, _) => throw new InvalidOperationException($"table locked (attempt {run.Attempt})");
        h.Start();

        await h.WaitingFor(Utc(2024, 1, 2));
        h.MoveTo(Utc(2024, 1, 2));
        await h.WaitingFor(Utc(2024, 1, 2, 0, 0, 30));
        h.MoveTo(Utc(2024, 1, 2, 0, 0, 30));
        await h.WaitingFor(Utc(2024, 1, 2, 0, 1));
        h.MoveTo(Utc(2024, 1, 2, 0, 1));
        await h.WaitingFor(Utc(2024, 1, 3));

        Assert.Equal(3, h.CallCount); // Retries + 1 attempts
        var history = h.History();
        Assert.Equal(3, history.Count);
        Assert.All(history, r => Assert.Equal(RunOutcome.Failed, r.Outcome));
        Assert.Equal(3, history[0].Attempt);
        Assert.Equal("table locked (attempt 3)", history[0].Error);
        Assert.Equal(Utc(2024, 1, 2, 0, 1), history[0].EndedAt);

        h.Job = (_, _) => Task.CompletedTask;
        h.MoveTo(Utc(2024, 1, 3));
        await h.Called(4);
        await h.WaitingFor(Utc(2024, 1, 4));
        Assert.Equal(RunOutcome.Succeeded, h.History(1)[0].Outcome);
    }

    [Fact]
    public async Task A_permanent_failure_is_not_retried_and_the_next_occurrence_runs_as_scheduled()
    {
        await using var h = new SchedulerHarness(Utc(2024, 1, 1, 12), new ScheduleOptions { Retries = 3, RetryDelay = TimeSpan.FromSeconds(30) });
        h.Job = (_, _) => throw new ObjectStoreException(ObjectStoreErrorCode.BucketMissing, "the bucket does not exist", "bucket 'b' at http://s3.test");
        h.Start();

        await h.WaitingFor(Utc(2024, 1, 2));
        h.MoveTo(Utc(2024, 1, 2));
        await h.WaitingFor(Utc(2024, 1, 3)); // no retry 30 s later: the next occurrence

        Assert.Equal(1, h.CallCount);
        var failed = Assert.Single(h.History());
        Assert.Equal(RunOutcome.Failed, failed.Outcome);
        Assert.Equal("the bucket does not exist (bucket 'b' at http://s3.test)", failed.Error);

        h.Job = (_, _) => Task.CompletedTask;
        h.MoveTo(Utc(2024, 1, 3));
        await h.Called(2);
        await h.WaitingFor(Utc(2024, 1, 4));
        Assert.Equal(RunOutcome.Succeeded, h.History(1)[0].Outcome);
    }

    [Fact]
    public async Task Three_days_paused_give_one_run_for_the_latest_occurrence_not_three()
    {
        await using var h = new SchedulerHarness(Utc(2024, 1, 1, 12));
        h.Start();
        await h.WaitingFor(Utc(2024, 1, 2));

        h.Clock.Advance(TimeSpan.FromDays(3)); // now 2024-01-04 12:00: the 2nd, 3rd and 4th were missed
        await h.Called(1);
        await h.WaitingFor(Utc(2024, 1, 5));

        Assert.Equal(1, h.CallCount);
        Assert.Equal(Utc(2024, 1, 4), h.Call(0).Run.ScheduledAt);
        Assert.Equal(Utc(2024, 1, 4, 12), h.Call(0).At);
        var only = Assert.Single(h.History());
        Assert.Equal("scheduled__2024-01-04T00:00:00Z", only.RunId);
        Assert.Equal(RunOutcome.Succeeded, only.Outcome);
    }

    [Fact]
    public async Task A_slow_run_is_never_overlapped_and_the_occurrences_it_spans_are_not_run()
    {
        var release = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        await using var h = new SchedulerHarness(Utc(2024, 6, 1, 8, 0, 30), new ScheduleOptions { Cron = "* * * * *" });
        h.Job = (run, ct) => run.ScheduledAt == Utc(2024, 6, 1, 8, 1) ? release.Task.WaitAsync(ct) : Task.CompletedTask;
        h.Start();

        await h.WaitingFor(Utc(2024, 6, 1, 8, 1));
        h.MoveTo(Utc(2024, 6, 1, 8, 1));
        await h.Called(1);
        Assert.Null(h.Scheduler.WaitingUntil);
        var running = Assert.Single(h.History());
        Assert.Equal(RunOutcome.Running, running.Outcome);
        Assert.Null(running.EndedAt);

        for (int minute = 2; minute <= 4; minute++)
        {
            h.MoveTo(Utc(2024, 6, 1, 8, minute));
            await Task.Delay(20); // a chance to start an overlapping run, which the counts below would show
        }
        Assert.Equal(1, h.CallCount);
        release.SetResult();
        await h.WaitingFor(Utc(2024, 6, 1, 8, 5));
        Assert.Equal(1, h.CallCount);
        var done = Assert.Single(h.History());
        Assert.Equal(RunOutcome.Succeeded, done.Outcome);
        Assert.Equal(Utc(2024, 6, 1, 8, 4), done.EndedAt);

        h.MoveTo(Utc(2024, 6, 1, 8, 5));
        await h.Called(2);
        await h.WaitingFor(Utc(2024, 6, 1, 8, 6));
        Assert.Equal(Utc(2024, 6, 1, 8, 5), h.Call(1).Run.ScheduledAt);
        Assert.Equal(1, h.MaxConcurrent);
        Assert.Equal(2, h.History().Count);
    }

    [Fact]
    public async Task Run_now_runs_once_at_start_then_follows_the_schedule()
    {
        await using var h = new SchedulerHarness(Utc(2024, 2, 29, 10, 15, 42));
        h.Start(runNow: true);
        await h.Called(1);
        await h.WaitingFor(Utc(2024, 3, 1));

        Assert.Equal(new ScheduledRun("manual__2024-02-29T10:15:42Z", Utc(2024, 2, 29, 10, 15, 42), 1), h.Call(0).Run);
        Assert.Equal(RunOutcome.Succeeded, Assert.Single(h.History()).Outcome);
    }

    [Fact]
    public async Task Cancellation_while_waiting_stops_cleanly_without_a_run()
    {
        await using var h = new SchedulerHarness(Utc(2024, 1, 1, 12));
        h.Start();
        await h.WaitingFor(Utc(2024, 1, 2));
        await h.StopAsync();

        Assert.True(h.Running.IsCompletedSuccessfully);
        Assert.Null(h.Scheduler.WaitingUntil);
        Assert.Equal(0, h.CallCount);
        Assert.Empty(h.History());
    }

    [Fact]
    public async Task Cancellation_within_an_attempt_cancels_the_job_and_records_it_cancelled_without_retrying()
    {
        var started = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        await using var h = new SchedulerHarness(Utc(2024, 1, 1, 23, 59), new ScheduleOptions { Retries = 3 });
        h.Job = async (_, ct) =>
        {
            started.SetResult();
            await Task.Delay(Timeout.Infinite, ct);
        };
        h.Start();
        await h.WaitingFor(Utc(2024, 1, 2));
        h.MoveTo(Utc(2024, 1, 2));
        await started.Task.WaitAsync(TimeSpan.FromSeconds(30));
        h.Clock.Advance(TimeSpan.FromSeconds(7));
        await h.StopAsync();

        Assert.True(h.Running.IsCompletedSuccessfully);
        Assert.Equal(1, h.CallCount);
        var attempt = Assert.Single(h.History());
        Assert.Equal(RunOutcome.Cancelled, attempt.Outcome);
        Assert.Equal(Utc(2024, 1, 2, 0, 0, 7), attempt.EndedAt);
    }

    [Fact]
    public async Task Cancellation_during_the_retry_delay_stops_without_another_attempt()
    {
        await using var h = new SchedulerHarness(Utc(2024, 1, 1, 23, 59), new ScheduleOptions { Retries = 3 });
        h.Job = (_, _) => throw new IOException("boom");
        h.Start();
        await h.WaitingFor(Utc(2024, 1, 2));
        h.MoveTo(Utc(2024, 1, 2));
        await h.WaitingFor(Utc(2024, 1, 2, 0, 2));
        await h.StopAsync();

        Assert.True(h.Running.IsCompletedSuccessfully);
        Assert.Equal(1, h.CallCount);
        var attempt = Assert.Single(h.History());
        Assert.Equal((RunOutcome.Failed, "boom"), (attempt.Outcome, attempt.Error));
    }

    [Fact]
    public async Task An_attempt_finding_another_batch_run_holding_the_lock_fails_and_its_retry_runs_once_the_lock_is_released()
    {
        await using var h = new SchedulerHarness(Utc(2024, 1, 1, 23, 59));
        var manualBatch = BatchRunLock.TryAcquire(BatchRunLock.PathFor(h.HistoryPath));
        Assert.NotNull(manualBatch);
        h.Start();
        await h.WaitingFor(Utc(2024, 1, 2));
        h.MoveTo(Utc(2024, 1, 2));
        await h.WaitingFor(Utc(2024, 1, 2, 0, 2));

        Assert.Equal(0, h.CallCount);
        var blocked = Assert.Single(h.History());
        Assert.Equal(RunOutcome.Failed, blocked.Outcome);
        Assert.Contains("another batch run is in progress", blocked.Error, StringComparison.Ordinal);

        manualBatch.Dispose();
        h.MoveTo(Utc(2024, 1, 2, 0, 2));
        await h.Called(1);
        await h.WaitingFor(Utc(2024, 1, 3));
        Assert.Equal(2, h.Call(0).Run.Attempt);
        Assert.Equal(RunOutcome.Succeeded, h.History(1)[0].Outcome);
    }

    [Fact]
    public async Task A_second_scheduler_on_the_same_history_refuses_to_start()
    {
        await using var h = new SchedulerHarness(Utc(2024, 1, 1, 12));
        h.Start();
        await h.WaitingFor(Utc(2024, 1, 2));

        var second = new BatchScheduler(h.Options, (_, _) => Task.CompletedTask);
        var ex = await Assert.ThrowsAsync<ScheduleException>(() => second.RunAsync(runNow: true));
        Assert.Contains("Another `pinpipe schedule` is running", ex.Message, StringComparison.Ordinal);
        Assert.Equal(0, h.CallCount);
    }

    [Fact]
    public async Task An_attempt_left_running_by_a_killed_scheduler_is_marked_interrupted_when_a_scheduler_starts()
    {
        await using var h = new SchedulerHarness(Utc(2024, 1, 2, 0, 5));
        using (var history = RunHistory.Open(h.HistoryPath))
            history.Start(new ScheduledRun("scheduled__2024-01-02T00:00:00Z", Utc(2024, 1, 2), 1), Utc(2024, 1, 2)); // never finished
        Assert.Equal(RunOutcome.Running, Assert.Single(h.History()).Outcome);

        h.Start();
        await h.WaitingFor(Utc(2024, 1, 3));
        var stale = Assert.Single(h.History());
        Assert.Equal(RunOutcome.Interrupted, stale.Outcome);
        Assert.Equal(Utc(2024, 1, 2, 0, 5), stale.EndedAt);
        Assert.NotNull(stale.Error);
    }

    [Fact]
    public void A_bad_cron_or_retries_is_rejected_naming_the_setting()
    {
        using var dir = new TempDirectory("sched");
        var cron = Assert.Throws<ArgumentException>(() => new BatchScheduler(new ScheduleOptions { Cron = "every day", HistoryPath = dir.File("r.db") }, (_, _) => Task.CompletedTask));
        Assert.Contains("Schedule:Cron: 'every day'", cron.Message, StringComparison.Ordinal);
        var retries = Assert.Throws<ArgumentException>(() => new BatchScheduler(new ScheduleOptions { Retries = -1, HistoryPath = dir.File("r.db") }, (_, _) => Task.CompletedTask));
        Assert.Contains("Schedule:Retries", retries.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Next_occurrence_is_strictly_after_the_given_time_in_utc()
    {
        using var dir = new TempDirectory("sched");
        var s = new BatchScheduler(new ScheduleOptions { HistoryPath = dir.File("r.db") }, (_, _) => Task.CompletedTask);
        Assert.Equal(Utc(2024, 1, 2), s.NextOccurrence(Utc(2024, 1, 1)));
        // 18:30 at UTC-5 is 23:30Z: the next midnight is UTC's (in UTC-5 it would be 05:00Z).
        Assert.Equal(Utc(2024, 1, 2), s.NextOccurrence(new DateTimeOffset(2024, 1, 1, 18, 30, 0, TimeSpan.FromHours(-5))));
    }
}
