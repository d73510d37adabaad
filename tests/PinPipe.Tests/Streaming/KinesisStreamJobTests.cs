using System.Diagnostics;
using PinPipe.Log;
using PinPipe.Log.Kinesis;
using PinPipe.Streaming;
using PinPipe.Tests.Log.Kinesis;
using PinPipe.Tests.Support;
using PinPipe.Tests.Transform;
using PinPipe.Transform;

namespace PinPipe.Tests.Streaming;

/// <summary>
/// The stream job reading Amazon Kinesis (<c>Stream:Source=kinesis</c>), against kinesalite (the test command starts it):
/// the tables hold exactly what one batch cleaning of every record put gives, the checkpoint is each shard's last
/// sequence number committed as Delta txns with the rows, across restarts, splits, a stream created again and SIGKILLs.
/// </summary>
public sealed class KinesisStreamJobTests
{
    [Fact]
    public async Task Records_put_to_kinesis_land_in_the_Delta_tables_exactly_once_with_each_shards_sequence_number_in_the_commit()
    {
        await using var kit = await StreamTestKit.CreateKinesisAsync(shards: 2);
        int put = 0;
        foreach (var kind in StreamTestKit.Kinds)
        {
            string[] fixture = TransformTestKit.FixtureLines("raw", kind);
            await kit.AppendAsync(kind, fixture);
            await kit.AppendAsync(kind, StreamTestKit.Synthetic(kind, 1, 200));
            await kit.AppendAsync(kind, StreamTestKit.Synthetic(kind, 150, 100)); // 50 re-posts
            put = fixture.Length + 300;
        }

        var job = kit.NewJob();
        await kit.RunUntilCaughtUpAsync(job);

        foreach (var kind in StreamTestKit.Kinds) await kit.AssertTablesMatchBatchCleaningAsync(kind);
        Assert.Equal(put, job.GetStats().Tables[2].Read); // each record read once (user: the last kind appended)
        string stream = kit.StreamOf(RecordKind.Pin);
        foreach (bool rejects in new[] { false, true })
        {
            var txns = (await kit.Table(RecordKind.Pin, rejects).LoadAsync())!.Txns.Keys.ToList();
            Assert.All(txns, t => Assert.StartsWith($"{KinesisCheckpoint.Prefix}{stream}@", t, StringComparison.Ordinal));
            Assert.Contains(txns, t => t.Contains(":shardId-000000000000#", StringComparison.Ordinal));
            Assert.Contains(txns, t => t.Contains(":shardId-000000000001#", StringComparison.Ordinal));
        }
        Assert.Empty(await kit.Log.ListTopicsAsync()); // nothing of the log was used
    }

    [Fact]
    public async Task A_restart_reads_only_the_records_after_the_committed_sequence_numbers()
    {
        await using var kit = await StreamTestKit.CreateKinesisAsync(shards: 2);
        foreach (var kind in StreamTestKit.Kinds) await kit.AppendAsync(kind, StreamTestKit.Synthetic(kind, 1, 120));
        await kit.RunUntilCaughtUpAsync(kit.NewJob());

        foreach (var kind in StreamTestKit.Kinds) await kit.AppendAsync(kind, StreamTestKit.Synthetic(kind, 101, 50)); // 20 re-posts (101..120), 30 new
        var second = kit.NewJob();
        await kit.RunUntilCaughtUpAsync(second);

        Assert.All(second.GetStats().Tables, t => Assert.Equal(50, t.Read));
        Assert.All(second.GetStats().Tables, t => Assert.Equal(20, t.Duplicates));
        foreach (var kind in StreamTestKit.Kinds) await kit.AssertTablesMatchBatchCleaningAsync(kind);
    }

