using PinPipe.Streaming;
using PinPipe.Tests.Transform;
using PinPipe.Transform;

namespace PinPipe.Tests.Streaming;

/// <summary>
/// A micro-batch without rejects commits to the clean table only: the reject table's position is held back and moved by
/// its next commit (a micro-batch with rejects, <see cref="StreamTable.RejectsHoldLimit"/> after its last one, or once the
/// table is idle); a restart reads the records after the position it holds again, for the reject table alone.
/// </summary>
public sealed class StreamRejectsPositionTests
{
    private static readonly StreamOptions SmallBatches = new() { Trigger = TimeSpan.FromMilliseconds(20), MaxBatchRecords = 9 };

    [Fact]
    public async Task Micro_batches_without_rejects_commit_to_the_clean_table_only_and_the_reject_table_catches_up_with_its_rejects_and_when_idle()
    {
        await using var kit = await StreamTestKit.CreateAsync(options: SmallBatches);
        string reject = TransformTestKit.FixtureLines("raw", RecordKind.Pin)[^1];
        // 45 clean records, one reject, 45 more: at least 10 micro-batches, one of them with the reject.
        await kit.AppendAsync(RecordKind.Pin, StreamTestKit.Synthetic(RecordKind.Pin, 1, 45));
        await kit.AppendAsync(RecordKind.Pin, [reject]);
        await kit.AppendAsync(RecordKind.Pin, StreamTestKit.Synthetic(RecordKind.Pin, 46, 45));
        foreach (var kind in new[] { RecordKind.Geo, RecordKind.User }) await kit.AppendAsync(kind, StreamTestKit.Synthetic(kind, 1, 30));

        var job = kit.NewJob();
        await kit.RunUntilCaughtUpAsync(job); // both tables of every kind at the streams' ends: the held positions were committed once idle
        foreach (var kind in StreamTestKit.Kinds) await kit.AssertTablesMatchBatchCleaningAsync(kind);

        var clean = await StreamJobTests.ReadCommitsAsync(kit, kit.Target.TablePrefix(RecordKind.Pin));
        var rejects = await StreamJobTests.ReadCommitsAsync(kit, kit.Target.TablePrefix(RecordKind.Pin, rejects: true));
        Assert.True(clean.Count >= 91 / 9, $"only {clean.Count} clean commits");
        // The reject table: the commit of the reject's file, moving the position over every micro-batch before it too,
        // and the commit of the position once idle; none for the other micro-batches.
        Assert.True(rejects.Count <= 3, $"{rejects.Count} reject table commits for {clean.Count} micro-batches");
        var withFile = Assert.Single(rejects, c => c.Adds > 0);
        Assert.Equal(1, withFile.Adds);
        Assert.True(Assert.Single(withFile.Txns).Version >= 46, "the commit with the reject (offset 45) records the position after it");
        Assert.Equal(91L, rejects[^1].Txns.Single().Version);
        Assert.Equal(1, job.GetStats().Tables[0].Rejects);
        foreach (var commit in rejects) Assert.True(commit.Txns.Count > 0, $"reject table commit {commit.Version} moves no position");

        // A table with no rejects at all commits its reject table's position once, idle.
        var geoRejects = await StreamJobTests.ReadCommitsAsync(kit, kit.Target.TablePrefix(RecordKind.Geo, rejects: true));
        var only = Assert.Single(geoRejects);
        Assert.Equal(0, only.Adds);
        Assert.Equal(30L, only.Txns.Single().Version);
    }

    [Fact]
    public async Task A_graceful_stop_commits_the_reject_tables_held_position()
    {
        await using var kit = await StreamTestKit.CreateAsync(options: SmallBatches);
        foreach (var kind in StreamTestKit.Kinds) await kit.AppendAsync(kind, StreamTestKit.Synthetic(kind, 1, 30));
        var job = kit.NewJob();
        using var stop = new CancellationTokenSource();
        var run = job.RunAsync(stop.Token);
        // Stopped as soon as every clean table holds the stream's end (the reject tables' positions are still held then,
        // unless the tables were idle long enough to commit them already).
        var deadline = DateTime.UtcNow + TimeSpan.FromSeconds(30);
        foreach (var kind in StreamTestKit.Kinds)
        {
            string appId = await kit.AppIdAsync(kind, 0);
            while ((await kit.Table(kind).LoadAsync())?.Txns.GetValueOrDefault(appId) != 30)
            {
                if (run.IsCompleted) await run;
                Assert.True(DateTime.UtcNow < deadline, $"the {kind} clean table did not reach offset 30");
                await Task.Delay(20);
            }
        }
        await stop.CancelAsync();
        await run;

        foreach (var kind in StreamTestKit.Kinds)
            Assert.Equal(30, (await kit.Table(kind, rejects: true).LoadAsync())?.Txns.GetValueOrDefault(await kit.AppIdAsync(kind, 0)));
        Assert.True(await kit.CaughtUpAsync());
    }

    [Fact]
    public async Task A_job_that_dies_with_the_reject_tables_position_held_is_read_again_for_the_reject_table_alone_on_restart()
    {
        await using var kit = await StreamTestKit.CreateAsync(options: SmallBatches);
        foreach (var kind in StreamTestKit.Kinds) await kit.AppendAsync(kind, StreamTestKit.Synthetic(kind, 1, 30));
        // Every commit to a reject table fails as a crash would: the job dies at the first, when it commits the held position.
        var crashing = new FailingCommitStore(kit.Store, key => key.Contains("_rejects/_delta_log/", StringComparison.Ordinal) && key.EndsWith(".json", StringComparison.Ordinal), failAfter: 0);
        using (var stop = new CancellationTokenSource(TimeSpan.FromSeconds(30)))
            await Assert.ThrowsAsync<IOException>(() => kit.NewJob(crashing, SmallBatches).RunAsync(stop.Token));
        Assert.True(crashing.Failed);
        // The clean table holds the micro-batches it committed; the reject table holds nothing.
        long cleanAt = (await kit.Table(RecordKind.Pin).LoadAsync())!.Txns[await kit.AppIdAsync(RecordKind.Pin, 0)];
        Assert.True(cleanAt > 0);
        Assert.Null(await kit.Table(RecordKind.Pin, rejects: true).LoadAsync());

        var second = kit.NewJob();
        await kit.RunUntilCaughtUpAsync(second);
        foreach (var kind in StreamTestKit.Kinds) await kit.AssertTablesMatchBatchCleaningAsync(kind);
        var pin = second.GetStats().Tables[0];
        // Every record read again from the reject table's position (the stream's start) for the reject table alone, and
        // the ones the clean table did not hold yet for both: no clean row twice, none counted as a duplicate.
        Assert.Equal(30, pin.Read);
        Assert.Equal(30 - cleanAt, pin.Clean);
        Assert.Equal(0, pin.Duplicates);
        Assert.Equal(0, pin.Rejects);
    }
}
