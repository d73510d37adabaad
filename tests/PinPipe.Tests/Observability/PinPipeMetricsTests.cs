using System.Diagnostics;
using PinPipe.Observability;
using Prometheus;

namespace PinPipe.Tests.Observability;

/// <summary>How <see cref="PinPipeMetrics"/> configures prometheus-net for the whole process.</summary>
public sealed class PinPipeMetricsTests
{
    [Fact]
    public async Task An_observation_inside_a_trace_records_no_exemplar()
    {
        // The trace context prometheus-net would take an exemplar from: a W3C activity, current while the metrics record.
        using var activity = new Activity("exemplar-test");
        activity.SetIdFormat(ActivityIdFormat.W3C).Start();
        string topic = "exemplar-" + Guid.NewGuid().ToString("N")[..8];
        PinPipeMetrics.IngestDuration.WithLabels("other", topic).Observe(0.25);
        PinPipeMetrics.IngestRequests.WithLabels("other", topic, "200").Inc();

        using var body = new MemoryStream();
        // OpenMetrics is the format that carries exemplars (Prometheus's text format never does).
        await Metrics.DefaultRegistry.CollectAndExportAsTextAsync(body, ExpositionFormat.OpenMetricsText);
        string text = System.Text.Encoding.UTF8.GetString(body.ToArray());

        var lines = text.Split('\n').Where(l => l.Contains(topic, StringComparison.Ordinal)).ToList();
        Assert.Contains(lines, l => l.StartsWith("pinpipe_ingest_request_duration_seconds_count", StringComparison.Ordinal));
        Assert.Contains(lines, l => l.StartsWith("pinpipe_ingest_requests_total", StringComparison.Ordinal));
        Assert.DoesNotContain(lines, l => l.Contains(activity.TraceId.ToHexString(), StringComparison.Ordinal) || l.Contains(" # {", StringComparison.Ordinal));
    }
}
