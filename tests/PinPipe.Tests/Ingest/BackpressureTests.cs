using System.Net;
using System.Text;
using System.Text.Json;
using PinPipe.Configuration;
using PinPipe.Emulation;
using PinPipe.Ingest;
using PinPipe.Log;
using PinPipe.Log.Sqlite;
using PinPipe.Tests.Emulation;
using PinPipe.Tests.Support;

namespace PinPipe.Tests.Ingest;

/// <summary>
/// Load shedding: when the log cannot keep up (its appends not yet durable would pass <c>Log:MaxQueuedBytes</c>) or the API
/// holds <c>Ingest:MaxInFlightBytes</c> of request bodies, a produce request gets 503 with <c>Retry-After</c> in its route
/// family's shape and writes nothing; the emulator waits as told and loses nothing. The writer is held through the log's
/// test hook (<see cref="SqliteLog.BeforeAppendCommit"/>) so that the log is busy exactly when a test needs it.
/// </summary>
public sealed class BackpressureTests
{
    private const string Pin = "streaming-bp-pin";
    private const string Geo = "streaming-bp-geo";

    /// <summary>Holds the log's writer inside its next commit until <see cref="Release"/>.</summary>
    private sealed class HeldWriter : IDisposable
    {
        private readonly SqliteLog _log;
        private readonly SemaphoreSlim _entered = new(0);
        private readonly ManualResetEventSlim _gate = new();

        public HeldWriter(ILog log)
        {
            _log = (SqliteLog)log;
            _log.BeforeAppendCommit = () =>
            {
                _entered.Release();
                _gate.Wait();
            };
        }

        /// <summary>Waits until the writer is inside a commit (an append is held, its bytes counted).</summary>
        public Task EnteredAsync() => _entered.WaitAsync();

        public void Release()
        {
            _log.BeforeAppendCommit = null;
            _gate.Set();
        }

        public void Dispose()
        {
            Release();
            _entered.Dispose();
            _gate.Dispose();
        }
    }

    private static Task<IngestApiHarness> StartAsync(long maxQueuedBytes = 1, IngestOptions? options = null) =>
        IngestApiHarness.StartAsync(o => o with { MaxQueuedBytes = maxQueuedBytes }, options, ("bp.pin", 1), (Pin, 1), (Geo, 2));

    private static void AssertRetryAfter(HttpResponseMessage response, int seconds) =>
        Assert.Equal(TimeSpan.FromSeconds(seconds), response.Headers.RetryAfter?.Delta);

    [Fact]
    public async Task Kafka_REST_produce_while_the_log_cannot_keep_up_is_503_50301_with_Retry_After_and_writes_nothing()
    {
        await using var api = await StartAsync();
        using var held = new HeldWriter(api.Log);
        var first = api.PostAsync("topics/bp.pin", """{"records":[{"value":{"n":1}}]}""");
        await held.EnteredAsync();

        using (var shed = await api.PostAsync("topics/bp.pin", """{"records":[{"value":{"n":2}},{"value":{"n":3}}]}"""))
        {
            await KafkaRestErrorTests.AssertRestErrorAsync(shed, HttpStatusCode.ServiceUnavailable, 50301,
                "Service Unavailable: the server cannot keep up, nothing was written; retry after 1 s (Retry-After): The log cannot keep up");
            AssertRetryAfter(shed, 1);
            Assert.Contains("Log:MaxQueuedBytes=1", await shed.Content.ReadAsStringAsync(), StringComparison.Ordinal);
        }

        held.Release();
        using (var ok = await first) Assert.Equal(HttpStatusCode.OK, ok.StatusCode);
        using (var again = await api.PostAsync("topics/bp.pin", """{"records":[{"value":{"n":2}},{"value":{"n":3}}]}""")) Assert.Equal(HttpStatusCode.OK, again.StatusCode);
        // The shed request took no offset: the retry's records follow the first.
        Assert.Equal(["{\"n\":1}", "{\"n\":2}", "{\"n\":3}"], (await api.ReadAllAsync("bp.pin")).Select(r => Encoding.UTF8.GetString(r.Value!)));
    }

