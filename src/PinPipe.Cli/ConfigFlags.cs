using System.CommandLine;
using System.Globalization;
using System.Numerics;
using PinPipe.Configuration;

namespace PinPipe.Cli;

/// <summary>
/// Flags that override configuration keys: each flag names its key (<c>--flush-size</c> → <c>Sink:FlushSize</c>),
/// so a flag, an environment variable (<c>PINPIPE_Sink__FlushSize</c>) and the file (<c>"Sink": {"FlushSize": …}</c>)
/// set the same setting, and the flag wins.
/// </summary>
internal sealed class ConfigFlags
{
    private readonly List<(Option Option, string Key)> _flags = [];

    /// <summary>
    /// A flag setting <paramref name="key"/>, whose value is of type <typeparamref name="T"/>. The parser takes its text as
    /// typed: the settings check it with every other setting, so that a bad value (<c>--threads abc</c>) is reported with
    /// every other problem, naming the flag and the key (exit code 2). A <see cref="bool"/> setting is a switch, as users
    /// expect and help shows it (<c>--create-bucket</c>, no value): alone it is true, and <c>--create-bucket false</c> is
    /// also taken; a word after it that is neither is not its value (System.CommandLine reads it as an unmatched argument).
    /// </summary>
    public Option Add<T>(Command command, string name, string key, string description)
    {
        Option option = typeof(T) == typeof(bool)
            ? new Option<bool>(name) { Description = $"{description} [config: {key}]" }
            : new Option<string>(name) { Description = $"{description} [config: {key}]" };
        command.Options.Add(option);
        _flags.Add((option, key));
        return option;
    }

    /// <summary>
    /// A flag whose value is one of <typeparamref name="TEnum"/>'s names (<c>--log sqlite|kafka</c>), in any case; help shows the
    /// names. Its value goes to the settings as given: a bad one is reported there with every other bad setting, naming
    /// the key and the valid values (exit code 2).
    /// </summary>
    public Option AddChoice<TEnum>(Command command, string name, string key, string description) where TEnum : struct, Enum
    {
        var names = SettingChoices.Names<TEnum>();
        var option = Add<TEnum>(command, name, key, description);
        option.HelpName = string.Join('|', names);
        option.CompletionSources.Add(names.ToArray());
        return option;
    }

    /// <summary>A duration flag: <c>500ms</c>, <c>30s</c>, <c>5m</c>, <c>2h</c>, <c>1d</c> or <c>hh:mm:ss</c>, as in the settings file and the environment.</summary>
    public Option AddDuration(Command command, string name, string key, string description) =>
        Add<TimeSpan>(command, name, key, description + " (e.g. 30s, 5m, 1h)");

    /// <summary>The configuration overrides of the flags given on this command line.</summary>
    public Dictionary<string, string?> Overrides(ParseResult result)
    {
        var overrides = new Dictionary<string, string?>(StringComparer.OrdinalIgnoreCase);
        foreach (var (option, key) in _flags)
        {
            var r = result.GetResult(option);
            if (r is null || r.Implicit) continue;
            overrides[key] = option is Option<bool> ? (r.GetValueOrDefault<bool>() ? "true" : "false") : r.GetValueOrDefault<string?>();
        }
        return overrides;
    }

    /// <summary>The flag of each settings key (<c>Sink:FlushSize</c> → <c>--flush-size</c>), named in settings problems.</summary>
    public Dictionary<string, string> FlagNames() =>
        _flags.GroupBy(f => f.Key, StringComparer.OrdinalIgnoreCase).ToDictionary(g => g.Key, g => g.First().Option.Name, StringComparer.OrdinalIgnoreCase);
}

/// <summary>
/// Options of a command that are not settings but take a whole number (<c>up --records</c>, <c>batch --rows</c>): a value that
/// is not one, or one below <c>min</c>, is refused in PinPipe's words (<c>--records: 'abc' is not a whole number.</c>, exit code 2),
/// not with .NET's type name.
/// </summary>
internal static class WholeNumberOption
{
    public static Option<T> Create<T>(string name, string description, T defaultValue, T min, string atLeast, params string[] aliases) where T : struct, IBinaryInteger<T>
    {
        var option = new Option<T>(name, aliases) { Description = description, DefaultValueFactory = _ => defaultValue };
        option.CustomParser = r =>
        {
            if (r.Tokens.Count == 0) return defaultValue;
            string text = r.Tokens[^1].Value;
            if (!T.TryParse(text, NumberStyles.AllowLeadingSign, CultureInfo.InvariantCulture, out var n)) r.AddError($"{name}: '{text}' is not a whole number.");
            else if (n < min) r.AddError($"{name}: {text} must be {atLeast}.");
            else return n;
            return defaultValue;
        };
        return option;
    }
}
