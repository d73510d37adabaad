using System.Globalization;
using PinPipe.Log;
using PinPipe.Observability;

namespace PinPipe.Sink;

/// <summary>
/// A running sink's metrics, brought up to date at each scrape: its counters from <see cref="S3SinkConnector.GetStats"/>,
/// and per topic partition the group's committed offset and the lag behind the log's end, asked of the log (so they
/// hold whichever process committed). Flush durations are observed as objects are written (<see cref="PartitionWriter"/>).
/// </summary>
internal static class SinkMetrics
{
    public static IDisposable Register(S3SinkConnector sink, ILog log, SinkOptions options)
    {
        var feed = new CounterFeed();
        var shown = new HashSet<(string Topic, string Partition)>();
        return MetricCollectors.Register(async cancellationToken =>
        {
            foreach (var t in sink.GetStats().Topics.Values)
            {
                feed.Report(PinPipeMetrics.SinkRecords, t.RecordsWritten, t.Topic);
                feed.Report(PinPipeMetrics.SinkObjects, t.ObjectsWritten, t.Topic);
                feed.Report(PinPipeMetrics.SinkBytes, t.BytesWritten, t.Topic);
                feed.Report(PinPipeMetrics.SinkFailures, t.Failures, t.Topic);
            }
            foreach (var position in await GroupPositions.OfAsync(log, options.GroupId, options.Topics ?? [], cancellationToken).ConfigureAwait(false))
            {
                string partition = position.Partition.ToString(CultureInfo.InvariantCulture);
                shown.Add((position.Topic, partition));
                if (position.Committed is long c) PinPipeMetrics.SinkCommittedOffset.WithLabels(position.Topic, partition).Set(c);
                PinPipeMetrics.SinkLag.WithLabels(position.Topic, partition).Set(position.Lag);
            }
        }, () =>
        {
            foreach (var (topic, partition) in shown)
            {
                PinPipeMetrics.SinkCommittedOffset.RemoveLabelled(topic, partition);
                PinPipeMetrics.SinkLag.RemoveLabelled(topic, partition);
            }
        });
    }
}
