using Prometheus;

namespace PinPipe.Observability;

/// <summary>Writes every metric in Prometheus's text exposition format (what <c>GET /metrics</c> answers).</summary>
public static class MetricsExport
{
    /// <summary>The content type of Prometheus's text format, version 0.0.4.</summary>
    public const string ContentType = "text/plain; version=0.0.4; charset=utf-8";

    /// <summary>Runs the registered collectors (<see cref="MetricCollectors"/>), then writes the metrics to <paramref name="body"/>.</summary>
    public static Task WriteAsync(Stream body, CancellationToken cancellationToken = default)
    {
        PinPipeMetrics.EnsureCreated();
        return Metrics.DefaultRegistry.CollectAndExportAsTextAsync(body, cancellationToken);
    }
}
