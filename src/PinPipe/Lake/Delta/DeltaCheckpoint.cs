using System.Globalization;
using System.Text.Encodings.Web;
using System.Text.Json;
using System.Text.RegularExpressions;
using PinPipe.DuckDb;

namespace PinPipe.Lake.Delta;

/// <summary>
/// Classic V1 checkpoints (protocol §1.6): reading classic and multi-part checkpoints, and writing a single-file
/// checkpoint of a reconciled state plus <c>_last_checkpoint</c>. Both go through DuckDB's Parquet reader and writer.
/// </summary>
internal static partial class DeltaCheckpoint
{
    /// <summary>The checkpoint's <c>remove</c> column type.</summary>
    private const string RemoveType = "STRUCT(\"path\" VARCHAR, \"deletionTimestamp\" BIGINT, \"dataChange\" BOOLEAN, \"extendedFileMetadata\" BOOLEAN, \"partitionValues\" MAP(VARCHAR, VARCHAR), \"size\" BIGINT)";

    /// <summary>Parquet column types of a checkpoint (the required columns of §1.6, in Spark's order).</summary>
    private const string Columns =
        "columns = {" +
        "txn: 'STRUCT(\"appId\" VARCHAR, \"version\" BIGINT, \"lastUpdated\" BIGINT)', " +
        "add: 'STRUCT(\"path\" VARCHAR, \"partitionValues\" MAP(VARCHAR, VARCHAR), \"size\" BIGINT, \"modificationTime\" BIGINT, \"dataChange\" BOOLEAN, \"stats\" VARCHAR, \"tags\" MAP(VARCHAR, VARCHAR))', " +
        "remove: '" + RemoveType + "', " +
        "metaData: 'STRUCT(\"id\" VARCHAR, \"name\" VARCHAR, \"description\" VARCHAR, \"format\" STRUCT(\"provider\" VARCHAR, \"options\" MAP(VARCHAR, VARCHAR)), \"schemaString\" VARCHAR, \"partitionColumns\" VARCHAR[], \"configuration\" MAP(VARCHAR, VARCHAR), \"createdTime\" BIGINT)', " +
        "protocol: 'STRUCT(\"minReaderVersion\" INTEGER, \"minWriterVersion\" INTEGER, \"readerFeatures\" VARCHAR[], \"writerFeatures\" VARCHAR[])'" +
        "}";

    internal static readonly JsonWriterOptions JsonOptions = new() { Encoder = JavaScriptEncoder.UnsafeRelaxedJsonEscaping };

    /// <summary>The parsed <c>_last_checkpoint</c>: version and, for multi-part checkpoints, the number of parts.</summary>
    internal sealed record Pointer(long Version, int? Parts);

    /// <summary>Reads <c>_last_checkpoint</c>; null when it is missing or cannot be parsed (the reader then lists the log).</summary>
    internal static async Task<Pointer?> ReadPointerAsync(IObjectStore store, string logPrefix, CancellationToken cancellationToken)
    {
        byte[]? bytes = await store.GetAsync(logPrefix + DeltaLogFiles.LastCheckpoint, cancellationToken).ConfigureAwait(false);
        if (bytes is null) return null;
        try
        {
            using var doc = JsonDocument.Parse(bytes);
            var root = doc.RootElement;
            if (root.ValueKind != JsonValueKind.Object || !root.TryGetProperty("version", out var v) || !v.TryGetInt64(out long version) || version < 0) return null;
            int? parts = root.TryGetProperty("parts", out var p) && p.TryGetInt32(out int n) && n > 0 ? n : null;
            return new Pointer(version, parts);
        }
        catch (JsonException)
        {
            return null;
        }
    }

    /// <summary>
    /// Applies the rows of the checkpoint of <paramref name="version"/> (its <paramref name="parts"/>) to <paramref name="state"/>
    /// and moves it to that version. With <paramref name="tombstones"/> false its <c>remove</c> rows are left in the file: the
    /// state records the checkpoint as its <see cref="DeltaState.TombstoneBase"/> (a checkpoint without a <c>remove</c> column
    /// is read whole).
    /// </summary>
    internal static async Task LoadAsync(IObjectStore store, long version, IReadOnlyList<string> parts, DeltaState state, bool tombstones, CancellationToken cancellationToken)
    {
        using var temp = new TempFolder();
        var paths = await LocalPathsAsync(store, parts, temp, cancellationToken).ConfigureAwait(false);
        using var connection = DuckDbSession.OpenShared();
        var rowsByPart = new List<List<string>>();
        bool skipped = !tombstones;
        for (int i = 0; i < parts.Count; i++)
        {
            try
            {
                List<string>? rows = null;
                if (skipped)
                {
                    try
                    {
                        rows = connection.Query("SELECT to_json(t) FROM read_parquet($1, hive_partitioning = false) AS t WHERE t.remove IS NULL", [paths[i]], r => r.GetString(0), cancellationToken);
                    }
                    catch (DuckDB.NET.Data.DuckDBException) when (i == 0)
                    {
                        skipped = false; // no remove column (or one of another shape): read it whole
                    }
                }
                rows ??= connection.Query("SELECT to_json(t) FROM read_parquet($1, hive_partitioning = false) AS t", [paths[i]], r => r.GetString(0), cancellationToken);
                rowsByPart.Add(rows);
            }
            catch (DuckDB.NET.Data.DuckDBException e)
            {
                throw new DeltaException(DeltaErrorCode.Corrupt, $"Checkpoint '{parts[i]}' cannot be read: {e.Message}", e);
            }
        }
        state.ApplyCheckpoint(version, skipped ? parts : null, s =>
        {
            for (int i = 0; i < parts.Count; i++)
            {
                string source = "checkpoint " + parts[i];
                foreach (string row in rowsByPart[i])
                {
                    using var doc = JsonDocument.Parse(row);
                    s.ApplyActions(doc.RootElement, source);
                }
            }
        });
    }

