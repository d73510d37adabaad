using System.Globalization;
using System.Text;
using Microsoft.Extensions.Logging;
using PinPipe.Lake;
using PinPipe.Lake.Directory;
using PinPipe.Log;
using PinPipe.Sink;
using PinPipe.Tests.Lake.Delta;
using PinPipe.Tests.Support;
using static PinPipe.Tests.Sink.SinkTestKit;

namespace PinPipe.Tests.Sink;

public sealed class S3SinkConnectorTests : IDisposable
{
    private readonly TempDirectory _dir = new("sink");
    private readonly DirectoryObjectStore _store;

    public S3SinkConnectorTests() => _store = new DirectoryObjectStore(_dir.Path, "user-test-bucket");

    public void Dispose() => _dir.Dispose();

    private static SinkOptions Options(params string[] topics) =>
        new() { Topics = topics, FlushSize = 3, RotateScheduleInterval = null, PollInterval = TimeSpan.FromMilliseconds(20) };

    private static string Lines(string topic, int partition, int from, int count) =>
        string.Concat(Enumerable.Range(from, count).Select(n => Encoding.UTF8.GetString(Json(topic, partition, n)) + "\n"));

    [Fact]
    public void Object_keys_follow_the_default_partitioner()
    {
        Assert.Equal("topics/orders/partition=3/orders+3+0000001500.json", S3SinkConnector.ObjectKey("topics", "orders", 3, 1500));
        Assert.Equal("orders/partition=0/orders+0+0007.json", S3SinkConnector.ObjectKey("", "orders", 0, 7, 4));
        Assert.Equal("t/partition=0/t+0+123456.json", S3SinkConnector.ObjectKey(" ", "t", 0, 123456, 3));
        Assert.Equal("raw/u.pin/partition=12/u.pin+12+12345678901.json", S3SinkConnector.ObjectKey("raw", "u.pin", 12, 12345678901));
    }

    [Fact]
    public async Task Keys_and_contents_are_byte_exact_for_several_partitions_and_offsets()
    {
        ILog log = await TestLogs.CreateAsync();
        await log.CreateTopicAsync("u.pin", 3);
        await log.CreateTopicAsync("u.geo", 1);
        await AppendAsync(log, "u.pin", 0, 0, 12);
        await AppendAsync(log, "u.pin", 1, 0, 3);
        await AppendAsync(log, "u.pin", 2, 0, 7);
        await AppendAsync(log, "u.geo", 0, 0, 4);
        var sink = new S3SinkConnector(log, _store, Options("u.pin", "u.geo"));

        await RunUntilAsync(sink, async () => await CommittedAsync(log, "u.pin", 0, 12) && await CommittedAsync(log, "u.pin", 1, 3)
            && await CommittedAsync(log, "u.pin", 2, 6) && await CommittedAsync(log, "u.geo", 0, 3));

        var expected = new List<(string, string)>
        {
            ("topics/u.geo/partition=0/u.geo+0+0000000000.json", Lines("u.geo", 0, 0, 3)),
            ("topics/u.pin/partition=0/u.pin+0+0000000000.json", Lines("u.pin", 0, 0, 3)),
            ("topics/u.pin/partition=0/u.pin+0+0000000003.json", Lines("u.pin", 0, 3, 3)),
            ("topics/u.pin/partition=0/u.pin+0+0000000006.json", Lines("u.pin", 0, 6, 3)),
            ("topics/u.pin/partition=0/u.pin+0+0000000009.json", Lines("u.pin", 0, 9, 3)),
            ("topics/u.pin/partition=1/u.pin+1+0000000000.json", Lines("u.pin", 1, 0, 3)),
            ("topics/u.pin/partition=2/u.pin+2+0000000000.json", Lines("u.pin", 2, 0, 3)),
            ("topics/u.pin/partition=2/u.pin+2+0000000003.json", Lines("u.pin", 2, 3, 3)),
        };
        var actual = (await ReadAllAsync(_store)).Select(o => (o.Key, Encoding.UTF8.GetString(o.Content))).ToList();
        Assert.Equal(expected, actual);
        Assert.Equal("{\"topic\":\"u.geo\",\"p\":0,\"n\":0}\n{\"topic\":\"u.geo\",\"p\":0,\"n\":1}\n{\"topic\":\"u.geo\",\"p\":0,\"n\":2}\n", actual[0].Item2);

        SinkStats stats = sink.GetStats();
        Assert.Equal(26, stats.RecordsRead);
        Assert.Equal(24, stats.RecordsWritten);
        Assert.Equal(8, stats.ObjectsWritten);
        Assert.Equal(actual.Sum(a => (long)Encoding.UTF8.GetByteCount(a.Item2)), stats.BytesWritten);
        Assert.Equal(21, stats.Topics["u.pin"].RecordsWritten);
        Assert.Equal(4, stats.Topics["u.geo"].RecordsRead);
        Assert.Equal(0, stats.Failures);
    }

