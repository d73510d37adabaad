using System.Collections;
using System.Reflection;
using Microsoft.Extensions.Configuration;
using PinPipe.Configuration;

namespace PinPipe.Hosting;

/// <summary>
/// Builds <see cref="PinPipeSettings"/> from, in order (later wins): the defaults, a JSON file
/// (<c>--config</c>, else <c>pinpipe.json</c> in the working folder when present), environment
/// variables prefixed <c>PINPIPE_</c> (section separator <c>__</c>), and flag overrides given as
/// configuration keys (<c>Log:Path</c>). Every key and value is checked first, in PinPipe's words, and every
/// problem is reported at once, each naming where it came from: <c>pinpipe.json:7</c>,
/// <c>environment PINPIPE_Sink__FlushSize</c> or <c>flag --flush-size</c>. A JSON <c>null</c> or an empty value unsets a
/// setting that may be unset (a <c>string?</c> as a number or a duration): .NET's configuration would give the text "".
/// </summary>
public static class SettingsLoader
{
    /// <summary>The file read when no <c>--config</c> is given and it exists.</summary>
    public const string DefaultFileName = "pinpipe.json";

    /// <summary>The environment variable prefix.</summary>
    public const string EnvironmentPrefix = "PINPIPE_";

    private static readonly SettingsSchema Schema = new(typeof(PinPipeSettings));

    /// <summary>Loads the layered configuration.</summary>
    /// <param name="configFile">The settings file (<c>--config</c>); null reads <c>pinpipe.json</c> when present.</param>
    /// <param name="overrides">The flags' values by settings key (<c>Sink:FlushSize</c>).</param>
    /// <param name="environment">The environment variables; null reads the process's.</param>
    /// <param name="flagNames">The flag that gave each override (<c>Sink:FlushSize</c> → <c>--flush-size</c>), named in problems.</param>
    /// <exception cref="SettingsException">the file is missing or malformed, a key is unknown, a value has the wrong type, or the settings are invalid (every problem listed).</exception>
    public static PinPipeSettings Load(string? configFile, IReadOnlyDictionary<string, string?> overrides, IDictionary<string, string?>? environment = null,
        IReadOnlyDictionary<string, string>? flagNames = null)
    {
        ArgumentNullException.ThrowIfNull(overrides);
        var problems = new List<string>();
        var given = new List<SettingValue>();
        string? file = configFile;
        if (file is null && File.Exists(DefaultFileName)) file = DefaultFileName;
        if (file is not null)
        {
            if (!File.Exists(file)) throw new SettingsException([$"--config: the file '{file}' does not exist."]);
            given.AddRange(SettingsFile.Read(file, file, problems));
        }
        given.AddRange(EnvironmentValues(environment));
        given.AddRange(overrides.Select(kv => new SettingValue(kv.Key, kv.Value,
            flagNames is not null && flagNames.TryGetValue(kv.Key, out var flag) ? $"flag {flag}" : null)));

        // Unknown keys are reported wherever they are; a value is checked where it wins (a later layer replaces it).
        var winners = new Dictionary<string, SettingValue>(StringComparer.OrdinalIgnoreCase);
        foreach (var setting in given)
        {
            string? probe = null;
            if (Schema.Check(setting.Key, ref probe) is { } unknown) problems.Add(WithSource(setting.Source, unknown));
            else winners[setting.Key] = setting;
        }
        var bound = new Dictionary<string, string?>(StringComparer.OrdinalIgnoreCase);
        foreach (var (key, setting) in winners)
        {
            string? value = setting.Value;
            if (Schema.Check(key, ref value) is { } problem) problems.Add(WithSource(setting.Source, problem));
            else if (value is not null) bound[key] = value;
        }

        PinPipeSettings settings;
        try
        {
            settings = new ConfigurationBuilder().AddInMemoryCollection(bound).Build()
                .Get<PinPipeSettings>(o => o.ErrorOnUnknownConfiguration = true) ?? new PinPipeSettings();
        }
        catch (InvalidOperationException ex)
        {
            // Every key and value was checked above; this is a safety net, not the way problems are reported.
            throw new SettingsException([.. problems, ex.InnerException is null ? ex.Message : $"{ex.Message} {ex.InnerException.Message}"], ex);
        }
        UnsetEmptyText(settings);
        problems.AddRange(settings.Validate().Select(p => WithSource(SourceOf(p, winners), p)));
        if (problems.Count > 0) throw new SettingsException(problems);
        return settings;
    }

    /// <summary>
    /// Sets to null every text setting of <paramref name="section"/> and the sections under it that is declared <c>string?</c>
    /// and holds "": the configuration binder turns a JSON null or an empty value into "", which would be taken as a value
    /// (an empty size, URL or key) instead of none.
    /// </summary>
    private static void UnsetEmptyText(object section)
    {
        var nullability = new NullabilityInfoContext();
        foreach (var p in section.GetType().GetProperties(BindingFlags.Public | BindingFlags.Instance))
        {
            if (!p.CanWrite || p.GetIndexParameters().Length > 0) continue;
            if (p.PropertyType == typeof(string))
            {
                if (p.GetValue(section) is "" && nullability.Create(p).WriteState == NullabilityState.Nullable) p.SetValue(section, null);
            }
            else if (p.PropertyType.IsClass && !typeof(IEnumerable).IsAssignableFrom(p.PropertyType) && p.GetValue(section) is { } child)
            {
                UnsetEmptyText(child);
            }
        }
    }

    /// <summary>The environment's <c>PINPIPE_</c> variables as settings (<c>PINPIPE_Sink__FlushSize</c> → <c>Sink:FlushSize</c>), each naming its variable.</summary>
    private static IEnumerable<SettingValue> EnvironmentValues(IDictionary<string, string?>? environment)
    {
        var variables = environment?.Select(kv => (kv.Key, kv.Value))
            ?? Environment.GetEnvironmentVariables().Cast<DictionaryEntry>().Select(e => ((string)e.Key, (string?)e.Value));
        return variables
            .Where(v => v.Item1.StartsWith(EnvironmentPrefix, StringComparison.OrdinalIgnoreCase) && v.Item1.Length > EnvironmentPrefix.Length)
            .OrderBy(v => v.Item1, StringComparer.Ordinal)
            .Select(v => new SettingValue(v.Item1[EnvironmentPrefix.Length..].Replace("__", ":", StringComparison.Ordinal), v.Item2, $"environment {v.Item1}"));
    }

    /// <summary>The source of the setting a problem names first (<c>Sink:FlushSize: 0 must be at least 1.</c>), or null when it was not given.</summary>
    private static string? SourceOf(string problem, Dictionary<string, SettingValue> winners)
    {
        int colon = problem.IndexOf(": ", StringComparison.Ordinal);
        return colon > 0 && winners.TryGetValue(problem[..colon], out var setting) ? setting.Source : null;
    }

    private static string WithSource(string? source, string problem) => source is null ? problem : $"{source}: {problem}";
}
