using System.Globalization;
using System.Text.Json;
using Microsoft.Extensions.Logging;
using PinPipe.Lake;
using PinPipe.Lake.Delta;
using PinPipe.Log;
using PinPipe.Streaming;
using PinPipe.Tests.Support;
using PinPipe.Tests.Transform;
using PinPipe.Transform;
using PinPipe.Verify;

namespace PinPipe.Tests.Streaming;

public sealed class StreamJobTests
{
    public static TheoryData<RecordKind> Kinds => new() { RecordKind.Pin, RecordKind.Geo, RecordKind.User };

    [Fact]
    public async Task Fixture_records_land_in_the_Delta_tables_as_the_expected_clean_rows_and_counts_reconcile()
    {
        await using var kit = await StreamTestKit.CreateAsync();
        foreach (var kind in StreamTestKit.Kinds) await kit.AppendAsync(kind, TransformTestKit.FixtureLines("raw", kind));
        var job = kit.NewJob();
        await kit.RunUntilCaughtUpAsync(job);

        using var counts = JsonDocument.Parse(await File.ReadAllTextAsync(Path.Combine(TestData.Fixtures, "counts.json")));
        var stats = job.GetStats();
        foreach (var kind in StreamTestKit.Kinds)
        {
            var expected = TransformTestKit.FixtureLines("clean", kind).Select(l => JsonDocument.Parse(l).RootElement).ToList();
            string[] columns = CleaningRules.Schema(kind).Select(c => c.Name).ToArray();
            var expectedRows = expected.Select(e => columns.ToDictionary(c => c, c => TransformTestKit.Canonical(e.GetProperty(c)))).ToList();
            Assert.Equal(StreamTestKit.Lines(expectedRows), StreamTestKit.Lines(await kit.ReadDeltaAsync(kind)));
            Assert.Equal(StreamTestKit.Lines(expectedRows), StreamTestKit.Lines(await kit.ReadDuckDbAsync(kind)));

            var c = counts.RootElement.GetProperty(CleaningRules.TableName(kind));
            var rejects = await kit.ReadDeltaAsync(kind, rejects: true);
            Assert.Equal(c.GetProperty("rejects").GetInt64(), rejects.Count);
            var t = stats.Tables.Single(s => s.Table == StreamJob.TableName(kit.Settings.UserId, kind));
            Assert.Equal(kit.StreamOf(kind), t.Stream);
            Assert.Equal(c.GetProperty("read").GetInt64(), t.Read);
            Assert.Equal(c.GetProperty("clean").GetInt64(), t.Clean);
            Assert.Equal(c.GetProperty("duplicates").GetInt64(), t.Duplicates);
            Assert.Equal(c.GetProperty("rejects").GetInt64(), t.Rejects);
            Assert.Equal(t.Read, t.Clean + t.Duplicates + t.Rejects);
            Assert.Equal(0, t.Lag);

            // Every reject names its origin: the stream, partition and offset of the raw line it holds.
            var lines = TransformTestKit.FixtureLines("raw", kind);
            foreach (var r in rejects)
            {
                string[] origin = r["origin"]!.Split('/');
                Assert.Equal(kit.StreamOf(kind), origin[0]);
                Assert.Equal("0", origin[1]);
                Assert.Equal(lines[int.Parse(origin[2], CultureInfo.InvariantCulture)], r["raw"]);
                Assert.False(string.IsNullOrEmpty(r["reason"]));
            }
            await kit.AssertTablesMatchBatchCleaningAsync(kind);
        }
    }

