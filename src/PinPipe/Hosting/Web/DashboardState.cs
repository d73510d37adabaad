using System.Text.Json;
using PinPipe.Batch;
using PinPipe.Insights;
using PinPipe.Lake;
using PinPipe.Lake.Delta;
using PinPipe.Log;
using PinPipe.Scheduling;
using PinPipe.Streaming;
using PinPipe.Transform;

namespace PinPipe.Hosting.Web;

/// <summary>
/// The dashboard's picture of the pipeline, read from durable state only, so that it holds whichever processes run the
/// sink, the stream job and the batch runs: the log's end offsets, the sink's consumer group's committed offsets, the
/// Delta tables' logs (versions, <c>numRecords</c> stats and the stream job's <c>txn</c> offsets: no Parquet data is read),
/// a listing of the bucket's raw objects (at most every <see cref="BucketRefresh"/>), the run history and the latest
/// run's output files. A snapshot is computed at most once a second whatever the number of viewers; the rates come from
/// the snapshots' counters over the last minute (<see cref="RateRing"/>).
/// </summary>
internal sealed class DashboardState : IDisposable
{
    /// <summary>The rows of an insight sent to the page (its charts show the largest ones).</summary>
    internal const int MaxInsightRows = 400;

    /// <summary>How many runs of the history the page lists.</summary>
    internal const int RunsShown = 8;

    private static readonly TimeSpan SnapshotAge = TimeSpan.FromSeconds(1);
    private static readonly JsonSerializerOptions Json = new(JsonSerializerDefaults.Web);
    private static readonly TimeSpan BucketRefresh = TimeSpan.FromSeconds(5);
    private static readonly TimeSpan RunsRefresh = TimeSpan.FromSeconds(2);
    private static readonly RecordKind[] Kinds = [RecordKind.Pin, RecordKind.Geo, RecordKind.User];

    private readonly PinPipeSettings _settings;
    private readonly ILog _log;
    private readonly IObjectStore _bucket;
    private readonly TimeProvider _time;
    private readonly SemaphoreSlim _gate = new(1, 1);
    private readonly RateRing _rates = new(TimeSpan.FromMinutes(1));
    private readonly Dictionary<string, TableReader> _tables = new(StringComparer.Ordinal);
    private Made? _last;
    private (DateTimeOffset At, BucketView View)? _bucketListing;
    private (DateTimeOffset At, IReadOnlyList<RunView> Runs, string? Error)? _runs;
    private LatestRunView? _latestRun;

    /// <param name="settings">Resolved settings (<see cref="PinPipeSettings.Resolve"/>): the names, groups, prefixes and folders to read.</param>
    /// <param name="log">The log the API writes to.</param>
    /// <param name="bucket">The bucket the sink, the stream job and the batch job write to.</param>
    /// <param name="time">The clock of the snapshots and the rates.</param>
    public DashboardState(PinPipeSettings settings, ILog log, IObjectStore bucket, TimeProvider? time = null)
    {
        _settings = settings;
        _log = log;
        _bucket = bucket;
        _time = time ?? TimeProvider.System;
    }

    /// <summary>Releases the lock of the snapshots.</summary>
    public void Dispose() => _gate.Dispose();

    /// <summary>The latest snapshot when it is under a second old, else a new one (one at a time: concurrent viewers share it).</summary>
    public async Task<DashboardSnapshot> GetAsync(CancellationToken cancellationToken = default) => (await LatestAsync(cancellationToken).ConfigureAwait(false)).Snapshot;

    /// <summary>
    /// The snapshot of <see cref="GetAsync"/> as <c>/ui/api/state</c> sends it (JSON, camelCase), serialized once per snapshot
    /// whatever the number of viewers.
    /// </summary>
    public async Task<byte[]> GetJsonAsync(CancellationToken cancellationToken = default) => (await LatestAsync(cancellationToken).ConfigureAwait(false)).Json;

    private async Task<Made> LatestAsync(CancellationToken cancellationToken)
    {
        if (Fresh(Volatile.Read(ref _last)) is { } known) return known;
        await _gate.WaitAsync(cancellationToken).ConfigureAwait(false);
        try
        {
            if (Fresh(_last) is { } fresh) return fresh;
            var snapshot = await ComputeAsync(_time.GetUtcNow(), cancellationToken).ConfigureAwait(false);
            var made = new Made(snapshot, JsonSerializer.SerializeToUtf8Bytes(snapshot, Json));
            Volatile.Write(ref _last, made);
            return made;
        }
        finally
        {
            _gate.Release();
        }
    }

