using System.Globalization;
using Microsoft.Extensions.Logging;

namespace PinPipe.Errors;

/// <summary>
/// How PinPipe's retry loops (the sink's partitions, the stream job's tables, the start checks) treat failures: a
/// <see cref="PinPipeException"/> that says retrying cannot help (<see cref="PinPipeException.IsRetriable"/> false: a
/// missing bucket, denied access, bad credentials) stops at once; a transient one (an unreachable or overloaded
/// endpoint) is retried after a backoff that doubles up to <see cref="MaxDelay"/>. Each retry is one warning line
/// (what failed, the attempt, the next delay); the exception with its stack trace is logged at Debug (<c>--verbose</c>).
/// </summary>
public static class Retry
{
    /// <summary>The longest wait between two attempts: 30 s.</summary>
    public static TimeSpan MaxDelay { get; } = TimeSpan.FromSeconds(30);

    /// <summary>True when retrying cannot help: a <see cref="PinPipeException"/> that is not retriable.</summary>
    public static bool IsPermanent(Exception e) => e is PinPipeException { IsRetriable: false };

    /// <summary>True for a <see cref="PinPipeException"/> that says a later attempt may succeed.</summary>
    public static bool IsTransient(Exception e) => e is PinPipeException { IsRetriable: true };

    /// <summary>The wait after the <paramref name="failures"/>-th failure in a row: <paramref name="first"/>, doubled each time, at most <see cref="MaxDelay"/> (or <paramref name="first"/> when larger).</summary>
    public static TimeSpan Delay(int failures, TimeSpan first)
    {
        TimeSpan max = first > MaxDelay ? first : MaxDelay;
        double factor = Math.Pow(2, Math.Clamp(failures - 1, 0, 30));
        double ms = first.TotalMilliseconds * factor;
        return ms >= max.TotalMilliseconds ? max : TimeSpan.FromMilliseconds(ms);
    }

    /// <summary>The failure in one line: its message, and what it is about when the exception names it (<c>(bucket 'b' at http://…)</c>).</summary>
    public static string Describe(Exception e)
    {
        ArgumentNullException.ThrowIfNull(e);
        return e is PinPipeException { Where: { Length: > 0 } where } ? $"{e.Message} ({where})" : e.Message;
    }

    /// <summary>A delay as people write it: <c>500ms</c>, <c>2s</c>, <c>1.5s</c>, <c>2m</c>.</summary>
    public static string Format(TimeSpan delay) =>
        delay < TimeSpan.FromSeconds(1) ? $"{delay.TotalMilliseconds.ToString("0", CultureInfo.InvariantCulture)}ms"
        : delay < TimeSpan.FromMinutes(1) ? $"{delay.TotalSeconds.ToString("0.#", CultureInfo.InvariantCulture)}s"
        : $"{delay.TotalMinutes.ToString("0.#", CultureInfo.InvariantCulture)}m";

    /// <summary>Logs a retry: one warning line without the exception, and the exception (stack trace) at Debug.</summary>
    public static void LogRetry(ILogger logger, string what, Exception error, int attempt, TimeSpan delay)
    {
        ArgumentNullException.ThrowIfNull(logger);
        logger.LogWarning("{What} failed (attempt {Attempt}): {Error}; retrying in {Delay}.", what, attempt, Describe(error), Format(delay));
        logger.LogDebug(error, "{What}: attempt {Attempt} failed with:", what, attempt);
    }

    /// <summary>
    /// Runs <paramref name="operation"/>, retrying transient failures (<see cref="IsTransient"/>) up to
    /// <paramref name="attempts"/> attempts in all, after <paramref name="first"/>, then doubled waits; any other failure,
    /// and the last attempt's, is thrown as it is.
    /// </summary>
    public static async Task<T> TransientAsync<T>(Func<CancellationToken, ValueTask<T>> operation, ILogger logger, string what, int attempts,
        TimeSpan first, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(operation);
        for (int attempt = 1; ; attempt++)
        {
            try
            {
                return await operation(cancellationToken).ConfigureAwait(false);
            }
            catch (Exception e) when (attempt < attempts && IsTransient(e) && !cancellationToken.IsCancellationRequested)
            {
                TimeSpan delay = Delay(attempt, first);
                LogRetry(logger, what, e, attempt, delay);
                await Task.Delay(delay, cancellationToken).ConfigureAwait(false);
            }
        }
    }
}