    [Fact]
    public async Task A_value_that_is_not_UTF8_is_a_reject_invalid_utf8_with_its_origin_never_a_clean_row()
    {
        await using var kit = await StreamTestKit.CreateAsync();
        // Bytes that decode lossily to a valid pin record ({"index":7,"title":"\uFFFD"}) must not become one.
        byte[] notUtf8 = [.. "{\"index\":7,\"title\":\""u8, 0xFF, .. "\"}"u8];
        await kit.AppendAsync(RecordKind.Pin, ["{\"index\":1,\"title\":\"ok\"}"]);
        await kit.Log.AppendAsync(kit.StreamOf(RecordKind.Pin), [new LogRecord(null, notUtf8, 0), new LogRecord(null, "not json"u8.ToArray(), 0)]);
        var job = kit.NewJob();
        await kit.RunUntilCaughtUpAsync(job);

        Assert.Equal(["1"], (await kit.ReadDeltaAsync(RecordKind.Pin)).Select(r => r["ind"]));
        var rejects = await kit.ReadDeltaAsync(RecordKind.Pin, rejects: true);
        string stream = kit.StreamOf(RecordKind.Pin);
        Assert.Equal([($"{stream}/0/1", "invalid_utf8", RecordLine.Envelope(notUtf8)), ($"{stream}/0/2", "not_json", "not json")],
            rejects.Select(r => (r["origin"], r["reason"], r["raw"])).OrderBy(r => r.Item1, StringComparer.Ordinal));
        var t = job.GetStats().Tables.Single(s => s.Table == StreamJob.TableName(kit.Settings.UserId, RecordKind.Pin));
        Assert.Equal((3L, 1L, 2L), (t.Read, t.Clean, t.Rejects));
    }

    [Fact]
    public async Task Duplicates_across_micro_batches_keep_the_first_row_and_every_txn_is_in_the_commit_of_its_rows()
    {
        await using var kit = await StreamTestKit.CreateAsync(partitions: 2, new StreamOptions { Trigger = TimeSpan.FromMilliseconds(20), MaxBatchRecords = 9 });
        foreach (var kind in StreamTestKit.Kinds)
        {
            await kit.AppendAsync(kind, StreamTestKit.Synthetic(kind, 1, 40), partition: 0);
            await kit.AppendAsync(kind, StreamTestKit.Synthetic(kind, 21, 40), partition: 1); // 21..40 again, on the other partition
        }
        // Re-posts of the same ind with other content, in later micro-batches: the first seen stays.
        await kit.AppendAsync(RecordKind.User, StreamTestKit.Synthetic(RecordKind.User, 1, 10, seed: 77), partition: 0);
        await kit.RunUntilCaughtUpAsync();

        foreach (var kind in StreamTestKit.Kinds) await kit.AssertTablesMatchBatchCleaningAsync(kind);
        var users = (await kit.ReadDeltaAsync(RecordKind.User)).ToDictionary(r => r["ind"]!);
        var first = StreamTestKit.Synthetic(RecordKind.User, 1, 10).Select(l => JsonDocument.Parse(l).RootElement).ToList();
        foreach (var u in first)
            Assert.Equal($"{u.GetProperty("first_name").GetString()} {u.GetProperty("last_name").GetString()}".Trim(), users[u.GetProperty("ind").GetInt64().ToString(CultureInfo.InvariantCulture)]["user_name"]);

        // Many micro-batches, and each commit's txns name the partitions' next offsets.
        var log = await ReadCommitsAsync(kit, kit.Target.TablePrefix(RecordKind.Pin));
        Assert.True(log.Count >= 80 / 9, $"only {log.Count} commits");
        long[] last = [0, 0];
        foreach (var commit in log)
        {
            foreach (var (appId, version) in commit.Txns)
            {
                int p = int.Parse(appId[(appId.LastIndexOf(':') + 1)..], CultureInfo.InvariantCulture);
                Assert.Equal(await kit.AppIdAsync(RecordKind.Pin, p), appId);
                Assert.True(version > last[p], $"txn of partition {p} went from {last[p]} to {version}");
                last[p] = version;
            }
        }
        Assert.Equal([40L, 40L], last);
    }

