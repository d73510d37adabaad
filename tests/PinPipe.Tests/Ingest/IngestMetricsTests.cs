using System.Net;
using System.Text;
using PinPipe.Ingest;
using PinPipe.Ingest.Keys;
using PinPipe.Tests.Support;

namespace PinPipe.Tests.Ingest;

/// <summary>
/// <c>GET /metrics</c> of the ingest API: requests, records and bytes by route family, topic and status, the latency
/// histogram, the log's gauges, refusals counted, no label made of a name a client invented. The metrics are the
/// process's (one registry), so each test uses topics of its own.
/// </summary>
public sealed class IngestMetricsTests
{
    private static string Unique(string prefix) => $"{prefix}{Guid.NewGuid():N}"[..(prefix.Length + 12)];

    private static async Task<List<PrometheusSample>> ScrapeAsync(HttpClient client, string? key = null)
    {
        using var request = new HttpRequestMessage(HttpMethod.Get, "metrics");
        if (key is not null) request.Headers.Add("x-api-key", key);
        using var response = await client.SendAsync(request);
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.Equal("text/plain", response.Content.Headers.ContentType?.MediaType);
        Assert.Equal("0.0.4", response.Content.Headers.ContentType?.Parameters.Single(p => p.Name == "version").Value);
        return PrometheusText.Parse(await response.Content.ReadAsStringAsync());
    }

    [Fact]
    public async Task Produce_requests_of_both_families_are_counted_with_their_records_bytes_latency_and_the_logs_end_offsets()
    {
        string topic = Unique("m.pin"), stream = Unique("streaming-m-");
        await using var api = await IngestApiHarness.StartAsync(null, (topic, 2), (stream, 1));
        string produce = """{"records":[{"value":{"a":1}},{"value":{"a":2}},{"value":{"a":3}}]}""";
        string putRecords = """{"records":[{"data":{"a":1},"partition-key":"p"},{"data":{"a":2},"partition-key":"q"}]}""";
        for (int i = 0; i < 2; i++)
            using (var posted = await api.PostAsync($"topics/{topic}", produce)) Assert.Equal(HttpStatusCode.OK, posted.StatusCode);
        using (var put = await api.SendAsync(HttpMethod.Put, $"streams/{stream}/records", putRecords)) Assert.Equal(HttpStatusCode.OK, put.StatusCode);
        GC.Collect(); // a pause for dotnet_gc_pause_seconds_total

        var samples = await ScrapeAsync(api.Client);

        Assert.Equal(2, samples.Value("pinpipe_ingest_requests_total", "family=kafka-rest", $"topic={topic}", "status=200"));
        Assert.Equal(6, samples.Value("pinpipe_ingest_records_total", "family=kafka-rest", $"topic={topic}", "status=200"));
        Assert.Equal(2 * Encoding.UTF8.GetByteCount(produce), samples.Value("pinpipe_ingest_request_bytes_total", "family=kafka-rest", $"topic={topic}", "status=200"));
        Assert.Equal(1, samples.Value("pinpipe_ingest_requests_total", "family=kinesis", $"topic={stream}", "status=200"));
        Assert.Equal(2, samples.Value("pinpipe_ingest_records_total", "family=kinesis", $"topic={stream}", "status=200"));
        Assert.Equal(Encoding.UTF8.GetByteCount(putRecords), samples.Value("pinpipe_ingest_request_bytes_total", "family=kinesis", $"topic={stream}", "status=200"));
        Assert.Equal(2, samples.Value("pinpipe_ingest_request_duration_seconds_count", "family=kafka-rest", $"topic={topic}"));
        Assert.Equal(2, samples.Value("pinpipe_ingest_request_duration_seconds_bucket", "family=kafka-rest", $"topic={topic}", "le=+Inf"));
        Assert.True(samples.Value("pinpipe_ingest_request_duration_seconds_sum", "family=kafka-rest", $"topic={topic}") > 0);

        // The log's gauges: every partition's end offset as the log has it, and the bytes it holds.
        var counts = await api.CountsAsync(topic);
        for (int p = 0; p < counts.Length; p++)
            Assert.Equal(counts[p], samples.Value("pinpipe_log_end_offset", $"topic={topic}", $"partition={p}"));
        Assert.Equal(6, samples.Find("pinpipe_log_end_offset", $"topic={topic}").Sum(s => s.Value));
        Assert.Equal(0, samples.Find("pinpipe_log_start_offset", $"topic={topic}").Sum(s => s.Value));
        Assert.True(samples.Find("pinpipe_log_bytes", $"topic={topic}").Sum(s => s.Value) >= 6 * """{"a":1}""".Length);
        Assert.Equal(2, samples.Value("pinpipe_log_end_offset", $"topic={stream}", "partition=0"));

        // Process metrics come along.
        Assert.True(samples.Value("process_cpu_seconds_total") > 0);
        Assert.True(samples.Value("process_working_set_bytes") > 0);
        // And the runtime's: the GC's pauses (one was forced above), the thread pool's threads and backlog.
        Assert.True(samples.Value("dotnet_gc_pause_seconds_total") > 0);
        Assert.True(samples.Value("dotnet_threadpool_threads") >= 1);
        Assert.True(samples.Value("dotnet_threadpool_queue_length") >= 0);
    }

