using System.Buffers.Binary;

namespace PinPipe.Log.Sqlite;

/// <summary>
/// The binary encoding of a batch's records (the <c>payload</c> column). Version 1: one byte <c>1</c>, then per
/// record: timestamp (int64 LE, ms since the Unix epoch), key length (int32 LE, -1 for null), key bytes,
/// value length (int32 LE, -1 for null), value bytes. Offsets are not stored: record i of a batch has
/// <c>base_offset + i</c>.
/// </summary>
internal static class BatchCodec
{
    public const byte Version1 = 1;
    private const int RecordOverhead = 8 + 4 + 4;

    /// <summary>The encoded size of one record.</summary>
    public static int RecordSize(in LogRecord record) =>
        RecordOverhead + (record.Key?.Length ?? 0) + (record.Value?.Length ?? 0);

    /// <summary>Some records of one append: those picked by <see cref="Indexes"/>, or all when it is null.</summary>
    public readonly record struct Segment(IReadOnlyList<LogRecord> Records, List<int>? Indexes)
    {
        public int Count => Indexes?.Count ?? Records.Count;
        public LogRecord this[int i] => Records[Indexes is null ? i : Indexes[i]];
    }

    /// <summary>Encodes the segments' records, in order, into one batch payload.</summary>
    public static byte[] Encode(List<Segment> segments, long defaultTimestampMs, out int count, out long maxTimestampMs)
    {
        var size = 1;
        count = 0;
        foreach (var segment in segments)
        {
            for (var i = 0; i < segment.Count; i++) size += RecordSize(segment[i]);
            count += segment.Count;
        }

        var buffer = new byte[size];
        buffer[0] = Version1;
        var span = buffer.AsSpan(1);
        maxTimestampMs = long.MinValue;
        foreach (var segment in segments)
        {
            for (var i = 0; i < segment.Count; i++)
            {
                var r = segment[i];
                var ts = r.TimestampMs ?? defaultTimestampMs;
                if (ts > maxTimestampMs) maxTimestampMs = ts;
                BinaryPrimitives.WriteInt64LittleEndian(span, ts);
                span = WriteBytes(span[8..], r.Key);
                span = WriteBytes(span, r.Value);
            }
        }

        return buffer;
    }

    private static Span<byte> WriteBytes(Span<byte> span, ReadOnlyMemory<byte>? bytes)
    {
        if (bytes is not { } b)
        {
            BinaryPrimitives.WriteInt32LittleEndian(span, -1);
            return span[4..];
        }

        BinaryPrimitives.WriteInt32LittleEndian(span, b.Length);
        b.Span.CopyTo(span[4..]);
        return span[(4 + b.Length)..];
    }

    /// <summary>
    /// Decodes the records of a batch starting at <paramref name="baseOffset"/>, adding to <paramref name="into"/> those
    /// at or after <paramref name="fromOffset"/>, at most <paramref name="max"/>; returns how many it added.
    /// </summary>
    /// <exception cref="InvalidDataException">The payload is of an unknown version or truncated.</exception>
    public static int Decode<T>(ReadOnlySpan<byte> payload, string topic, int partition, long baseOffset, long fromOffset, int max, T into)
        where T : IRecordTarget
    {
        if (payload.Length == 0 || payload[0] != Version1)
            throw new InvalidDataException($"Batch at offset {baseOffset} of {topic}/{partition} has unknown format version {(payload.Length == 0 ? "(empty)" : payload[0])}; this PinPipe reads version {Version1}.");
        var pos = 1;
        var offset = baseOffset;
        var added = 0;
        while (pos < payload.Length && added < max)
        {
            var ts = BinaryPrimitives.ReadInt64LittleEndian(Slice(payload, pos, 8, baseOffset));
            pos += 8;
            var keyLength = BinaryPrimitives.ReadInt32LittleEndian(Slice(payload, pos, 4, baseOffset));
            pos += 4;
            var keyStart = pos;
            if (keyLength > 0) pos += keyLength;
            var valueLength = BinaryPrimitives.ReadInt32LittleEndian(Slice(payload, pos, 4, baseOffset));
            pos += 4;
            var valueStart = pos;
            if (valueLength > 0) pos += valueLength;
            if (pos > payload.Length)
                throw new InvalidDataException($"Batch at offset {baseOffset} of {topic}/{partition} is truncated.");
            if (offset >= fromOffset)
            {
                into.Add(offset, ts, payload.Slice(keyStart, Math.Max(0, keyLength)), keyLength < 0, payload.Slice(valueStart, Math.Max(0, valueLength)), valueLength < 0);
                added++;
            }

            offset++;
        }
        return added;
    }

    private static ReadOnlySpan<byte> Slice(ReadOnlySpan<byte> payload, int pos, int length, long baseOffset) =>
        pos + length <= payload.Length
            ? payload.Slice(pos, length)
            : throw new InvalidDataException($"Batch at offset {baseOffset} is truncated.");
}

/// <summary>Where <see cref="BatchCodec.Decode"/> puts the records it decodes (a struct, so the call is not virtual).</summary>
internal interface IRecordTarget
{
    /// <summary>Takes one record; the spans are valid only during the call.</summary>
    void Add(long offset, long timestampMs, ReadOnlySpan<byte> key, bool keyIsNull, ReadOnlySpan<byte> value, bool valueIsNull);
}

/// <summary>Records as <see cref="ConsumedRecord"/>s, each with arrays of its own (<see cref="ILog.ReadAsync"/>).</summary>
internal readonly struct ListTarget(List<ConsumedRecord> list, string topic, int partition) : IRecordTarget
{
    public void Add(long offset, long timestampMs, ReadOnlySpan<byte> key, bool keyIsNull, ReadOnlySpan<byte> value, bool valueIsNull) =>
        list.Add(new ConsumedRecord(topic, partition, offset, timestampMs, keyIsNull ? null : key.ToArray(), valueIsNull ? null : value.ToArray()));
}

/// <summary>Records copied into a reused <see cref="RecordBuffer"/> (<see cref="ILog.ReadIntoAsync"/>).</summary>
internal readonly struct BufferTarget(RecordBuffer buffer) : IRecordTarget
{
    public void Add(long offset, long timestampMs, ReadOnlySpan<byte> key, bool keyIsNull, ReadOnlySpan<byte> value, bool valueIsNull) =>
        buffer.Add(offset, timestampMs, key, keyIsNull, value, valueIsNull);
}
