using System.Collections.Concurrent;
using System.Net;
using Amazon.Runtime;
using Amazon.S3;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Http.Features;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using PinPipe.Lake;
using PinPipe.Lake.S3;

namespace PinPipe.Tests.Support;

/// <summary>
/// An HTTP proxy on loopback in front of s3rver that stands in for S3's conditional writes: s3rver 3.7 ignores
/// <c>If-None-Match: *</c> on PutObject (it overwrites), AWS S3 answers <c>412 Precondition Failed</c> when the key
/// exists. The proxy forwards every request unchanged (the Host header included, so the client's SigV4 signature still
/// holds), except that it serializes the requests of each key (s3rver writes an object in place, so a read during a
/// write could see a part; S3's writes are atomic) and, for a PUT with <c>If-None-Match: *</c>, looks the key up first
/// and answers 412 with S3's XML error body when it exists: the check and the put are one atomic step, as in S3.
/// Path-style addressing only (<c>/bucket/key</c>); bucket requests (listings) are forwarded without a lock.
/// </summary>
public sealed class ConditionalPutProxy : IAsyncDisposable
{
    private readonly WebApplication _app;
    private readonly HttpClient _http;
    private readonly AmazonS3Client _s3;
    private readonly Uri _target;
    private readonly ConcurrentDictionary<string, SemaphoreSlim> _keys = new(StringComparer.Ordinal);
    private int _refused;
    private int _conditionalPuts;

    private ConditionalPutProxy(WebApplication app, Uri target, AWSCredentials credentials)
    {
        _app = app;
        _target = target;
        _http = new HttpClient { Timeout = TimeSpan.FromMinutes(2) }; // S3 answers neither redirects nor cookies here
        _s3 = new AmazonS3Client(credentials, S3ObjectStore.CreateConfig(new ObjectStoreOptions { Kind = ObjectStoreKind.S3, ServiceUrl = target.ToString(), ForcePathStyle = true }));
        app.Run(HandleAsync);
    }

    /// <summary>Starts a proxy in front of the server at <paramref name="target"/> (<c>http://127.0.0.1:14568</c>), which it asks with <paramref name="credentials"/> whether a key exists.</summary>
    public static async Task<ConditionalPutProxy> StartAsync(Uri target, AWSCredentials credentials)
    {
        var builder = WebApplication.CreateSlimBuilder();
        builder.Logging.ClearProviders();
        builder.WebHost.UseUrls("http://127.0.0.1:0");
        builder.WebHost.ConfigureKestrel(k => k.Limits.MaxRequestBodySize = null);
        var proxy = new ConditionalPutProxy(builder.Build(), target, credentials);
        await proxy._app.StartAsync();
        return proxy;
    }

    /// <summary>The proxy's URL (<c>http://127.0.0.1:port</c>), to use as <see cref="ObjectStoreOptions.ServiceUrl"/>.</summary>
    public string Url => _app.Services.GetRequiredService<IServer>().Features.GetRequiredFeature<IServerAddressesFeature>().Addresses.First().TrimEnd('/');

    /// <summary>PUTs with <c>If-None-Match: *</c> seen so far.</summary>
    public int ConditionalPuts => Volatile.Read(ref _conditionalPuts);

    /// <summary>Conditional PUTs answered 412 because the key existed.</summary>
    public int Refused => Volatile.Read(ref _refused);

    private async Task HandleAsync(HttpContext context)
    {
        var request = context.Request;
        string rawTarget = context.Features.GetRequiredFeature<IHttpRequestFeature>().RawTarget;
        string? objectKey = ObjectOf(request.Path);
        if (objectKey is null)
        {
            await ForwardAsync(context, rawTarget);
            return;
        }
        var gate = _keys.GetOrAdd(objectKey, _ => new SemaphoreSlim(1, 1));
        await gate.WaitAsync(context.RequestAborted);
        try
        {
            if (HttpMethods.IsPut(request.Method) && request.Headers.IfNoneMatch.ToString().Trim() == "*")
            {
                Interlocked.Increment(ref _conditionalPuts);
                int slash = objectKey.IndexOf('/', StringComparison.Ordinal);
                if (await ExistsAsync(objectKey[..slash], objectKey[(slash + 1)..], context.RequestAborted))
                {
                    Interlocked.Increment(ref _refused);
                    await request.Body.CopyToAsync(Stream.Null, context.RequestAborted); // read the body, as a server that answers after it
                    await PreconditionFailedAsync(context, objectKey[(slash + 1)..]);
                    return;
                }
            }
            await ForwardAsync(context, rawTarget);
        }
        finally
        {
            gate.Release();
        }
    }

