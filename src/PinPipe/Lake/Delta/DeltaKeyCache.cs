namespace PinPipe.Lake.Delta;

/// <summary>
/// The keys of a table's files that a key check had to read (<see cref="DeltaSnapshot.OpenKeyScanAsync(string, IReadOnlyList{long}, DeltaKeyCache?, CancellationToken)"/>),
/// kept for the next checks: a Delta data file never changes once committed (and deletion vectors are refused), so its
/// keys stay true for as long as it is live. A writer may also add the keys of a file it has just committed, taken from
/// the rows it wrote the file from (the stream job, once its checks look at files' keys), so that no check reads it back,
/// and the keys of a compaction's file, the union of those of the files it rewrote (<see cref="TryAddUnion"/>).
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
    private readonly Dictionary<string, int> _pending = new(StringComparer.Ordinal); // files kept before they are live (TryAddUnion): the Retains each has waited

    /// <summary>
    /// The checks a file kept before its commit (<see cref="TryAddUnion"/>) stays while it is not live: a compaction's commit
    /// lands a moment after it hands its files over (over S3, a PUT later), and one that failed never does.
    /// </summary>
    internal const int MaxPendingChecks = 100;
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

    /// <summary>
    /// Keeps for the file at <paramref name="path"/> the union of the keys kept for <paramref name="from"/>, the files whose
    /// rows it holds (a compaction's rewrite of them, which changes no row), so that no check reads the new file; false,
    /// with nothing added, when the keys of one of them are not kept or the union does not fit. The files it was written from
    /// stay until they are no longer live (<see cref="Retain"/>): a check on a version before the compaction still finds
    /// their keys. The new file, handed over before its commit, stays while it is not live yet, for at most
    /// <see cref="MaxPendingChecks"/> checks (a commit that failed never makes it live).
    /// </summary>
    internal bool TryAddUnion(string path, IReadOnlyList<string> from)
    {
        ArgumentNullException.ThrowIfNull(from);
        if (from.Count == 0) return false;
        if (_files.ContainsKey(path)) return true;
        var parts = new long[from.Count][];
        long keys = 0;
        for (int i = 0; i < parts.Length; i++)
        {
            if (!_files.TryGetValue(from[i], out parts[i]!)) return false;
            keys += parts[i].Length;
        }
        if (!Fits(keys) || !TryAdd(path, SortedKeys.Union(parts))) return false;
        _pending[path] = 0; // not live yet, maybe: kept through the checks before its commit lands
        return true;
    }

    /// <summary>
    /// Forgets the files that are not live in <paramref name="live"/> (keyed by path), but a file kept before its commit
    /// (<see cref="TryAddUnion"/>) until it has waited <see cref="MaxPendingChecks"/> calls without becoming live.
    /// </summary>
    internal void Retain(IReadOnlyDictionary<string, DeltaFile> live)
    {
        if (_files.Count == 0) return;
        List<string>? gone = null;
        foreach (var path in _files.Keys)
        {
            if (live.ContainsKey(path)) _pending.Remove(path);
            else if (_pending.TryGetValue(path, out int waited) && waited < MaxPendingChecks) _pending[path] = waited + 1;
            else (gone ??= []).Add(path);
        }
        if (gone is null) return;
        foreach (var path in gone)
        {
            _bytes -= (long)_files[path].Length * sizeof(long);
            _files.Remove(path);
            _pending.Remove(path);
        }
    }
}
