using System.Globalization;

namespace PinPipe.Configuration;

/// <summary>
/// Durations as logs and messages show them, in the forms the duration flags and settings take (<c>100ms</c>, <c>10s</c>,
/// <c>1.5m</c>, <c>2h</c>, <c>1d</c>), rather than .NET's <c>00:00:00.1000000</c>: what is shown can be typed back.
/// </summary>
public static class DurationText
{
    private static readonly (string Unit, long Ticks)[] Units =
    [
        ("d", TimeSpan.TicksPerDay), ("h", TimeSpan.TicksPerHour), ("m", TimeSpan.TicksPerMinute),
        ("s", TimeSpan.TicksPerSecond), ("ms", TimeSpan.TicksPerMillisecond),
    ];

    /// <summary>
    /// The largest unit in which <paramref name="duration"/> is at least 1 with at most three decimals (<c>1500 ms</c> is
    /// <c>1.5s</c>, <c>90 min</c> is <c>1.5h</c>, <c>25 h</c> is <c>25h</c>); below a millisecond, fractional milliseconds.
    /// </summary>
    public static string Format(TimeSpan duration)
    {
        if (duration == TimeSpan.Zero) return "0s";
        if (duration < TimeSpan.Zero) return "-" + Format(duration.Duration());
        long ticks = duration.Ticks;
        foreach (var (unit, unitTicks) in Units)
        {
            if (ticks >= unitTicks && ticks % unitTicks * 1000 % unitTicks == 0)
                return ((decimal)ticks / unitTicks).ToString("0.###", CultureInfo.InvariantCulture) + unit;
        }
        return ((decimal)ticks / TimeSpan.TicksPerMillisecond).ToString("0.####", CultureInfo.InvariantCulture) + "ms";
    }

    /// <summary><see cref="Format(TimeSpan)"/>, or <paramref name="none"/> when there is no duration.</summary>
    public static string Format(TimeSpan? duration, string none) => duration is { } d ? Format(d) : none;
}
