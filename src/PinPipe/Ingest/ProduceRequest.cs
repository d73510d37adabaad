using System.Buffers;
using System.Buffers.Text;
using System.Diagnostics.CodeAnalysis;
using System.Text.Json;
using PinPipe.Lake;
using PinPipe.Log;

namespace PinPipe.Ingest;

/// <summary>How a produce request embeds keys and values (the REST Proxy's embedded formats).</summary>
public enum EmbeddedFormat
{
    /// <summary><c>application/vnd.kafka.json.v2+json</c> or <c>application/json</c>: values are JSON, stored as their JSON text.</summary>
    Json,
    /// <summary><c>application/vnd.kafka.binary.v2+json</c>: values are base64 strings, stored decoded.</summary>
    Binary,
}

/// <summary>
/// Parses the REST Proxy v2 produce envelope <c>{"records":[{"key":…,"value":…,"partition":n}]}</c>
/// into log records without copying JSON values: a value's bytes are the slice of the body that holds
/// it (re-serialized compactly only when it spans lines, so that a value is always one line in the sink).
/// </summary>
public static class ProduceRequest
{
    private static readonly JsonReaderOptions ReaderOptions = new() { MaxDepth = 64, CommentHandling = JsonCommentHandling.Disallow };

    /// <summary>Parses <paramref name="body"/>; throws <see cref="RestError"/> naming what is wrong.</summary>
    /// <param name="pathPartition">The partition of the <c>/partitions/{p}</c> route, applied to records that name none.</param>
    [SuppressMessage("Design", "CA1002:Do not expose generic lists", Justification = "A fresh list the caller owns; the produce route hands it to the log as is (a hot path).")]
    public static List<LogRecord> Parse(ReadOnlyMemory<byte> body, EmbeddedFormat format, int maxRecords, int? pathPartition = null)
    {
        if (body.Span.Trim(" \t\r\n"u8).IsEmpty) throw RestError.MalformedJson("the body is empty.");
        var span = body.Span;
        var reader = new Utf8JsonReader(span, ReaderOptions);
        var records = new List<LogRecord>();
        bool sawRecords = false;
        try
        {
            if (!reader.Read()) throw RestError.MalformedJson("the body is empty.");
            if (reader.TokenType != JsonTokenType.StartObject)
                throw RestError.InvalidPayload("the body must be a JSON object {\"records\": [...]}.");
            while (reader.Read() && reader.TokenType == JsonTokenType.PropertyName)
            {
                if (!reader.ValueTextEquals("records"u8))
                {
                    // key_schema, value_schema and the like: meaningful only to schema formats.
                    reader.Read();
                    reader.Skip();
                    continue;
                }
                if (sawRecords) throw RestError.InvalidPayload("\"records\" appears twice.");
                sawRecords = true;
                reader.Read();
                if (reader.TokenType != JsonTokenType.StartArray)
                    throw RestError.InvalidPayload("\"records\" must be an array of {\"value\": ...} objects.");
                while (reader.Read() && reader.TokenType != JsonTokenType.EndArray)
                {
                    int index = records.Count;
                    if (index >= maxRecords) throw RestError.TooManyRecords(CountRemaining(body, index), maxRecords);
                    records.Add(ParseRecord(ref reader, body, format, index, pathPartition));
                }
            }
            if (reader.TokenType != JsonTokenType.EndObject) throw RestError.MalformedJson("unexpected end of the body.");
            if (reader.Read()) throw RestError.MalformedJson("data after the end of the JSON object.");
        }
        catch (JsonException ex)
        {
            throw RestError.MalformedJson(ex, span);
        }
        if (!sawRecords) throw RestError.InvalidPayload("the body has no \"records\" field.");
        if (records.Count == 0) throw RestError.InvalidPayload("\"records\" may not be empty.");
        return records;
    }

    private static LogRecord ParseRecord(ref Utf8JsonReader reader, ReadOnlyMemory<byte> body, EmbeddedFormat format, int index, int? pathPartition)
    {
        if (reader.TokenType != JsonTokenType.StartObject)
            throw RestError.InvalidPayload($"records[{index}] must be an object like {{\"value\": ...}}.");
        ReadOnlyMemory<byte>? key = null, value = null;
        int? partition = pathPartition;
        while (reader.Read() && reader.TokenType == JsonTokenType.PropertyName)
        {
            if (reader.ValueTextEquals("value"u8))
            {
                reader.Read();
                value = ReadEmbedded(ref reader, body, format, index, "value");
            }
            else if (reader.ValueTextEquals("key"u8))
            {
                reader.Read();
                key = ReadEmbedded(ref reader, body, format, index, "key");
            }
            else if (reader.ValueTextEquals("partition"u8))
            {
                reader.Read();
                if (reader.TokenType == JsonTokenType.Null) continue;
                if (reader.TokenType != JsonTokenType.Number || !reader.TryGetInt32(out int p) || p < 0)
                    throw RestError.InvalidPayload($"records[{index}].partition must be a non-negative integer.");
                partition = p;
            }
            else
            {
                reader.Read();
                reader.Skip();
            }
        }
        return new LogRecord(key, value, partition);
    }

    private static ReadOnlyMemory<byte>? ReadEmbedded(ref Utf8JsonReader reader, ReadOnlyMemory<byte> body, EmbeddedFormat format, int index, string field)
    {
        if (reader.TokenType == JsonTokenType.Null) return null;
        if (format == EmbeddedFormat.Binary)
        {
            if (reader.TokenType != JsonTokenType.String) throw RestError.BadBase64(index);
            var encoded = reader.HasValueSequence ? reader.ValueSequence.ToArray() : reader.ValueSpan.ToArray();
            var decoded = new byte[Base64.GetMaxDecodedFromUtf8Length(encoded.Length)];
            if (Base64.DecodeFromUtf8(encoded, decoded, out _, out int written) != OperationStatus.Done) throw RestError.BadBase64(index);
            return decoded.AsMemory(0, written);
        }
        int start = checked((int)reader.TokenStartIndex);
        if (reader.TokenType is JsonTokenType.StartObject or JsonTokenType.StartArray) reader.Skip();
        int end = checked((int)reader.BytesConsumed);
        var slice = body[start..end];
        // The reader does not check the UTF-8 inside strings; a JSON value must be UTF-8 (RFC 8259): refused, nothing written.
        if (RecordLine.InvalidUtf8At(slice.Span) is int bad and >= 0) throw RestError.InvalidUtf8(index, field, bad);
        // A value spanning lines is stored compact (as the Kinesis routes store theirs), so the sink writes it as it is.
        return slice.Span.IndexOfAny((byte)'\n', (byte)'\r') < 0 ? slice : RecordLine.Compact(slice);
    }

    private static int CountRemaining(ReadOnlyMemory<byte> body, int seen)
    {
        // Only for the error message: how many records the request held.
        try
        {
            using var doc = JsonDocument.Parse(body);
            return doc.RootElement.GetProperty("records").GetArrayLength();
        }
        catch (Exception ex) when (ex is JsonException or KeyNotFoundException or InvalidOperationException)
        {
            return seen + 1;
        }
    }
}
