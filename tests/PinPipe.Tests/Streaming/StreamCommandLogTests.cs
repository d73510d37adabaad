using PinPipe.Tests.Support;

namespace PinPipe.Tests.Streaming;

/// <summary>What <c>pinpipe stream</c> logs as it starts (the CLI as a process): durations as typed, <c>100ms</c>.</summary>
public sealed class StreamCommandLogTests
{
    private static readonly TimeSpan Timeout = TimeSpan.FromSeconds(60);

    private static async Task<string> StartLineAsync(StreamTestKit kit, params string[] extra)
    {
        await using var stream = CliProcess.Start(kit.DataDir, ["stream", "--data-dir", kit.DataDir, .. extra]);
        var deadline = DateTime.UtcNow + Timeout;
        string? line = null;
        while (line is null && DateTime.UtcNow < deadline && !stream.HasExited)
        {
            line = stream.Output.Split('\n').FirstOrDefault(l => l.Contains("Ctrl-C to stop", StringComparison.Ordinal));
            if (line is null) await Task.Delay(100);
        }
        Assert.True(line is not null, stream.Output);
        Assert.Equal(0, await stream.InterruptAsync(Timeout));
        return line!;
    }

    [Fact]
    public async Task The_trigger_is_logged_as_100ms_not_as_a_TimeSpan()
    {
        await using var kit = await StreamTestKit.CreateAsync();
        string line = await StartLineAsync(kit);
        Assert.Contains("(trigger 100ms, at most 50,000 records a micro-batch, from earliest)", line, StringComparison.Ordinal);
        Assert.DoesNotContain("00:00:00", line, StringComparison.Ordinal);

        Assert.Contains("(trigger 1.5s,", await StartLineAsync(kit, "--trigger", "1500ms"), StringComparison.Ordinal);
    }
}
