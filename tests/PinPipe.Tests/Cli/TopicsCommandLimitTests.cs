using PinPipe.Tests.Support;

namespace PinPipe.Tests.Cli;

/// <summary><c>pinpipe topics create</c> keeps to the log's limits (Log:MaxPartitionsPerTopic, Log:MaxTopics).</summary>
public sealed class TopicsCommandLimitTests
{
    private static readonly TimeSpan Timeout = TimeSpan.FromSeconds(60);

    [Fact]
    public async Task Creating_a_topic_past_the_limits_exits_2_naming_the_setting_and_creates_nothing()
    {
        using var dir = new TempDirectory("cli-topics");
        var wide = await CliProcess.RunAsync(dir.Path, Timeout, "topics", "create", "wide", "--partitions", "5000");
        Assert.Equal(2, wide.ExitCode); // bad input: a limit of the settings
        Assert.Contains("error: Topic 'wide' would have 5000 partitions (shards); the limit is 1000 (Log:MaxPartitionsPerTopic).", wide.Output, StringComparison.Ordinal);

        var first = await CliProcess.RunAsync(dir.Path, Timeout, "topics", "create", "first", "--partitions", "2");
        Assert.True(first.ExitCode == 0, first.Output);
        await File.WriteAllTextAsync(dir.File("one-topic.json"), """{"Log": {"MaxTopics": 1}}""");
        var second = await CliProcess.RunAsync(dir.Path, Timeout, "topics", "create", "second", "--config", "one-topic.json");
        Assert.Equal(2, second.ExitCode);
        Assert.Contains("limit of 1 topics and streams (Log:MaxTopics)", second.Output, StringComparison.Ordinal);

        var list = await CliProcess.RunAsync(dir.Path, Timeout, "topics");
        Assert.Equal(0, list.ExitCode);
        Assert.Contains("first", list.Output, StringComparison.Ordinal);
        Assert.DoesNotContain("wide", list.Output, StringComparison.Ordinal);
        Assert.DoesNotContain("second", list.Output, StringComparison.Ordinal);
    }
}
