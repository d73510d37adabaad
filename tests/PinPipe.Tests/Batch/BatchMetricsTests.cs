using Microsoft.Extensions.Logging.Abstractions;
using PinPipe.Batch;
using PinPipe.Hosting;
using PinPipe.Lake.Directory;
using PinPipe.Tests.Observability;
using PinPipe.Tests.Support;

namespace PinPipe.Tests.Batch;

/// <summary>A batch run's metrics: runs by outcome, durations, the last run's records per table, quality counts and rejects per rule.</summary>
[Collection(SharedMetrics.Name)]
public sealed class BatchMetricsTests : IDisposable
{
    private const string User = "bm1";
    private readonly TempDirectory _dir = new("batch-metrics");
    private readonly PinPipeSettings _settings;

    public BatchMetricsTests() => _settings = new PinPipeSettings { UserId = User, DataDir = _dir.Path }.Resolve();

    public void Dispose() => _dir.Dispose();

    private BatchJob NewJob() => new(_settings.Batch, _settings.Names, _settings.ObjectStore, _settings.Sink.TopicsDir, NullLoggerFactory.Instance);

    [Fact]
    public async Task Runs_are_counted_by_outcome_and_the_last_successful_run_gives_its_records_quality_and_rejects_per_table()
    {
        var before = await PrometheusText.ScrapeProcessAsync();
        long startedAt = DateTimeOffset.UtcNow.ToUnixTimeSeconds(); // before the failed run, the earliest of the three
        // No raw objects at all: the run fails.
        await Assert.ThrowsAsync<BatchException>(() => NewJob().RunAsync("empty"));
        await BatchJobTests.PutFixturesAsync(new DirectoryObjectStore(_settings.ObjectStore.Root, _settings.ObjectStore.Bucket!), User);

        var first = await NewJob().RunAsync("first");
        var afterFirst = await PrometheusText.ScrapeProcessAsync();
        var second = await NewJob().RunAsync("second");
        var afterSecond = await PrometheusText.ScrapeProcessAsync();

        Assert.True(second.NothingNew);
        foreach (var (outcome, runs) in new[] { ("failed", 1), ("success", 1), ("nothing_new", 1) })
        {
            Assert.Equal(before.ValueOrZero("pinpipe_batch_runs_total", $"outcome={outcome}") + runs, afterSecond.Value("pinpipe_batch_runs_total", $"outcome={outcome}"));
            Assert.Equal(before.ValueOrZero("pinpipe_batch_run_duration_seconds_count", $"outcome={outcome}") + runs, afterSecond.Value("pinpipe_batch_run_duration_seconds_count", $"outcome={outcome}"));
            // Each outcome's last run came after this test began (the failed one before the first successful run started:
            // compared with that, it failed whenever a second began between the two).
            Assert.True(afterSecond.Value("pinpipe_batch_last_run_timestamp_seconds", $"outcome={outcome}") >= startedAt, outcome);
        }
        // A difference of two sums of doubles: within a microsecond (rounding both to 6 places can split 0.2240615 from 0.22406149999…).
        Assert.Equal(first.Duration.TotalSeconds, afterFirst.Value("pinpipe_batch_run_duration_seconds_sum", "outcome=success") - before.ValueOrZero("pinpipe_batch_run_duration_seconds_sum", "outcome=success"), tolerance: 1e-6);
        foreach (var t in first.Tables)
        {
            Assert.Equal(t.Clean.Read, afterFirst.Value("pinpipe_batch_last_run_records", $"table={t.Table}", "outcome=read"));
            Assert.Equal(t.Clean.Clean, afterFirst.Value("pinpipe_batch_last_run_records", $"table={t.Table}", "outcome=clean"));
            Assert.Equal(t.Clean.Duplicates, afterFirst.Value("pinpipe_batch_last_run_records", $"table={t.Table}", "outcome=duplicates"));
            Assert.Equal(t.Clean.Rejects, afterFirst.Value("pinpipe_batch_last_run_records", $"table={t.Table}", "outcome=rejects"));
            Assert.Equal(t.Rows, afterFirst.Value("pinpipe_batch_table_rows", $"table={t.Table}"));
            Assert.NotEmpty(t.Clean.Quality);
            foreach (var q in t.Clean.Quality)
                Assert.Equal(q.Count, afterFirst.Value("pinpipe_batch_last_run_quality", $"table={t.Table}", $"column={q.Column}", $"rule={q.Rule}"));
            foreach (var r in t.Clean.RejectReasons)
                Assert.Equal(r.Count, afterFirst.Value("pinpipe_batch_last_run_rejects", $"table={t.Table}", $"reason={r.Kind}"));
            // The run with nothing new read nothing; the tables keep their rows.
            Assert.Equal(0, afterSecond.Value("pinpipe_batch_last_run_records", $"table={t.Table}", "outcome=read"));
            Assert.Equal(t.Rows, afterSecond.Value("pinpipe_batch_table_rows", $"table={t.Table}"));
        }
        Assert.Contains(first.Tables, t => t.Clean.Read > 0 && t.Clean.Quality.Any(q => q.Count > 0));
    }
}