    private Made? Fresh(Made? made) => made is not null && _time.GetUtcNow() - made.Snapshot.At < SnapshotAge ? made : null;

    /// <summary>A snapshot and its JSON.</summary>
    private sealed record Made(DashboardSnapshot Snapshot, byte[] Json);

    private async Task<DashboardSnapshot> ComputeAsync(DateTimeOffset now, CancellationToken cancellationToken)
    {
        var s = _settings;
        var topics = s.Sink.Topics ?? s.Names.Topics;
        var (topicViews, topicPositions) = await ReadTopicsAsync(topics, s.Sink.GroupId, cancellationToken).ConfigureAwait(false);
        long sinkCommitted = topicPositions.Sum(p => p.Committed);

        string? streamError = null;
        var streamViews = new List<TopicView>();
        var streamTables = new List<TableView>();
        long streamAppended = 0, streamCommitted = 0, streamLag = 0;
        foreach (var (stream, kind) in s.Names.Streams.Zip(Kinds))
        {
            try
            {
                var described = await _log.DescribeTopicAsync(stream, cancellationToken).ConfigureAwait(false);
                var clean = await ReadTableAsync($"{s.Batch.TablesPrefix}/{StreamJob.TableName(s.UserId, kind)}", cancellationToken).ConfigureAwait(false);
                var rejects = await ReadTableAsync($"{s.Batch.TablesPrefix}/{StreamJob.TableName(s.UserId, kind, rejects: true)}", cancellationToken).ConfigureAwait(false);
                streamTables.Add(clean.View);
                streamTables.Add(rejects.View);
                if (described is null) continue;
                // The stream job's position is in its tables: the clean table's txn of each partition is the next offset to read.
                var checkpoint = StreamCheckpoint.Read(clean.Txns, stream, described.TopicId, described.Partitions);
                long records = 0, lag = 0;
                for (int p = 0; p < described.Partitions; p++)
                {
                    var w = await _log.GetWatermarksAsync(stream, p, cancellationToken).ConfigureAwait(false);
                    long next = checkpoint.Current || checkpoint.Legacy ? checkpoint.Offsets[p] ?? w.Low : w.Low;
                    records += w.High;
                    streamCommitted += Math.Min(next, w.High);
                    lag += Math.Max(0, w.High - next);
                }
                streamAppended += records;
                streamLag += lag;
                streamViews.Add(new TopicView(stream, described.Partitions, records, lag));
            }
            catch (Exception ex) when (ex is not OperationCanceledException)
            {
                streamError = $"{stream}: {ex.Message}";
            }
        }

        var batchTables = new List<TableView>();
        foreach (var kind in Kinds)
        {
            batchTables.Add((await ReadTableAsync(BatchJob.TablePrefix(s.Batch, kind), cancellationToken).ConfigureAwait(false)).View);
            batchTables.Add((await ReadTableAsync(BatchJob.TablePrefix(s.Batch, kind, rejects: true), cancellationToken).ConfigureAwait(false)).View);
        }

        long batchAppended = topicViews.Sum(t => t.Records);
        _rates.Add(now, new Dictionary<string, long>(StringComparer.Ordinal)
        {
            ["batch.api"] = batchAppended,
            ["batch.sink"] = sinkCommitted,
            ["stream.api"] = streamAppended,
            ["stream.job"] = streamCommitted,
        });
        var bucket = await BucketAsync(topics, now, cancellationToken).ConfigureAwait(false);
        var (runs, runsError) = Runs(now);
        var latest = LatestRun(runs);
        return new DashboardSnapshot(now, _rates.Span.TotalSeconds,
            new BatchLaneView(
                new StageRate(batchAppended, _rates.Rate("batch.api")), topicViews,
                new SinkView(s.Sink.GroupId, sinkCommitted, _rates.Rate("batch.sink"), topicViews.Sum(t => t.Lag)),
                bucket, batchTables, runs, latest, runsError),
            new StreamLaneView(new StageRate(streamAppended, _rates.Rate("stream.api")), streamViews,
                new StageRate(streamCommitted, _rates.Rate("stream.job")), streamLag, streamTables, streamError));
    }

