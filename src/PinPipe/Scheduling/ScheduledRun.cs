namespace PinPipe.Scheduling;

/// <summary>
/// One attempt of a scheduled batch run, as the job delegate of <see cref="BatchScheduler"/> receives it: the
/// run it belongs to (<see cref="RunId"/>, the same for every attempt), the cron occurrence it was due at and the
/// attempt number (1 for the first try, up to <see cref="ScheduleOptions.Retries"/> + 1).
/// </summary>
/// <param name="RunId">The run's id: <c>scheduled__2024-01-02T00:00:00Z</c> for a cron occurrence, <c>manual__…</c> for <c>--run-now</c> (Airflow's naming).</param>
/// <param name="ScheduledAt">The cron occurrence (UTC) the run is for; for a manual run, when it was asked for.</param>
/// <param name="Attempt">1-based attempt number.</param>
public sealed record ScheduledRun(string RunId, DateTimeOffset ScheduledAt, int Attempt)
{
    /// <summary>The run id of the occurrence <paramref name="scheduledAt"/>: <c>scheduled__</c> or <c>manual__</c> and the UTC time to the second.</summary>
    public static string IdFor(DateTimeOffset scheduledAt, bool manual) =>
        (manual ? "manual__" : "scheduled__") + scheduledAt.UtcDateTime.ToString("yyyy-MM-dd'T'HH:mm:ss'Z'", System.Globalization.CultureInfo.InvariantCulture);
}
