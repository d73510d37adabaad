using System.Text;
using Microsoft.Data.Sqlite;
using PinPipe.Log;
using PinPipe.Log.Sqlite;
using PinPipe.Tests.Support;

namespace PinPipe.Tests.Log;

/// <summary>The contract tests against the embedded log, plus what only the embedded log does.</summary>
public sealed class SqliteLogTests : LogContractTests, IDisposable
{
    private readonly TempDirectory _dir = new("log");

    public void Dispose()
    {
        SqliteConnection.ClearAllPools();
        _dir.Dispose();
    }

    protected override async Task<ILog> CreateLogAsync(LogOptions? options = null) =>
        await SqliteLog.OpenAsync((options ?? new LogOptions()) with { Path = _dir.File($"{Guid.NewGuid():N}/log.db") });

    private LogOptions Options(string name = "log.db") => new() { Path = _dir.File(name), RetentionTime = null };

    private static long Ms(DateTimeOffset t) => t.ToUnixTimeMilliseconds();

    [Fact]
    public async Task Open_creates_the_directory_and_a_WAL_database()
    {
        var options = Options("nested/deeper/log.db");
        await using (var log = await SqliteLog.OpenAsync(options))
        {
            Assert.True(File.Exists(options.Path));
            Assert.Equal(Path.GetFullPath(options.Path), log.Path);
        }

        await using var check = new SqliteConnection($"Data Source={options.Path}");
        await check.OpenAsync();
        await using var cmd = check.CreateCommand();
        cmd.CommandText = "PRAGMA journal_mode";
        Assert.Equal("wal", await cmd.ExecuteScalarAsync());
        cmd.CommandText = "PRAGMA user_version";
        Assert.Equal(2L, await cmd.ExecuteScalarAsync());
    }

    [Fact]
    public async Task Each_append_is_stored_as_one_batch_row_per_partition()
    {
        var options = Options();
        await using (var log = await SqliteLog.OpenAsync(options))
        {
            await log.CreateTopicAsync("batches", 2);
            for (var i = 0; i < 3; i++)
                await log.AppendAsync("batches", Enumerable.Range(0, 500).Select(j => Rec($"r{j}", partition: j % 2)).ToList());
            Assert.Equal(750, (await log.GetWatermarksAsync("batches", 1)).High);
        }

        await using var check = new SqliteConnection($"Data Source={options.Path}");
        await check.OpenAsync();
        await using var cmd = check.CreateCommand();
        cmd.CommandText = "SELECT partition, base_offset, last_offset, record_count FROM batches ORDER BY partition, base_offset";
        var rows = new List<(long, long, long, long)>();
        await using (var r = await cmd.ExecuteReaderAsync())
            while (await r.ReadAsync()) rows.Add((r.GetInt64(0), r.GetInt64(1), r.GetInt64(2), r.GetInt64(3)));
        Assert.Equal([(0L, 0L, 249L, 250L), (0, 250, 499, 250), (0, 500, 749, 250), (1, 0, 249, 250), (1, 250, 499, 250), (1, 500, 749, 250)], rows);
        cmd.CommandText = "SELECT substr(payload, 1, 1) FROM batches LIMIT 1";
        Assert.Equal(new byte[] { 1 }, await cmd.ExecuteScalarAsync());
    }

