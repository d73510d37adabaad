using System.Net.Http.Headers;
using System.Text;
using PinPipe.Hosting;
using PinPipe.Ingest.Keys;
using PinPipe.Tests.Support;

namespace PinPipe.Tests.Observability;

/// <summary>
/// A real Prometheus scrapes PinPipe: the API's <c>/metrics</c> (in this process) and <c>pinpipe sink</c> and <c>pinpipe stream</c> processes' own
/// (<c>--metrics-urls</c>), both behind the API keys, with the key as a bearer credential; the test reads PinPipe's
/// metrics back through Prometheus's query API and gets the values the pipeline's state says.
/// </summary>
public sealed class PrometheusScrapeTests
{
    private static readonly TimeSpan Timeout = TimeSpan.FromSeconds(60);

    [Fact]
    public async Task Prometheus_scrapes_the_api_a_sink_process_and_a_stream_process_and_reads_the_records_posted_landed_and_the_lags_gone()
    {
        using var dir = new TempDirectory("prometheus-scrape");
        string user = $"prom{Guid.NewGuid():N}"[..12];
        string dataDir = Path.Combine(dir.Path, ".pinpipe");
        var settings = new PinPipeSettings { DataDir = dataDir, UserId = user, Ingest = new() { Urls = "http://127.0.0.1:0" } }.Resolve();
        var (_, key) = await new KeyStore(settings.Ingest.KeysFile!).CreateAsync("prometheus", KeyScope.Produce, null);
        await using var host = await PipelineHost.StartAsync(settings, HostParts.Api);
        string pin = settings.Names.PinTopic;

        int sinkPort = CliProcess.FreePort();
        await using var sink = CliProcess.Start(dir.Path, "sink", "--data-dir", dataDir, "--user-id", user, "--flush-size", "5", "--rotate-interval", "1s",
            "--metrics-urls", $"http://127.0.0.1:{sinkPort}");
        await sink.WaitHealthyAsync(new Uri($"http://127.0.0.1:{sinkPort}/healthz"), Timeout);
        int streamPort = CliProcess.FreePort();
        await using var streamJob = CliProcess.Start(dir.Path, "stream", "--data-dir", dataDir, "--user-id", user, "--trigger", "100ms",
            "--metrics-urls", $"http://127.0.0.1:{streamPort}");
        await streamJob.WaitHealthyAsync(new Uri($"http://127.0.0.1:{streamPort}/healthz"), Timeout);

        using var client = new HttpClient { BaseAddress = host.Api!.BaseAddress };
        client.DefaultRequestHeaders.Add("x-api-key", key);
        for (int i = 0; i < 3; i++)
        {
            var body = "{\"records\":[" + string.Join(",", Enumerable.Range(0, 4).Select(n => $"{{\"value\":{{\"index\":{i * 4 + n}}}}}")) + "]}";
            using var content = new StringContent(body, Encoding.UTF8);
            content.Headers.ContentType = new MediaTypeHeaderValue("application/vnd.kafka.json.v2+json");
            using var posted = await client.PostAsync($"topics/{pin}", content);
            Assert.True(posted.IsSuccessStatusCode, await posted.Content.ReadAsStringAsync());
        }

        // Five records on the pin stream (Kinesis PutRecords): the stream job commits each as a clean row, a duplicate or a reject.
        string stream = settings.Names.Streams[0];
        var putRecords = "{\"records\":[" + string.Join(",", Enumerable.Range(0, 5).Select(n => $"{{\"data\":{{\"index\":{n},\"title\":\"t{n}\"}},\"partition-key\":\"k{n}\"}}")) + "]}";
        using (var records = new StringContent(putRecords, Encoding.UTF8, "application/json"))
        using (var put = await client.PutAsync($"streams/{stream}/records", records))
            Assert.True(put.IsSuccessStatusCode, await put.Content.ReadAsStringAsync());

        string api = host.Api.BaseAddress.Authority;
        await using var prometheus = await PrometheusServer.StartAsync([api, $"127.0.0.1:{sinkPort}", $"127.0.0.1:{streamPort}"], key);

        await prometheus.WaitForValueAsync($"pinpipe_ingest_records_total{{family=\"kafka-rest\",topic=\"{pin}\",status=\"200\"}}", 12);
        await prometheus.WaitForValueAsync($"pinpipe_ingest_requests_total{{family=\"kafka-rest\",topic=\"{pin}\",status=\"200\"}}", 3);
        await prometheus.WaitForValueAsync($"sum(pinpipe_log_end_offset{{topic=\"{pin}\"}})", 12);
        await prometheus.WaitForValueAsync($"pinpipe_ingest_request_duration_seconds_count{{family=\"kafka-rest\",topic=\"{pin}\"}}", 3);
        // From the sink process: every record landed, committed, nothing left behind.
        await prometheus.WaitForValueAsync($"pinpipe_sink_records_total{{topic=\"{pin}\",instance=\"127.0.0.1:{sinkPort}\"}}", 12);
        await prometheus.WaitForValueAsync($"sum(pinpipe_sink_committed_offset{{topic=\"{pin}\"}})", 12);
        await prometheus.WaitForValueAsync($"sum(pinpipe_sink_lag{{topic=\"{pin}\"}})", 0);
        // At least 3 objects (12 records, flush size 5), each flush timed once.
        await prometheus.WaitForValueAsync($"sum(pinpipe_sink_objects_total{{topic=\"{pin}\"}}) >= bool 3", 1);
        await prometheus.WaitForValueAsync($"sum(pinpipe_sink_objects_total{{topic=\"{pin}\"}}) - sum(pinpipe_sink_flush_duration_seconds_count{{topic=\"{pin}\"}})", 0);
        // From the stream job's process: the five records committed, no lag, each micro-batch timed.
        string table = $"{user}_pin_table";
        await prometheus.WaitForValueAsync($"sum(pinpipe_stream_rows_total{{table=\"{table}\",instance=\"127.0.0.1:{streamPort}\"}})", 5);
        await prometheus.WaitForValueAsync($"sum(pinpipe_stream_lag{{stream=\"{stream}\"}})", 0);
        await prometheus.WaitForValueAsync($"sum(pinpipe_stream_batch_records_sum{{table=\"{table}\"}})", 5);
        await prometheus.WaitForValueAsync($"pinpipe_ingest_records_total{{family=\"kinesis\",topic=\"{stream}\",status=\"200\"}}", 5);
        var up = await prometheus.TargetsUpAsync();
        Assert.Equal(1, up[api]);
        Assert.Equal(1, up[$"127.0.0.1:{sinkPort}"]);
        Assert.Equal(1, up[$"127.0.0.1:{streamPort}"]);
        Assert.True(await streamJob.InterruptAsync(Timeout) == 0, streamJob.Output);
        Assert.True(await sink.InterruptAsync(Timeout) == 0, sink.Output);
        Assert.Contains($"Metrics at http://127.0.0.1:{sinkPort}/metrics", sink.Output, StringComparison.Ordinal);
    }

    [Fact]
    public async Task A_scrape_without_the_key_is_refused_and_prometheus_shows_the_target_down()
    {
        using var dir = new TempDirectory("prometheus-nokey");
        var settings = new PinPipeSettings { DataDir = dir.Path, UserId = "promnokey", Ingest = new() { Urls = "http://127.0.0.1:0" } }.Resolve();
        await new KeyStore(settings.Ingest.KeysFile!).CreateAsync("someone", KeyScope.Produce, null);
        await using var host = await PipelineHost.StartAsync(settings, HostParts.Api);
        string api = host.Api!.BaseAddress.Authority;

        await using var prometheus = await PrometheusServer.StartAsync([api], bearerKey: null);

        await prometheus.WaitForValueAsync($"up{{instance=\"{api}\"}}", 0);
        await prometheus.WaitForValueAsync($"count(pinpipe_ingest_requests_total{{instance=\"{api}\"}}) or vector(0)", 0);
    }
}
