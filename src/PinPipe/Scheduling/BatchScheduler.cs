using Cronos;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;
using PinPipe.Configuration;
using PinPipe.Errors;

namespace PinPipe.Scheduling;

/// <summary>
/// Runs a batch job at each occurrence of a cron expression (UTC), as the original Airflow DAG
/// (<c>catchup=False</c>, <c>max_active_runs=1</c>, <c>retries</c>, <c>retry_delay</c>) ran the batch notebook.
/// <list type="bullet">
/// <item>No catch-up: occurrences missed while the process was paused (suspended machine, clock jump) or while a
/// long run ran are not run and not recorded, only logged as a warning. A scheduler that wakes after one or more
/// missed occurrences runs once, for the latest of them; after a run, the next fire is the next occurrence after
/// the time it ended. A scheduler that starts does not run the occurrences before its start (use <c>runNow</c>).</item>
/// <item>Never two runs at once: runs are sequential in one scheduler; across processes each attempt holds the
/// <see cref="BatchRunLock"/> next to the history (a held lock fails the attempt, which is retried), and a second
/// scheduler on the same history refuses to start.</item>
/// <item>A failed attempt is retried <see cref="ScheduleOptions.Retries"/> times, <see cref="ScheduleOptions.RetryDelay"/>
/// after it ended, unless retrying cannot help (<see cref="Retry.IsPermanent"/>: a missing bucket, denied access): then the
/// occurrence fails at once and the next one runs as scheduled; every attempt is a row in the <see cref="RunHistory"/>.</item>
/// <item>Cancellation stops the scheduler between attempts at once and within one by cancelling the job's token; the
/// attempt is recorded as <see cref="RunOutcome.Cancelled"/>.</item>
/// </list>
/// The job knows nothing of the schedule: it receives the <see cref="ScheduledRun"/> and throws on failure.
/// </summary>
public sealed class BatchScheduler
{
    private readonly ScheduleOptions _options;
    private readonly CronExpression _cron;
    private readonly Func<ScheduledRun, CancellationToken, Task> _job;
    private readonly ILogger _logger;
    private readonly TimeProvider _time;
    private int _running;
    private long _waitingUntilTicks;

    /// <summary>Creates a scheduler of <paramref name="job"/>; <see cref="RunAsync"/> starts it.</summary>
    /// <exception cref="ArgumentException">The options are invalid (the message names the setting).</exception>
    public BatchScheduler(ScheduleOptions options, Func<ScheduledRun, CancellationToken, Task> job, ILogger<BatchScheduler>? logger = null, TimeProvider? timeProvider = null)
    {
        ArgumentNullException.ThrowIfNull(options);
        ArgumentNullException.ThrowIfNull(job);
        SettingsProblems.ThrowIfAny(options.Validate(), nameof(options));
        var cron = CronExpression.Parse(options.Cron);
        _options = options with { HistoryPath = Path.GetFullPath(options.HistoryPath) };
        _cron = cron;
        _job = job;
        _logger = (ILogger?)logger ?? NullLogger.Instance;
        _time = timeProvider ?? TimeProvider.System;
    }

    /// <summary>
    /// The longest single sleep while waiting: the clock is read again after it, so a wall-clock jump (a suspended
    /// machine, an NTP step) delays a fire by at most this much. Tests with a hand-moved clock make it short.
    /// </summary>
    internal TimeSpan ClockCheckInterval { get; init; } = TimeSpan.FromSeconds(30);

    /// <summary>How often an attempt that waits for the run lock (<see cref="WaitForRunLock"/>) tries it again.</summary>
    internal TimeSpan RunLockPoll { get; init; } = TimeSpan.FromSeconds(1);

    private string SchedulerLockPath => SchedulerLockPathFor(_options.HistoryPath, Job);

    /// <summary>
    /// What the scheduler runs, for its log lines, its run ids and its lock: <c>batch</c> (default; run ids <c>scheduled__…</c>)
    /// or another job sharing the history, such as <c>maintenance</c> (run ids <c>maintenance__scheduled__…</c>). Schedulers of
    /// different jobs run side by side on one history, and their attempts never overlap (they share its run lock).
    /// </summary>
    public string Job { get; init; } = "batch";

