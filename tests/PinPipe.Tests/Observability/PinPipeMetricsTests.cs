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

    [Fact]
    public void The_ingest_durations_bounds_are_a_quarter_of_a_doubling_apart_and_keep_the_former_doubling_bounds()
    {
        double[] bounds = PinPipeMetrics.IngestDurationBounds();

        Assert.Equal(65, bounds.Length);
        Assert.Equal(0.000125, bounds[0]);
        Assert.Equal(8.192, bounds[^1], 12);
        for (int i = 1; i < bounds.Length; i++) Assert.Equal(Math.Pow(2, 0.25), bounds[i] / bounds[i - 1], 12);
        // The doubling layout it replaced, ExponentialBuckets(0.00025, 2, 16): every fourth bound from the fifth, exactly.
        Assert.Equal(Histogram.ExponentialBuckets(0.00025, 2, 16), bounds.Where((_, i) => i >= 4 && i % 4 == 0));
    }

    [Fact]
    public async Task A_request_of_9_ms_is_counted_above_8_ms_and_within_the_next_quarter_doubling()
    {
        string topic = "bounds-" + Guid.NewGuid().ToString("N")[..8];
        PinPipeMetrics.IngestDuration.WithLabels("kafka-rest", topic).Observe(0.009);

        using var body = new MemoryStream();
        await Metrics.DefaultRegistry.CollectAndExportAsTextAsync(body, ExpositionFormat.PrometheusText);
        var buckets = System.Text.Encoding.UTF8.GetString(body.ToArray()).Split('\n')
            .Where(l => l.StartsWith("pinpipe_ingest_request_duration_seconds_bucket{", StringComparison.Ordinal) && l.Contains(topic, StringComparison.Ordinal))
            .Select(l => (Le: l[(l.IndexOf("le=\"", StringComparison.Ordinal) + 4)..l.IndexOf("\"}", StringComparison.Ordinal)], Count: double.Parse(l[(l.LastIndexOf(' ') + 1)..], System.Globalization.CultureInfo.InvariantCulture)))
            .ToList();

        Assert.Equal(66, buckets.Count); // the 65 bounds and +Inf
        var cumulative = buckets.Where(b => b.Le != "+Inf").Select(b => (Le: double.Parse(b.Le, System.Globalization.CultureInfo.InvariantCulture), b.Count)).ToList();
        Assert.Equal(0, cumulative.Single(b => b.Le == 0.008).Count);
        var first = cumulative.First(b => b.Count == 1);
        Assert.Equal(0.008 * Math.Pow(2, 0.25), first.Le, 12);
    }
}
