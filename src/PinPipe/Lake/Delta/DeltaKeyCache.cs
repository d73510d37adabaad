namespace PinPipe.Lake.Delta;

/// <summary>
/// The keys of a table's files that a key check had to read (<see cref="DeltaSnapshot.OpenKeyScanAsync(string, IReadOnlyList{long}, DeltaKeyCache?, CancellationToken)"/>),
/// kept for the next checks: a Delta data file never changes once committed (and deletion vectors are refused), so its
/// keys stay true for as long as it is live. A writer may also add the keys of a file it has just committed, taken from
/// the rows it wrote the file from (the stream job, once its checks look at files' keys), so that no check reads it back.
/// Bounded by <see cref="BudgetBytes"/> (8 bytes a distinct key): a file that
/// does not fit is read from storage at each check, as without the cache; files no longer live (compacted, removed) leave
/// it at the next check.
/// </summary>
/// <remarks>
/// For a stream whose keys recur across the whole table (posts drawn again and again, as the emulators do): every file's
/// key range then covers the new keys, no file is ruled out by its stats, and each micro-batch read the key column of
/// every file of the table again. A stream of new, rising keys never reads a file, and its cache stays empty.
/// Not thread-safe: one table's checks, one at a time.
/// </remarks>
public sealed class DeltaKeyCache
{
    private readonly Dictionary<string, long[]> _files = new(StringComparer.Ordinal);
    private long _bytes;

    /// <param name="budgetBytes">The most the keys may take, 8 bytes a distinct key; 0 keeps nothing.</param>
    public DeltaKeyCache(long budgetBytes)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(budgetBytes);
        BudgetBytes = budgetBytes;
    }

    /// <summary>The most the keys may take.</summary>
    public long BudgetBytes { get; }

    /// <summary>What the keys kept take now.</summary>
    public long Bytes => _bytes;

    /// <summary>Files whose keys are kept.</summary>
    public int FileCount => _files.Count;

    /// <summary>The ascending, distinct keys of the file at <paramref name="path"/> (a path as in the Delta log), when kept.</summary>
    internal bool TryGet(string path, out long[] keys) => _files.TryGetValue(path, out keys!);

    /// <summary>Whether keys of about <paramref name="count"/> more rows fit.</summary>
    internal bool Fits(long count) => count >= 0 && count <= (BudgetBytes - _bytes) / sizeof(long);

    /// <summary>Keeps <paramref name="keys"/> (ascending, distinct) for the file at <paramref name="path"/>; false when they do not fit.</summary>
    internal bool TryAdd(string path, long[] keys)
    {
        if (_files.ContainsKey(path)) return true;
        long bytes = (long)keys.Length * sizeof(long);
        if (bytes > BudgetBytes - _bytes) return false;
        _files.Add(path, keys);
        _bytes += bytes;
        return true;
    }

    /// <summary>Forgets the files that are not live in <paramref name="live"/> (keyed by path).</summary>
    internal void Retain(IReadOnlyDictionary<string, DeltaFile> live)
    {
        if (_files.Count == 0) return;
        List<string>? gone = null;
        foreach (var path in _files.Keys)
        {
            if (!live.ContainsKey(path)) (gone ??= []).Add(path);
        }
        if (gone is null) return;
        foreach (var path in gone)
        {
            _bytes -= (long)_files[path].Length * sizeof(long);
            _files.Remove(path);
        }
    }

    /// <summary>Adds to <paramref name="held"/> each of <paramref name="sortedKeys"/> (ascending) that <paramref name="fileKeys"/> (ascending, distinct) holds.</summary>
    internal static void Intersect(IReadOnlyList<long> sortedKeys, long[] fileKeys, HashSet<long> held)
    {
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
}
