using System.Globalization;
using System.Text.Json;
using PinPipe.Batch;
using PinPipe.Configuration;
using PinPipe.DuckDb;
using PinPipe.Lake;
using PinPipe.Lake.Delta;
using PinPipe.Sink;
using PinPipe.Transform;

namespace PinPipe.Verify;

/// <summary>
/// Bucket ↔ batch Delta tables: the last batch run's counts reconcile with the raw objects it read. The run is the one
/// of the clean table's newest batch commit (<c>pinpipe.runId</c> in its commitInfo); the objects it read are the lines
/// between the tables' offsets before that commit and after it (from the first offset for a full rebuild, which reads
/// every raw object again); the rows it added are the files it added. Its <c>summary.json</c> (under
/// <c>Batch:OutputDir</c>, when this machine has it) must give the same read, clean and reject counts, and
/// read = clean + duplicates + rejects. The clean table holds each <c>ind</c> once (its <c>ind</c>
/// column is read, nothing else).
/// </summary>
internal sealed class BatchTablesCheck(IObjectStore store, BatchOptions batch, SinkOptions sink, PipelineNames names, VerifyOptions options)
{
    /// <summary>How far back the log of a table is searched for its newest batch commit.</summary>
    private const int MaxCommitsBack = 10_000;

    public async Task<VerifyCheck> RunAsync(RecordKind kind, CancellationToken cancellationToken)
    {
        string topic = names.Topics[(int)kind];
        var cleanTable = new DeltaTable(store, BatchJob.TablePrefix(batch, kind));
        var rejectsTable = new DeltaTable(store, BatchJob.TablePrefix(batch, kind, rejects: true));
        var check = new CheckBuilder("bucket-batch", cleanTable.Prefix, options.MaxListed);
        var clean = await cleanTable.LoadAsync(cancellationToken: cancellationToken).ConfigureAwait(false);
        if (clean is null)
        {
            check.Note($"No batch Delta table {cleanTable.Location} yet: nothing to compare.");
            return check.Build();
        }
        var last = await NewestRunCommitAsync(cleanTable.Prefix, clean.Version, null, cancellationToken).ConfigureAwait(false);
        if (last is null)
        {
            check.Note($"{cleanTable.Location} has no batch commit within its last {MaxCommitsBack} versions (or its log was cleaned up below it): the last run was not compared.");
            return check.Build();
        }
        var (runId, version, full) = last.Value;
        var rejectsLatest = await rejectsTable.LoadAsync(cancellationToken: cancellationToken).ConfigureAwait(false);
        var rejectsCommit = rejectsLatest is null ? null : await NewestRunCommitAsync(rejectsTable.Prefix, rejectsLatest.Version, runId, cancellationToken).ConfigureAwait(false);

        string? topicId = await TopicIncarnations.ReadTopicIdAsync(store, TopicIncarnations.MarkerKey(sink.TopicsDir, topic), cancellationToken).ConfigureAwait(false);
        var (cleanBefore, cleanAfter, cleanAdded) = await CommitOfAsync(cleanTable, version, cancellationToken).ConfigureAwait(false);
        var (rejectsBefore, rejectsAfter, rejectsAdded) = rejectsCommit is { } rc
            ? await CommitOfAsync(rejectsTable, rc.Version, cancellationToken).ConfigureAwait(false)
            : (null, null, 0L);
        var from = new Dictionary<int, long>();
        var to = new Dictionary<int, long>();
        foreach (var (mark, next) in new[] { (cleanBefore, cleanAfter), (rejectsBefore, rejectsAfter) })
        {
            if (next is null) continue;
            var before = BatchCheckpoint.Read(full ? null : mark?.Txns, topic, topicId); // a full rebuild read from the start
            var after = BatchCheckpoint.Read(next.Txns, topic, topicId);
            foreach (var (p, end) in after.Next)
            {
                long start = before.NextOf(p);
                if (end <= start) continue;
                from[p] = Math.Min(from.GetValueOrDefault(p, start), start);
                to[p] = Math.Max(to.GetValueOrDefault(p, end), end);
            }
        }
        long lines = await LinesAsync(topic, from, to, cancellationToken).ConfigureAwait(false);
        check.Checked = lines;
        check.Figure("read", lines);
        check.Figure("clean", cleanAdded);
        check.Figure("rejects", rejectsAdded);
        check.Figure("duplicates", lines - cleanAdded - rejectsAdded);
        string run = $"run {runId} (Delta version {version} of {cleanTable.Location})";
        if (cleanAdded + rejectsAdded > lines)
            check.Problem("counts", cleanTable.Prefix, $"The last {run} added {cleanAdded:N0} clean and {rejectsAdded:N0} reject rows, more than the {lines:N0} raw lines between its offsets: rows came from records it did not read, or twice.");

        string summaryPath = Path.Combine(batch.OutputDir, BatchJob.SafeFolderName(runId), "summary.json");
        if (!File.Exists(summaryPath))
            check.Note($"The summary of {run} is not on this machine ({summaryPath}): its duplicate count was not compared.");
        else if (await SummaryOfAsync(summaryPath, CleaningRules.TableName(kind), cancellationToken).ConfigureAwait(false) is not { } s)
            check.Problem("counts", summaryPath, $"{summaryPath} has no figures of table {CleaningRules.TableName(kind)}.");
        else
        {
            if (s.Read != s.Clean + s.Duplicates + s.Rejects)
                check.Problem("counts", summaryPath, $"The last {run}: read {s.Read:N0} ≠ clean {s.Clean:N0} + duplicates {s.Duplicates:N0} + rejects {s.Rejects:N0}.");
            if (s.Read != lines)
                check.Problem("counts", summaryPath, $"The last {run} counted {s.Read:N0} records read; the raw objects between its offsets hold {lines:N0} lines.");
            if (s.Clean != cleanAdded)
                check.Problem("counts", summaryPath, $"The last {run} counted {s.Clean:N0} clean rows; its commit added {cleanAdded:N0}.");
            if (s.Rejects != rejectsAdded)
                check.Problem("counts", summaryPath, $"The last {run} counted {s.Rejects:N0} rejects; its commit to {rejectsTable.Location} added {rejectsAdded:N0}.");
        }

        // Each ind once in the clean table: its ind column only.
        using var scan = await clean.OpenScanAsync(["ind"], cancellationToken).ConfigureAwait(false);
        using var db = DuckDbSession.Open(new DuckDbSettings { MemoryLimit = options.MemoryLimit });
        var twice = db.Query($"SELECT ind, count(*) FROM {scan.Sql} GROUP BY ind HAVING count(*) > 1 ORDER BY ind", r => (r.GetInt64(0), r.GetInt64(1)), cancellationToken);
        foreach (var (ind, n) in twice)
            check.Problem("duplicate", $"{cleanTable.Prefix} ind {ind}", $"ind {ind} is {n} times in {cleanTable.Location}.");
        check.Figure("tableRows", clean.Files.Sum(f => f.NumRecords ?? 0));
        return check.Build();
    }

