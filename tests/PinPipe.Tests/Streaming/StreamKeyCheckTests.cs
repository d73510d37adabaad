using System.Globalization;
using PinPipe.Streaming;
using PinPipe.Transform;

namespace PinPipe.Tests.Streaming;

/// <summary>The stream job checks new keys against the clean table itself: no set of every key, no scan at start.</summary>
public sealed class StreamKeyCheckTests
{
    private static IEnumerable<string> Pins(int from, int count) =>
        Enumerable.Range(from, count).Select(i => string.Create(CultureInfo.InvariantCulture, $"{{\"index\":{i},\"title\":\"pin {i}\"}}"));

    /// <summary>Micro-batches of at most 10 records, 20 ms apart, no compaction: each file's ind range is known.</summary>
    private static StreamOptions TenPerBatch => new() { Trigger = TimeSpan.FromMilliseconds(20), MaxBatchRecords = 10, CompactEvery = 0 };

    [Fact]
    public async Task A_restart_reads_no_key_and_checks_new_rows_only_against_the_files_whose_ind_range_can_hold_them()
    {
        await using var kit = await StreamTestKit.CreateAsync(options: TenPerBatch);
        await kit.AppendAsync(RecordKind.Pin, Pins(1, 30)); // three micro-batches: files of ind 1..10, 11..20, 21..30
        var first = kit.NewJob();
        await kit.RunUntilCaughtUpAsync(first);
        var pin = first.GetStats().Tables[0];
        Assert.Equal((30L, 0L), (pin.Clean, pin.Duplicates));
        Assert.Equal((0L, 3L), (pin.KeyFilesRead, pin.KeyFilesSkipped)); // 11..20 skipped the file of 1..10; 21..30 skipped both
        Assert.Equal(0, pin.KeyCacheBytes); // rising keys: no check looked at a file, so no file's keys were kept

        // Spoil the files that cannot hold a new key: a start that read the table's keys fails on them.
        var snapshot = (await kit.Table(RecordKind.Pin).LoadAsync())!;
        Assert.Equal(3, snapshot.Files.Count);
        int spoiled = 0;
        foreach (var file in snapshot.Files)
        {
            Assert.True(file.TryGetRange("ind", out _, out long max));
            if (max > 20) continue;
            await File.WriteAllTextAsync(kit.Store.LocalPath(snapshot.KeyOf(file))!, "not parquet");
            spoiled++;
        }
        Assert.Equal(2, spoiled);

        await kit.AppendAsync(RecordKind.Pin, Pins(25, 10)); // 25..30 are already in the table, 31..34 are new
        var second = kit.NewJob();
        await kit.RunUntilCaughtUpAsync(second);

        pin = second.GetStats().Tables[0];
        Assert.Equal((10L, 4L, 6L), (pin.Read, pin.Clean, pin.Duplicates));
        Assert.Equal((1L, 2L), (pin.KeyFilesRead, pin.KeyFilesSkipped));
        var latest = (await kit.Table(RecordKind.Pin).LoadAsync())!;
        var added = latest.Files.Single(f => !snapshot.Files.Any(s => s.Path == f.Path));
        Assert.True(added.TryGetRange("ind", out long lo, out long hi));
        Assert.Equal((31L, 34L), (lo, hi));
    }

    [Fact]
    public async Task Duplicates_in_later_micro_batches_and_after_a_restart_are_found_through_the_table()
    {
        await using var kit = await StreamTestKit.CreateAsync(options: TenPerBatch);
        await kit.AppendAsync(RecordKind.Pin, Pins(1, 10));
        await kit.AppendAsync(RecordKind.Pin, Pins(5, 10)); // 5..10 again, in the second micro-batch
        var first = kit.NewJob();
        await kit.RunUntilCaughtUpAsync(first);
        Assert.Equal((14L, 6L), (first.GetStats().Tables[0].Clean, first.GetStats().Tables[0].Duplicates));

        await kit.AppendAsync(RecordKind.Pin, Pins(1, 20)); // 1..14 after the restart
        var second = kit.NewJob();
        await kit.RunUntilCaughtUpAsync(second);
        var pin = second.GetStats().Tables[0];
        Assert.Equal((6L, 14L), (pin.Clean, pin.Duplicates));
        Assert.True(pin.KeyFilesRead > 0);
        await kit.AssertTablesMatchBatchCleaningAsync(RecordKind.Pin);
    }

