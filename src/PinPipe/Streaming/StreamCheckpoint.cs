using System.Globalization;
using PinPipe.Log;

namespace PinPipe.Streaming;

/// <summary>
/// Where one Delta table of the stream job stands in its stream, read from the table's <c>txn</c> actions: which
/// incarnation of the stream they are for and each partition's next offset.
/// </summary>
/// <remarks>
/// A txn's app id names the checkpoint: <c>pinpipe-stream:&lt;stream&gt;@&lt;key&gt;:&lt;partition&gt;</c>, the key being the
/// stream's topic id (<see cref="TopicDescription.TopicId"/>), followed by <c>.&lt;n&gt;</c> after the n-th
/// <c>--reset earliest</c> of the same incarnation (a txn's version never goes down, so a reset takes new app ids).
/// Tables written before topic ids have <c>pinpipe-stream:&lt;stream&gt;:&lt;partition&gt;</c>: the job adopts their
/// offsets for the stream's current incarnation.
/// </remarks>
internal sealed class StreamCheckpoint
{
    private StreamCheckpoint(string? key, long?[] offsets, string? foreignKey, bool legacy)
    {
        Key = key;
        Offsets = offsets;
        ForeignKey = foreignKey;
        Legacy = legacy;
    }

    /// <summary>The key the table's next txns carry: the current incarnation's (null when the log gives no topic ids).</summary>
    public string? Key { get; private set; }

    /// <summary>Each partition's next offset under <see cref="Key"/>; null where the table holds none yet.</summary>
    public long?[] Offsets { get; }

    /// <summary>The key of another incarnation when the table holds only its offsets (the stream was deleted and created again).</summary>
    public string? ForeignKey { get; private set; }

    /// <summary>The offsets were adopted from txns without key (written before topic ids).</summary>
    public bool Legacy { get; }

    /// <summary>The table holds offsets of the current incarnation under <see cref="Key"/>.</summary>
    public bool Current => ForeignKey is null && !Legacy && Offsets.Any(o => o is not null);

    /// <summary>Reads the table's txns of <paramref name="stream"/> for the incarnation <paramref name="topicId"/>.</summary>
    public static StreamCheckpoint Read(IReadOnlyDictionary<string, long>? txns, string stream, string? topicId, int partitions)
    {
        var legacy = new long?[partitions];
        var byKey = new Dictionary<string, long?[]>(StringComparer.Ordinal);
        bool anyLegacy = false;
        foreach (var (appId, version) in txns ?? new Dictionary<string, long>())
        {
            if (!TryParse(appId, stream, out string? key, out int p) || p >= partitions) continue;
            long?[] offsets = legacy;
            if (key is null) anyLegacy = true;
            else if (!byKey.TryGetValue(key, out offsets!)) byKey[key] = offsets = new long?[partitions];
            offsets[p] = version;
        }

        // The current incarnation's latest key (its highest reset generation), else offsets without key, else another incarnation's.
        string? current = topicId is null ? null : byKey.Keys.Where(k => BaseOf(k) == topicId).MaxBy(Generation);
        if (current is not null) return new(current, byKey[current], null, false);
        if (anyLegacy || topicId is null) return new(topicId, legacy, null, anyLegacy);
        string? foreign = byKey.Keys.MaxBy(k => k, StringComparer.Ordinal);
        return new(topicId, new long?[partitions], foreign, false);
    }

    /// <summary>Moves the checkpoint to a new key of the current incarnation (the next reset generation) with no offsets.</summary>
    /// <exception cref="LogException"><see cref="LogErrorCode.CheckpointMismatch"/> when the log gives no topic ids (nothing to key a new checkpoint by).</exception>
    public void Reset(string stream, string? topicId)
    {
        if (topicId is null)
            throw new LogException(LogErrorCode.CheckpointMismatch, $"Stream '{stream}' cannot be reset: the log gives no topic ids (a Kafka cluster older than 2.8), so a new checkpoint cannot be told from the old one; write the tables under another Batch:TablesPrefix instead.");
        Key = Key is not null && BaseOf(Key) == topicId && !Legacy && ForeignKey is null ? $"{topicId}.{Generation(Key) + 1}" : topicId;
        ForeignKey = null;
        Array.Clear(Offsets);
    }

    /// <summary>The app id of a partition's txn under <paramref name="key"/> (null: the form without key).</summary>
    public static string AppId(string stream, int partition, string? key) =>
        key is null ? $"pinpipe-stream:{stream}:{partition}" : $"pinpipe-stream:{stream}@{key}:{partition}";

    /// <summary>
    /// The app id of the txn that marks where the job first read a partition when it started from the stream's end
    /// (<c>--from latest</c>): <c>pinpipe-stream-start:&lt;stream&gt;[@&lt;key&gt;]:&lt;partition&gt;</c>, its version that
    /// offset. Written once, in the start commit; the records below it were never meant for the table
    /// (<c>pinpipe verify</c> leaves them out). <see cref="Read"/> does not take it for a checkpoint.
    /// </summary>
    public static string StartAppId(string stream, int partition, string? key) =>
        key is null ? $"pinpipe-stream-start:{stream}:{partition}" : $"pinpipe-stream-start:{stream}@{key}:{partition}";

    /// <summary>Each partition's start mark (<see cref="StartAppId"/>) under <paramref name="key"/>; null where the job started at the stream's start.</summary>
    public static long?[] ReadStarts(IReadOnlyDictionary<string, long>? txns, string stream, string? key, int partitions) =>
        [.. Enumerable.Range(0, partitions).Select(p => txns is not null && txns.TryGetValue(StartAppId(stream, p, key), out long v) ? v : (long?)null)];

    /// <summary>The topic id part of a key (<c>&lt;topic id&gt;[.&lt;n&gt;]</c>).</summary>
    public static string BaseOf(string key) => key.IndexOf('.', StringComparison.Ordinal) is var dot and >= 0 ? key[..dot] : key;

    private static int Generation(string key) =>
        key.IndexOf('.', StringComparison.Ordinal) is var dot and >= 0 && int.TryParse(key.AsSpan(dot + 1), NumberStyles.None, CultureInfo.InvariantCulture, out int n) ? n : 0;

    private static bool TryParse(string appId, string stream, out string? key, out int partition)
    {
        key = null;
        partition = -1;
        string prefix = "pinpipe-stream:" + stream;
        if (!appId.StartsWith(prefix, StringComparison.Ordinal) || appId.Length == prefix.Length) return false;
        int colon = appId.LastIndexOf(':');
        if (colon < prefix.Length || !int.TryParse(appId.AsSpan(colon + 1), NumberStyles.None, CultureInfo.InvariantCulture, out partition)) return false;
        if (appId[prefix.Length] == ':') return colon == prefix.Length;
        if (appId[prefix.Length] != '@' || colon == prefix.Length + 1) return false;
        key = appId[(prefix.Length + 1)..colon];
        return true;
    }
}
