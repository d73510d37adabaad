using System.Net;
using System.Text;
using System.Text.Json;
using PinPipe.Ingest;
using PinPipe.Log;
using PinPipe.Log.Kinesis;
using PinPipe.Tests.Log.Kinesis;
using PinPipe.Tests.Support;

namespace PinPipe.Tests.Ingest;

/// <summary>
/// <c>Stream:Source=kinesis</c>: the API's Kinesis routes forward to Kinesis (kinesalite) and answer in the shapes they
/// answer on the log; <c>pinpipe serve</c> so set makes the pipeline's streams in Kinesis and forwards to them.
/// </summary>
public sealed class KinesisForwardingTests
{
    /// <summary>An API whose Kinesis routes forward to <paramref name="kinesis"/>, over an embedded log that must stay empty.</summary>
    private sealed class Api : IAsyncDisposable
    {
        private readonly TempDirectory _dir = new("kinesis-forwarding");
        public ILog Log { get; private set; } = null!;
        public IngestServer Server { get; private set; } = null!;
        public HttpClient Http { get; private set; } = null!;

        public static async Task<Api> StartAsync(KinesisClient kinesis)
        {
            var api = new Api();
            api.Log = await LogFactory.OpenAsync(new LogOptions { Path = api._dir.File("log.db") });
            api.Server = await IngestServer.StartAsync(new IngestOptions { Urls = "http://127.0.0.1:0" }, api.Log, TopicConsumers.None, null, null, kinesis);
            api.Http = new HttpClient { BaseAddress = api.Server.BaseAddress };
            return api;
        }

        public async Task<(HttpStatusCode Status, JsonElement Body)> SendAsync(HttpMethod method, string path, string? body = null)
        {
            using var request = new HttpRequestMessage(method, path.TrimStart('/'));
            if (body is not null) request.Content = new StringContent(body, Encoding.UTF8, "application/json");
            using var response = await Http.SendAsync(request);
            string text = await response.Content.ReadAsStringAsync();
            return (response.StatusCode, text.Length == 0 ? default : JsonDocument.Parse(text).RootElement.Clone());
        }

        public async ValueTask DisposeAsync()
        {
            Http.Dispose();
            await Server.DisposeAsync();
            await Log.DisposeAsync();
            _dir.Dispose();
        }
    }

    private static async Task<List<KinesisRecord>> ReadAllAsync(KinesisClient kinesis, string stream, int count)
    {
        var reader = new KinesisShardReader(kinesis, stream, new Dictionary<string, string>(), ShardIteratorType.TrimHorizon);
        var records = new List<KinesisRecord>();
        for (int i = 0; i < 200 && records.Count < count; i++) records.AddRange(await reader.ReadAsync(1000));
        return records;
    }

    private static string PutRecordsBody(IEnumerable<(string Key, string Data)> records) =>
        JsonSerializer.Serialize(new { records = records.Select(r => new Dictionary<string, object> { ["data"] = JsonDocument.Parse(r.Data).RootElement, ["partition-key"] = r.Key }) });

    [Fact]
    public async Task PutRecords_and_PutRecord_go_to_kinesis_and_answer_its_sequence_numbers_and_shards()
    {
        using var kinesis = Kinesalite.Client();
        string stream = Kinesalite.NewStream("fwd");
        await using var api = await Api.StartAsync(kinesis);
        var (created, _) = await api.SendAsync(HttpMethod.Post, $"/streams/{stream}", "{\"ShardCount\": 2}");
        Assert.Equal(HttpStatusCode.OK, created);
        await kinesis.WaitForActiveAsync(stream, TimeSpan.FromSeconds(30));

        var posted = Enumerable.Range(0, 30).Select(i => ($"user-{i % 5}", $"{{\"ind\":{i},\"note\":\"a b\"}}")).ToList();
        var (status, body) = await api.SendAsync(HttpMethod.Put, $"/streams/{stream}/records", PutRecordsBody(posted));
        var (oneStatus, one) = await api.SendAsync(HttpMethod.Put, $"/streams/{stream}/record", "{\"StreamName\": \"" + stream + "\", \"Data\": {\"ind\": 99}, \"PartitionKey\": \"solo\"}");

        Assert.Equal(HttpStatusCode.OK, status);
        Assert.Equal(0, body.GetProperty("FailedRecordCount").GetInt32());
        var answered = body.GetProperty("Records").EnumerateArray().Select(r => (Seq: r.GetProperty("SequenceNumber").GetString()!, Shard: r.GetProperty("ShardId").GetString()!)).ToList();
        Assert.Equal(30, answered.Count);
        Assert.Equal(HttpStatusCode.OK, oneStatus);

        var records = await ReadAllAsync(kinesis, stream, 31);
        Assert.Equal(31, records.Count);
        for (int i = 0; i < posted.Count; i++)
        {
            var record = Assert.Single(records, r => r.SequenceNumber == answered[i].Seq);
            Assert.Equal((answered[i].Shard, posted[i].Item1), (record.ShardId, record.PartitionKey));
            // Stored as on the log: the data's JSON text, compact.
            Assert.Equal($"{{\"ind\":{i},\"note\":\"a b\"}}", Encoding.UTF8.GetString(record.Data.Span));
        }
        var solo = Assert.Single(records, r => r.SequenceNumber == one.GetProperty("SequenceNumber").GetString());
        Assert.Equal(("solo", "{\"ind\":99}", one.GetProperty("ShardId").GetString()), (solo.PartitionKey, Encoding.UTF8.GetString(solo.Data.Span), solo.ShardId));
        // Nothing went to the log.
        Assert.Empty(await api.Log.ListTopicsAsync());
        await kinesis.DeleteStreamAsync(stream);
    }

