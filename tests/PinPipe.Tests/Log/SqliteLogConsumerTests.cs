using System.Diagnostics;
using System.Text;
using Microsoft.Data.Sqlite;
using PinPipe.Log;
using PinPipe.Log.Sqlite;
using PinPipe.Tests.Support;

namespace PinPipe.Tests.Log;

/// <summary>
/// Consumer access to the embedded log: a second <see cref="SqliteLog"/> on the same file stands for the other
/// process (the sink) beside the producer (the ingest API). It shares no memory with the producer.
/// </summary>
public sealed class SqliteLogConsumerTests : IDisposable
{
    private readonly TempDirectory _dir = new("log-consumer");

    public void Dispose()
    {
        SqliteConnection.ClearAllPools();
        _dir.Dispose();
    }

    private LogOptions Producer(string name = "log.db") => new() { Path = _dir.File(name), RetentionTime = null };

    private LogOptions Consumer(string name = "log.db") => Producer(name) with { Access = LogAccess.Consumer };

    private static LogRecord Rec(string value, int? partition = null) => new(null, Encoding.UTF8.GetBytes(value), partition);

    private static string Text(ConsumedRecord r) => Encoding.UTF8.GetString(r.Value!);

    [Fact]
    public async Task A_consumer_reads_records_and_watermarks_the_producer_appends_after_it_opened()
    {
        await using var producer = await SqliteLog.OpenAsync(Producer());
        await producer.CreateTopicAsync("pins", 2);
        await producer.AppendAsync("pins", [Rec("a", 1)]);

        await using var consumer = await SqliteLog.OpenAsync(Consumer());
        Assert.Equal(LogAccess.Consumer, consumer.Access);
        Assert.Equal(LogAccess.Producer, producer.Access);
        Assert.Equal(new Watermarks(0, 1), await consumer.GetWatermarksAsync("pins", 1));

        await producer.AppendAsync("pins", [Rec("b", 1), Rec("c", 1)]);
        await producer.AppendAsync("pins", [Rec("d", 0)]);

        Assert.Equal(new Watermarks(0, 3), await consumer.GetWatermarksAsync("pins", 1));
        Assert.Equal(new Watermarks(0, 1), await consumer.GetWatermarksAsync("pins", 0));
        var read = await consumer.ReadAsync("pins", 1, 0, 10);
        Assert.Equal(["a", "b", "c"], read.Select(Text));
        Assert.Equal([0L, 1, 2], read.Select(r => r.Offset));
        Assert.All(read, r => Assert.Equal(("pins", 1), (r.Topic, r.Partition)));
        Assert.Equal(["c"], (await consumer.ReadAsync("pins", 1, 2, 10)).Select(Text));
        Assert.Equal(["b"], (await consumer.ReadAsync("pins", 1, 1, 1)).Select(Text));
        Assert.Empty(await consumer.ReadAsync("pins", 1, 3, 10));
        Assert.Equal(["d"], (await consumer.ReadAsync("pins", 0, 0, 10)).Select(Text));

        var buffer = new RecordBuffer();
        Assert.Equal(2, await consumer.ReadIntoAsync("pins", 1, 1, 10, buffer));
        Assert.Equal([1L, 2], Enumerable.Range(0, buffer.Count).Select(buffer.Offset));
        Assert.Equal(["b", "c"], Enumerable.Range(0, buffer.Count).Select(i => Encoding.UTF8.GetString(buffer.Value(i))));
        Assert.Equal(0, await consumer.ReadIntoAsync("pins", 1, 3, 10, buffer));
        Assert.Equal(0, buffer.Count);
    }