    [Fact]
    public async Task Reopening_keeps_topics_records_next_offsets_and_group_offsets()
    {
        var options = Options();
        string? id;
        await using (var log = await SqliteLog.OpenAsync(options))
        {
            await log.CreateTopicAsync("keep", 2);
            id = (await log.DescribeTopicAsync("keep"))!.TopicId;
            await log.AppendAsync("keep", [Rec("a", partition: 1), Rec("b", partition: 1)]);
            await log.AppendAsync("keep", [Rec("c", partition: 0)]);
            await log.CommitOffsetsAsync("g", [new("keep", 1, 2)]);
        }

        await using (var log = await SqliteLog.OpenAsync(options))
        {
            Assert.Equal([new TopicDescription("keep", 2, id)], await log.ListTopicsAsync());
            Assert.NotNull(id);
            Assert.Equal(new Watermarks(0, 2), await log.GetWatermarksAsync("keep", 1));
            Assert.Equal(["a", "b"], (await log.ReadAsync("keep", 1, 0, 10)).Select(r => Text(r.Value)));
            Assert.Equal(2, await log.GetCommittedOffsetAsync("g", "keep", 1));
            Assert.Equal([new(1, 2)], await log.AppendAsync("keep", [Rec("d", partition: 1)]));
        }
    }

    [Fact]
    public async Task A_copy_of_the_files_taken_while_the_log_is_open_like_after_a_kill_holds_every_acknowledged_record()
    {
        var options = Options();
        var crash = _dir.File("crash/log.db");
        Directory.CreateDirectory(Path.GetDirectoryName(crash)!);
        await using (var log = await SqliteLog.OpenAsync(options))
        {
            await log.CreateTopicAsync("crash", 3);
            await Task.WhenAll(Enumerable.Range(0, 20).Select(t => Task.Run(async () =>
            {
                for (var i = 0; i < 20; i++) await log.AppendAsync("crash", [Rec($"{t}:{i}", key: $"k{t}")]);
            })));

            // What a killed process leaves: the database and its WAL, never checkpointed or closed.
            Assert.True(new FileInfo(options.Path + "-wal").Length > 0);
            File.Copy(options.Path, crash);
            File.Copy(options.Path + "-wal", crash + "-wal");
        }

        await using var reopened = await SqliteLog.OpenAsync(options with { Path = crash });
        var values = new List<string?>();
        long total = 0;
        for (var p = 0; p < 3; p++)
        {
            var marks = await reopened.GetWatermarksAsync("crash", p);
            total += marks.High;
            var read = await reopened.ReadAsync("crash", p, 0, 1000);
            Assert.Equal(Enumerable.Range(0, (int)marks.High).Select(i => (long)i), read.Select(r => r.Offset));
            values.AddRange(read.Select(r => Text(r.Value)));
        }

        Assert.Equal(400, total);
        Assert.Equal(Enumerable.Range(0, 20).SelectMany(t => Enumerable.Range(0, 20).Select(i => $"{t}:{i}")).Order(), values.Order());
    }

    [Fact]
    public async Task A_second_log_on_the_same_file_is_refused_while_the_first_is_open()
    {
        var options = Options();
        await using var first = await SqliteLog.OpenAsync(options);
        var ex = await Assert.ThrowsAsync<LogException>(() => SqliteLog.OpenAsync(options).AsTask());
        Assert.Equal(LogErrorCode.Unavailable, ex.Code);
        Assert.Contains("already open by another SqliteLog of this process", ex.Message);
        Assert.Equal(Environment.ProcessId, SqliteLog.OwnerOf(options.Path));
    }

