using System.Diagnostics;
using PinPipe.Streaming;
using PinPipe.Tests.Support;
using PinPipe.Tests.Transform;
using PinPipe.Transform;
using Xunit.Abstractions;

namespace PinPipe.Tests.Streaming;

public sealed class StreamCrashTests(ITestOutputHelper output)
{
    /// <summary>
    /// <c>pinpipe stream</c> as a real process, SIGKILLed at random moments (while starting, reading, cleaning,
    /// uploading, committing or compacting) while records keep arriving on two partitions of each stream. After the
    /// last cycle an in-process job drains the rest; every table must then hold exactly what one batch cleaning of
    /// every record gives, each commit version once, and txns that only grow.
    /// </summary>
    [Fact]
    public async Task Sigkill_at_random_moments_under_continuous_appends_keeps_every_row_exactly_once()
    {
        await using var kit = await StreamTestKit.CreateAsync(partitions: 2);
        var random = new Random(4242);
        using var stopAppending = new CancellationTokenSource();
        var producer = kit.ProduceAsync(seed: 17, partitions: 2, stopAppending.Token);

        var clock = Stopwatch.StartNew();
        int cycles = 0, withBatches = 0;
        string lastOutput = "";
        var startups = new List<double>();
        // At least 8 cycles however slow the machine (CI's, with the rest of the suite beside it, took over 2.5 s to
        // start a process), for at most 30 s beyond that.
        while ((cycles < 8 || clock.Elapsed < TimeSpan.FromSeconds(30)) && cycles < 25 && clock.Elapsed < TimeSpan.FromSeconds(150))
        {
            await using var process = CliProcess.Start(kit.DataDir, "stream", "--data-dir", kit.DataDir,
                "--trigger", "100ms", "--max-batch-records", "60", "--compact-every", "4", "--verbose",
                "--session-timeout", "1s"); // the killed run's leases run out about when the next run has started
            if (cycles % 4 == 3)
            {
                // Every fourth run is killed blind, most often while it starts: opening the log, joining the group,
                // recovering the tables.
                await Task.Delay(random.Next(50, 1500));
            }
            else
            {
                // The others once the job says it runs, at a random moment of its work: reading, cleaning, uploading,
                // committing or compacting.
                var started = Stopwatch.StartNew();
                Assert.True(await process.WaitForOutputAsync("Ctrl-C to stop", TimeSpan.FromSeconds(60)),
                    $"pinpipe stream did not start within 60 s:\n{process.Output}");
                startups.Add(started.Elapsed.TotalMilliseconds);
                // Every other run first commits a micro-batch, however slow the machine: the kills then also land in
                // the work after it, not only before the first micro-batch.
                if (cycles % 2 == 0)
                    Assert.True(await process.WaitForOutputAsync("micro-batch of", TimeSpan.FromSeconds(60)),
                        $"pinpipe stream committed no micro-batch within 60 s:\n{process.Output}");
                await Task.Delay(random.Next(300, 2500));
            }
            Assert.False(process.HasExited, $"pinpipe stream exited on its own:\n{process.Output}");
            process.Kill();
            cycles++;
            if (process.Output.Contains("micro-batch of", StringComparison.Ordinal)) withBatches++;
            lastOutput = process.Output;
        }
        await stopAppending.CancelAsync();
        long appended = await producer;
        Assert.True(cycles >= 8, $"only {cycles} cycles");
        Assert.True(withBatches >= 3, $"only {withBatches} of {cycles} runs committed micro-batches; the last run's output:\n{lastOutput}");
        Assert.True((await kit.Table(RecordKind.Pin).LoadAsync())?.Version > 5, "the killed processes committed little");

        // Drain what is left in-process, then check everything.
        await kit.RunUntilCaughtUpAsync(kit.NewJob(options: kit.Settings.Stream with { MaxBatchRecords = 5_000, CompactEvery = 4 }), TimeSpan.FromSeconds(120));
        foreach (var kind in StreamTestKit.Kinds) await kit.AssertTablesMatchBatchCleaningAsync(kind);
        await kit.AssertTxnsOnlyGrowAsync();
        // The killed runs' micro-batch files were wiped by the next start; the last run removed its own.
        string work = Path.Combine(kit.DataDir, "stream-work");
        Assert.True(!Directory.Exists(work) || !Directory.EnumerateFiles(work, "*", SearchOption.AllDirectories).Any());
        var pin = (await kit.Table(RecordKind.Pin).LoadAsync())!;
        output.WriteLine($"{cycles} cycles ({withBatches} with micro-batches; started in a median {startups.Order().ElementAt(startups.Count / 2):N0} ms), {appended} records appended; pin table at version {pin.Version} with {pin.Files.Count} live files.");
        Assert.True(appended > 0);
    }
}