    [Fact]
    public async Task A_consumer_sees_topics_the_producer_creates_and_deletes_after_it_opened()
    {
        await using var producer = await SqliteLog.OpenAsync(Producer());
        await producer.CreateTopicAsync("first", 1);
        await using var consumer = await SqliteLog.OpenAsync(Consumer());
        Assert.Equal(await producer.ListTopicsAsync(), await consumer.ListTopicsAsync()); // ids included
        Assert.Equal(("first", 1), (await consumer.ListTopicsAsync()).Select(t => (t.Name, t.Partitions)).Single());
        Assert.Null(await consumer.DescribeTopicAsync("later"));

        await producer.CreateTopicAsync("later", 3);
        await producer.CreateTopicAsync("b-topic", 1);
        await producer.AppendAsync("later", [Rec("x", 2)]);

        Assert.Equal([("b-topic", 1), ("first", 1), ("later", 3)], (await consumer.ListTopicsAsync()).Select(t => (t.Name, t.Partitions)));
        Assert.Equal(await producer.ListTopicsAsync(), await consumer.ListTopicsAsync());
        Assert.Equal(await producer.DescribeTopicAsync("later"), await consumer.DescribeTopicAsync("later"));
        Assert.NotNull((await consumer.DescribeTopicAsync("later"))!.TopicId);
        Assert.Equal(new Watermarks(0, 1), await consumer.GetWatermarksAsync("later", 2));
        Assert.Equal(["x"], (await consumer.ReadAsync("later", 2, 0, 10)).Select(Text));

        await producer.DeleteTopicAsync("later");
        Assert.Null(await consumer.DescribeTopicAsync("later"));
        Assert.Equal(["b-topic", "first"], (await consumer.ListTopicsAsync()).Select(t => t.Name));
        var ex = await Assert.ThrowsAsync<LogException>(() => consumer.ReadAsync("later", 2, 0, 10).AsTask());
        Assert.Equal(LogErrorCode.UnknownTopic, ex.Code);
    }

    [Fact]
    public async Task A_consumer_names_unknown_topics_and_partitions_like_the_producer()
    {
        await using var producer = await SqliteLog.OpenAsync(Producer());
        await producer.CreateTopicAsync("two", 2);
        await using var consumer = await SqliteLog.OpenAsync(Consumer());

        var topic = await Assert.ThrowsAsync<LogException>(() => consumer.GetWatermarksAsync("nope", 0).AsTask());
        Assert.Equal(LogErrorCode.UnknownTopic, topic.Code);
        Assert.Contains("'nope'", topic.Message);
        var partition = await Assert.ThrowsAsync<LogException>(() => consumer.ReadAsync("two", 2, 0, 1).AsTask());
        Assert.Equal(LogErrorCode.UnknownPartition, partition.Code);
        Assert.Contains("partitions 0 to 1", partition.Message);
        var wait = await Assert.ThrowsAsync<LogException>(() => consumer.WaitForDataAsync("nope", 0, 0, TimeSpan.FromSeconds(1)).AsTask());
        Assert.Equal(LogErrorCode.UnknownTopic, wait.Code);
        var commitTopic = await Assert.ThrowsAsync<LogException>(() => consumer.CommitOffsetsAsync("g", [new("nope", 0, 1)]).AsTask());
        Assert.Equal(LogErrorCode.UnknownTopic, commitTopic.Code);
        var commitPartition = await Assert.ThrowsAsync<LogException>(() => consumer.CommitOffsetsAsync("g", [new("two", 0, 1), new("two", 5, 1)]).AsTask());
        Assert.Equal(LogErrorCode.UnknownPartition, commitPartition.Code);
        Assert.Null(await consumer.GetCommittedOffsetAsync("g", "two", 0)); // the failed commit wrote nothing
        await Assert.ThrowsAsync<ArgumentOutOfRangeException>(() => consumer.CommitOffsetsAsync("g", [new("two", 0, -1)]).AsTask());
    }