    [Fact]
    public async Task A_version_1_log_is_upgraded_in_place_giving_each_topic_an_id_and_keeping_records_and_offsets()
    {
        var options = Options();
        await using (var db = new SqliteConnection($"Data Source={options.Path};Pooling=False"))
        {
            // The version 1 schema, as PinPipe wrote it before topics had ids, with one topic, a record and a group offset.
            await db.OpenAsync();
            await using var cmd = db.CreateCommand();
            cmd.CommandText = """
                PRAGMA journal_mode=WAL;
                CREATE TABLE topics(topic_id INTEGER PRIMARY KEY AUTOINCREMENT, name TEXT NOT NULL UNIQUE, partitions INTEGER NOT NULL, created_ms INTEGER NOT NULL);
                CREATE TABLE partitions(topic_id INTEGER NOT NULL, partition INTEGER NOT NULL, next_offset INTEGER NOT NULL, log_start_offset INTEGER NOT NULL, PRIMARY KEY(topic_id, partition)) WITHOUT ROWID;
                CREATE TABLE batches(topic_id INTEGER NOT NULL, partition INTEGER NOT NULL, base_offset INTEGER NOT NULL, last_offset INTEGER NOT NULL, record_count INTEGER NOT NULL,
                    max_timestamp INTEGER NOT NULL, size_bytes INTEGER NOT NULL, payload BLOB NOT NULL, PRIMARY KEY(topic_id, partition, base_offset)) WITHOUT ROWID;
                CREATE TABLE group_offsets(group_id TEXT NOT NULL, topic TEXT NOT NULL, partition INTEGER NOT NULL, next_offset INTEGER NOT NULL, committed_ms INTEGER NOT NULL,
                    PRIMARY KEY(group_id, topic, partition)) WITHOUT ROWID;
                INSERT INTO topics(name, partitions, created_ms) VALUES ('old', 1, 0), ('older', 2, 0);
                INSERT INTO partitions VALUES (1, 0, 7, 0), (2, 0, 0, 0), (2, 1, 0, 0);
                INSERT INTO group_offsets VALUES ('g', 'old', 0, 5, 0);
                PRAGMA user_version = 1;
                """;
            await cmd.ExecuteNonQueryAsync();
        }

        string?[] ids;
        await using (var log = await SqliteLog.OpenAsync(options))
        {
            ids = (await log.ListTopicsAsync()).Select(t => t.TopicId).ToArray();
            Assert.Equal(["old", "older"], (await log.ListTopicsAsync()).Select(t => t.Name));
            Assert.Equal(new Watermarks(0, 7), await log.GetWatermarksAsync("old", 0));
            Assert.Equal(5, await log.GetCommittedOffsetAsync("g", "old", 0));
        }
        Assert.All(ids, id => Assert.Matches("^[A-Za-z0-9_-]{22}$", id));
        Assert.NotEqual(ids[0], ids[1]);
        await using (var log = await SqliteLog.OpenAsync(options))
            Assert.Equal(ids, (await log.ListTopicsAsync()).Select(t => t.TopicId)); // given once, kept
    }

    [Fact]
    public async Task A_new_log_keeps_batches_in_a_rowid_table_whose_key_is_an_index_of_its_own()
    {
        // Not WITHOUT ROWID: there SQLite reads a whole overflowing row (up to 256 KiB) for each key comparison of a seek.
        var options = Options();
        await using (var log = await SqliteLog.OpenAsync(options)) await log.CreateTopicAsync("t", 1);
        await using var db = new SqliteConnection($"Data Source={options.Path};Pooling=False;Mode=ReadOnly");
        await db.OpenAsync();
        await using var cmd = db.CreateCommand();
        cmd.CommandText = "SELECT sql FROM sqlite_schema WHERE name = 'batches'";
        string sql = (string)(await cmd.ExecuteScalarAsync())!;
        Assert.DoesNotContain("WITHOUT ROWID", sql, StringComparison.OrdinalIgnoreCase);
        cmd.CommandText = "SELECT count(*) FROM pragma_index_list('batches') WHERE origin = 'pk'";
        Assert.Equal(1L, await cmd.ExecuteScalarAsync());
    }

