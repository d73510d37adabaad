using System.Globalization;
using System.Text.RegularExpressions;

namespace PinPipe.Batch;

/// <summary>
/// Where one Delta table of the batch job stands in a topic: each partition's next offset to read, kept as the table's
/// <c>txn</c> actions, written in the same commit as the rows they cover.
/// </summary>
/// <remarks>
/// A txn's app id is <c>pinpipe-batch:&lt;topic&gt;@&lt;topic id&gt;:&lt;partition&gt;</c>, the topic id being the one the sink
/// recorded for the objects in the bucket (<c>&lt;topics dir&gt;/&lt;topic&gt;+topic-id.json</c>), or
/// <c>pinpipe-batch:&lt;topic&gt;:&lt;partition&gt;</c> when the bucket records none. A topic deleted and created again has
/// another id (the sink made its earlier objects be moved away): its offsets start again at 0 under new app ids. Offsets
/// kept without id are adopted for the recorded id when the table holds no offsets under any id yet (the sink recorded the
/// id after the first runs).
/// </remarks>
internal sealed partial class BatchCheckpoint
{
    private const string AppIdPrefix = "pinpipe-batch:";

    private BatchCheckpoint(IReadOnlyDictionary<int, long> next, bool adopted)
    {
        Next = next;
        Adopted = adopted;
    }

    /// <summary>Each partition's next offset; a partition not listed starts at 0.</summary>
    public IReadOnlyDictionary<int, long> Next { get; }

    /// <summary>The offsets were kept without topic id and are to be recorded under the id with the table's next commit.</summary>
    public bool Adopted { get; }

    public static BatchCheckpoint None { get; } = new(new Dictionary<int, long>(), false);

    /// <summary>The partition's next offset (0 when the table holds none).</summary>
    public long NextOf(int partition) => Next.TryGetValue(partition, out long next) ? next : 0;

    /// <summary>The app id of a partition's txn.</summary>
    public static string AppId(string topic, string? topicId, int partition) =>
        topicId is null ? $"{AppIdPrefix}{topic}:{partition}" : $"{AppIdPrefix}{topic}@{topicId}:{partition}";

    /// <summary>Reads a table's offsets of <paramref name="topic"/> for the incarnation <paramref name="topicId"/> (null: none recorded).</summary>
    public static BatchCheckpoint Read(IReadOnlyDictionary<string, long>? txns, string topic, string? topicId)
    {
        var byKey = new Dictionary<string, Dictionary<int, long>>(StringComparer.Ordinal);
        var plain = new Dictionary<int, long>();
        foreach (var (appId, version) in txns ?? new Dictionary<string, long>())
        {
            if (!TryParse(appId, topic, out string? key, out int partition)) continue;
            var offsets = plain;
            if (key is not null && !byKey.TryGetValue(key, out offsets!)) byKey[key] = offsets = [];
            offsets[partition] = version;
        }
        if (topicId is null) return new(plain, false);
        if (byKey.TryGetValue(topicId, out var mine)) return new(mine, false);
        return byKey.Count == 0 && plain.Count > 0 ? new(plain, true) : None;
    }

    [GeneratedRegex(@"^pinpipe-batch:(?<topic>[^@:]+)(?:@(?<key>[^:]+))?:(?<partition>[0-9]+)$", RegexOptions.CultureInvariant)]
    private static partial Regex AppIdForm();

    private static bool TryParse(string appId, string topic, out string? key, out int partition)
    {
        var match = AppIdForm().Match(appId);
        key = match.Groups["key"] is { Success: true } k ? k.Value : null;
        partition = -1;
        return match.Success && match.Groups["topic"].Value == topic
            && int.TryParse(match.Groups["partition"].ValueSpan, NumberStyles.None, CultureInfo.InvariantCulture, out partition);
    }
}
