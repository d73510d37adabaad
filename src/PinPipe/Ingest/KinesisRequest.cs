using System.Text;
using System.Text.Json;
using PinPipe.Lake;

namespace PinPipe.Ingest;

/// <summary>One record of a PutRecord or PutRecords body: the bytes to store, its key (UTF-8) and the explicit hash key the request gave, if any.</summary>
internal readonly record struct KinesisEntry(ReadOnlyMemory<byte> Data, byte[] Key, UInt128? ExplicitHashKey)
{
    /// <summary>What Kinesis counts against the 1 MiB record limit: data plus partition key.</summary>
    public long Size => Data.Length + Key.Length;

    /// <summary>Where the record hashes: its explicit hash key, or the MD5 of its partition key (computed at each call).</summary>
    public UInt128 HashKey => ExplicitHashKey ?? KinesisShards.HashKey(Key);

    /// <summary>
    /// The record's shard among <paramref name="shards"/>: the one whose range holds <see cref="HashKey"/>; a stream of one
    /// shard takes every record without hashing its key (an MD5 a record was a tenth of the API's CPU at 100,000 records/s).
    /// </summary>
    public int ShardOf(int shards) => shards == 1 ? 0 : KinesisShards.ShardOf(HashKey, shards);
}

/// <summary>
/// Parses the bodies of the Kinesis proxy routes (interop §4) without copying JSON values, and enforces
/// Kinesis's limits, throwing <see cref="KinesisError"/> naming what is wrong. What is stored for a record:
/// PutRecord stores the JSON text of <c>Data</c> (API Gateway's <c>$input.json('$.Data')</c>, so a string
/// keeps its quotes); PutRecords stores <c>data</c> as <c>$elem.data</c> gives it: the JSON text of an
/// object, array, number or literal, the bare text of a string. JSON text is stored compact (insignificant
/// whitespace removed, everything else byte for byte), so that a record is one line.
/// </summary>
internal static class KinesisRequest
{
    /// <summary>Most records in one PutRecords.</summary>
    public const int MaxRecords = 500;

    /// <summary>Largest record: data plus partition key, 1 MiB.</summary>
    public const int MaxRecordBytes = 1024 * 1024;

    /// <summary>Largest PutRecords: the records' data plus partition keys, 5 MiB.</summary>
    public const int MaxRequestBytes = 5 * 1024 * 1024;

    /// <summary>Longest partition key, in Unicode characters.</summary>
    public const int MaxPartitionKeyLength = 256;

    private const string PutRecordShape = "{\"Data\": ..., \"PartitionKey\": \"...\"}";
    private const string PutRecordsShape = "{\"records\": [{\"data\": ..., \"partition-key\": \"...\"}]}";
    private static readonly JsonReaderOptions ReaderOptions = new() { MaxDepth = 64, CommentHandling = JsonCommentHandling.Disallow };

    /// <summary>A PutRecord body, original emulator's or Amazon tutorial's shape; a <c>StreamName</c> in it must be <paramref name="stream"/>.</summary>
    public static KinesisEntry ParsePutRecord(ReadOnlyMemory<byte> body, string stream)
    {
        var reader = Start(body, PutRecordShape);
        ReadOnlyMemory<byte>? data = null;
        string? key = null, named = null;
        UInt128? explicitHash = null;
        try
        {
            while (reader.Read() && reader.TokenType == JsonTokenType.PropertyName)
            {
                if (reader.ValueTextEquals("Data"u8))
                {
                    if (data is not null) throw KinesisError.Validation("\"Data\" appears twice.");
                    reader.Read();
                    data = ReadData(ref reader, body, keepQuotes: true, "Data");
                }
                else if (reader.ValueTextEquals("PartitionKey"u8))
                {
                    if (key is not null) throw KinesisError.Validation("\"PartitionKey\" appears twice.");
                    reader.Read();
                    key = ReadPartitionKey(ref reader, "PartitionKey");
                }
                else if (reader.ValueTextEquals("StreamName"u8))
                {
                    reader.Read();
                    if (reader.TokenType != JsonTokenType.String) throw KinesisError.Validation("\"StreamName\" must be a string.");
                    named = ReadString(ref reader, "StreamName");
                }
                else if (reader.ValueTextEquals("ExplicitHashKey"u8))
                {
                    reader.Read();
                    explicitHash = ReadExplicitHashKey(ref reader, "ExplicitHashKey");
                }
                else
                {
                    reader.Read();
                    reader.Skip();
                }
            }
            End(ref reader);
        }
        catch (JsonException ex)
        {
            throw KinesisError.MalformedJson(ex, body.Span);
        }
        if (named is not null && !string.Equals(named, stream, StringComparison.Ordinal))
            throw KinesisError.InvalidArgument($"The body's StreamName '{named}' does not match the stream of the path, '{stream}'.");
        if (data is not { } d) throw KinesisError.Validation($"The body has no \"Data\" field; PutRecord takes {PutRecordShape}.");
        if (key is null) throw KinesisError.Validation($"The body has no \"PartitionKey\" field; PutRecord takes {PutRecordShape}.");
        var entry = new KinesisEntry(d, Encoding.UTF8.GetBytes(key), explicitHash);
        if (entry.Size > MaxRecordBytes)
            throw KinesisError.Validation($"The record's data and partition key are {entry.Size} bytes; the limit is {MaxRecordBytes} bytes (1 MiB).");
        return entry;
    }

