using System.Globalization;

namespace PinPipe.Configuration;

/// <summary>
/// The one way a duration is written, in flags, the settings file and environment variables alike: a number and a unit
/// (<c>500ms</c>, <c>30s</c>, <c>1.5s</c>, <c>5m</c>, <c>2h</c>, <c>1d</c>) or .NET's constant form <c>[d.]hh:mm:ss[.fffffff]</c>
/// (<c>00:00:10</c>, <c>7.00:00:00</c>). Negative durations and a bare number (which unit?) are refused.
/// </summary>
public static class Durations
{
    /// <summary>How durations are written, for messages and help: <c>500ms, 30s, 5m, 2h, 1d or hh:mm:ss</c>.</summary>
    public const string Forms = "500ms, 30s, 5m, 2h, 1d or hh:mm:ss";

    private static readonly (string Unit, double Milliseconds)[] Units = [("ms", 1), ("s", 1000), ("m", 60_000), ("h", 3_600_000), ("d", 86_400_000)];

    /// <summary>The duration <paramref name="text"/> gives.</summary>
    /// <exception cref="FormatException"><paramref name="text"/> is not a duration.</exception>
    public static TimeSpan Parse(string text) =>
        TryParse(text, out var value) ? value : throw new FormatException($"'{text}' is not a duration; use e.g. {Forms}.");

    /// <summary>Whether <paramref name="text"/> is a duration, and which.</summary>
    public static bool TryParse(string? text, out TimeSpan value)
    {
        value = default;
        if (text is null) return false;
        text = text.Trim();
        if (text == "0")
        {
            // Zero needs no unit (vacuum --retention 0); any other number without one is refused as ambiguous.
            return true;
        }
        if (text.Contains(':', StringComparison.Ordinal))
            return TimeSpan.TryParseExact(text, "c", CultureInfo.InvariantCulture, out value) && value >= TimeSpan.Zero;
        foreach (var (unit, scale) in Units)
        {
            if (!text.EndsWith(unit, StringComparison.OrdinalIgnoreCase)) continue;
            var number = text[..^unit.Length];
            if (unit == "s" && number.EndsWith('m')) continue; // "ms" is handled first
            if (number.Length == 0 || !char.IsAsciiDigit(number[0]) && number[0] != '.') return false;
            if (!double.TryParse(number, NumberStyles.AllowDecimalPoint, CultureInfo.InvariantCulture, out var n)) return false;
            double ms = n * scale;
            if (ms > TimeSpan.MaxValue.TotalMilliseconds) return false;
            value = TimeSpan.FromMilliseconds(ms);
            return true;
        }
        return false;
    }

    /// <summary>The duration as <see cref="TryParse"/> reads it back and .NET's settings binder reads it: <c>00:00:10</c>.</summary>
    public static string ForBinder(TimeSpan value) => value.ToString("c", CultureInfo.InvariantCulture);

    private static readonly (string Unit, long Ticks)[] TextUnits =
    [
        ("d", TimeSpan.TicksPerDay), ("h", TimeSpan.TicksPerHour), ("m", TimeSpan.TicksPerMinute),
        ("s", TimeSpan.TicksPerSecond), ("ms", TimeSpan.TicksPerMillisecond),
    ];

    /// <summary>
    /// The duration as logs and messages show it, in the forms <see cref="TryParse"/> reads (<c>100ms</c>, not .NET's
    /// <c>00:00:00.1000000</c>): the largest unit in which <paramref name="duration"/> is at least 1 with at most three decimals (<c>1500 ms</c> is
    /// <c>1.5s</c>, <c>90 min</c> is <c>1.5h</c>, <c>25 h</c> is <c>25h</c>); below a millisecond, fractional milliseconds.
    /// </summary>
    public static string Text(TimeSpan duration)
    {
        if (duration == TimeSpan.Zero) return "0s";
        if (duration < TimeSpan.Zero) return "-" + Text(duration.Duration());
        long ticks = duration.Ticks;
        foreach (var (unit, unitTicks) in TextUnits)
        {
            if (ticks >= unitTicks && ticks % unitTicks * 1000 % unitTicks == 0)
                return ((decimal)ticks / unitTicks).ToString("0.###", CultureInfo.InvariantCulture) + unit;
        }
        return ((decimal)ticks / TimeSpan.TicksPerMillisecond).ToString("0.####", CultureInfo.InvariantCulture) + "ms";
    }

    /// <summary><see cref="Text(TimeSpan)"/>, or <paramref name="none"/> when there is no duration.</summary>
    public static string Text(TimeSpan? duration, string none) => duration is { } d ? Text(d) : none;
}
