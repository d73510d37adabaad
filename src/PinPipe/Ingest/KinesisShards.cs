using System.Buffers.Binary;
using System.Globalization;
using System.Security.Cryptography;
using System.Text;

namespace PinPipe.Ingest;

/// <summary>
/// How a stream maps onto the log: a stream is a topic named <c>streaming-…</c>, a shard is a partition.
/// As in Kinesis, a record's shard is the one whose hash key range holds the MD5 of its partition key
/// (a 128-bit big-endian number), the ranges splitting 0 … 2^128−1 evenly; sequence numbers have the shape of
/// Kinesis's (56 digits) and encode the stream, the partition and the offset, so they increase within a shard.
/// </summary>
internal static class KinesisShards
{
    /// <summary>The prefix that makes a topic a stream.</summary>
    public const string StreamPrefix = "streaming-";

    /// <summary>Kinesis's longest stream name.</summary>
    public const int MaxNameLength = 128;

    /// <summary>The account of the ARNs and messages (LocalStack's placeholder account).</summary>
    public const string Account = "000000000000";

    /// <summary>Kinesis's default retention, reported by DescribeStream (the log's <c>Log:RetentionTime</c> decides what is kept).</summary>
    public const int RetentionPeriodHours = 24;

    public static bool IsStream(string topic) => topic.StartsWith(StreamPrefix, StringComparison.Ordinal) && topic.Length > StreamPrefix.Length;

    public static string Arn(string stream) => $"arn:aws:kinesis:us-east-1:{Account}:stream/{stream}";

    public static string ShardId(int partition) => $"shardId-{partition.ToString("D12", CultureInfo.InvariantCulture)}";

    /// <summary>Digits of a sequence number, as Kinesis's own (e.g. <c>49590338271490256608559692538361571095921575989136588898</c>).</summary>
    public const int SequenceNumberLength = 56;

    /// <summary>
    /// A Kinesis-shaped sequence number, 56 decimal digits: <c>49</c>, the stream's tag (<see cref="StreamTag"/>, 29 digits),
    /// the partition (5 digits) and the offset (20 digits). Within a shard it increases with the offset; within the log
    /// it names one record of one stream.
    /// </summary>
    public static string SequenceNumber(UInt128 streamTag, int partition, long offset) => SequenceNumberWithPrefix(SequencePrefix(streamTag), partition, offset);

    /// <summary>The first 31 digits of a stream's sequence numbers: <c>49</c> and the stream's tag (<see cref="SequenceNumber(UInt128, int, long)"/>).</summary>
    public static string SequencePrefix(UInt128 streamTag) => string.Create(CultureInfo.InvariantCulture, $"49{streamTag:D29}");

    /// <summary>A sequence number from its stream's <see cref="SequencePrefix"/>: formats the tag once for a request's records.</summary>
    public static string SequenceNumberWithPrefix(string prefix, int partition, long offset) =>
        string.Create(CultureInfo.InvariantCulture, $"{prefix}{partition:D5}{offset:D20}");

    /// <inheritdoc cref="SequenceNumber(UInt128, int, long)"/>
    public static string SequenceNumber(string stream, int partition, long offset) => SequenceNumber(StreamTag(stream), partition, offset);

    /// <summary>The 96-bit tag of a stream in its sequence numbers: the first 12 bytes of the SHA-256 of its name (UTF-8), big-endian.</summary>
    public static UInt128 StreamTag(string stream)
    {
        Span<byte> hash = stackalloc byte[32];
        SHA256.HashData(Encoding.UTF8.GetBytes(stream), hash);
        Span<byte> tag = stackalloc byte[16];
        hash[..12].CopyTo(tag[4..]);
        return BinaryPrimitives.ReadUInt128BigEndian(tag);
    }

    /// <summary>
    /// The stream tag, partition and offset of a sequence number made by <see cref="SequenceNumber(UInt128, int, long)"/>;
    /// false for anything else (the 27-digit numbers of earlier versions included).
    /// </summary>
    public static bool TryParseSequenceNumber(string text, out UInt128 streamTag, out int partition, out long offset)
    {
        streamTag = 0;
        partition = 0;
        offset = 0;
        return text is { Length: SequenceNumberLength } && text.StartsWith("49", StringComparison.Ordinal)
            && UInt128.TryParse(text.AsSpan(2, 29), NumberStyles.None, CultureInfo.InvariantCulture, out streamTag)
            && int.TryParse(text.AsSpan(31, 5), NumberStyles.None, CultureInfo.InvariantCulture, out partition)
            && long.TryParse(text.AsSpan(36, 20), NumberStyles.None, CultureInfo.InvariantCulture, out offset);
    }

    /// <summary>The partition and offset of a sequence number of <paramref name="stream"/>; false for any other text, another stream's included.</summary>
    public static bool TryParseSequenceNumber(string text, string stream, out int partition, out long offset) =>
        TryParseSequenceNumber(text, out var tag, out partition, out offset) && tag == StreamTag(stream);

    /// <summary>floor(2^128 / shards): the size of every shard's range but the last (which takes the rest).</summary>
    private static UInt128 Width(int shards)
    {
        if (shards == 1) return UInt128.MaxValue;
        var q = UInt128.DivRem(UInt128.MaxValue, (UInt128)shards);
        return q.Item2 + 1 == (UInt128)shards ? q.Item1 + 1 : q.Item1;
    }

    /// <summary>The first and last hash key of a shard among <paramref name="shards"/>.</summary>
    public static (UInt128 Start, UInt128 End) HashKeyRange(int shard, int shards)
    {
        var width = Width(shards);
        var start = width * (UInt128)shard;
        return (start, shard == shards - 1 ? UInt128.MaxValue : start + width - 1);
    }

    /// <summary>The shard whose range holds <paramref name="hashKey"/>.</summary>
    public static int ShardOf(UInt128 hashKey, int shards) => shards == 1 ? 0 : (int)UInt128.Min(hashKey / Width(shards), (UInt128)(shards - 1));

    /// <summary>The 128-bit hash key of a partition key: its UTF-8 MD5, big-endian.</summary>
    public static UInt128 HashKey(string partitionKey) => HashKey(Encoding.UTF8.GetBytes(partitionKey));

    /// <summary>The 128-bit hash key of a partition key given in UTF-8: its MD5, big-endian.</summary>
    public static UInt128 HashKey(ReadOnlySpan<byte> partitionKeyUtf8)
    {
        Span<byte> hash = stackalloc byte[16];
#pragma warning disable CA5351 // Kinesis defines the shard of a key by its MD5; no security rests on it.
        MD5.HashData(partitionKeyUtf8, hash);
#pragma warning restore CA5351
        return BinaryPrimitives.ReadUInt128BigEndian(hash);
    }
}