    [Fact]
    public async Task A_request_to_a_topic_that_does_not_exist_counts_under_an_empty_topic_and_its_name_becomes_no_label()
    {
        string topic = Unique("m.pin"), invented = Unique("no-such-");
        await using var api = await IngestApiHarness.StartAsync(null, (topic, 1));
        var before = (await ScrapeAsync(api.Client)).Find("pinpipe_ingest_requests_total", "family=kafka-rest", "topic=", "status=404").Sum(s => s.Value);

        using (var posted = await api.PostAsync($"topics/{invented}", """{"records":[{"value":1}]}""")) Assert.Equal(HttpStatusCode.NotFound, posted.StatusCode);
        using (var bad = await api.PostAsync($"topics/{topic}", """{"records":[{"value":1}""")) Assert.Equal(HttpStatusCode.BadRequest, bad.StatusCode);

        var samples = await ScrapeAsync(api.Client);
        Assert.Equal(before + 1, samples.Value("pinpipe_ingest_requests_total", "family=kafka-rest", "topic=", "status=404"));
        Assert.DoesNotContain(samples, s => s.Labels.Values.Any(v => v.Contains(invented, StringComparison.Ordinal)));
        Assert.True(samples.Value("pinpipe_ingest_requests_total", "family=kafka-rest", "topic=", "status=400") >= 1);
        Assert.Empty(samples.Find("pinpipe_ingest_requests_total", $"topic={topic}"));
        // The metrics route counts itself under "other".
        Assert.True(samples.Find("pinpipe_ingest_requests_total", "family=other", "status=200").Sum(s => s.Value) >= 1);
    }

    [Fact]
    public async Task With_keys_metrics_need_a_key_and_refusals_are_counted_as_403_and_429_writing_nothing()
    {
        string topic = Unique("m.pin");
        using var dir = new TempDirectory("metrics-keys");
        var store = new KeyStore(dir.File("keys.json"));
        var (_, key) = await store.CreateAsync("scraper", KeyScope.Produce, null);
        var (_, slow) = await store.CreateAsync("slow", KeyScope.Produce, null, rateLimit: 1);
        await using var api = await IngestApiHarness.StartAsync(new IngestOptions { KeysFile = store.Path }, (topic, 1));

        using (var open = await api.Client.GetAsync("metrics")) Assert.Equal(HttpStatusCode.Forbidden, open.StatusCode);
        using (var refused = await api.PostAsync($"topics/{topic}", """{"records":[{"value":1}]}""")) Assert.Equal(HttpStatusCode.Forbidden, refused.StatusCode);
        var statuses = new List<HttpStatusCode>();
        for (int i = 0; i < 3; i++)
        {
            using var request = new HttpRequestMessage(HttpMethod.Post, $"topics/{topic}") { Content = new StringContent("""{"records":[{"value":1}]}""", Encoding.UTF8) };
            request.Content.Headers.ContentType = new System.Net.Http.Headers.MediaTypeHeaderValue(IngestApiHarness.JsonV2);
            request.Headers.Add("x-api-key", slow);
            using var response = await api.Client.SendAsync(request);
            statuses.Add(response.StatusCode);
        }

        var samples = await ScrapeAsync(api.Client, key);
        int throttled = statuses.Count(s => s == HttpStatusCode.TooManyRequests);
        Assert.True(throttled >= 1, string.Join(",", statuses));
        Assert.Equal(statuses.Count(s => s == HttpStatusCode.OK), samples.Value("pinpipe_ingest_records_total", "family=kafka-rest", $"topic={topic}", "status=200"));
        Assert.Equal(statuses.Count(s => s == HttpStatusCode.OK), samples.Value("pinpipe_log_end_offset", $"topic={topic}", "partition=0"));
        Assert.True(samples.Value("pinpipe_ingest_requests_total", "family=kafka-rest", "topic=", "status=429") >= throttled);
        Assert.True(samples.Value("pinpipe_ingest_requests_total", "family=kafka-rest", "topic=", "status=403") >= 1);
        Assert.True(samples.Value("pinpipe_ingest_requests_total", "family=other", "topic=", "status=403") >= 1);
    }

    [Fact]
    public async Task With_metrics_off_there_is_no_metrics_route_and_requests_are_not_counted()
    {
        string topic = Unique("m.pin");
        await using var api = await IngestApiHarness.StartAsync(new IngestOptions { Metrics = false }, (topic, 1));
        using (var posted = await api.PostAsync($"topics/{topic}", """{"records":[{"value":1}]}""")) Assert.Equal(HttpStatusCode.OK, posted.StatusCode);

        using var metrics = await api.Client.GetAsync("metrics");

        Assert.Equal(HttpStatusCode.NotFound, metrics.StatusCode);
        await using var other = await IngestApiHarness.StartAsync(null, (Unique("m.geo"), 1));
        var samples = await ScrapeAsync(other.Client);
        Assert.Empty(samples.Find("pinpipe_ingest_requests_total", $"topic={topic}"));
    }
}
