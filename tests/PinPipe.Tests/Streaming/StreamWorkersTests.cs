using PinPipe.Lake;
using PinPipe.Streaming;
using PinPipe.Transform;

namespace PinPipe.Tests.Streaming;

/// <summary>
/// Stream workers: several stream jobs on one bucket share the streams' partitions as the group <c>pinpipe-stream</c> and
/// commit to the same Delta tables; every row still lands exactly once, through a worker's departure too. On a bucket not
/// known to be safe for several writers, sharing is refused.
/// </summary>
public sealed class StreamWorkersTests
{
    private static readonly TimeSpan Deadline = TimeSpan.FromSeconds(60);

    private static StreamOptions Options(StreamTestKit kit) => kit.Settings.Stream with { SessionTimeout = TimeSpan.FromSeconds(2) };

    private static async Task AppendRowsAsync(StreamTestKit kit, long from, int count)
    {
        foreach (var kind in StreamTestKit.Kinds)
            for (int p = 0; p < 4; p++)
                await kit.AppendAsync(kind, StreamTestKit.Synthetic(kind, from + p * count, count), p);
    }

    private static async Task UntilAsync(Func<Task<bool>> condition, string what, params Task[] runs)
    {
        var until = DateTime.UtcNow + Deadline;
        while (!await condition())
        {
            foreach (var run in runs)
                if (run.IsCompleted) await run; // surfaces a failure
            Assert.True(DateTime.UtcNow < until, $"Not within {Deadline.TotalSeconds} s: {what}");
            await Task.Delay(50);
        }
    }

    [Fact]
    public async Task Two_jobs_share_the_partitions_and_the_one_left_takes_all_every_row_once()
    {
        await using var kit = await StreamTestKit.CreateAsync(partitions: 4);
        await AppendRowsAsync(kit, 1, 50);
        var first = kit.NewJob(options: Options(kit));
        var second = kit.NewJob(options: Options(kit));
        using var stopFirst = new CancellationTokenSource();
        using var stopSecond = new CancellationTokenSource();
        var runFirst = first.RunAsync(stopFirst.Token);
        var runSecond = second.RunAsync(stopSecond.Token);

        await UntilAsync(() => kit.CaughtUpAsync(), "the two jobs caught up", runFirst, runSecond);
        // The first may have read everything before the group split the partitions: more rows until both have read some.
        var until = DateTime.UtcNow + Deadline;
        for (long from = 10_000; first.GetStats().Read == 0 || second.GetStats().Read == 0; from += 20)
        {
            Assert.True(DateTime.UtcNow < until, "the group did not give both jobs partitions");
            await AppendRowsAsync(kit, from, 5);
            await UntilAsync(() => kit.CaughtUpAsync(), "the two jobs caught up", runFirst, runSecond);
        }
        // Both read: the group gave each some of the partitions (on the embedded log, half each).
        Assert.True(first.GetStats().Read > 0 && second.GetStats().Read > 0, $"first read {first.GetStats().Read}, second {second.GetStats().Read}");
        foreach (var kind in StreamTestKit.Kinds) await kit.AssertTablesMatchBatchCleaningAsync(kind);

        // The first leaves: the second takes its partitions and goes on with what arrives (re-posted rows count as duplicates).
        await stopFirst.CancelAsync();
        await runFirst;
        long readBefore = second.GetStats().Read;
        await AppendRowsAsync(kit, 150, 50);
        await UntilAsync(() => kit.CaughtUpAsync(), "the remaining job caught up", runSecond);
        Assert.Equal(readBefore + 3 * 4 * 50, second.GetStats().Read);
        foreach (var kind in StreamTestKit.Kinds) await kit.AssertTablesMatchBatchCleaningAsync(kind);
        await stopSecond.CancelAsync();
        await runSecond;
    }

    [Fact]
    public async Task On_a_bucket_not_known_to_be_safe_for_several_writers_a_second_job_is_refused_naming_the_setting()
    {
        await using var kit = await StreamTestKit.CreateAsync(partitions: 4);
        var unsafeStore = new FailingCommitStore(kit.Store, _ => false, int.MaxValue);
        Assert.False(((IObjectStore)unsafeStore).AtomicPutIfAbsent);
        // One job alone on it works.
        await AppendRowsAsync(kit, 1, 10);
        await kit.RunUntilCaughtUpAsync(kit.NewJob(unsafeStore, Options(kit)));

        using var stop = new CancellationTokenSource();
        var runs = new[] { kit.NewJob(unsafeStore, Options(kit)).RunAsync(stop.Token), kit.NewJob(unsafeStore, Options(kit)).RunAsync(stop.Token) };
        var refused = await Task.WhenAny(runs).WaitAsync(Deadline);
        var error = await Assert.ThrowsAsync<StreamException>(() => refused);
        Assert.Equal("stream.several_writers", error.ErrorCode);
        Assert.Contains("ObjectStore:ConditionalWrites=true", error.Message, StringComparison.Ordinal);
        Assert.Contains("shares the streams", error.Message, StringComparison.Ordinal);
        await stop.CancelAsync();
        foreach (var run in runs)
        {
            try { await run; }
            catch (StreamException) { }
        }
        foreach (var kind in StreamTestKit.Kinds) await kit.AssertTablesMatchBatchCleaningAsync(kind);
    }
}