    [Fact]
    public void The_thread_floor_is_the_cores_plus_two_threads_a_partition_writer_capped()
    {
        Assert.Equal(Environment.ProcessorCount, S3SinkConnector.ThreadFloor(0));
        Assert.Equal(Environment.ProcessorCount + 8, S3SinkConnector.ThreadFloor(4));
        Assert.Equal(S3SinkConnector.MaxThreadFloor, S3SinkConnector.ThreadFloor(10_000));
    }

    [Fact]
    public async Task A_running_sink_keeps_the_thread_pool_floor_at_two_threads_a_partition_writer()
    {
        ILog log = await TestLogs.CreateAsync();
        await log.CreateTopicAsync("floor.pin", 4);
        for (int p = 0; p < 4; p++) await AppendAsync(log, "floor.pin", p, 0, 3);
        var sink = new S3SinkConnector(log, _store, Options("floor.pin"));

        await RunUntilAsync(sink, async () =>
        {
            for (int p = 0; p < 4; p++)
                if (!await CommittedAsync(log, "floor.pin", p, 3)) return false;
            return true;
        });

        ThreadPool.GetMinThreads(out int workers, out _);
        Assert.True(workers >= S3SinkConnector.ThreadFloor(4), $"the pool's floor is {workers} worker threads, below {S3SinkConnector.ThreadFloor(4)} for 4 writers");
    }

    [Fact]
    public async Task Commit_open_objects_writes_partial_objects_once_caught_up_and_a_restart_continues_after_them()
    {
        ILog log = await TestLogs.CreateAsync();
        await log.CreateTopicAsync("t", 2);
        await AppendAsync(log, "t", 0, 0, 5);
        await AppendAsync(log, "t", 1, 0, 1);
        var sink = new S3SinkConnector(log, _store, Options("t") with { FlushSize = 1000 });
        using (var cts = new CancellationTokenSource())
        {
            var run = sink.RunAsync(cts.Token);
            // Nothing reaches the flush size: nothing is written until asked.
            await Eventually(() => Task.FromResult(sink.GetStats().RecordsRead == 6));
            Assert.Empty(await ReadAllAsync(_store));
            sink.CommitOpenObjects();
            await Eventually(async () => await CommittedAsync(log, "t", 0, 5) && await CommittedAsync(log, "t", 1, 1));
            await AppendAsync(log, "t", 0, 5, 2);
            await Eventually(() => Task.FromResult(sink.GetStats().RecordsRead == 8));
            await Task.Delay(200);
            Assert.Equal(2, (await ReadAllAsync(_store)).Count); // the request was for the objects open then
            await cts.CancelAsync();
            await run;
        }

        var objects = (await ReadAllAsync(_store)).Select(o => (o.Key, Encoding.UTF8.GetString(o.Content))).ToList();
        Assert.Equal([("topics/t/partition=0/t+0+0000000000.json", Lines("t", 0, 0, 5)), ("topics/t/partition=1/t+1+0000000000.json", Lines("t", 1, 0, 1))], objects);

        var restarted = new S3SinkConnector(log, _store, Options("t") with { FlushSize = 2 });
        await RunUntilAsync(restarted, () => CommittedAsync(log, "t", 0, 7));
        Assert.Equal(Lines("t", 0, 5, 2), Encoding.UTF8.GetString((await _store.GetAsync("topics/t/partition=0/t+0+0000000005.json"))!));
    }