    /// <summary><c>bucket/key</c> of a path-style object path (<c>/bucket/a/b.json</c>), or null for a bucket's path.</summary>
    private static string? ObjectOf(PathString path)
    {
        string decoded = Uri.UnescapeDataString(path.Value ?? "").TrimStart('/');
        int slash = decoded.IndexOf('/', StringComparison.Ordinal);
        return slash > 0 && slash < decoded.Length - 1 ? decoded : null;
    }

    private async Task<bool> ExistsAsync(string bucket, string key, CancellationToken cancellationToken)
    {
        try
        {
            await _s3.GetObjectMetadataAsync(bucket, key, cancellationToken);
            return true;
        }
        catch (AmazonS3Exception e) when (e.StatusCode == HttpStatusCode.NotFound)
        {
            return false;
        }
    }

    /// <summary>S3's answer to a conditional write whose key exists.</summary>
    private static async Task PreconditionFailedAsync(HttpContext context, string key)
    {
        string requestId = Guid.NewGuid().ToString("N")[..16].ToUpperInvariant();
        context.Response.StatusCode = StatusCodes.Status412PreconditionFailed;
        context.Response.ContentType = "application/xml";
        context.Response.Headers["x-amz-request-id"] = requestId;
        await context.Response.WriteAsync(
            "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<Error><Code>PreconditionFailed</Code>"
            + "<Message>At least one of the pre-conditions you specified did not hold</Message><Condition>If-None-Match</Condition>"
            + $"<Key>{System.Security.SecurityElement.Escape(key)}</Key><RequestId>{requestId}</RequestId><HostId>conditional-put-proxy</HostId></Error>",
            context.RequestAborted);
    }

    private static readonly HashSet<string> HopByHop = new(StringComparer.OrdinalIgnoreCase)
    {
        "Host", "Connection", "Keep-Alive", "Transfer-Encoding", "Expect", "Upgrade", "Proxy-Connection", "TE", "Trailer",
    };

    /// <summary>Sends the request to the server as it came (same target, headers and body) and the answer back as it came.</summary>
    private async Task ForwardAsync(HttpContext context, string rawTarget)
    {
        var request = context.Request;
        using var forward = new HttpRequestMessage(new HttpMethod(request.Method), new Uri(_target, rawTarget));
        forward.Headers.Host = request.Headers.Host.ToString();
        bool hasBody = request.ContentLength > 0 || request.Headers.TransferEncoding.Count > 0;
        if (hasBody || request.ContentLength == 0 && !HttpMethods.IsGet(request.Method) && !HttpMethods.IsHead(request.Method))
            forward.Content = new StreamContent(request.Body);
        foreach (var (name, values) in request.Headers)
        {
            if (HopByHop.Contains(name)) continue;
            if (!forward.Headers.TryAddWithoutValidation(name, values.ToArray()))
                forward.Content?.Headers.TryAddWithoutValidation(name, values.ToArray());
        }
        using var response = await _http.SendAsync(forward, HttpCompletionOption.ResponseHeadersRead, context.RequestAborted);
        context.Response.StatusCode = (int)response.StatusCode;
        foreach (var (name, values) in response.Headers.Concat(response.Content.Headers))
        {
            if (HopByHop.Contains(name)) continue;
            context.Response.Headers[name] = values.ToArray();
        }
        if (HttpMethods.IsHead(request.Method)) return;
        await using var body = await response.Content.ReadAsStreamAsync(context.RequestAborted);
        await body.CopyToAsync(context.Response.Body, context.RequestAborted);
    }

    public async ValueTask DisposeAsync()
    {
        await _app.StopAsync();
        await _app.DisposeAsync();
        _http.Dispose();
        _s3.Dispose();
        foreach (var gate in _keys.Values) gate.Dispose();
    }
}
