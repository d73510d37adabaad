namespace PinPipe.Hosting.Web;

/// <summary>
/// What the dashboard shows at one moment: both lanes, stage by stage, as <c>/ui/api/state</c> sends it (JSON, camelCase).
/// <see cref="RateSeconds"/> is the span the rates cover: a minute once the dashboard has been watched that long (samples
/// are taken while someone watches), less before.
/// </summary>
internal sealed record DashboardSnapshot(DateTimeOffset At, double RateSeconds, BatchLaneView Batch, StreamLaneView Stream);

/// <summary>The batch lane: API → log → sink → bucket → batch job → insights.</summary>
internal sealed record BatchLaneView(
    StageRate Api, IReadOnlyList<TopicView> Topics, SinkView Sink, BucketView Bucket, IReadOnlyList<TableView> Tables,
    IReadOnlyList<RunView> Runs, LatestRunView? LatestRun, string? RunsError);

/// <summary>The streaming lane: API → streams → stream job → Delta tables.</summary>
internal sealed record StreamLaneView(StageRate Api, IReadOnlyList<TopicView> Streams, StageRate Job, long Lag, IReadOnlyList<TableView> Tables, string? Error);

/// <summary>A counter (records appended, committed) and its rate over the window, in records per second (null until two samples).</summary>
internal sealed record StageRate(long Records, double? PerSecond);

/// <summary>A topic or stream: records in the log (end offsets summed over partitions) and what its consumer has not committed.</summary>
internal sealed record TopicView(string Name, int Partitions, long Records, long Lag);

/// <summary>The sink: records it committed (its group's offsets), its rate and its lag.</summary>
internal sealed record SinkView(string Group, long Committed, double? PerSecond, long Lag);

/// <summary>The bucket's raw objects per topic, from a listing at most a few seconds old.</summary>
internal sealed record BucketView(string Location, string Prefix, long Objects, long Bytes, IReadOnlyList<BucketTopicView> Topics, DateTimeOffset? ListedAt, string? Error);

/// <summary>One topic's folder in the bucket.</summary>
internal sealed record BucketTopicView(string Topic, long Objects, long Bytes);

/// <summary>A Delta table: its latest version and rows (the sum of its files' <c>numRecords</c>); version -1 when it does not exist yet.</summary>
internal sealed record TableView(string Name, string Path, long Version, long Rows, string? Error);

/// <summary>A batch run of the history: how it ended, how long it took, and its report (a <c>/ui</c> link) when it wrote one.</summary>
internal sealed record RunView(string RunId, string Outcome, DateTimeOffset StartedAt, double? DurationSeconds, string? Report, string? Error);

/// <summary>The latest run with outputs: its quality counts per rule and its nine insights.</summary>
internal sealed record LatestRunView(string RunId, string? Report, IReadOnlyList<QualityView> Quality, IReadOnlyList<InsightView> Insights);

/// <summary>How many values of a table's column a cleaning rule changed (or records it rejected, column <c>(record)</c>).</summary>
internal sealed record QualityView(string Table, string Column, string Rule, long Count);

/// <summary>An insight's rows as its JSON file holds them (at most <see cref="DashboardState.MaxInsightRows"/>).</summary>
internal sealed record InsightView(int Number, string Name, string Title, IReadOnlyList<string> Columns, IReadOnlyList<IReadOnlyList<object?>> Rows, int TotalRows);
