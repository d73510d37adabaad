using System.Net.Http.Headers;
using System.Text;
using PinPipe.Hosting;
using PinPipe.Ingest.Keys;
using PinPipe.Tests.Support;

namespace PinPipe.Tests.Hosting.Web;

/// <summary>
/// A real <see cref="PipelineHost"/> serving the API and its dashboard on a free loopback port, its data in a temp folder;
/// with a key (auth on) unless asked for none.
/// </summary>
internal sealed class DashboardHarness : IAsyncDisposable
{
    public const string UserId = "dash";

    private readonly TempDirectory _dir;

    private DashboardHarness(TempDirectory dir, PipelineHost host, string? key)
    {
        _dir = dir;
        Host = host;
        Key = key;
    }

    public PipelineHost Host { get; }

    /// <summary>The secret of the key the harness made (produce scope, every topic), or null when auth is off.</summary>
    public string? Key { get; }

    public PinPipeSettings Settings => Host.Settings;

    public Uri Dashboard => Host.DashboardAddress!;

    public KeyStore Keys => new(Settings.Ingest.KeysFile!);

    public static async Task<DashboardHarness> StartAsync(bool withKey = true, HostParts parts = HostParts.Api, Func<PinPipeSettings, PinPipeSettings>? configure = null)
    {
        var dir = new TempDirectory("dashboard");
        try
        {
            var settings = new PinPipeSettings { DataDir = dir.Path, UserId = UserId, Ingest = new() { Urls = "http://127.0.0.1:0" } };
            settings = (configure?.Invoke(settings) ?? settings).Resolve();
            string? key = withKey ? (await new KeyStore(settings.Ingest.KeysFile!).CreateAsync("viewer", KeyScope.Produce, null)).Secret : null;
            var host = await PipelineHost.StartAsync(settings, parts);
            return new DashboardHarness(dir, host, key);
        }
        catch
        {
            dir.Dispose();
            throw;
        }
    }

    /// <summary>A client of the API that follows no redirect and keeps no cookie (each test sets what it sends).</summary>
    public HttpClient NewClient() =>
#pragma warning disable CA2000 // the client owns and disposes its handler
        new(new HttpClientHandler { AllowAutoRedirect = false, UseCookies = false, CheckCertificateRevocationList = true }) { BaseAddress = Host.Api!.BaseAddress };
#pragma warning restore CA2000

    /// <summary>Posts <paramref name="count"/> records to the batch lane's pin topic (Kafka REST) with the harness's key.</summary>
    public async Task PostBatchAsync(int count)
    {
        using var client = NewClient();
        var records = string.Join(",", Enumerable.Range(0, count).Select(i => $$$"""{"value":{"index":{{{i}}}}}"""));
        using var request = new HttpRequestMessage(HttpMethod.Post, $"topics/{Settings.Names.PinTopic}")
        {
            Content = new StringContent($$"""{"records":[{{records}}]}""", Encoding.UTF8),
        };
        request.Content.Headers.ContentType = MediaTypeHeaderValue.Parse("application/vnd.kafka.json.v2+json");
        if (Key is not null) request.Headers.Add("x-api-key", Key);
        using var response = await client.SendAsync(request);
        Assert.Equal(System.Net.HttpStatusCode.OK, response.StatusCode);
    }

    /// <summary>Puts <paramref name="count"/> records to the streaming lane's pin stream (Kinesis PutRecords) with the harness's key.</summary>
    public async Task PostStreamAsync(int count)
    {
        using var client = NewClient();
        var records = string.Join(",", Enumerable.Range(0, count).Select(i => $$$"""{"data":{"index":{{{i}}}},"partition-key":"p{{{i}}}"}"""));
        using var request = new HttpRequestMessage(HttpMethod.Put, $"streams/{Settings.Names.PinStream}/records")
        {
            Content = new StringContent($$"""{"records":[{{records}}]}""", Encoding.UTF8, "application/json"),
        };
        if (Key is not null) request.Headers.Add("x-api-key", Key);
        using var response = await client.SendAsync(request);
        Assert.Equal(System.Net.HttpStatusCode.OK, response.StatusCode);
    }

    public async ValueTask DisposeAsync()
    {
        await Host.DisposeAsync();
        _dir.Dispose();
    }
}
