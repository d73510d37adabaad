using Microsoft.Extensions.Configuration;
using PinPipe.Configuration;

namespace PinPipe.Hosting;

/// <summary>
/// Builds <see cref="PinPipeSettings"/> from, in order (later wins): the defaults, a JSON file
/// (<c>--config</c>, else <c>pinpipe.json</c> in the working folder when present), environment
/// variables prefixed <c>PINPIPE_</c> (section separator <c>__</c>), and flag overrides given as
/// configuration keys (<c>Log:Path</c>).
/// </summary>
public static class SettingsLoader
{
    /// <summary>The file read when no <c>--config</c> is given and it exists.</summary>
    public const string DefaultFileName = "pinpipe.json";

    /// <summary>The environment variable prefix.</summary>
    public const string EnvironmentPrefix = "PINPIPE_";

    /// <summary>Loads the layered configuration.</summary>
    /// <exception cref="SettingsException">the file is missing or malformed, a value has the wrong type, or the settings are invalid (every problem listed).</exception>
    public static PinPipeSettings Load(string? configFile, IReadOnlyDictionary<string, string?> overrides, IDictionary<string, string?>? environment = null)
    {
        var builder = new ConfigurationBuilder();
        string? file = configFile;
        if (file is null && File.Exists(DefaultFileName)) file = DefaultFileName;
        if (file is not null)
        {
            if (!File.Exists(file)) throw new SettingsException([$"--config: the file '{file}' does not exist."]);
            builder.AddJsonFile(Path.GetFullPath(file), optional: false, reloadOnChange: false);
        }
        if (environment is null) builder.AddEnvironmentVariables(EnvironmentPrefix);
        else builder.AddInMemoryCollection(environment
            .Where(kv => kv.Key.StartsWith(EnvironmentPrefix, StringComparison.OrdinalIgnoreCase))
            .Select(kv => new KeyValuePair<string, string?>(kv.Key[EnvironmentPrefix.Length..].Replace("__", ":", StringComparison.Ordinal), kv.Value)));
        builder.AddInMemoryCollection(overrides);

        PinPipeSettings settings;
        var choiceErrors = new List<string>();
        try
        {
            var configuration = UnsetBadChoices(builder.Build(), choiceErrors);
            settings = configuration.Get<PinPipeSettings>(o => o.ErrorOnUnknownConfiguration = true) ?? new PinPipeSettings();
        }
        catch (InvalidDataException ex)
        {
            throw new SettingsException([$"{file}: {ex.Message}"], ex);
        }
        catch (FormatException ex)
        {
            throw new SettingsException([$"{file}: {ex.Message}"], ex);
        }
        catch (InvalidOperationException ex)
        {
            throw new SettingsException([ex.InnerException is null ? ex.Message : $"{ex.Message} {ex.InnerException.Message}"], ex);
        }
        var errors = choiceErrors.Concat(settings.Validate()).ToArray();
        if (errors.Length > 0) throw new SettingsException(errors);
        return settings;
    }

    /// <summary>
    /// Checks every setting whose type is an enum (<c>Log:Kind</c>, <c>Stream:From</c>, ...) against the enum's names,
    /// ignoring case (the binder would also take numbers), and reports each bad one in <paramref name="errors"/> naming
    /// the valid values. The configuration returned leaves the bad ones unset, so that binding goes on and every other
    /// problem is reported with them.
    /// </summary>
    private static IConfiguration UnsetBadChoices(IConfiguration configuration, List<string> errors)
    {
        var unset = new Dictionary<string, string?>(StringComparer.OrdinalIgnoreCase);
        foreach (var (key, type) in ChoiceKeys)
        {
            var text = configuration[key];
            if (text is null || SettingChoices.IsName(type, text)) continue;
            errors.Add(SettingChoices.NotOneOf(key, text, type));
            unset[key] = null;
        }
        return unset.Count == 0 ? configuration : new ConfigurationBuilder().AddConfiguration(configuration).AddInMemoryCollection(unset).Build();
    }

    /// <summary>The keys of the settings whose type is an enum, with the enum: <c>Section:Property</c>.</summary>
    private static readonly (string Key, Type Type)[] ChoiceKeys =
    [
        .. from section in typeof(PinPipeSettings).GetProperties()
           where section.CanWrite && section.PropertyType.IsClass
           from property in section.PropertyType.GetProperties()
           let type = Nullable.GetUnderlyingType(property.PropertyType) ?? property.PropertyType
           where property.CanWrite && type.IsEnum
           select ($"{section.Name}:{property.Name}", type),
    ];
}