    [Fact]
    public async Task Kinesis_PutRecord_and_PutRecords_while_the_log_cannot_keep_up_are_503_ServiceUnavailable_with_Retry_After()
    {
        await using var api = await StartAsync();
        using var held = new HeldWriter(api.Log);
        var first = api.SendAsync(HttpMethod.Put, $"streams/{Pin}/record", """{"Data":{"n":1},"PartitionKey":"p"}""");
        await held.EnteredAsync();

        using (var shed = await api.SendAsync(HttpMethod.Put, $"streams/{Pin}/record", """{"Data":{"n":2},"PartitionKey":"p"}"""))
        {
            await KinesisErrorTests.AssertKinesisErrorAsync(shed, HttpStatusCode.ServiceUnavailable, "ServiceUnavailable",
                "The server cannot keep up, nothing was written; retry after 1 s (Retry-After): The log cannot keep up");
            AssertRetryAfter(shed, 1);
        }
        // Every shard of a PutRecords refused: one 503 for the request, as for PutRecord.
        using (var shed = await api.SendAsync(HttpMethod.Put, $"streams/{Geo}/records",
            """{"records":[{"data":{"n":1},"partition-key":"a"},{"data":{"n":2},"partition-key":"b"},{"data":{"n":3},"partition-key":"c"}]}"""))
        {
            await KinesisErrorTests.AssertKinesisErrorAsync(shed, HttpStatusCode.ServiceUnavailable, "ServiceUnavailable", "The log cannot keep up");
            AssertRetryAfter(shed, 1);
        }

        held.Release();
        using (var ok = await first) Assert.Equal(HttpStatusCode.OK, ok.StatusCode);
        Assert.Equal(new long[] { 1 }, await api.CountsAsync(Pin));
        Assert.Equal(new long[] { 0, 0 }, await api.CountsAsync(Geo));
    }

    [Fact]
    public async Task A_PutRecords_whose_second_shard_is_shed_answers_that_shards_records_ProvisionedThroughputExceeded_with_Retry_After()
    {
        await using var api = await StartAsync();
        string KeyOf(int shard) => Enumerable.Range(0, 100).Select(i => $"k{i}").First(k => KinesisShards.ShardOf(KinesisShards.HashKey(k), 2) == shard);
        using var held = new HeldWriter(api.Log);

        // Shard 0's append comes first: taken (nothing held) and held in the writer; shard 1's then passes the limit.
        var answer = api.SendAsync(HttpMethod.Put, $"streams/{Geo}/records",
            $$"""{"records":[{"data":{"n":0},"partition-key":"{{KeyOf(0)}}"},{"data":{"n":1},"partition-key":"{{KeyOf(1)}}"}]}""");
        await held.EnteredAsync();
        held.Release();
        using var response = await answer;

        var body = await response.Content.ReadAsStringAsync();
        Assert.True(response.StatusCode == HttpStatusCode.OK, body);
        AssertRetryAfter(response, 1);
        using var doc = JsonDocument.Parse(body);
        Assert.Equal(1, doc.RootElement.GetProperty("FailedRecordCount").GetInt32());
        var records = doc.RootElement.GetProperty("Records");
        Assert.Equal("shardId-000000000000", records[0].GetProperty("ShardId").GetString());
        Assert.Equal("ProvisionedThroughputExceededException", records[1].GetProperty("ErrorCode").GetString());
        Assert.Contains("The log could not take the records of shardId-000000000001; retry: The log cannot keep up", records[1].GetProperty("ErrorMessage").GetString(), StringComparison.Ordinal);
        Assert.Equal(new long[] { 1, 0 }, await api.CountsAsync(Geo));
    }

