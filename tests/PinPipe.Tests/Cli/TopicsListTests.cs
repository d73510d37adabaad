using System.Text;
using PinPipe.Hosting;
using PinPipe.Log;
using PinPipe.Tests.Support;

namespace PinPipe.Tests.Cli;

/// <summary>
/// <c>pinpipe topics</c> as a user runs it: each topic's lag is its consumer's, the sink's for the topics the sink reads,
/// the stream job's for the streams, none for a topic no stage reads.
/// </summary>
public sealed class TopicsListTests
{
    private static readonly TimeSpan Timeout = TimeSpan.FromSeconds(60);

    private static string[] Row(string output, string topic)
    {
        var line = Assert.Single(output.Split('\n'), l => l.StartsWith(topic + " ", StringComparison.Ordinal));
        return line.Split(' ', StringSplitOptions.RemoveEmptyEntries);
    }

    [Fact]
    public async Task Each_topic_shows_its_own_consumers_lag_the_stream_jobs_for_a_stream_none_for_a_topic_no_stage_reads()
    {
        using var dir = new TempDirectory("cli");
        var settings = new PinPipeSettings { DataDir = Path.Combine(dir.Path, ".pinpipe") }.Resolve();
        string pin = settings.Names.PinTopic, stream = settings.Names.Streams[0];
        await using (var log = await LogFactory.OpenAsync(settings.Log))
        {
            foreach (string topic in settings.Names.Topics.Concat(settings.Names.Streams).Append("scratch"))
                await log.CreateTopicAsync(topic, 1);
            var five = Enumerable.Range(0, 5).Select(i => new LogRecord(null, Encoding.UTF8.GetBytes($"{{\"i\":{i}}}"))).ToList();
            foreach (string topic in new[] { pin, stream, "scratch" }) await log.AppendAsync(topic, five);
            // The sink has read 4 records of its topic, the stream job 2 of its stream; the sink never reads the stream.
            await log.CommitOffsetsAsync(settings.Sink.GroupId, [new(pin, 0, 4)]);
            await log.CommitOffsetsAsync(settings.Stream.GroupId, [new(stream, 0, 2)]);
        }

        var (code, output) = await CliProcess.RunAsync(dir.Path, Timeout, "topics");
        Assert.True(code == 0, output);
        var header = Assert.Single(output.Split('\n'), l => l.StartsWith("topic ", StringComparison.Ordinal));
        Assert.Contains("consumer group", header, StringComparison.Ordinal);
        Assert.DoesNotContain("sink lag", header, StringComparison.Ordinal);

        // topic partition low high records group lag
        Assert.Equal([pin, "0", "0", "5", "5", "connect-pinpipe-s3-sink", "1"], Row(output, pin));
        Assert.Equal([stream, "0", "0", "5", "5", "pinpipe-stream", "3"], Row(output, stream));
        Assert.Equal(["scratch", "0", "0", "5", "5", "-", "-"], Row(output, "scratch"));
        Assert.Equal([settings.Names.Streams[1], "0", "0", "0", "0", "pinpipe-stream", "0"], Row(output, settings.Names.Streams[1]));
    }

    [Fact]
    public async Task The_listing_starts_with_the_embedded_logs_retention_by_time_and_size()
    {
        using var dir = new TempDirectory("cli");
        var settings = new PinPipeSettings { DataDir = Path.Combine(dir.Path, ".pinpipe") }.Resolve();
        await using (var log = await LogFactory.OpenAsync(settings.Log)) await log.CreateTopicAsync("scratch", 1);

        var (code, output) = await CliProcess.RunAsync(dir.Path, Timeout, "topics");
        Assert.True(code == 0, output);
        Assert.Contains("Retention (every topic of the embedded log): records are deleted once older than 7d (Log:RetentionTime) and never by size (Log:RetentionBytes), checked every 5m", output, StringComparison.Ordinal);

        var env = new Dictionary<string, string?> { ["PINPIPE_Log__RetentionTime"] = "2d", ["PINPIPE_Log__RetentionBytes"] = "1000000" };
        var (setCode, set) = await CliProcess.RunWithEnvironmentAsync(env, dir.Path, Timeout, "topics");
        Assert.True(setCode == 0, set);
        Assert.Contains("records are deleted once older than 2d (Log:RetentionTime) and once a partition holds more than 1,000,000 bytes (Log:RetentionBytes)", set, StringComparison.Ordinal);
        Assert.Single(set.Split('\n'), l => l.StartsWith("scratch ", StringComparison.Ordinal));
    }
}
