using System.Text.Json;

namespace PinPipe.Lake.Delta;

/// <summary>Writes actions as the one-key JSON objects of commit files and checkpoint rows.</summary>
internal static class DeltaActionJson
{
    internal static void WriteProtocol(Utf8JsonWriter w, DeltaProtocol p)
    {
        w.WriteStartObject();
        w.WriteStartObject("protocol");
        w.WriteNumber("minReaderVersion", p.MinReaderVersion);
        w.WriteNumber("minWriterVersion", p.MinWriterVersion);
        if (p.ReaderFeatures is not null) WriteStrings(w, "readerFeatures", p.ReaderFeatures);
        if (p.WriterFeatures is not null) WriteStrings(w, "writerFeatures", p.WriterFeatures);
        w.WriteEndObject();
        w.WriteEndObject();
    }

    internal static void WriteMetadata(Utf8JsonWriter w, DeltaMetadata m)
    {
        w.WriteStartObject();
        w.WriteStartObject("metaData");
        w.WriteString("id", m.Id);
        if (m.Name is not null) w.WriteString("name", m.Name);
        if (m.Description is not null) w.WriteString("description", m.Description);
        w.WritePropertyName("format");
        w.WriteRawValue(m.FormatJson);
        w.WriteString("schemaString", m.Schema.ToJson());
        WriteStrings(w, "partitionColumns", m.PartitionColumns);
        w.WriteStartObject("configuration");
        foreach (var kv in m.Configuration) w.WriteString(kv.Key, kv.Value);
        w.WriteEndObject();
        if (m.CreatedTime is { } created) w.WriteNumber("createdTime", created);
        w.WriteEndObject();
        w.WriteEndObject();
    }

    internal static void WriteTxn(Utf8JsonWriter w, DeltaTxnAction t)
    {
        w.WriteStartObject();
        w.WriteStartObject("txn");
        w.WriteString("appId", t.AppId);
        w.WriteNumber("version", t.Version);
        if (t.LastUpdated is { } lu) w.WriteNumber("lastUpdated", lu);
        w.WriteEndObject();
        w.WriteEndObject();
    }

    /// <summary>An <c>add</c>; <paramref name="dataChange"/> overrides the file's flag (checkpoints write false).</summary>
    internal static void WriteAdd(Utf8JsonWriter w, DeltaFile f, bool? dataChange = null)
    {
        w.WriteStartObject();
        w.WriteStartObject("add");
        w.WriteString("path", f.RawPath);
        WriteMap(w, "partitionValues", f.PartitionValues);
        w.WriteNumber("size", f.Size);
        w.WriteNumber("modificationTime", f.ModificationTime);
        w.WriteBoolean("dataChange", dataChange ?? f.DataChange);
        if (f.Stats is not null) w.WriteString("stats", f.Stats);
        if (f.TagsJson is not null)
        {
            w.WritePropertyName("tags");
            w.WriteRawValue(f.TagsJson);
        }
        w.WriteEndObject();
        w.WriteEndObject();
    }

    internal static void WriteRemove(Utf8JsonWriter w, DeltaRemove r, bool? dataChange = null)
    {
        w.WriteStartObject();
        w.WriteStartObject("remove");
        w.WriteString("path", r.RawPath);
        if (r.DeletionTimestamp is { } ts) w.WriteNumber("deletionTimestamp", ts);
        w.WriteBoolean("dataChange", dataChange ?? r.DataChange);
        if (r.ExtendedFileMetadata is { } ext) w.WriteBoolean("extendedFileMetadata", ext);
        if (r.PartitionValues is not null) WriteMap(w, "partitionValues", r.PartitionValues);
        if (r.Size is { } size) w.WriteNumber("size", size);
        w.WriteEndObject();
        w.WriteEndObject();
    }

    private static void WriteStrings(Utf8JsonWriter w, string name, IEnumerable<string> values)
    {
        w.WriteStartArray(name);
        foreach (string v in values) w.WriteStringValue(v);
        w.WriteEndArray();
    }

    private static void WriteMap(Utf8JsonWriter w, string name, IReadOnlyDictionary<string, string?> map)
    {
        w.WriteStartObject(name);
        foreach (var kv in map)
        {
            if (kv.Value is null) w.WriteNull(kv.Key);
            else w.WriteString(kv.Key, kv.Value);
        }
        w.WriteEndObject();
    }
}