    [Fact]
    public async Task A_micro_batch_past_its_close_still_takes_every_record_the_log_holds_at_once()
    {
        // A trigger of one tick: every micro-batch is past its close after its first reads of 2,000 records a partition.
        await using var kit = await StreamTestKit.CreateAsync(partitions: 2, new StreamOptions { Trigger = TimeSpan.FromTicks(1) });
        foreach (var kind in StreamTestKit.Kinds)
        {
            await kit.AppendAsync(kind, StreamTestKit.Synthetic(kind, 1, 5_000), 0);
            await kit.AppendAsync(kind, StreamTestKit.Synthetic(kind, 5_001, 5_000), 1);
        }
        var job = kit.NewJob();
        await kit.RunUntilCaughtUpAsync(job);

        // One micro-batch of all 10,000 (three reads), not one of the reads made before the close (8,000) and another of the rest.
        foreach (var table in job.GetStats().Tables)
            Assert.Equal((1L, 10_000L, 10_000L), (table.Batches, table.Read, table.LastBatchRecords));
        await kit.AssertTablesMatchBatchCleaningAsync(RecordKind.Pin);
    }

    [Fact]
    public async Task A_restart_resumes_from_the_txn_offsets_without_loss_or_duplicates()
    {
        await using var kit = await StreamTestKit.CreateAsync(partitions: 2, new StreamOptions { Trigger = TimeSpan.FromMilliseconds(20), MaxBatchRecords = 25 });
        foreach (var kind in StreamTestKit.Kinds)
        {
            await kit.AppendAsync(kind, StreamTestKit.Synthetic(kind, 1, 30), 0);
            await kit.AppendAsync(kind, [.. TransformTestKit.FixtureLines("raw", kind)], 1);
        }
        await kit.RunUntilCaughtUpAsync();
        long pinVersion = (await kit.Table(RecordKind.Pin).LoadAsync())!.Version;

        foreach (var kind in StreamTestKit.Kinds)
        {
            await kit.AppendAsync(kind, StreamTestKit.Synthetic(kind, 20, 30), 0); // 20..30 are duplicates of committed rows
            await kit.AppendAsync(kind, StreamTestKit.Synthetic(kind, 100, 5), 1);
        }
        var second = kit.NewJob();
        await kit.RunUntilCaughtUpAsync(second);

        foreach (var kind in StreamTestKit.Kinds) await kit.AssertTablesMatchBatchCleaningAsync(kind);
        var pin = second.GetStats().Tables[0];
        Assert.Equal(35, pin.Read); // only the new records were read
        Assert.Equal(11, pin.Duplicates); // 20..30 were in the table before the restart
        Assert.True((await kit.Table(RecordKind.Pin).LoadAsync())!.Version > pinVersion);
    }

    /// <summary>Each stream: the fixture's raw records, 20 synthetic rows, the fixture again (duplicates and rejects in several micro-batches).</summary>
    private static async Task AppendFixturesAroundSyntheticRowsAsync(StreamTestKit kit)
    {
        foreach (var kind in StreamTestKit.Kinds)
        {
            await kit.AppendAsync(kind, TransformTestKit.FixtureLines("raw", kind));
            await kit.AppendAsync(kind, StreamTestKit.Synthetic(kind, 1, 20));
            await kit.AppendAsync(kind, TransformTestKit.FixtureLines("raw", kind));
        }
    }

    [Fact]
    public async Task A_crash_between_the_clean_and_the_rejects_commit_neither_loses_nor_duplicates()
    {
        await using var kit = await StreamTestKit.CreateAsync(options: new StreamOptions { Trigger = TimeSpan.FromMilliseconds(20), MaxBatchRecords = 6 });
        await AppendFixturesAroundSyntheticRowsAsync(kit);
        // The third commit of each reject table fails after its clean commit went through: the process "dies" there.
        var crashing = new FailingCommitStore(kit.Store, key => key.Contains("_rejects/_delta_log/", StringComparison.Ordinal) && key.EndsWith(".json", StringComparison.Ordinal), failAfter: 2 * 3);
        using (var stop = new CancellationTokenSource(TimeSpan.FromSeconds(30)))
            await Assert.ThrowsAsync<IOException>(() => kit.NewJob(crashing).RunAsync(stop.Token));
        Assert.True(crashing.Failed);

        // The clean table is ahead of its reject table for at least one stream now.
        bool ahead = false;
        foreach (var kind in StreamTestKit.Kinds)
        {
            var clean = await kit.Table(kind).LoadAsync();
            var rejects = await kit.Table(kind, rejects: true).LoadAsync();
            string appId = await kit.AppIdAsync(kind, 0);
            long c = clean?.Txns.GetValueOrDefault(appId) ?? 0, r = rejects?.Txns.GetValueOrDefault(appId) ?? 0; // a table may not have committed before another one failed
            Assert.True(c >= r);
            ahead |= c > r;
        }
        Assert.True(ahead);

        await kit.RunUntilCaughtUpAsync();
        foreach (var kind in StreamTestKit.Kinds) await kit.AssertTablesMatchBatchCleaningAsync(kind);
    }

