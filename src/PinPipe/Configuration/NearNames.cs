namespace PinPipe.Configuration;

/// <summary>
/// "Did you mean ...?": the names close to one a user typed, for an unknown settings key, command or flag. One measure
/// for all of them: the edit distance counting insertions, deletions, substitutions and swaps of neighbours, ignoring case.
/// </summary>
public static class NearNames
{
    /// <summary>
    /// Up to <paramref name="take"/> of <paramref name="names"/> within <paramref name="maxDistance"/> edits of
    /// <paramref name="typed"/> (or, with <paramref name="prefixes"/>, starting with it), nearest first.
    /// </summary>
    public static IReadOnlyList<string> Near(string typed, IEnumerable<string> names, int maxDistance, int take = 3, bool prefixes = false)
    {
        ArgumentNullException.ThrowIfNull(typed);
        return [.. names
            .Select(n => (Name: n, Distance: Distance(typed, n)))
            .Where(x => x.Distance <= maxDistance || prefixes && x.Name.StartsWith(typed, StringComparison.OrdinalIgnoreCase))
            .OrderBy(x => x.Distance).ThenBy(x => x.Name, StringComparer.Ordinal)
            .Select(x => x.Name).Distinct(StringComparer.Ordinal).Take(take)];
    }

    /// <summary>The edit distance (insertions, deletions, substitutions and swaps of neighbours) between two names, ignoring case.</summary>
    public static int Distance(string a, string b)
    {
        ArgumentNullException.ThrowIfNull(a);
        ArgumentNullException.ThrowIfNull(b);
        a = a.ToUpperInvariant();
        b = b.ToUpperInvariant();
        // Three rows of the table: the row before the previous one (for swaps), the previous one and the current one.
        var before = new int[b.Length + 1];
        var previous = new int[b.Length + 1];
        var current = new int[b.Length + 1];
        for (int j = 0; j <= b.Length; j++) previous[j] = j;
        for (int i = 1; i <= a.Length; i++)
        {
            current[0] = i;
            for (int j = 1; j <= b.Length; j++)
            {
                int cost = a[i - 1] == b[j - 1] ? 0 : 1;
                current[j] = Math.Min(Math.Min(previous[j] + 1, current[j - 1] + 1), previous[j - 1] + cost);
                if (i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1]) current[j] = Math.Min(current[j], before[j - 2] + 1);
            }
            (before, previous, current) = (previous, current, before);
        }
        return previous[b.Length];
    }
}