    /// <summary>Each topic's records (end offsets) and what <paramref name="group"/> has not committed of them.</summary>
    private async Task<(List<TopicView> Views, List<(string Topic, long Committed)> Positions)> ReadTopicsAsync(IEnumerable<string> topics, string group, CancellationToken cancellationToken)
    {
        var views = new List<TopicView>();
        var positions = new List<(string, long)>();
        foreach (var topic in (await GroupPositions.OfAsync(_log, group, topics, cancellationToken).ConfigureAwait(false)).GroupBy(p => p.Topic))
        {
            views.Add(new TopicView(topic.Key, topic.Count(), topic.Sum(p => p.Marks.High), topic.Sum(p => p.Lag)));
            positions.Add((topic.Key, topic.Sum(p => Math.Min(p.Committed ?? p.Marks.Low, p.Marks.High))));
        }
        return (views, positions);
    }

    /// <summary>A Delta table's latest version, rows and txns, from its log (the state kept between snapshots: only new commits are read).</summary>
    private async Task<(TableView View, IReadOnlyDictionary<string, long>? Txns)> ReadTableAsync(string prefix, CancellationToken cancellationToken)
    {
        if (!_tables.TryGetValue(prefix, out var reader)) _tables[prefix] = reader = new TableReader(new DeltaTable(_bucket, prefix));
        string name = prefix[(prefix.LastIndexOf('/') + 1)..];
        try
        {
            var snapshot = await reader.Table.LatestAsync(cancellationToken).ConfigureAwait(false);
            if (snapshot is null) return (new TableView(name, prefix, -1, 0, null), null);
            if (snapshot.Version != reader.Version)
            {
                reader.Version = snapshot.Version;
                reader.Rows = snapshot.Files.Sum(f => f.NumRecords ?? 0);
            }
            return (new TableView(name, prefix, snapshot.Version, reader.Rows, null), snapshot.Txns);
        }
        catch (Exception ex) when (ex is not OperationCanceledException)
        {
            return (new TableView(name, prefix, -1, 0, ex.Message), null);
        }
    }

    /// <summary>The raw objects per topic under <c>Sink:TopicsDir</c>, listed again when the last listing is <see cref="BucketRefresh"/> old.</summary>
    private async Task<BucketView> BucketAsync(IReadOnlyList<string> topics, DateTimeOffset now, CancellationToken cancellationToken)
    {
        if (_bucketListing is { } known && now - known.At < BucketRefresh) return known.View;
        string prefix = _settings.Sink.TopicsDir + "/";
        BucketView view;
        try
        {
            // A missing bucket lists as empty: it is named instead (as /readyz does).
            await _bucket.CheckBucketAsync(create: false, cancellationToken).ConfigureAwait(false);
            var perTopic = topics.ToDictionary(t => t, _ => (Objects: 0L, Bytes: 0L), StringComparer.Ordinal);
            await foreach (var o in _bucket.ListAsync(prefix, cancellationToken).ConfigureAwait(false))
            {
                int slash = o.Key.IndexOf('/', prefix.Length);
                if (slash < 0) continue;
                string topic = o.Key[prefix.Length..slash];
                var (objects, bytes) = perTopic.GetValueOrDefault(topic);
                perTopic[topic] = (objects + 1, bytes + o.Size);
            }
            var rows = perTopic.Select(kv => new BucketTopicView(kv.Key, kv.Value.Objects, kv.Value.Bytes)).ToList();
            view = new BucketView(_bucket.Location, prefix, rows.Sum(r => r.Objects), rows.Sum(r => r.Bytes), rows, now, null);
        }
        catch (Exception ex) when (ex is not OperationCanceledException)
        {
            view = new BucketView(_bucket.Location, prefix, 0, 0, [], null, ex.Message);
        }
        _bucketListing = (now, view);
        return view;
    }

    /// <summary>The latest runs of the history (none when no run has been recorded yet), read again every <see cref="RunsRefresh"/>.</summary>
    private (IReadOnlyList<RunView> Runs, string? Error) Runs(DateTimeOffset now)
    {
        if (_runs is { } known && now - known.At < RunsRefresh) return (known.Runs, known.Error);
        IReadOnlyList<RunView> runs = [];
        string? error = null;
        string path = _settings.Schedule.HistoryPath;
        try
        {
            // Opening would create the file: only an existing history is read.
            if (File.Exists(path))
            {
                using var history = RunHistory.Open(path);
                runs = [.. history.Latest(RunsShown).Select(r => new RunView(r.RunId, r.Outcome.ToString().ToLowerInvariant(), r.StartedAt,
                    r.EndedAt is { } end ? Math.Round((end - r.StartedAt).TotalSeconds, 1) : null, ReportLink(r.RunId), r.Error))];
            }
        }
        catch (Exception ex) when (ex is not OperationCanceledException)
        {
            error = ex.Message;
        }
        _runs = (now, runs, error);
        return (runs, error);
    }

