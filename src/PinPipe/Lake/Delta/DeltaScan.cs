using System.Globalization;
using System.Text;
using DuckDB.NET.Data;
using PinPipe.DuckDb;
using DuckSql = PinPipe.DuckDb.Sql;

namespace PinPipe.Lake.Delta;

/// <summary>
/// A snapshot's live files as one DuckDB table expression (<see cref="Sql"/>): <c>read_parquet</c> per group of
/// files with equal partition values, projected to the schema's columns and types. Dispose it after the
/// queries that use it: it deletes the files it downloaded (stores without local paths).
/// </summary>
public sealed class DeltaScan : IDisposable
{
    private readonly TempFolder? _downloads;

    private DeltaScan(string sql, IReadOnlyList<string> paths, TempFolder? downloads)
    {
        Sql = sql;
        Paths = paths;
        _downloads = downloads;
    }

    /// <summary>A parenthesized SQL table expression; use as <c>SELECT … FROM {Sql} AS t</c>.</summary>
    public string Sql { get; }

    /// <summary>The local Parquet files the expression reads.</summary>
    public IReadOnlyList<string> Paths { get; }

    public void Dispose() => _downloads?.Dispose();

    internal static Task<DeltaScan> OpenAsync(IObjectStore store, string root, DeltaState state, DuckDBConnection connection, CancellationToken cancellationToken) =>
        OpenAsync(store, root, state, state.Files.Values.OrderBy(f => f.Path, StringComparer.Ordinal).ToArray(), null, connection, cancellationToken);

    /// <summary>A scan of <paramref name="files"/> (live files of <paramref name="state"/>) projected to <paramref name="columns"/> (null: every column of the schema).</summary>
    /// <param name="connection">Reads the files' schemas; null only when <paramref name="files"/> is empty (the scan of no file needs no query).</param>
    internal static async Task<DeltaScan> OpenAsync(IObjectStore store, string root, DeltaState state, DeltaFile[] files, IReadOnlyList<string>? columns,
        DuckDBConnection? connection, CancellationToken cancellationToken)
    {
        if (files.Length > 0) ArgumentNullException.ThrowIfNull(connection);
        var schema = Projected(state, columns);
        var (paths, downloads) = await FetchAsync(store, root, state, files, cancellationToken).ConfigureAwait(false);
        try
        {
            return new DeltaScan(TableSql(state, schema, files, paths, connection, cancellationToken), paths, downloads);
        }
        catch
        {
            downloads?.Dispose();
            throw;
        }
    }

    /// <summary>
    /// A scan of each of <paramref name="files"/> alone, as <see cref="OpenAsync(IObjectStore, string, DeltaState, DeltaFile[], IReadOnlyList{string}?, DuckDBConnection?, CancellationToken)"/>
    /// of that one file, with the files a store without local paths holds downloaded in parallel (as one scan of them all
    /// downloads them) rather than one scan after the other. Dispose each scan after the queries that use it.
    /// </summary>
    internal static async Task<DeltaScan[]> OpenEachAsync(IObjectStore store, string root, DeltaState state, DeltaFile[] files, IReadOnlyList<string>? columns,
        DuckDBConnection connection, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(connection);
        var schema = Projected(state, columns);
        // Each file's own download (a folder each, its scan's to delete), all of them at once.
        var fetched = new (string[] Paths, TempFolder? Downloads)[files.Length];
        var scans = new List<DeltaScan>(files.Length);
        try
        {
            await Parallel.ForEachAsync(Enumerable.Range(0, files.Length), new ParallelOptions { MaxDegreeOfParallelism = 8, CancellationToken = cancellationToken },
                async (i, ct) => fetched[i] = await FetchAsync(store, root, state, [files[i]], ct).ConfigureAwait(false)).ConfigureAwait(false);
            for (int i = 0; i < files.Length; i++)
            {
                scans.Add(new DeltaScan(TableSql(state, schema, [files[i]], fetched[i].Paths, connection, cancellationToken), fetched[i].Paths, fetched[i].Downloads));
                fetched[i].Downloads = null; // the scan's now
            }
            return [.. scans];
        }
        catch
        {
            foreach (var scan in scans) scan.Dispose();
            foreach (var (_, downloads) in fetched) downloads?.Dispose();
            throw;
        }
    }

    /// <summary>The schema of the scan: the table's, or its <paramref name="columns"/> in schema order.</summary>
    private static DeltaSchema Projected(DeltaState state, IReadOnlyList<string>? columns)
    {
        var schema = state.Metadata!.Schema;
        if (schema.Fields.Count == 0) throw new DeltaException(DeltaErrorCode.Corrupt, $"Delta table at version {state.Version} has no schema: there are no columns to read.");
        if (columns is null) return schema;
        var unknown = columns.Where(c => !schema.Fields.Any(f => string.Equals(f.Name, c, StringComparison.OrdinalIgnoreCase))).ToList();
        if (unknown.Count > 0 || columns.Count == 0)
            throw new ArgumentException($"The table has no column(s) {string.Join(", ", unknown)}; it has: {string.Join(", ", schema.Fields.Select(f => f.Name))}.", nameof(columns));
        return new DeltaSchema(schema.Fields.Where(f => columns.Contains(f.Name, StringComparer.OrdinalIgnoreCase)).ToList());
    }