    [Fact]
    public async Task Keys_recurring_over_micro_batches_read_each_file_once_into_the_key_cache_and_the_rows_stay_exact()
    {
        // As the emulators post: the same posts again and again, so no file's ind range rules a key out.
        await using var kit = await StreamTestKit.CreateAsync(options: TenPerBatch);
        for (int i = 0; i < 4; i++) await kit.AppendAsync(RecordKind.Pin, Pins(1, 10));
        await kit.AppendAsync(RecordKind.Pin, Pins(5, 10)); // 5..10 again and 11..14 new
        var job = kit.NewJob();
        await kit.RunUntilCaughtUpAsync(job);
        var pin = job.GetStats().Tables[0];
        Assert.Equal((5L, 50L, 14L, 36L), (pin.Batches, pin.Read, pin.Clean, pin.Duplicates));
        // The file of 1..10 is read by the second micro-batch and cached; the third to fifth take it from the cache.
        Assert.Equal((1L, 3L), (pin.KeyFilesRead, pin.KeyFilesCached));
        Assert.Equal(14 * sizeof(long), pin.KeyCacheBytes); // the ten keys of that file, and the four of the last one (11..14), kept at its commit
        await kit.AssertTablesMatchBatchCleaningAsync(RecordKind.Pin);

        // Without a cache every micro-batch after the first reads the file again: the same rows.
        await using var without = await StreamTestKit.CreateAsync(options: TenPerBatch with { KeyCacheBytes = 0 });
        for (int i = 0; i < 4; i++) await without.AppendAsync(RecordKind.Pin, Pins(1, 10));
        await without.AppendAsync(RecordKind.Pin, Pins(5, 10));
        var plain = without.NewJob();
        await without.RunUntilCaughtUpAsync(plain);
        var p = plain.GetStats().Tables[0];
        Assert.Equal((14L, 36L, 4L, 0L, 0L), (p.Clean, p.Duplicates, p.KeyFilesRead, p.KeyFilesCached, p.KeyCacheBytes));
        await without.AssertTablesMatchBatchCleaningAsync(RecordKind.Pin);
    }

    [Fact]
    public async Task A_committed_files_keys_go_into_the_key_cache_from_its_rows_so_no_check_reads_it_back()
    {
        await using var kit = await StreamTestKit.CreateAsync(options: TenPerBatch);
        await kit.AppendAsync(RecordKind.Pin, Pins(1, 10));  // file A: 1..10 (the table was empty: no check)
        await kit.AppendAsync(RecordKind.Pin, Pins(5, 10));  // A read into the cache; 11..14 new: file B, its keys kept
        await kit.AppendAsync(RecordKind.Pin, Pins(11, 10)); // A skipped, B cached; 15..20 new: file C, its keys kept
        await kit.AppendAsync(RecordKind.Pin, Pins(1, 10));  // A cached; B and C skipped by their ranges
        await kit.AppendAsync(RecordKind.Pin, Pins(13, 10)); // B and C cached; 21..22 new: file D, its keys kept
        var job = kit.NewJob();
        await kit.RunUntilCaughtUpAsync(job);
        var pin = job.GetStats().Tables[0];
        Assert.Equal((5L, 50L, 22L, 28L), (pin.Batches, pin.Read, pin.Clean, pin.Duplicates));
        // Only A was ever read; B, C and D went into the cache at their commits.
        Assert.Equal((1L, 4L, 4L), (pin.KeyFilesRead, pin.KeyFilesCached, pin.KeyFilesSkipped));
        Assert.Equal(22 * sizeof(long), pin.KeyCacheBytes); // every key of the four files, once
        await kit.AssertTablesMatchBatchCleaningAsync(RecordKind.Pin);

        // The keys kept are the files' own: a new job over the same table reads them and finds the same duplicates.
        await kit.AppendAsync(RecordKind.Pin, Pins(20, 5)); // 20..22 held, 23..24 new
        var second = kit.NewJob();
        await kit.RunUntilCaughtUpAsync(second);
        var again = second.GetStats().Tables[0];
        Assert.Equal((2L, 3L), (again.Clean, again.Duplicates));
        await kit.AssertTablesMatchBatchCleaningAsync(RecordKind.Pin);

        // A cache too small for a file's keys keeps none of them and reads the files at each check, with the same rows.
        await using var small = await StreamTestKit.CreateAsync(options: TenPerBatch with { KeyCacheBytes = 3 * sizeof(long) });
        await small.AppendAsync(RecordKind.Pin, Pins(1, 10));
        await small.AppendAsync(RecordKind.Pin, Pins(5, 10));
        await small.AppendAsync(RecordKind.Pin, Pins(11, 10));
        var tight = small.NewJob();
        await small.RunUntilCaughtUpAsync(tight);
        var t = tight.GetStats().Tables[0];
        Assert.Equal((20L, 10L, 0L, 0L), (t.Clean, t.Duplicates, t.KeyFilesCached, t.KeyCacheBytes));
        Assert.Equal(2L, t.KeyFilesRead); // A by the second micro-batch, B by the third
        await small.AssertTablesMatchBatchCleaningAsync(RecordKind.Pin);
    }

