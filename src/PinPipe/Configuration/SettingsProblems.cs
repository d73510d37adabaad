namespace PinPipe.Configuration;

/// <summary>
/// The problems an options record finds in itself, each naming its settings key (<c>Log:MaxTopics: 0 must be at least 1.</c>);
/// every record's <c>Validate()</c> collects them with this, and the settings report them all at once.
/// </summary>
public sealed class SettingsProblems
{
    private readonly List<string> _problems = [];

    /// <summary>Adds <paramref name="message"/> unless <paramref name="ok"/>.</summary>
    public SettingsProblems Check(bool ok, string message)
    {
        if (!ok) _problems.Add(message);
        return this;
    }

    /// <summary>Adds the error of <see cref="SettingChoices.NotOneOf{TEnum}(string, string)"/> when <paramref name="value"/> is not one of <typeparamref name="TEnum"/>'s names.</summary>
    public SettingsProblems OneOf<TEnum>(string key, TEnum value) where TEnum : struct, Enum =>
        Check(Enum.IsDefined(value), SettingChoices.NotOneOf<TEnum>(key, value.ToString()));

    /// <summary>Adds every problem of <paramref name="problems"/> (another record's).</summary>
    public SettingsProblems Add(IEnumerable<string> problems)
    {
        _problems.AddRange(problems);
        return this;
    }

    /// <summary>The problems found; empty when all is well.</summary>
    public IReadOnlyList<string> ToList() => _problems.ToArray();

    /// <summary>
    /// For a part given its options directly (not through the settings): throws <see cref="ArgumentException"/> listing
    /// every problem of <paramref name="problems"/>. Its message is the problems alone, without .NET's
    /// <c>(Parameter '...')</c>: the settings keys name what is wrong, and a user may read it.
    /// </summary>
    /// <exception cref="ArgumentException">There is at least one problem.</exception>
    public static void ThrowIfAny(IReadOnlyList<string> problems, string paramName)
    {
        ArgumentNullException.ThrowIfNull(problems);
        ArgumentException.ThrowIfNullOrEmpty(paramName);
#pragma warning disable CA2208 // the settings keys in the message name what is wrong; a parameter name would only add .NET's "(Parameter 'options')"
        if (problems.Count > 0) throw new ArgumentException("Invalid settings: " + string.Join(" ", problems));
#pragma warning restore CA2208
    }
}
