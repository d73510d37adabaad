using System.Globalization;
using PinPipe.Lake.Delta;
using PinPipe.Log;
using PinPipe.Streaming;
using PinPipe.Tests.Support;
using PinPipe.Transform;

namespace PinPipe.Tests.Streaming;

/// <summary>
/// The stream job keeps the stream's incarnation (its topic id) with its Delta checkpoint: a stream deleted and created
/// again, or behind the tables' offsets, stops the job with an error naming the stream and <c>--reset earliest</c>, never
/// skipping; <c>--reset earliest</c> reads it from its start; tables written before topic ids keep their offsets.
/// </summary>
public sealed class StreamIncarnationTests
{
    private static readonly TimeSpan Timeout = TimeSpan.FromSeconds(60);

    private static async Task<List<long>> IndsAsync(StreamTestKit kit, RecordKind kind) =>
        [.. (await kit.ReadDeltaAsync(kind)).Select(r => long.Parse(r["ind"]!, CultureInfo.InvariantCulture)).Order()];

    private static IEnumerable<long> Range(long from, int count) => Enumerable.Range((int)from, count).Select(i => (long)i);

    /// <summary>Runs <c>pinpipe stream</c> until both tables of every stream caught up, then Ctrl-C; returns its output.</summary>
    private static async Task<string> StreamUntilCaughtUpAsync(StreamTestKit kit, params string[] extra)
    {
        await using var process = CliProcess.Start(kit.DataDir, ["stream", "--data-dir", kit.DataDir, "--trigger", "50ms", .. extra]);
        var deadline = DateTime.UtcNow + Timeout;
        while (!await kit.CaughtUpAsync())
        {
            Assert.False(process.HasExited, process.Output);
            Assert.True(DateTime.UtcNow < deadline, process.Output);
            await Task.Delay(100);
        }
        Assert.True(await process.InterruptAsync(Timeout) == 0, process.Output);
        return process.Output;
    }

    /// <summary>Deletes the stream, guarded by the stream job's group as the API does (or forced, as with ?force=true), and creates it again.</summary>
    private static async Task RecreateAsync(StreamTestKit kit, RecordKind kind, bool force = false)
    {
        string stream = kit.StreamOf(kind);
        Assert.True(await kit.Log.DeleteTopicAsync(stream, force ? [] : kit.Settings.Consumers().Of(stream)));
        await kit.Log.CreateTopicAsync(stream, 1);
    }

    [Fact]
    public async Task A_stream_created_again_stops_the_restarted_job_naming_it_and_reset_earliest_lands_the_new_incarnation()
    {
        await using var kit = await StreamTestKit.CreateAsync();
        foreach (var kind in StreamTestKit.Kinds) await kit.AppendAsync(kind, StreamTestKit.Synthetic(kind, 1, 20));
        await StreamUntilCaughtUpAsync(kit);
        long version = (await kit.Table(RecordKind.Pin).LoadAsync())!.Version;
        // The job committed its position to the log as its group: the stream it has read to the end is deletable unforced.
        Assert.Equal(20, await kit.Log.GetCommittedOffsetAsync("pinpipe-stream", kit.StreamOf(RecordKind.Pin), 0));

        await RecreateAsync(kit, RecordKind.Pin);
        await kit.AppendAsync(RecordKind.Pin, StreamTestKit.Synthetic(RecordKind.Pin, 101, 5));

        var (code, output) = await CliProcess.RunAsync(kit.DataDir, Timeout, "stream", "--data-dir", kit.DataDir, "--trigger", "50ms");
        Assert.True(code == 1, output);
        Assert.Contains($"Stream '{kit.StreamOf(RecordKind.Pin)}' was deleted and created again", output, StringComparison.Ordinal);
        Assert.Contains("--reset earliest", output, StringComparison.Ordinal);
        Assert.Equal(version, (await kit.Table(RecordKind.Pin).LoadAsync())!.Version); // nothing committed, nothing skipped

        string reset = await StreamUntilCaughtUpAsync(kit, "--reset", "earliest");
        Assert.Contains("Reset to the stream's start", reset, StringComparison.Ordinal);
        Assert.Equal([.. Range(1, 20), .. Range(101, 5)], await IndsAsync(kit, RecordKind.Pin));
        Assert.Equal([.. Range(1, 20)], await IndsAsync(kit, RecordKind.Geo));

        // The reset is recorded in the tables: the next start needs none.
        await kit.AppendAsync(RecordKind.Pin, StreamTestKit.Synthetic(RecordKind.Pin, 106, 2));
        await StreamUntilCaughtUpAsync(kit);
        Assert.Equal([.. Range(1, 20), .. Range(101, 7)], await IndsAsync(kit, RecordKind.Pin));
    }