    /// <summary>
    /// When true, an attempt that finds the run lock held (a run of another job is in progress) waits for it to be released
    /// and then runs, instead of failing: the maintenance runs after a batch run that is still going. Default false.
    /// </summary>
    public bool WaitForRunLock { get; init; }

    private string Title => char.ToUpperInvariant(Job[0]) + Job[1..];

    private string RunIdFor(DateTimeOffset at, bool manual) => Job == "batch" ? ScheduledRun.IdFor(at, manual) : $"{Job}__{ScheduledRun.IdFor(at, manual)}";

    /// <summary>Lock file held while a scheduler runs, so that a second scheduler on the same history refuses to start.</summary>
    internal static string SchedulerLockPathFor(string historyPath, string job = "batch") =>
        Path.GetFullPath(historyPath) + (job == "batch" ? "" : "." + job) + ".scheduler.lock";

    /// <summary>When the next attempt starts (a cron occurrence or a retry) while the scheduler waits; null while an attempt runs or the scheduler is stopped.</summary>
    public DateTimeOffset? WaitingUntil
    {
        get
        {
            long ticks = Interlocked.Read(ref _waitingUntilTicks);
            return ticks == 0 ? null : new DateTimeOffset(ticks, TimeSpan.Zero);
        }
    }

    /// <summary>The first occurrence of the cron expression strictly after <paramref name="after"/> (UTC); null when there is none.</summary>
    public DateTimeOffset? NextOccurrence(DateTimeOffset after) =>
        _cron.GetNextOccurrence(after.UtcDateTime, inclusive: false) is { } next ? new DateTimeOffset(next, TimeSpan.Zero) : null;

    /// <summary>
    /// Runs the schedule until <paramref name="cancellationToken"/> is cancelled, then returns (cancellation is the
    /// normal way to stop; it does not throw). With <paramref name="runNow"/>, runs once at start before waiting for
    /// the first occurrence. A run that fails all its attempts is recorded and logged; the schedule goes on.
    /// </summary>
    /// <exception cref="InvalidOperationException">This scheduler is already running.</exception>
    /// <exception cref="ScheduleException">Another scheduler holds this history, the history cannot be opened, or the
    /// cron expression has no further occurrence.</exception>
    public async Task RunAsync(bool runNow = false, CancellationToken cancellationToken = default)
    {
        if (Interlocked.Exchange(ref _running, 1) != 0) throw new InvalidOperationException("This BatchScheduler is already running.");
        try
        {
            using var schedulerLock = BatchRunLock.TryAcquire(SchedulerLockPath)
                ?? throw new ScheduleException("schedule.locked", ErrorKind.Failed, $"Another `pinpipe schedule` is running the {Job} runs with the run history '{_options.HistoryPath}' (it holds '{SchedulerLockPath}'); stop it first or use another Schedule:HistoryPath.");
            using var history = RunHistory.Open(_options.HistoryPath);
            MarkInterruptedIfIdle(history);

            if (runNow)
            {
                var now = _time.GetUtcNow();
                await RunWithRetriesAsync(history, new ScheduledRun(RunIdFor(now, manual: true), now, 1), cancellationToken).ConfigureAwait(false);
            }

            while (!cancellationToken.IsCancellationRequested)
            {
                var now = _time.GetUtcNow();
                var next = NextOccurrence(now)
                    ?? throw new ScheduleException("schedule.cron_never", ErrorKind.BadInput, $"Schedule:Cron: '{_options.Cron}' has no occurrence after {now.UtcDateTime:yyyy-MM-dd HH:mm:ss}Z.");
                _logger.LogInformation("Next {Job} run at {Next:yyyy-MM-dd HH:mm:ss}Z (cron '{Cron}', UTC).", Job, next.UtcDateTime, _options.Cron);
                if (!await WaitUntilAsync(next, cancellationToken).ConfigureAwait(false)) break;

                // Woken late (paused, suspended, clock stepped): run once, for the latest occurrence passed.
                var woke = _time.GetUtcNow();
                var due = _cron.GetPreviousOccurrence(woke.UtcDateTime, inclusive: true) is { } p && p > next.UtcDateTime ? new DateTimeOffset(p, TimeSpan.Zero) : next;
                if (due > next) WarnMissed(next, due, "the scheduler was paused");

                await RunWithRetriesAsync(history, new ScheduledRun(RunIdFor(due, manual: false), due, 1), cancellationToken).ConfigureAwait(false);

                var ended = _time.GetUtcNow();
                if (NextOccurrence(due) is { } first && first <= ended)
                    WarnMissed(first, _cron.GetPreviousOccurrence(ended.UtcDateTime, inclusive: true) is { } last ? new DateTimeOffset(last, TimeSpan.Zero) : first, "the previous run was still running", includeLast: true);
            }
        }
        finally
        {
            Interlocked.Exchange(ref _waitingUntilTicks, 0);
            Volatile.Write(ref _running, 0);
        }
    }

