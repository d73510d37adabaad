using System.Text;
using System.Text.Json;
using Microsoft.Extensions.Logging;
using PinPipe.Lake;
using PinPipe.Log;

namespace PinPipe.Sink;

/// <summary>
/// The incarnation of each topic whose objects the bucket holds: a small object
/// <c>&lt;topics.dir&gt;/&lt;topic&gt;+topic-id.json</c> (beside the topic's folder; '+' is not in a topic name, so it never
/// collides with one) records the topic id the sink wrote for. A topic deleted and created again has another id; its
/// offsets start again at 0, so its objects would take the earlier ones' keys, and its committed offsets are gone with the
/// deletion (Kafka and the embedded log both drop them): the bucket is where the sink can tell.
/// </summary>
internal sealed class TopicIncarnations(ILog log, IObjectStore store, SinkOptions options, ILogger logger)
{
    /// <summary>The key of the object recording <paramref name="topic"/>'s id.</summary>
    public static string MarkerKey(string topicsDir, string topic) =>
        string.IsNullOrWhiteSpace(topicsDir) ? $"{topic}+topic-id.json" : $"{topicsDir}/{topic}+topic-id.json";

    private string Prefix(string topic) => string.IsNullOrWhiteSpace(options.TopicsDir) ? $"{topic}/" : $"{options.TopicsDir}/{topic}/";

    /// <summary>
    /// Checks the sink's checkpoint of a topic before its partitions are sunk: the bucket's objects are of another
    /// incarnation, or a committed offset is past a partition's end (truncated), throws; with <see cref="SinkOptions.Reset"/>
    /// <c>earliest</c> it moves the checkpoint to the topic's start instead, once the earlier objects were moved away.
    /// A bucket without record (written before topic ids, or a first run) adopts the topic's id.
    /// </summary>
    /// <exception cref="LogException"><see cref="LogErrorCode.CheckpointMismatch"/>, naming the topic and the way forward.</exception>
    public async Task VerifyAsync(TopicDescription topic, CancellationToken cancellationToken)
    {
        string key = MarkerKey(options.TopicsDir, topic.Name);
        string? recorded = await ReadAsync(key, cancellationToken).ConfigureAwait(false);
        string? problem = null;
        if (topic.TopicId is not null && recorded is not null && recorded != topic.TopicId)
            problem = $"Topic '{topic.Name}' was deleted and created again: the bucket holds objects of its earlier incarnation (topic id {recorded}), not of this one (topic id {topic.TopicId}).";
        var marks = new Watermarks[topic.Partitions];
        for (int p = 0; p < topic.Partitions; p++)
        {
            marks[p] = await log.GetWatermarksAsync(topic.Name, p, cancellationToken).ConfigureAwait(false);
            if (problem is null && await log.GetCommittedOffsetAsync(options.GroupId, topic.Name, p, cancellationToken).ConfigureAwait(false) is { } committed && committed > marks[p].High)
                problem = $"Topic '{topic.Name}' is behind the sink: partition {p} ends at offset {marks[p].High}, but group '{options.GroupId}' committed offset {committed} (the topic was truncated or its log replaced).";
        }
        if (problem is null)
        {
            if (recorded is null && topic.TopicId is not null) await store.PutIfAbsentAsync(key, Record(topic), cancellationToken).ConfigureAwait(false);
            return;
        }

        string prefix = Prefix(topic.Name);
        string archive = $"archive/{topic.Name}-{recorded ?? "earlier"}/";
        if (options.Reset != "earliest")
            throw new LogException(LogErrorCode.CheckpointMismatch,
                $"{problem} Nothing was written. The topic's offsets start again at 0, so its objects would take the keys of the objects under {prefix} in {store.Location}: " +
                $"move those out of {prefix} (for example to {archive}; the batch job reads only {prefix}), then run the sink once with --reset earliest (Sink:Reset) to sink the topic from its start.");
        int remaining = 0;
        await foreach (var _ in store.ListAsync(prefix, cancellationToken).ConfigureAwait(false)) remaining++;
        if (remaining > 0)
            throw new LogException(LogErrorCode.CheckpointMismatch,
                $"{problem} --reset earliest sinks the topic from its start, but {remaining} objects of the earlier incarnation are still under {prefix} in {store.Location}, at the keys the new objects would take: " +
                $"move them out of {prefix} first (for example to {archive}), then run again.");
        await log.CommitOffsetsAsync(options.GroupId, marks.Select((w, p) => new Log.TopicPartitionOffset(topic.Name, p, w.Low)).ToList(), cancellationToken).ConfigureAwait(false);
        await store.PutAsync(key, Record(topic), cancellationToken).ConfigureAwait(false);
        logger.LogWarning("{Problem} Reset: sinking {Topic} from its start (--reset earliest).", problem, topic.Name);
    }

    /// <summary>Throws when the topic is gone or is another incarnation than <paramref name="topicId"/>, the one the sink verified.</summary>
    public async Task RequireSameAsync(string topic, string? topicId, CancellationToken cancellationToken)
    {
        var now = await log.DescribeTopicAsync(topic, cancellationToken).ConfigureAwait(false) ?? throw Deleted(topic);
        if (now.TopicId != topicId)
            throw new LogException(LogErrorCode.CheckpointMismatch,
                $"Topic '{topic}' was deleted and created again while the sink ran (topic id {topicId} → {now.TopicId}); nothing of the new incarnation was committed. " +
                $"Move the earlier incarnation's objects out of {Prefix(topic)}, then run the sink once with --reset earliest (Sink:Reset).");
    }

    public LogException Deleted(string topic) => new(LogErrorCode.CheckpointMismatch,
        $"Topic '{topic}' was deleted while the sink ran; the bucket keeps what was committed. Once it exists again, move the earlier objects out of {Prefix(topic)} and run the sink once with --reset earliest (Sink:Reset).");

    private Task<string?> ReadAsync(string key, CancellationToken cancellationToken) => ReadTopicIdAsync(store, key, cancellationToken);

    /// <summary>The topic id recorded at <paramref name="key"/> (<see cref="MarkerKey"/>), or null when nothing is recorded there.</summary>
    /// <exception cref="InvalidOperationException">The record is not <c>{"topic": ..., "topicId": ...}</c>.</exception>
    internal static async Task<string?> ReadTopicIdAsync(IObjectStore store, string key, CancellationToken cancellationToken)
    {
        byte[]? bytes = await store.GetAsync(key, cancellationToken).ConfigureAwait(false);
        if (bytes is null) return null;
        try
        {
            using var doc = JsonDocument.Parse(bytes);
            return doc.RootElement.GetProperty("topicId").GetString();
        }
        catch (Exception ex) when (ex is JsonException or KeyNotFoundException or InvalidOperationException)
        {
            throw new InvalidOperationException($"The sink's record of a topic's id, {key} in {store.Location}, is not {{\"topic\": ..., \"topicId\": ...}}: {ex.Message}", ex);
        }
    }

    private static byte[] Record(TopicDescription topic) =>
        Encoding.UTF8.GetBytes(JsonSerializer.Serialize(new Dictionary<string, string?> { ["topic"] = topic.Name, ["topicId"] = topic.TopicId }) + "\n");
}