    /// <summary>
    /// The newest commit at or below <paramref name="latest"/> with a batch run id (that id when given), and whether its run
    /// was a full rebuild; or null.
    /// </summary>
    private async Task<(string RunId, long Version, bool Full)?> NewestRunCommitAsync(string prefix, long latest, string? runId, CancellationToken cancellationToken)
    {
        for (long v = latest; v >= 0 && v > latest - MaxCommitsBack; v--)
        {
            byte[]? commit = await store.GetAsync($"{prefix}/{DeltaLogFiles.LogFolder}{DeltaLogFiles.Commit(v)}", cancellationToken).ConfigureAwait(false);
            if (commit is null) return null;
            if (DeltaLogFiles.OperationParameter(commit, BatchJob.RunIdParameter) is not { } id) continue;
            if (runId is null || id == runId) return (id, v, DeltaLogFiles.OperationParameter(commit, BatchJob.ModeParameter) == BatchJob.FullMode);
            if (string.CompareOrdinal(id, runId) < 0) return null; // an earlier run's: the run committed nothing here
        }
        return null;
    }

    /// <summary>The table before and at <paramref name="version"/>, and the rows the commit added (its new files' numRecords).</summary>
    private static async Task<(DeltaSnapshot? Before, DeltaSnapshot After, long Added)> CommitOfAsync(DeltaTable table, long version, CancellationToken cancellationToken)
    {
        var after = await table.LoadAsync(version, cancellationToken).ConfigureAwait(false)
            ?? throw new InvalidOperationException($"Version {version} of {table.Location} cannot be read.");
        var before = version == 0 ? null : await table.LoadAsync(version - 1, cancellationToken).ConfigureAwait(false);
        var old = before?.Files.Select(f => f.Path).ToHashSet(StringComparer.Ordinal) ?? [];
        long added = after.Files.Where(f => !old.Contains(f.Path)).Sum(f => f.NumRecords ?? 0);
        return (before, after, added);
    }

    /// <summary>The raw lines of <paramref name="topic"/> at offsets in [from, to) per partition (line i of an object is its start offset + i, as the batch job counts).</summary>
    private async Task<long> LinesAsync(string topic, Dictionary<int, long> from, Dictionary<int, long> to, CancellationToken cancellationToken)
    {
        if (from.Count == 0) return 0;
        // Keys that are not raw objects: the log ↔ bucket check names them.
        var listing = await RawLoader.ListTopicAsync(store, sink.TopicsDir, topic, cancellationToken).ConfigureAwait(false);
        var objects = listing.Objects.Where(o => from.ContainsKey(o.Partition) && o.StartOffset < to[o.Partition]).ToList();
        long lines = 0;
        for (int i = 0; i < objects.Count; i++)
        {
            var o = objects[i];
            bool lastOfPartition = i + 1 == objects.Count || objects[i + 1].Partition != o.Partition;
            if (!lastOfPartition && objects[i + 1].StartOffset <= from[o.Partition]) continue; // ends before the range
            byte[]? content = await store.GetAsync(o.Key, cancellationToken).ConfigureAwait(false);
            if (content is null) continue;
            long n = content.AsSpan().Count((byte)'\n');
            long first = Math.Max(o.StartOffset, from[o.Partition]), end = Math.Min(o.StartOffset + n, to[o.Partition]);
            if (end > first) lines += end - first;
        }
        return lines;
    }

    private sealed record RunFigures(long Read, long Clean, long Duplicates, long Rejects);

    private static async Task<RunFigures?> SummaryOfAsync(string path, string table, CancellationToken cancellationToken)
    {
        await using var file = File.OpenRead(path);
        using var doc = await JsonDocument.ParseAsync(file, cancellationToken: cancellationToken).ConfigureAwait(false);
        foreach (var t in doc.RootElement.GetProperty("tables").EnumerateArray())
            if (t.GetProperty("table").GetString() == table)
                return new RunFigures(t.GetProperty("read").GetInt64(), t.GetProperty("clean").GetInt64(), t.GetProperty("duplicates").GetInt64(), t.GetProperty("rejects").GetInt64());
        return null;
    }
}
