using PinPipe.Configuration;

namespace PinPipe.Maintenance;

/// <summary>
/// Settings of table maintenance (configuration section <c>Maintenance</c>): what <c>pinpipe schedule</c> runs on its own cron
/// after the batch job (OPTIMIZE, VACUUM and the Delta log cleanup of every table PinPipe writes), and the defaults of
/// <c>pinpipe vacuum</c> and <c>pinpipe optimize</c>.
/// </summary>
public sealed record MaintenanceOptions
{
    /// <summary>The shortest retention VACUUM takes without <c>--force</c>: under it a reader or a writer still at work may lose files.</summary>
    public static readonly TimeSpan MinimumRetention = TimeSpan.FromHours(1);

    /// <summary>When <c>pinpipe schedule</c> runs the maintenance: a 5-field cron expression in UTC. Default <c>30 3 * * *</c> (daily at 03:30).</summary>
    public string Cron { get; init; } = "30 3 * * *";

    /// <summary>
    /// VACUUM keeps every file a version of the last this-long references (time travel within it stays possible), and files
    /// never committed until they are this old. Default 7 days (Delta's <c>delta.deletedFileRetentionDuration</c>); at least 1 hour.
    /// </summary>
    public TimeSpan Retention { get; init; } = TimeSpan.FromDays(7);

    /// <summary>Whether the scheduled maintenance also compacts the tables' small files (OPTIMIZE) before the VACUUM. Default true.</summary>
    public bool Optimize { get; init; } = true;

    /// <summary>Every problem of these settings, each naming its key; empty when all is well.</summary>
    public IReadOnlyList<string> Validate() => new SettingsProblems()
        .Add(CronCheck.Problem(Cron, "Maintenance:Cron") is { } cronProblem ? [cronProblem] : Array.Empty<string>())
        .Check(Retention >= MinimumRetention,
            $"Maintenance:Retention: {Durations.Text(Retention)} must be at least 1 hour: a shorter VACUUM can delete files a reader or a running writer still needs (`pinpipe vacuum --retention … --force` does it once, deliberately).")
        .ToList();
}
