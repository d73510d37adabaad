using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.Logging;
using PinPipe.Ingest;
using PinPipe.Tests.Support;

namespace PinPipe.Tests.Ingest;

/// <summary>Slow bodies are logged at most once per 10 s, each line counting those left out since the last.</summary>
public sealed class SlowBodyLogTests
{
    /// <summary>A clock moved by hand.</summary>
    private sealed class Clock : TimeProvider
    {
        private long _ticks;

        public override long TimestampFrequency => TimeSpan.TicksPerSecond;

        public override long GetTimestamp() => _ticks;

        public void Advance(TimeSpan by) => _ticks += by.Ticks;
    }

    private static HttpRequest Request(string path)
    {
        var context = new DefaultHttpContext();
        context.Request.Method = "PUT";
        context.Request.Path = path;
        context.Connection.RemoteIpAddress = System.Net.IPAddress.Loopback;
        return context.Request;
    }

    [Fact]
    public void At_most_one_line_per_10_seconds_and_the_next_counts_the_ones_left_out()
    {
        using var logs = new CapturedLogs();
        var clock = new Clock();
        var slow = new SlowBodyLog(logs.CreateLogger("slow"), clock);

        slow.Report(Request("/streams/s/record"));
        for (int i = 0; i < 5; i++)
        {
            clock.Advance(TimeSpan.FromSeconds(1.9));
            slow.Report(Request("/streams/s/records"));
        }
        clock.Advance(TimeSpan.FromSeconds(0.5));
        slow.Report(Request("/topics/t"));
        clock.Advance(TimeSpan.FromSeconds(10));
        slow.Report(Request("/topics/u"));

        Assert.All(logs.Entries, e => Assert.Equal(LogLevel.Information, e.Level));
        Assert.Equal(
        [
            "408 Request Timeout to 127.0.0.1: the body of PUT /streams/s/record arrived more slowly than the minimum data rate and was not read (0 more since the last such line)",
            "408 Request Timeout to 127.0.0.1: the body of PUT /topics/t arrived more slowly than the minimum data rate and was not read (5 more since the last such line)",
            "408 Request Timeout to 127.0.0.1: the body of PUT /topics/u arrived more slowly than the minimum data rate and was not read (0 more since the last such line)",
        ], logs.Entries.Select(e => e.Message));
    }
}
