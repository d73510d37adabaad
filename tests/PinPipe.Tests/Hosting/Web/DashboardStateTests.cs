using System.Text;
using System.Text.Json;
using Microsoft.Extensions.Logging.Abstractions;
using PinPipe.Hosting;
using PinPipe.Hosting.Web;
using PinPipe.Lake;
using PinPipe.Lake.Delta;
using PinPipe.Scheduling;
using PinPipe.Streaming;
using PinPipe.Tests.Streaming;
using PinPipe.Tests.Support;
using PinPipe.Transform;

namespace PinPipe.Tests.Hosting.Web;

/// <summary>
/// The dashboard's snapshot against the real parts: records posted through the API, the real sink, the real stream job
/// and the real batch lane; the snapshot's counts, lags, rates, bucket objects, Delta versions and rows, runs, quality
/// counts and insights are checked against what those parts wrote, read independently.
/// </summary>
public sealed class DashboardStateTests
{
    private const int PerKind = 40;
    private static readonly RecordKind[] Kinds = [RecordKind.Pin, RecordKind.Geo, RecordKind.User];
    private static readonly DateTimeOffset T0 = new(2026, 12, 1, 9, 0, 0, TimeSpan.Zero);

    /// <summary>A clock the test moves: the snapshots' age and the rates' time.</summary>
    private sealed class ManualClock(DateTimeOffset now) : TimeProvider
    {
        public DateTimeOffset Now { get; set; } = now;
        public override DateTimeOffset GetUtcNow() => Now;
    }

    private static async Task PostRealRowsAsync(DashboardHarness dash)
    {
        using var client = dash.NewClient();
        var names = dash.Settings.Names;
        foreach (var (kind, i) in Kinds.Select((k, i) => (k, i)))
        {
            var lines = StreamTestKit.Synthetic(kind, 1, PerKind).ToList();
            using var produce = new HttpRequestMessage(HttpMethod.Post, $"topics/{names.Topics[i]}")
            {
                Content = new StringContent($$"""{"records":[{{string.Join(",", lines.Select(l => $$"""{"value":{{l}}}"""))}}]}""", Encoding.UTF8),
            };
            produce.Content.Headers.ContentType = new("application/vnd.kafka.json.v2+json");
            produce.Headers.Add("x-api-key", dash.Key);
            using (var response = await client.SendAsync(produce)) Assert.Equal(System.Net.HttpStatusCode.OK, response.StatusCode);

            using var put = new HttpRequestMessage(HttpMethod.Put, $"streams/{names.Streams[i]}/records")
            {
                Content = new StringContent($$"""{"records":[{{string.Join(",", lines.Select((l, j) => $$"""{"data":{{l}},"partition-key":"k{{j}}"}"""))}}]}""", Encoding.UTF8, "application/json"),
            };
            put.Headers.Add("x-api-key", dash.Key);
            using (var response = await client.SendAsync(put)) Assert.Equal(System.Net.HttpStatusCode.OK, response.StatusCode);
        }
    }

    /// <summary>Runs the stream job until it has committed every record of the streams (as <c>pinpipe up</c> waits for it).</summary>
    private static async Task RunStreamJobAsync(PinPipeSettings settings, PipelineHost host)
    {
        var job = PipelineJobs.Stream(settings, host.Log, host.Store, NullLoggerFactory.Instance);
        using var stop = new CancellationTokenSource();
        var run = job.RunAsync(stop.Token);
        var deadline = DateTime.UtcNow + TimeSpan.FromSeconds(60);
        while (!(job.GetStats() is { Lag: 0 } stats && stats.Tables.All(t => t.Version >= 0) && stats.Read == 3 * PerKind))
        {
            if (run.IsCompleted) await run;
            Assert.True(DateTime.UtcNow < deadline, "the stream job did not catch up in time");
            await Task.Delay(50);
        }
        await stop.CancelAsync();
        try { await run; }
        catch (OperationCanceledException) { }
    }

