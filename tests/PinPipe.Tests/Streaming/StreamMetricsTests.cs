using PinPipe.Streaming;
using PinPipe.Tests.Support;
using PinPipe.Tests.Transform;
using PinPipe.Transform;

namespace PinPipe.Tests.Streaming;

/// <summary>The stream job's metrics: rows by outcome, micro-batches, their durations and sizes, table versions, the lag per stream partition.</summary>
public sealed class StreamMetricsTests
{
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
            Assert.Equal(t.KeyFilesSkipped, running.Value("pinpipe_stream_key_files_total", $"table={t.Table}", "source=skipped"));
            Assert.Equal(t.KeyFilesCached, running.Value("pinpipe_stream_key_files_total", $"table={t.Table}", "source=cached"));
            Assert.Equal(t.KeyFilesRead, running.Value("pinpipe_stream_key_files_total", $"table={t.Table}", "source=read"));
            Assert.Equal(t.KeyCacheBytes, running.Value("pinpipe_stream_key_cache_bytes", $"table={t.Table}"));
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
        Assert.Empty(stopped.Find("pinpipe_stream_key_cache_bytes", $"table={StreamJob.TableName(user, RecordKind.Pin)}"));
        Assert.Equal(lines.Count, stopped.Find("pinpipe_stream_rows_total", $"table={StreamJob.TableName(user, RecordKind.Pin)}").Sum(s => s.Value));
    }
}
