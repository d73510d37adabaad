using System.Globalization;
using PinPipe.Lake.Delta;
using PinPipe.Log.Kinesis;
using PinPipe.Streaming;
using PinPipe.Tests.Streaming;
using PinPipe.Tests.Support;
using PinPipe.Tests.Transform;
using PinPipe.Transform;
using PinPipe.Verify;

namespace PinPipe.Tests.Verify;

/// <summary>
/// <c>pinpipe verify</c> with <c>Stream:Source=kinesis</c>: the streaming tables reconciled with kinesalite's shards
/// (the test command starts it), read from their trim horizon up to the tables' checkpoints.
/// </summary>
public sealed class KinesisStreamRecordsTests
{
    private static async Task<VerifyCheck> CheckAsync(StreamTestKit kit, RecordKind kind)
    {
        using var work = new TempDirectory("verify-kinesis");
        return await new StreamTablesCheck(new KinesisStreamRecords(kit.Kinesis!, VerifyOptions.Default), kit.Store, kit.Target, VerifyOptions.Default, work.Path)
            .RunAsync(kind, CancellationToken.None);
    }

    [Fact]
    public async Task Records_across_a_split_reconcile_with_the_tables_and_the_figures_add_up_and_the_cli_exits_0()
    {
        await using var kit = await StreamTestKit.CreateKinesisAsync(shards: 1);
        var put = new Dictionary<RecordKind, int>();
        foreach (var kind in StreamTestKit.Kinds)
        {
            string[] fixture = TransformTestKit.FixtureLines("raw", kind); // rejects and duplicates among them
            await kit.AppendAsync(kind, fixture);
            await kit.AppendAsync(kind, StreamTestKit.Synthetic(kind, 1, 60));
            put[kind] = fixture.Length + 60;
        }
        await kit.RunUntilCaughtUpAsync(kit.NewJob());
        foreach (var kind in StreamTestKit.Kinds)
        {
            string stream = kit.StreamOf(kind);
            await kit.Kinesis!.SplitShardAsync(stream, "shardId-000000000000", "170141183460469231731687303715884105728");
            await kit.Kinesis.WaitForActiveAsync(stream, TimeSpan.FromSeconds(30));
            await kit.AppendAsync(kind, StreamTestKit.Synthetic(kind, 40, 60)); // 21 re-posts, to the children
            put[kind] += 60;
        }
        await kit.RunUntilCaughtUpAsync(kit.NewJob());

        foreach (var kind in StreamTestKit.Kinds)
        {
            var check = await CheckAsync(kit, kind);
            var (clean, rejects, counts) = await kit.ExpectedAsync(kind);
            Assert.True(check.Problems == 0, string.Join("\n", check.Listed.Select(p => $"{p.Kind} {p.Where}: {p.Message}")));
            Assert.Equal(put[kind], check.Checked);
            Assert.Equal(put[kind], check.Figures["records"]);
            Assert.Equal(clean.Count, check.Figures["cleanRows"]);
            Assert.Equal(counts.Duplicates, check.Figures["duplicates"]);
            Assert.Equal(rejects.Count, check.Figures["rejectRows"]);
            Assert.True(counts.Rejects > 0 && counts.Duplicates > 0, "the records hold rejects and duplicates");
        }

        // The CLI reads Kinesis for the stream lane now, and says all is consistent.
        var environment = StreamTestKit.KinesisEnvironment();
        var (code, output) = await CliProcess.RunWithEnvironmentAsync(environment, kit.DataDir, TimeSpan.FromSeconds(120), "verify", "--lane", "stream",
            "--data-dir", kit.DataDir, "--user-id", kit.Settings.UserId);
        Assert.True(code == 0, output);
        Assert.DoesNotContain("not reconciled", output, StringComparison.Ordinal);
        foreach (var kind in StreamTestKit.Kinds)
            Assert.Matches($@"stream-tables\s+{kit.StreamOf(kind)}\s+{put[kind].ToString("N0", CultureInfo.InvariantCulture)} checked\s+ok", output);
    }