    private async Task RunWithRetriesAsync(RunHistory history, ScheduledRun run, CancellationToken cancellationToken)
    {
        int attempts = _options.Retries + 1;
        for (int attempt = 1; attempt <= attempts; attempt++)
        {
            var current = run with { Attempt = attempt };
            var (outcome, error, permanent) = await AttemptAsync(history, current, cancellationToken).ConfigureAwait(false);
            switch (outcome)
            {
                case RunOutcome.Succeeded:
                    _logger.LogInformation("{Job} run {RunId} succeeded (attempt {Attempt} of {Attempts}).", Title, current.RunId, attempt, attempts);
                    return;
                case RunOutcome.Cancelled:
                    _logger.LogWarning("{Job} run {RunId} cancelled during attempt {Attempt}.", Title, current.RunId, attempt);
                    return;
            }
            if (permanent && attempt < attempts)
            {
                // A missing bucket, denied access: the same attempt in RetryDelay would fail the same way.
                _logger.LogError("{Job} run {RunId} failed and retrying cannot help, so its {Left} remaining attempt(s) are not made: {Error}", Title, current.RunId, attempts - attempt, error);
                return;
            }
            if (attempt == attempts)
            {
                _logger.LogError("{Job} run {RunId} failed: all {Attempts} attempts failed; the last with: {Error}", Title, current.RunId, attempts, error);
                return;
            }
            var retryAt = _time.GetUtcNow() + _options.RetryDelay;
            _logger.LogWarning("{Job} run {RunId} attempt {Attempt} of {Attempts} failed: {Error}. Retrying at {RetryAt:yyyy-MM-dd HH:mm:ss}Z.", Title,
                current.RunId, attempt, attempts, error, retryAt.UtcDateTime);
            if (!await WaitUntilAsync(retryAt, cancellationToken).ConfigureAwait(false)) return;
        }
    }

