using System.Globalization;

namespace PinPipe.Log.Kinesis;

/// <summary>A shard's checkpoint as the Delta txns hold it: the last sequence number taken, and the generation of the commit that wrote it.</summary>
/// <param name="SequenceNumber">The last sequence number of the shard that the table holds (reading goes on AFTER_SEQUENCE_NUMBER it).</param>
/// <param name="Generation">Counts the commits that moved this shard's checkpoint (1 for the first); the next commit writes one more.</param>
public readonly record struct KinesisShardCheckpoint(string SequenceNumber, long Generation);

/// <summary>
/// A Kinesis checkpoint (the last sequence number per shard) as Delta <c>txn</c> actions, so that it is committed in the
/// same commit as the rows it stands for: exactly once, as with the log's offsets.
/// </summary>
/// <remarks>
/// <para>A txn is an (app id, version) pair whose version is a long and, for PinPipe's Delta writer, only ever goes up:
/// a write with a txn whose version the table already holds (or passed) counts as committed already and is dropped. A
/// sequence number is a decimal of up to 129 digits (56 usually), too large for one long, and splitting it into plain
/// chunks would make the lower chunks go down as the number grows.</para>
/// <para>So the number is zero-padded to a multiple of <see cref="DigitsPerChunk"/> (9) digits and cut into chunks, most
/// significant first; chunk <c>k</c> is the txn <c>pinpipe-kinesis:&lt;stream&gt;[@&lt;key&gt;]:&lt;shardId&gt;#&lt;k&gt;</c> with
/// version <c>generation × 10^9 + chunk</c>. Every commit that moves the shard's checkpoint writes all its chunks with
/// the next generation, so every version goes up, and a reader takes the chunks of the highest generation (those of an
/// older, longer number are left behind and ignored). A 56-digit number takes 7 txns; the generation may reach
/// <see cref="MaxGeneration"/> (9.2 billion commits). The optional key names the stream's incarnation (its creation
/// time), as the log's topic id does for <c>StreamCheckpoint</c>: a stream deleted and created again starts new txns.</para>
/// </remarks>
public static class KinesisCheckpoint
{
    /// <summary>The prefix of every Kinesis checkpoint txn.</summary>
    public const string Prefix = "pinpipe-kinesis:";

    /// <summary>Decimal digits per txn.</summary>
    public const int DigitsPerChunk = 9;

    private const long ChunkBase = 1_000_000_000;

    /// <summary>The longest sequence number Kinesis documents: 129 digits (<c>0|([1-9]\d{0,128})</c>).</summary>
    public const int MaxDigits = 129;

    /// <summary>The highest generation a version can carry.</summary>
    public const long MaxGeneration = long.MaxValue / ChunkBase - 1;

    /// <summary>
    /// The prefix of the txns that mark where a table's reading of a shard began when the job started at the stream's
    /// end (<c>--from latest</c>): the first sequence number it took, chunked as a checkpoint, generation 1. Written once,
    /// with the shard's first checkpoint; the shard's records before it were never meant for the table
    /// (<c>pinpipe verify</c> leaves them out).
    /// </summary>
    public const string StartPrefix = "pinpipe-kinesis-start:";

    /// <summary>The key of a stream's incarnation in its checkpoints' app ids: its creation time in Unix seconds.</summary>
    public static string KeyOf(KinesisStreamSummary summary)
    {
        ArgumentNullException.ThrowIfNull(summary);
        return summary.CreationTimestamp.ToUnixTimeSeconds().ToString(CultureInfo.InvariantCulture);
    }

    /// <summary>The key of another incarnation of <paramref name="stream"/> than <paramref name="key"/> among a table's txns, or null.</summary>
    public static string? ForeignKey(IReadOnlyDictionary<string, long> txns, string stream, string? key)
    {
        ArgumentNullException.ThrowIfNull(txns);
        string prefix = Prefix + stream + "@";
        foreach (string id in txns.Keys)
        {
            if (!id.StartsWith(prefix, StringComparison.Ordinal)) continue;
            int colon = id.IndexOf(':', prefix.Length);
            if (colon <= prefix.Length) continue;
            string found = id[prefix.Length..colon];
            if (found != key) return found;
        }
        return null;
    }