    [Fact]
    public async Task A_transient_store_failure_is_retried_one_warning_line_each_and_the_tables_end_as_if_it_never_happened()
    {
        await using var kit = await StreamTestKit.CreateAsync(options: new StreamOptions { Trigger = TimeSpan.FromMilliseconds(20), MaxBatchRecords = 6 });
        await AppendFixturesAroundSyntheticRowsAsync(kit);
        // Two reject commits, after the clean commits of their micro-batches went through, meet an endpoint answering 503.
        var flaky = new FailingCommitStore(kit.Store, key => key.Contains("_rejects/_delta_log/", StringComparison.Ordinal) && key.EndsWith(".json", StringComparison.Ordinal), failAfter: 2 * 3)
        {
            Failures = 2,
            Failure = key => new ObjectStoreException(ObjectStoreErrorCode.Unavailable, $"the object store cannot serve the request now (could not write object '{key}'): HTTP 503", "bucket 'b' at http://s3.test"),
        };
        using var logs = new CapturedLogs();
        using var factory = logs.Factory();
        await kit.RunUntilCaughtUpAsync(new StreamJob(kit.Settings.Stream, kit.Target, kit.Log, flaky, factory), TimeSpan.FromSeconds(60));

        Assert.True(flaky.Failed);
        foreach (var kind in StreamTestKit.Kinds) await kit.AssertTablesMatchBatchCleaningAsync(kind);
        logs.AssertRetries(2, "HTTP 503 (bucket 'b' at http://s3.test)");
    }

    [Fact]
    public async Task From_latest_starts_at_the_end_of_the_stream_at_first_start_and_resumes_from_the_txns_after()
    {
        await using var kit = await StreamTestKit.CreateAsync(options: new StreamOptions { Trigger = TimeSpan.FromMilliseconds(20), From = StreamStart.Latest });
        foreach (var kind in StreamTestKit.Kinds) await kit.AppendAsync(kind, StreamTestKit.Synthetic(kind, 1, 10));
        await kit.RunUntilCaughtUpAsync(); // records the start offsets only
        foreach (var kind in StreamTestKit.Kinds)
        {
            Assert.Empty(await kit.ReadDeltaAsync(kind));
            Assert.Equal(10, (await kit.Table(kind).LoadAsync())!.Txns[await kit.AppIdAsync(kind, 0)]);
        }

        foreach (var kind in StreamTestKit.Kinds) await kit.AppendAsync(kind, StreamTestKit.Synthetic(kind, 11, 5));
        await kit.RunUntilCaughtUpAsync();
        foreach (var kind in StreamTestKit.Kinds) await kit.AppendAsync(kind, StreamTestKit.Synthetic(kind, 16, 5));
        await kit.RunUntilCaughtUpAsync(); // a restart with latest goes on from the txns, not from the end

        foreach (var kind in StreamTestKit.Kinds)
        {
            var inds = (await kit.ReadDeltaAsync(kind)).Select(r => long.Parse(r["ind"]!, CultureInfo.InvariantCulture)).Order().ToList();
            Assert.Equal(Enumerable.Range(11, 10).Select(i => (long)i), inds);
        }

        // pinpipe verify compares the records from the start the job marked, and none of the 10 before it is a gap.
        using var work = new TempDirectory("verify-latest");
        foreach (var kind in StreamTestKit.Kinds)
        {
            Assert.Equal(10, (await kit.Table(kind).LoadAsync())!.Txns[StreamCheckpoint.StartAppId(kit.StreamOf(kind), 0, (await kit.Log.DescribeTopicAsync(kit.StreamOf(kind)))!.TopicId)]);
            var check = await new StreamTablesCheck(kit.Log, kit.Store, kit.Target, VerifyOptions.Default, work.Path).RunAsync(kind, CancellationToken.None);
            Assert.Equal(0, check.Problems);
            Assert.Equal(10, check.Figures["records"]);
            Assert.Equal(10, check.Figures["cleanRows"] + check.Figures["duplicates"] + check.Figures["rejectRows"]);
            Assert.Contains(check.Notes, n => n.Contains("at its end (--from latest), at offsets [10]: the records below were not compared", StringComparison.Ordinal));
        }
    }

