using System.Text;
using System.Text.Json;
using PinPipe.Log.Kinesis;
using PinPipe.Tests.Support;

namespace PinPipe.Tests.Log.Kinesis;

/// <summary>The Kinesis client against kinesalite (<c>scripts/services/kinesalite.sh</c>), and a stand-in stub for what kinesalite never answers.</summary>
public sealed class KinesisClientTests
{
    [Fact]
    public async Task Creates_a_stream_writes_records_and_reads_them_back_from_every_shard()
    {
        using var client = Kinesalite.Client();
        string stream = Kinesalite.NewStream("client");
        var summary = await client.EnsureStreamAsync(stream, 2, TimeSpan.FromSeconds(30));
        Assert.Equal(("ACTIVE", 2, stream), (summary.StreamStatus, summary.OpenShardCount, summary.StreamName));
        Assert.Contains(stream, await client.ListStreamsAsync());

        var entries = Enumerable.Range(0, 40).Select(i => new KinesisPutEntry(Encoding.UTF8.GetBytes($"{{\"i\":{i}}}"), $"key-{i % 7}")).ToList();
        var outcomes = await client.PutRecordsAsync(stream, entries);
        var single = await client.PutRecordAsync(stream, new KinesisPutEntry("\"one\""u8.ToArray(), "key-single"));
        Assert.All(outcomes, o => Assert.True(o.Succeeded));
        Assert.True(single.Succeeded);

        var shards = await client.ListShardsAsync(stream);
        Assert.Equal(2, shards.Count);
        Assert.All(shards, s => Assert.False(s.IsClosed));
        var read = new List<KinesisRecord>();
        foreach (var shard in shards)
        {
            string iterator = await client.GetShardIteratorAsync(stream, shard.ShardId, ShardIteratorType.TrimHorizon);
            var result = await client.GetRecordsAsync(iterator, shard.ShardId, 1000);
            Assert.NotNull(result.NextShardIterator);
            read.AddRange(result.Records);
        }

        Assert.Equal(41, read.Count);
        // Each record is where PutRecords said, with its bytes, key and arrival time.
        for (int i = 0; i < entries.Count; i++)
        {
            var record = Assert.Single(read, r => r.SequenceNumber == outcomes[i].SequenceNumber);
            Assert.Equal(outcomes[i].ShardId, record.ShardId);
            Assert.Equal(entries[i].PartitionKey, record.PartitionKey);
            Assert.Equal($"{{\"i\":{i}}}", Encoding.UTF8.GetString(record.Data.Span));
            Assert.NotNull(record.ApproximateArrivalTimestamp);
            Assert.InRange(record.ApproximateArrivalTimestamp!.Value, DateTimeOffset.UtcNow.AddMinutes(-5), DateTimeOffset.UtcNow.AddMinutes(1));
        }
        Assert.Contains(read, r => r.SequenceNumber == single.SequenceNumber && r.ShardId == single.ShardId);
        // Both shards got records (seven keys over two hash ranges).
        Assert.Equal(2, read.Select(r => r.ShardId).Distinct().Count());
        await client.DeleteStreamAsync(stream);
    }

    [Fact]
    public async Task After_sequence_number_reads_exactly_the_records_after_it()
    {
        using var client = Kinesalite.Client();
        string stream = Kinesalite.NewStream("after");
        await client.EnsureStreamAsync(stream, 1, TimeSpan.FromSeconds(30));
        var outcomes = await client.PutRecordsAsync(stream, [.. Enumerable.Range(0, 10).Select(i => new KinesisPutEntry(new[] { (byte)('0' + i) }, "k"))]);

        string iterator = await client.GetShardIteratorAsync(stream, outcomes[3].ShardId!, ShardIteratorType.AfterSequenceNumber, outcomes[3].SequenceNumber);
        var after = await client.GetRecordsAsync(iterator, outcomes[3].ShardId!, 100);
        string at = await client.GetShardIteratorAsync(stream, outcomes[3].ShardId!, ShardIteratorType.AtSequenceNumber, outcomes[3].SequenceNumber);
        var fromAt = await client.GetRecordsAsync(at, outcomes[3].ShardId!, 2);

        Assert.Equal(outcomes.Skip(4).Select(o => o.SequenceNumber), after.Records.Select(r => r.SequenceNumber));
        Assert.Equal(outcomes.Skip(3).Take(2).Select(o => o.SequenceNumber), fromAt.Records.Select(r => r.SequenceNumber));
        await client.DeleteStreamAsync(stream);
    }