    [Fact]
    public async Task Objects_hold_exactly_flush_size_records_and_the_rest_waits_for_more()
    {
        ILog log = await TestLogs.CreateAsync();
        await log.CreateTopicAsync("t", 1);
        await AppendAsync(log, "t", 0, 0, 10);
        var options = Options("t") with { FlushSize = 4, TopicsDir = "raw", OffsetZeroPadWidth = 3 };
        await RunUntilAsync(new S3SinkConnector(log, _store, options), () => CommittedAsync(log, "t", 0, 8));
        Assert.Equal(["raw/t/partition=0/t+0+000.json", "raw/t/partition=0/t+0+004.json"], (await ReadAllAsync(_store)).Select(o => o.Key));

        await AppendAsync(log, "t", 0, 10, 2);
        await RunUntilAsync(new S3SinkConnector(log, _store, options), () => CommittedAsync(log, "t", 0, 12));
        var all = await ReadAllAsync(_store);
        Assert.Equal(["raw/t/partition=0/t+0+000.json", "raw/t/partition=0/t+0+004.json", "raw/t/partition=0/t+0+008.json"], all.Select(o => o.Key));
        Assert.Equal(Lines("t", 0, 8, 4), Encoding.UTF8.GetString(all[2].Content));
    }

    [Fact]
    public async Task An_open_object_is_committed_when_the_rotation_schedule_passes()
    {
        ILog log = await TestLogs.CreateAsync();
        await log.CreateTopicAsync("t", 1);
        var clock = new ManualTimeProvider();
        var sink = new S3SinkConnector(log, _store, Options("t") with { FlushSize = 100, RotateScheduleInterval = TimeSpan.FromSeconds(10) }, timeProvider: clock);
        using var cts = new CancellationTokenSource();
        Task run = sink.RunAsync(cts.Token);

        await AppendAsync(log, "t", 0, 0, 3);
        await Eventually(() => Task.FromResult(sink.GetStats().RecordsRead == 3));
        clock.Advance(TimeSpan.FromSeconds(9));
        await Task.Delay(150);
        Assert.Empty(await ReadAllAsync(_store));
        Assert.Null(await log.GetCommittedOffsetAsync(Group, "t", 0));

        clock.Advance(TimeSpan.FromSeconds(1));
        await Eventually(() => CommittedAsync(log, "t", 0, 3));
        await AppendAsync(log, "t", 0, 3, 2);
        await Eventually(() => Task.FromResult(sink.GetStats().RecordsRead == 5));
        clock.Advance(TimeSpan.FromSeconds(10));
        await Eventually(() => CommittedAsync(log, "t", 0, 5));
        await cts.CancelAsync();
        await run;

        var all = await ReadAllAsync(_store);
        Assert.Equal(["topics/t/partition=0/t+0+0000000000.json", "topics/t/partition=0/t+0+0000000003.json"], all.Select(o => o.Key));
        Assert.Equal(Lines("t", 0, 0, 3), Encoding.UTF8.GetString(all[0].Content));
        Assert.Equal(Lines("t", 0, 3, 2), Encoding.UTF8.GetString(all[1].Content));
    }

    [Fact]
    public async Task Cancelling_discards_the_open_object_without_committing_it()
    {
        ILog log = await TestLogs.CreateAsync();
        await log.CreateTopicAsync("t", 1);
        await AppendAsync(log, "t", 0, 0, 5);
        var sink = new S3SinkConnector(log, _store, Options("t"));
        await RunUntilAsync(sink, async () => await CommittedAsync(log, "t", 0, 3) && sink.GetStats().RecordsRead == 5);
        Assert.Equal(3, await log.GetCommittedOffsetAsync(Group, "t", 0));
        Assert.Single(await ReadAllAsync(_store));
    }