    [Fact]
    public async Task List_and_describe_answer_kinesis_streams_in_the_routes_shapes()
    {
        using var kinesis = Kinesalite.Client();
        string stream = Kinesalite.NewStream("desc");
        await kinesis.EnsureStreamAsync(stream, 3, TimeSpan.FromSeconds(30));
        await using var api = await Api.StartAsync(kinesis);

        var (listStatus, list) = await api.SendAsync(HttpMethod.Get, "/streams");
        var (status, description) = await api.SendAsync(HttpMethod.Get, $"/streams/{stream}");

        Assert.Equal(HttpStatusCode.OK, listStatus);
        Assert.Contains(stream, list.GetProperty("StreamNames").EnumerateArray().Select(n => n.GetString()));
        Assert.Equal(HttpStatusCode.OK, status);
        var d = description.GetProperty("StreamDescription");
        Assert.Equal((stream, "ACTIVE"), (d.GetProperty("StreamName").GetString(), d.GetProperty("StreamStatus").GetString()));
        Assert.Equal(3, d.GetProperty("Shards").GetArrayLength());
        Assert.Equal("0", d.GetProperty("Shards")[0].GetProperty("HashKeyRange").GetProperty("StartingHashKey").GetString());
        Assert.StartsWith("arn:aws:kinesis:", d.GetProperty("StreamARN").GetString(), StringComparison.Ordinal);
        await kinesis.DeleteStreamAsync(stream);
    }

    [Fact]
    public async Task An_unknown_stream_is_kinesis_resource_not_found()
    {
        using var kinesis = Kinesalite.Client();
        await using var api = await Api.StartAsync(kinesis);

        var (status, body) = await api.SendAsync(HttpMethod.Put, "/streams/pinpipe-test-missing/records", PutRecordsBody([("k", "1")]));

        Assert.Equal(HttpStatusCode.BadRequest, status);
        Assert.Equal("ResourceNotFoundException", body.GetProperty("__type").GetString());
        Assert.Contains("pinpipe-test-missing", body.GetProperty("message").GetString(), StringComparison.Ordinal);
    }

    [Fact]
    public async Task A_bad_body_is_refused_before_anything_goes_to_kinesis()
    {
        await using var stub = await KinesisStub.StartAsync(null, (_, _) => new StubAnswer(200, "{}"));
        using var kinesis = Kinesalite.Client(stub.Url);
        await using var api = await Api.StartAsync(kinesis);

        var (status, body) = await api.SendAsync(HttpMethod.Put, "/streams/s/records", "{\"Records\": []}");

        Assert.Equal(HttpStatusCode.BadRequest, status);
        Assert.Equal("ValidationException", body.GetProperty("__type").GetString());
        Assert.Empty(stub.Requests);
    }

    [Fact]
    public async Task Kinesis_down_is_503_and_nothing_is_acknowledged()
    {
        using var kinesis = Kinesalite.Client($"http://127.0.0.1:{CliProcess.FreePort()}");
        await using var api = await Api.StartAsync(kinesis);

        var (status, body) = await api.SendAsync(HttpMethod.Put, "/streams/s/records", PutRecordsBody([("k", "1"), ("k", "2")]));
        var (oneStatus, one) = await api.SendAsync(HttpMethod.Put, "/streams/s/record", "{\"Data\": 1, \"PartitionKey\": \"k\"}");

        Assert.Equal(HttpStatusCode.ServiceUnavailable, status);
        Assert.Equal("ServiceUnavailable", body.GetProperty("__type").GetString());
        Assert.Contains("nothing was written", body.GetProperty("message").GetString(), StringComparison.Ordinal);
        Assert.False(body.TryGetProperty("Records", out _));
        Assert.Equal(HttpStatusCode.ServiceUnavailable, oneStatus);
        Assert.False(one.TryGetProperty("SequenceNumber", out _));
    }

