using System.Collections.Concurrent;
using System.Globalization;
using PinPipe.Observability;
using Prometheus;

namespace PinPipe.Streaming;

/// <summary>
/// A running stream job's counters and table versions, brought up to date at each scrape from <see cref="StreamJob.GetStats"/>.
/// Micro-batch durations and sizes and the lag per partition are recorded as they happen (<see cref="StreamTableMetrics"/>).
/// </summary>
internal static class StreamMetrics
{
    public static IDisposable Register(StreamJob job)
    {
        var feed = new CounterFeed();
        var tables = new HashSet<string>(StringComparer.Ordinal);
        return MetricCollectors.Register(_ =>
        {
            foreach (var t in job.GetStats().Tables)
            {
                tables.Add(t.Table);
                feed.Report(PinPipeMetrics.StreamBatches, t.Batches, t.Table);
                feed.Report(PinPipeMetrics.StreamRows, t.Clean, t.Table, "clean");
                feed.Report(PinPipeMetrics.StreamRows, t.Duplicates, t.Table, "duplicate");
                feed.Report(PinPipeMetrics.StreamRows, t.Rejects, t.Table, "reject");
                feed.Report(PinPipeMetrics.StreamKeyFiles, t.KeyFilesSkipped, t.Table, "skipped");
                feed.Report(PinPipeMetrics.StreamKeyFiles, t.KeyFilesCached, t.Table, "cached");
                feed.Report(PinPipeMetrics.StreamKeyFiles, t.KeyFilesRead, t.Table, "read");
                PinPipeMetrics.StreamKeyCacheBytes.WithLabels(t.Table).Set(t.KeyCacheBytes);
                feed.Report(PinPipeMetrics.StreamCompactions, t.Compactions, t.Table);
                feed.Report(PinPipeMetrics.StreamCompactionFailures, t.CompactionFailures, t.Table);
                if (t.Version >= 0) PinPipeMetrics.StreamTableVersion.WithLabels(t.Table).Set(t.Version);
            }
            return Task.CompletedTask;
        }, () =>
        {
            foreach (string table in tables)
            {
                PinPipeMetrics.StreamTableVersion.RemoveLabelled(table);
                PinPipeMetrics.StreamKeyCacheBytes.RemoveLabelled(table);
            }
        });
    }
}

/// <summary>One stream table's metric children, cached: its micro-batches' durations and sizes, its stream's lag per partition.</summary>
internal sealed class StreamTableMetrics(string table, string stream) : IDisposable
{
    private readonly ConcurrentDictionary<int, Gauge.Child> _lag = new();

    public Histogram.Child BatchDuration { get; } = PinPipeMetrics.StreamBatchDuration.WithLabels(table);

    public Histogram.Child BatchRecords { get; } = PinPipeMetrics.StreamBatchRecords.WithLabels(table);

    public Histogram.Child CollectStep { get; } = PinPipeMetrics.StreamBatchStep.WithLabels(table, "collect");

    public Histogram.Child CleanStep { get; } = PinPipeMetrics.StreamBatchStep.WithLabels(table, "clean");

    public Histogram.Child WriteStep { get; } = PinPipeMetrics.StreamBatchStep.WithLabels(table, "write");

    public Histogram.Child CommitStep { get; } = PinPipeMetrics.StreamBatchStep.WithLabels(table, "commit");

    public Gauge.Child Lag(int partition) =>
        _lag.GetOrAdd(partition, p => PinPipeMetrics.StreamLag.WithLabels(stream, p.ToString(CultureInfo.InvariantCulture)));

    /// <summary>Removes the lag series: a stopped job has no lag to report.</summary>
    public void Dispose()
    {
        foreach (int p in _lag.Keys) PinPipeMetrics.StreamLag.RemoveLabelled(stream, p.ToString(CultureInfo.InvariantCulture));
        _lag.Clear();
    }
}
