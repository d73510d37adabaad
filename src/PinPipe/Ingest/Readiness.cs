using System.Text.Json;
using Microsoft.AspNetCore.Http;
using PinPipe.Lake;
using PinPipe.Log;

namespace PinPipe.Ingest;

/// <summary>
/// <c>GET /readyz</c>: 200 when the log takes writes and the bucket is reachable, 503 otherwise; either way a JSON body
/// with one entry per check, <c>ok</c> or what is wrong (<c>{"status": "not ready", "checks": {"log": "ok", "bucket":
/// "..."}}</c>). <c>/healthz</c> only says that the process answers.
/// </summary>
internal static class Readiness
{
    /// <summary>How long each check may take before it counts as not ready: 5 s.</summary>
    internal static readonly TimeSpan CheckTimeout = TimeSpan.FromSeconds(5);

    public static async Task WriteAsync(HttpContext context, ILog log, IObjectStore? bucket)
    {
        string? logProblem = await ProbeAsync(log.CheckReadyAsync, context.RequestAborted).ConfigureAwait(false);
        string? bucketProblem = bucket is null
            ? null
            : await ProbeAsync(async token => { _ = await bucket.CheckBucketAsync(create: false, token).ConfigureAwait(false); return null; }, context.RequestAborted).ConfigureAwait(false);
        bool ready = logProblem is null && bucketProblem is null;

        var response = context.Response;
        response.StatusCode = ready ? StatusCodes.Status200OK : StatusCodes.Status503ServiceUnavailable;
        response.ContentType = "application/json";
        response.Headers.CacheControl = "no-store";
        using var body = new MemoryStream();
        using (var json = new Utf8JsonWriter(body))
        {
            json.WriteStartObject();
            json.WriteString("status", ready ? "ready" : "not ready");
            json.WriteStartObject("checks");
            json.WriteString("log", logProblem ?? "ok");
            json.WriteString("bucket", bucket is null ? "not checked (no bucket given)" : bucketProblem ?? "ok");
            json.WriteEndObject();
            json.WriteEndObject();
        }
        await response.Body.WriteAsync(body.GetBuffer().AsMemory(0, (int)body.Length), context.RequestAborted).ConfigureAwait(false);
    }

    /// <summary>Null when <paramref name="check"/> answers null within <see cref="CheckTimeout"/>; else what went wrong.</summary>
    private static async Task<string?> ProbeAsync(Func<CancellationToken, ValueTask<string?>> check, CancellationToken aborted)
    {
        using var timeout = CancellationTokenSource.CreateLinkedTokenSource(aborted);
        timeout.CancelAfter(CheckTimeout);
        try
        {
            return await check(timeout.Token).ConfigureAwait(false);
        }
        catch (OperationCanceledException) when (!aborted.IsCancellationRequested)
        {
            return $"no answer within {CheckTimeout.TotalSeconds:0} s";
        }
        catch (Exception ex) when (ex is not OperationCanceledException)
        {
            return ex.Message.ReplaceLineEndings(" ");
        }
    }
}