    [Fact]
    public async Task A_compacted_file_gets_the_keys_of_the_files_it_replaced_so_no_check_reads_it()
    {
        await using var kit = await StreamTestKit.CreateAsync(options: TenPerBatch with { CompactEvery = 2 });
        var job = kit.NewJob();
        using var stop = new CancellationTokenSource();
        var run = job.RunAsync(stop.Token);
        await kit.AppendAsync(RecordKind.Pin, Pins(1, 10)); // file A: 1..10
        await CaughtUpAsync();
        await kit.AppendAsync(RecordKind.Pin, Pins(5, 10)); // A read into the cache; 11..14 new: file B, its keys kept
        await CaughtUpAsync();
        // Two small files: a compaction rewrites A and B into one beside the micro-batches.
        var deadline = DateTime.UtcNow + TimeSpan.FromSeconds(30);
        while (job.GetStats().Tables[0].Compactions == 0)
        {
            if (run.IsCompleted) await run;
            Assert.True(DateTime.UtcNow < deadline, "no compaction within 30 s");
            await Task.Delay(20);
        }
        var compacted = (await kit.Table(RecordKind.Pin).LoadAsync())!;
        Assert.Single(compacted.Files);
        await kit.AppendAsync(RecordKind.Pin, Pins(3, 10)); // 3..12: every key in the compacted file
        await CaughtUpAsync();
        await stop.CancelAsync();
        await run;

        var pin = job.GetStats().Tables[0];
        Assert.Equal((3L, 30L, 14L, 16L), (pin.Batches, pin.Read, pin.Clean, pin.Duplicates));
        // Only A was ever read: B's keys came from its rows, the compacted file's from A's and B's.
        Assert.Equal((1L, 1L), (pin.KeyFilesRead, pin.KeyFilesCached)); // the third check found the compacted file in the cache
        Assert.Equal(14 * sizeof(long), pin.KeyCacheBytes); // A and B left at the last check: the compacted file's 14 keys alone
        await kit.AssertTablesMatchBatchCleaningAsync(RecordKind.Pin);

        async Task CaughtUpAsync()
        {
            var until = DateTime.UtcNow + TimeSpan.FromSeconds(30);
            while (!await kit.CaughtUpAsync())
            {
                if (run.IsCompleted) await run; // surfaces the failure
                Assert.True(DateTime.UtcNow < until, "the stream job did not catch up in time");
                await Task.Delay(20);
            }
        }
    }

    [Fact]
    public async Task The_tables_DuckDB_is_reopened_every_ReopenDuckDbEvery_micro_batches_and_the_rows_stay_exact()
    {
        await using var kit = await StreamTestKit.CreateAsync(options: TenPerBatch with { ReopenDuckDbEvery = 2 });
        await kit.AppendAsync(RecordKind.Pin, Pins(1, 30));
        await kit.AppendAsync(RecordKind.Pin, Pins(21, 20)); // 21..30 again, then 31..40
        var job = kit.NewJob();
        await kit.RunUntilCaughtUpAsync(job);
        var pin = job.GetStats().Tables[0];
        Assert.Equal((5L, 50L, 40L, 10L), (pin.Batches, pin.Read, pin.Clean, pin.Duplicates));
        // Opened at start; due after micro-batch 2, the next one opens beside micro-batch 3 and replaces the first after it;
        // due again after micro-batch 5 (2 since the replacement), the one opening then is not needed before the job stops.
        Assert.Equal(2L, pin.DuckDbOpens);
        await kit.AssertTablesMatchBatchCleaningAsync(RecordKind.Pin);
    }

    [Fact]
    public async Task A_due_DuckDB_reopen_waits_while_the_jobs_maintenance_slot_is_taken()
    {
        await using var kit = await StreamTestKit.CreateAsync(options: TenPerBatch with { ReopenDuckDbEvery = 2 });
        await kit.AppendAsync(RecordKind.Pin, Pins(1, 50));
        var job = kit.NewJob();
        // Another table's compaction or reopen holds the slot for the whole run: due after micro-batch 2, the reopen never starts.
        Assert.True(job.Maintenance.TryTake());
        while (job.Maintenance.TryTake()) { } // every slot, on a machine with more cores
        await kit.RunUntilCaughtUpAsync(job);
        var pin = job.GetStats().Tables[0];
        Assert.Equal((5L, 50L), (pin.Batches, pin.Clean));
        Assert.Equal(1L, pin.DuckDbOpens);
        Assert.True(job.Maintenance.Taken);
        await kit.AssertTablesMatchBatchCleaningAsync(RecordKind.Pin);
    }
}
