using System.Diagnostics;
using System.Text;
using Microsoft.Data.Sqlite;
using Microsoft.Extensions.Logging.Abstractions;
using PinPipe.Log;
using PinPipe.Log.Sqlite;
using PinPipe.Observability;
using PinPipe.Tests.Support;

namespace PinPipe.Tests.Log.Sqlite;

/// <summary>
/// The embedded log writer's figures (<see cref="WriterStats"/>) and the metrics they feed: groups committed, appends in
/// them, busy time by step (<c>pinpipe_log_writer_busy_seconds_total</c>, <c>…_groups_total</c>, <c>…_appends_total</c>).
/// The metrics are process-wide and other tests' logs add to them, so they are checked against this log's own figures.
/// </summary>
public sealed class WriterStatsTests : IDisposable
{
    private readonly TempDirectory _dir = new("writer-stats");

    public void Dispose()
    {
        SqliteConnection.ClearAllPools();
        _dir.Dispose();
    }

    private LogOptions Options() => new() { Path = _dir.File("log.db"), RetentionTime = null };

    private static LogRecord Rec(int size, int seed) => new(null, Encoding.ASCII.GetBytes(new string((char)('a' + seed % 26), size)), 0);

    [Fact]
    public async Task Each_append_awaited_alone_is_a_group_of_its_own_and_the_steps_times_add_up_to_no_more_than_the_time_that_passed()
    {
        var clock = Stopwatch.StartNew();
        await using var log = await SqliteLog.OpenAsync(Options(), NullLogger.Instance, null, new CheckpointSteps(1L << 20, 1L << 30));
        await log.CreateTopicAsync("t", 1);
        double groupsBefore = PinPipeMetrics.LogWriterGroups.Value, appendsBefore = PinPipeMetrics.LogWriterAppends.Value;
        double commitBefore = PinPipeMetrics.LogWriterBusy.WithLabels("commit").Value;
        Assert.Equal(0, log.Stats.Groups); // creating a topic is not a group of appends

        for (int i = 0; i < 40; i++) await log.AppendAsync("t", [Rec(64 * 1024, i)]); // 2.5 MiB: two checkpoints at least
        var stats = log.Stats;
        var elapsed = clock.Elapsed;

        Assert.Equal(40, stats.Groups);
        Assert.Equal(40, stats.Appends);
        Assert.True(stats.Write > TimeSpan.Zero && stats.Commit > TimeSpan.Zero, $"write {stats.Write}, commit {stats.Commit}");
        Assert.True(log.Checkpointer!.Counts.Checkpoints >= 2);
        Assert.True(stats.Checkpoint > TimeSpan.Zero, "the checkpoints' time counts");
        Assert.True(stats.Busy <= elapsed, $"busy {stats.Busy} in {elapsed}");
        Assert.True(PinPipeMetrics.LogWriterGroups.Value - groupsBefore >= 40);
        Assert.True(PinPipeMetrics.LogWriterAppends.Value - appendsBefore >= 40);
        Assert.True(PinPipeMetrics.LogWriterBusy.WithLabels("commit").Value - commitBefore >= stats.Commit.TotalSeconds - 1e-9);
    }

    [Fact]
    public async Task The_writer_commits_on_a_thread_of_its_own_woken_by_each_append_after_it_went_idle_and_ends_when_the_idle_log_closes()
    {
        var log = await SqliteLog.OpenAsync(Options());
        await log.CreateTopicAsync("t", 1);
        var threads = new System.Collections.Concurrent.ConcurrentBag<(string? Name, bool Pool)>();
        log.BeforeAppendCommit = () => threads.Add((Thread.CurrentThread.Name, Thread.CurrentThread.IsThreadPoolThread));

        for (int i = 0; i < 5; i++)
        {
            await Task.Delay(50); // the writer finds the queue empty and waits
            var positions = await log.AppendAsync("t", [Rec(10, i)]).AsTask().WaitAsync(TimeSpan.FromSeconds(30));
            Assert.Equal(i, positions[0].Offset);
        }

        Assert.Equal(5, threads.Count);
        Assert.All(threads, t => Assert.Equal(("pinpipe-log-writer", false), t));
        await Task.Delay(50);
        await log.DisposeAsync().AsTask().WaitAsync(TimeSpan.FromSeconds(30)); // the idle writer is woken to end
        await Assert.ThrowsAsync<ObjectDisposedException>(async () => await log.AppendAsync("t", [Rec(10, 9)]));
    }

    [Fact]
    public async Task Appends_queued_while_a_commit_runs_share_the_next_group()
    {
        await using var log = await SqliteLog.OpenAsync(Options());
        await log.CreateTopicAsync("t", 1);
        using var committing = new SemaphoreSlim(0);
        using var release = new ManualResetEventSlim();
        int commits = 0;
        log.BeforeAppendCommit = () =>
        {
            if (Interlocked.Increment(ref commits) != 1) return;
            committing.Release();
            release.Wait(TimeSpan.FromSeconds(30)); // the first group's commit waits while the others queue
        };

        var first = log.AppendAsync("t", [Rec(10, 0)]).AsTask();
        Assert.True(await committing.WaitAsync(TimeSpan.FromSeconds(30)));
        var queued = Enumerable.Range(1, 99).Select(i => log.AppendAsync("t", [Rec(10, i)]).AsTask()).ToList();
        release.Set();
        await first.WaitAsync(TimeSpan.FromSeconds(30));
        await Task.WhenAll(queued).WaitAsync(TimeSpan.FromSeconds(30));

        var stats = log.Stats;
        Assert.Equal(100, stats.Appends);
        // The first group alone, then the 99 queued behind its commit in one group (4,096 appends fit in a group).
        Assert.Equal(2, stats.Groups);
        Assert.Equal(new Watermarks(0, 100), await log.GetWatermarksAsync("t", 0));
    }
}
