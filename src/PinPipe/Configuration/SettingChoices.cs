using System.Diagnostics.CodeAnalysis;

namespace PinPipe.Configuration;

/// <summary>
/// Settings whose value is one of an enum's names (<c>Log:Kind</c>, <c>ObjectStore:Kind</c>, ...): read ignoring case
/// (<c>kafka</c>, <c>Kafka</c>, <c>KAFKA</c>), nothing else (no numbers, no lists), and named in lower case.
/// </summary>
public static class SettingChoices
{
    /// <summary>The names of <paramref name="enumType"/> in lower case, in declaration order.</summary>
    public static IReadOnlyList<string> Names(Type enumType) => [.. Enum.GetNames(enumType).Select(Lower)];

    /// <summary>The names of <typeparamref name="TEnum"/> in lower case, in declaration order.</summary>
    public static IReadOnlyList<string> Names<TEnum>() where TEnum : struct, Enum => Names(typeof(TEnum));

    /// <summary>The name of <paramref name="value"/> as settings and messages write it (<c>kafka</c>).</summary>
    public static string Name<TEnum>(TEnum value) where TEnum : struct, Enum => Lower(value.ToString());

    /// <summary>Whether <paramref name="text"/> is one of <paramref name="enumType"/>'s names, ignoring case.</summary>
    public static bool IsName(Type enumType, string? text) =>
        text is not null && Enum.GetNames(enumType).Any(n => string.Equals(n, text, StringComparison.OrdinalIgnoreCase));

    /// <summary>The value named <paramref name="text"/>, ignoring case; false for anything else (numbers included).</summary>
    public static bool TryParse<TEnum>(string? text, out TEnum value) where TEnum : struct, Enum
    {
        value = default;
        return IsName(typeof(TEnum), text) && Enum.TryParse(text, ignoreCase: true, out value);
    }

    /// <summary>The error for a value that is not one of the names: <c>Log:Kind: 'kafak' is not one of: sqlite, kafka.</c></summary>
    public static string NotOneOf(string key, string text, Type enumType) =>
        $"{key}: '{text}' is not one of: {string.Join(", ", Names(enumType))}.";

    /// <inheritdoc cref="NotOneOf(string, string, Type)"/>
    public static string NotOneOf<TEnum>(string key, string text) where TEnum : struct, Enum => NotOneOf(key, text, typeof(TEnum));

    [SuppressMessage("Globalization", "CA1308:Normalize strings to uppercase", Justification = "Enum names are ASCII and settings write them in lower case.")]
    private static string Lower(string name) => name.ToLowerInvariant();
}
