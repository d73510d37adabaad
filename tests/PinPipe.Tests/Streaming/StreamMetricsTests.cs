using PinPipe.Streaming;
using PinPipe.Tests.Support;
using PinPipe.Tests.Transform;
using PinPipe.Transform;

namespace PinPipe.Tests.Streaming;

/// <summary>The stream job's metrics: rows by outcome, micro-batches, their durations and sizes, table versions, the lag per stream partition.</summary>
public sealed class StreamMetricsTests
{
    private static readonly string[] ProcessingSteps = ["clean", "write", "commit"];

    [Fact]
    public async Task A_running_job_reports_what_it_committed_and_no_lag_once_caught_up_and_its_lag_series_go_when_it_stops()
    {
        string user = $"sm{Guid.NewGuid():N}"[..10];
        await using var kit = await StreamTestKit.CreateAsync(partitions: 2, userId: user);
        var lines = TransformTestKit.FixtureLines("raw", RecordKind.Pin).ToList();
        await kit.AppendAsync(RecordKind.Pin, lines.Take(5), partition: 0);
        await kit.AppendAsync(RecordKind.Pin, lines.Skip(5), partition: 1);
        foreach (var kind in new[] { RecordKind.Geo, RecordKind.User }) await kit.AppendAsync(kind, TransformTestKit.FixtureLines("raw", kind));
        var job = kit.NewJob();
        using var stop = new CancellationTokenSource();
        var run = job.RunAsync(stop.Token);
        var deadline = DateTime.UtcNow + TimeSpan.FromSeconds(30);
        while (!await kit.CaughtUpAsync())
        {
            if (run.IsCompleted) await run;
            Assert.True(DateTime.UtcNow < deadline, "the stream job did not catch up in time");
            await Task.Delay(20);
        }
        string stream = kit.StreamOf(RecordKind.Pin);
        // The lag is looked at after each micro-batch and while idle: it reaches 0 for both partitions.
        List<PrometheusSample> running;
        do
        {
            running = await PrometheusText.ScrapeProcessAsync();
            Assert.True(DateTime.UtcNow < deadline, "no lag of 0 reported");
            await Task.Delay(20);
        }
        while (running.Find("pinpipe_stream_lag", $"stream={stream}").Count(s => s.Value == 0) != 2);

        foreach (var t in job.GetStats().Tables)
        {
            Assert.True(t.Batches > 0);
            Assert.Equal(t.Batches, running.Value("pinpipe_stream_batches_total", $"table={t.Table}"));
            Assert.Equal(t.Clean, running.Value("pinpipe_stream_rows_total", $"table={t.Table}", "outcome=clean"));
            Assert.Equal(t.Duplicates, running.Value("pinpipe_stream_rows_total", $"table={t.Table}", "outcome=duplicate"));
            Assert.Equal(t.Rejects, running.Value("pinpipe_stream_rows_total", $"table={t.Table}", "outcome=reject"));
            Assert.Equal(t.Compactions, running.Value("pinpipe_stream_compactions_total", $"table={t.Table}"));
            Assert.Equal(t.Version, running.Value("pinpipe_stream_table_version", $"table={t.Table}"));
            Assert.Equal(t.Batches, running.Value("pinpipe_stream_batch_duration_seconds_count", $"table={t.Table}"));
            Assert.Equal(t.Batches, running.Value("pinpipe_stream_batch_records_count", $"table={t.Table}"));
            Assert.Equal(t.Read, running.Value("pinpipe_stream_batch_records_sum", $"table={t.Table}"));
            // Each committed micro-batch's steps, which add up to at most its duration.
            double steps = 0;
            foreach (string step in new[] { "collect", "clean", "write", "commit" })
            {
                Assert.Equal(t.Batches, running.Value("pinpipe_stream_batch_step_seconds_count", $"table={t.Table}", $"step={step}"));
                steps += running.Value("pinpipe_stream_batch_step_seconds_sum", $"table={t.Table}", $"step={step}");
            }
            Assert.InRange(steps, 1e-6, running.Value("pinpipe_stream_batch_duration_seconds_sum", $"table={t.Table}") + 1e-6);
        }
        Assert.Equal(lines.Count, running.Find("pinpipe_stream_rows_total", $"table={StreamJob.TableName(user, RecordKind.Pin)}").Sum(s => s.Value));

        await stop.CancelAsync();
        await run;
        var stopped = await PrometheusText.ScrapeProcessAsync();
        Assert.Empty(stopped.Find("pinpipe_stream_lag", $"stream={stream}"));
        Assert.Empty(stopped.Find("pinpipe_stream_table_version", $"table={StreamJob.TableName(user, RecordKind.Pin)}"));
        Assert.Equal(lines.Count, stopped.Find("pinpipe_stream_rows_total", $"table={StreamJob.TableName(user, RecordKind.Pin)}").Sum(s => s.Value));
    }
    /// <summary>
    /// The trigger is Spark's processing-time trigger: under continuous appends a micro-batch takes longer to clean and
    /// commit than a 20 ms trigger, so the next one closes as soon as its records are read, not a trigger after the first.
    /// The collect step of the micro-batches is then far below the trigger on average.
    /// </summary>
    [Fact]
    public async Task Under_continuous_appends_a_micro_batch_that_overran_its_trigger_is_followed_at_once()
    {
        string user = $"st{Guid.NewGuid():N}"[..10];
        await using var kit = await StreamTestKit.CreateAsync(partitions: 1, userId: user,
            options: new StreamOptions { Trigger = TimeSpan.FromMilliseconds(20), CompactEvery = 0 });
        using var stopAppending = new CancellationTokenSource();
        var producer = kit.ProduceAsync(seed: 3, partitions: 1, stopAppending.Token);
        var job = kit.NewJob();
        using var stop = new CancellationTokenSource();
        var run = job.RunAsync(stop.Token);
        string table = StreamJob.TableName(user, RecordKind.Pin);
        var deadline = DateTime.UtcNow + TimeSpan.FromSeconds(60);
        while (job.GetStats().Tables.First(t => t.Table == table).Batches < 12)
        {
            if (run.IsCompleted) await run;
            Assert.True(DateTime.UtcNow < deadline, "too few micro-batches in 60 s");
            await Task.Delay(50);
        }
        await stopAppending.CancelAsync();
        await producer;
        await stop.CancelAsync();
        await run;

        var scraped = await PrometheusText.ScrapeProcessAsync();
        double batches = scraped.Value("pinpipe_stream_batch_step_seconds_count", $"table={table}", "step=collect");
        double collect = scraped.Value("pinpipe_stream_batch_step_seconds_sum", $"table={table}", "step=collect");
        double cleanAndCommit = ProcessingSteps.Sum(step => scraped.Value("pinpipe_stream_batch_step_seconds_sum", $"table={table}", $"step={step}"));
        Assert.True(cleanAndCommit / batches > 0.02, $"cleaning and committing took {1000 * cleanAndCommit / batches:N0} ms a micro-batch, less than the trigger: nothing overran");
        // With a trigger counted from each micro-batch's first record, every collect would last the whole 20 ms.
        Assert.True(collect / batches < 0.01, $"the micro-batches waited {1000 * collect / batches:N0} ms on average for their trigger ({batches} micro-batches; cleaning and committing took {1000 * cleanAndCommit / batches:N0} ms each)");
    }
}
