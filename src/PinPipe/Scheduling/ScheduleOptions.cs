using PinPipe.Configuration;

namespace PinPipe.Scheduling;

/// <summary>Settings of <c>pinpipe schedule</c> (configuration section <c>Schedule</c>), the original Airflow DAG's.</summary>
public sealed record ScheduleOptions
{
    /// <summary>When the batch job runs: a 5-field cron expression, evaluated in UTC. Default <c>0 0 * * *</c> (daily at midnight, the DAG's <c>@daily</c>).</summary>
    public string Cron { get; init; } = "0 0 * * *";

    /// <summary>Retries after a failed attempt. Default 3.</summary>
    public int Retries { get; init; } = 3;

    /// <summary>Wait between a failed attempt and its retry. Default 2 minutes.</summary>
    public TimeSpan RetryDelay { get; init; } = TimeSpan.FromMinutes(2);

    /// <summary>SQLite file holding the run history shown by <c>pinpipe runs</c>. A relative path is under the data folder. Default <c>runs.db</c>.</summary>
    public string HistoryPath { get; init; } = "runs.db";

    /// <summary>Every problem of these settings, each naming its key; empty when all is well.</summary>
    public IReadOnlyList<string> Validate() => new SettingsProblems()
        .Check(Retries is >= 0 and <= 100, $"Schedule:Retries: {Retries} must be 0 to 100.")
        .Check(RetryDelay >= TimeSpan.Zero, $"Schedule:RetryDelay: {Durations.Text(RetryDelay)} must not be negative.")
        .Add(CronCheck.Problem(Cron) is { } cronProblem ? [cronProblem] : Array.Empty<string>())
        .Check(!string.IsNullOrWhiteSpace(HistoryPath), "Schedule:HistoryPath: must not be empty.")
        .ToList();
}