    [Fact]
    public async Task A_log_whose_batches_are_without_rowid_as_before_reads_appends_and_trims_as_ever()
    {
        var options = Options();
        await using (var db = new SqliteConnection($"Data Source={options.Path};Pooling=False"))
        {
            // The version 2 schema as files created before 2026-12-03 have it: batches WITHOUT ROWID.
            await db.OpenAsync();
            await using var cmd = db.CreateCommand();
            cmd.CommandText = """
                PRAGMA page_size=16384;
                PRAGMA journal_mode=WAL;
                CREATE TABLE topics(topic_id INTEGER PRIMARY KEY AUTOINCREMENT, name TEXT NOT NULL UNIQUE, partitions INTEGER NOT NULL, created_ms INTEGER NOT NULL, uuid TEXT NOT NULL);
                CREATE TABLE partitions(topic_id INTEGER NOT NULL, partition INTEGER NOT NULL, next_offset INTEGER NOT NULL, log_start_offset INTEGER NOT NULL, PRIMARY KEY(topic_id, partition)) WITHOUT ROWID;
                CREATE TABLE batches(topic_id INTEGER NOT NULL, partition INTEGER NOT NULL, base_offset INTEGER NOT NULL, last_offset INTEGER NOT NULL, record_count INTEGER NOT NULL,
                    max_timestamp INTEGER NOT NULL, size_bytes INTEGER NOT NULL, payload BLOB NOT NULL, PRIMARY KEY(topic_id, partition, base_offset)) WITHOUT ROWID;
                CREATE TABLE group_offsets(group_id TEXT NOT NULL, topic TEXT NOT NULL, partition INTEGER NOT NULL, next_offset INTEGER NOT NULL, committed_ms INTEGER NOT NULL,
                    PRIMARY KEY(group_id, topic, partition)) WITHOUT ROWID;
                PRAGMA user_version = 2;
                """;
            await cmd.ExecuteNonQueryAsync();
        }
        byte[] big = Enumerable.Range(0, 40_000).Select(i => (byte)('a' + i % 26)).ToArray();
        await using (var log = await SqliteLog.OpenAsync(options))
        {
            await log.CreateTopicAsync("t", 1);
            for (int i = 0; i < 30; i++)
                await log.AppendAsync("t", [new LogRecord(null, i % 2 == 0 ? big : Encoding.UTF8.GetBytes($"small {i}"), 0)]);
            var read = await log.ReadAsync("t", 0, 10, 5);
            Assert.Equal([10L, 11, 12, 13, 14], read.Select(r => r.Offset));
            Assert.Equal(big, read[0].Value);
            Assert.Equal("small 11", Encoding.UTF8.GetString(read[1].Value!));
            Assert.Equal(new Watermarks(0, 30), await log.GetWatermarksAsync("t", 0));
        }
        await using (var log = await SqliteLog.OpenAsync(options with { RetentionBytes = 100_000 }))
        {
            Assert.Equal(new Watermarks(0, 30), await log.GetWatermarksAsync("t", 0)); // the offsets come back from the rows
            Assert.True(await log.EnforceRetentionAsync() > 0);
            long low = (await log.GetWatermarksAsync("t", 0)).Low;
            Assert.InRange(low, 1, 29);
            Assert.Equal([low, low + 1], (await log.ReadAsync("t", 0, 0, 2)).Select(r => r.Offset));
        }
        await using (var db = new SqliteConnection($"Data Source={options.Path};Pooling=False;Mode=ReadOnly"))
        {
            await db.OpenAsync();
            await using var cmd = db.CreateCommand();
            cmd.CommandText = "SELECT sql FROM sqlite_schema WHERE name = 'batches'";
            Assert.Contains("WITHOUT ROWID", (string)(await cmd.ExecuteScalarAsync())!, StringComparison.Ordinal); // left as it was
        }
    }

    [Fact]
    public async Task A_database_with_a_newer_schema_version_is_refused_with_a_clear_error()
    {
        var options = Options();
        await using (var db = new SqliteConnection($"Data Source={options.Path};Pooling=False"))
        {
            await db.OpenAsync();
            await using var cmd = db.CreateCommand();
            cmd.CommandText = "PRAGMA user_version = 99";
            await cmd.ExecuteNonQueryAsync();
        }

        var ex = await Assert.ThrowsAsync<LogException>(() => SqliteLog.OpenAsync(options).AsTask());
        Assert.Contains("schema version 99", ex.Message);
        Assert.Contains("newer", ex.Message);
    }