    [Fact]
    public async Task Compaction_rewrites_the_small_files_into_one_with_the_same_rows_and_a_checkpointed_table_reads_the_same()
    {
        await using var kit = await StreamTestKit.CreateAsync(options: new StreamOptions { Trigger = TimeSpan.FromMilliseconds(10), MaxBatchRecords = 4, CompactEvery = 5 });
        foreach (var kind in StreamTestKit.Kinds)
            await kit.AppendAsync(kind, [.. StreamTestKit.Synthetic(kind, 1, 50), .. TransformTestKit.FixtureLines("raw", kind)]);
        var job = kit.NewJob();
        await kit.RunUntilCaughtUpAsync(job);

        foreach (var kind in StreamTestKit.Kinds) await kit.AssertTablesMatchBatchCleaningAsync(kind);
        var table = kit.Table(RecordKind.Pin);
        var snapshot = (await table.LoadAsync())!;
        Assert.True(snapshot.Files.Count < 5, $"{snapshot.Files.Count} live files");
        // Compaction runs beside the micro-batches, so how many happen depends on timing; each one is an OPTIMIZE commit.
        var commits = await ReadCommitsAsync(kit, table.Prefix);
        var optimize = commits.Where(c => c.Operation == "OPTIMIZE").ToList();
        Assert.NotEmpty(optimize);
        Assert.Equal(optimize.Count, job.GetStats().Tables[0].Compactions);
        Assert.All(optimize, c => Assert.True(c.Removes >= 2 && c.Adds == 1 && !c.DataChange && c.Txns.Count == 0));
        // The version before a compaction and the compaction itself hold the same rows.
        long v = optimize[0].Version;
        Assert.Equal(StreamTestKit.Lines(await kit.ReadDeltaAsync(RecordKind.Pin, version: v - 1)), StreamTestKit.Lines(await kit.ReadDeltaAsync(RecordKind.Pin, version: v)));

        // Checkpoints every 10 commits: a fresh reader starts from one and reads the same rows.
        Assert.True(snapshot.Version >= 10);
        Assert.True(await kit.Store.ExistsAsync($"{table.Prefix}/_delta_log/_last_checkpoint"));
        var fresh = new DeltaTable(kit.Store, table.Prefix);
        Assert.Equal(StreamTestKit.Lines(await kit.ReadDuckDbAsync(RecordKind.Pin)), StreamTestKit.Lines(await kit.ReadDeltaAsync(RecordKind.Pin, table: fresh)));
    }

