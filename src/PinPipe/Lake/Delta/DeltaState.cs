using System.Text;
using System.Text.Json;

namespace PinPipe.Lake.Delta;

/// <summary>
/// The reconciled state of a table at a version (protocol §1.4 step 5): latest protocol and metadata,
/// live files keyed by decoded path, tombstones and the txn map. Replay mutates a fresh or cloned state;
/// a state handed to a snapshot is never mutated again.
/// </summary>
internal sealed class DeltaState
{
    internal long Version { get; set; } = -1;
    internal DeltaProtocol? Protocol { get; private set; }
    internal DeltaMetadata? Metadata { get; private set; }
    internal Dictionary<string, DeltaFile> Files { get; private init; } = new(StringComparer.Ordinal);

    /// <summary>
    /// The tombstones (<c>remove</c> actions, by decoded path) of the commits after <see cref="TombstoneBase"/>, each with the
    /// version that removed it; all of them when there is no base. Those of the base checkpoint stay in its file and are never
    /// held in memory: a stream table accrues a tombstone per compacted micro-batch file, hundreds of thousands a day, kept
    /// for <c>delta.deletedFileRetentionDuration</c>, so a writer that held them all would pay for the whole week on every
    /// commit. <see cref="DeltaCheckpoint.WriteAsync"/> carries the base's tombstones over into the next checkpoint.
    /// </summary>
    internal Dictionary<string, DeltaRemove> Tombstones { get; private init; } = new(StringComparer.Ordinal);

    /// <summary>The checkpoint (its part keys) whose <c>remove</c> rows hold the tombstones up to <see cref="TombstoneBaseVersion"/>; null when <see cref="Tombstones"/> holds them all.</summary>
    internal IReadOnlyList<string>? TombstoneBase { get; private set; }

    /// <summary>The version of <see cref="TombstoneBase"/>; -1 without one.</summary>
    internal long TombstoneBaseVersion { get; private set; } = -1;

    internal Dictionary<string, DeltaTxnAction> Txns { get; private init; } = new(StringComparer.Ordinal);

    /// <summary>The version <see cref="ApplyActions"/> records on the tombstones it adds.</summary>
    private long _applying = -1;

    /// <summary>
    /// A copy to apply newer commits to, without the tombstones deleted at or before <paramref name="tombstoneExpiry"/> (Unix
    /// ms): a checkpoint drops those too (<c>delta.deletedFileRetentionDuration</c>), so a long-running writer's cached state
    /// holds what a fresh load would, not every file ever removed.
    /// </summary>
    internal DeltaState Clone(long tombstoneExpiry)
    {
        var tombstones = new Dictionary<string, DeltaRemove>(StringComparer.Ordinal);
        foreach (var (path, remove) in Tombstones)
        {
            if ((remove.DeletionTimestamp ?? 0) > tombstoneExpiry) tombstones[path] = remove;
        }
        return new DeltaState
        {
            Version = Version,
            Protocol = Protocol,
            Metadata = Metadata,
            Files = new Dictionary<string, DeltaFile>(Files, StringComparer.Ordinal),
            Tombstones = tombstones,
            TombstoneBase = TombstoneBase,
            TombstoneBaseVersion = TombstoneBaseVersion,
            Txns = new Dictionary<string, DeltaTxnAction>(Txns, StringComparer.Ordinal),
        };
    }

    /// <summary>
    /// This state with <paramref name="checkpoint"/> (the parts of the checkpoint of version <paramref name="version"/>, at
    /// most this state's) as its tombstone base: it keeps only the tombstones of later commits. Shares the live files and txns
    /// (a state is not mutated once handed out; <see cref="Clone"/> copies them).
    /// </summary>
    internal DeltaState Rebased(long version, IReadOnlyList<string> checkpoint)
    {
        if (version > Version) throw new ArgumentOutOfRangeException(nameof(version), version, $"The checkpoint is newer than the state (version {Version}).");
        var tombstones = new Dictionary<string, DeltaRemove>(StringComparer.Ordinal);
        foreach (var (path, remove) in Tombstones)
        {
            if (remove.CommitVersion > version) tombstones[path] = remove;
        }
        return new DeltaState
        {
            Version = Version,
            Protocol = Protocol,
            Metadata = Metadata,
            Files = Files,
            Tombstones = tombstones,
            TombstoneBase = checkpoint,
            TombstoneBaseVersion = version,
            Txns = Txns,
        };
    }

    /// <summary>Applies every action of the commit of <paramref name="version"/> (newline-delimited JSON, one action per line) and moves the state to that version.</summary>
    internal void ApplyCommit(ReadOnlySpan<byte> content, string source, long version)
    {
        _applying = version;
        int line = 0;
        while (!content.IsEmpty)
        {
            line++;
            int end = content.IndexOf((byte)'\n');
            var text = end < 0 ? content : content[..end];
            content = end < 0 ? [] : content[(end + 1)..];
            if (text.Trim(" \t\r"u8).IsEmpty) continue;
            try
            {
                using var doc = JsonDocument.Parse(text.ToArray());
                ApplyActions(doc.RootElement, $"{source} line {line}");
            }
            catch (JsonException e)
            {
                throw new DeltaException(DeltaErrorCode.Corrupt, $"{source} line {line} is not valid JSON: {e.Message}", e);
            }
        }
        Version = version;
    }

