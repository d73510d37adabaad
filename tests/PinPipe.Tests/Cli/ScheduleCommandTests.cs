using System.CommandLine;
using PinPipe.Cli;
using PinPipe.Cli.Commands;
using PinPipe.Scheduling;
using PinPipe.Tests.Support;

namespace PinPipe.Tests.Cli;

/// <summary><c>pinpipe schedule</c> and <c>pinpipe runs</c>: flags reach the scheduler, the history is shown, bad settings and a second scheduler are refused.</summary>
public sealed class ScheduleCommandTests
{
    private static readonly TimeSpan Timeout = TimeSpan.FromSeconds(60);

    [Fact]
    public async Task Runs_on_an_empty_history_says_so_exits_0_and_creates_nothing()
    {
        using var dir = new TempDirectory("cli");
        var (code, output) = await CliProcess.RunAsync(dir.Path, Timeout, "runs");
        Assert.True(code == 0, output);
        Assert.Contains("No runs recorded yet", output, StringComparison.Ordinal);
        Assert.False(Directory.Exists(Path.Combine(dir.Path, ".pinpipe")));
    }

    [Fact]
    public async Task Runs_prints_the_latest_attempts_newest_first_as_a_table()
    {
        using var dir = new TempDirectory("cli");
        var t0 = new DateTimeOffset(2024, 1, 2, 0, 0, 0, TimeSpan.Zero);
        var run = new ScheduledRun(ScheduledRun.IdFor(t0, manual: false), t0, 1);
        using (var history = RunHistory.Open(Path.Combine(dir.Path, ".pinpipe", "runs.db")))
        {
            history.Finish(history.Start(run, t0), RunOutcome.Failed, t0.AddSeconds(12), "source unavailable");
            history.Finish(history.Start(run with { Attempt = 2 }, t0.AddMinutes(2)), RunOutcome.Succeeded, t0.AddMinutes(5).AddSeconds(3), null);
            history.Start(new ScheduledRun(ScheduledRun.IdFor(t0.AddDays(1), manual: false), t0.AddDays(1), 1), t0.AddDays(1));
        }

        var (code, output) = await CliProcess.RunAsync(dir.Path, Timeout, "runs");
        Assert.True(code == 0, output);
        var lines = output.Split('\n');
        int Row(string text) => Array.FindIndex(lines, l => l.Contains(text, StringComparison.Ordinal));
        int running = Row("scheduled__2024-01-03T00:00:00Z"), succeeded = Row("succeeded"), failed = Row("source unavailable");
        Assert.True(running >= 0 && succeeded > running && failed > succeeded, output);
        Assert.Contains("running", lines[running], StringComparison.Ordinal);
        Assert.Contains("2024-01-02 00:02:00", lines[succeeded], StringComparison.Ordinal);
        Assert.Contains("3:03", lines[succeeded], StringComparison.Ordinal);
        Assert.Contains("failed", lines[failed], StringComparison.Ordinal);
        Assert.Contains("12.0 s", lines[failed], StringComparison.Ordinal);
        Assert.Contains("scheduled__2024-01-02T00:00:00Z", lines[failed], StringComparison.Ordinal);

        var (limitedCode, limited) = await CliProcess.RunAsync(dir.Path, Timeout, "runs", "--limit", "1");
        Assert.Equal(0, limitedCode);
        Assert.Contains("scheduled__2024-01-03T00:00:00Z", limited, StringComparison.Ordinal);
        Assert.DoesNotContain("scheduled__2024-01-02T00:00:00Z", limited, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Runs_with_a_limit_below_1_is_refused()
    {
        using var dir = new TempDirectory("cli");
        var (code, output) = await CliProcess.RunAsync(dir.Path, Timeout, "runs", "--limit", "0");
        Assert.NotEqual(0, code);
        Assert.Contains("--limit: 0 must be at least 1", output, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Schedule_with_a_bad_cron_exits_2_naming_Schedule_Cron_and_does_nothing()
    {
        using var dir = new TempDirectory("cli");
        var (code, output) = await CliProcess.RunAsync(dir.Path, Timeout, "schedule", "--cron", "bad");
        Assert.True(code == 2, output);
        Assert.Contains("Schedule:Cron: 'bad' has 1 field; a cron expression has 5 fields: minute (0-59) hour (0-23)", output, StringComparison.Ordinal);
        Assert.False(Directory.Exists(Path.Combine(dir.Path, ".pinpipe")));
    }

    [Fact]
    public async Task A_second_schedule_process_on_the_same_history_exits_1_and_sigterm_stops_the_first_with_0()
    {
        using var dir = new TempDirectory("cli");
        await using var first = CliProcess.Start(dir.Path, "schedule");
        var deadline = DateTime.UtcNow + Timeout;
        while (!first.Output.Contains("Next batch run at", StringComparison.Ordinal))
        {
            if (first.HasExited || DateTime.UtcNow > deadline) Assert.Fail($"schedule did not start:\n{first.Output}");
            await Task.Delay(50);
        }
        Assert.Contains("00:00:00Z", first.Output, StringComparison.Ordinal);

        // The lock is held across processes: this process cannot take it either.
        var history = Path.Combine(dir.Path, ".pinpipe", "runs.db");
        Assert.Null(BatchRunLock.TryAcquire(BatchScheduler.SchedulerLockPathFor(history)));

        var (code, output) = await CliProcess.RunAsync(dir.Path, Timeout, "schedule", "--run-now");
        Assert.True(code == 1, output);
        Assert.Contains("Another `pinpipe schedule` is running", output, StringComparison.Ordinal);

        Assert.Equal(0, await first.SignalAsync("TERM", Timeout));
        Assert.Contains("Stopped", first.Output, StringComparison.Ordinal);
        using var released = BatchRunLock.TryAcquire(BatchScheduler.SchedulerLockPathFor(history));
        Assert.NotNull(released);
    }

    [Fact]
    public async Task Schedule_passes_its_flags_to_the_scheduler_and_runs_the_job_once_at_start_with_run_now()
    {
        using var dir = new TempDirectory("cli");
        using var stop = new CancellationTokenSource();
        CliContext? seen = null;
        ScheduledRun? ran = null;
        var global = new GlobalOptions();
        var root = new RootCommand("test");
        global.AddTo(root);
        root.Subcommands.Add(ScheduleCommand.Create(global, (ctx, run, _) =>
        {
            (seen, ran) = (ctx, run);
#pragma warning disable CA1849 // the run callback stops the scheduler synchronously, before it returns, on purpose
            stop.Cancel(); // stops the scheduler once this run is recorded
#pragma warning restore CA1849
            return Task.CompletedTask;
        }));

        int code = await root.Parse(["schedule", "--run-now", "--cron", "*/5 * * * *", "--retries", "0", "--retry-delay", "5s", "--data-dir", dir.Path])
            .InvokeAsync(new InvocationConfiguration { ProcessTerminationTimeout = null }, stop.Token).WaitAsync(Timeout);

        Assert.Equal(0, code);
        Assert.NotNull(seen);
        Assert.Equal(new ScheduleOptions { Cron = "*/5 * * * *", Retries = 0, RetryDelay = TimeSpan.FromSeconds(5), HistoryPath = Path.Combine(dir.Path, "runs.db") }, seen.Settings.Schedule);
        Assert.NotNull(ran);
        Assert.StartsWith("manual__", ran.RunId, StringComparison.Ordinal);
        Assert.Equal(1, ran.Attempt);
        using var history = RunHistory.Open(Path.Combine(dir.Path, "runs.db"));
        var attempt = Assert.Single(history.Latest(10));
        Assert.Equal((ran.RunId, RunOutcome.Succeeded), (attempt.RunId, attempt.Outcome));
    }
}