    [Fact]
    public async Task Records_across_a_shard_split_land_once_with_the_children_read_after_their_parent()
    {
        await using var kit = await StreamTestKit.CreateKinesisAsync(shards: 1);
        foreach (var kind in StreamTestKit.Kinds) await kit.AppendAsync(kind, StreamTestKit.Synthetic(kind, 1, 100));
        await WhileRunningAsync(kit.NewJob(), async run =>
        {
            await WaitAsync(kit.CaughtUpAsync, run, "the job did not read the first records");
            // Split every stream's shard in the middle of the hash key range: it closes, two children take the new records.
            foreach (var kind in StreamTestKit.Kinds)
            {
                string stream = kit.StreamOf(kind);
                await kit.Kinesis!.SplitShardAsync(stream, "shardId-000000000000", "170141183460469231731687303715884105728");
                await kit.Kinesis.WaitForActiveAsync(stream, TimeSpan.FromSeconds(30));
                await kit.AppendAsync(kind, StreamTestKit.Synthetic(kind, 80, 120)); // re-posts of 80..100 go to a child
            }
            await WaitAsync(kit.CaughtUpAsync, run, "the job did not read the children's records");
        });

        foreach (var kind in StreamTestKit.Kinds) await kit.AssertTablesMatchBatchCleaningAsync(kind);
        var shards = await kit.Kinesis!.ListShardsAsync(kit.StreamOf(RecordKind.Pin));
        Assert.Equal(3, shards.Count);
        var checkpoint = KinesisCheckpoint.Decode((await kit.Table(RecordKind.Pin).LoadAsync())!.Txns, kit.StreamOf(RecordKind.Pin),
            (await kit.Kinesis.DescribeStreamSummaryAsync(kit.StreamOf(RecordKind.Pin))).CreationTimestamp.ToUnixTimeSeconds().ToString(System.Globalization.CultureInfo.InvariantCulture));
        Assert.Equal(shards.Select(s => s.ShardId).Order(), checkpoint.Keys.Order()); // the parent's last record and each child's
    }

    [Fact]
    public async Task A_stream_deleted_and_created_again_stops_the_job_naming_the_reset_and_reset_earliest_reads_the_new_one()
    {
        await using var kit = await StreamTestKit.CreateKinesisAsync(shards: 1);
        foreach (var kind in StreamTestKit.Kinds) await kit.AppendAsync(kind, StreamTestKit.Synthetic(kind, 1, 50));
        await kit.RunUntilCaughtUpAsync(kit.NewJob());

        await kit.RecreateKinesisStreamAsync(RecordKind.Pin);
        await kit.AppendAsync(RecordKind.Pin, StreamTestKit.Synthetic(RecordKind.Pin, 40, 30)); // 10 re-posts of the old incarnation's rows

        var error = await Assert.ThrowsAsync<LogException>(() => kit.NewJob().RunAsync(new CancellationTokenSource(TimeSpan.FromSeconds(60)).Token));
        Assert.Equal(LogErrorCode.CheckpointMismatch, error.Code);
        Assert.Contains("was deleted and created again", error.Message, StringComparison.Ordinal);
        Assert.Contains("--reset earliest", error.Message, StringComparison.Ordinal);

        await kit.RunUntilCaughtUpAsync(kit.NewJob(options: kit.Settings.Stream with { Reset = "earliest" }));
        foreach (var kind in StreamTestKit.Kinds) await kit.AssertTablesMatchBatchCleaningAsync(kind);
    }

    [Fact]
    public async Task A_job_started_at_latest_reads_only_what_comes_after_its_start()
    {
        await using var kit = await StreamTestKit.CreateKinesisAsync(shards: 2);
        foreach (var kind in StreamTestKit.Kinds) await kit.AppendAsync(kind, StreamTestKit.Synthetic(kind, 1, 40));
        var job = kit.NewJob(options: kit.Settings.Stream with { From = StreamStart.Latest });
        await WhileRunningAsync(job, async run =>
        {
            // LATEST iterators are taken when the reader starts: give it the time to, then put the new records.
            await Task.Delay(TimeSpan.FromSeconds(2));
            Assert.False(run.IsCompleted);
            foreach (var kind in StreamTestKit.Kinds) await kit.AppendAsync(kind, StreamTestKit.Synthetic(kind, 1000, 25));
            await WaitAsync(() => Task.FromResult(job.GetStats().Tables.All(t => t.Read >= 25 && t.Batches > 0)), run, "the job did not read the new records");
            await Task.Delay(300);
        });
        Assert.All(job.GetStats().Tables, t => Assert.Equal(25, t.Read));
        Assert.All(job.GetStats().Tables, t => Assert.Equal(25, t.Clean));
    }

