using System.Net;
using PinPipe.Hosting;
using PinPipe.Ingest;
using PinPipe.Ingest.Keys;
using PinPipe.Observability;
using PinPipe.Tests.Support;

namespace PinPipe.Tests.Hosting;

/// <summary>
/// The <c>/metrics</c> endpoint of processes without the API (<c>Metrics:Urls</c>, <c>--metrics-urls</c>): off by default,
/// behind the same keys, refused beyond loopback with no key, a taken port and a bad URL named.
/// </summary>
public sealed class MetricsServerTests
{
    private static PinPipeSettings Settings(TempDirectory dir, string? urls, bool allowAnonymous = false) =>
        new PinPipeSettings { DataDir = dir.Path, UserId = "ms", Metrics = new MetricsOptions { Urls = urls }, Ingest = new IngestOptions { AllowAnonymous = allowAnonymous } }.Resolve();

    [Fact]
    public async Task Without_urls_nothing_is_served()
    {
        using var dir = new TempDirectory("metrics-server-off");
        Assert.Null(await MetricsServer.StartAsync(Settings(dir, null)));
    }

    [Fact]
    public async Task It_serves_the_process_metrics_and_healthz_and_with_keys_metrics_need_one()
    {
        using var dir = new TempDirectory("metrics-server");
        var settings = Settings(dir, "http://127.0.0.1:0");
        await using (var open = await MetricsServer.StartAsync(settings))
        {
            using var client = new HttpClient { BaseAddress = open!.Addresses[0] };
            using var metrics = await client.GetAsync("metrics");
            Assert.Equal(HttpStatusCode.OK, metrics.StatusCode);
            Assert.Equal(MetricsExport.ContentType, metrics.Content.Headers.ContentType?.ToString().Replace(" ", "", StringComparison.Ordinal).Replace(";", "; ", StringComparison.Ordinal));
            var samples = PrometheusText.Parse(await metrics.Content.ReadAsStringAsync());
            Assert.True(samples.Value("process_cpu_seconds_total") > 0);
            Assert.Contains("# TYPE pinpipe_sink_records_total counter", await (await client.GetAsync("metrics")).Content.ReadAsStringAsync(), StringComparison.Ordinal);
        }

        var (_, key) = await new KeyStore(settings.Ingest.KeysFile!).CreateAsync("scraper", KeyScope.Produce, null);
        await using var guarded = await MetricsServer.StartAsync(settings);
        using var keyless = new HttpClient { BaseAddress = guarded!.Addresses[0] };
        using (var refused = await keyless.GetAsync("metrics")) Assert.Equal(HttpStatusCode.Forbidden, refused.StatusCode);
        using (var health = await keyless.GetAsync("healthz")) Assert.Equal(HttpStatusCode.OK, health.StatusCode);
        using var keyed = new HttpClient { BaseAddress = guarded.Addresses[0] };
        keyed.DefaultRequestHeaders.Authorization = new System.Net.Http.Headers.AuthenticationHeaderValue("Bearer", key);
        using (var allowed = await keyed.GetAsync("metrics")) Assert.Equal(HttpStatusCode.OK, allowed.StatusCode);
    }

    [Fact]
    public async Task Beyond_loopback_with_no_key_it_does_not_start_unless_anonymous_is_allowed()
    {
        using var dir = new TempDirectory("metrics-server-wide");
        var refused = await Assert.ThrowsAsync<IngestException>(() => MetricsServer.StartAsync(Settings(dir, "http://0.0.0.0:0")));
        Assert.Equal("ingest.no_keys", refused.ErrorCode);
        await using var anonymous = await MetricsServer.StartAsync(Settings(dir, "http://0.0.0.0:0", allowAnonymous: true));
        Assert.NotNull(anonymous);
    }

    [Fact]
    public async Task A_port_in_use_is_named_with_the_flag()
    {
        using var dir = new TempDirectory("metrics-server-taken");
        await using var first = await MetricsServer.StartAsync(Settings(dir, "http://127.0.0.1:0"));
        string taken = $"http://127.0.0.1:{first!.Addresses[0].Port}";
        var error = await Assert.ThrowsAsync<IngestException>(() => MetricsServer.StartAsync(Settings(dir, taken)));
        Assert.Equal("ingest.address_in_use", error.ErrorCode);
        Assert.Contains("--metrics-urls", error.Message, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("ftp://127.0.0.1:9464")]
    [InlineData("http://127.0.0.1:9464/prefix")]
    [InlineData("https://127.0.0.1:9464")]
    [InlineData(";")]
    public void A_bad_url_is_a_settings_problem_naming_the_key(string urls)
    {
        var problems = new MetricsOptions { Urls = urls }.Validate();
        Assert.Contains(problems, p => p.StartsWith("Metrics:Urls:", StringComparison.Ordinal));
    }

    [Fact]
    public async Task The_cli_refuses_a_bad_metrics_url_with_exit_2_naming_it()
    {
        using var dir = new TempDirectory("metrics-server-cli");
        var (code, output) = await CliProcess.RunAsync(dir.Path, TimeSpan.FromSeconds(60), "sink", "--data-dir", dir.Path, "--metrics-urls", "ftp://127.0.0.1:1");
        Assert.Equal(2, code);
        Assert.Contains("Metrics:Urls: 'ftp://127.0.0.1:1' must be an absolute http:// URL", output, StringComparison.Ordinal);
    }
}