    /// <summary>A PutRecords body: 1 to 500 records of at most 1 MiB each, 5 MiB together.</summary>
    public static List<KinesisEntry> ParsePutRecords(ReadOnlyMemory<byte> body)
    {
        var reader = Start(body, PutRecordsShape);
        var entries = new List<KinesisEntry>();
        bool sawRecords = false, sawOtherCase = false;
        long total = 0;
        try
        {
            while (reader.Read() && reader.TokenType == JsonTokenType.PropertyName)
            {
                if (!reader.ValueTextEquals("records"u8))
                {
                    sawOtherCase |= reader.ValueTextEquals("Records"u8);
                    reader.Read();
                    reader.Skip();
                    continue;
                }
                if (sawRecords) throw KinesisError.Validation("\"records\" appears twice.");
                sawRecords = true;
                reader.Read();
                if (reader.TokenType != JsonTokenType.StartArray)
                    throw KinesisError.Validation($"\"records\" must be an array; PutRecords takes {PutRecordsShape}.");
                while (reader.Read() && reader.TokenType != JsonTokenType.EndArray)
                {
                    int index = entries.Count;
                    if (index >= MaxRecords)
                        throw KinesisError.Validation($"\"records\" has more than {MaxRecords} entries; PutRecords takes 1 to {MaxRecords} records.");
                    var entry = ParseEntry(ref reader, body, index);
                    if (entry.Size > MaxRecordBytes)
                        throw KinesisError.Validation($"records[{index}]: data and partition key are {entry.Size} bytes; the limit is {MaxRecordBytes} bytes (1 MiB).");
                    total += entry.Size;
                    if (total > MaxRequestBytes)
                        throw KinesisError.Validation($"The records' data and partition keys pass {MaxRequestBytes} bytes (5 MiB) at records[{index}]; that is the limit of one PutRecords.");
                    entries.Add(entry);
                }
            }
            End(ref reader);
        }
        catch (JsonException ex)
        {
            throw KinesisError.MalformedJson(ex, body.Span);
        }
        if (!sawRecords)
            throw KinesisError.Validation(sawOtherCase
                ? $"The body has \"Records\" but no \"records\": the proxy's keys are lower-case, {PutRecordsShape}."
                : $"The body has no \"records\" field; PutRecords takes {PutRecordsShape}.");
        if (entries.Count == 0) throw KinesisError.Validation($"\"records\" is empty; PutRecords takes 1 to {MaxRecords} records.");
        return entries;
    }

    /// <summary>The <c>ShardCount</c> of a CreateStream body, or null when the body is empty or names none.</summary>
    public static int? ParseShardCount(ReadOnlyMemory<byte> body, int maxShards)
    {
        if (body.Span.Trim(" \t\r\n"u8).IsEmpty) return null;
        var reader = Start(body, "{\"ShardCount\": n}");
        int? count = null;
        try
        {
            while (reader.Read() && reader.TokenType == JsonTokenType.PropertyName)
            {
                bool isCount = reader.ValueTextEquals("ShardCount"u8);
                reader.Read();
                if (!isCount)
                {
                    reader.Skip();
                    continue;
                }
                if (reader.TokenType == JsonTokenType.Null) continue;
                if (reader.TokenType != JsonTokenType.Number || !reader.TryGetInt32(out int n) || n < 1 || n > maxShards)
                    throw KinesisError.InvalidArgument($"ShardCount must be a whole number from 1 to {maxShards}.");
                count = n;
            }
            End(ref reader);
        }
        catch (JsonException ex)
        {
            throw KinesisError.MalformedJson(ex, body.Span);
        }
        return count;
    }

    private static KinesisEntry ParseEntry(ref Utf8JsonReader reader, ReadOnlyMemory<byte> body, int index)
    {
        if (reader.TokenType != JsonTokenType.StartObject)
            throw KinesisError.Validation($"records[{index}] must be an object like {{\"data\": ..., \"partition-key\": \"...\"}}.");
        ReadOnlyMemory<byte>? data = null;
        string? key = null;
        UInt128? explicitHash = null;
        while (reader.Read() && reader.TokenType == JsonTokenType.PropertyName)
        {
            if (reader.ValueTextEquals("data"u8))
            {
                reader.Read();
                data = ReadData(ref reader, body, keepQuotes: false, $"records[{index}].data");
            }
            else if (reader.ValueTextEquals("partition-key"u8))
            {
                reader.Read();
                key = ReadPartitionKey(ref reader, $"records[{index}].partition-key");
            }
            else if (reader.ValueTextEquals("explicit-hash-key"u8))
            {
                reader.Read();
                explicitHash = ReadExplicitHashKey(ref reader, $"records[{index}].explicit-hash-key");
            }
            else
            {
                reader.Read();
                reader.Skip();
            }
        }
        if (data is not { } d) throw KinesisError.Validation($"records[{index}] has no \"data\".");
        if (key is null) throw KinesisError.Validation($"records[{index}] has no \"partition-key\".");
        return new KinesisEntry(d, Encoding.UTF8.GetBytes(key), explicitHash);
    }