    [Fact]
    public async Task Compaction_leaves_files_that_are_already_large_and_merges_only_the_small_ones()
    {
        var options = new StreamOptions { Trigger = TimeSpan.FromMilliseconds(10), MaxBatchRecords = 4, CompactEvery = 5 };
        await using var kit = await StreamTestKit.CreateAsync(options: options);
        await kit.AppendAsync(RecordKind.Pin, StreamTestKit.Synthetic(RecordKind.Pin, 1, 40));
        await kit.RunUntilCaughtUpAsync();
        var table = kit.Table(RecordKind.Pin);
        var big = (await table.LoadAsync())!.Files.MaxBy(f => f.Size)!;

        // From now on a file of the size of the largest compacted one is large: it must stay as it is.
        await kit.AppendAsync(RecordKind.Pin, StreamTestKit.Synthetic(RecordKind.Pin, 41, 40));
        long before = (await table.LoadAsync())!.Version;
        await kit.RunUntilCaughtUpAsync(kit.NewJob(options: options, smallFileBytes: big.Size));

        var snapshot = (await table.LoadAsync())!;
        Assert.Contains(snapshot.Files, f => f.Path == big.Path);
        var optimize = (await ReadCommitsAsync(kit, table.Prefix)).Where(c => c.Version > before && c.Operation == "OPTIMIZE").ToList();
        Assert.NotEmpty(optimize);
        Assert.All(optimize, c => Assert.True(c.Removes >= 2 && c.Adds == 1));
        // What is left small is below the compaction threshold (a compacted file may itself be large now, and stays).
        int small = snapshot.Files.Count(f => f.Size < big.Size);
        Assert.True(small < options.CompactEvery, $"{small} small live files of {snapshot.Files.Count}");
        await kit.AssertTablesMatchBatchCleaningAsync(RecordKind.Pin);
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public async Task Stream_CompactTargetBytes_bounds_what_a_compaction_reads_of_a_tier_of_larger_files(bool bounded)
    {
        // Eight files of four pins, not compacted.
        await using var kit = await StreamTestKit.CreateAsync(options: new StreamOptions { Trigger = TimeSpan.FromMilliseconds(10), MaxBatchRecords = 4, CompactEvery = 0 });
        await kit.AppendAsync(RecordKind.Pin, StreamTestKit.Synthetic(RecordKind.Pin, 1, 32));
        await kit.RunUntilCaughtUpAsync();
        var table = kit.Table(RecordKind.Pin);
        var tier = (await table.LoadAsync())!.Files;
        Assert.Equal(8, tier.Count);
        var tierPaths = tier.Select(f => f.Path).ToHashSet();
        long min = tier.Min(f => f.Size), max = tier.Max(f => f.Size);

        // Files of one pin are small next to them (the small-file size is the least of the eight), the eight are the tier
        // above; a target of twice the largest of them holds two of them and no third.
        long target = 2 * max + 1;
        Assert.True(3 * min > target, $"the test needs files of about one size: {string.Join(", ", tier.Select(f => f.Size))}");
        var options = new StreamOptions { Trigger = TimeSpan.FromMilliseconds(10), MaxBatchRecords = 1, CompactEvery = 2, CompactTargetBytes = bounded ? target : 128L << 20 };
        await kit.AppendAsync(RecordKind.Pin, StreamTestKit.Synthetic(RecordKind.Pin, 33, 4));
        long before = (await table.LoadAsync())!.Version;
        await kit.RunUntilCaughtUpAsync(kit.NewJob(options: options, smallFileBytes: min));

        var first = (await ReadCommitsAsync(kit, table.Prefix)).First(c => c.Version > before && c.Operation == "OPTIMIZE");
        var live = (await table.LoadAsync(first.Version))!.Files.Select(f => f.Path).ToHashSet();
        var wasLive = (await table.LoadAsync(first.Version - 1))!.Files.Select(f => f.Path).ToHashSet();
        Assert.Equal(8, wasLive.Count(tierPaths.Contains)); // the eight were live before the first compaction
        // Bounded: two of the eight into one; at 128 MiB: all eight.
        Assert.Equal(bounded ? 6 : 0, live.Count(tierPaths.Contains));
        await kit.AssertTablesMatchBatchCleaningAsync(RecordKind.Pin);
    }

    [Fact]
    public async Task A_table_whose_stream_holds_more_than_a_micro_batch_puts_its_compaction_off_until_it_has_twice_the_files_or_caught_up()
    {
        // 60 pins waiting, 4 a micro-batch: each micro-batch but the last leaves more waiting than it took (behind).
        var options = new StreamOptions { Trigger = TimeSpan.FromMilliseconds(10), MaxBatchRecords = 4, CompactEvery = 3 };
        await using var kit = await StreamTestKit.CreateAsync(options: options);
        await kit.AppendAsync(RecordKind.Pin, StreamTestKit.Synthetic(RecordKind.Pin, 1, 60));
        using var logs = new CapturedLogs();
        using var factory = logs.Factory();
        var job = new StreamJob(options, kit.Target, kit.Log, kit.Store, factory);
        await kit.RunUntilCaughtUpAsync(job);

        // After its third micro-batch (3 small files, 48 pins waiting) the table put its compaction off; after its sixth (6
        // small files, the bound, 36 still waiting) it no longer did, though still behind.
        var messages = logs.Entries.Select(e => e.Message).ToList();
        string all = string.Join('\n', messages);
        int putOff = messages.FindIndex(m => m.Contains("behind its stream; its compaction waits until it catches up (or has 6 small files).", StringComparison.Ordinal));
        int bound = messages.FindIndex(m => m.Contains("no compaction put off now (the bound is 6 small files).", StringComparison.Ordinal));
        Assert.True(putOff >= 0 && bound > putOff, "no compaction put off, or never released:\n" + all);
        Assert.Equal(3, messages.Take(putOff).Count(MicroBatch));
        Assert.Equal(6, messages.Take(bound).Count(MicroBatch));
        // The compaction it then started ran beside the micro-batches (its files those of its snapshot when it read it).
        Assert.Contains(messages.Skip(bound), m => m.Contains("compacted ", StringComparison.Ordinal) && m.Contains(" small files of ", StringComparison.Ordinal));
        Assert.True(job.GetStats().Tables[0].Compactions >= 1);

        // Caught up and stopped, the table has fewer small files than make a compaction due, and the batch cleaning's rows.
        var snapshot = (await kit.Table(RecordKind.Pin).LoadAsync())!;
        Assert.True(snapshot.Files.Count < options.CompactEvery, $"{snapshot.Files.Count} live files:\n" + all);
        await kit.AssertTablesMatchBatchCleaningAsync(RecordKind.Pin);

        static bool MicroBatch(string message) => message.Contains("micro-batch of 4 records", StringComparison.Ordinal);
    }

    [Fact]
    public async Task Over_a_store_without_local_paths_resume_and_compaction_download_the_files()
    {
        var options = new StreamOptions { Trigger = TimeSpan.FromMilliseconds(10), MaxBatchRecords = 5, CompactEvery = 3 };
        await using var kit = await StreamTestKit.CreateAsync(options: options);
        var remote = new FailingCommitStore(kit.Store, _ => false, 0, hideLocalPaths: true);
        foreach (var kind in StreamTestKit.Kinds) await kit.AppendAsync(kind, StreamTestKit.Synthetic(kind, 1, 30));
        var first = kit.NewJob(remote, options);
        await kit.RunUntilCaughtUpAsync(first);
        foreach (var kind in StreamTestKit.Kinds) await kit.AppendAsync(kind, [.. StreamTestKit.Synthetic(kind, 20, 30), .. TransformTestKit.FixtureLines("raw", kind)]);
        var second = kit.NewJob(remote, options);
        await kit.RunUntilCaughtUpAsync(second); // loads the keys of the table through downloads

        Assert.True(second.GetStats().Tables.All(t => t.Compactions > 0));
        foreach (var (kind, i) in StreamTestKit.Kinds.Select((k, i) => (k, i)))
        {
            // 20..30 count as duplicates after the restart: the keys came from the downloaded table.
            var expected = (await kit.ExpectedAsync(kind)).Counts;
            Assert.Equal(0, first.GetStats().Tables[i].Duplicates);
            Assert.True(second.GetStats().Tables[i].Duplicates >= 11);
            Assert.Equal(expected.Duplicates, second.GetStats().Tables[i].Duplicates);
            Assert.Equal(expected.Clean, first.GetStats().Tables[i].Clean + second.GetStats().Tables[i].Clean);
            await kit.AssertTablesMatchBatchCleaningAsync(kind);
        }
    }

    internal sealed record Commit(long Version, string? Operation, List<(string AppId, long Version)> Txns, int Adds, int Removes, bool DataChange);

    /// <summary>Every commit file of a table, parsed: operation, txns, adds and removes.</summary>
    internal static async Task<List<Commit>> ReadCommitsAsync(StreamTestKit kit, string prefix)
    {
        var commits = new List<Commit>();
        await foreach (var o in kit.Store.ListAsync(prefix + "/_delta_log/"))
        {
            string name = o.Key[(o.Key.LastIndexOf('/') + 1)..];
            if (name.Length != 25 || !name.EndsWith(".json", StringComparison.Ordinal)) continue;
            long version = long.Parse(name[..20], CultureInfo.InvariantCulture);
            string text = System.Text.Encoding.UTF8.GetString((await kit.Store.GetAsync(o.Key))!);
            string? operation = null;
            var txns = new List<(string, long)>();
            int adds = 0, removes = 0;
            bool dataChange = true;
            foreach (var line in text.Split('\n', StringSplitOptions.RemoveEmptyEntries))
            {
                using var doc = JsonDocument.Parse(line);
                var a = doc.RootElement;
                if (a.TryGetProperty("commitInfo", out var ci)) operation = ci.GetProperty("operation").GetString();
                if (a.TryGetProperty("txn", out var txn)) txns.Add((txn.GetProperty("appId").GetString()!, txn.GetProperty("version").GetInt64()));
                if (a.TryGetProperty("add", out var add)) { adds++; dataChange &= add.GetProperty("dataChange").GetBoolean(); }
                if (a.TryGetProperty("remove", out var rm)) { removes++; dataChange &= rm.GetProperty("dataChange").GetBoolean(); }
            }
            commits.Add(new Commit(version, operation, txns, adds, removes, dataChange));
        }
        Assert.Equal(Enumerable.Range(0, commits.Count).Select(i => (long)i), commits.Select(c => c.Version));
        return commits;
    }
}

/// <summary>
/// A store whose put-if-absent of matching keys fails (as a crash would) once <c>failAfter</c> of them succeeded;
/// with <c>hideLocalPaths</c> it gives no local paths, as S3 does, so readers must download.
/// </summary>
internal sealed class FailingCommitStore(IObjectStore inner, Func<string, bool> matches, int failAfter, bool hideLocalPaths = false) : IObjectStore
{
    private int _seen;

