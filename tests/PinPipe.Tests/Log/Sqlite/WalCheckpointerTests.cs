using Microsoft.Data.Sqlite;
using Microsoft.Extensions.Logging.Abstractions;
using PinPipe.Log;
using PinPipe.Log.Sqlite;
using PinPipe.Tests.Support;

namespace PinPipe.Tests.Log.Sqlite;

/// <summary>The producer's checkpoints: the writer's, between groups, every step; none inside a commit.</summary>
public sealed class WalCheckpointerTests : IDisposable
{
    private readonly TempDirectory _dir = new("walcheckpoint");

    public void Dispose()
    {
        SqliteConnection.ClearAllPools();
        _dir.Dispose();
    }

    private LogOptions Options() => new() { Path = _dir.File("log.db"), RetentionTime = null };

    private static byte[] Payload(int size, int seed) => Enumerable.Range(0, size).Select(i => (byte)('a' + (i * 7 + seed) % 26)).ToArray();

    [Fact]
    public async Task The_writer_checkpoints_every_step_of_records_so_the_WAL_starts_over_and_stays_near_a_step()
    {
        var options = Options();
        await using var log = await SqliteLog.OpenAsync(options, NullLogger.Instance, null, new CheckpointSteps(1L << 20, 1L << 30));
        await log.CreateTopicAsync("t", 1);
        const int appends = 100, size = 64 * 1024; // 6.4 MB of records: a step every 16 appends
        for (int i = 0; i < appends; i++) await log.AppendAsync("t", [new LogRecord(null, Payload(size, i), 0)]);

        var (checkpoints, failures) = log.Checkpointer!.Counts;
        Assert.Equal(0, failures);
        Assert.InRange(checkpoints, 5, 6); // one each time the records since the last passed a step
        // Each checkpoint copied every frame, so the next transaction wrote the WAL from its start again: the file is as
        // large as the frames of a step and a commit (a WAL never shrinks by itself), where without checkpoints it would
        // hold all 100 appends' frames, over 6.4 MB.
        long wal = new FileInfo(options.Path + "-wal").Length;
        Assert.InRange(wal, 1, 3L << 20);
        Assert.True(new FileInfo(options.Path).Length >= (appends - 20) * (long)size, "the records are in the database file, not only in the WAL");

        var read = await log.ReadAsync("t", 0, 0, appends);
        Assert.Equal(appends, read.Count);
        for (int i = 0; i < appends; i++) Assert.Equal(Payload(size, i), read[i].Value);
    }

    [Fact]
    public async Task Small_commits_that_rewrite_the_same_pages_are_checkpointed_every_step_of_WAL_frames()
    {
        var options = Options();
        await using var log = await SqliteLog.OpenAsync(options, NullLogger.Instance, null, new CheckpointSteps(1L << 30, 1L << 20));
        await log.CreateTopicAsync("t", 1);
        // 100-byte records: each commit rewrites a few pages of 16 KiB (leaves of the table, of its key, of the partitions;
        // the writer counts 4) and writes almost no new record bytes, so only the step in frames (1 MiB, 16 commits) applies.
        for (int i = 0; i < 240; i++) await log.AppendAsync("t", [new LogRecord(null, Payload(100, i), 0)]);

        var (checkpoints, failures) = log.Checkpointer!.Counts;
        Assert.Equal(0, failures);
        Assert.InRange(checkpoints, 14, 16);
        Assert.InRange(new FileInfo(options.Path + "-wal").Length, 1, 2L << 20);
        Assert.Equal(240, (await log.ReadAsync("t", 0, 0, 1000)).Count);
    }

    [Fact]
    public async Task Below_a_step_nothing_is_checkpointed_and_the_records_wait_in_the_WAL()
    {
        var options = Options();
        await using var log = await SqliteLog.OpenAsync(options, NullLogger.Instance, null, new CheckpointSteps(64L << 20, 64L << 20));
        await log.CreateTopicAsync("t", 1);
        long before = new FileInfo(options.Path).Length;
        // About 20 MB of records: past SQLite's own automatic checkpoint (1,000 pages of 16 KiB), under the steps.
        for (int i = 0; i < 300; i++) await log.AppendAsync("t", [new LogRecord(null, Payload(64 * 1024, i % 26), 0)]);

        // SQLite's automatic checkpoint is off in the writer: nothing reached the file inside a commit.
        Assert.Equal((0L, 0L), log.Checkpointer!.Counts);
        Assert.Equal(before, new FileInfo(options.Path).Length);
        Assert.True(new FileInfo(options.Path + "-wal").Length > 300 * 64 * 1024);
        Assert.Equal(300, (await log.ReadAsync("t", 0, 0, 1000)).Count);
    }

