using System.Runtime.CompilerServices;
using DuckDB.NET.Data;
using PinPipe.DuckDb;

namespace PinPipe.Lake.Delta;

/// <summary>
/// A table at one version: protocol, metadata, live files and application transactions, and its rows
/// (through DuckDB's Parquet reader, with partition values taken from the log).
/// </summary>
public sealed class DeltaSnapshot
{
    private readonly IObjectStore _store;
    private readonly string _root;
    private IReadOnlyList<DeltaFile>? _files;

    internal DeltaSnapshot(IObjectStore store, string root, DeltaState state)
    {
        _store = store;
        _root = root;
        State = state;
        Txns = state.Txns.ToDictionary(kv => kv.Key, kv => kv.Value.Version, StringComparer.Ordinal);
    }

    internal DeltaState State { get; }

    public long Version => State.Version;

    public DeltaProtocol Protocol => State.Protocol!;

    public DeltaMetadata Metadata => State.Metadata!;

    public DeltaSchema Schema => Metadata.Schema;

    /// <summary>The live files, ordered by path.</summary>
    public IReadOnlyList<DeltaFile> Files => _files ??= State.Files.Values.OrderBy(f => f.Path, StringComparer.Ordinal).ToArray();

    /// <summary>The latest committed version per application id (<c>txn</c> actions).</summary>
    public IReadOnlyDictionary<string, long> Txns { get; }

    /// <summary>The object key of a live file.</summary>
    public string KeyOf(DeltaFile file)
    {
        ArgumentNullException.ThrowIfNull(file);
        return _root + file.Path;
    }

    /// <summary>
    /// A DuckDB table expression over the live files, for queries in the caller's own connection:
    /// <c>SELECT … FROM {scan.Sql} AS t</c>. Columns are the schema's, in order, with DuckDB types
    /// (<c>timestamp</c> as TIMESTAMPTZ, read the same whatever the session time zone), partition values applied.
    /// Files of a store without local paths are downloaded to a temporary folder that disposing the scan deletes.
    /// </summary>
    public async Task<DeltaScan> OpenScanAsync(CancellationToken cancellationToken = default)
    {
        using var connection = DuckDbSession.OpenShared();
        return await DeltaScan.OpenAsync(_store, _root, State, connection, cancellationToken).ConfigureAwait(false);
    }

    /// <summary>
    /// As <see cref="OpenScanAsync(CancellationToken)"/>, of only the columns <paramref name="columns"/> (in schema order): a columnar
    /// read of the live files that touches no other column.
    /// </summary>
    /// <exception cref="ArgumentException">A column is not in the schema, or none is given.</exception>
    public async Task<DeltaScan> OpenScanAsync(IReadOnlyList<string> columns, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(columns);
        using var connection = DuckDbSession.Open();
        return await DeltaScan.OpenAsync(_store, _root, State, Files.ToArray(), columns, connection, cancellationToken).ConfigureAwait(false);
    }

    /// <summary>
    /// A scan of only the integer column <paramref name="column"/> of the live files that may hold one of
    /// <paramref name="sortedKeys"/>: a file whose <c>minValues</c>/<c>maxValues</c> stats show that no key lies in its
    /// range is not read at all (files without stats for the column are). For checking new rows against the rows already
    /// in a table through the table itself (<c>… WHERE NOT EXISTS (SELECT 1 FROM {scan.Sql} e WHERE e.ind = s.ind)</c>), in
    /// the caller's connection, with no set of every key ever written kept anywhere.
    /// </summary>
    /// <param name="column">A top-level integer column of the schema (<c>ind</c>).</param>
    /// <param name="sortedKeys">The keys to look for, ascending (duplicates allowed).</param>
    /// <param name="cancellationToken">Stops the downloads (stores without local paths).</param>
    /// <returns>The scan (dispose it after the queries that use it); <see cref="DeltaKeyScan.FilesRead"/> and
    /// <see cref="DeltaKeyScan.FilesSkipped"/> tell how much the stats pruned.</returns>
    public Task<DeltaKeyScan> OpenKeyScanAsync(string column, IReadOnlyList<long> sortedKeys, CancellationToken cancellationToken = default) =>
        OpenKeyScanAsync(column, sortedKeys, null, cancellationToken);

