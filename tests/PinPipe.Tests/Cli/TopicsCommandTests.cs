using System.Text;
using PinPipe.Hosting;
using PinPipe.Log;
using PinPipe.Tests.Support;

namespace PinPipe.Tests.Cli;

/// <summary><c>pinpipe topics delete</c> as a user runs it (the CLI as a process over the embedded log).</summary>
public sealed class TopicsCommandTests
{
    private static readonly TimeSpan Timeout = TimeSpan.FromSeconds(60);

    /// <summary>The embedded log of <paramref name="dir"/> with the pipeline's topics and streams and <paramref name="records"/> records in the pin topic.</summary>
    private static async Task<PinPipeSettings> LogWithRecordsAsync(TempDirectory dir, int records, string? extraTopic = null)
    {
        var settings = new PinPipeSettings { DataDir = Path.Combine(dir.Path, ".pinpipe") }.Resolve();
        await using var log = await LogFactory.OpenAsync(settings.Log);
        foreach (string topic in settings.Names.Topics.Concat(settings.Names.Streams).Append(extraTopic).OfType<string>())
            await log.CreateTopicAsync(topic, 1);
        var batch = Enumerable.Range(0, records).Select(i => new LogRecord(null, Encoding.UTF8.GetBytes($"{{\"i\":{i}}}"))).ToList();
        await log.AppendAsync(settings.Names.PinTopic, batch);
        if (extraTopic is not null) await log.AppendAsync(extraTopic, batch);
        return settings;
    }

    private static async Task<bool> ExistsAsync(PinPipeSettings settings, string topic)
    {
        await using var log = await LogFactory.OpenAsync(settings.Log);
        return await log.DescribeTopicAsync(topic) is not null;
    }

    [Fact]
    public async Task Deleting_a_topic_that_does_not_exist_exits_1_saying_so()
    {
        using var dir = new TempDirectory("cli");
        await LogWithRecordsAsync(dir, 0);
        var (code, output) = await CliProcess.RunAsync(dir.Path, Timeout, "topics", "delete", "nosuch");
        Assert.True(code == 1, output);
        Assert.Contains("Topic 'nosuch' does not exist", output, StringComparison.Ordinal);
        Assert.DoesNotContain("Topic nosuch deleted", output, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Deleting_a_topic_holding_records_the_sink_has_not_consumed_exits_1_naming_them_and_force_deletes_it()
    {
        using var dir = new TempDirectory("cli");
        var settings = await LogWithRecordsAsync(dir, 5);
        string pin = settings.Names.PinTopic;

        var (code, output) = await CliProcess.RunAsync(dir.Path, Timeout, "topics", "delete", pin);
        Assert.True(code == 1, output);
        Assert.Contains($"Topic '{pin}' holds 5 records consumer group 'connect-pinpipe-s3-sink' has not consumed: 5 in partition 0 (offsets 0 to 4)", output, StringComparison.Ordinal);
        Assert.Contains("--force", output, StringComparison.Ordinal);
        Assert.True(await ExistsAsync(settings, pin));

        var (forced, forcedOutput) = await CliProcess.RunAsync(dir.Path, Timeout, "topics", "delete", pin, "--force");
        Assert.True(forced == 0, forcedOutput);
        Assert.Contains($"Topic {pin} deleted.", forcedOutput, StringComparison.Ordinal);
        Assert.False(await ExistsAsync(settings, pin));
    }

    [Fact]
    public async Task A_topic_its_consumer_has_read_to_the_end_and_a_topic_no_stage_reads_are_deleted_without_force()
    {
        using var dir = new TempDirectory("cli");
        var settings = await LogWithRecordsAsync(dir, 3, extraTopic: "scratch");
        await using (var log = await LogFactory.OpenAsync(settings.Log))
            await log.CommitOffsetsAsync(settings.Sink.GroupId, [new(settings.Names.PinTopic, 0, 3)]);

        foreach (string topic in new[] { settings.Names.PinTopic, "scratch" })
        {
            var (code, output) = await CliProcess.RunAsync(dir.Path, Timeout, "topics", "delete", topic);
            Assert.True(code == 0, output);
            Assert.False(await ExistsAsync(settings, topic));
        }
    }
}
