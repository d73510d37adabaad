using PinPipe.Hosting;
using PinPipe.Log;
using PinPipe.Tests.Support;

namespace PinPipe.Tests.Hosting;

/// <summary>The API's host makes the pipeline's topics and streams that are missing, and uses those that exist as they are.</summary>
public sealed class PipelineHostTopicsTests
{
    [Fact]
    public async Task Missing_topics_are_made_with_the_default_partitions_and_existing_ones_are_used_with_theirs()
    {
        using var dir = new TempDirectory("host-topics");
        var settings = new PinPipeSettings { DataDir = dir.Path, UserId = "hosttopics", Ingest = new() { Urls = "http://127.0.0.1:0" } }.Resolve();
        await using (var log = await LogFactory.OpenAsync(settings.Log))
            await log.CreateTopicAsync(settings.Names.PinTopic, 4); // made by an operator, or another node with other defaults

        await using var host = await PipelineHost.StartAsync(settings, HostParts.Api);

        Assert.Equal(4, (await host.Log.DescribeTopicAsync(settings.Names.PinTopic))!.Partitions);
        foreach (string topic in settings.Names.Topics.Skip(1).Concat(settings.Names.Streams))
            Assert.Equal(settings.Log.DefaultPartitions, (await host.Log.DescribeTopicAsync(topic))!.Partitions);
    }
}
