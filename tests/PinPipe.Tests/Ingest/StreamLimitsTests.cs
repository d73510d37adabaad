using System.Net;
using System.Runtime.CompilerServices;
using PinPipe.Log.Sqlite;

namespace PinPipe.Tests.Ingest;

/// <summary>
/// What clients of the API can make the server hold is bounded: streams (Log:MaxTopics) and shards per stream
/// (Log:MaxPartitionsPerTopic), and a deleted stream's memory is released with it.
/// </summary>
public sealed class StreamLimitsTests
{
    [Theory]
    [InlineData(10_000)]
    [InlineData(1_001)]
    public async Task A_stream_of_more_shards_than_Log_MaxPartitionsPerTopic_is_400_LimitExceededException_and_not_created(int shards)
    {
        await using var api = await IngestApiHarness.StartAsync();
        using var response = await api.SendAsync(HttpMethod.Post, "streams/streaming-wide", $$"""{"ShardCount":{{shards}}}""");
        await KinesisErrorTests.AssertKinesisErrorAsync(response, HttpStatusCode.BadRequest, "LimitExceededException",
            $"would have {shards} partitions (shards); the limit is 1000 (Log:MaxPartitionsPerTopic)");
        Assert.Null(await api.Log.DescribeTopicAsync("streaming-wide"));

        using var most = await api.SendAsync(HttpMethod.Post, "streams/streaming-wide", """{"ShardCount":1000}""");
        Assert.Equal(HttpStatusCode.OK, most.StatusCode);
        Assert.Equal(1000, (await api.Log.DescribeTopicAsync("streaming-wide"))?.Partitions);
    }

    [Fact]
    public async Task Streams_past_Log_MaxTopics_are_400_LimitExceededException_until_one_is_deleted()
    {
        await using var api = await IngestApiHarness.StartAsync(o => o with { MaxTopics = 3 }, null, ("t.pin", 1), ("streaming-t-pin", 1));
        using (var third = await api.SendAsync(HttpMethod.Post, "streams/streaming-a"))
            Assert.Equal(HttpStatusCode.OK, third.StatusCode);
        using (var fourth = await api.SendAsync(HttpMethod.Post, "streams/streaming-b", """{"ShardCount":1}"""))
            await KinesisErrorTests.AssertKinesisErrorAsync(fourth, HttpStatusCode.BadRequest, "LimitExceededException",
                "Topic 'streaming-b' would be one more than the limit of 3 topics and streams (Log:MaxTopics); delete one first");
        Assert.Null(await api.Log.DescribeTopicAsync("streaming-b"));

        using (var deleted = await api.SendAsync(HttpMethod.Delete, "streams/streaming-a"))
            Assert.Equal(HttpStatusCode.OK, deleted.StatusCode);
        using (var again = await api.SendAsync(HttpMethod.Post, "streams/streaming-b", """{"ShardCount":1}"""))
            Assert.Equal(HttpStatusCode.OK, again.StatusCode);
        Assert.Equal(["streaming-b", "streaming-t-pin", "t.pin"], (await api.Log.ListTopicsAsync()).Select(t => t.Name));
    }

    [MethodImpl(MethodImplOptions.NoInlining)]
    private static WeakReference Track(SqliteLog log, string topic) => new(log.StateOf(topic) ?? throw new InvalidOperationException(topic));

    [Fact]
    public async Task A_deleted_streams_shard_state_is_released()
    {
        await using var api = await IngestApiHarness.StartAsync();
        var log = (SqliteLog)api.Log;
        using (var created = await api.SendAsync(HttpMethod.Post, "streams/streaming-big", """{"ShardCount":1000}"""))
            Assert.Equal(HttpStatusCode.OK, created.StatusCode);
        using (var described = await api.Client.GetAsync("streams/streaming-big"))
            Assert.Equal(HttpStatusCode.OK, described.StatusCode);
        var state = Track(log, "streaming-big");

        using (var deleted = await api.SendAsync(HttpMethod.Delete, "streams/streaming-big"))
            Assert.Equal(HttpStatusCode.OK, deleted.StatusCode);

        Assert.Null(log.StateOf("streaming-big"));
        GC.Collect();
        GC.WaitForPendingFinalizers();
        GC.Collect();
        Assert.False(state.IsAlive, "something still holds the deleted stream's partition state");
    }
}
