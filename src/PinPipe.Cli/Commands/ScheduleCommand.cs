using System.CommandLine;
using Microsoft.Extensions.Logging;
using PinPipe.Configuration;
using PinPipe.Scheduling;

namespace PinPipe.Cli.Commands;

/// <summary>
/// <c>pinpipe schedule</c>: runs the batch job on a cron schedule until Ctrl-C, as the original Airflow DAG did
/// (daily, no catch-up, one run at a time, retries); every attempt lands in the run history <c>pinpipe runs</c> shows.
/// </summary>
internal static class ScheduleCommand
{
    public static Command Create(GlobalOptions global, Func<CliContext, ScheduledRun, CancellationToken, Task> runBatch)
    {
        var command = new Command("schedule", "Run the batch job at each cron occurrence (UTC) until Ctrl-C: no catch-up of missed occurrences, never two runs at once, failed attempts retried. `pinpipe runs` shows the history.");
        var flags = new ConfigFlags();
        flags.Add<string>(command, "--cron", "Schedule:Cron", "When to run: a 5-field cron expression in UTC (default '0 0 * * *', daily at midnight).");
        flags.Add<int>(command, "--retries", "Schedule:Retries", "Retries after a failed attempt (default 3).");
        flags.AddDuration(command, "--retry-delay", "Schedule:RetryDelay", "Wait between a failed attempt and its retry (default 2m).");
        AddHistoryFlag(command, flags);
        var runNow = new Option<bool>("--run-now") { Description = "Also run once at start, then follow the schedule." };
        command.Options.Add(runNow);
        command.SetAction((parse, ct) => CliRunner.RunAsync(parse, global, flags, async (ctx, token) =>
        {
            var options = ctx.Settings.Schedule;
            var logger = ctx.LoggerFactory.CreateLogger("pinpipe.schedule");
            var scheduler = new BatchScheduler(options, (run, t) => runBatch(ctx, run, t), ctx.LoggerFactory.CreateLogger<BatchScheduler>());
            logger.LogInformation("Scheduling the batch job: cron '{Cron}' (UTC), {Retries} retries {Delay} apart; history {History}. Ctrl-C to stop.",
                options.Cron, options.Retries, Durations.Text(options.RetryDelay), options.HistoryPath);
            await scheduler.RunAsync(parse.GetValue(runNow), token).ConfigureAwait(false);
            logger.LogInformation("Stopped.");
            return ExitCodes.Ok;
        }, ct));
        return command;
    }

    public static void AddHistoryFlag(Command command, ConfigFlags flags) =>
        flags.Add<string>(command, "--history", "Schedule:HistoryPath", "SQLite file of the run history; relative to the data folder (default runs.db).");
}
