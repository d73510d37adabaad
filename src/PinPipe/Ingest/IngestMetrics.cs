using System.Collections.Concurrent;
using Microsoft.AspNetCore.Http;
using PinPipe.Observability;
using Prometheus;

namespace PinPipe.Ingest;

/// <summary>
/// What a route tells the metrics about its request: the topic it reached (set only once the log knew it, so that a
/// client cannot make a label of every name it invents), the records it carried or wrote, the body's bytes.
/// </summary>
internal sealed class IngestMeasure
{
    /// <summary>The existing topic or stream the request reached; null = none (the label is empty).</summary>
    public string? Topic { get; set; }

    /// <summary>Records the request carried (any status) or, for a 2xx, wrote.</summary>
    public int Records { get; set; }

    /// <summary>Body bytes read; -1 = not read (Content-Length counts then).</summary>
    public long Bytes { get; set; } = -1;

    /// <summary>The measure of the request, or null when metrics are off.</summary>
    public static IngestMeasure? Of(HttpContext context) => context.Features.Get<IngestMeasure>();
}

/// <summary>
/// The first middleware: times every request and counts it, its records and its bytes by route family, topic and status
/// (<see cref="PinPipeMetrics"/>), refusals by the key guard (403, 429) included. Label children are cached, so a request
/// costs two clock reads, one small object, one dictionary lookup and a few atomic adds.
/// </summary>
internal sealed class IngestMetrics
{
    private readonly ConcurrentDictionary<(string Family, string Topic, int Status), Children> _children = new();

    /// <summary>The series one (family, topic, status) records into; the duration's is by family and topic only.</summary>
    private sealed record Children(Counter.Child Requests, Counter.Child Records, Counter.Child Bytes, Histogram.Child Duration);

    public async Task InvokeAsync(HttpContext context, RequestDelegate next)
    {
        long start = System.Diagnostics.Stopwatch.GetTimestamp();
        var measure = new IngestMeasure();
        context.Features.Set(measure);
        int status = StatusCodes.Status500InternalServerError; // what Kestrel answers when an exception escapes every route
        try
        {
            await next(context).ConfigureAwait(false);
            status = context.Response.StatusCode;
        }
        finally
        {
            var elapsed = System.Diagnostics.Stopwatch.GetElapsedTime(start);
            string family = FamilyOf(context.Request);
            string topic = measure.Topic ?? "";
            long bytes = measure.Bytes >= 0 ? measure.Bytes : context.Request.ContentLength ?? 0;
            var children = _children.GetOrAdd((family, topic, status), static k =>
            {
                string s = k.Status.ToString(System.Globalization.CultureInfo.InvariantCulture);
                return new Children(PinPipeMetrics.IngestRequests.WithLabels(k.Family, k.Topic, s),
                    PinPipeMetrics.IngestRecords.WithLabels(k.Family, k.Topic, s), PinPipeMetrics.IngestBytes.WithLabels(k.Family, k.Topic, s),
                    PinPipeMetrics.IngestDuration.WithLabels(k.Family, k.Topic));
            });
            children.Requests.Inc();
            if (measure.Records > 0) children.Records.Inc(measure.Records);
            if (bytes > 0) children.Bytes.Inc(bytes);
            children.Duration.Observe(elapsed.TotalSeconds);
        }
    }

    /// <summary><c>kinesis</c> under <c>/streams</c>, <c>kafka-rest</c> under <c>/topics</c>, <c>other</c> elsewhere (health, metrics, the dashboard).</summary>
    internal static string FamilyOf(HttpRequest request) =>
        RequestGuard.IsKinesisRoute(request) ? "kinesis"
        : request.Path.StartsWithSegments("/topics", StringComparison.Ordinal) ? "kafka-rest"
        : "other";
}
