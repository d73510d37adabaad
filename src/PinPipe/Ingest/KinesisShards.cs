using System.Buffers.Binary;
using System.Globalization;
using System.Security.Cryptography;
using System.Text;

namespace PinPipe.Ingest;

/// <summary>
/// How a stream maps onto the log: a stream is a topic named <c>streaming-…</c>, a shard is a partition.
/// As in Kinesis, a record's shard is the one whose hash key range holds the MD5 of its partition key
/// (a 128-bit big-endian number), the ranges splitting 0 … 2^128−1 evenly; sequence numbers encode the
/// partition and the offset, so they increase within a shard and are unique within a stream.
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

    /// <summary><c>49</c>, the offset (20 digits), the partition (5 digits): 27 decimal digits.</summary>
    public static string SequenceNumber(int partition, long offset) =>
        string.Create(CultureInfo.InvariantCulture, $"49{offset:D20}{partition:D5}");

    /// <summary>The partition and offset of a sequence number made by <see cref="SequenceNumber"/>.</summary>
    public static bool TryParseSequenceNumber(string text, out int partition, out long offset)
    {
        partition = 0;
        offset = 0;
        return text.Length == 27 && text.StartsWith("49", StringComparison.Ordinal)
            && long.TryParse(text.AsSpan(2, 20), NumberStyles.None, CultureInfo.InvariantCulture, out offset)
            && int.TryParse(text.AsSpan(22, 5), NumberStyles.None, CultureInfo.InvariantCulture, out partition);
    }

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
    public static UInt128 HashKey(string partitionKey)
    {
        Span<byte> hash = stackalloc byte[16];
#pragma warning disable CA5351 // Kinesis defines the shard of a key by its MD5; no security rests on it.
        MD5.HashData(Encoding.UTF8.GetBytes(partitionKey), hash);
#pragma warning restore CA5351
        return BinaryPrimitives.ReadUInt128BigEndian(hash);
    }
}
