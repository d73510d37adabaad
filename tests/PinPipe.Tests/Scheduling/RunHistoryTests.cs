using Microsoft.Data.Sqlite;
using PinPipe.Scheduling;
using PinPipe.Tests.Support;

namespace PinPipe.Tests.Scheduling;

/// <summary>The run history file: rows per attempt, persistence, latest-N, WAL, bad files.</summary>
public sealed class RunHistoryTests
{
    private static readonly DateTimeOffset T0 = new(2024, 1, 2, 0, 0, 0, TimeSpan.Zero);

    [Fact]
    public void Attempts_persist_across_reopen_with_exact_times_outcomes_and_errors()
    {
        using var dir = new TempDirectory("history");
        var path = dir.File("sub/runs.db");
        var run = new ScheduledRun("scheduled__2024-01-02T00:00:00Z", T0, 1);
        using (var history = RunHistory.Open(path))
        {
            history.Finish(history.Start(run, T0.AddTicks(1234567)), RunOutcome.Failed, T0.AddSeconds(3.5), "it's 'quoted'; DROP TABLE runs; --");
            history.Finish(history.Start(run with { Attempt = 2 }, T0.AddMinutes(2)), RunOutcome.Succeeded, T0.AddMinutes(3), null);
            history.Start(run with { RunId = "manual__2024-01-02T01:00:00Z", ScheduledAt = T0.AddHours(1) }, T0.AddHours(1));
        }

        using var reopened = RunHistory.Open(path);
        Assert.Equal(
        [
            new RunRecord("manual__2024-01-02T01:00:00Z", T0.AddHours(1), 1, T0.AddHours(1), null, RunOutcome.Running, null),
            new RunRecord(run.RunId, T0, 2, T0.AddMinutes(2), T0.AddMinutes(3), RunOutcome.Succeeded, null),
            new RunRecord(run.RunId, T0, 1, T0.AddTicks(1234567), T0.AddSeconds(3.5), RunOutcome.Failed, "it's 'quoted'; DROP TABLE runs; --"),
        ], reopened.Latest(10));
    }

    [Fact]
    public void Latest_returns_the_newest_n_attempts_first()
    {
        using var dir = new TempDirectory("history");
        using var history = RunHistory.Open(dir.File("runs.db"));
        Assert.Empty(history.Latest(5));
        for (int i = 0; i < 30; i++)
        {
            var at = T0.AddDays(i);
            history.Finish(history.Start(new ScheduledRun(ScheduledRun.IdFor(at, manual: false), at, 1), at), RunOutcome.Succeeded, at.AddMinutes(1), null);
        }
        var latest = history.Latest(3);
        Assert.Equal([T0.AddDays(29), T0.AddDays(28), T0.AddDays(27)], latest.Select(r => r.ScheduledAt));
        Assert.Equal(30, history.Latest(100).Count);
    }

    [Fact]
    public void Running_attempts_are_marked_interrupted_and_finished_ones_are_left_alone()
    {
        using var dir = new TempDirectory("history");
        using var history = RunHistory.Open(dir.File("runs.db"));
        var run = new ScheduledRun("scheduled__2024-01-02T00:00:00Z", T0, 1);
        history.Finish(history.Start(run, T0), RunOutcome.Failed, T0.AddMinutes(1), "x");
        history.Start(run with { Attempt = 2 }, T0.AddMinutes(3));

        Assert.Equal(1, history.MarkInterrupted(T0.AddHours(1)));
        var rows = history.Latest(10);
        Assert.Equal([RunOutcome.Interrupted, RunOutcome.Failed], rows.Select(r => r.Outcome));
        Assert.Equal(T0.AddHours(1), rows[0].EndedAt);
        Assert.Equal(0, history.MarkInterrupted(T0.AddHours(2)));
    }

    [Fact]
    public void The_file_is_in_wal_mode_so_readers_do_not_block_the_scheduler()
    {
        using var dir = new TempDirectory("history");
        var path = dir.File("runs.db");
        using var history = RunHistory.Open(path);
        using var connection = new SqliteConnection($"Data Source={path};Pooling=False");
        connection.Open();
        using var cmd = connection.CreateCommand();
        cmd.CommandText = "PRAGMA journal_mode;";
        Assert.Equal("wal", cmd.ExecuteScalar());
    }

    [Fact]
    public void A_file_that_is_not_a_run_history_is_refused_naming_it()
    {
        using var dir = new TempDirectory("history");
        var path = dir.File("runs.db");
        File.WriteAllText(path, "this is not a database, it is a text file that is long enough to have a header of its own.");
        var ex = Assert.Throws<ScheduleException>(() => RunHistory.Open(path));
        Assert.Contains(path, ex.Message, StringComparison.Ordinal);
        Assert.Contains("Schedule:HistoryPath", ex.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Finishing_an_attempt_as_running_or_an_unknown_id_is_refused()
    {
        using var dir = new TempDirectory("history");
        using var history = RunHistory.Open(dir.File("runs.db"));
        long id = history.Start(new ScheduledRun("r", T0, 1), T0);
        Assert.Throws<ArgumentException>(() => history.Finish(id, RunOutcome.Running, T0, null));
        Assert.Throws<ArgumentException>(() => history.Finish(id + 1, RunOutcome.Succeeded, T0, null));
    }
}