    [Fact]
    public async Task Null_values_are_skipped_counted_and_never_start_an_object()
    {
        ILog log = await TestLogs.CreateAsync();
        await log.CreateTopicAsync("t", 1);
        byte[] V(int n) => Json("t", 0, n);
        // offsets: 0 null, 1 v1, 2 null, 3 v3, 4 v4, 5 null, 6 v6, 7 null, 8 null
        ReadOnlyMemory<byte>?[] values = [null, V(1), null, V(3), V(4), null, V(6), null, null];
        await log.AppendAsync("t", values.Select(v => new LogRecord(null, v, 0)).ToList());
        var sink = new S3SinkConnector(log, _store, Options("t") with { FlushSize = 2 });
        await RunUntilAsync(sink, () => CommittedAsync(log, "t", 0, 9));

        var all = await ReadAllAsync(_store);
        Assert.Equal(["topics/t/partition=0/t+0+0000000001.json", "topics/t/partition=0/t+0+0000000004.json"], all.Select(o => o.Key));
        Assert.Equal(Encoding.UTF8.GetString(V(1)) + "\n" + Encoding.UTF8.GetString(V(3)) + "\n", Encoding.UTF8.GetString(all[0].Content));
        Assert.Equal(Encoding.UTF8.GetString(V(4)) + "\n" + Encoding.UTF8.GetString(V(6)) + "\n", Encoding.UTF8.GetString(all[1].Content));
        Assert.Equal(5, sink.GetStats().NullValuesSkipped);
        Assert.Equal(4, sink.GetStats().RecordsWritten);
        Assert.Equal(5, sink.GetStats().Topics["t"].NullValuesSkipped);
    }

    [Fact]
    public async Task A_failed_put_commits_nothing_and_the_retry_writes_every_record_once()
    {
        ILog log = await TestLogs.CreateAsync();
        await log.CreateTopicAsync("t", 1);
        await AppendAsync(log, "t", 0, 0, 12);
        var committedAtFailure = new List<long?>();
        var store = new FailingPutStore(_store, n => n is 2 or 3)
        {
            OnFailure = async _ => { lock (committedAtFailure) committedAtFailure.Add(null); committedAtFailure[^1] = await log.GetCommittedOffsetAsync(Group, "t", 0); },
        };
        var sink = new S3SinkConnector(log, store, Options("t")) { RetryBackoff = TimeSpan.FromMilliseconds(10) };
        await RunUntilAsync(sink, () => CommittedAsync(log, "t", 0, 12));

        Assert.Equal([(2, "topics/t/partition=0/t+0+0000000003.json"), (3, "topics/t/partition=0/t+0+0000000003.json")], store.Failed);
        Assert.Equal([3L, 3L], committedAtFailure);
        var all = await ReadAllAsync(_store);
        Assert.Equal(Lines("t", 0, 0, 12), string.Concat(all.Select(o => Encoding.UTF8.GetString(o.Content))));
        Assert.Equal(4, all.Count);
        Assert.Equal(2, sink.GetStats().Failures);
    }

    [Fact]
    public async Task The_next_object_is_read_while_one_is_flushed_but_put_only_once_the_one_before_is_committed()
    {
        ILog log = await TestLogs.CreateAsync();
        await log.CreateTopicAsync("t", 1);
        await AppendAsync(log, "t", 0, 0, 12);
        var puts = new List<(long Start, long? Committed)>();
        S3SinkConnector? sink = null;
        long readDuringFirstPut = -1;
        var store = new FailingPutStore(_store, _ => false)
        {
            OnPut = async key =>
            {
                long? committed = await log.GetCommittedOffsetAsync(Group, "t", 0);
                long start = long.Parse(key[(key.LastIndexOf('+') + 1)..^".json".Length], CultureInfo.InvariantCulture);
                lock (puts) puts.Add((start, committed));
                if (start != 0) return;
                // The first object's put is slow: the sink reads on meanwhile, up to the end of the next object.
                await Task.Delay(300);
                readDuringFirstPut = sink!.GetStats().RecordsRead;
            },
        };
        sink = new S3SinkConnector(log, store, Options("t")) { ReadBatchSize = 2 };
        await RunUntilAsync(sink, () => CommittedAsync(log, "t", 0, 12));

        // At most one object is ever written but not committed: each put starts at the committed offset.
        Assert.Equal([0L, 3L, 6L, 9L], puts.Select(p => p.Start));
        Assert.Equal([null, 3L, 6L, 9L], puts.Select(p => p.Committed));
        // While the first object (records 0-2) was flushed, the next one (3-5) was read and spooled, and no more.
        Assert.Equal(6, readDuringFirstPut);
        var all = await ReadAllAsync(_store);
        Assert.Equal(Lines("t", 0, 0, 12), string.Concat(all.Select(o => Encoding.UTF8.GetString(o.Content))));
    }

