using System.Net.Http.Headers;
using System.Text;
using PinPipe.Ingest;
using PinPipe.Log;
using PinPipe.Tests.Support;

namespace PinPipe.Tests.Ingest;

/// <summary>A real ingest API on a loopback port over a real embedded log in a temp folder.</summary>
internal sealed class IngestApiHarness : IAsyncDisposable
{
    public const string JsonV2 = "application/vnd.kafka.json.v2+json";
    public const string BinaryV2 = "application/vnd.kafka.binary.v2+json";

    private readonly TempDirectory _dir;

    private IngestApiHarness(TempDirectory dir, ILog log, IngestServer server)
    {
        _dir = dir;
        Log = log;
        Server = server;
        Client = new HttpClient { BaseAddress = server.BaseAddress };
    }

    public ILog Log { get; }
    public IngestServer Server { get; }
    public HttpClient Client { get; }

    public static Task<IngestApiHarness> StartAsync(IngestOptions? options = null, params (string Topic, int Partitions)[] topics) =>
        StartAsync(null, options, topics);

    /// <summary>As <see cref="StartAsync(IngestOptions?, ValueTuple{string, int}[])"/>, with the log's settings changed by <paramref name="configureLog"/>.</summary>
    public static Task<IngestApiHarness> StartAsync(Func<LogOptions, LogOptions>? configureLog, IngestOptions? options = null, params (string Topic, int Partitions)[] topics) =>
        StartAsync(configureLog, options, null, topics);

    /// <summary>As <see cref="StartAsync(Func{LogOptions, LogOptions}?, IngestOptions?, ValueTuple{string, int}[])"/>, the server logging to <paramref name="loggerFactory"/>.</summary>
    public static async Task<IngestApiHarness> StartAsync(Func<LogOptions, LogOptions>? configureLog, IngestOptions? options, Microsoft.Extensions.Logging.ILoggerFactory? loggerFactory, params (string Topic, int Partitions)[] topics)
    {
        var dir = new TempDirectory("ingest");
        var logOptions = new LogOptions { Path = dir.File("log.db") };
        var log = await LogFactory.OpenAsync(configureLog?.Invoke(logOptions) ?? logOptions);
        foreach (var (topic, partitions) in topics.Length == 0 ? [("t.pin", 1), ("t.geo", 3)] : topics)
            await log.CreateTopicAsync(topic, partitions);
        // A free loopback port unless the test chose where to listen.
        options ??= new IngestOptions();
        if (options.Urls == IngestOptions.Default.Urls) options = options with { Urls = "http://127.0.0.1:0" };
        var server = await IngestServer.StartAsync(options, log, loggerFactory);
        return new IngestApiHarness(dir, log, server);
    }

    public async Task<HttpResponseMessage> PostAsync(string path, string body, string? contentType = JsonV2)
    {
        using var content = new ByteArrayContent(Encoding.UTF8.GetBytes(body));
        if (contentType is not null) content.Headers.ContentType = MediaTypeHeaderValue.Parse(contentType);
        return await Client.PostAsync(path.TrimStart('/'), content);
    }

    /// <summary>Sends <paramref name="body"/> (as <c>application/json</c>) with <paramref name="method"/>.</summary>
    public async Task<HttpResponseMessage> SendAsync(HttpMethod method, string path, string? body = null)
    {
        using var request = new HttpRequestMessage(method, path.TrimStart('/'));
        if (body is not null) request.Content = new StringContent(body, Encoding.UTF8, "application/json");
        return await Client.SendAsync(request);
    }

    /// <summary>Records of each partition of the topic (high − low watermark).</summary>
    public async Task<long[]> CountsAsync(string topic)
    {
        var description = await Log.DescribeTopicAsync(topic) ?? throw new InvalidOperationException(topic);
        var counts = new long[description.Partitions];
        for (int p = 0; p < counts.Length; p++)
        {
            var w = await Log.GetWatermarksAsync(topic, p);
            counts[p] = w.High - w.Low;
        }
        return counts;
    }

    /// <summary>Every record of every partition of the topic, as UTF-8 text of the value.</summary>
    public async Task<List<ConsumedRecord>> ReadAllAsync(string topic)
    {
        var description = await Log.DescribeTopicAsync(topic) ?? throw new InvalidOperationException(topic);
        var all = new List<ConsumedRecord>();
        for (int p = 0; p < description.Partitions; p++)
            all.AddRange(await Log.ReadAsync(topic, p, 0, int.MaxValue));
        return all;
    }

    public async Task<long> TotalRecordsAsync()
    {
        long total = 0;
        foreach (var t in await Log.ListTopicsAsync())
            for (int p = 0; p < t.Partitions; p++)
            {
                var w = await Log.GetWatermarksAsync(t.Name, p);
                total += w.High - w.Low;
            }
        return total;
    }

    private int _disposed;

    /// <summary>Stops the server and closes the log; a second call does nothing (a test may stop it early to read what it logged).</summary>
    public async ValueTask DisposeAsync()
    {
        if (Interlocked.Exchange(ref _disposed, 1) != 0) return;
        Client.Dispose();
        await Server.DisposeAsync();
        await Log.DisposeAsync();
        _dir.Dispose();
    }
}
