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
    /// <summary>Parquet column types of a checkpoint (the required columns of §1.6, in Spark's order).</summary>
    private const string Columns =
        "columns = {" +
        "txn: 'STRUCT(\"appId\" VARCHAR, \"version\" BIGINT, \"lastUpdated\" BIGINT)', " +
        "add: 'STRUCT(\"path\" VARCHAR, \"partitionValues\" MAP(VARCHAR, VARCHAR), \"size\" BIGINT, \"modificationTime\" BIGINT, \"dataChange\" BOOLEAN, \"stats\" VARCHAR, \"tags\" MAP(VARCHAR, VARCHAR))', " +
        "remove: 'STRUCT(\"path\" VARCHAR, \"deletionTimestamp\" BIGINT, \"dataChange\" BOOLEAN, \"extendedFileMetadata\" BOOLEAN, \"partitionValues\" MAP(VARCHAR, VARCHAR), \"size\" BIGINT)', " +
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

    /// <summary>Applies every row of the checkpoint's parts to <paramref name="state"/>.</summary>
    internal static async Task LoadAsync(IObjectStore store, IReadOnlyList<ObjectInfo> parts, DeltaState state, CancellationToken cancellationToken)
    {
        using var temp = new TempFolder();
        var paths = new List<string>();
        foreach (var part in parts)
        {
            string? local = store.LocalPath(part.Key);
            if (local is null || !File.Exists(local))
            {
                // Streamed to a file: a checkpoint grows with the table's live files.
                local = temp.File(Path.GetFileName(part.Key));
                if (!await store.GetFileAsync(part.Key, local, cancellationToken).ConfigureAwait(false))
                    throw new DeltaException(DeltaErrorCode.Corrupt, $"Checkpoint part '{part.Key}' was listed but cannot be read.");
            }
            paths.Add(local);
        }
        using var connection = DuckDbSession.OpenShared();
        for (int i = 0; i < parts.Count; i++)
        {
            List<string> rows;
            try
            {
                rows = connection.Query("SELECT to_json(t) FROM read_parquet($1, hive_partitioning = false) AS t", [paths[i]], r => r.GetString(0), cancellationToken);
            }
            catch (DuckDB.NET.Data.DuckDBException e)
            {
                throw new DeltaException(DeltaErrorCode.Corrupt, $"Checkpoint '{parts[i].Key}' cannot be read: {e.Message}", e);
            }
            string source = "checkpoint " + parts[i].Key;
            foreach (string row in rows)
            {
                using var doc = JsonDocument.Parse(row);
                state.ApplyActions(doc.RootElement, source);
            }
        }
    }

    /// <summary>
    /// Writes <c>&lt;v&gt;.checkpoint.parquet</c> of <paramref name="state"/> (protocol, metaData, txns, live adds,
    /// unexpired removes without stats) and then <c>_last_checkpoint</c>. Call only after the commit of the
    /// state's version exists.
    /// </summary>
    internal static async Task WriteAsync(IObjectStore store, string logPrefix, DeltaState state, DateTimeOffset now, CancellationToken cancellationToken)
    {
        if (state.Protocol is null || state.Metadata is null) throw new InvalidOperationException("A checkpoint needs protocol and metadata.");
        using var temp = new TempFolder();
        string json = temp.File("actions.json");
        string parquet = temp.File("checkpoint.parquet");
        long expiry = now.ToUnixTimeMilliseconds() - (long)TombstoneRetention(state.Metadata).TotalMilliseconds;
        int rows = 0;
        await using (var stream = File.Create(json))
        {
            foreach (var write in Actions())
            {
                await using (var writer = new Utf8JsonWriter(stream, JsonOptions)) write(writer);
                stream.WriteByte((byte)'\n');
                rows++;
            }
        }
        using (var connection = DuckDbSession.OpenShared())
        {
            connection.CopyToParquet(
                $"(SELECT txn, \"add\", remove, metaData, protocol FROM read_json({Sql.Literal(json)}, format = 'newline_delimited', maximum_object_size = 16777216, {Columns}))",
                parquet, cancellationToken);
        }
        long size = new FileInfo(parquet).Length;
        await store.PutFileAsync(logPrefix + DeltaLogFiles.Checkpoint(state.Version), parquet, cancellationToken).ConfigureAwait(false);

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

        IEnumerable<Action<Utf8JsonWriter>> Actions()
        {
            yield return w => DeltaActionJson.WriteProtocol(w, state.Protocol);
            yield return w => DeltaActionJson.WriteMetadata(w, state.Metadata);
            foreach (var txn in state.Txns.Values) yield return w => DeltaActionJson.WriteTxn(w, txn);
            foreach (var add in state.Files.Values) yield return w => DeltaActionJson.WriteAdd(w, add, dataChange: false);
            foreach (var remove in state.Tombstones.Values)
            {
                if ((remove.DeletionTimestamp ?? 0) > expiry) yield return w => DeltaActionJson.WriteRemove(w, remove, dataChange: false);
            }
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
