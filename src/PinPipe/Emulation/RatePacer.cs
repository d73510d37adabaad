using System.Diagnostics;

namespace PinPipe.Emulation;

/// <summary>
/// Paces one consumer to a steady rate (a token bucket kept as "the time the next token is due").
/// It sleeps only when more than a millisecond ahead, and lets up to <see cref="BurstWindow"/> of
/// missed tokens be caught up, so rates from 1/s to hundreds of thousands per second average out
/// exactly despite coarse timers. Not thread-safe: one caller at a time.
/// </summary>
internal sealed class RatePacer
{
    private static readonly long MinSleepTicks = Stopwatch.Frequency / 1000;
    private static readonly TimeSpan BurstWindow = TimeSpan.FromMilliseconds(50);

    private readonly double _ticksPerToken;
    private readonly double _burstTicks;
    private double _next;

    public RatePacer(double perSecond)
    {
        if (!(perSecond > 0) || double.IsInfinity(perSecond)) throw new ArgumentOutOfRangeException(nameof(perSecond), perSecond, "A rate is a positive number.");
        _ticksPerToken = Stopwatch.Frequency / perSecond;
        // At least one token of credit, at most the burst window's worth.
        _burstTicks = Math.Max(_ticksPerToken, BurstWindow.TotalSeconds * Stopwatch.Frequency);
        _next = Stopwatch.GetTimestamp();
    }

    /// <summary>Waits until the next token is due, then takes it.</summary>
    public ValueTask WaitAsync(CancellationToken cancellationToken = default)
    {
        long now = Stopwatch.GetTimestamp();
        if (_next < now - _burstTicks + _ticksPerToken) _next = now - _burstTicks + _ticksPerToken;
        var due = _next;
        _next += _ticksPerToken;
        var ahead = due - now;
        if (ahead <= MinSleepTicks) return cancellationToken.IsCancellationRequested ? ValueTask.FromCanceled(cancellationToken) : ValueTask.CompletedTask;
        return new ValueTask(Task.Delay(TimeSpan.FromSeconds(ahead / Stopwatch.Frequency), cancellationToken));
    }
}