    [Fact]
    public async Task A_file_that_is_not_a_database_is_refused_with_its_path()
    {
        var options = Options("junk.db");
        await File.WriteAllTextAsync(options.Path, new string('x', 4096));
        var ex = await Assert.ThrowsAsync<LogException>(() => SqliteLog.OpenAsync(options).AsTask());
        Assert.Contains(options.Path, ex.Message);
    }

    [Fact]
    public async Task A_failed_commit_fails_every_append_of_the_group_with_Unavailable_and_leaves_nothing_visible()
    {
        await using var log = await SqliteLog.OpenAsync(Options());
        await log.CreateTopicAsync("fail", 1);
        await log.AppendAsync("fail", [Rec("before")]);
        log.BeforeAppendCommit = () => throw new SqliteException("disk I/O error (injected)", 10);

        var attempts = Enumerable.Range(0, 20).Select(i => log.AppendAsync("fail", [Rec($"x{i}"), Rec($"y{i}")]).AsTask()).ToList();
        foreach (var attempt in attempts)
        {
            var ex = await Assert.ThrowsAsync<LogException>(() => attempt);
            Assert.Equal(LogErrorCode.Unavailable, ex.Code);
            Assert.True(ex.IsRetriable);
        }

        Assert.Equal(new Watermarks(0, 1), await log.GetWatermarksAsync("fail", 0));
        Assert.Single(await log.ReadAsync("fail", 0, 0, 100));

        log.BeforeAppendCommit = null;
        Assert.Equal([new(0, 1)], await log.AppendAsync("fail", [Rec("after")]));
        Assert.Equal(["before", "after"], (await log.ReadAsync("fail", 0, 0, 100)).Select(r => Text(r.Value)));
    }

    [Fact]
    public async Task A_full_disk_refuses_the_group_as_DiskFull_writes_nothing_and_the_writer_takes_the_next_append()
    {
        await using var log = await SqliteLog.OpenAsync(Options());
        await log.CreateTopicAsync("full", 1);
        await log.AppendAsync("full", [Rec("before")]);
        log.BeforeAppendCommit = () => throw new SqliteException("database or disk is full (injected)", 13); // SQLITE_FULL

        for (int i = 0; i < 3; i++)
        {
            var ex = await Assert.ThrowsAsync<LogException>(() => log.AppendAsync("full", [Rec($"x{i}"), Rec($"y{i}")]).AsTask());
            Assert.Equal(LogErrorCode.DiskFull, ex.Code);
            Assert.True(ex.IsRetriable);
            Assert.Contains("The disk under the log is full", ex.Message, StringComparison.Ordinal);
            Assert.Contains("nothing of it was written", ex.Message, StringComparison.Ordinal);
        }
        Assert.Null(await ((ILog)log).CheckReadyAsync()); // the writer still runs

        log.BeforeAppendCommit = null;
        Assert.Equal([new(0, 1)], await log.AppendAsync("full", [Rec("after")]));
        Assert.Equal(["before", "after"], (await log.ReadAsync("full", 0, 0, 100)).Select(r => Text(r.Value)));
    }