    [Fact]
    public async Task The_running_job_stops_when_its_stream_is_deleted_and_created_again_and_commits_nothing_of_the_new_one()
    {
        await using var kit = await StreamTestKit.CreateAsync();
        foreach (var kind in StreamTestKit.Kinds) await kit.AppendAsync(kind, StreamTestKit.Synthetic(kind, 1, 10));
        await using var process = CliProcess.Start(kit.DataDir, "stream", "--data-dir", kit.DataDir, "--trigger", "50ms");
        var deadline = DateTime.UtcNow + Timeout;
        while (!await kit.CaughtUpAsync())
        {
            Assert.False(process.HasExited, process.Output);
            Assert.True(DateTime.UtcNow < deadline, process.Output);
            await Task.Delay(100);
        }

        await RecreateAsync(kit, RecordKind.Pin, force: true);
        await kit.AppendAsync(RecordKind.Pin, StreamTestKit.Synthetic(RecordKind.Pin, 201, 30)); // past the old offsets

        // Its whole output: right after HasExited turns true, Output can still miss the last lines, the error among them.
        int code = await process.WaitForExitAsync(Timeout);
        Assert.True(code == 1, process.Output);
        // The whole output on failure (Assert.Contains cuts it to its first characters).
        Assert.True(process.Output.Contains($"Stream '{kit.StreamOf(RecordKind.Pin)}' was deleted", StringComparison.Ordinal), process.Output);
        Assert.True(process.Output.Contains("--reset earliest", StringComparison.Ordinal), process.Output);
        Assert.Equal([.. Range(1, 10)], await IndsAsync(kit, RecordKind.Pin));
    }

    [Fact]
    public async Task Offsets_written_before_topic_ids_are_adopted_for_the_streams_incarnation()
    {
        await using var kit = await StreamTestKit.CreateAsync();
        foreach (var kind in StreamTestKit.Kinds)
        {
            await kit.AppendAsync(kind, StreamTestKit.Synthetic(kind, 1, 10));
            // What an earlier PinPipe wrote: txns without topic id, having read offsets 0 to 5.
            await CommitTxnAsync(kit, kind, rejects: false, StreamJob.AppId(kit.StreamOf(kind), 0), 6);
            await CommitTxnAsync(kit, kind, rejects: true, StreamJob.AppId(kit.StreamOf(kind), 0), 6);
        }

        await kit.RunUntilCaughtUpAsync();

        Assert.Equal([.. Range(7, 4)], await IndsAsync(kit, RecordKind.Pin)); // offsets 6..9 only: nothing read twice
        var txns = (await kit.Table(RecordKind.Pin).LoadAsync())!.Txns;
        Assert.Equal(10, txns[await kit.AppIdAsync(RecordKind.Pin, 0)]);
        Assert.Equal(6, txns[StreamJob.AppId(kit.StreamOf(RecordKind.Pin), 0)]);
    }

    [Fact]
    public async Task A_stream_behind_the_tables_offsets_stops_the_job_and_reset_earliest_reads_it_from_its_start()
    {
        await using var kit = await StreamTestKit.CreateAsync();
        foreach (var kind in StreamTestKit.Kinds) await kit.AppendAsync(kind, StreamTestKit.Synthetic(kind, 1, 10));
        // The pin tables read up to offset 50 of this very incarnation: the log lost records (restored from an older copy).
        await CommitTxnAsync(kit, RecordKind.Pin, rejects: false, await kit.AppIdAsync(RecordKind.Pin, 0), 50);
        await CommitTxnAsync(kit, RecordKind.Pin, rejects: true, await kit.AppIdAsync(RecordKind.Pin, 0), 50);

        var ex = await Assert.ThrowsAsync<LogException>(() => kit.NewJob().RunAsync());
        Assert.Equal(LogErrorCode.CheckpointMismatch, ex.Code);
        Assert.Contains($"Stream '{kit.StreamOf(RecordKind.Pin)}' is behind Delta table", ex.Message, StringComparison.Ordinal);
        Assert.Contains("partition 0 ends at offset 10, but the table has read it up to offset 50", ex.Message, StringComparison.Ordinal);
        Assert.Contains("--reset earliest", ex.Message, StringComparison.Ordinal);

        var job = kit.NewJob(options: kit.Settings.Stream with { Reset = "earliest" });
        using var stop = new CancellationTokenSource();
        var run = job.RunAsync(stop.Token);
        string topicId = (await kit.Log.DescribeTopicAsync(kit.StreamOf(RecordKind.Pin)))!.TopicId!;
        var deadline = DateTime.UtcNow + Timeout;
        while ((await kit.Table(RecordKind.Pin, rejects: true).LoadAsync())!.Txns.GetValueOrDefault(StreamJob.AppId(kit.StreamOf(RecordKind.Pin), 0, topicId + ".1")) != 10)
        {
            if (run.IsCompleted) await run;
            Assert.True(DateTime.UtcNow < deadline);
            await Task.Delay(20);
        }
        await stop.CancelAsync();
        await run;
        Assert.Equal([.. Range(1, 10)], await IndsAsync(kit, RecordKind.Pin));
    }

    private static async Task CommitTxnAsync(StreamTestKit kit, RecordKind kind, bool rejects, string appId, long version) =>
        await kit.Table(kind, rejects).CommitAsync(new DeltaWrite(CleanSchemas.ToDelta(rejects ? CleaningRules.RejectSchema : CleaningRules.Schema(kind)), [])
        {
            Txns = [new DeltaTxn(appId, version)],
            Operation = "STREAMING UPDATE",
        });
}