    /// <summary>The local paths of <paramref name="files"/>: the store's own files, or downloads (at most 8 at a time) into a folder the caller disposes.</summary>
    private static async Task<(string[] Paths, TempFolder? Downloads)> FetchAsync(IObjectStore store, string root, DeltaState state, DeltaFile[] files, CancellationToken cancellationToken)
    {
        var paths = new string[files.Length];
        var toDownload = new List<int>();
        for (int i = 0; i < files.Length; i++)
        {
            string? local = LocalPathOf(store, root, files[i], state.Version);
            if (local is null) toDownload.Add(i);
            else paths[i] = local;
        }
        if (toDownload.Count == 0) return (paths, null);
        var folder = new TempFolder();
        try
        {
            await Parallel.ForEachAsync(toDownload, new ParallelOptions { MaxDegreeOfParallelism = 8, CancellationToken = cancellationToken }, async (i, ct) =>
            {
                string key = root + files[i].Path;
                string path = folder.File(i.ToString("D6", CultureInfo.InvariantCulture) + ".parquet");
                if (!await store.GetFileAsync(key, path, ct).ConfigureAwait(false))
                    throw new DeltaException(DeltaErrorCode.Corrupt, $"Data file '{key}' of version {state.Version} is missing from {store.Location}.");
                paths[i] = path;
            }).ConfigureAwait(false);
            return (paths, folder);
        }
        catch
        {
            folder.Dispose();
            throw;
        }
    }

    /// <summary>The table expression over <paramref name="paths"/>, the local copies of <paramref name="files"/>.</summary>
    private static string TableSql(DeltaState state, DeltaSchema schema, DeltaFile[] files, string[] paths, DuckDBConnection? connection, CancellationToken cancellationToken)
    {
        if (files.Length == 0)
            return "(SELECT " + string.Join(", ", schema.Fields.Select(f => $"CAST(NULL AS {DeltaDuckDb.TypeOf(f.Type)}) AS {DuckSql.Identifier(f.Name)}")) + " LIMIT 0)";
        var metadata = state.Metadata!;
        var canonical = DeltaDuckDb.CanonicalTypes(connection!, schema.Fields.Select(f => f.Type).ToArray(), cancellationToken);
        var groups = Enumerable.Range(0, files.Length)
            .GroupBy(i => string.Join("\u0001", metadata.PartitionColumns.Select(c => Partition(files[i], c) ?? "\u0002")), StringComparer.Ordinal);
        var selects = new List<string>();
        foreach (var group in groups)
        {
            var groupPaths = group.Select(i => paths[i]).ToArray();
            selects.Add(GroupSelect(connection!, schema, metadata.PartitionColumns, files[group.First()], groupPaths, canonical, cancellationToken));
        }
        return "(" + string.Join(" UNION ALL ", selects) + ")";
    }

    private static string? LocalPathOf(IObjectStore store, string root, DeltaFile file, long version)
    {
        string? local;
        if (Uri.TryCreate(file.RawPath, UriKind.Absolute, out var uri) && uri.Scheme.Length > 1)
        {
            if (!uri.IsFile) throw new DeltaException(DeltaErrorCode.Unsupported, $"Data file '{file.RawPath}' has an absolute URI; only relative paths and file: URIs are supported.");
            local = uri.LocalPath;
        }
        else
        {
            local = store.LocalPath(root + file.Path);
            if (local is null) return null;
        }
        if (!File.Exists(local)) throw new DeltaException(DeltaErrorCode.Corrupt, $"Data file '{file.Path}' of version {version} is missing ({local}).");
        return local;
    }

    private static string? Partition(DeltaFile file, string column)
    {
        foreach (var kv in file.PartitionValues)
        {
            if (string.Equals(kv.Key, column, StringComparison.OrdinalIgnoreCase)) return kv.Value;
        }
        return null;
    }

    private static string GroupSelect(DuckDBConnection connection, DeltaSchema schema, IReadOnlyList<string> partitionColumns, DeltaFile sample,
        string[] paths, List<string> canonical, CancellationToken cancellationToken)
    {
        List<(string Name, string Type)> columns;
        try
        {
            columns = DeltaDuckDb.Describe(connection, paths, cancellationToken);
        }
        catch (DuckDBException e)
        {
            throw new DeltaException(DeltaErrorCode.Corrupt, $"Data files cannot be read ({paths[0]}{(paths.Length > 1 ? ", ..." : "")}): {e.Message}", e);
        }
        var sql = new StringBuilder("SELECT ");
        for (int i = 0; i < schema.Fields.Count; i++)
        {
            var field = schema.Fields[i];
            if (i > 0) sql.Append(", ");
            string type = DeltaDuckDb.TypeOf(field.Type);
            if (partitionColumns.Any(c => string.Equals(c, field.Name, StringComparison.OrdinalIgnoreCase)))
            {
                sql.Append(DeltaValues.PartitionLiteral(Partition(sample, field.Name), field, sample.Path));
            }
            else if (columns.FindIndex(c => string.Equals(c.Name, field.Name, StringComparison.OrdinalIgnoreCase)) is var index and >= 0)
            {
                string column = DuckSql.Identifier(columns[index].Name);
                string fileType = columns[index].Type;
                if (string.Equals(fileType, canonical[i], StringComparison.OrdinalIgnoreCase)) sql.Append(column);
                else if (field.Type == DeltaType.Timestamp && fileType == "TIMESTAMP") sql.Append("make_timestamptz(epoch_us(").Append(column).Append("))"); // INT96: UTC
                else if (field.Type is DeltaArrayType { Element: var e } && e == DeltaType.Timestamp && fileType == "TIMESTAMP[]")
                    sql.Append("list_transform(").Append(column).Append(", x -> make_timestamptz(epoch_us(x)))");
                else sql.Append("CAST(").Append(column).Append(" AS ").Append(type).Append(')');
            }
            else
            {
                sql.Append("CAST(NULL AS ").Append(type).Append(')');
            }
            sql.Append(" AS ").Append(DuckSql.Identifier(field.Name));
        }
        sql.Append(" FROM read_parquet(").Append(DuckSql.List(paths)).Append(", hive_partitioning = false, union_by_name = true)");
        return sql.ToString();
    }
}