    /// <summary>Local paths of the objects (the store's own files, or copies in <paramref name="temp"/>).</summary>
    private static async Task<List<string>> LocalPathsAsync(IObjectStore store, IReadOnlyList<string> keys, TempFolder temp, CancellationToken cancellationToken)
    {
        var paths = new List<string>();
        foreach (string key in keys)
        {
            string? local = store.LocalPath(key);
            if (local is null || !File.Exists(local))
            {
                // Streamed to a file: a checkpoint grows with the table's live files.
                local = temp.File(Path.GetFileName(key));
                if (!await store.GetFileAsync(key, local, cancellationToken).ConfigureAwait(false))
                    throw new DeltaException(DeltaErrorCode.Corrupt, $"Checkpoint part '{key}' was listed but cannot be read.");
            }
            paths.Add(local);
        }
        return paths;
    }

    /// <summary>
    /// Writes <c>&lt;v&gt;.checkpoint.parquet</c> of <paramref name="state"/> (protocol, metaData, txns, live adds,
    /// unexpired removes without stats) and then <c>_last_checkpoint</c>; returns the checkpoint's key and its number of actions (rows). The tombstones of the
    /// state's <see cref="DeltaState.TombstoneBase"/> are carried over from that checkpoint's file by DuckDB, file to file
    /// (without the expired ones, those of paths live again or removed again since), so a checkpoint costs no managed
    /// memory for them. Call only after the commit of the state's version exists.
    /// </summary>
    internal static async Task<(string Key, long Actions)> WriteAsync(IObjectStore store, string logPrefix, DeltaState state, DateTimeOffset now, CancellationToken cancellationToken)
    {
        if (state.Protocol is null || state.Metadata is null) throw new InvalidOperationException("A checkpoint needs protocol and metadata.");
        using var temp = new TempFolder();
        string json = temp.File("actions.json");
        string parquet = temp.File("checkpoint.parquet");
        long expiry = now.ToUnixTimeMilliseconds() - (long)TombstoneRetention(state.Metadata).TotalMilliseconds;
        var basePaths = state.TombstoneBase is { } baseKeys ? await LocalPathsAsync(store, baseKeys, temp, cancellationToken).ConfigureAwait(false) : null;
        IEnumerable<DeltaRemove> tombstones = state.Tombstones.Values;
        await WriteLinesAsync(json, Actions()).ConfigureAwait(false);
        string select = $"SELECT txn, \"add\", remove, metaData, protocol FROM read_json({Sql.Literal(json)}, format = 'newline_delimited', maximum_object_size = 16777216, {Columns})";
        long rows;
        using (var connection = DuckDbSession.OpenShared())
        {
            if (basePaths is not null)
            {
                // Paths whose base tombstone no longer holds: live again, or removed again since (the state has the newer remove).
                string excluded = temp.File("excluded.json");
                await WriteLinesAsync(excluded, state.Files.Values.SelectMany(f => new[] { f.RawPath, f.Path }).Concat(state.Tombstones.Values.SelectMany(t => new[] { t.RawPath, t.Path }))
                    .Distinct(StringComparer.Ordinal).Select(p => (Action<Utf8JsonWriter>)(w => { w.WriteStartObject(); w.WriteString("p", p); w.WriteEndObject(); }))).ConfigureAwait(false);
                string carried = string.Create(CultureInfo.InvariantCulture,
                    $$"""
                    SELECT NULL, NULL, CAST(struct_pack(path := r.path, deletionTimestamp := r.deletionTimestamp, dataChange := false, extendedFileMetadata := r.extendedFileMetadata,
                        partitionValues := r.partitionValues, size := r.size) AS {{RemoveType}}), NULL, NULL
                    FROM (SELECT remove AS r FROM read_parquet([{{string.Join(", ", basePaths.Select(Sql.Literal))}}], hive_partitioning = false) WHERE remove IS NOT NULL)
                    WHERE coalesce(r.deletionTimestamp, 0) > {{expiry}}
                      AND r.path NOT IN (SELECT p FROM read_json({{Sql.Literal(excluded)}}, format = 'newline_delimited', columns = {p: 'VARCHAR'}))
                      AND url_decode(r.path) NOT IN (SELECT p FROM read_json({{Sql.Literal(excluded)}}, format = 'newline_delimited', columns = {p: 'VARCHAR'}))
                    """);
                try
                {
                    connection.CopyToParquet($"({select} UNION ALL {carried})", parquet, cancellationToken);
                }
                catch (DuckDB.NET.Data.DuckDBException)
                {
                    // A base of another shape (another writer's remove struct): read its tombstones into memory and write them all.
                    var full = new DeltaState();
                    await LoadAsync(store, state.TombstoneBaseVersion, state.TombstoneBase!, full, tombstones: true, cancellationToken).ConfigureAwait(false);
                    tombstones = full.Tombstones.Values.Where(t => !state.Files.ContainsKey(t.Path) && !state.Tombstones.ContainsKey(t.Path)).Concat(state.Tombstones.Values).ToList();
                    await WriteLinesAsync(json, Actions()).ConfigureAwait(false);
                    connection.CopyToParquet($"({select})", parquet, cancellationToken);
                }
            }
            else
            {
                connection.CopyToParquet($"({select})", parquet, cancellationToken);
            }
            rows = connection.Query("SELECT count(*) FROM read_parquet($1)", [parquet], r => r.GetInt64(0), cancellationToken)[0];
        }
        long size = new FileInfo(parquet).Length;
        string key = logPrefix + DeltaLogFiles.Checkpoint(state.Version);
        await store.PutFileAsync(key, parquet, cancellationToken).ConfigureAwait(false);

        using var pointer = new MemoryStream();
        await using (var w = new Utf8JsonWriter(pointer, JsonOptions))
        {
            w.WriteStartObject();
            w.WriteNumber("version", state.Version);
            w.WriteNumber("size", rows);
            w.WriteNumber("sizeInBytes", size);
            w.WriteNumber("numOfAddFiles", state.Files.Count);
            w.WriteEndObject();
        }
        await store.PutAsync(logPrefix + DeltaLogFiles.LastCheckpoint, pointer.ToArray(), cancellationToken).ConfigureAwait(false);
        return (key, rows);

        IEnumerable<Action<Utf8JsonWriter>> Actions()
        {
            yield return w => DeltaActionJson.WriteProtocol(w, state.Protocol);
            yield return w => DeltaActionJson.WriteMetadata(w, state.Metadata);
            foreach (var txn in state.Txns.Values) yield return w => DeltaActionJson.WriteTxn(w, txn);
            foreach (var add in state.Files.Values) yield return w => DeltaActionJson.WriteAdd(w, add, dataChange: false);
            foreach (var remove in tombstones)
            {
                if ((remove.DeletionTimestamp ?? 0) > expiry) yield return w => DeltaActionJson.WriteRemove(w, remove, dataChange: false);
            }
        }
    }

