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
    /// <param name="global">The options every command takes.</param>
    /// <param name="runBatch">The batch job.</param>
    /// <param name="runMaintenance">The table maintenance (OPTIMIZE, VACUUM, log cleanup) on <c>Maintenance:Cron</c>; null schedules none.</param>
    public static Command Create(GlobalOptions global, Func<CliContext, ScheduledRun, CancellationToken, Task> runBatch,
        Func<CliContext, ScheduledRun, CancellationToken, Task>? runMaintenance = null)
    {
        var command = new Command("schedule", "Run the batch job at each cron occurrence (UTC) until Ctrl-C: no catch-up of missed occurrences, never two runs at once, failed attempts retried; "
            + "and the tables' maintenance (OPTIMIZE, VACUUM, Delta log cleanup) on its own cron, after any batch run in progress. `pinpipe runs` shows the history.");
        var flags = new ConfigFlags();
        flags.Add<string>(command, "--cron", "Schedule:Cron", "When to run: a 5-field cron expression in UTC (default '0 0 * * *', daily at midnight).");
        flags.Add<int>(command, "--retries", "Schedule:Retries", "Retries after a failed attempt (default 3).");
        flags.AddDuration(command, "--retry-delay", "Schedule:RetryDelay", "Wait between a failed attempt and its retry (default 2m).");
        flags.Add<string>(command, "--maintenance-cron", "Maintenance:Cron", "When to run the tables' maintenance: a 5-field cron expression in UTC (default '30 3 * * *', daily at 03:30).");
        flags.AddDuration(command, "--retention", "Maintenance:Retention", "The scheduled VACUUM's retention: files of every version of this last period stay (default 7d; at least 1h).");
        AddHistoryFlag(command, flags);
        MetricsEndpoint.AddFlag(command, flags);
        var runNow = new Option<bool>("--run-now") { Description = "Also run once at start, then follow the schedule." };
        command.Options.Add(runNow);
        command.SetAction((parse, ct) => CliRunner.RunAsync(parse, global, flags, async (ctx, token) =>
        {
            var options = ctx.Settings.Schedule;
            var logger = ctx.LoggerFactory.CreateLogger("pinpipe.schedule");
            await using var metrics = await MetricsEndpoint.StartAsync(ctx, logger, token).ConfigureAwait(false);
            var scheduler = new BatchScheduler(options, (run, t) => runBatch(ctx, run, t), ctx.LoggerFactory.CreateLogger<BatchScheduler>());
            // The maintenance shares the run history and its run lock: it waits for a batch run in progress, and a batch
            // attempt that finds it running is retried as usual.
            var maintenance = runMaintenance is null ? null
                : new BatchScheduler(options with { Cron = ctx.Settings.Maintenance.Cron }, (run, t) => runMaintenance(ctx, run, t), ctx.LoggerFactory.CreateLogger<BatchScheduler>())
                {
                    Job = "maintenance",
                    WaitForRunLock = true,
                };
            logger.LogInformation("Scheduling the batch job: cron '{Cron}' (UTC), {Retries} retries {Delay} apart; history {History}. Ctrl-C to stop.",
                options.Cron, options.Retries, Durations.Text(options.RetryDelay), options.HistoryPath);
            if (maintenance is not null)
                logger.LogInformation("Scheduling the tables' maintenance: cron '{Cron}' (UTC), VACUUM retention {Retention}{Optimize}.",
                    ctx.Settings.Maintenance.Cron, Durations.Text(ctx.Settings.Maintenance.Retention), ctx.Settings.Maintenance.Optimize ? ", OPTIMIZE first" : "");
            using var both = CancellationTokenSource.CreateLinkedTokenSource(token);
            var runs = new List<Task> { scheduler.RunAsync(parse.GetValue(runNow), both.Token) };
            if (maintenance is not null) runs.Add(maintenance.RunAsync(false, both.Token));
            try
            {
                await Task.WhenAny(runs).ConfigureAwait(false);
            }
            finally
            {
                // One scheduler failing to start (another process holds the history) stops the other.
                await both.CancelAsync().ConfigureAwait(false);
            }
            await Task.WhenAll(runs).ConfigureAwait(false);
            logger.LogInformation("Stopped.");
            return ExitCodes.Ok;
        }, ct));
        return command;
    }

    public static void AddHistoryFlag(Command command, ConfigFlags flags) =>
        flags.Add<string>(command, "--history", "Schedule:HistoryPath", "SQLite file of the run history; relative to the data folder (default runs.db).");
}