    /// <summary>
    /// As <see cref="OpenKeyScanAsync(string, IReadOnlyList{long}, CancellationToken)"/>, with the keys of the files that
    /// the stats do not rule out taken from <paramref name="cache"/> where it holds them: those files are not read, and
    /// their keys among <paramref name="sortedKeys"/> are <see cref="DeltaKeyScan.HeldKeys"/>. A file the cache lacks is
    /// read once, its keys kept while they fit; the files that do not fit are the scan's (<see cref="DeltaKeyScan.Sql"/>),
    /// read at every check as without a cache. The keys found are those of both.
    /// </summary>
    /// <param name="cache">The table's keys kept between checks (one table's, one check at a time); null: none.</param>
    public async Task<DeltaKeyScan> OpenKeyScanAsync(string column, IReadOnlyList<long> sortedKeys, DeltaKeyCache? cache, CancellationToken cancellationToken = default)
    {
        ArgumentException.ThrowIfNullOrEmpty(column);
        ArgumentNullException.ThrowIfNull(sortedKeys);
        var candidates = new List<DeltaFile>();
        int skipped = 0;
        foreach (var file in Files)
        {
            if (sortedKeys.Count == 0 || (file.TryGetRange(column, out long min, out long max) && !SortedKeys.AnyInRange(sortedKeys, min, max))) skipped++;
            else candidates.Add(file);
        }
        HashSet<long>? held = null;
        int cached = 0, loaded = 0;
        if (cache is not null)
        {
            cache.Retain(State.Files);
            var toRead = new List<DeltaFile>();
            foreach (var file in candidates)
            {
                if (cache.TryGet(file.Path, out long[] keys))
                {
                    SortedKeys.Intersect(sortedKeys, keys, held ??= []);
                    cached++;
                }
                else toRead.Add(file);
            }
            // Read once the files whose keys fit (by their stats' row counts), in one query; the rest are scanned as before.
            // At most MaxFilesLoadedPerCheck at a time: after a restart over a table of many files, the first checks
            // load them a few at a time instead of one check loading them all.
            var toLoad = new List<DeltaFile>();
            var toScan = new List<DeltaFile>();
            long rows = 0;
            foreach (var file in toRead)
            {
                if (toLoad.Count < MaxFilesLoadedPerCheck && file.NumRecords is { } n && cache.Fits(rows + n))
                {
                    toLoad.Add(file);
                    rows += n;
                }
                else toScan.Add(file);
            }
            if (toLoad.Count > 0) await LoadKeysAsync(column, toLoad, cache, sortedKeys, held ??= [], cancellationToken).ConfigureAwait(false);
            loaded = toLoad.Count;
            candidates = toScan;
        }
        // Every file ruled out (a stream's new keys above every file's range) or cached: no connection and no query.
        using var connection = candidates.Count > 0 ? DuckDbSession.OpenShared() : null;
        var scan = await DeltaScan.OpenAsync(_store, _root, State, candidates.ToArray(), [column], connection, cancellationToken).ConfigureAwait(false);
        var found = held is null ? [] : held.Order().ToArray();
        return new DeltaKeyScan(scan, filesScanned: candidates.Count, filesLoaded: loaded, filesCached: cached, filesSkipped: skipped, found);
    }

    /// <summary>The most files whose keys one check reads into a <see cref="DeltaKeyCache"/>; the others it scans.</summary>
    internal const int MaxFilesLoadedPerCheck = 32;

    /// <summary>Reads the distinct keys of <paramref name="files"/> in one query, keeps each file's in <paramref name="cache"/> and adds those among <paramref name="sortedKeys"/> to <paramref name="held"/>.</summary>
    private async Task LoadKeysAsync(string column, List<DeltaFile> files, DeltaKeyCache cache, IReadOnlyList<long> sortedKeys, HashSet<long> held, CancellationToken cancellationToken)
    {
        using var connection = DuckDbSession.OpenShared();
        // A scan per file, so that each key is known by its file; from a store without local paths, downloaded in parallel.
        var scans = await DeltaScan.OpenEachAsync(_store, _root, State, [.. files], [column], connection, cancellationToken).ConfigureAwait(false);
        try
        {
            string ind = PinPipe.DuckDb.Sql.Identifier(column);
            string sql = string.Join(" UNION ALL ", scans.Select((s, i) => $"SELECT {i} AS f, {ind} AS k FROM {s.Sql} AS t WHERE {ind} IS NOT NULL"));
            var keys = new List<long>[files.Count];
            for (int i = 0; i < keys.Length; i++) keys[i] = [];
            foreach (var (f, k) in connection.Query($"SELECT DISTINCT f, k FROM ({sql}) ORDER BY f, k", r => (r.GetInt32(0), r.GetInt64(1)), cancellationToken))
                keys[f].Add(k);
            for (int i = 0; i < files.Count; i++)
            {
                long[] fileKeys = keys[i].ToArray();
                cache.TryAdd(files[i].Path, fileKeys);
                SortedKeys.Intersect(sortedKeys, fileKeys, held);
            }
        }
        finally
        {
            foreach (var scan in scans) scan.Dispose();
        }
    }