    [Fact]
    public async Task WaitForData_in_a_consumer_wakes_by_polling_after_a_producer_append_and_times_out_otherwise()
    {
        await using var producer = await SqliteLog.OpenAsync(Producer());
        await producer.CreateTopicAsync("wait", 1);
        await producer.AppendAsync("wait", [Rec("a")]);
        await using var consumer = await SqliteLog.OpenAsync(Consumer());

        var sw = Stopwatch.StartNew();
        await consumer.WaitForDataAsync("wait", 0, 0, TimeSpan.FromSeconds(10));
        Assert.True(sw.Elapsed < TimeSpan.FromSeconds(2), $"data already there, yet the wait took {sw.Elapsed}");

        sw.Restart();
        await consumer.WaitForDataAsync("wait", 0, 1, TimeSpan.FromMilliseconds(300));
        Assert.InRange(sw.Elapsed, TimeSpan.FromMilliseconds(250), TimeSpan.FromSeconds(5));

        var waiting = consumer.WaitForDataAsync("wait", 0, 1, TimeSpan.FromSeconds(30)).AsTask();
        await Task.Delay(150);
        Assert.False(waiting.IsCompleted);
        sw.Restart();
        await producer.AppendAsync("wait", [Rec("b")]);
        Assert.Same(waiting, await Task.WhenAny(waiting, Task.Delay(TimeSpan.FromSeconds(10))));
        await waiting;
        Assert.True(sw.Elapsed < TimeSpan.FromSeconds(5), $"the poll noticed the append only after {sw.Elapsed}");
        Assert.Equal(["b"], (await consumer.ReadAsync("wait", 0, 1, 10)).Select(Text));

        using var cts = new CancellationTokenSource(TimeSpan.FromMilliseconds(100));
        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => consumer.WaitForDataAsync("wait", 0, 2, TimeSpan.FromSeconds(30), cts.Token).AsTask());