    /// <summary>The app id of chunk <paramref name="chunk"/> of a shard's checkpoint.</summary>
    public static string AppId(string stream, string? key, string shardId, int chunk) => AppId(Prefix, stream, key, shardId, chunk);

    private static string AppId(string prefix, string stream, string? key, string shardId, int chunk) =>
        string.Create(CultureInfo.InvariantCulture, $"{prefix}{stream}{(key is null ? "" : "@" + key)}:{shardId}#{chunk}");

    /// <summary>Whether <paramref name="text"/> is a Kinesis sequence number: <c>0</c>, or 1 to 129 digits without leading zero.</summary>
    public static bool IsSequenceNumber(string? text) =>
        text is { Length: > 0 and <= MaxDigits } && text.All(char.IsAsciiDigit) && (text.Length == 1 || text[0] != '0');

    /// <summary>The txns that record <paramref name="sequenceNumber"/> as the shard's checkpoint under <paramref name="generation"/>.</summary>
    /// <exception cref="ArgumentException">Not a sequence number, or a generation out of 1..<see cref="MaxGeneration"/>.</exception>
    public static IReadOnlyList<(string AppId, long Version)> Encode(string stream, string? key, string shardId, string sequenceNumber, long generation) =>
        Encode(Prefix, stream, key, shardId, sequenceNumber, generation);

    /// <summary>The txns that mark <paramref name="sequenceNumber"/> as the first record of the shard a table took (<see cref="StartPrefix"/>).</summary>
    /// <exception cref="ArgumentException">Not a sequence number.</exception>
    public static IReadOnlyList<(string AppId, long Version)> EncodeStart(string stream, string? key, string shardId, string sequenceNumber) =>
        Encode(StartPrefix, stream, key, shardId, sequenceNumber, 1);

    private static (string AppId, long Version)[] Encode(string prefix, string stream, string? key, string shardId, string sequenceNumber, long generation)
    {
        if (!IsSequenceNumber(sequenceNumber))
            throw new ArgumentException($"'{sequenceNumber}' is not a Kinesis sequence number (1 to {MaxDigits} digits).", nameof(sequenceNumber));
        ArgumentOutOfRangeException.ThrowIfLessThan(generation, 1);
        ArgumentOutOfRangeException.ThrowIfGreaterThan(generation, MaxGeneration);
        int chunks = (sequenceNumber.Length + DigitsPerChunk - 1) / DigitsPerChunk;
        string padded = sequenceNumber.PadLeft(chunks * DigitsPerChunk, '0');
        var txns = new (string, long)[chunks];
        for (int k = 0; k < chunks; k++)
            txns[k] = (AppId(prefix, stream, key, shardId, k), generation * ChunkBase + long.Parse(padded.AsSpan(k * DigitsPerChunk, DigitsPerChunk), NumberStyles.None, CultureInfo.InvariantCulture));
        return txns;
    }

    /// <summary>
    /// The txns of one commit: for every shard whose position in <paramref name="positions"/> differs from
    /// <paramref name="committed"/>, its chunks under the next generation; shards that did not move get none (their
    /// txns stay as they are).
    /// </summary>
    public static IReadOnlyList<(string AppId, long Version)> Advance(string stream, string? key, IReadOnlyDictionary<string, string> positions,
        IReadOnlyDictionary<string, KinesisShardCheckpoint> committed)
    {
        var txns = new List<(string, long)>();
        foreach (var (shard, checkpoint) in After(positions, committed).OrderBy(p => p.Key, StringComparer.Ordinal))
            if (!committed.TryGetValue(shard, out var before) || before != checkpoint)
                txns.AddRange(Encode(stream, key, shard, checkpoint.SequenceNumber, checkpoint.Generation));
        return txns;
    }