    /// <returns>The outcome, the error's message, and whether the error is permanent (<see cref="Retry.IsPermanent"/>: retrying cannot help).</returns>
    private async Task<(RunOutcome Outcome, string? Error, bool Permanent)> AttemptAsync(RunHistory history, ScheduledRun run, CancellationToken cancellationToken)
    {
        var lockPath = BatchRunLock.PathFor(history.Path);
        using var runLock = await TakeRunLockAsync(lockPath, cancellationToken).ConfigureAwait(false);
        if (runLock is null && WaitForRunLock) return (RunOutcome.Cancelled, "cancelled while waiting for the run lock", false);
        var started = _time.GetUtcNow();
        if (runLock is null)
        {
            var busy = $"another batch run is in progress (it holds '{lockPath}')";
            history.Finish(history.Start(run, started), RunOutcome.Failed, started, busy);
            return (RunOutcome.Failed, busy, false);
        }
        int stale = history.MarkInterrupted(started);
        if (stale > 0) _logger.LogWarning("{Count} attempt(s) left running by a stopped process marked interrupted in {History}.", stale, history.Path);

        long id = history.Start(run, started);
        _logger.LogInformation("{Job} run {RunId} attempt {Attempt} started.", Title, run.RunId, run.Attempt);
        RunOutcome outcome;
        string? error = null;
        bool permanent = false;
        try
        {
            await _job(run, cancellationToken).ConfigureAwait(false);
            outcome = RunOutcome.Succeeded;
        }
        catch (Exception ex) when (cancellationToken.IsCancellationRequested)
        {
            outcome = RunOutcome.Cancelled;
            error = ex.Message;
        }
#pragma warning disable CA1031 // any failure of a run is recorded in the history and retried; the scheduler must outlive it
        catch (Exception ex)
#pragma warning restore CA1031
        {
            outcome = RunOutcome.Failed;
            error = Retry.Describe(ex);
            permanent = Retry.IsPermanent(ex);
            _logger.LogDebug(ex, "{Job} run {RunId} attempt {Attempt} failed.", Title, run.RunId, run.Attempt);
        }
        history.Finish(id, outcome, _time.GetUtcNow(), error);
        return (outcome, error, permanent);
    }

    /// <summary>The run lock; null when it is held (and, with <see cref="WaitForRunLock"/>, only when cancelled while waiting for it).</summary>
    private async Task<BatchRunLock?> TakeRunLockAsync(string lockPath, CancellationToken cancellationToken)
    {
        while (true)
        {
#pragma warning disable CA2000 // the lock is returned to the caller, who disposes it
            if (BatchRunLock.TryAcquire(lockPath) is { } taken) return taken;
#pragma warning restore CA2000
            if (!WaitForRunLock || !await WaitUntilAsync(_time.GetUtcNow() + RunLockPoll, cancellationToken).ConfigureAwait(false)) return null;
        }
    }

    /// <summary>Marks attempts left running by a killed process as interrupted, when no batch run holds the lock now.</summary>
    private void MarkInterruptedIfIdle(RunHistory history)
    {
        using var runLock = BatchRunLock.TryAcquire(BatchRunLock.PathFor(history.Path));
        if (runLock is null) return;
        int stale = history.MarkInterrupted(_time.GetUtcNow());
        if (stale > 0) _logger.LogWarning("{Count} attempt(s) left running by a stopped process marked interrupted in {History}.", stale, history.Path);
    }

    private void WarnMissed(DateTimeOffset first, DateTimeOffset last, string why, bool includeLast = false)
    {
        // Counted with a bound: a long pause of an every-minute cron must not take long to describe.
        int missed = _cron.GetOccurrences(first.UtcDateTime, last.UtcDateTime, fromInclusive: true, toInclusive: includeLast).Take(10_000).Count();
        if (missed == 0) return;
        _logger.LogWarning("{Missed}{More} occurrence(s) from {First:yyyy-MM-dd HH:mm:ss}Z passed while {Why}; they are not run (no catch-up).",
            missed, missed == 10_000 ? "+" : "", first.UtcDateTime, why);
    }

    /// <summary>Waits until the clock reaches <paramref name="due"/>; false when cancelled first.</summary>
    private async Task<bool> WaitUntilAsync(DateTimeOffset due, CancellationToken cancellationToken)
    {
        Interlocked.Exchange(ref _waitingUntilTicks, due.UtcTicks);
        try
        {
            while (true)
            {
                if (cancellationToken.IsCancellationRequested) return false;
                var left = due - _time.GetUtcNow();
                if (left <= TimeSpan.Zero) return true;
                try
                {
                    await Task.Delay(left < ClockCheckInterval ? left : ClockCheckInterval, _time, cancellationToken).ConfigureAwait(false);
                }
                catch (OperationCanceledException) when (cancellationToken.IsCancellationRequested)
                {
                    return false;
                }
            }
        }
        finally
        {
            Interlocked.Exchange(ref _waitingUntilTicks, 0);
        }
    }
}