    [Fact]
    public async Task Records_kinesis_refuses_in_a_PutRecords_carry_its_error_code()
    {
        // A stand-in: kinesalite never throttles. Kinesis refuses the second record of the batch.
        await using var stub = await KinesisStub.StartAsync(null, (_, _) => new StubAnswer(200,
            "{\"FailedRecordCount\":1,\"Records\":[{\"SequenceNumber\":\"1\",\"ShardId\":\"shardId-000000000000\"}," +
            "{\"ErrorCode\":\"ProvisionedThroughputExceededException\",\"ErrorMessage\":\"Rate exceeded for shard shardId-000000000000.\"}]}"));
        using var kinesis = Kinesalite.Client(stub.Url);
        await using var api = await Api.StartAsync(kinesis);

        var (status, body) = await api.SendAsync(HttpMethod.Put, "/streams/s/records", PutRecordsBody([("a", "1"), ("b", "2")]));

        Assert.Equal(HttpStatusCode.OK, status);
        Assert.Equal(1, body.GetProperty("FailedRecordCount").GetInt32());
        Assert.Equal("1", body.GetProperty("Records")[0].GetProperty("SequenceNumber").GetString());
        Assert.Equal("ProvisionedThroughputExceededException", body.GetProperty("Records")[1].GetProperty("ErrorCode").GetString());
        using var forwarded = JsonDocument.Parse(stub.Requests.Single().Body);
        Assert.Equal("PutRecords", stub.Requests.Single().Operation);
        Assert.Equal("s", forwarded.RootElement.GetProperty("StreamName").GetString());
        Assert.Equal(Convert.ToBase64String("2"u8), forwarded.RootElement.GetProperty("Records")[1].GetProperty("Data").GetString());
    }

    [Fact]
    public async Task Deleting_a_kinesis_stream_needs_force()
    {
        using var kinesis = Kinesalite.Client();
        string stream = Kinesalite.NewStream("del");
        await kinesis.EnsureStreamAsync(stream, 1, TimeSpan.FromSeconds(30));
        await using var api = await Api.StartAsync(kinesis);

        var (refused, body) = await api.SendAsync(HttpMethod.Delete, $"/streams/{stream}");
        Assert.Equal(HttpStatusCode.BadRequest, refused);
        Assert.Equal("ResourceInUseException", body.GetProperty("__type").GetString());
        Assert.Contains(stream, await kinesis.ListStreamsAsync());

        var (deleted, _) = await api.SendAsync(HttpMethod.Delete, $"/streams/{stream}?force=true");
        Assert.Equal(HttpStatusCode.OK, deleted);
        // Kinesis deletes a stream asynchronously (DELETING, then gone; kinesalite after about half a second).
        var deadline = DateTime.UtcNow + TimeSpan.FromSeconds(30);
        while ((await kinesis.ListStreamsAsync()).Contains(stream) && DateTime.UtcNow < deadline)
        {
            try
            {
                Assert.Equal("DELETING", (await kinesis.DescribeStreamSummaryAsync(stream)).StreamStatus);
            }
            catch (KinesisException ex) when (ex.IsNotFound)
            {
                break; // gone between the two calls
            }
            await Task.Delay(100);
        }
        Assert.DoesNotContain(stream, await kinesis.ListStreamsAsync());
    }

    [Fact]
    public async Task Serve_with_stream_source_kinesis_makes_the_streams_in_kinesis_and_forwards_to_them()
    {
        using var dir = new TempDirectory("serve-kinesis");
        string user = "k" + Guid.NewGuid().ToString("N")[..10];
        int port = CliProcess.FreePort();
        var environment = new Dictionary<string, string?>
        {
            ["PINPIPE_Stream__Source"] = "kinesis",
            ["PINPIPE_Kinesis__ServiceUrl"] = Kinesalite.Url,
            ["PINPIPE_Kinesis__Region"] = "us-east-1",
            // kinesalite takes any keys: dummy ones, through the SDK's chain as a deployment's would come.
            ["AWS_ACCESS_KEY_ID"] = "AKIDKINESALITE",
            ["AWS_SECRET_ACCESS_KEY"] = "kinesalite-secret",
        };
        await using var serve = CliProcess.StartWithEnvironment(environment, dir.Path, "serve", "--urls", $"http://127.0.0.1:{port}", "--user-id", user, "--data-dir", dir.Path);
        await serve.WaitHealthyAsync(new Uri($"http://127.0.0.1:{port}/healthz"), TimeSpan.FromSeconds(60));
        using var kinesis = Kinesalite.Client();
        string stream = $"streaming-{user}-pin";
        Assert.Contains(stream, await kinesis.ListStreamsAsync());

        using var http = new HttpClient { BaseAddress = new Uri($"http://127.0.0.1:{port}/") };
        using var content = new StringContent(PutRecordsBody(Enumerable.Range(0, 10).Select(i => ($"p{i}", $"{{\"ind\":{i}}}"))), Encoding.UTF8, "application/json");
        using var response = await http.PutAsync($"streams/{stream}/records", content);
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);

        var records = await ReadAllAsync(kinesis, stream, 10);
        Assert.Equal(Enumerable.Range(0, 10).Select(i => $"{{\"ind\":{i}}}").Order(), records.Select(r => Encoding.UTF8.GetString(r.Data.Span)).Order());
        foreach (var s in new[] { "pin", "geo", "user" }) await kinesis.DeleteStreamAsync($"streaming-{user}-{s}");
    }
}
