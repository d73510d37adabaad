using System.Net;
using System.Text.Json;
using PinPipe.Log;

namespace PinPipe.Tests.Ingest;

/// <summary>
/// Topics and streams share the log but not the routes: the Kafka REST routes neither list nor address a
/// <c>streaming-…</c> name (so nothing reaches a stream past the stream routes' limits), and the Kinesis routes address
/// nothing else.
/// </summary>
public sealed class StreamNamespaceTests
{
    private const string Stream = "streaming-u-pin";
    private const string Topic = "u.pin";

    private static Task<IngestApiHarness> StartAsync() => IngestApiHarness.StartAsync(null, (Topic, 1), (Stream, 2));

    [Theory]
    [InlineData($"topics/{Stream}")]
    [InlineData($"topics/{Stream}/partitions/0")]
    [InlineData("topics/streaming-")]
    public async Task Producing_to_a_stream_through_the_Kafka_routes_is_404_40401_and_writes_nothing(string path)
    {
        await using var api = await StartAsync();
        foreach (var type in new[] { IngestApiHarness.JsonV2, IngestApiHarness.BinaryV2 })
        {
            var body = type == IngestApiHarness.JsonV2 ? """{"records":[{"value":{"a":1}}]}""" : """{"records":[{"value":"eyJhIjoxfQ=="}]}""";
            using var response = await api.PostAsync(path, body, type);
            await KafkaRestErrorTests.AssertRestErrorAsync(response, HttpStatusCode.NotFound, 40401, "is a stream (its name starts with 'streaming-'); put its records through PUT /streams/");
        }
        Assert.Equal(0, await api.TotalRecordsAsync());
    }

    [Fact]
    public async Task The_Kafka_routes_list_and_describe_topics_only()
    {
        await using var api = await StartAsync();
        using (var list = await api.Client.GetAsync("topics"))
        {
            Assert.Equal(HttpStatusCode.OK, list.StatusCode);
            using var doc = JsonDocument.Parse(await list.Content.ReadAsStringAsync());
            Assert.Equal([Topic], doc.RootElement.EnumerateArray().Select(e => e.GetString()));
        }
        using (var describe = await api.Client.GetAsync($"topics/{Stream}"))
            await KafkaRestErrorTests.AssertRestErrorAsync(describe, HttpStatusCode.NotFound, 40401, $"'{Stream}' is a stream");
        using (var topic = await api.Client.GetAsync($"topics/{Topic}"))
            Assert.Equal(HttpStatusCode.OK, topic.StatusCode);
    }

    [Fact]
    public async Task The_Kinesis_routes_address_streams_only()
    {
        await using var api = await StartAsync();
        using (var put = await api.SendAsync(HttpMethod.Put, $"streams/{Topic}/record", """{"Data":1,"PartitionKey":"p"}"""))
            await KinesisErrorTests.AssertKinesisErrorAsync(put, HttpStatusCode.BadRequest, "ResourceNotFoundException", $"Stream {Topic} under account");
        using (var puts = await api.SendAsync(HttpMethod.Put, $"streams/{Topic}/records", """{"records":[{"data":1,"partition-key":"p"}]}"""))
            await KinesisErrorTests.AssertKinesisErrorAsync(puts, HttpStatusCode.BadRequest, "ResourceNotFoundException", $"Stream {Topic} under account");
        using (var describe = await api.Client.GetAsync($"streams/{Topic}"))
            await KinesisErrorTests.AssertKinesisErrorAsync(describe, HttpStatusCode.BadRequest, "ResourceNotFoundException", Topic);
        using (var delete = await api.SendAsync(HttpMethod.Delete, $"streams/{Topic}"))
            await KinesisErrorTests.AssertKinesisErrorAsync(delete, HttpStatusCode.BadRequest, "ResourceNotFoundException", Topic);
        using (var create = await api.SendAsync(HttpMethod.Post, "streams/u.other"))
            await KinesisErrorTests.AssertKinesisErrorAsync(create, HttpStatusCode.BadRequest, "InvalidArgumentException", "must start with 'streaming-'");
        using (var list = await api.Client.GetAsync("streams"))
        {
            using var doc = JsonDocument.Parse(await list.Content.ReadAsStringAsync());
            Assert.Equal([Stream], doc.RootElement.GetProperty("StreamNames").EnumerateArray().Select(e => e.GetString()));
        }
        Assert.Equal([(Stream, 2), (Topic, 1)], (await api.Log.ListTopicsAsync()).Select(t => (t.Name, t.Partitions)));
        Assert.Equal(0, await api.TotalRecordsAsync());
    }
}
