namespace PinPipe.Scheduling;

/// <summary>How an attempt of a scheduled run ended, as <see cref="RunHistory"/> stores it.</summary>
public enum RunOutcome
{
    /// <summary>Started and not finished: the attempt is running now, or its process was killed and no later attempt has taken the run lock yet.</summary>
    Running,
    /// <summary>The job completed.</summary>
    Succeeded,
    /// <summary>The job threw (or another batch run held the lock); a later attempt may retry it.</summary>
    Failed,
    /// <summary>The scheduler was stopped (Ctrl-C, SIGTERM) while the attempt ran.</summary>
    Cancelled,
    /// <summary>Was left <see cref="Running"/> by a process that died; marked so by the next attempt to take the run lock.</summary>
    Interrupted,
}

/// <summary>One attempt of a scheduled run, as <c>pinpipe runs</c> shows it.</summary>
/// <param name="RunId">The run's id (<see cref="ScheduledRun.RunId"/>).</param>
/// <param name="ScheduledAt">The cron occurrence the run is for.</param>
/// <param name="Attempt">1-based attempt number.</param>
/// <param name="StartedAt">When the attempt started.</param>
/// <param name="EndedAt">When it ended; null while <see cref="RunOutcome.Running"/>.</param>
/// <param name="Outcome">How it ended.</param>
/// <param name="Error">The failure's message, for <see cref="RunOutcome.Failed"/> (and a cancelled job's message).</param>
public sealed record RunRecord(string RunId, DateTimeOffset ScheduledAt, int Attempt, DateTimeOffset StartedAt, DateTimeOffset? EndedAt, RunOutcome Outcome, string? Error);