    [Fact]
    public async Task An_append_past_MaxQueuedBytes_while_the_writer_holds_another_is_refused_whole_as_Overloaded()
    {
        await using var log = await SqliteLog.OpenAsync(Options() with { MaxQueuedBytes = 100 });
        await log.CreateTopicAsync("busy", 2);
        using var entered = new SemaphoreSlim(0);
        using var gate = new ManualResetEventSlim();
        log.BeforeAppendCommit = () =>
        {
            entered.Release();
            gate.Wait();
        };

        // Nothing held: taken, however large (more than MaxQueuedBytes alone).
        var first = log.AppendAsync("busy", [Rec(new string('a', 200), partition: 0)]).AsTask();
        await entered.WaitAsync();

        // Held by the writer: anything more passes the limit and is refused at once, before it is queued.
        var ex = await Assert.ThrowsAsync<LogException>(() => log.AppendAsync("busy", [Rec("b", partition: 0), Rec("c", partition: 1)]).AsTask());
        Assert.Equal(LogErrorCode.Overloaded, ex.Code);
        Assert.True(ex.IsRetriable);
        Assert.Contains("Log:MaxQueuedBytes=100", ex.Message, StringComparison.Ordinal);
        Assert.Contains("nothing of it was written", ex.Message, StringComparison.Ordinal);

        gate.Set();
        Assert.Equal([new(0, 0)], await first);
        log.BeforeAppendCommit = null;
        // The refused append took no offset: the next one follows the first.
        Assert.Equal([new(0, 1), new(1, 0)], await log.AppendAsync("busy", [Rec("d", partition: 0), Rec("e", partition: 1)]));
        Assert.Equal([new string('a', 200), "d"], (await log.ReadAsync("busy", 0, 0, 100)).Select(r => Text(r.Value)));
        Assert.Equal(["e"], (await log.ReadAsync("busy", 1, 0, 100)).Select(r => Text(r.Value)));
    }

    [Fact]
    public async Task Retention_by_age_deletes_whole_old_batches_and_clamps_reads_to_the_log_start()
    {
        var clock = new ManualTimeProvider(new DateTimeOffset(2024, 1, 10, 0, 0, 0, TimeSpan.Zero));
        var now = clock.GetUtcNow();
        await using var log = await SqliteLog.OpenAsync(Options() with { RetentionTime = TimeSpan.FromDays(7), RetentionCheckInterval = TimeSpan.FromHours(1) }, time: clock);
        await log.CreateTopicAsync("age", 1);
        await log.AppendAsync("age", [Rec("old1", timestampMs: Ms(now.AddDays(-9))), Rec("old2", timestampMs: Ms(now.AddDays(-8)))]);
        await log.AppendAsync("age", [Rec("mixed-old", timestampMs: Ms(now.AddDays(-10))), Rec("mixed-new", timestampMs: Ms(now.AddDays(-1)))]);
        await log.AppendAsync("age", [Rec("new", timestampMs: Ms(now))]);

        Assert.Equal(2, await log.EnforceRetentionAsync());
        Assert.Equal(new Watermarks(2, 5), await log.GetWatermarksAsync("age", 0));
        Assert.Equal(["mixed-old", "mixed-new", "new"], (await log.ReadAsync("age", 0, 0, 10)).Select(r => Text(r.Value)));
        Assert.Equal(0, await log.EnforceRetentionAsync());

        clock.Advance(TimeSpan.FromDays(30));
        Assert.Equal(3, await log.EnforceRetentionAsync());
        Assert.Equal(new Watermarks(5, 5), await log.GetWatermarksAsync("age", 0));
        Assert.Empty(await log.ReadAsync("age", 0, 0, 10));
        Assert.Equal([new(0, 5)], await log.AppendAsync("age", [Rec("next", timestampMs: Ms(clock.GetUtcNow()))]));
    }

    [Fact]
    public async Task Retention_never_moves_the_next_offset_back_even_after_a_reopen_of_an_emptied_partition()
    {
        var clock = new ManualTimeProvider(DateTimeOffset.UnixEpoch.AddYears(50));
        var options = Options() with { RetentionTime = TimeSpan.FromDays(1) };
        await using (var log = await SqliteLog.OpenAsync(options, time: clock))
        {
            await log.CreateTopicAsync("empty", 1);
            await log.AppendAsync("empty", [Rec("a", timestampMs: Ms(clock.GetUtcNow())), Rec("b", timestampMs: Ms(clock.GetUtcNow()))]);
            clock.Advance(TimeSpan.FromDays(2));
            Assert.Equal(2, await log.EnforceRetentionAsync());
        }

        await using (var log = await SqliteLog.OpenAsync(options, time: clock))
        {
            Assert.Equal(new Watermarks(2, 2), await log.GetWatermarksAsync("empty", 0));
            Assert.Equal([new(0, 2)], await log.AppendAsync("empty", [Rec("c", timestampMs: Ms(clock.GetUtcNow()))]));
            Assert.Equal(["c"], (await log.ReadAsync("empty", 0, 0, 10)).Select(r => Text(r.Value)));
        }
    }