    /// <summary>
    /// Applies the rows of the checkpoint of <paramref name="version"/> through <see cref="ApplyActions"/> (<paramref name="apply"/>)
    /// and moves the state to that version; <paramref name="tombstoneBase"/> (its part keys) when its tombstones were left in it.
    /// </summary>
    internal void ApplyCheckpoint(long version, IReadOnlyList<string>? tombstoneBase, Action<DeltaState> apply)
    {
        _applying = version;
        apply(this);
        Version = version;
        TombstoneBase = tombstoneBase;
        TombstoneBaseVersion = tombstoneBase is null ? -1 : version;
    }

    /// <summary>Applies the actions of one JSON object (a commit line, or a checkpoint row: null members are skipped).</summary>
    internal void ApplyActions(JsonElement row, string source)
    {
        if (row.ValueKind != JsonValueKind.Object) throw new DeltaException(DeltaErrorCode.Corrupt, $"{source} is not a JSON object.");
        foreach (var action in row.EnumerateObject())
        {
            if (action.Value.ValueKind == JsonValueKind.Null) continue;
            if (action.Value.ValueKind != JsonValueKind.Object && action.Name is "add" or "remove" or "metaData" or "protocol" or "txn")
                throw new DeltaException(DeltaErrorCode.Corrupt, $"{source}: action '{action.Name}' is not an object.");
            try
            {
                switch (action.Name)
                {
                    case "add": ApplyAdd(action.Value, source); break;
                    case "remove": ApplyRemove(action.Value, source); break;
                    case "metaData": Metadata = ParseMetadata(action.Value, source); break;
                    case "protocol": Protocol = ParseProtocol(action.Value, source); break;
                    case "txn":
                        var txn = new DeltaTxnAction(RequiredString(action.Value, "appId", source), RequiredLong(action.Value, "version", source), OptionalLong(action.Value, "lastUpdated"));
                        Txns[txn.AppId] = txn;
                        break;
                    default: break; // commitInfo, cdc, domainMetadata, checkpointMetadata, sidecar and unknown actions
                }
            }
            catch (InvalidOperationException e)
            {
                throw new DeltaException(DeltaErrorCode.Corrupt, $"{source}: action '{action.Name}' has a field of the wrong type: {e.Message}", e);
            }
        }
    }

    private void ApplyAdd(JsonElement add, string source)
    {
        RejectDeletionVector(add, source);
        string raw = RequiredString(add, "path", source);
        string path = DecodePath(raw, source);
        var file = new DeltaFile(path, StringMap(add, "partitionValues"), RequiredLong(add, "size", source), OptionalLong(add, "modificationTime") ?? 0,
            OptionalString(add, "stats"))
        {
            RawPath = raw,
            DataChange = !add.TryGetProperty("dataChange", out var dc) || dc.ValueKind != JsonValueKind.False,
            TagsJson = add.TryGetProperty("tags", out var tags) && tags.ValueKind == JsonValueKind.Object ? tags.GetRawText() : null,
        };
        Files[path] = file;
        Tombstones.Remove(path);
    }

    private void ApplyRemove(JsonElement remove, string source)
    {
        RejectDeletionVector(remove, source);
        string raw = RequiredString(remove, "path", source);
        string path = DecodePath(raw, source);
        Files.Remove(path);
        Tombstones[path] = new DeltaRemove(raw, path, OptionalLong(remove, "deletionTimestamp"),
            !remove.TryGetProperty("dataChange", out var dc) || dc.ValueKind != JsonValueKind.False,
            remove.TryGetProperty("extendedFileMetadata", out var e) && e.ValueKind is JsonValueKind.True or JsonValueKind.False ? e.GetBoolean() : null,
            remove.TryGetProperty("partitionValues", out var pv) && pv.ValueKind == JsonValueKind.Object ? StringMap(remove, "partitionValues") : null,
            OptionalLong(remove, "size"))
        { CommitVersion = _applying };
    }