    [Fact]
    public async Task A_snapshot_shows_what_the_log_the_sink_the_bucket_the_Delta_tables_and_the_runs_hold()
    {
        await using var dash = await DashboardHarness.StartAsync(parts: HostParts.Api | HostParts.Sink,
            configure: s => s with { Stream = s.Stream with { Trigger = TimeSpan.FromMilliseconds(50) } });
        var settings = dash.Settings;
        var clock = new ManualClock(T0);
        using var state = new DashboardState(settings, dash.Host.Log, dash.Host.Store, clock);

        var empty = await state.GetAsync();
        Assert.Equal(0, empty.Batch.Api.Records);
        Assert.Null(empty.Batch.Api.PerSecond); // one sample: no rate yet
        Assert.Equal(0, empty.RateSeconds);
        Assert.All(empty.Batch.Tables.Concat(empty.Stream.Tables), t => Assert.Equal(-1, t.Version));
        Assert.Empty(empty.Batch.Runs);
        Assert.Null(empty.Batch.LatestRun);

        await PostRealRowsAsync(dash);
        clock.Now = T0.AddSeconds(1);
        var posted = await state.GetAsync();
        Assert.Equal(3 * PerKind, posted.Batch.Api.Records);
        Assert.Equal(3 * PerKind, posted.Batch.Sink.Lag + posted.Batch.Sink.Committed);
        Assert.Equal(3 * PerKind, posted.Stream.Api.Records);
        Assert.Equal(3 * PerKind, posted.Stream.Lag); // no stream job has run
        Assert.Equal(0, posted.Stream.Job.Records);

        Assert.True(await dash.Host.DrainSinkAsync(TimeSpan.FromSeconds(60)));
        await RunStreamJobAsync(settings, dash.Host);
        string runId = "manual__dashboard-test";
        using (var history = RunHistory.Open(settings.Schedule.HistoryPath))
        {
            long id = history.Start(new ScheduledRun(runId, T0, 1), T0);
            await PipelineJobs.Batch(settings, NullLoggerFactory.Instance).RunAsync(runId);
            history.Finish(id, RunOutcome.Succeeded, T0.AddSeconds(7), null);
        }

        clock.Now = T0.AddSeconds(10);
        var s = await state.GetAsync();

        // The log and the sink: every record posted, all committed by the sink's group; rates over the 10 s since the first sample.
        Assert.Equal(3 * PerKind, s.Batch.Api.Records);
        Assert.Equal(10, s.RateSeconds);
        Assert.Equal(3 * PerKind / 10.0, s.Batch.Api.PerSecond);
        Assert.Equal(settings.Sink.GroupId, s.Batch.Sink.Group);
        Assert.Equal(3 * PerKind, s.Batch.Sink.Committed);
        Assert.Equal(0, s.Batch.Sink.Lag);
        Assert.Equal(3 * PerKind / 10.0, s.Batch.Sink.PerSecond);
        Assert.All(s.Batch.Topics, t => Assert.Equal(PerKind, t.Records));

        // The bucket: what a listing of the sink's folder finds, per topic.
        foreach (string topic in settings.Sink.Topics!)
        {
            long objects = 0, bytes = 0;
            await foreach (var o in dash.Host.Store.ListAsync($"{settings.Sink.TopicsDir}/{topic}/"))
            {
                objects++;
                bytes += o.Size;
            }
            var view = Assert.Single(s.Batch.Bucket.Topics, t => t.Topic == topic);
            Assert.True(objects > 0);
            Assert.Equal(objects, view.Objects);
            Assert.Equal(bytes, view.Bytes);
        }
        Assert.Null(s.Batch.Bucket.Error);

        // The streaming lane: every record committed by the stream job (its tables' txns), lag 0, rate over the 10 s since the first sample.
        Assert.Equal(3 * PerKind, s.Stream.Job.Records);
        Assert.Equal(0, s.Stream.Lag);
        Assert.Equal(3 * PerKind / 10.0, s.Stream.Job.PerSecond);

        // Every Delta table: the version and the rows (numRecords) its log holds, read here by a reader of its own.
        foreach (var table in s.Batch.Tables.Concat(s.Stream.Tables))
        {
            var snapshot = await new DeltaTable(dash.Host.Store, table.Path).LoadAsync();
            Assert.NotNull(snapshot);
            Assert.Equal(snapshot.Version, table.Version);
            Assert.Equal(snapshot.Files.Sum(f => f.NumRecords ?? 0), table.Rows);
        }
        Assert.All(s.Stream.Tables.Where(t => !t.Name.EndsWith("_rejects", StringComparison.Ordinal)), t => Assert.True(t.Rows > 0));
        Assert.All(s.Batch.Tables.Where(t => !t.Name.EndsWith("_rejects", StringComparison.Ordinal)), t => Assert.True(t.Rows > 0));

        // The run, its report, its quality counts and its nine insights, as its folder holds them.
        var run = Assert.Single(s.Batch.Runs);
        Assert.Equal(runId, run.RunId);
        Assert.Equal("succeeded", run.Outcome);
        Assert.Equal(7.0, run.DurationSeconds);
        Assert.Equal($"runs/{Uri.EscapeDataString(runId)}/report.html", run.Report);
        var latest = s.Batch.LatestRun;
        Assert.NotNull(latest);
        Assert.Equal(runId, latest.RunId);
        Assert.Equal(9, latest.Insights.Count);
        Assert.Equal(Enumerable.Range(1, 9), latest.Insights.Select(i => i.Number));
        string folder = Path.Combine(settings.Batch.OutputDir, "manual__dashboard-test");
        using var summary = JsonDocument.Parse(await File.ReadAllBytesAsync(Path.Combine(folder, "summary.json")));
        long qualityInSummary = summary.RootElement.GetProperty("tables").EnumerateArray()
            .Sum(t => t.GetProperty("quality").EnumerateArray().Sum(q => q.GetProperty("count").GetInt64())
                + t.GetProperty("rejectReasons").EnumerateArray().Sum(r => r.GetProperty("count").GetInt64()));
        Assert.Equal(qualityInSummary, latest.Quality.Sum(q => q.Count));
        Assert.NotEmpty(latest.Quality);
        using var first = JsonDocument.Parse(await File.ReadAllBytesAsync(Path.Combine(folder, "insights", "07-users-joined-per-year.json")));
        Assert.Equal(first.RootElement.GetArrayLength(), latest.Insights[6].TotalRows);
    }