    [Fact]
    public async Task Too_many_failures_in_a_row_stop_the_sink_and_a_restart_resumes_at_the_committed_offset()
    {
        ILog log = await TestLogs.CreateAsync();
        await log.CreateTopicAsync("t", 1);
        await AppendAsync(log, "t", 0, 0, 9);
        var failing = new FailingPutStore(_store, n => n >= 2);
        var sink = new S3SinkConnector(log, failing, Options("t")) { RetryBackoff = TimeSpan.FromMilliseconds(5), MaxConsecutiveFailures = 3 };
        var e = await Assert.ThrowsAsync<InvalidOperationException>(() => sink.RunAsync());
        Assert.Contains("injected failure", e.Message, StringComparison.Ordinal);
        Assert.Equal(3, await log.GetCommittedOffsetAsync(Group, "t", 0));
        Assert.Equal(3, failing.Failed.Count);

        await RunUntilAsync(new S3SinkConnector(log, _store, Options("t")), () => CommittedAsync(log, "t", 0, 9));
        var all = await ReadAllAsync(_store);
        Assert.Equal(3, all.Count);
        Assert.Equal(Lines("t", 0, 0, 9), string.Concat(all.Select(o => Encoding.UTF8.GetString(o.Content))));
    }

    [Fact]
    public async Task A_permanent_store_failure_stops_the_sink_at_once_without_retrying()
    {
        ILog log = await TestLogs.CreateAsync();
        await log.CreateTopicAsync("t", 1);
        await AppendAsync(log, "t", 0, 0, 9);
        var failing = new FailingPutStore(_store, n => n >= 2)
        {
            Failure = (_, _) => new ObjectStoreException(ObjectStoreErrorCode.BucketMissing, "the bucket does not exist", "bucket 'b' at http://s3.test"),
        };
        using var logs = new CapturedLogs();
        using var factory = logs.Factory();
        var sink = new S3SinkConnector(log, failing, Options("t"), factory.CreateLogger<S3SinkConnector>()) { RetryBackoff = TimeSpan.FromMilliseconds(1) };

        var e = await Assert.ThrowsAsync<ObjectStoreException>(() => sink.RunAsync());
        Assert.Equal(ObjectStoreErrorCode.BucketMissing, e.Code);
        Assert.Single(failing.Failed);
        Assert.Equal(3, await log.GetCommittedOffsetAsync(Group, "t", 0));
        Assert.DoesNotContain(logs.Entries, x => x.Message.Contains("retrying in", StringComparison.Ordinal));
        var error = Assert.Single(logs.Entries, x => x.Level == LogLevel.Error);
        Assert.Null(error.Exception);
        Assert.Contains("the bucket does not exist (bucket 'b' at http://s3.test)", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Transient_store_failures_are_retried_past_the_failure_limit_one_warning_line_each_the_exception_only_at_debug()
    {
        ILog log = await TestLogs.CreateAsync();
        await log.CreateTopicAsync("t", 1);
        await AppendAsync(log, "t", 0, 0, 9);
        var failing = new FailingPutStore(_store, n => n is >= 2 and <= 6)
        {
            Failure = (n, _) => new ObjectStoreException(ObjectStoreErrorCode.Unavailable, $"the object store cannot serve the request now: HTTP 503 (put #{n})", "bucket 'b' at http://s3.test"),
        };
        using var logs = new CapturedLogs();
        using var factory = logs.Factory();
        var sink = new S3SinkConnector(log, failing, Options("t"), factory.CreateLogger<S3SinkConnector>())
        {
            RetryBackoff = TimeSpan.FromMilliseconds(1),
            MaxConsecutiveFailures = 3,
        };
        await RunUntilAsync(sink, () => CommittedAsync(log, "t", 0, 9));

        Assert.Equal(5, failing.Failed.Count);
        Assert.Equal(Lines("t", 0, 0, 9), string.Concat((await ReadAllAsync(_store)).Select(o => Encoding.UTF8.GetString(o.Content))));
        var retries = logs.AssertRetries(5, "HTTP 503");
        Assert.All(retries, r => Assert.Contains("t[0] failed (attempt ", r.Message, StringComparison.Ordinal));
        Assert.All(retries, r => Assert.Contains("(bucket 'b' at http://s3.test); retrying in ", r.Message, StringComparison.Ordinal));
        Assert.Equal(["1ms", "2ms", "4ms", "8ms", "16ms"], retries.Select(r => r.Message[(r.Message.LastIndexOf(' ') + 1)..].TrimEnd('.')));
        Assert.DoesNotContain(logs.Entries, x => x.Level >= LogLevel.Error);
    }

    [Fact]
    public async Task A_flush_slower_than_a_second_is_logged_with_its_put_and_commit_times_and_a_quick_one_is_not()
    {
        ILog log = await TestLogs.CreateAsync();
        await log.CreateTopicAsync("t", 1);
        await AppendAsync(log, "t", 0, 0, 6);
        var slow = new FailingPutStore(_store, _ => false) { Delay = key => key.EndsWith("+0000000003.json", StringComparison.Ordinal) ? PartitionWriter.SlowStep + TimeSpan.FromMilliseconds(100) : TimeSpan.Zero };
        using var logs = new CapturedLogs();
        using var factory = logs.Factory();
        var sink = new S3SinkConnector(log, slow, Options("t"), factory.CreateLogger<S3SinkConnector>());
        await RunUntilAsync(sink, () => CommittedAsync(log, "t", 0, 6));

        Assert.Equal(2, (await ReadAllAsync(_store)).Count);
        var warning = Assert.Single(logs.Entries, x => x.Level == LogLevel.Warning);
        Assert.StartsWith("Slow flush of topics/t/partition=0/t+0+0000000003.json: ", warning.Message, StringComparison.Ordinal);
        var parts = System.Text.RegularExpressions.Regex.Match(warning.Message, @": (\d+) ms to put (\d+) bytes, (\d+) ms to commit the offset$");
        Assert.True(parts.Success, warning.Message);
        // The put waited SlowStep + 100 ms (a timer may fire a millisecond early); the object holds 3 records.
        Assert.InRange(int.Parse(parts.Groups[1].Value, CultureInfo.InvariantCulture), 1000, 60_000);
        Assert.Equal(Encoding.UTF8.GetByteCount(Lines("t", 0, 3, 3)), int.Parse(parts.Groups[2].Value, CultureInfo.InvariantCulture));
    }

    [Fact]
    public async Task A_restart_after_an_uncommitted_object_with_other_boundaries_rebuilds_the_same_object()
    {
        ILog log = await TestLogs.CreateAsync();
        await log.CreateTopicAsync("t", 1);
        await AppendAsync(log, "t", 0, 0, 10);
        // A scheduled rotation wrote offsets 0-2 and the process died before committing.
        string crashed = "topics/t/partition=0/t+0+0000000000.json";
        await _store.PutAsync(crashed, Encoding.UTF8.GetBytes(Lines("t", 0, 0, 3)));

        await RunUntilAsync(new S3SinkConnector(log, _store, Options("t") with { FlushSize = 5 }), () => CommittedAsync(log, "t", 0, 8));
        var all = await ReadAllAsync(_store);
        Assert.Equal([crashed, "topics/t/partition=0/t+0+0000000003.json"], all.Select(o => o.Key));
        Assert.Equal(Lines("t", 0, 0, 3), Encoding.UTF8.GetString(all[0].Content));
        Assert.Equal(Lines("t", 0, 3, 5), Encoding.UTF8.GetString(all[1].Content));
    }

    [Fact]
    public async Task A_topic_created_after_the_start_is_picked_up()
    {
        ILog log = await TestLogs.CreateAsync();
        var sink = new S3SinkConnector(log, _store, Options("late")) { DiscoveryInterval = TimeSpan.FromMilliseconds(20) };
        using var cts = new CancellationTokenSource();
        Task run = sink.RunAsync(cts.Token);
        await Task.Delay(50);
        await log.CreateTopicAsync("late", 2);
        await AppendAsync(log, "late", 1, 0, 3);
        await Eventually(() => CommittedAsync(log, "late", 1, 3));
        await cts.CancelAsync();
        await run;
        Assert.Equal(["topics/late/partition=1/late+1+0000000000.json"], (await ReadAllAsync(_store)).Select(o => o.Key));
    }

    [Fact]
    public async Task Invalid_options_are_all_reported_at_once()
    {
        ILog log = await TestLogs.CreateAsync();
        var e = Assert.Throws<ArgumentException>(() => new S3SinkConnector(log, _store, new SinkOptions
        {
            Topics = null,
            FlushSize = 0,
            PollInterval = TimeSpan.Zero,
            OffsetZeroPadWidth = 0,
            RotateScheduleInterval = TimeSpan.FromSeconds(-1),
            TopicsDir = "/abs/",
        }));
        foreach (string name in new[] { "Topics", "FlushSize", "PollInterval", "OffsetZeroPadWidth", "RotateScheduleInterval", "TopicsDir" })
            Assert.Contains("Sink:" + name, e.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Every_record_is_one_line_of_valid_JSON_whatever_its_bytes()
    {
        ILog log = await TestLogs.CreateAsync();
        await log.CreateTopicAsync("t", 1);
        byte[][] values =
        [
            "{\"a\":1}"u8.ToArray(),                       // one JSON line: as it is
            "{\"a\": 1,\n  \"b\": \"x y\"}\r\n"u8.ToArray(),  // JSON over lines: compacted
            "{\"a\":1}\n{\"a\":2}"u8.ToArray(),              // two values with a newline: not one JSON value
            [0xff, 0xfe, (byte)'{'],                        // not UTF-8
            "plain text"u8.ToArray(),
        ];
        await log.AppendAsync("t", values.Select(v => new LogRecord(null, v, 0)).ToList());

        await RunUntilAsync(new S3SinkConnector(log, _store, Options("t") with { FlushSize = 5 }), () => CommittedAsync(log, "t", 0, 5));
        string content = Encoding.UTF8.GetString(Assert.Single(await ReadAllAsync(_store)).Content);
        Assert.Equal(string.Concat(new[] { "{\"a\":1}", "{\"a\":1,\"b\":\"x y\"}", RecordLine.Envelope(values[2]), RecordLine.Envelope(values[3]), RecordLine.Envelope(values[4]) }.Select(l => l + "\n")), content);
        foreach (string line in content.TrimEnd('\n').Split('\n')) System.Text.Json.JsonDocument.Parse(line).Dispose();
    }

    [Fact]
    public async Task Recovery_rebuilds_an_uncommitted_object_whose_values_hold_newlines_with_the_same_records()
    {
        ILog log = await TestLogs.CreateAsync();
        await log.CreateTopicAsync("t", 1);
        byte[] multiLine = "{\"a\":\n1}"u8.ToArray(), twoValues = "1\n2\n3"u8.ToArray();
        await log.AppendAsync("t", new[] { multiLine, twoValues, Json("t", 0, 2), twoValues, Json("t", 0, 4), Json("t", 0, 5) }.Select(v => new LogRecord(null, v, 0)).ToList());
        // A rotation wrote offsets 0-3 and the process died before committing; the values' own newlines do not move the boundary.
        string crashed = "topics/t/partition=0/t+0+0000000000.json";
        string first = $"{{\"a\":1}}\n{RecordLine.Envelope(twoValues)}\n{Encoding.UTF8.GetString(Json("t", 0, 2))}\n{RecordLine.Envelope(twoValues)}\n";
        await _store.PutAsync(crashed, Encoding.UTF8.GetBytes(first));

        await RunUntilAsync(new S3SinkConnector(log, _store, Options("t") with { FlushSize = 2 }), () => CommittedAsync(log, "t", 0, 6));
        var all = await ReadAllAsync(_store);
        Assert.Equal([crashed, "topics/t/partition=0/t+0+0000000004.json"], all.Select(o => o.Key));
        Assert.Equal(first, Encoding.UTF8.GetString(all[0].Content));
        Assert.Equal(Lines("t", 0, 4, 2), Encoding.UTF8.GetString(all[1].Content));
    }

    [Fact]
    public async Task An_uncommitted_object_the_log_does_not_rebuild_stops_the_sink_and_is_not_overwritten()
    {
        ILog log = await TestLogs.CreateAsync();
        await log.CreateTopicAsync("t", 1);
        await AppendAsync(log, "t", 0, 0, 4);
        // Written by another writer (an older sink kept a binary value's raw newline): not what this sink writes.
        string crashed = "topics/t/partition=0/t+0+0000000000.json";
        byte[] foreign = Encoding.UTF8.GetBytes(Lines("t", 0, 0, 1) + "1\n2\n");
        await _store.PutAsync(crashed, foreign);

        var sink = new S3SinkConnector(log, _store, Options("t")) { RetryBackoff = TimeSpan.FromMilliseconds(1) };
        using var cts = new CancellationTokenSource();
        Task run = sink.RunAsync(cts.Token);
        // Until the sink gives up, or (the failure this guards against) commits an object in the foreign one's place.
        await Eventually(async () => run.IsCompleted || await log.GetCommittedOffsetAsync(Group, "t", 0) is not null);
        await cts.CancelAsync();
        var e = await Assert.ThrowsAnyAsync<Exception>(() => run);
        Assert.Contains($"Object {crashed} exists but was not committed, and the log's records from offset 0 do not rebuild it", e.Message, StringComparison.Ordinal);
        Assert.Equal(foreign, await _store.GetAsync(crashed));
        Assert.Null(await log.GetCommittedOffsetAsync(Group, "t", 0));
    }

    /// <summary>
    /// The sink spools an object's lines to a local file and uploads the file (streamed; S3 multipart above the
    /// threshold); an uncommitted object it rebuilds is downloaded to a file and compared as the lines are written.
    /// </summary>
    [Fact]
    public async Task Objects_are_uploaded_from_files_and_an_uncommitted_one_is_rebuilt_from_a_streamed_copy()
    {
        ILog log = await TestLogs.CreateAsync();
        await log.CreateTopicAsync("t", 1);
        await AppendAsync(log, "t", 0, 0, 7);
        // A rotation wrote offsets 0-1 and the process died before committing.
        string crashed = "topics/t/partition=0/t+0+0000000000.json";
        await _store.PutAsync(crashed, Encoding.UTF8.GetBytes(Lines("t", 0, 0, 2)));
        var store = new WholeObjectsRefusedStore(_store);

        await RunUntilAsync(new S3SinkConnector(log, store, Options("t")), () => CommittedAsync(log, "t", 0, 5));

        var all = await ReadAllAsync(_store);
        Assert.Equal([crashed, "topics/t/partition=0/t+0+0000000002.json"], all.Select(o => o.Key));
        Assert.Equal([Lines("t", 0, 0, 2), Lines("t", 0, 2, 3)], all.Select(o => Encoding.UTF8.GetString(o.Content)));
        Assert.Equal([crashed, "topics/t/partition=0/t+0+0000000002.json"], store.FilesPut);
        Assert.Equal([crashed], store.Streamed);
    }

    /// <summary>A store without local paths that refuses to put or get a raw object as bytes: only files and streams.</summary>
    private sealed class WholeObjectsRefusedStore(IObjectStore inner) : RemoteLikeStore(inner)
    {
        public List<string> FilesPut { get; } = [];

        public List<string> Streamed { get; } = [];

        private static bool IsRawObject(string key) => key.Contains("/partition=", StringComparison.Ordinal);

        public override ValueTask PutAsync(string key, ReadOnlyMemory<byte> content, CancellationToken cancellationToken = default) =>
            IsRawObject(key) ? throw new InvalidOperationException($"'{key}' was put from memory whole.") : base.PutAsync(key, content, cancellationToken);

        public override ValueTask PutFileAsync(string key, string localPath, CancellationToken cancellationToken = default)
        {
            lock (FilesPut) FilesPut.Add(key);
            return base.PutFileAsync(key, localPath, cancellationToken);
        }

        public override ValueTask<byte[]?> GetAsync(string key, CancellationToken cancellationToken = default) =>
            IsRawObject(key) ? throw new InvalidOperationException($"'{key}' was read into memory whole.") : base.GetAsync(key, cancellationToken);

        public override ValueTask<Stream?> OpenReadAsync(string key, CancellationToken cancellationToken = default)
        {
            lock (Streamed) Streamed.Add(key);
            return base.OpenReadAsync(key, cancellationToken);
        }
    }
}
