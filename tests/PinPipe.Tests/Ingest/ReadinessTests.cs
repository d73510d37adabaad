using System.Net;
using System.Net.Sockets;
using System.Text.Json;
using Amazon.Runtime;
using PinPipe.Hosting;
using PinPipe.Ingest;
using PinPipe.Lake;
using PinPipe.Lake.Directory;
using PinPipe.Lake.S3;
using PinPipe.Log;
using PinPipe.Tests.Support;

namespace PinPipe.Tests.Ingest;

/// <summary><c>GET /readyz</c>: 200 while the log takes writes and the bucket is reachable, 503 naming what is wrong.</summary>
public sealed class ReadinessTests
{
    private static async Task<(HttpStatusCode Status, JsonElement Body)> ReadyzAsync(Uri baseAddress)
    {
        using var client = new HttpClient { BaseAddress = baseAddress };
        using var response = await client.GetAsync("readyz");
        Assert.Equal("application/json", response.Content.Headers.ContentType?.MediaType);
        using var doc = JsonDocument.Parse(await response.Content.ReadAsStringAsync());
        return (response.StatusCode, doc.RootElement.Clone());
    }

    private static async Task<(TempDirectory Dir, ILog Log)> OpenLogAsync()
    {
        var dir = new TempDirectory("readyz");
        return (dir, await LogFactory.OpenAsync(new LogOptions { Path = dir.File("log.db") }));
    }

    [Fact]
    public async Task Serve_is_ready_when_its_log_takes_writes_and_its_bucket_is_there()
    {
        using var dir = new TempDirectory("readyz-serve");
        var settings = new PinPipeSettings { DataDir = dir.Path, UserId = "rdy", Ingest = new() { Urls = "http://127.0.0.1:0" } }.Resolve();
        await using var host = await PipelineHost.StartAsync(settings, HostParts.Api);

        var (status, body) = await ReadyzAsync(host.Api!.BaseAddress);

        Assert.Equal(HttpStatusCode.OK, status);
        Assert.Equal("ready", body.GetProperty("status").GetString());
        Assert.Equal("ok", body.GetProperty("checks").GetProperty("log").GetString());
        Assert.Equal("ok", body.GetProperty("checks").GetProperty("bucket").GetString());
    }

    [Fact]
    public async Task An_unreachable_bucket_answers_503_naming_it_while_healthz_stays_200()
    {
        var (dir, log) = await OpenLogAsync();
        using var _ = dir;
        await using var __ = log;
        int closedPort;
        using (var listener = new TcpListener(IPAddress.Loopback, 0))
        {
            listener.Start();
            closedPort = ((IPEndPoint)listener.LocalEndpoint).Port;
        }
        using var store = new S3ObjectStore(
            new ObjectStoreOptions { Kind = ObjectStoreKind.S3, ServiceUrl = $"http://127.0.0.1:{closedPort}", ForcePathStyle = true },
            "ready-bucket", new BasicAWSCredentials("test", "test"));
        await using var api = await IngestServer.StartAsync(new IngestOptions { Urls = "http://127.0.0.1:0" }, log, TopicConsumers.None, store);

        var (status, body) = await ReadyzAsync(api.BaseAddress);

        Assert.Equal(HttpStatusCode.ServiceUnavailable, status);
        Assert.Equal("not ready", body.GetProperty("status").GetString());
        Assert.Equal("ok", body.GetProperty("checks").GetProperty("log").GetString());
        string bucket = body.GetProperty("checks").GetProperty("bucket").GetString()!;
        Assert.NotEqual("ok", bucket);
        Assert.False(string.IsNullOrWhiteSpace(bucket));
        using var client = new HttpClient { BaseAddress = api.BaseAddress };
        using var health = await client.GetAsync("healthz");
        Assert.Equal(HttpStatusCode.OK, health.StatusCode);
    }

    [Fact]
    public async Task A_closed_log_answers_503_saying_so()
    {
        var (dir, log) = await OpenLogAsync();
        using var _ = dir;
        var store = new DirectoryObjectStore(dir.File("buckets"), "b");
        await using var api = await IngestServer.StartAsync(new IngestOptions { Urls = "http://127.0.0.1:0" }, log, TopicConsumers.None, store);
        Assert.Equal(HttpStatusCode.OK, (await ReadyzAsync(api.BaseAddress)).Status);

        await log.DisposeAsync();
        var (status, body) = await ReadyzAsync(api.BaseAddress);

        Assert.Equal(HttpStatusCode.ServiceUnavailable, status);
        Assert.Contains("closed", body.GetProperty("checks").GetProperty("log").GetString(), StringComparison.Ordinal);
        Assert.Equal("ok", body.GetProperty("checks").GetProperty("bucket").GetString());
    }

    [Fact]
    public async Task Without_a_bucket_only_the_log_is_checked()
    {
        var (dir, log) = await OpenLogAsync();
        using var _ = dir;
        await using var __ = log;
        await using var api = await IngestServer.StartAsync(new IngestOptions { Urls = "http://127.0.0.1:0" }, log);

        var (status, body) = await ReadyzAsync(api.BaseAddress);

        Assert.Equal(HttpStatusCode.OK, status);
        Assert.StartsWith("not checked", body.GetProperty("checks").GetProperty("bucket").GetString(), StringComparison.Ordinal);
    }
}
