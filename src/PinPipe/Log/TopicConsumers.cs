namespace PinPipe.Log;

/// <summary>
/// Which consumer groups read which topics (the composition fills it from the settings: the sink's group for the
/// sink's topics, the stream job's group for the streams). A topic holding records one of its groups has not
/// consumed is deleted only when forced (<see cref="ILog.DeleteTopicAsync(string, IReadOnlyCollection{string}, CancellationToken)"/>).
/// </summary>
public sealed class TopicConsumers
{
    private readonly Dictionary<string, string[]> _groups;

    /// <param name="groupsByTopic">Each topic's consumer groups; a topic not named has none.</param>
    public TopicConsumers(IEnumerable<KeyValuePair<string, IReadOnlyCollection<string>>> groupsByTopic)
    {
        ArgumentNullException.ThrowIfNull(groupsByTopic);
        _groups = new Dictionary<string, string[]>(StringComparer.Ordinal);
        foreach (var (topic, groups) in groupsByTopic)
            _groups[topic] = [.. (_groups.TryGetValue(topic, out var known) ? known : []).Union(groups, StringComparer.Ordinal)];
    }

    /// <summary>No topic has consumers: every delete goes through.</summary>
    public static TopicConsumers None { get; } = new([]);

    /// <summary>The consumer groups of <paramref name="topic"/> (empty when it has none).</summary>
    public IReadOnlyCollection<string> Of(string topic) => _groups.TryGetValue(topic, out var groups) ? groups : [];

    /// <summary>
    /// The error for records the groups have not consumed, or null when every group consumed every record.
    /// <paramref name="committed"/> gives a group's committed offset of a partition (null: never committed = nothing consumed).
    /// </summary>
    internal static LogException? Unconsumed(string topic, IReadOnlyCollection<string> groups, IReadOnlyList<Watermarks> partitions, Func<string, int, long?> committed)
    {
        var problems = new List<string>();
        foreach (string group in groups)
        {
            long total = 0;
            var parts = new List<string>();
            for (int p = 0; p < partitions.Count; p++)
            {
                var (low, high) = partitions[p];
                long from = Math.Max(committed(group, p) ?? low, low);
                if (from >= high) continue;
                total += high - from;
                parts.Add($"{high - from:N0} in partition {p} (offsets {from} to {high - 1})");
            }
            if (total > 0) problems.Add($"{total:N0} {(total == 1 ? "record" : "records")} consumer group '{group}' has not consumed: {string.Join(", ", parts)}");
        }
        return problems.Count == 0 ? null
            : new LogException(LogErrorCode.NotConsumed, $"Topic '{topic}' holds {string.Join("; ", problems)}; it was not deleted.");
    }
}
