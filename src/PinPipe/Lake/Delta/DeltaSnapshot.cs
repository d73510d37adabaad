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
    public async Task<DeltaKeyScan> OpenKeyScanAsync(string column, IReadOnlyList<long> sortedKeys, CancellationToken cancellationToken = default)
    {
        ArgumentException.ThrowIfNullOrEmpty(column);
        ArgumentNullException.ThrowIfNull(sortedKeys);
        var candidates = new List<DeltaFile>();
        int skipped = 0;
        foreach (var file in Files)
        {
            if (sortedKeys.Count == 0 || (file.TryGetRange(column, out long min, out long max) && !AnyInRange(sortedKeys, min, max))) skipped++;
            else candidates.Add(file);
        }
        // Every file ruled out (a stream's new keys above every file's range): no connection and no query.
        using var connection = candidates.Count > 0 ? DuckDbSession.OpenShared() : null;
        var scan = await DeltaScan.OpenAsync(_store, _root, State, candidates.ToArray(), [column], connection, cancellationToken).ConfigureAwait(false);
        return new DeltaKeyScan(scan, candidates.Count, skipped);
    }

    /// <summary>True when a key of the ascending list lies in [min, max] (a binary search for the first key ≥ min).</summary>
    private static bool AnyInRange(IReadOnlyList<long> sortedKeys, long min, long max)
    {
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

    internal DeltaKeyScan(DeltaScan scan, int filesRead, int filesSkipped)
    {
        _scan = scan;
        FilesRead = filesRead;
        FilesSkipped = filesSkipped;
    }

    /// <summary>A parenthesized SQL table expression with the one column; use as <c>SELECT … FROM {Sql} AS t</c>.</summary>
    public string Sql => _scan.Sql;

    /// <summary>Live files the scan reads (their stats do not rule out a key).</summary>
    public int FilesRead { get; }

    /// <summary>Live files the stats ruled out: not read.</summary>
    public int FilesSkipped { get; }

    public void Dispose() => _scan.Dispose();
}