    [Fact]
    public async Task A_clean_row_committed_twice_a_removed_file_and_a_checkpoint_past_the_shard_are_named_by_shard_and_sequence_number()
    {
        await using var kit = await StreamTestKit.CreateKinesisAsync(shards: 2);
        foreach (var kind in StreamTestKit.Kinds)
        {
            await kit.AppendAsync(kind, TransformTestKit.FixtureLines("raw", kind));
            await kit.AppendAsync(kind, StreamTestKit.Synthetic(kind, 1, 80));
        }
        await kit.RunUntilCaughtUpAsync(kit.NewJob());

        // Pin: one row again in a file of its own, so its ind is there twice.
        using var dir = new TempDirectory("verify-kinesis-edit");
        long ind = await TableEdits.CommitLowestRowAgainAsync(kit.Table(RecordKind.Pin), dir.Path);

        // Geo: the reject table's biggest file removed, so its records' rejects are lost.
        var geoRejects = kit.Table(RecordKind.Geo, rejects: true);
        var geoSnapshot = (await geoRejects.LoadAsync())!;
        var removed = geoSnapshot.Files.OrderByDescending(f => f.NumRecords).First();
        await geoRejects.CommitAsync(new DeltaWrite(geoSnapshot.Schema, []) { Removes = [removed.Path] });

        // User: the clean table's checkpoint of one shard moved past its newest record.
        string user = kit.StreamOf(RecordKind.User);
        string key = (await kit.Kinesis!.DescribeStreamSummaryAsync(user)).CreationTimestamp.ToUnixTimeSeconds().ToString(CultureInfo.InvariantCulture);
        var userTable = kit.Table(RecordKind.User);
        var userSnapshot = (await userTable.LoadAsync())!;
        var (shard, at) = KinesisCheckpoint.Decode(userSnapshot.Txns, user, key).OrderBy(s => s.Key, StringComparer.Ordinal).First();
        string past = (System.Numerics.BigInteger.Parse(at.SequenceNumber, CultureInfo.InvariantCulture) + 1_000_000).ToString(CultureInfo.InvariantCulture);
        await userTable.CommitAsync(new DeltaWrite(userSnapshot.Schema, [])
        {
            Txns = [.. KinesisCheckpoint.Encode(user, key, shard, past, at.Generation + 1).Select(t => new DeltaTxn(t.AppId, t.Version))],
        });

        var p = await CheckAsync(kit, RecordKind.Pin);
        var twice = Assert.Single(p.Listed);
        Assert.Equal("duplicate", twice.Kind);
        Assert.Contains($"ind {ind} is 2 times", twice.Message, StringComparison.Ordinal);

        var g = await CheckAsync(kit, RecordKind.Geo);
        Assert.Equal(removed.NumRecords, g.Problems);
        Assert.All(g.Listed, x => Assert.Equal("gap", x.Kind));
        Assert.All(g.Listed, x => Assert.Matches($@"^{kit.StreamOf(RecordKind.Geo)}/shardId-\d+/\d+$", x.Where));

        var u = await CheckAsync(kit, RecordKind.User);
        var beyond = Assert.Single(u.Listed);
        Assert.Equal("extra", beyond.Kind);
        Assert.Equal($"{user}/{shard}", beyond.Where);
        Assert.Contains($"up to sequence number {past}, past its newest record ({at.SequenceNumber})", beyond.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task A_job_started_at_latest_marks_where_each_shard_began_and_verify_compares_from_there()
    {
        await using var kit = await StreamTestKit.CreateKinesisAsync(shards: 2);
        foreach (var kind in StreamTestKit.Kinds) await kit.AppendAsync(kind, StreamTestKit.Synthetic(kind, 1, 40)); // before the start: not for the tables
        var job = kit.NewJob(options: kit.Settings.Stream with { From = StreamStart.Latest });
        using (var stop = new CancellationTokenSource())
        {
            var run = job.RunAsync(stop.Token);
            await Task.Delay(TimeSpan.FromSeconds(2)); // LATEST iterators are taken when the reader starts
            Assert.False(run.IsCompleted);
            foreach (var kind in StreamTestKit.Kinds) await kit.AppendAsync(kind, StreamTestKit.Synthetic(kind, 1000, 30));
            var deadline = DateTime.UtcNow + TimeSpan.FromSeconds(60);
            while (!job.GetStats().Tables.All(t => t.Read >= 30) && DateTime.UtcNow < deadline && !run.IsCompleted) await Task.Delay(50);
            await Task.Delay(500); // the last micro-batch's commits
            await stop.CancelAsync();
            await run;
        }
        Assert.All(job.GetStats().Tables, t => Assert.Equal(30, t.Read));

        foreach (var kind in StreamTestKit.Kinds)
        {
            string stream = kit.StreamOf(kind);
            string key = (await kit.Kinesis!.DescribeStreamSummaryAsync(stream)).CreationTimestamp.ToUnixTimeSeconds().ToString(CultureInfo.InvariantCulture);
            var txns = (await kit.Table(kind).LoadAsync())!.Txns;
            var starts = KinesisCheckpoint.DecodeStarts(txns, stream, key);
            var checkpoints = KinesisCheckpoint.Decode(txns, stream, key);
            Assert.Equal(checkpoints.Keys.Order(StringComparer.Ordinal), starts.Keys.Order(StringComparer.Ordinal)); // one mark per shard read
            Assert.All(starts, s => Assert.True(KinesisCheckpoint.Compare(s.Value, checkpoints[s.Key].SequenceNumber) <= 0));

            var check = await CheckAsync(kit, kind);
            Assert.True(check.Problems == 0, string.Join("\n", check.Listed.Select(p => $"{p.Kind} {p.Where}: {p.Message}")));
            Assert.Equal(30, check.Checked); // the 40 before the start are not compared
            Assert.Equal(30, check.Figures["cleanRows"] + check.Figures["duplicates"] + check.Figures["rejectRows"]);
            Assert.Contains(check.Notes, n => n.Contains("at its end (--from latest)", StringComparison.Ordinal));
        }

        // A restart goes on from the checkpoints and writes no new mark; verify still agrees.
        var before = (await kit.Table(RecordKind.Pin).LoadAsync())!.Txns.Where(t => t.Key.StartsWith(KinesisCheckpoint.StartPrefix, StringComparison.Ordinal)).ToDictionary();
        foreach (var kind in StreamTestKit.Kinds) await kit.AppendAsync(kind, StreamTestKit.Synthetic(kind, 2000, 20));
        await kit.RunUntilCaughtUpAsync(kit.NewJob(options: kit.Settings.Stream with { From = StreamStart.Latest }));
        var after = (await kit.Table(RecordKind.Pin).LoadAsync())!.Txns.Where(t => t.Key.StartsWith(KinesisCheckpoint.StartPrefix, StringComparison.Ordinal)).ToDictionary();
        Assert.Equal(before.OrderBy(t => t.Key), after.OrderBy(t => t.Key));
        foreach (var kind in StreamTestKit.Kinds)
        {
            var check = await CheckAsync(kit, kind);
            Assert.Equal(0, check.Problems);
            Assert.Equal(50, check.Checked);
        }
    }

    [Fact]
    public async Task A_stream_kinesis_does_not_have_is_noted_and_not_compared()
    {
        await using var kit = await StreamTestKit.CreateKinesisAsync(shards: 1);
        foreach (var kind in StreamTestKit.Kinds) await kit.AppendAsync(kind, StreamTestKit.Synthetic(kind, 1, 10));
        await kit.RunUntilCaughtUpAsync(kit.NewJob());
        string pin = kit.StreamOf(RecordKind.Pin);
        await kit.Kinesis!.DeleteStreamAsync(pin);
        var deadline = DateTime.UtcNow + TimeSpan.FromSeconds(30);
        while ((await kit.Kinesis.ListStreamsAsync()).Contains(pin) && DateTime.UtcNow < deadline) await Task.Delay(100);

        var check = await CheckAsync(kit, RecordKind.Pin);
        Assert.Equal(0, check.Checked);
        Assert.Equal(0, check.Problems);
        Assert.Contains(check.Notes, n => n.Contains($"Kinesis has no stream '{pin}'", StringComparison.Ordinal));
    }
}
