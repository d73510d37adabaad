using System.Globalization;
using System.Text;
using Amazon.S3.Model;
using Microsoft.Extensions.Logging;
using PinPipe.Lake;
using PinPipe.Lake.S3;
using PinPipe.Log;
using PinPipe.Sink;
using PinPipe.Tests.Lake;
using PinPipe.Tests.Observability;
using PinPipe.Tests.Support;
using static PinPipe.Tests.Sink.SinkTestKit;

namespace PinPipe.Tests.Sink;

/// <summary>
/// The sink writing to s3rver (TEST_PINPIPE_S3) through <see cref="FaultProxy"/>, which fails about a fifth of the
/// requests (500s, 503 SlowDowns, answers that never come, connections reset on the way in and on the way out) and
/// answers some slowly, while records keep arriving: every logged record lands in the bucket exactly once, in order,
/// and every failed request is counted in <c>pinpipe_object_store_errors_total</c> and logged as a warning. Run alone
/// (<see cref="SharedMetrics"/>): the counters are the process's.
/// </summary>
[Collection(SharedMetrics.Name)]
public sealed class SinkFaultTests : IAsyncLifetime, IDisposable
{
    private static readonly string[] Topics = ["f.pin", "f.geo"];
    private readonly string _bucket = "pinpipe-sink-faults-" + Guid.NewGuid().ToString("N")[..12];
    private readonly ObjectStoreOptions _options = S3ObjectStoreTests.S3rverOptions() with { SocketTimeout = TimeSpan.FromSeconds(2) };
    private readonly CapturedLogs _logs = new();
    private readonly S3ObjectStore _direct;

    // The test's own reads go straight to s3rver; a slow answer there fails and counts too (the counter is the process's):
    // logged with the sink's lines, it is matched.
    public SinkFaultTests() => _direct = new S3ObjectStore(_options, _bucket, S3ObjectStoreTests.S3rverCredentials, _logs.CreateLogger("direct"));

    public async Task InitializeAsync() => await _direct.Client.PutBucketAsync(new PutBucketRequest { BucketName = _bucket });

    public Task DisposeAsync() => Task.CompletedTask;

    public void Dispose()
    {
        _direct.Dispose();
        _logs.Dispose();
    }

    [Fact]
    public async Task Every_logged_record_lands_exactly_once_while_a_fifth_of_the_requests_fail_and_each_failure_is_counted_and_logged()
    {
        ILog log = await TestLogs.CreateAsync();
        await log.CreateTopicAsync("f.pin", 3);
        await log.CreateTopicAsync("f.geo", 1);
        var rates = new FaultRates(InternalError: 0.04, SlowDown: 0.04, Stall: 0.03, ResetMidRequest: 0.04, ResetMidResponse: 0.05, Slow: 0.03);
        await using var proxy = FaultProxy.Http(new Uri(_options.ServiceUrl!), rates, seed: 20);
        using var store = new S3ObjectStore(_options with { ServiceUrl = proxy.Url }, _bucket, S3ObjectStoreTests.S3rverCredentials, _logs.CreateLogger("store"));
        using var loggers = _logs.Factory();
        // Objects of 10 records, or fewer when 300 ms passed (rotation): a retried object is rebuilt with the boundary it was written with.
        var sink = new S3SinkConnector(log, store, new SinkOptions
        {
            Topics = Topics,
            FlushSize = 10,
            RotateScheduleInterval = TimeSpan.FromMilliseconds(300),
            PollInterval = TimeSpan.FromMilliseconds(20),
        }, loggers.CreateLogger<S3SinkConnector>())
        { RetryBackoff = TimeSpan.FromMilliseconds(100) };
        var before = await S3FaultTests.ErrorsAsync();

        using var stop = new CancellationTokenSource();
        Task run = sink.RunAsync(stop.Token);
        // Records arrive while the sink runs: 6 rounds of 25 records a partition.
        var appended = new Dictionary<(string Topic, int Partition), int>();
        for (int round = 0; round < 6; round++)
        {
            foreach (var (topic, partitions) in new[] { ("f.pin", 3), ("f.geo", 1) })
                for (int p = 0; p < partitions; p++)
                {
                    int from = appended.GetValueOrDefault((topic, p));
                    await AppendAsync(log, topic, p, from, 25);
                    appended[(topic, p)] = from + 25;
                }
            await Task.Delay(150);
        }
        sink.CommitOpenObjects();
        await Eventually(async () =>
        {
            foreach (var ((topic, p), count) in appended)
                if (!await CommittedAsync(log, topic, p, count)) return false;
            return true;
        }, timeoutSeconds: 90, () => (run.IsFaulted ? run.Exception!.ToString() : "") + " " + proxy.Summary);
        // No fault from here on; a stalled request still open ends when its client gives up (and counts).
        proxy.Rates = FaultRates.None;
        await Eventually(() => Task.FromResult(proxy.InFlight == 0), timeoutSeconds: 30);
        await stop.CancelAsync();
        await run;

        // Every record exactly once, in order: each partition's objects, by start offset, hold its records one after the other.
        var objects = await ReadAllAsync(_direct, "topics/");
        foreach (var ((topic, p), count) in appended)
        {
            string prefix = $"topics/{topic}/partition={p}/";
            var mine = objects.Where(o => o.Key.StartsWith(prefix, StringComparison.Ordinal))
                .Select(o => (Start: long.Parse(o.Key[(o.Key.LastIndexOf('+') + 1)..^".json".Length], CultureInfo.InvariantCulture), o.Content))
                .OrderBy(o => o.Start).ToList();
            long next = 0;
            foreach (var (start, content) in mine)
            {
                Assert.Equal(next, start);
                string[] lines = Encoding.UTF8.GetString(content).Split('\n')[..^1];
                Assert.Equal(Enumerable.Range((int)start, lines.Length).Select(n => Encoding.UTF8.GetString(Json(topic, p, n))), lines);
                next += lines.Length;
            }
            Assert.Equal(count, next);
        }
        Assert.Equal(appended.Values.Sum(), sink.GetStats().RecordsWritten);

        // Every kind of fault happened, and every failed request was seen: counted by kind, and retried with a warning line.
        foreach (Fault fault in FaultRates.Drawn) Assert.True(proxy.Injected(fault) > 0, proxy.Summary);
        var rise = S3FaultTests.Rise(before, await S3FaultTests.ErrorsAsync());
        int gaveUp = S3FaultTests.AssertCountedAndLogged(proxy, rise, _logs);
        Assert.True(sink.GetStats().Failures <= gaveUp);
    }
}