    /// <summary>
    /// Each shard's checkpoint once the txns of <see cref="Advance"/> are committed: a shard that moved takes its new
    /// position under the next generation, the others stay.
    /// </summary>
    public static IReadOnlyDictionary<string, KinesisShardCheckpoint> After(IReadOnlyDictionary<string, string> positions,
        IReadOnlyDictionary<string, KinesisShardCheckpoint> committed)
    {
        ArgumentNullException.ThrowIfNull(positions);
        ArgumentNullException.ThrowIfNull(committed);
        var after = new Dictionary<string, KinesisShardCheckpoint>(committed, StringComparer.Ordinal);
        foreach (var (shard, sequence) in positions)
        {
            bool has = committed.TryGetValue(shard, out var before);
            if (has && before.SequenceNumber == sequence) continue;
            after[shard] = new KinesisShardCheckpoint(sequence, has ? before.Generation + 1 : 1);
        }
        return after;
    }

    /// <summary>Orders two sequence numbers (<see cref="IsSequenceNumber"/>: no leading zeros): by length, then digit by digit.</summary>
    public static int Compare(string a, string b)
    {
        ArgumentNullException.ThrowIfNull(a);
        ArgumentNullException.ThrowIfNull(b);
        return a.Length != b.Length ? a.Length.CompareTo(b.Length) : string.CompareOrdinal(a, b);
    }

    /// <summary>
    /// Each shard's checkpoint among a table's txns (app id → version) for <paramref name="stream"/> under
    /// <paramref name="key"/>; other txns are ignored.
    /// </summary>
    /// <exception cref="FormatException">A shard's newest generation lacks a chunk: the txns were not written by <see cref="Encode"/>.</exception>
    public static IReadOnlyDictionary<string, KinesisShardCheckpoint> Decode(IReadOnlyDictionary<string, long> txns, string stream, string? key) =>
        Decode(Prefix, txns, stream, key);

    /// <summary>Each shard's start mark (<see cref="StartPrefix"/>) among a table's txns under <paramref name="key"/>: the first sequence number the table took of it.</summary>
    /// <exception cref="FormatException">A mark lacks a chunk.</exception>
    public static IReadOnlyDictionary<string, string> DecodeStarts(IReadOnlyDictionary<string, long> txns, string stream, string? key) =>
        Decode(StartPrefix, txns, stream, key).ToDictionary(s => s.Key, s => s.Value.SequenceNumber, StringComparer.Ordinal);

    private static Dictionary<string, KinesisShardCheckpoint> Decode(string kind, IReadOnlyDictionary<string, long> txns, string stream, string? key)
    {
        ArgumentNullException.ThrowIfNull(txns);
        string prefix = $"{kind}{stream}{(key is null ? "" : "@" + key)}:";
        var byShard = new Dictionary<string, List<(int Chunk, long Generation, long Value)>>(StringComparer.Ordinal);
        foreach (var (appId, version) in txns)
        {
            if (!appId.StartsWith(prefix, StringComparison.Ordinal) || version < ChunkBase) continue;
            int hash = appId.LastIndexOf('#');
            if (hash <= prefix.Length || !int.TryParse(appId.AsSpan(hash + 1), NumberStyles.None, CultureInfo.InvariantCulture, out int chunk)) continue;
            string shard = appId[prefix.Length..hash];
            if (shard.Contains(':', StringComparison.Ordinal)) continue; // another stream whose name starts with this one's and an '@'
            if (!byShard.TryGetValue(shard, out var list)) byShard[shard] = list = [];
            list.Add((chunk, version / ChunkBase, version % ChunkBase));
        }
        var result = new Dictionary<string, KinesisShardCheckpoint>(StringComparer.Ordinal);
        foreach (var (shard, chunks) in byShard)
        {
            long generation = chunks.Max(c => c.Generation);
            var current = chunks.Where(c => c.Generation == generation).OrderBy(c => c.Chunk).ToList();
            for (int k = 0; k < current.Count; k++)
                if (current[k].Chunk != k)
                    throw new FormatException($"The checkpoint of {stream} {shard} (generation {generation}) lacks txn {AppId(kind, stream, key, shard, k)}: the table's txns were not written by PinPipe.");
            string digits = string.Concat(current.Select(c => c.Value.ToString("D9", CultureInfo.InvariantCulture))).TrimStart('0');
            result[shard] = new KinesisShardCheckpoint(digits.Length == 0 ? "0" : digits, generation);
        }
        return result;
    }
}