    public bool Failed { get; private set; }

    /// <summary>How many matching commits fail once <c>failAfter</c> went through (default: every later one).</summary>
    public int Failures { get; init; } = int.MaxValue;

    /// <summary>What a failed commit throws (default: an <see cref="IOException"/>, a simulated crash).</summary>
    public Func<string, Exception>? Failure { get; init; }

    public string Location => inner.Location;
    public ValueTask PutAsync(string key, ReadOnlyMemory<byte> content, CancellationToken cancellationToken = default) => inner.PutAsync(key, content, cancellationToken);
    public ValueTask PutFileAsync(string key, string localPath, CancellationToken cancellationToken = default) => inner.PutFileAsync(key, localPath, cancellationToken);

    public ValueTask<bool> PutIfAbsentAsync(string key, ReadOnlyMemory<byte> content, CancellationToken cancellationToken = default)
    {
        if (matches(key) && Interlocked.Increment(ref _seen) is int seen && seen > failAfter && seen - failAfter <= Failures)
        {
            Failed = true;
            throw Failure?.Invoke(key) ?? new IOException($"simulated crash before {key} was written");
        }
        return inner.PutIfAbsentAsync(key, content, cancellationToken);
    }

    public ValueTask<byte[]?> GetAsync(string key, CancellationToken cancellationToken = default) => inner.GetAsync(key, cancellationToken);
    public ValueTask<Stream?> OpenReadAsync(string key, CancellationToken cancellationToken = default) => inner.OpenReadAsync(key, cancellationToken);
    public ValueTask<bool> ExistsAsync(string key, CancellationToken cancellationToken = default) => inner.ExistsAsync(key, cancellationToken);
    public IAsyncEnumerable<ObjectInfo> ListAsync(string prefix, CancellationToken cancellationToken = default) => inner.ListAsync(prefix, cancellationToken);
    public ValueTask DeleteAsync(string key, CancellationToken cancellationToken = default) => inner.DeleteAsync(key, cancellationToken);
    public string? LocalPath(string key) => hideLocalPaths ? null : inner.LocalPath(key);
}
