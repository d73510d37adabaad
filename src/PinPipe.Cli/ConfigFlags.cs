using System.CommandLine;
using System.Globalization;
using PinPipe.Configuration;

namespace PinPipe.Cli;

/// <summary>
/// Flags that override configuration keys: each flag names its key (<c>--flush-size</c> → <c>Sink:FlushSize</c>),
/// so a flag, an environment variable (<c>PINPIPE_Sink__FlushSize</c>) and the file (<c>"Sink": {"FlushSize": …}</c>)
/// set the same setting, and the flag wins.
/// </summary>
internal sealed class ConfigFlags
{
    private readonly List<(Option Option, string Key, Func<object?, string?> Format)> _flags = [];

    public Option<T> Add<T>(Command command, string name, string key, string description, Func<T, string?>? format = null)
    {
        var option = new Option<T>(name) { Description = $"{description} [config: {key}]" };
        command.Options.Add(option);
        _flags.Add((option, key, v => v is null ? null : format is not null ? format((T)v) : Convert.ToString(v, CultureInfo.InvariantCulture)));
        return option;
    }

    /// <summary>
    /// A flag whose value is one of <typeparamref name="TEnum"/>'s names (<c>--log sqlite|kafka</c>), in any case; help shows the
    /// names. Its value goes to the settings as given: a bad one is reported there with every other bad setting, naming
    /// the key and the valid values (exit code 2).
    /// </summary>
    public Option<string> AddChoice<TEnum>(Command command, string name, string key, string description) where TEnum : struct, Enum
    {
        var names = SettingChoices.Names<TEnum>();
        var option = Add<string>(command, name, key, description);
        option.HelpName = string.Join('|', names);
        option.CompletionSources.Add(names.ToArray());
        return option;
    }

    /// <summary>A duration flag: accepts <c>500ms</c>, <c>30s</c>, <c>5m</c>, <c>2h</c>, <c>1d</c> or <c>hh:mm:ss</c>.</summary>
    public Option<string> AddDuration(Command command, string name, string key, string description)
    {
        var option = Add<string>(command, name, key, description + " (e.g. 30s, 5m, 1h)", v => Durations.Parse(v).ToString("c", CultureInfo.InvariantCulture));
        option.Validators.Add(r =>
        {
            var text = r.GetValueOrDefault<string>();
            if (text is not null && !Durations.TryParse(text, out _))
                r.AddError($"{name}: '{text}' is not a duration; use e.g. 500ms, 30s, 5m, 2h, 1d or hh:mm:ss.");
        });
        return option;
    }

    /// <summary>The configuration overrides of the flags given on this command line.</summary>
    public Dictionary<string, string?> Overrides(ParseResult result)
    {
        var overrides = new Dictionary<string, string?>(StringComparer.OrdinalIgnoreCase);
        foreach (var (option, key, format) in _flags)
        {
            var r = result.GetResult(option);
            if (r is null || r.Implicit) continue;
            overrides[key] = format(r.GetValueOrDefault<object?>());
        }
        return overrides;
    }
}

/// <summary>Human durations for flags.</summary>
internal static class Durations
{
    public static TimeSpan Parse(string text) =>
        TryParse(text, out var value) ? value : throw new FormatException($"'{text}' is not a duration.");

    public static bool TryParse(string text, out TimeSpan value)
    {
        text = text.Trim();
        value = default;
        if (TimeSpan.TryParseExact(text, "c", CultureInfo.InvariantCulture, out value) && text.Contains(':', StringComparison.Ordinal)) return value >= TimeSpan.Zero;
        (string unit, double scale)[] units = [("ms", 1), ("s", 1000), ("m", 60_000), ("h", 3_600_000), ("d", 86_400_000)];
        foreach (var (unit, scale) in units)
        {
            if (!text.EndsWith(unit, StringComparison.OrdinalIgnoreCase)) continue;
            var number = text[..^unit.Length];
            if (unit == "s" && number.EndsWith('m')) continue; // "ms" handled first
            if (double.TryParse(number, NumberStyles.Float, CultureInfo.InvariantCulture, out var n) && n >= 0 && !double.IsInfinity(n))
            {
                value = TimeSpan.FromMilliseconds(n * scale);
                return true;
            }
            return false;
        }
        return false;
    }
}
