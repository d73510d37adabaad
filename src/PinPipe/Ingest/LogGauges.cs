using System.Globalization;
using PinPipe.Log;
using PinPipe.Observability;

namespace PinPipe.Ingest;

/// <summary>
/// The log's gauges (<c>pinpipe_log_end_offset</c>, <c>pinpipe_log_start_offset</c>, <c>pinpipe_log_bytes</c> per topic
/// partition), brought up to date at each scrape from <see cref="ILog.SummarizePartitionsAsync"/> by the API that owns
/// the log. A deleted topic's series go at the next scrape; all of them when the API stops.
/// </summary>
internal static class LogGauges
{
    public static IDisposable Register(ILog log)
    {
        var shown = new HashSet<(string Topic, string Partition)>();
        return MetricCollectors.Register(async cancellationToken =>
        {
            var now = new HashSet<(string, string)>();
            foreach (var p in await log.SummarizePartitionsAsync(cancellationToken).ConfigureAwait(false))
            {
                string partition = p.Partition.ToString(CultureInfo.InvariantCulture);
                now.Add((p.Topic, partition));
                PinPipeMetrics.LogEndOffset.WithLabels(p.Topic, partition).Set(p.High);
                PinPipeMetrics.LogStartOffset.WithLabels(p.Topic, partition).Set(p.Low);
                if (p.Bytes is long bytes) PinPipeMetrics.LogBytes.WithLabels(p.Topic, partition).Set(bytes);
            }
            foreach (var gone in shown.Except(now)) Remove(gone);
            shown = now;
        }, () =>
        {
            foreach (var series in shown) Remove(series);
        });
    }

    private static void Remove((string Topic, string Partition) series)
    {
        PinPipeMetrics.LogEndOffset.RemoveLabelled(series.Topic, series.Partition);
        PinPipeMetrics.LogStartOffset.RemoveLabelled(series.Topic, series.Partition);
        PinPipeMetrics.LogBytes.RemoveLabelled(series.Topic, series.Partition);
    }
}