    [Fact]
    public async Task An_unknown_stream_is_resource_not_found_naming_it_and_not_retriable()
    {
        using var client = Kinesalite.Client();

        var e = await Assert.ThrowsAsync<KinesisException>(() => client.ListShardsAsync("pinpipe-test-no-such-stream"));

        Assert.Equal("ResourceNotFoundException", e.ErrorType);
        Assert.True(e.IsNotFound);
        Assert.False(e.IsRetriable);
        Assert.Equal(400, e.StatusCode);
        Assert.Equal("kinesis.not_found", e.ErrorCode);
        Assert.Contains("pinpipe-test-no-such-stream", e.Message, StringComparison.Ordinal);
        Assert.StartsWith("Kinesis ListShards failed: ResourceNotFoundException: ", e.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task An_unreachable_endpoint_is_a_retriable_error_naming_it()
    {
        string url = $"http://127.0.0.1:{CliProcess.FreePort()}";
        using var client = Kinesalite.Client(url);

        var e = await Assert.ThrowsAsync<KinesisException>(() => client.DescribeStreamSummaryAsync("s"));

        Assert.Equal(KinesisException.Unreachable, e.ErrorType);
        Assert.True(e.IsRetriable);
        Assert.Equal(0, e.StatusCode);
        Assert.Contains(url, e.Where, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Requests_are_sigv4_signed_for_kinesis_with_the_target_and_json_1_1()
    {
        await using var stub = await KinesisStub.StartAsync(new Uri(Kinesalite.Url), (_, _) => null);
        using var client = Kinesalite.Client(stub.Url);

        await client.ListStreamsAsync();

        // (kinesalite pages its list by ten: one request or more, each signed alike.)
        var (operation, authorization, body) = stub.Requests[0];
        Assert.Equal("ListStreams", operation);
        Assert.Matches(@"^AWS4-HMAC-SHA256 Credential=AKIDKINESALITE/\d{8}/us-east-1/kinesis/aws4_request, SignedHeaders=content-type;host;x-amz-date;x-amz-target, Signature=[0-9a-f]{64}$", authorization);
        Assert.Equal("{}", body);
    }

    [Fact]
    public async Task ListShards_follows_next_token_across_pages()
    {
        static string Shard(int i) =>
            $"{{\"ShardId\":\"shardId-00000000000{i}\",\"HashKeyRange\":{{\"StartingHashKey\":\"0\",\"EndingHashKey\":\"1\"}},\"SequenceNumberRange\":{{\"StartingSequenceNumber\":\"{i}\"}}}}";
        await using var stub = await KinesisStub.StartAsync(null, (op, body) =>
            body.TryGetProperty("NextToken", out var token)
                ? new StubAnswer(200, token.GetString() == "page-2" ? $"{{\"Shards\":[{Shard(2)}]}}" : "{}")
                : new StubAnswer(200, $"{{\"Shards\":[{Shard(0)},{Shard(1)}],\"NextToken\":\"page-2\"}}"));
        using var client = Kinesalite.Client(stub.Url);

        var shards = await client.ListShardsAsync("s");

        Assert.Equal(["shardId-000000000000", "shardId-000000000001", "shardId-000000000002"], shards.Select(s => s.ShardId));
        Assert.Equal(2, stub.Requests.Count);
        // The second page names the token and not the stream (Kinesis refuses both together).
        using var second = JsonDocument.Parse(stub.Requests[1].Body);
        Assert.False(second.RootElement.TryGetProperty("StreamName", out _));
    }

    [Theory]
    [InlineData(400, "ProvisionedThroughputExceededException", true, true)]
    [InlineData(400, "LimitExceededException", true, true)]
    [InlineData(500, "InternalFailure", true, false)]
    [InlineData(503, "ServiceUnavailable", true, false)]
    [InlineData(400, "AccessDeniedException", false, false)]
    [InlineData(400, "ValidationException", false, false)]
    public async Task Errors_name_the_type_and_say_whether_a_retry_helps(int status, string type, bool retriable, bool throttling)
    {
        await using var stub = await KinesisStub.StartAsync(null, (_, _) => StubAnswer.Error(status, "com.amazonaws.kinesis.v20131202#" + type, "the stub says no"));
        using var client = Kinesalite.Client(stub.Url);

        var e = await Assert.ThrowsAsync<KinesisException>(() => client.GetRecordsAsync("it", "shardId-000000000000", 10));

        Assert.Equal(type, e.ErrorType);
        Assert.Equal("the stub says no", e.ServiceMessage);
        Assert.Equal(retriable, e.IsRetriable);
        Assert.Equal(throttling, e.IsThrottling);
        Assert.Equal(status, e.StatusCode);
    }

    [Fact]
    public async Task An_answer_that_is_not_kinesis_json_is_a_bad_response()
    {
        await using var stub = await KinesisStub.StartAsync(null, (_, _) => new StubAnswer(200, "{\"Shards\": 5}"));
        using var client = Kinesalite.Client(stub.Url);

        var e = await Assert.ThrowsAsync<KinesisException>(() => client.ListShardsAsync("s"));

        Assert.Equal(KinesisException.BadResponse, e.ErrorType);
    }

    [Fact]
    public void Bad_settings_are_refused_naming_their_keys()
    {
        var e = Assert.Throws<ArgumentException>(() => new KinesisClient(new KinesisOptions { ServiceUrl = "ftp://x", MaxRecordsPerRead = 0, Region = "Us East" }));

        Assert.Contains("Kinesis:ServiceUrl", e.Message, StringComparison.Ordinal);
        Assert.Contains("Kinesis:MaxRecordsPerRead", e.Message, StringComparison.Ordinal);
        Assert.Contains("Kinesis:Region", e.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Without_an_endpoint_the_client_goes_to_aws_in_its_region()
    {
        using var client = new KinesisClient(new KinesisOptions { Region = "eu-west-1" }, Kinesalite.DummyKeys);

        Assert.Equal(new Uri("https://kinesis.eu-west-1.amazonaws.com/"), client.Endpoint);
        Assert.Equal("eu-west-1", client.Region);
    }
}