    /// <summary>The folder of run <paramref name="runId"/> under <c>Batch:OutputDir</c>, or null when the id names no folder of it.</summary>
    internal string? RunFolder(string runId)
    {
        if (string.IsNullOrEmpty(runId)) return null;
        string root = Path.GetFullPath(_settings.Batch.OutputDir);
        // The batch job's own folder name of the id: no separator, no dot segment.
        string folder = Path.GetFullPath(Path.Combine(root, BatchJob.SafeFolderName(runId)));
        return string.Equals(Path.GetDirectoryName(folder), root.TrimEnd(Path.DirectorySeparatorChar), StringComparison.Ordinal) && Directory.Exists(folder) ? folder : null;
    }

    /// <summary>The dashboard's link to a run's HTML report (relative to <c>/ui/</c>), or null when the run wrote none.</summary>
    private string? ReportLink(string runId) =>
        RunFolder(runId) is { } folder && File.Exists(Path.Combine(folder, "report.html")) ? $"runs/{Uri.EscapeDataString(runId)}/report.html" : null;

    /// <summary>The quality counts and insights of the newest run of the history that wrote a summary (read again only when that run changes).</summary>
    private LatestRunView? LatestRun(IReadOnlyList<RunView> runs)
    {
        foreach (var run in runs.Where(r => r.Outcome == "succeeded"))
        {
            if (_latestRun?.RunId == run.RunId) return _latestRun;
            if (RunFolder(run.RunId) is not { } folder || !File.Exists(Path.Combine(folder, "summary.json"))) continue;
            try
            {
                _latestRun = ReadRun(run.RunId, folder);
                return _latestRun;
            }
            catch (Exception ex) when (ex is IOException or JsonException or UnauthorizedAccessException or InvalidOperationException or KeyNotFoundException)
            {
                continue; // a run whose outputs cannot be read: the one before it
            }
        }
        return _latestRun;
    }

    private LatestRunView ReadRun(string runId, string folder)
    {
        var quality = new List<QualityView>();
        using (var summary = JsonDocument.Parse(File.ReadAllBytes(Path.Combine(folder, "summary.json"))))
        {
            foreach (var table in summary.RootElement.GetProperty("tables").EnumerateArray())
            {
                string name = table.GetProperty("table").GetString() ?? "";
                foreach (var q in table.GetProperty("quality").EnumerateArray())
                    quality.Add(new QualityView(name, q.GetProperty("column").GetString() ?? "", q.GetProperty("rule").GetString() ?? "", q.GetProperty("count").GetInt64()));
                foreach (var r in table.GetProperty("rejectReasons").EnumerateArray())
                    quality.Add(new QualityView(name, "(record)", "rejected: " + r.GetProperty("reason").GetString(), r.GetProperty("count").GetInt64()));
            }
        }
        var insights = new List<InsightView>();
        foreach (var query in InsightQueries.All)
        {
            string file = Path.Combine(folder, "insights", $"{query.Number:00}-{query.Name}.json");
            if (!File.Exists(file)) continue;
            using var json = JsonDocument.Parse(File.ReadAllBytes(file));
            var rows = new List<IReadOnlyList<object?>>();
            int total = 0;
            foreach (var row in json.RootElement.EnumerateArray())
            {
                total++;
                if (rows.Count < MaxInsightRows) rows.Add([.. query.Columns.Select(c => row.TryGetProperty(c, out var v) ? Value(v) : null)]);
            }
            insights.Add(new InsightView(query.Number, query.Name, query.Title, query.Columns, rows, total));
        }
        return new LatestRunView(runId, ReportLink(runId), quality, insights);
    }

    private static object? Value(JsonElement value) => value.ValueKind switch
    {
        JsonValueKind.Number => value.TryGetInt64(out long n) ? n : value.GetDouble(),
        JsonValueKind.String => value.GetString(),
        JsonValueKind.True => true,
        JsonValueKind.False => false,
        _ => null,
    };

    /// <summary>A table's reader (its cached log state) and the row count of the version last seen.</summary>
    private sealed class TableReader(DeltaTable table)
    {
        public DeltaTable Table { get; } = table;
        public long Version { get; set; } = -1;
        public long Rows { get; set; }
    }
}
