using System.Text.Json;

namespace PinPipe.Lake.Delta;

/// <summary>The table's <c>protocol</c> action: the reader and writer versions (and features) a client needs.</summary>
public sealed record DeltaProtocol(int MinReaderVersion, int MinWriterVersion, IReadOnlyList<string>? ReaderFeatures = null, IReadOnlyList<string>? WriterFeatures = null)
{
    /// <summary>The protocol of a simple table: reader 1, writer 2 (what PinPipe writes).</summary>
    public static DeltaProtocol Simple { get; } = new(1, 2);

    public bool Equals(DeltaProtocol? other) =>
        other is not null && MinReaderVersion == other.MinReaderVersion && MinWriterVersion == other.MinWriterVersion
        && (ReaderFeatures ?? []).SequenceEqual(other.ReaderFeatures ?? []) && (WriterFeatures ?? []).SequenceEqual(other.WriterFeatures ?? []);

    public override int GetHashCode() => HashCode.Combine(MinReaderVersion, MinWriterVersion);
}

/// <summary>The table's <c>metaData</c> action: id, schema, partition columns and configuration.</summary>
public sealed record DeltaMetadata(
    string Id,
    DeltaSchema Schema,
    IReadOnlyList<string> PartitionColumns,
    IReadOnlyDictionary<string, string> Configuration,
    long? CreatedTime = null,
    string? Name = null,
    string? Description = null)
{
    /// <summary>The data file format's provider (always <c>parquet</c>) and options.</summary>
    internal string FormatJson { get; init; } = """{"provider":"parquet","options":{}}""";

    /// <summary>The configuration value for <paramref name="key"/>, or null.</summary>
    public string? Get(string key) => Configuration.TryGetValue(key, out var v) ? v : null;

    public bool Equals(DeltaMetadata? other) =>
        other is not null && Id == other.Id && Schema.Equals(other.Schema) && PartitionColumns.SequenceEqual(other.PartitionColumns)
        && Configuration.Count == other.Configuration.Count
        && Configuration.All(kv => other.Configuration.TryGetValue(kv.Key, out var v) && v == kv.Value)
        && FormatJson == other.FormatJson;

    public override int GetHashCode() => HashCode.Combine(Id, Schema);
}

/// <summary>A live data file of a snapshot (an <c>add</c> action).</summary>
/// <param name="Path">The file's path relative to the table's root, percent-decoded (its object key is <c>prefix/Path</c>).</param>
/// <param name="PartitionValues">Partition column → value as written in the log (null: the null partition).</param>
/// <param name="Size">Bytes.</param>
/// <param name="ModificationTime">Epoch milliseconds.</param>
/// <param name="Stats">The <c>stats</c> JSON (numRecords, minValues, maxValues, nullCount), or null.</param>
public sealed record DeltaFile(string Path, IReadOnlyDictionary<string, string?> PartitionValues, long Size, long ModificationTime, string? Stats)
{
    /// <summary>The path exactly as in the log (a URI, percent-encoded).</summary>
    internal string RawPath { get; init; } = Path;

    internal bool DataChange { get; init; } = true;

    /// <summary>The add's <c>tags</c> object as JSON text, or null.</summary>
    internal string? TagsJson { get; init; }

    /// <summary><c>numRecords</c> from <see cref="Stats"/>, or null when there are no stats.</summary>
    public long? NumRecords
    {
        get
        {
            if (Stats is null) return null;
            try
            {
                using var doc = JsonDocument.Parse(Stats);
                return doc.RootElement.TryGetProperty("numRecords", out var n) && n.TryGetInt64(out long v) ? v : null;
            }
            catch (JsonException) { return null; }
        }
    }

    /// <summary>
    /// The minimum and maximum of the integer column <paramref name="column"/> (a top-level column) from <see cref="Stats"/>;
    /// false when the file has no stats for it (a reader must then assume any value may be in the file).
    /// </summary>
    public bool TryGetRange(string column, out long min, out long max)
    {
        min = max = 0;
        if (Stats is null) return false;
        try
        {
            using var doc = JsonDocument.Parse(Stats);
            var root = doc.RootElement;
            return root.TryGetProperty("minValues", out var mins) && mins.ValueKind == JsonValueKind.Object
                && mins.TryGetProperty(column, out var lo) && lo.ValueKind == JsonValueKind.Number && lo.TryGetInt64(out min)
                && root.TryGetProperty("maxValues", out var maxes) && maxes.ValueKind == JsonValueKind.Object
                && maxes.TryGetProperty(column, out var hi) && hi.ValueKind == JsonValueKind.Number && hi.TryGetInt64(out max);
        }
        catch (JsonException) { return false; }
    }
}

/// <summary>A <c>remove</c> action kept as a tombstone (only VACUUM uses it; checkpoints keep unexpired ones).</summary>
internal sealed record DeltaRemove(string RawPath, string Path, long? DeletionTimestamp, bool DataChange, bool? ExtendedFileMetadata,
    IReadOnlyDictionary<string, string?>? PartitionValues, long? Size)
{
    /// <summary>The version of the commit (or checkpoint) the tombstone was read from; -1 when not read from the log.</summary>
    internal long CommitVersion { get; init; } = -1;
}

/// <summary>A <c>txn</c> action: the latest version an application committed.</summary>
internal sealed record DeltaTxnAction(string AppId, long Version, long? LastUpdated);