    /// <summary>
    /// <c>pinpipe stream</c> on Kinesis as a real process, SIGKILLed at random moments while records keep coming; an
    /// in-process job drains the rest. Every table then holds exactly one batch cleaning of every record put, and every
    /// checkpoint txn only went up.
    /// </summary>
    [Fact]
    public async Task Sigkill_at_random_moments_under_continuous_puts_keeps_every_row_exactly_once()
    {
        await using var kit = await StreamTestKit.CreateKinesisAsync(shards: 2);
        var random = new Random(2424);
        using var stopPutting = new CancellationTokenSource();
        var producer = kit.ProduceAsync(seed: 71, partitions: 1, stopPutting.Token);

        var clock = Stopwatch.StartNew();
        int cycles = 0, withBatches = 0;
        string lastOutput = "";
        // At least 5 cycles however slow the machine is to start a process, for at most 25 s beyond that.
        while ((cycles < 5 || clock.Elapsed < TimeSpan.FromSeconds(25)) && cycles < 15 && clock.Elapsed < TimeSpan.FromSeconds(120))
        {
            await using var process = CliProcess.StartWithEnvironment(StreamTestKit.KinesisEnvironment(), kit.DataDir, "stream", "--data-dir", kit.DataDir,
                "--user-id", kit.Settings.UserId, "--trigger", "100ms", "--max-batch-records", "60", "--compact-every", "4", "--verbose");
            if (cycles % 4 == 3) await Task.Delay(random.Next(50, 1500)); // blind: most often while it starts
            else
            {
                Assert.True(await process.WaitForOutputAsync("Ctrl-C to stop", TimeSpan.FromSeconds(60)),
                    $"pinpipe stream did not start within 60 s:\n{process.Output}");
                // Every other run first commits a micro-batch, however slow the machine: the kills then also land in
                // the work after it, not only before the first micro-batch.
                if (cycles % 2 == 0)
                    Assert.True(await process.WaitForOutputAsync("micro-batch of", TimeSpan.FromSeconds(60)),
                        $"pinpipe stream committed no micro-batch within 60 s:\n{process.Output}");
                await Task.Delay(random.Next(300, 2500)); // at a random moment of its work
            }
            Assert.False(process.HasExited, $"pinpipe stream exited on its own:\n{process.Output}");
            process.Kill();
            cycles++;
            if (process.Output.Contains("micro-batch of", StringComparison.Ordinal)) withBatches++;
            lastOutput = process.Output;
        }
        await stopPutting.CancelAsync();
        await producer;
        Assert.True(cycles >= 5, $"only {cycles} cycles");
        Assert.True(withBatches >= 3, $"only {withBatches} of {cycles} runs committed micro-batches; the last run's output:\n{lastOutput}");

        await kit.RunUntilCaughtUpAsync(kit.NewJob(options: kit.Settings.Stream with { MaxBatchRecords = 5_000, CompactEvery = 4 }), TimeSpan.FromSeconds(120));
        foreach (var kind in StreamTestKit.Kinds) await kit.AssertTablesMatchBatchCleaningAsync(kind);
        await kit.AssertTxnsOnlyGrowAsync();
    }

    /// <summary>Runs the job while <paramref name="during"/> runs (given the job's run), then stops it.</summary>
    private static async Task WhileRunningAsync(StreamJob job, Func<Task, Task> during)
    {
        using var stop = new CancellationTokenSource();
        var run = job.RunAsync(stop.Token);
        try
        {
            await during(run);
        }
        finally
        {
            await stop.CancelAsync();
            await run;
        }
    }

    private static async Task WaitAsync(Func<Task<bool>> done, Task run, string what)
    {
        var deadline = DateTime.UtcNow + TimeSpan.FromSeconds(60);
        while (!await done())
        {
            if (run.IsCompleted) await run; // surfaces the failure
            Assert.True(DateTime.UtcNow < deadline, what);
            await Task.Delay(50);
        }
    }
}
