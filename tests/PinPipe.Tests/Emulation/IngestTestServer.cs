using System.Collections.Concurrent;
using System.Text;
using System.Text.Json;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;

namespace PinPipe.Tests.Emulation;

/// <summary>A request the test server received.</summary>
public sealed record ReceivedRequest(int Number, string Method, string Path, string? ContentType, string? Accept, string Body)
{
    /// <summary>The records of a batch body (<c>records</c>) or one for a PutRecord body.</summary>
    public int RecordCount
    {
        get
        {
            using var doc = JsonDocument.Parse(Body);
            return doc.RootElement.TryGetProperty("records", out var r) ? r.GetArrayLength() : 1;
        }
    }
}

/// <summary>How the server answers one request, with <c>Retry-After</c> when <see cref="RetryAfterSeconds"/> is set; <see cref="Drop"/> aborts the connection instead.</summary>
public sealed record Reply(int Status, string Body, bool Drop = false, int? RetryAfterSeconds = null)
{
    public static Reply Dropped { get; } = new(0, "", Drop: true);
}

/// <summary>
/// A real Kestrel server on 127.0.0.1 (random port) with the produce routes of SPEC §6: Kafka REST
/// <c>POST …/topics/{topic}</c> and the Kinesis proxy's <c>PUT …/streams/{stream}/record(s)</c>, under any
/// path base. It records every request and answers like the ingest API unless <c>respond</c> says otherwise.
/// </summary>
public sealed class IngestTestServer : IAsyncDisposable
{
    private readonly WebApplication _app;
    private readonly Func<ReceivedRequest, Reply?> _respond;
    private readonly Func<ReceivedRequest, Task>? _hold;
    private readonly ConcurrentQueue<ReceivedRequest> _requests = new();
    private int _count;
    private long _offset;

    private IngestTestServer(WebApplication app, Func<ReceivedRequest, Reply?> respond, Func<ReceivedRequest, Task>? hold)
    {
        _app = app;
        _respond = respond;
        _hold = hold;
    }

    public string BaseUrl { get; private set; } = "";

    public IReadOnlyList<ReceivedRequest> Requests => [.. _requests.OrderBy(r => r.Number)];

    /// <param name="respond">Answers a request; null from it (or no function): the normal answer.</param>
    /// <param name="hold">Awaited once a request is received, before it is answered (none: answered at once).</param>
    public static async Task<IngestTestServer> StartAsync(Func<ReceivedRequest, Reply?>? respond = null, Func<ReceivedRequest, Task>? hold = null)
    {
        var builder = WebApplication.CreateSlimBuilder();
        builder.Logging.ClearProviders();
        var app = builder.Build();
        app.Urls.Add("http://127.0.0.1:0");
        var server = new IngestTestServer(app, respond ?? (_ => null), hold);
        app.Run(server.HandleAsync);
        await app.StartAsync();
        var address = app.Services.GetRequiredService<IServer>().Features.Get<IServerAddressesFeature>()!.Addresses.Single();
        server.BaseUrl = address.TrimEnd('/');
        return server;
    }

    private async Task HandleAsync(HttpContext context)
    {
        using var reader = new StreamReader(context.Request.Body, Encoding.UTF8);
        var body = await reader.ReadToEndAsync(context.RequestAborted);
        var request = new ReceivedRequest(
            Interlocked.Increment(ref _count), context.Request.Method, context.Request.Path.Value ?? "",
            context.Request.ContentType, context.Request.Headers.Accept.ToString(), body);
        _requests.Enqueue(request);
        if (_hold is not null) await _hold(request);

        var reply = _respond(request) ?? Normal(request);
        if (reply.Drop)
        {
            context.Abort();
            return;
        }

        context.Response.StatusCode = reply.Status;
        if (reply.RetryAfterSeconds is int seconds) context.Response.Headers.RetryAfter = seconds.ToString(System.Globalization.CultureInfo.InvariantCulture);
        context.Response.ContentType = request.Path.Contains("/topics/", StringComparison.Ordinal) ? "application/vnd.kafka.v2+json" : "application/json";
        await context.Response.WriteAsync(reply.Body, context.RequestAborted);
    }

    /// <summary>The ingest API's success answer for <paramref name="request"/>.</summary>
    public Reply Normal(ReceivedRequest request)
    {
        var segments = request.Path.Split('/', StringSplitOptions.RemoveEmptyEntries);
        if (request.Method == "POST" && segments.Length >= 2 && segments[^2] == "topics")
        {
            var offsets = string.Join(",", Enumerable.Range(0, request.RecordCount).Select(_ =>
                $"{{\"partition\":0,\"offset\":{Interlocked.Increment(ref _offset) - 1},\"error_code\":null,\"error\":null}}"));
            return new Reply(200, $"{{\"key_schema_id\":null,\"value_schema_id\":null,\"offsets\":[{offsets}]}}");
        }

        if (request.Method == "PUT" && segments.Length >= 3 && segments[^3] == "streams" && segments[^1] == "record")
        {
            return new Reply(200, $"{{\"SequenceNumber\":\"{Interlocked.Increment(ref _offset)}\",\"ShardId\":\"shardId-000000000000\"}}");
        }

        if (request.Method == "PUT" && segments.Length >= 3 && segments[^3] == "streams" && segments[^1] == "records")
        {
            var results = string.Join(",", Enumerable.Range(0, request.RecordCount).Select(_ =>
                $"{{\"SequenceNumber\":\"{Interlocked.Increment(ref _offset)}\",\"ShardId\":\"shardId-000000000000\"}}"));
            return new Reply(200, $"{{\"FailedRecordCount\":0,\"Records\":[{results}]}}");
        }

        return new Reply(404, "{\"error_code\":404,\"message\":\"HTTP 404 Not Found\"}");
    }

    public async ValueTask DisposeAsync()
    {
        await _app.StopAsync();
        await _app.DisposeAsync();
    }
}
