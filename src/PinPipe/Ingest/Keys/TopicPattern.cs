namespace PinPipe.Ingest.Keys;

/// <summary>
/// The topics and streams a produce key may produce to: one or more globs separated by ',', each of topic-name
/// characters (letters, digits, '.', '_', '-') and '*' (any run of characters, none included), matched against the
/// whole name, case-sensitively (as topic names are). E.g. <c>12885f560a0b.*,streaming-12885f560a0b-*</c>.
/// </summary>
public static class TopicPattern
{
    /// <summary>The longest pattern accepted.</summary>
    public const int MaxLength = 1024;

    /// <summary>Why <paramref name="pattern"/> is not a pattern, or null when it is one.</summary>
    public static string? Problem(string pattern)
    {
        ArgumentNullException.ThrowIfNull(pattern);
        if (pattern.Length is 0 or > MaxLength) return $"'{pattern}' must be 1 to {MaxLength} characters";
        foreach (string part in pattern.Split(','))
        {
            if (part.Length == 0) return $"'{pattern}' has an empty pattern between commas";
            if (part.Any(c => !(char.IsAsciiLetterOrDigit(c) || c is '.' or '_' or '-' or '*')))
                return $"'{part}' may hold only letters, digits, '.', '_', '-' and '*'";
        }
        return null;
    }

    /// <summary>Whether <paramref name="name"/> matches one of the globs of <paramref name="pattern"/>; a null pattern matches every name.</summary>
    public static bool Matches(string? pattern, string name)
    {
        ArgumentNullException.ThrowIfNull(name);
        if (pattern is null) return true;
        foreach (var part in pattern.AsSpan().Split(','))
            if (Glob(pattern.AsSpan()[part], name)) return true;
        return false;
    }

    /// <summary>A glob with '*' against the whole text: one pass, backing up to the last '*' on a mismatch.</summary>
    private static bool Glob(ReadOnlySpan<char> glob, ReadOnlySpan<char> text)
    {
        int g = 0, t = 0, star = -1, resume = 0;
        while (t < text.Length)
        {
            if (g < glob.Length && glob[g] == '*')
            {
                star = g++;
                resume = t;
            }
            else if (g < glob.Length && glob[g] == text[t])
            {
                g++;
                t++;
            }
            else if (star >= 0)
            {
                g = star + 1;
                t = ++resume;
            }
            else
            {
                return false;
            }
        }
        while (g < glob.Length && glob[g] == '*') g++;
        return g == glob.Length;
    }
}
