using System.Text.Json;
using Microsoft.Extensions.Logging;
using PinPipe.Batch;
using PinPipe.Files;
using PinPipe.Insights;

namespace PinPipe.Hosting;

/// <summary>What a run of the batch lane did and where its outputs are.</summary>
/// <param name="Run">The batch job's run; its <see cref="BatchRunResult.Duration"/> is that of the whole lane run, the insight files included.</param>
/// <param name="Insights">The nine insights, in SPEC order.</param>
/// <param name="InsightFiles">The insight files written (<c>insights/&lt;nn&gt;-&lt;name&gt;.csv</c> then <c>.json</c>, per insight).</param>
/// <param name="ReportPath">The HTML report (<c>report.html</c>).</param>
/// <param name="SummaryPath">The summary (<c>summary.json</c>).</param>
public sealed record BatchLaneResult(
    BatchRunResult Run, IReadOnlyList<InsightResult> Insights, IReadOnlyList<string> InsightFiles, string ReportPath, string SummaryPath);

/// <summary>
/// The batch lane (<c>pinpipe batch</c>, and each scheduled run): the <see cref="BatchJob"/>, then the nine insights
/// computed after its Delta commits from the whole clean tables (a scan of only the columns they read), so they cover every
/// run's rows however little this one added (an insight that fails fails the run; its commits stand, and the next run,
/// finding nothing new, computes them again), then the insights as CSV and JSON, the HTML report and the summary in the
/// run's folder (<c>&lt;OutputDir&gt;/&lt;run id&gt;/</c>).
/// </summary>
/// <param name="job">The batch job.</param>
/// <param name="loggerFactory">Progress goes to category <c>pinpipe.batch</c>, as the job's.</param>
/// <param name="time">Clock for the durations.</param>
public sealed class BatchLane(BatchJob job, ILoggerFactory loggerFactory, TimeProvider? time = null)
{
    /// <summary>The folder under <c>Batch:OutputDir</c> where the insights' aggregates are kept between runs (see <see cref="InsightState"/>).</summary>
    public const string InsightStateFolder = ".insights";

    private static readonly JsonSerializerOptions IndentedJson = new() { WriteIndented = true };
    private readonly ILogger _logger = loggerFactory.CreateLogger("pinpipe.batch");
    private readonly TimeProvider _time = time ?? TimeProvider.System;

    /// <summary>Runs the lane once.</summary>
    /// <param name="runId">The run's id (a folder name is made of it); null = <see cref="BatchJob.NewRunId"/>.</param>
    /// <param name="cancellationToken">Stops the run (see <see cref="BatchJob.RunAsync"/>).</param>
    /// <exception cref="InvalidOperationException">No raw objects at all, or a step failed, an insight among them (the message names it).</exception>
    public async Task<BatchLaneResult> RunAsync(string? runId = null, CancellationToken cancellationToken = default)
    {
        long start = _time.GetTimestamp();
        IReadOnlyList<InsightResult>? insights = null;
        var run = await job.RunAsync(runId, new BatchTablesStep(static (_, _) => Task.CompletedTask)
        {
            Columns = InsightQueries.Columns,
            RunOnFiles = async (connection, tables, token) =>
            {
                long phase = _time.GetTimestamp();
                var incremental = await InsightState.RunAllAsync(connection, Path.Combine(job.OutputDir, InsightStateFolder), tables,
                    (step, seconds) => _logger.LogDebug("Insights: {Step} in {Seconds:N2} s.", step, seconds), token).ConfigureAwait(false);
                insights = incremental.Results;
                _logger.LogInformation("Nine insights over the whole tables in {Seconds:N1} s (their aggregates: {How}).", _time.GetElapsedTime(phase).TotalSeconds, incremental.How);
            },
        }, cancellationToken).ConfigureAwait(false);
        if (insights is null) throw new InvalidOperationException("The batch job did not run the insights after its commits.");

        // The outputs, once the Delta tables are committed: insights as CSV and JSON, the HTML report, the summary.
        var files = await InsightFiles.WriteAsync(Path.Combine(run.OutputDirectory, "insights"), insights, cancellationToken).ConfigureAwait(false);
        var result = new BatchLaneResult(run with { Duration = _time.GetElapsedTime(start) }, insights, files,
            Path.Combine(run.OutputDirectory, "report.html"), Path.Combine(run.OutputDirectory, "summary.json"));
        await HtmlReport.WriteAsync(result.ReportPath, ReportOf(result), cancellationToken).ConfigureAwait(false);
        await OwnerOnly.WriteAllBytesAsync(result.SummaryPath, SummaryJson(result), cancellationToken).ConfigureAwait(false);
        _logger.LogInformation("Batch run {RunId} done in {Seconds:N1} s ({MB:N1} MB/s of raw JSON); report {Report}.",
            result.Run.RunId, result.Run.Duration.TotalSeconds, result.Run.MegabytesPerSecond, result.ReportPath);
        return result;
    }