    /// <summary>Writes newline-delimited JSON, one line per writer action.</summary>
    private static async Task WriteLinesAsync(string path, IEnumerable<Action<Utf8JsonWriter>> lines)
    {
        await using var stream = File.Create(path);
        foreach (var write in lines)
        {
            await using (var writer = new Utf8JsonWriter(stream, JsonOptions)) write(writer);
            stream.WriteByte((byte)'\n');
        }
    }

    /// <summary><c>delta.deletedFileRetentionDuration</c> (Spark's <c>interval N unit</c>), default one week.</summary>
    internal static TimeSpan TombstoneRetention(DeltaMetadata metadata) =>
        Interval(metadata.Get("delta.deletedFileRetentionDuration")) ?? DeltaTable.DefaultDeletedFileRetention;

    /// <summary>A table property's duration in Spark's form (<c>interval 30 days</c>, <c>7 days</c>, <c>1 week</c>), or null when absent or not one.</summary>
    internal static TimeSpan? Interval(string? text)
    {
        if (text is null) return null;
        var m = IntervalPattern().Match(text.Trim());
        if (!m.Success) return null;
        double n = double.Parse(m.Groups[1].Value, CultureInfo.InvariantCulture);
        return m.Groups[2].Value.ToLowerInvariant().TrimEnd('s') switch
        {
            "week" => TimeSpan.FromDays(7 * n),
            "day" => TimeSpan.FromDays(n),
            "hour" => TimeSpan.FromHours(n),
            "minute" => TimeSpan.FromMinutes(n),
            "second" => TimeSpan.FromSeconds(n),
            "millisecond" => TimeSpan.FromMilliseconds(n),
            _ => null,
        };
    }

    [GeneratedRegex(@"^(?:interval\s+)?(\d+(?:\.\d+)?)\s*([a-zA-Z]+)$", RegexOptions.CultureInvariant | RegexOptions.IgnoreCase)]
    private static partial Regex IntervalPattern();
}