    [Fact]
    public async Task Retention_makes_the_next_group_checkpoint()
    {
        var options = Options() with { RetentionBytes = 100_000 };
        await using var log = await SqliteLog.OpenAsync(options, NullLogger.Instance, null, new CheckpointSteps(64L << 20, 64L << 20));
        await log.CreateTopicAsync("t", 1);
        for (int i = 0; i < 10; i++) await log.AppendAsync("t", [new LogRecord(null, Payload(50_000, i), 0)]);
        Assert.Equal(0, log.Checkpointer!.Counts.Checkpoints);
        Assert.True(await log.EnforceRetentionAsync() > 0);
        await log.AppendAsync("t", [new LogRecord(null, Payload(10, 0), 0)]);
        // The writer checkpoints after the append's answer: wait for it (bounded), then a next group checkpoints no more.
        var deadline = DateTime.UtcNow.AddSeconds(10);
        while (log.Checkpointer.Counts.Checkpoints == 0 && DateTime.UtcNow < deadline) await Task.Delay(5);
        Assert.Equal(1, log.Checkpointer.Counts.Checkpoints);
        await log.AppendAsync("t", [new LogRecord(null, Payload(10, 1), 0)]);
        await log.EnforceRetentionAsync(); // an exclusive operation queued behind the append: the writer finished its group
        Assert.Equal(1, log.Checkpointer.Counts.Checkpoints);
    }

    [Fact]
    public async Task Records_left_in_the_WAL_at_a_crash_are_read_after_the_reopen()
    {
        var options = Options();
        var copy = _dir.File("copy/log.db");
        await using (var log = await SqliteLog.OpenAsync(options, NullLogger.Instance, null, new CheckpointSteps(64L << 20, 64L << 20)))
        {
            await log.CreateTopicAsync("t", 1);
            for (int i = 0; i < 10; i++) await log.AppendAsync("t", [new LogRecord(null, Payload(10_000, i), 0)]);
            // A crash: the files as they are now, with the records only in the WAL, copied while the log is open.
            Directory.CreateDirectory(Path.GetDirectoryName(copy)!);
            File.Copy(options.Path, copy);
            File.Copy(options.Path + "-wal", copy + "-wal");
        }

        await using var reopened = await SqliteLog.OpenAsync(options with { Path = copy });
        var read = await reopened.ReadAsync("t", 0, 0, 100);
        Assert.Equal(10, read.Count);
        Assert.Equal(Payload(10_000, 9), read[9].Value);
    }

    [Theory]
    [InlineData(0)]
    [InlineData(SqliteBusy.SideWriterAutocheckpointPages)]
    public async Task A_writing_connection_gets_the_automatic_checkpoint_it_asks_for(int pages)
    {
        await using var db = new SqliteConnection($"Data Source={_dir.File("pragma.db")};Pooling=False");
        await db.OpenAsync();
        SqliteBusy.Configure(db, pages);
        await using var cmd = db.CreateCommand();
        cmd.CommandText = "PRAGMA wal_autocheckpoint";
        Assert.Equal((long)pages, await cmd.ExecuteScalarAsync());
        cmd.CommandText = "PRAGMA synchronous";
        Assert.Equal(2L, await cmd.ExecuteScalarAsync()); // FULL
    }

    [Fact]
    public async Task A_consumer_or_group_member_connection_checkpoints_only_past_16384_pages_by_default()
    {
        await using var db = new SqliteConnection($"Data Source={_dir.File("pragma.db")};Pooling=False");
        await db.OpenAsync();
        SqliteBusy.Configure(db);
        await using var cmd = db.CreateCommand();
        cmd.CommandText = "PRAGMA wal_autocheckpoint";
        Assert.Equal(16384L, await cmd.ExecuteScalarAsync());
        Assert.Throws<ArgumentOutOfRangeException>(() => SqliteBusy.Configure(db, -1));
    }

    [Fact]
    public void A_step_must_be_positive()
    {
        Assert.Throws<ArgumentOutOfRangeException>(() => new WalCheckpointer("x.db", NullLogger.Instance, new CheckpointSteps(0, 1)));
        Assert.Throws<ArgumentOutOfRangeException>(() => new WalCheckpointer("x.db", NullLogger.Instance, new CheckpointSteps(1, 0)));
    }
}
