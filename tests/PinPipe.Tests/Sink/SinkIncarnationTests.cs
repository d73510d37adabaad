using System.Text;
using System.Text.Json;
using PinPipe.Hosting;
using PinPipe.Log;
using PinPipe.Tests.Support;

namespace PinPipe.Tests.Sink;

/// <summary>
/// <c>pinpipe sink</c> (the CLI as a process, over an embedded log this test owns) keeps each topic's incarnation in the
/// bucket: a topic deleted and created again stops it with an error naming the topic, the objects to move and
/// <c>--reset earliest</c>, never skipping or overwriting; the reset then lands the new incarnation's records.
/// </summary>
public sealed class SinkIncarnationTests
{
    private static readonly TimeSpan Timeout = TimeSpan.FromSeconds(60);

    private static async Task AppendAsync(ILog log, string topic, int from, int count) =>
        await log.AppendAsync(topic, Enumerable.Range(from, count).Select(i => new LogRecord(null, Encoding.UTF8.GetBytes($"{{\"n\":{i}}}"))).ToList());

    /// <summary>Runs <c>pinpipe sink</c> until the group committed <paramref name="offset"/> for the topic, then Ctrl-C.</summary>
    private static async Task<string> SinkUntilCommittedAsync(TempDirectory dir, ILog log, string topic, long offset, params string[] extra)
    {
        await using var process = CliProcess.Start(dir.Path, ["sink", "--flush-size", "5", "--rotate-interval", "1s", .. extra]);
        var deadline = DateTime.UtcNow + Timeout;
        while (await log.GetCommittedOffsetAsync("connect-pinpipe-s3-sink", topic, 0) != offset)
        {
            Assert.False(process.HasExited, process.Output);
            Assert.True(DateTime.UtcNow < deadline, process.Output);
            await Task.Delay(100);
        }
        Assert.True(await process.InterruptAsync(Timeout) == 0, process.Output);
        return process.Output;
    }

    private static string Lines(int from, int count) => string.Concat(Enumerable.Range(from, count).Select(i => $"{{\"n\":{i}}}\n"));

    [Fact]
    public async Task A_topic_created_again_stops_the_sink_naming_it_and_reset_earliest_lands_the_new_records_once_the_old_objects_moved()
    {
        using var dir = new TempDirectory("sink-incarnation");
        var settings = new PinPipeSettings { DataDir = Path.Combine(dir.Path, ".pinpipe") }.Resolve();
        string pin = settings.Names.PinTopic;
        string topics = Path.Combine(settings.ObjectStore.Root, settings.Names.Bucket, "topics");
        string folder = Path.Combine(topics, pin, "partition=0");
        await using var log = await LogFactory.OpenAsync(settings.Log); // the producer, as `pinpipe serve` is
        foreach (string topic in settings.Names.Topics) await log.CreateTopicAsync(topic, 1);
        await AppendAsync(log, pin, 0, 7);

        await SinkUntilCommittedAsync(dir, log, pin, 7);
        string oldId = (await log.DescribeTopicAsync(pin))!.TopicId!;
        using (var record = JsonDocument.Parse(await File.ReadAllTextAsync(Path.Combine(topics, $"{pin}+topic-id.json"))))
            Assert.Equal(oldId, record.RootElement.GetProperty("topicId").GetString());
        Assert.Equal(Lines(0, 5), await File.ReadAllTextAsync(Path.Combine(folder, $"{pin}+0+0000000000.json")));

        // Deleted (the sink consumed it all: no force needed), created again, 5 new records at offsets 0 to 4.
        Assert.True(await log.DeleteTopicAsync(pin, settings.Consumers().Of(pin)));
        await log.CreateTopicAsync(pin, 1);
        await AppendAsync(log, pin, 100, 5);

        var (code, output) = await CliProcess.RunAsync(dir.Path, Timeout, "sink", "--flush-size", "5");
        Assert.True(code == 1, output);
        Assert.Contains($"Topic '{pin}' was deleted and created again", output, StringComparison.Ordinal);
        Assert.Contains($"topic id {oldId}", output, StringComparison.Ordinal);
        Assert.Contains($"move those out of topics/{pin}/", output, StringComparison.Ordinal);
        Assert.Contains("--reset earliest", output, StringComparison.Ordinal);
        Assert.Equal(Lines(0, 5), await File.ReadAllTextAsync(Path.Combine(folder, $"{pin}+0+0000000000.json"))); // not overwritten

        var (refused, refusedOutput) = await CliProcess.RunAsync(dir.Path, Timeout, "sink", "--flush-size", "5", "--reset", "earliest");
        Assert.True(refused == 1, refusedOutput);
        Assert.Contains($"2 objects of the earlier incarnation are still under topics/{pin}/", refusedOutput, StringComparison.Ordinal);
        Assert.Null(await log.GetCommittedOffsetAsync("connect-pinpipe-s3-sink", pin, 0));

        string archive = Path.Combine(dir.Path, "archive");
        Directory.Move(Path.Combine(topics, pin), archive);
        string reset = await SinkUntilCommittedAsync(dir, log, pin, 5, "--reset", "earliest");
        Assert.Contains($"Reset: sinking {pin} from its start", reset, StringComparison.Ordinal);
        Assert.Equal(Lines(100, 5), await File.ReadAllTextAsync(Path.Combine(folder, $"{pin}+0+0000000000.json")));
        Assert.Equal(Lines(0, 5), await File.ReadAllTextAsync(Path.Combine(archive, "partition=0", $"{pin}+0+0000000000.json")));
        using (var record = JsonDocument.Parse(await File.ReadAllTextAsync(Path.Combine(topics, $"{pin}+topic-id.json"))))
            Assert.Equal((await log.DescribeTopicAsync(pin))!.TopicId, record.RootElement.GetProperty("topicId").GetString());

        // Recorded: the next start needs no reset.
        await AppendAsync(log, pin, 105, 5);
        await SinkUntilCommittedAsync(dir, log, pin, 10);
        Assert.Equal(Lines(105, 5), await File.ReadAllTextAsync(Path.Combine(folder, $"{pin}+0+0000000005.json")));
    }

    [Fact]
    public async Task A_topic_behind_the_committed_offset_stops_the_sink_naming_both()
    {
        using var dir = new TempDirectory("sink-incarnation");
        var settings = new PinPipeSettings { DataDir = Path.Combine(dir.Path, ".pinpipe") }.Resolve();
        string pin = settings.Names.PinTopic;
        await using var log = await LogFactory.OpenAsync(settings.Log);
        foreach (string topic in settings.Names.Topics) await log.CreateTopicAsync(topic, 1);
        await AppendAsync(log, pin, 0, 3);
        await log.CommitOffsetsAsync("connect-pinpipe-s3-sink", [new(pin, 0, 40)]); // the log lost records (an older copy restored)

        var (code, output) = await CliProcess.RunAsync(dir.Path, Timeout, "sink");
        Assert.True(code == 1, output);
        Assert.Contains($"Topic '{pin}' is behind the sink: partition 0 ends at offset 3, but group 'connect-pinpipe-s3-sink' committed offset 40", output, StringComparison.Ordinal);
        Assert.Contains("--reset earliest", output, StringComparison.Ordinal);
        Assert.Equal(40, await log.GetCommittedOffsetAsync("connect-pinpipe-s3-sink", pin, 0));
    }
}