    /// <summary>
    /// The rows of the live files, in schema order: partition values from the log (<c>""</c> and
    /// <c>__HIVE_DEFAULT_PARTITION__</c> are null), columns missing from a file null, timestamps (INT64 micros or
    /// millis, or INT96) as UTC <see cref="DateTimeOffset"/>, dates as <see cref="DateOnly"/>, binary as byte[],
    /// arrays as <see cref="List{T}"/>, structs and maps as dictionaries.
    /// </summary>
    public async IAsyncEnumerable<object?[]> ReadRowsAsync([EnumeratorCancellation] CancellationToken cancellationToken = default)
    {
        using var connection = DuckDbSession.OpenShared();
        using var scan = await DeltaScan.OpenAsync(_store, _root, State, connection, cancellationToken).ConfigureAwait(false);
        var fields = Schema.Fields;
        var readers = fields.Select(f => DeltaValues.ReaderFor(f.Type)).ToArray();
        using var command = connection.Command($"SELECT * FROM {scan.Sql} AS t");
        using var cancel = cancellationToken.Register(command.Cancel);
#pragma warning disable CA1849 // DuckDB.NET has no real async: its *Async methods run synchronously
        using var reader = (DuckDBDataReader)command.ExecuteReader();
#pragma warning restore CA1849
#pragma warning disable CA1849 // DuckDB.NET has no real async: its *Async methods run synchronously
        while (reader.Read())
#pragma warning restore CA1849
        {
            cancellationToken.ThrowIfCancellationRequested();
            var row = new object?[fields.Count];
#pragma warning disable CA1849 // the row is already read (non-sequential reader): the async overload would only add a Task per column
            for (int i = 0; i < row.Length; i++) row[i] = reader.IsDBNull(i) ? null : readers[i](reader, i);
#pragma warning restore CA1849
            yield return row;
        }
    }
}

/// <summary>A <see cref="DeltaSnapshot.OpenKeyScanAsync"/> scan: one key column of the files the stats could not rule out.</summary>
public sealed class DeltaKeyScan : IDisposable
{
    private readonly DeltaScan _scan;

    internal DeltaKeyScan(DeltaScan scan, int filesScanned, int filesLoaded, int filesCached, int filesSkipped, IReadOnlyList<long> heldKeys)
    {
        _scan = scan;
        FilesScanned = filesScanned;
        FilesRead = filesScanned + filesLoaded;
        FilesCached = filesCached;
        FilesSkipped = filesSkipped;
        HeldKeys = heldKeys;
    }

    /// <summary>
    /// A parenthesized SQL table expression with the one column, over the files the scan reads (<see cref="FilesScanned"/>;
    /// none: no row); use as <c>SELECT … FROM {Sql} AS t</c>.
    /// </summary>
    public string Sql => _scan.Sql;

    /// <summary>Live files read from storage for this check (their stats do not rule out a key, and no cache held their keys).</summary>
    public int FilesRead { get; }

    /// <summary>Of <see cref="FilesRead"/>, the files <see cref="Sql"/> reads (the others' keys were read into the cache).</summary>
    public int FilesScanned { get; }

    /// <summary>Live files whose keys a <see cref="DeltaKeyCache"/> already held: not read.</summary>
    public int FilesCached { get; }

    /// <summary>The keys looked for that the files outside <see cref="Sql"/> hold (cached or read into the cache), ascending.</summary>
    public IReadOnlyList<long> HeldKeys { get; }

    /// <summary>Live files the stats ruled out: not read.</summary>
    public int FilesSkipped { get; }

    public void Dispose() => _scan.Dispose();
}