    private static ReportModel ReportOf(BatchLaneResult lane)
    {
        var r = lane.Run;
        return new(
            r.RunId, r.StartedAt, r.Duration,
            r.Tables.Select(t => new TableFigures(t.Table, t.Clean.Read, t.Clean.Clean, t.Clean.Duplicates, t.Clean.Rejects)).ToArray(),
            r.Tables.SelectMany(t => t.Clean.Quality.Select(q => new QualityFigure(t.Table, q.Column, q.Rule, q.Count))
                .Concat(t.Clean.RejectReasons.Select(k => new QualityFigure(t.Table, "(record)", "rejected: " + k.Kind, k.Count)))).ToArray(),
            lane.Insights,
            [
                new("run", r.Full ? "full rebuild of every table (--full)" : r.NothingNew ? "incremental: nothing new since the last commits, nothing committed" : "incremental: the raw objects landed since the last commits"),
                new("cleaning rules", r.Rules),
                new("bucket", r.Bucket),
                new("raw JSON read", $"{r.Bytes / 1e6:N1} MB in {r.Tables.Sum(t => t.Objects):N0} objects"),
                new("throughput", $"{r.MegabytesPerSecond:N1} MB/s of raw JSON"),
                .. r.Tables.Select(t => new KeyValuePair<string, string>($"Delta {t.Table}",
                    $"{t.Rows:N0} rows, {t.RejectRows:N0} rejects in all; version {t.Version}{(t.Committed ? "" : " (unchanged)")}, rejects version {t.RejectsVersion}{(t.RejectsCommitted ? "" : " (unchanged)")}")),
            ]);
    }

    private static byte[] SummaryJson(BatchLaneResult lane)
    {
        var r = lane.Run;
        return JsonSerializer.SerializeToUtf8Bytes(new
        {
            runId = r.RunId,
            mode = r.Full ? "full" : "incremental",
            nothingNew = r.NothingNew,
            rules = r.Rules,
            startedAt = r.StartedAt,
            durationSeconds = Math.Round(r.Duration.TotalSeconds, 3),
            bucket = r.Bucket,
            rawBytes = r.Bytes,
            megabytesPerSecond = Math.Round(r.MegabytesPerSecond, 1),
            tables = r.Tables.Select(t => new
            {
                table = t.Table,
                topic = t.Topic,
                objects = t.Objects,
                bytes = t.Bytes,
                read = t.Clean.Read,
                clean = t.Clean.Clean,
                duplicates = t.Clean.Duplicates,
                rejects = t.Clean.Rejects,
                deltaVersion = t.Version,
                rejectsDeltaVersion = t.RejectsVersion,
                committed = t.Committed,
                rejectsCommitted = t.RejectsCommitted,
                tableRows = t.Rows,
                tableRejects = t.RejectRows,
                quality = t.Clean.Quality.Select(q => new { column = q.Column, rule = q.Rule, count = q.Count }),
                rejectReasons = t.Clean.RejectReasons.Select(k => new { reason = k.Kind, count = k.Count }),
            }),
            insights = lane.InsightFiles.Select(Path.GetFileName),
            report = Path.GetFileName(lane.ReportPath),
        }, IndentedJson);
    }
}
