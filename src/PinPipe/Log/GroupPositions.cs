namespace PinPipe.Log;

/// <summary>A consumer group's position in one topic partition, beside the partition's watermarks.</summary>
/// <param name="Committed">The group's committed offset (the next it reads); null when it never committed.</param>
public readonly record struct GroupPosition(string Topic, int Partition, Watermarks Marks, long? Committed)
{
    /// <summary>Records the group has still to read (<see cref="Watermarks.Lag"/>).</summary>
    public long Lag => Marks.Lag(Committed);
}

/// <summary>Where a consumer group stands in topics: what the sink's lag, <c>pinpipe topics</c>, the metrics and the dashboard read.</summary>
public static class GroupPositions
{
    /// <summary>The group's position in every partition of each of <paramref name="topics"/> that exists (a missing topic is left out).</summary>
    public static async Task<IReadOnlyList<GroupPosition>> OfAsync(ILog log, string group, IEnumerable<string> topics, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(log);
        ArgumentNullException.ThrowIfNull(topics);
        var positions = new List<GroupPosition>();
        foreach (string topic in topics)
        {
            var description = await log.DescribeTopicAsync(topic, cancellationToken).ConfigureAwait(false);
            for (int p = 0; p < (description?.Partitions ?? 0); p++)
            {
                var marks = await log.GetWatermarksAsync(topic, p, cancellationToken).ConfigureAwait(false);
                long? committed = await log.GetCommittedOffsetAsync(group, topic, p, cancellationToken).ConfigureAwait(false);
                positions.Add(new GroupPosition(topic, p, marks, committed));
            }
        }
        return positions;
    }
}
