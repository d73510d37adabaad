using System.Text;
using Microsoft.Data.Sqlite;
using PinPipe.Log;
using PinPipe.Log.Sqlite;
using PinPipe.Tests.Support;

namespace PinPipe.Tests.Log.Sqlite;

/// <summary>
/// Turns at SQLite's write lock (<see cref="WriterTurns"/>): the producer's writer loop waits before its next group while
/// another writer (an offset commit, a group member's write) has its turn, so that writer is not starved by the loop.
/// A second <see cref="SqliteLog"/> on the same file stands for the other process.
/// </summary>
public sealed class WriterTurnsTests : IDisposable
{
    private readonly TempDirectory _dir = new("writer-turns");

    public void Dispose()
    {
        SqliteConnection.ClearAllPools();
        _dir.Dispose();
    }

    private LogOptions Producer => new() { Path = _dir.File("log.db"), RetentionTime = null };

    private static LogRecord Rec(string value) => new(null, Encoding.UTF8.GetBytes(value), 0);

    [Fact]
    public async Task The_producer_holds_its_next_group_while_another_writer_has_its_turn_and_writes_it_when_the_turn_ends()
    {
        await using var producer = await SqliteLog.OpenAsync(Producer);
        await producer.CreateTopicAsync("t", 1);
        await producer.AppendAsync("t", [Rec("before")]);
        var turns = producer.Turns!;
        turns.MaxYield = TimeSpan.FromSeconds(60);
        Assert.Equal(0, turns.Yields); // nobody else wanted to write
        double yieldedBefore = PinPipe.Observability.PinPipeMetrics.LogWriterYield.Value;

        var turn = WriterTurns.Take(producer.Path);
        Assert.True(WriterTurns.IsTaken(producer.Path));
        var append = producer.AppendAsync("t", [Rec("during")]).AsTask();
        await Task.Delay(400);
        Assert.False(append.IsCompleted);

        turn!.Dispose();
        Assert.False(WriterTurns.IsTaken(producer.Path));
        await append.WaitAsync(TimeSpan.FromSeconds(30));
        Assert.Equal(1, turns.Yields);
        // The wait (most of the 400 ms above: the loop may pick the group up a little after the delay began) shows in
        // the metric; other tests' logs may add to it too.
        double waited = (double)turns.YieldedTicks / System.Diagnostics.Stopwatch.Frequency;
        Assert.True(waited >= 0.3, $"waited {waited} s");
        Assert.True(PinPipe.Observability.PinPipeMetrics.LogWriterYield.Value - yieldedBefore >= waited - 1e-9);
        Assert.Equal(new Watermarks(0, 2), await producer.GetWatermarksAsync("t", 0));
    }

    [Fact]
    public async Task A_turn_held_longer_than_any_write_takes_is_ignored_until_it_is_let_go()
    {
        await using var producer = await SqliteLog.OpenAsync(Producer);
        await producer.CreateTopicAsync("t", 1);
        var turns = producer.Turns!;
        turns.MaxYield = TimeSpan.FromMilliseconds(100);
        turns.StaleAfter = TimeSpan.FromMilliseconds(300);

        // A process stopped while it held its turn: the first group waits at most MaxYield, later ones not at all.
        var stale = WriterTurns.Take(producer.Path);
        await producer.AppendAsync("t", [Rec("a")]);
        Assert.Equal(1, turns.Yields);
        await Task.Delay(400);
        await producer.AppendAsync("t", [Rec("b")]);
        await producer.AppendAsync("t", [Rec("c")]);
        Assert.Equal(1, turns.Yields);

        // Once let go, the next turn is waited for again.
        stale!.Dispose();
        await producer.AppendAsync("t", [Rec("d")]);
        Assert.Equal(1, turns.Yields);
        using (WriterTurns.Take(producer.Path)) await producer.AppendAsync("t", [Rec("e")]);
        Assert.Equal(2, turns.Yields);
        Assert.Equal(new Watermarks(0, 5), await producer.GetWatermarksAsync("t", 0));
    }

    [Fact]
    public async Task A_consumers_offset_commit_and_a_group_members_commit_hold_a_turn_while_they_wait_for_the_lock()
    {
        await using var producer = await SqliteLog.OpenAsync(Producer);
        await producer.CreateTopicAsync("t", 1);
        await producer.AppendAsync("t", [Rec("a"), Rec("b")]);
        await using var consumer = await SqliteLog.OpenAsync(Producer with { Access = LogAccess.Consumer });
        await using var member = await consumer.JoinGroupAsync("sinks", ["t"], new GroupMemberOptions { SessionTimeout = TimeSpan.FromSeconds(10), HeartbeatInterval = TimeSpan.FromMilliseconds(200) });
        for (var until = DateTime.UtcNow.AddSeconds(30); !member.Owns("t", 0); await Task.Delay(20))
            Assert.True(DateTime.UtcNow < until, "the member was not given t[0]");

        foreach (var (what, commit) in new (string, Func<Task>)[]
        {
            ("the consumer's offset commit", () => consumer.CommitOffsetsAsync("other", [new("t", 0, 1)]).AsTask()),
            ("the member's commit", () => member.CommitAsync([new("t", 0, 2)]).AsTask()),
        })
        {
            // Another writer holds SQLite's lock: the commit waits for it inside its turn.
            await using var other = new SqliteConnection($"Data Source={producer.Path};Pooling=False");
            await other.OpenAsync();
#pragma warning disable CA1849 // Microsoft.Data.Sqlite has no real async: its *Async methods run synchronously
            using var tx = other.BeginTransaction(deferred: false);
#pragma warning restore CA1849
            var committing = Task.Run(commit);
            for (var until = DateTime.UtcNow.AddSeconds(3); !WriterTurns.IsTaken(producer.Path); await Task.Delay(10))
                Assert.True(DateTime.UtcNow < until, $"{what} took no turn");
            Assert.False(committing.IsCompleted);
#pragma warning disable CA1849
            tx.Commit();
#pragma warning restore CA1849
            await committing.WaitAsync(TimeSpan.FromSeconds(30));
            Assert.False(WriterTurns.IsTaken(producer.Path), $"{what} kept its turn");
        }
        Assert.Equal(1, await producer.GetCommittedOffsetAsync("other", "t", 0));
        Assert.Equal(2, await producer.GetCommittedOffsetAsync("sinks", "t", 0));
    }
}