    private static DeltaMetadata ParseMetadata(JsonElement m, string source)
    {
        string? schemaString = OptionalString(m, "schemaString");
        DeltaSchema schema;
        try
        {
            schema = schemaString is null ? new DeltaSchema([]) : DeltaSchema.FromJson(schemaString);
        }
        catch (DeltaException e)
        {
            throw new DeltaException(e.Code, $"{source}: {e.Message}", e);
        }
        var partitionColumns = new List<string>();
        if (m.TryGetProperty("partitionColumns", out var pc) && pc.ValueKind == JsonValueKind.Array)
            partitionColumns.AddRange(pc.EnumerateArray().Select(c => c.GetString() ?? throw new DeltaException(DeltaErrorCode.Corrupt, $"{source}: a partition column is null.")));
        foreach (string c in partitionColumns)
        {
            if (schema.Find(c) is null) throw new DeltaException(DeltaErrorCode.Corrupt, $"{source}: partition column '{c}' is not in the schema.");
        }
        var configuration = StringMap(m, "configuration").Where(kv => kv.Value is not null).ToDictionary(kv => kv.Key, kv => kv.Value!, StringComparer.Ordinal);
        string format = m.TryGetProperty("format", out var f) && f.ValueKind == JsonValueKind.Object ? f.GetRawText() : """{"provider":"parquet","options":{}}""";
        if (m.TryGetProperty("format", out var fmt) && fmt.ValueKind == JsonValueKind.Object && fmt.TryGetProperty("provider", out var provider)
            && provider.GetString() is { } p && !p.Equals("parquet", StringComparison.OrdinalIgnoreCase))
            throw new DeltaException(DeltaErrorCode.Unsupported, $"{source}: data file format '{p}' is not supported (only parquet).");
        return new DeltaMetadata(RequiredString(m, "id", source), schema, partitionColumns, configuration, OptionalLong(m, "createdTime"),
            OptionalString(m, "name"), OptionalString(m, "description"))
        { FormatJson = format };
    }

    private static DeltaProtocol ParseProtocol(JsonElement p, string source) =>
        new((int)RequiredLong(p, "minReaderVersion", source), (int)RequiredLong(p, "minWriterVersion", source), StringList(p, "readerFeatures"), StringList(p, "writerFeatures"));

    private static void RejectDeletionVector(JsonElement action, string source)
    {
        if (action.TryGetProperty("deletionVector", out var dv) && dv.ValueKind == JsonValueKind.Object)
            throw new DeltaException(DeltaErrorCode.Unsupported, $"{source}: file '{OptionalString(action, "path")}' has a deletion vector, which is not supported.");
    }

    /// <summary>Percent-decodes an action's path (a relative or absolute URI).</summary>
    internal static string DecodePath(string raw, string source)
    {
        if (raw.Length == 0) throw new DeltaException(DeltaErrorCode.Corrupt, $"{source}: a file has an empty path.");
        try
        {
            return Uri.UnescapeDataString(raw);
        }
        catch (UriFormatException e)
        {
            throw new DeltaException(DeltaErrorCode.Corrupt, $"{source}: path '{raw}' is not a valid URI.", e);
        }
    }

    /// <summary>Percent-encodes a relative path as Spark does for the characters a file name of ours can hold.</summary>
    internal static string EncodePath(string path)
    {
        var sb = new StringBuilder(path.Length);
        foreach (byte b in Encoding.UTF8.GetBytes(path))
        {
            char c = (char)b;
            if (char.IsAsciiLetterOrDigit(c) || c is '-' or '_' or '.' or '~' or '/' or '=') sb.Append(c);
            else sb.Append('%').Append(b.ToString("X2", System.Globalization.CultureInfo.InvariantCulture));
        }
        return sb.ToString();
    }

    private static string RequiredString(JsonElement e, string name, string source) =>
        e.TryGetProperty(name, out var v) && v.ValueKind == JsonValueKind.String ? v.GetString()!
        : throw new DeltaException(DeltaErrorCode.Corrupt, $"{source}: required field '{name}' is missing or not a string.");

    private static long RequiredLong(JsonElement e, string name, string source) =>
        e.TryGetProperty(name, out var v) && v.ValueKind == JsonValueKind.Number && v.TryGetInt64(out long n) ? n
        : throw new DeltaException(DeltaErrorCode.Corrupt, $"{source}: required field '{name}' is missing or not an integer.");

    private static string? OptionalString(JsonElement e, string name) =>
        e.TryGetProperty(name, out var v) && v.ValueKind == JsonValueKind.String ? v.GetString() : null;

    private static long? OptionalLong(JsonElement e, string name) =>
        e.TryGetProperty(name, out var v) && v.ValueKind == JsonValueKind.Number && v.TryGetInt64(out long n) ? n : null;

    private static Dictionary<string, string?> StringMap(JsonElement e, string name)
    {
        var map = new Dictionary<string, string?>(StringComparer.Ordinal);
        if (e.TryGetProperty(name, out var v) && v.ValueKind == JsonValueKind.Object)
        {
            foreach (var p in v.EnumerateObject()) map[p.Name] = p.Value.ValueKind == JsonValueKind.Null ? null : p.Value.ValueKind == JsonValueKind.String ? p.Value.GetString() : p.Value.GetRawText();
        }
        return map;
    }

    private static List<string>? StringList(JsonElement e, string name) =>
        e.TryGetProperty(name, out var v) && v.ValueKind == JsonValueKind.Array ? v.EnumerateArray().Select(x => x.GetString() ?? "").ToList() : null;
}
