using Microsoft.AspNetCore.Http;
using PinPipe.Log;

namespace PinPipe.Ingest;

/// <summary>
/// Bounds the request bodies the API holds at once (<see cref="IngestOptions.MaxInFlightBytes"/>): a body is held from
/// the moment it is read until its answer (the log has it durable or refused it), so this is what bounds the memory the
/// API's requests take, whatever the number of connections. A request to the produce routes whose body would pass the
/// limit gets 503 with <c>Retry-After</c> in its route family's shape before its body is read, and nothing is written.
/// A body without Content-Length (chunked) counts as <see cref="IngestOptions.MaxRequestBytes"/>, the most it may be.
/// With nothing in flight any request is taken.
/// </summary>
internal sealed class InFlightLimit(IngestOptions options)
{
    private readonly WriteBudget _budget = new(options.MaxInFlightBytes, long.MaxValue);

    public async Task InvokeAsync(HttpContext context, RequestDelegate next)
    {
        var request = context.Request;
        bool kinesis = RequestGuard.IsKinesisRoute(request);
        long bytes = request.ContentLength
            ?? (context.Features.Get<Microsoft.AspNetCore.Http.Features.IHttpRequestBodyDetectionFeature>()?.CanHaveBody == true ? options.MaxRequestBytes : 0);
        // Only bodies the routes read; one over MaxRequestBytes is refused with 413 unread.
        if (bytes <= 0 || bytes > options.MaxRequestBytes || !(kinesis || request.Path.StartsWithSegments("/topics", StringComparison.Ordinal)))
        {
            await next(context).ConfigureAwait(false);
            return;
        }

        if (!_budget.TryReserve(bytes, 1, out long held))
        {
            string detail = $"the server holds {held} bytes of request bodies, and this request's {bytes} would pass Ingest:MaxInFlightBytes={options.MaxInFlightBytes}; its body was not read.";
            context.Response.Headers.Connection = "close"; // the unread body is not worth draining
            await (kinesis ? KinesisError.Overloaded(detail).WriteAsync(context.Response) : RestError.Overloaded(detail).WriteAsync(context.Response)).ConfigureAwait(false);
            return;
        }
        try
        {
            await next(context).ConfigureAwait(false);
        }
        finally
        {
            _budget.Release(bytes, 1);
        }
    }
}