    [Fact]
    public async Task Retention_by_size_deletes_the_oldest_batches_until_the_partition_fits()
    {
        // Each batch: 1 version byte + 16 bytes of record header + 100 bytes of value = 117 bytes.
        await using var log = await SqliteLog.OpenAsync(Options() with { RetentionBytes = 400 });
        await log.CreateTopicAsync("size", 2);
        for (var i = 0; i < 10; i++) await log.AppendAsync("size", [new LogRecord(null, new byte[100], 0)]);
        await log.AppendAsync("size", [new LogRecord(null, new byte[100], 1)]);

        Assert.Equal(7, await log.EnforceRetentionAsync());
        Assert.Equal(new Watermarks(7, 10), await log.GetWatermarksAsync("size", 0));
        Assert.Equal([7L, 8, 9], (await log.ReadAsync("size", 0, 0, 100)).Select(r => r.Offset));
        Assert.Equal(new Watermarks(0, 1), await log.GetWatermarksAsync("size", 1));
        Assert.Equal(0, await log.EnforceRetentionAsync());
    }

    [Fact]
    public async Task Retention_also_runs_by_itself_every_check_interval()
    {
        await using var log = await SqliteLog.OpenAsync(Options() with { RetentionTime = TimeSpan.FromDays(7), RetentionCheckInterval = TimeSpan.FromMilliseconds(50) });
        await log.CreateTopicAsync("timer", 1);
        await log.AppendAsync("timer", [Rec("old", timestampMs: Ms(DateTimeOffset.UtcNow.AddDays(-8)))]);
        await log.AppendAsync("timer", [Rec("new")]);

        var deadline = DateTime.UtcNow.AddSeconds(10);
        while ((await log.GetWatermarksAsync("timer", 0)).Low == 0 && DateTime.UtcNow < deadline) await Task.Delay(20);

        Assert.Equal(new Watermarks(1, 2), await log.GetWatermarksAsync("timer", 0));
    }

    [Fact]
    public async Task Deleting_a_topic_wakes_its_waiters()
    {
        await using var log = await SqliteLog.OpenAsync(Options());
        await log.CreateTopicAsync("gone", 1);
        var wait = log.WaitForDataAsync("gone", 0, 0, TimeSpan.FromSeconds(30)).AsTask();
        await log.DeleteTopicAsync("gone");
        Assert.Same(wait, await Task.WhenAny(wait, Task.Delay(TimeSpan.FromSeconds(10))));
    }

    [Fact]
    public async Task Calls_after_dispose_throw_ObjectDisposedException()
    {
        var log = await SqliteLog.OpenAsync(Options());
        await log.CreateTopicAsync("closed", 1);
        await log.DisposeAsync();
        await log.DisposeAsync();
        await Assert.ThrowsAsync<ObjectDisposedException>(() => log.AppendAsync("closed", [Rec("v")]).AsTask());
        await Assert.ThrowsAsync<ObjectDisposedException>(() => log.ReadAsync("closed", 0, 0, 1).AsTask());
    }

    [Fact]
    public async Task LogFactory_opens_the_sqlite_log_and_names_an_unknown_kind()
    {
        await using (var log = await LogFactory.OpenAsync(Options() with { Kind = LogKind.Sqlite }))
            Assert.IsType<SqliteLog>(log);

        var ex = await Assert.ThrowsAsync<ArgumentException>(() => LogFactory.OpenAsync(Options() with { Kind = (LogKind)7 }).AsTask());
        Assert.Contains("Log:Kind: '7' is not one of: sqlite, kafka.", ex.Message, StringComparison.Ordinal);
    }
}
