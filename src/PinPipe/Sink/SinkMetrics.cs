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
            foreach (string topic in options.Topics ?? [])
            {
                var description = await log.DescribeTopicAsync(topic, cancellationToken).ConfigureAwait(false);
                for (int p = 0; p < (description?.Partitions ?? 0); p++)
                {
                    var end = await log.GetWatermarksAsync(topic, p, cancellationToken).ConfigureAwait(false);
                    long? committed = await log.GetCommittedOffsetAsync(options.GroupId, topic, p, cancellationToken).ConfigureAwait(false);
                    string partition = p.ToString(CultureInfo.InvariantCulture);
                    shown.Add((topic, partition));
                    if (committed is long c) PinPipeMetrics.SinkCommittedOffset.WithLabels(topic, partition).Set(c);
                    PinPipeMetrics.SinkLag.WithLabels(topic, partition).Set(Math.Max(0, end.High - Math.Max(committed ?? end.Low, end.Low)));
                }
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