    private static Utf8JsonReader Start(ReadOnlyMemory<byte> body, string shape)
    {
        if (body.Span.Trim(" \t\r\n"u8).IsEmpty) throw KinesisError.Serialization($"the body is empty; it must be {shape}.");
        var reader = new Utf8JsonReader(body.Span, ReaderOptions);
        try
        {
            reader.Read();
        }
        catch (JsonException ex)
        {
            throw KinesisError.MalformedJson(ex, body.Span);
        }
        if (reader.TokenType != JsonTokenType.StartObject) throw KinesisError.Validation($"The body must be a JSON object {shape}.");
        return reader;
    }

    private static void End(ref Utf8JsonReader reader)
    {
        if (reader.TokenType != JsonTokenType.EndObject) throw KinesisError.Serialization("unexpected end of the body.");
        if (reader.Read()) throw KinesisError.Serialization("data after the end of the JSON object.");
    }

    private static ReadOnlyMemory<byte> ReadData(ref Utf8JsonReader reader, ReadOnlyMemory<byte> body, bool keepQuotes, string what)
    {
        if (reader.TokenType == JsonTokenType.Null) throw KinesisError.Validation($"{what} must not be null.");
        int start = checked((int)reader.TokenStartIndex);
        if (reader.TokenType is JsonTokenType.StartObject or JsonTokenType.StartArray) reader.Skip();
        var text = body[start..checked((int)reader.BytesConsumed)];
        // The reader does not check the UTF-8 inside strings: JSON text must be UTF-8 (RFC 8259), and the stored
        // text is cleaned as such, so a value with invalid bytes is refused (nothing written).
        if (RecordLine.InvalidUtf8At(text.Span) is int bad and >= 0)
            throw KinesisError.Serialization($"{what} is not valid UTF-8 JSON (an invalid UTF-8 sequence at byte {bad} of the value).");
        if (reader.TokenType == JsonTokenType.String && !keepQuotes)
        {
            try
            {
                return reader.ValueIsEscaped
                    ? Encoding.UTF8.GetBytes(reader.GetString()!)
                    : body.Slice(start + 1, reader.ValueSpan.Length);
            }
            catch (InvalidOperationException)
            {
                // An escaped lone surrogate (\ud800) has no UTF-8 form.
                throw KinesisError.Serialization($"{what} is a string with an escaped lone surrogate (a \\uD800-\\uDFFF escape without its pair), which has no UTF-8 form.");
            }
        }
        return RecordLine.Compact(text);
    }

    /// <summary>
    /// The string at the reader. The reader does not check the UTF-8 inside strings, and a string that is not valid UTF-8
    /// (or holds an escaped lone surrogate) has no .NET form: refused as not JSON text (400), not a server failure.
    /// </summary>
    private static string ReadString(ref Utf8JsonReader reader, string what)
    {
        try
        {
            return reader.GetString()!;
        }
        catch (InvalidOperationException)
        {
            throw KinesisError.Serialization($"{what} is not valid UTF-8 JSON text (an invalid UTF-8 sequence, or an escaped lone surrogate without its pair); nothing was written.");
        }
    }

    private static string ReadPartitionKey(ref Utf8JsonReader reader, string what)
    {
        var key = reader.TokenType == JsonTokenType.String ? ReadString(ref reader, what) : null;
        int length = 0;
        if (key is not null) foreach (var _ in key.EnumerateRunes()) length++;
        if (key is null || length is < 1 or > MaxPartitionKeyLength)
            throw KinesisError.Validation($"{what} must be a string of 1 to {MaxPartitionKeyLength} characters{(key is null ? "" : $" (it has {length})")}.");
        return key;
    }

    private static UInt128? ReadExplicitHashKey(ref Utf8JsonReader reader, string what)
    {
        if (reader.TokenType == JsonTokenType.Null) return null;
        if (reader.TokenType == JsonTokenType.String
            && UInt128.TryParse(ReadString(ref reader, what), System.Globalization.NumberStyles.None, System.Globalization.CultureInfo.InvariantCulture, out var hash))
            return hash;
        throw KinesisError.InvalidArgument($"{what} must be a decimal string from 0 to 2^128 - 1.");
    }
}
