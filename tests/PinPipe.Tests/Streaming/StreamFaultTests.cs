using Amazon.S3.Model;
using Microsoft.Extensions.Logging;
using PinPipe.Lake;
using PinPipe.Lake.S3;
using PinPipe.Streaming;
using PinPipe.Tests.Lake;
using PinPipe.Tests.Observability;
using PinPipe.Tests.Support;
using PinPipe.Transform;

namespace PinPipe.Tests.Streaming;

/// <summary>
/// The stream job committing to Delta tables on s3rver (TEST_PINPIPE_S3) through <see cref="FaultProxy"/>, which fails
/// about a fifth of the requests (500s, 503 SlowDowns, answers that never come, connections reset on the way in and on
/// the way out, commits among them) and answers some slowly, while records keep arriving, re-posts and rejects among
/// them: each table ends up holding what one batch cleaning of every record gives, each row once; every failed request is
/// counted in <c>pinpipe_object_store_errors_total</c> and logged as a warning. Run alone (<see cref="SharedMetrics"/>):
/// the counters are the process's.
/// </summary>
[Collection(SharedMetrics.Name)]
public sealed class StreamFaultTests
{
    [Fact]
    public async Task Every_record_is_committed_exactly_once_while_a_fifth_of_the_requests_fail_and_each_failure_is_counted_and_logged()
    {
        var options = S3ObjectStoreTests.S3rverOptions() with { SocketTimeout = TimeSpan.FromSeconds(2) };
        string bucket = "pinpipe-stream-faults-" + Guid.NewGuid().ToString("N")[..12];
        using var logs = new CapturedLogs();
        // The test's own reads (the kit's catch-up checks, the tables read at the end) go straight to s3rver, and a slow
        // answer there fails and counts too (the counter is the process's): logged with the job's lines, it is matched.
        var direct = new S3ObjectStore(options, bucket, S3ObjectStoreTests.S3rverCredentials, logs.CreateLogger("direct"));
        await direct.Client.PutBucketAsync(new PutBucketRequest { BucketName = bucket });
        using var loggers = logs.Factory();
        // Compaction every 4 small files: its commits (which remove files) go through the faults too. The log's lines (its
        // consumer group's among them) are captured with the job's, for the message of a failure.
        await using var kit = await StreamTestKit.CreateAsync(partitions: 2, new StreamOptions { Trigger = TimeSpan.FromMilliseconds(100), CompactEvery = 4 }, store: direct, logLoggers: loggers);
        var rates = new FaultRates(InternalError: 0.04, SlowDown: 0.04, Stall: 0.03, ResetMidRequest: 0.04, ResetMidResponse: 0.05, Slow: 0.03);
        await using var proxy = FaultProxy.Http(new Uri(options.ServiceUrl!), rates, seed: 31);
        using var store = new S3ObjectStore(options with { ServiceUrl = proxy.Url }, bucket, S3ObjectStoreTests.S3rverCredentials, logs.CreateLogger("store"));
        var job = new StreamJob(kit.Settings.Stream, kit.Target, kit.Log, null, store, loggers, null, StreamJob.DefaultSmallFileBytes);
        var before = await S3FaultTests.ErrorsAsync();

        using var stop = new CancellationTokenSource();
        var run = job.RunAsync(stop.Token);
        using (var producing = new CancellationTokenSource(TimeSpan.FromSeconds(4)))
            Assert.True(await kit.ProduceAsync(seed: 8, partitions: 2, producing.Token) > 0);
        var deadline = DateTime.UtcNow + TimeSpan.FromSeconds(90);
        while (!await kit.CaughtUpAsync())
        {
            if (run.IsCompleted) await run; // surfaces the failure
            Assert.True(DateTime.UtcNow < deadline, "the stream job did not catch up in time; " + proxy.Summary + "\n"
                + string.Join("\n", logs.Entries.Where(e => e.Level >= LogLevel.Information).Select(e => $"{e.Level} {e.Category}: {e.Message}")));
            await Task.Delay(50);
        }
        // No fault from here on; a stalled request still open ends when its client gives up (and counts).
        proxy.Rates = FaultRates.None;
        while (proxy.InFlight > 0)
        {
            Assert.True(DateTime.UtcNow < deadline, "a request stayed in flight");
            await Task.Delay(20);
        }
        await stop.CancelAsync();
        await run;
        Assert.Contains(logs.Entries, e => e.Message.StartsWith("Joined consumer group", StringComparison.Ordinal)); // the log's lines are captured

        foreach (var kind in StreamTestKit.Kinds)
        {
            var (clean, rejects, counts) = await kit.ExpectedAsync(kind);
            Assert.True(counts.Duplicates > 0 && counts.Rejects > 0, $"{kind}: the records should hold re-posts and rejects");
            var rows = await kit.ReadDeltaAsync(kind);
            AssertSameRows(kind, "clean", StreamTestKit.Lines(clean), StreamTestKit.Lines(rows), logs);
            AssertSameRows(kind, "reject", StreamTestKit.Lines(rejects), StreamTestKit.Lines(await kit.ReadDeltaAsync(kind, rejects: true)), logs);
            Assert.Equal(rows.Count, rows.Select(r => r["ind"]).Distinct().Count());
        }
        await kit.AssertTxnsOnlyGrowAsync();

        // Every kind of fault happened, and every failed request was seen: counted by kind, and retried with a warning line
        // (or, after its last attempt, the table's micro-batch retried, with a warning line of its own).
        foreach (Fault fault in FaultRates.Drawn) Assert.True(proxy.Injected(fault) > 0, proxy.Summary);
        var rise = S3FaultTests.Rise(before, await S3FaultTests.ErrorsAsync());
        S3FaultTests.AssertCountedAndLogged(proxy, rise, logs);
    }

    /// <summary>
    /// The table holds exactly the expected rows; if not, the message names the rows missing and those extra, with every line
    /// the job, its store and its log wrote (its retries, commits whose outcome was unknown, compactions, revocations).
    /// </summary>
    private static void AssertSameRows(RecordKind kind, string table, List<string> expected, List<string> actual, CapturedLogs logs)
    {
        if (expected.SequenceEqual(actual)) return;
        var missing = expected.Except(actual).ToList();
        var extra = actual.Except(expected).ToList();
        Assert.Fail($"{kind}'s {table} table: {expected.Count} rows expected, {actual.Count} read; missing {missing.Count}: {string.Join(" ;; ", missing.Take(10))}; "
            + $"extra {extra.Count}: {string.Join(" ;; ", extra.Take(10))}\n"
            + string.Join("\n", logs.Entries.Select(e => $"{e.Level} {e.Category}: {e.Message}{(e.Exception is null ? "" : " [" + e.Exception.GetType().Name + ": " + e.Exception.Message + "]")}")));
    }
}
