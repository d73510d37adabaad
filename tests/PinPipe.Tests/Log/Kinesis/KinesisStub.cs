using System.Text.Json;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;

namespace PinPipe.Tests.Log.Kinesis;

/// <summary>An answer of the stub: HTTP status and JSON body.</summary>
internal sealed record StubAnswer(int Status, string Json)
{
    /// <summary>A Kinesis error as Kinesis writes it.</summary>
    public static StubAnswer Error(int status, string type, string message) =>
        new(status, JsonSerializer.Serialize(new Dictionary<string, string> { ["__type"] = type, ["message"] = message }));
}

/// <summary>
/// A stand-in in front of kinesalite, on loopback, for what kinesalite does not do (throttle, answer 5xx, page ListShards,
/// expire an iterator on demand): each request's operation and body go to <c>intercept</c>, and its answer is sent when it
/// gives one; otherwise the request is forwarded to kinesalite as it came (its signature included) and kinesalite's answer
/// returned. Records every request's operation and Authorization header.
/// </summary>
internal sealed class KinesisStub : IAsyncDisposable
{
    private static readonly string[] ForwardedHeaders = ["X-Amz-Target", "X-Amz-Date", "Authorization"];
    private readonly WebApplication _app;
    private readonly HttpClient _upstream;
    private readonly List<(string Operation, string? Authorization, string Body)> _requests = [];

    private KinesisStub(WebApplication app, Uri? upstream)
    {
        _app = app;
        _upstream = new HttpClient { BaseAddress = upstream };
    }

    /// <summary>The stub's URL.</summary>
    public string Url { get; private set; } = "";

    /// <summary>The operations received so far, in order.</summary>
    public IReadOnlyList<string> Operations { get { lock (_requests) return _requests.Select(r => r.Operation).ToList(); } }

    /// <summary>Every request received so far: operation, Authorization header, body.</summary>
    public IReadOnlyList<(string Operation, string? Authorization, string Body)> Requests { get { lock (_requests) return [.. _requests]; } }

    public static async Task<KinesisStub> StartAsync(Uri? upstream, Func<string, JsonElement, StubAnswer?> intercept)
    {
        var builder = WebApplication.CreateSlimBuilder();
        builder.Logging.ClearProviders();
        builder.WebHost.UseUrls("http://127.0.0.1:0");
        var app = builder.Build();
        var stub = new KinesisStub(app, upstream);
        app.MapPost("/", async (HttpContext c) =>
        {
            using var reader = new StreamReader(c.Request.Body);
            string body = await reader.ReadToEndAsync();
            string target = c.Request.Headers["X-Amz-Target"].ToString();
            string operation = target[(target.IndexOf('.', StringComparison.Ordinal) + 1)..];
            lock (stub._requests) stub._requests.Add((operation, c.Request.Headers.Authorization.ToString(), body));
            using var doc = JsonDocument.Parse(body.Length == 0 ? "{}" : body);
            var answer = intercept(operation, doc.RootElement);
            if (answer is null && upstream is not null)
            {
                using var forward = new HttpRequestMessage(HttpMethod.Post, "/") { Content = new StringContent(body) };
                forward.Content.Headers.ContentType = new System.Net.Http.Headers.MediaTypeHeaderValue(c.Request.ContentType ?? "application/x-amz-json-1.1");
                foreach (var name in ForwardedHeaders)
                    forward.Headers.TryAddWithoutValidation(name, c.Request.Headers[name].ToString());
                using var response = await stub._upstream.SendAsync(forward);
                answer = new StubAnswer((int)response.StatusCode, await response.Content.ReadAsStringAsync());
            }
            answer ??= StubAnswer.Error(500, "InternalFailure", "the stub has no answer");
            c.Response.StatusCode = answer.Status;
            c.Response.ContentType = "application/x-amz-json-1.1";
            await c.Response.WriteAsync(answer.Json);
        });
        await app.StartAsync();
        stub.Url = app.Services.GetRequiredService<IServer>().Features.Get<IServerAddressesFeature>()!.Addresses.First();
        return stub;
    }

    public async ValueTask DisposeAsync()
    {
        _upstream.Dispose();
        await _app.StopAsync();
        await _app.DisposeAsync();
    }
}

/// <summary>The kinesalite the test command starts (<c>scripts/services/kinesalite.sh start</c>), and clients of it.</summary>
internal static class Kinesalite
{
    /// <summary>Keys for kinesalite, which takes any: never real ones.</summary>
    public static readonly PinPipe.Log.Kinesis.AwsKeys DummyKeys = new("AKIDKINESALITE", "kinesalite-secret");

    /// <summary>kinesalite's URL from TEST_PINPIPE_KINESIS; throws, saying how to start it, when it is not set.</summary>
    public static string Url => Environment.GetEnvironmentVariable("TEST_PINPIPE_KINESIS") is { Length: > 0 } url ? url
        : throw new InvalidOperationException(
            "TEST_PINPIPE_KINESIS is not set: run `scripts/services/kinesalite.sh start` and then " +
            "`source ${TEST_PINPIPE_SERVICES_DIR:-/tmp/pinpipe-services}/kinesis.env` before `dotnet test`.");

    /// <summary>A client of kinesalite (or of <paramref name="url"/>) with dummy keys and a short poll interval.</summary>
    public static PinPipe.Log.Kinesis.KinesisClient Client(string? url = null, TimeSpan? pollInterval = null) =>
        new(new PinPipe.Log.Kinesis.KinesisOptions { ServiceUrl = url ?? Url, Region = "us-east-1", PollInterval = pollInterval ?? TimeSpan.FromMilliseconds(20), RequestTimeout = TimeSpan.FromSeconds(5) },
            DummyKeys);

    /// <summary>A stream name no other test uses.</summary>
    public static string NewStream(string what) => $"pinpipe-test-{what}-{Guid.NewGuid():N}"[..Math.Min(60, 14 + what.Length + 32)];
}
