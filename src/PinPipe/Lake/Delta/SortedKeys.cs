namespace PinPipe.Lake.Delta;

/// <summary>
/// Set operations on ascending lists of keys (a Delta table's <c>ind</c> column), as the key checks use them: a file's
/// keys kept by <see cref="DeltaKeyCache"/>, a micro-batch's new keys, the keys a table already holds.
/// </summary>
internal static class SortedKeys
{
    /// <summary>The ascending, distinct keys of all of <paramref name="parts"/> (each ascending and distinct), merged two by two.</summary>
    public static long[] Union(long[][] parts)
    {
        ArgumentNullException.ThrowIfNull(parts);
        if (parts.Length == 0) return [];
        var merged = new List<long[]>(parts);
        while (merged.Count > 1)
        {
            var next = new List<long[]>((merged.Count + 1) / 2);
            for (int i = 0; i + 1 < merged.Count; i += 2) next.Add(Merge(merged[i], merged[i + 1]));
            if (merged.Count % 2 == 1) next.Add(merged[^1]);
            merged = next;
        }
        return merged[0];
    }

    private static long[] Merge(long[] a, long[] b)
    {
        var result = new long[a.Length + b.Length];
        int i = 0, j = 0, n = 0;
        while (i < a.Length && j < b.Length)
        {
            long x = a[i], y = b[j];
            if (x <= y) i++;
            if (y <= x) j++;
            result[n++] = Math.Min(x, y); // a key in both goes in once
        }
        while (i < a.Length) result[n++] = a[i++];
        while (j < b.Length) result[n++] = b[j++];
        return n == result.Length ? result : result[..n];
    }

    /// <summary>Adds to <paramref name="held"/> each of <paramref name="sortedKeys"/> (ascending) that <paramref name="fileKeys"/> (ascending, distinct) holds.</summary>
    public static void Intersect(IReadOnlyList<long> sortedKeys, long[] fileKeys, HashSet<long> held)
    {
        ArgumentNullException.ThrowIfNull(sortedKeys);
        ArgumentNullException.ThrowIfNull(fileKeys);
        ArgumentNullException.ThrowIfNull(held);
        if (fileKeys.Length == 0) return;
        long min = fileKeys[0], max = fileKeys[^1];
        for (int i = 0; i < sortedKeys.Count; i++)
        {
            long key = sortedKeys[i];
            if (key < min) continue;
            if (key > max) break;
            if (Array.BinarySearch(fileKeys, key) >= 0) held.Add(key);
        }
    }

    /// <summary>True when a key of the ascending list lies in [min, max] (a binary search for the first key ≥ min).</summary>
    public static bool AnyInRange(IReadOnlyList<long> sortedKeys, long min, long max)
    {
        ArgumentNullException.ThrowIfNull(sortedKeys);
        int lo = 0, hi = sortedKeys.Count;
        while (lo < hi)
        {
            int mid = lo + ((hi - lo) >> 1);
            if (sortedKeys[mid] < min) lo = mid + 1;
            else hi = mid;
        }
        return lo < sortedKeys.Count && sortedKeys[lo] <= max;
    }

    /// <summary>
    /// The ascending <paramref name="keys"/> that the ascending <paramref name="held"/> lacks, and how many of
    /// <paramref name="held"/> were among <paramref name="keys"/> (all of them, when <paramref name="held"/> is a subset).
    /// </summary>
    public static long[] Except(IReadOnlyList<long> keys, IReadOnlyList<long> held, out int matched)
    {
        ArgumentNullException.ThrowIfNull(keys);
        ArgumentNullException.ThrowIfNull(held);
        var result = new List<long>(Math.Max(0, keys.Count - held.Count));
        int h = 0;
        matched = 0;
        for (int i = 0; i < keys.Count; i++)
        {
            long key = keys[i];
            while (h < held.Count && held[h] < key) h++;
            if (h < held.Count && held[h] == key) matched++;
            else result.Add(key);
        }
        return [.. result];
    }
}