        var gone = consumer.WaitForDataAsync("wait", 0, 2, TimeSpan.FromSeconds(30)).AsTask();
        await producer.DeleteTopicAsync("wait");
        Assert.Same(gone, await Task.WhenAny(gone, Task.Delay(TimeSpan.FromSeconds(10))));
    }

    [Fact]
    public async Task A_consumer_commits_offsets_while_the_producer_appends_and_commits_and_nothing_fails()
    {
        await using var producer = await SqliteLog.OpenAsync(Producer());
        await producer.CreateTopicAsync("busy", 4);
        await using var consumer = await SqliteLog.OpenAsync(Consumer());
        await using var consumer2 = await SqliteLog.OpenAsync(Consumer());

        var appends = Enumerable.Range(0, 8).Select(t => Task.Run(async () =>
        {
            for (var i = 0; i < 60; i++) await producer.AppendAsync("busy", [Rec($"{t}:{i}", t % 4), Rec($"{t}:{i}b", t % 4)]);
        }));
        var commits = new[] { consumer, consumer2 }.SelectMany((c, ci) => Enumerable.Range(0, 3).Select(g => Task.Run(async () =>
        {
            for (var i = 1; i <= 80; i++)
                await c.CommitOffsetsAsync($"group-{ci}-{g}", [new("busy", 0, i), new("busy", 1, i * 2), new("busy", 3, i * 3)]);
        })));
        var producerCommits = Task.Run(async () =>
        {
            for (var i = 1; i <= 80; i++) await producer.CommitOffsetsAsync("producer-group", [new("busy", 2, i)]);
        });
        await Task.WhenAll(appends.Concat(commits).Append(producerCommits));

        for (var p = 0; p < 4; p++)
        {
            Assert.Equal(new Watermarks(0, 240), await producer.GetWatermarksAsync("busy", p));
            Assert.Equal(new Watermarks(0, 240), await consumer.GetWatermarksAsync("busy", p));
        }

        Assert.Equal(960, (await Task.WhenAll(Enumerable.Range(0, 4).Select(p => consumer.ReadAsync("busy", p, 0, 1000).AsTask()))).Sum(r => r.Count));
        foreach (var log in new[] { producer, consumer, consumer2 })
        {
            for (var ci = 0; ci < 2; ci++)
            {
                for (var g = 0; g < 3; g++)
                {
                    Assert.Equal(80, await log.GetCommittedOffsetAsync($"group-{ci}-{g}", "busy", 0));
                    Assert.Equal(160, await log.GetCommittedOffsetAsync($"group-{ci}-{g}", "busy", 1));
                    Assert.Null(await log.GetCommittedOffsetAsync($"group-{ci}-{g}", "busy", 2));
                    Assert.Equal(240, await log.GetCommittedOffsetAsync($"group-{ci}-{g}", "busy", 3));
                }
            }

            Assert.Equal(80, await log.GetCommittedOffsetAsync("producer-group", "busy", 2));
        }
    }

    [Fact]
    public async Task The_producer_waits_for_a_write_lock_another_process_holds_instead_of_failing_the_appends()
    {
        var options = Producer();
        await using var producer = await SqliteLog.OpenAsync(options);
        await producer.CreateTopicAsync("locked", 1);

        // Another process's writer, holding SQLite's write lock for a while.
        await using var other = new SqliteConnection($"Data Source={options.Path};Pooling=False");
        await other.OpenAsync();
#pragma warning disable CA1849 // Microsoft.Data.Sqlite has no real async: its *Async methods run synchronously
        using var tx = other.BeginTransaction(deferred: false);
#pragma warning restore CA1849
        await using (var cmd = other.CreateCommand())
        {
            cmd.Transaction = tx;
            cmd.CommandText = "INSERT INTO group_offsets(group_id, topic, partition, next_offset, committed_ms) VALUES ('other', 'locked', 0, 7, 0)";
            await cmd.ExecuteNonQueryAsync();
        }

        var appends = Enumerable.Range(0, 10).Select(i => producer.AppendAsync("locked", [Rec($"v{i}")]).AsTask()).ToList();
        await Task.Delay(400);
        Assert.All(appends, a => Assert.False(a.IsCompleted));
#pragma warning disable CA1849 // Microsoft.Data.Sqlite has no real async: its *Async methods run synchronously
        tx.Commit();
#pragma warning restore CA1849

        await Task.WhenAll(appends);
        Assert.Equal(new Watermarks(0, 10), await producer.GetWatermarksAsync("locked", 0));
        Assert.Equal(7, await producer.GetCommittedOffsetAsync("other", "locked", 0));
    }

    [Fact]
    public async Task A_consumer_refuses_appends_topic_changes_and_retention_with_a_clear_message()
    {
        var options = Producer();
        await using var producer = await SqliteLog.OpenAsync(options);
        await producer.CreateTopicAsync("mine", 1);
        await using var consumer = await SqliteLog.OpenAsync(Consumer());

        var calls = new Func<Task>[]
        {
            () => consumer.AppendAsync("mine", [Rec("x")]).AsTask(),
            () => consumer.CreateTopicAsync("other", 1).AsTask(),
            () => consumer.DeleteTopicAsync("mine").AsTask(),
            () => consumer.EnforceRetentionAsync().AsTask(),
        };
        foreach (var call in calls)
        {
            var ex = await Assert.ThrowsAsync<InvalidOperationException>(call);
            Assert.Contains("open as a consumer", ex.Message);
            Assert.Contains($"the process that owns '{Path.GetFullPath(options.Path)}'", ex.Message);
        }

        Assert.Equal(new Watermarks(0, 0), await producer.GetWatermarksAsync("mine", 0));
        Assert.Equal(["mine"], (await producer.ListTopicsAsync()).Select(t => t.Name));
    }

    [Fact]
    public async Task Two_producers_are_still_refused_while_consumers_open_beside_one()
    {
        await using var producer = await SqliteLog.OpenAsync(Producer());
        await using var consumer1 = await SqliteLog.OpenAsync(Consumer());
        await using var consumer2 = await SqliteLog.OpenAsync(Consumer());
        var ex = await Assert.ThrowsAsync<LogException>(() => SqliteLog.OpenAsync(Producer()).AsTask());
        Assert.Equal(LogErrorCode.Unavailable, ex.Code);
        Assert.Contains("already open", ex.Message);
    }

    [Fact]
    public async Task A_consumer_works_with_no_producer_running_and_a_producer_can_open_beside_it()
    {
        await using (var producer = await SqliteLog.OpenAsync(Producer()))
        {
            await producer.CreateTopicAsync("offline", 1);
            await producer.AppendAsync("offline", [Rec("a"), Rec("b")]);
        }

        await using var consumer = await SqliteLog.OpenAsync(Consumer());
        Assert.Equal(["a", "b"], (await consumer.ReadAsync("offline", 0, 0, 10)).Select(Text));
        await consumer.CommitOffsetsAsync("g", [new("offline", 0, 2)]);
        Assert.Equal(2, await consumer.GetCommittedOffsetAsync("g", "offline", 0));

        await using var restarted = await SqliteLog.OpenAsync(Producer());
        Assert.Equal(2, await restarted.GetCommittedOffsetAsync("g", "offline", 0));
        Assert.Equal([new(0, 2)], await restarted.AppendAsync("offline", [Rec("c")]));
        Assert.Equal(new Watermarks(0, 3), await consumer.GetWatermarksAsync("offline", 0));
    }

    [Fact]
    public async Task A_consumer_of_a_missing_file_fails_clearly_and_creates_nothing()
    {
        var options = Consumer("missing/log.db");
        var ex = await Assert.ThrowsAsync<LogException>(() => SqliteLog.OpenAsync(options).AsTask());
        Assert.Equal(LogErrorCode.Unavailable, ex.Code);
        Assert.Contains(Path.GetFullPath(options.Path), ex.Message);
        Assert.Contains("does not exist", ex.Message);
        Assert.False(Directory.Exists(Path.GetDirectoryName(Path.GetFullPath(options.Path))));
        Assert.False(File.Exists(options.Path + ".lock"));
    }

    [Fact]
    public async Task A_consumer_refuses_a_file_that_is_not_a_log_database()
    {
        var options = Consumer("plain.db");
        await using (var db = new SqliteConnection($"Data Source={options.Path};Pooling=False"))
        {
            await db.OpenAsync();
            await using var cmd = db.CreateCommand();
            cmd.CommandText = "CREATE TABLE t(x)";
            await cmd.ExecuteNonQueryAsync();
        }

        var ex = await Assert.ThrowsAsync<LogException>(() => SqliteLog.OpenAsync(options).AsTask());
        Assert.Contains(Path.GetFullPath(options.Path), ex.Message);
        Assert.Contains("not a PinPipe log database", ex.Message);
    }

    [Fact]
    public async Task A_consumer_sees_retention_move_the_low_watermark()
    {
        var producerOptions = Producer() with { RetentionBytes = 150 };
        await using var producer = await SqliteLog.OpenAsync(producerOptions);
        await producer.CreateTopicAsync("ret", 1);
        for (var i = 0; i < 4; i++) await producer.AppendAsync("ret", [new LogRecord(null, new byte[100], 0)]);
        await using var consumer = await SqliteLog.OpenAsync(Consumer());
        Assert.Equal(new Watermarks(0, 4), await consumer.GetWatermarksAsync("ret", 0));

        Assert.Equal(3, await producer.EnforceRetentionAsync());
        Assert.Equal(new Watermarks(3, 4), await consumer.GetWatermarksAsync("ret", 0));
        Assert.Equal([3L], (await consumer.ReadAsync("ret", 0, 0, 10)).Select(r => r.Offset));
    }

    [Fact]
    public async Task LogFactory_passes_the_access_through()
    {
        await using var producer = await LogFactory.OpenAsync(Producer());
        await using var consumer = await LogFactory.OpenAsync(Consumer());
        Assert.Equal(LogAccess.Producer, Assert.IsType<SqliteLog>(producer).Access);
        Assert.Equal(LogAccess.Consumer, Assert.IsType<SqliteLog>(consumer).Access);
        await Assert.ThrowsAsync<InvalidOperationException>(() => consumer.CreateTopicAsync("t", 1).AsTask());
    }

    [Fact]
    public async Task Calls_on_a_closed_consumer_throw_ObjectDisposedException()
    {
        await using var producer = await SqliteLog.OpenAsync(Producer());
        await producer.CreateTopicAsync("closed", 1);
        var consumer = await SqliteLog.OpenAsync(Consumer());
        await consumer.DisposeAsync();
        await consumer.DisposeAsync();
        await Assert.ThrowsAsync<ObjectDisposedException>(() => consumer.ReadAsync("closed", 0, 0, 1).AsTask());
        await Assert.ThrowsAsync<ObjectDisposedException>(() => consumer.CommitOffsetsAsync("g", [new("closed", 0, 1)]).AsTask());
        Assert.Equal([new(0, 0)], await producer.AppendAsync("closed", [Rec("still works")]));
    }
}
