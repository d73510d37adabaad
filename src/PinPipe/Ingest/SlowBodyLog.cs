using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.Logging;

namespace PinPipe.Ingest;

/// <summary>
/// Logs request bodies that arrived more slowly than Kestrel's minimum data rate (answered 408) as one Information
/// line, at most one per <see cref="Interval"/>; the next line counts those left out in between. A client that keeps
/// sending slow bodies cannot flood the log.
/// </summary>
internal sealed class SlowBodyLog(ILogger logger, TimeProvider time)
{
    /// <summary>The shortest time between two lines.</summary>
    public static readonly TimeSpan Interval = TimeSpan.FromSeconds(10);

    private readonly Lock _lock = new();
    private long? _lastLine;
    private int _suppressed;

    /// <summary>Logs the request, or counts it when a line was written less than <see cref="Interval"/> ago.</summary>
    public void Report(HttpRequest request)
    {
        int suppressed;
        lock (_lock)
        {
            long now = time.GetTimestamp();
            if (_lastLine is long last && time.GetElapsedTime(last, now) < Interval)
            {
                _suppressed++;
                return;
            }
            _lastLine = now;
            suppressed = _suppressed;
            _suppressed = 0;
        }
        logger.LogInformation(
            "408 Request Timeout to {Remote}: the body of {Method} {Path} arrived more slowly than the minimum data rate and was not read ({Suppressed} more since the last such line)",
            request.HttpContext.Connection.RemoteIpAddress, request.Method, request.Path.Value, suppressed);
    }
}