    [Fact]
    public async Task Viewers_within_a_second_share_one_snapshot()
    {
        await using var dash = await DashboardHarness.StartAsync();
        var clock = new ManualClock(T0);
        var bucket = ObjectStoreFactory.Create(dash.Settings.ObjectStore, dash.Settings.Names.Bucket);
        using var disposeBucket = bucket as IDisposable;
        using var state = new DashboardState(dash.Settings, dash.Host.Log, bucket, clock);

        var first = await state.GetAsync();
        var together = await Task.WhenAll(Enumerable.Range(0, 8).Select(_ => state.GetAsync()));
        var json = await Task.WhenAll(Enumerable.Range(0, 8).Select(_ => state.GetJsonAsync()));
        Assert.All(json, j => Assert.Same(json[0], j)); // serialized once for every viewer
        using (var parsed = JsonDocument.Parse(json[0]))
            Assert.Equal(first.At, parsed.RootElement.GetProperty("at").GetDateTimeOffset());
        clock.Now = T0.AddMilliseconds(999);
        var stillFirst = await state.GetAsync();
        await dash.PostBatchAsync(2);
        Assert.Equal(0, (await state.GetAsync()).Batch.Api.Records); // under a second old: the log is not read again

        clock.Now = T0.AddSeconds(1);
        var next = await state.GetAsync();

        Assert.All(together, t => Assert.Same(first, t));
        Assert.Same(first, stillFirst);
        Assert.NotSame(first, next);
        Assert.Equal(2, next.Batch.Api.Records);
        Assert.Equal(2.0, next.Batch.Api.PerSecond);
    }

    [Fact]
    public async Task An_unreachable_bucket_is_named_in_the_snapshot_and_the_log_still_shows()
    {
        await using var dash = await DashboardHarness.StartAsync();
        await dash.PostBatchAsync(4);
        int closedPort;
        using (var listener = new System.Net.Sockets.TcpListener(System.Net.IPAddress.Loopback, 0))
        {
            listener.Start();
            closedPort = ((System.Net.IPEndPoint)listener.LocalEndpoint).Port;
        }
        using var unreachable = new PinPipe.Lake.S3.S3ObjectStore(
            new ObjectStoreOptions { Kind = ObjectStoreKind.S3, ServiceUrl = $"http://127.0.0.1:{closedPort}", ForcePathStyle = true },
            "gone-bucket", new Amazon.Runtime.BasicAWSCredentials("test", "test"));
        using var state = new DashboardState(dash.Settings, dash.Host.Log, unreachable);

        var s = await state.GetAsync();

        Assert.Equal(4, s.Batch.Api.Records);
        Assert.False(string.IsNullOrWhiteSpace(s.Batch.Bucket.Error));
        Assert.All(s.Batch.Tables.Concat(s.Stream.Tables), t => Assert.False(string.IsNullOrWhiteSpace(t.Error)));
    }

    [Fact]
    public async Task A_run_id_that_names_no_run_folder_gets_no_folder()
    {
        await using var dash = await DashboardHarness.StartAsync();
        var bucket = ObjectStoreFactory.Create(dash.Settings.ObjectStore, dash.Settings.Names.Bucket);
        using var disposeBucket = bucket as IDisposable;
        using var state = new DashboardState(dash.Settings, dash.Host.Log, bucket);
        Directory.CreateDirectory(Path.Combine(dash.Settings.Batch.OutputDir, "real-run"));

        Assert.NotNull(state.RunFolder("real-run"));
        Assert.Null(state.RunFolder("no-such-run"));
        Assert.Null(state.RunFolder(".."));
        Assert.Null(state.RunFolder("../.."));
        Assert.Null(state.RunFolder(""));
    }
}