    [Fact]
    public async Task Bodies_past_MaxInFlightBytes_are_503_in_each_familys_shape_before_they_are_read_and_write_nothing()
    {
        string body = """{"records":[{"value":{"held":true}}]}""";
        // The limit is the first body: while its append is held in the log, any other body would pass it.
        await using var api = await StartAsync(maxQueuedBytes: 1L << 20, new IngestOptions { MaxInFlightBytes = body.Length });
        using var held = new HeldWriter(api.Log);
        var first = api.PostAsync("topics/bp.pin", body);
        await held.EnteredAsync();

        using (var rest = await api.PostAsync("topics/bp.pin", body))
        {
            await KafkaRestErrorTests.AssertRestErrorAsync(rest, HttpStatusCode.ServiceUnavailable, 50301,
                $"the server holds {body.Length} bytes of request bodies, and this request's {body.Length} would pass Ingest:MaxInFlightBytes={body.Length}; its body was not read.");
            AssertRetryAfter(rest, 1);
            Assert.True(rest.Headers.ConnectionClose);
        }
        using (var kinesis = await api.SendAsync(HttpMethod.Put, $"streams/{Pin}/record", """{"Data":{"n":1},"PartitionKey":"p"}"""))
        {
            await KinesisErrorTests.AssertKinesisErrorAsync(kinesis, HttpStatusCode.ServiceUnavailable, "ServiceUnavailable", $"Ingest:MaxInFlightBytes={body.Length}");
            AssertRetryAfter(kinesis, 1);
        }
        // Requests without a body to read are not counted.
        using (var list = await api.Client.GetAsync("topics")) Assert.Equal(HttpStatusCode.OK, list.StatusCode);

        held.Release();
        using (var ok = await first) Assert.Equal(HttpStatusCode.OK, ok.StatusCode);
        using (var again = await api.PostAsync("topics/bp.pin", body)) Assert.Equal(HttpStatusCode.OK, again.StatusCode);
        Assert.Equal(new long[] { 2 }, await api.CountsAsync("bp.pin"));
        Assert.Equal(new long[] { 0 }, await api.CountsAsync(Pin));
    }

    [Theory]
    [InlineData(EmulatorLane.Batch, 1)]
    [InlineData(EmulatorLane.Stream, 1)]
    [InlineData(EmulatorLane.Stream, 4)]
    public async Task An_emulator_posting_faster_than_the_log_takes_is_shed_waits_as_Retry_After_says_and_every_record_lands_once(EmulatorLane lane, int perRequest)
    {
        const int Posts = 12;
        var names = new PipelineNames($"bp{Guid.NewGuid():N}"[..10]);
        var targets = lane == EmulatorLane.Batch ? names.Topics : names.Streams;
        // One append at a time in the log (any append is taken when nothing is held), each commit 20 ms: 6 requests at once overrun it.
        await using var api = await IngestApiHarness.StartAsync(o => o with { MaxQueuedBytes = 1 }, null, [.. targets.Select(t => (t, 1))]);
        ((SqliteLog)api.Log).BeforeAppendCommit = () => Thread.Sleep(20);
        await using var source = InMemorySourceDatabase.Generate(500);
        var options = new EmulatorOptions
        {
            ApiUrl = api.Server.BaseAddress.ToString(),
            Lane = lane,
            Count = Posts,
            RecordsPerRequest = perRequest,
            Concurrency = 6,
            MaxAttempts = 1, // only shed answers may be retried: any other failure loses records and fails the test
            Seed = 5,
        };

        var result = await new Emulator(options, source, names).RunAsync();

        Assert.True(result.RecordsLost == 0, string.Join("; ", result.Errors));
        Assert.Equal(3 * Posts, result.RecordsSent);
        Assert.Equal(3 * Posts, result.RecordsAcknowledged);
        Assert.True(result.Retries > 0, "no request was shed");
        var samples = await PrometheusText.ScrapeProcessAsync();
        string family = lane == EmulatorLane.Batch ? "kafka-rest" : "kinesis";
        double shed = targets.Sum(t => samples.ValueOrZero("pinpipe_ingest_requests_total", $"family={family}", $"topic={t}", "status=503"));
        Assert.True(shed > 0, "no 503 was counted in the metrics");
        Assert.Equal(result.Retries, (long)shed); // every retry answered a 503: no other failure was retried

        // Exactly once: each target holds one record per post, and the three hold the same posts.
        var indexes = new List<List<long>>();
        foreach (var (target, i) in targets.Select((t, i) => (t, i)))
        {
            var stored = await api.ReadAllAsync(target);
            Assert.Equal(Posts, stored.Count);
            indexes.Add([.. stored.Select(r => IndexOf(r.Value!, i)).Order()]);
        }
        Assert.Equal(indexes[0], indexes[1]);
        Assert.Equal(indexes[0], indexes[2]);
    }

    private static long IndexOf(byte[] value, int target)
    {
        using var doc = JsonDocument.Parse(value);
        return doc.RootElement.GetProperty(target == 0 ? "index" : "ind").GetInt64();
    }
}
