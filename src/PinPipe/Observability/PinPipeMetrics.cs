using Prometheus;

namespace PinPipe.Observability;

/// <summary>
/// Every metric PinPipe exports, in Prometheus's naming (<c>pinpipe_&lt;stage&gt;_…</c>, counters end in <c>_total</c>, durations
/// in seconds, sizes in bytes), in prometheus-net's default registry: <see cref="MetricsExport"/> writes them for <c>GET /metrics</c>.
/// Stages record into them; they hold no stage logic. Also exported: prometheus-net's process metrics (<c>process_cpu_seconds_total</c>,
/// <c>process_working_set_bytes</c>, <c>process_open_handles</c>, <c>process_start_time_seconds</c>, <c>dotnet_total_memory_bytes</c>,
/// <c>dotnet_collection_count_total</c>, …). Its .NET event-counter and Meter bridges are off: they would add work to every
/// request (Kestrel's own meters) for figures ours already give.
/// </summary>
public static class PinPipeMetrics
{
    // First of the static fields, so it runs before any metric is created (initializers run in the order of the text).
    private static readonly bool Configured = Configure();

    private static bool Configure()
    {
        Metrics.SuppressDefaultMetrics(new SuppressDefaultMetricOptions
        {
            SuppressEventCounters = true,
            SuppressMeters = true,
            SuppressDebugMetrics = true,
            SuppressProcessMetrics = false,
        });
        Metrics.DefaultRegistry.AddBeforeCollectCallback(MetricCollectors.CollectAsync);
        Metrics.DefaultRegistry.AddBeforeCollectCallback(CollectRuntime);
        // No exemplars: by default every increment and observation looks up the current trace context for one (0.8 % of
        // `pinpipe serve`'s CPU samples at 1 record a request), and PinPipe exports Prometheus's text format, which has none.
        Metrics.DefaultFactory.ExemplarBehavior = new ExemplarBehavior { DefaultExemplarProvider = static (_, _) => Exemplar.None };
        return true;
    }

    /// <summary>The runtime figures that explain a stall: time paused by the GC, and the thread pool's threads and backlog.</summary>
    private static void CollectRuntime()
    {
        GcPause.IncTo(GC.GetTotalPauseDuration().TotalSeconds);
        ThreadPoolThreads.Set(ThreadPool.ThreadCount);
        ThreadPoolQueue.Set(ThreadPool.PendingWorkItemCount);
    }

    // ---- The runtime (with prometheus-net's process metrics) ----

    /// <summary>Time the garbage collector paused the process's threads since it started (<see cref="GC.GetTotalPauseDuration"/>).</summary>
    public static readonly Counter GcPause = Metrics.CreateCounter("dotnet_gc_pause_seconds_total",
        "Time the .NET garbage collector paused the process's threads since it started.");

    /// <summary>Thread-pool threads now (<see cref="ThreadPool.ThreadCount"/>).</summary>
    public static readonly Gauge ThreadPoolThreads = Metrics.CreateGauge("dotnet_threadpool_threads", "Thread-pool threads now.");

    /// <summary>Work items queued to the thread pool and not started yet (<see cref="ThreadPool.PendingWorkItemCount"/>): a backlog that stays up means starved threads.</summary>
    public static readonly Gauge ThreadPoolQueue = Metrics.CreateGauge("dotnet_threadpool_queue_length",
        "Work items queued to the .NET thread pool and not started yet; a backlog that stays up means its threads are starved.");

    /// <summary>Makes sure the registry is configured (the default metrics chosen, every PinPipe metric created) before anything exports it.</summary>
    internal static bool EnsureCreated() => Configured;

    // ---- Ingest: the HTTP API ----

    /// <summary>Requests answered, by route family (<c>kafka-rest</c>, <c>kinesis</c>, <c>other</c>), topic (empty when the request named none that exists) and HTTP status.</summary>
    public static readonly Counter IngestRequests = Metrics.CreateCounter("pinpipe_ingest_requests_total",
        "Requests the ingest API answered, by route family, topic and HTTP status (403 and 429 refusals included).", "family", "topic", "status");

    /// <summary>Records the requests carried, by route family, topic and status (a 2xx wrote them all, any other status none).</summary>
    public static readonly Counter IngestRecords = Metrics.CreateCounter("pinpipe_ingest_records_total",
        "Records the ingest API's produce requests carried, by route family, topic and HTTP status (a 2xx wrote them all, any other status none).", "family", "topic", "status");

    /// <summary>Request body bytes, by route family, topic and status.</summary>
    public static readonly Counter IngestBytes = Metrics.CreateCounter("pinpipe_ingest_request_bytes_total",
        "Request body bytes the ingest API received, by route family, topic and HTTP status.", "family", "topic", "status");

    /// <summary>
    /// From the request's arrival to its answer, by route family and topic. Its buckets are a quarter of a doubling apart
    /// (<see cref="IngestDurationBounds"/>), not a doubling as the other durations': a quantile is interpolated linearly
    /// within its bucket (Prometheus' <c>histogram_quantile</c>) as if the requests were spread evenly over it, while a
    /// latency's tail thins out across it. Within buckets a doubling wide, a small shift of the tail moved an interpolated
    /// p99 near a bound (8 ms, say) by far more than the requests' own p99 moved; within buckets 19 % wide it follows them.
    /// </summary>
    public static readonly Histogram IngestDuration = Metrics.CreateHistogram("pinpipe_ingest_request_duration_seconds",
        "Time from a request's arrival to its answer (the records durable in the log for a 2xx), by route family and topic; buckets 2^(1/4) apart.",
        new HistogramConfiguration { LabelNames = ["family", "topic"], Buckets = IngestDurationBounds() });

    /// <summary>
    /// The ingest duration's bucket bounds: 0.125 ms × 2^(i/4) for i = 0 … 64, to 8.192 s. Every fourth, from 0.25 ms, is
    /// exactly a bound of the doubling buckets it had before (0.25 ms × 2^k), so a quantile from the old layout can still be
    /// taken from it.
    /// </summary>
    public static double[] IngestDurationBounds() => [.. Enumerable.Range(0, 65).Select(i => 0.000125 * Math.Pow(2, i / 4.0))];

    // ---- Log ----

    /// <summary>A partition's end offset (high watermark): the offset its next record gets.</summary>
    public static readonly Gauge LogEndOffset = Metrics.CreateGauge("pinpipe_log_end_offset",
        "A topic partition's end offset (high watermark): the offset its next record gets.", "topic", "partition");

    /// <summary>A partition's first offset still held (retention moves it).</summary>
    public static readonly Gauge LogStartOffset = Metrics.CreateGauge("pinpipe_log_start_offset",
        "A topic partition's first offset still held (log start; retention moves it).", "topic", "partition");

    /// <summary>Bytes of keys and values a partition holds: the embedded log only (Kafka brokers export their own sizes).</summary>
    public static readonly Gauge LogBytes = Metrics.CreateGauge("pinpipe_log_bytes",
        "Bytes of record keys and values a topic partition holds (the embedded log; Kafka brokers export their own sizes).", "topic", "partition");

    /// <summary>Time the embedded log's writer waited before its next group while a consumer's write (an offset commit, a heartbeat) had its turn.</summary>
    public static readonly Counter LogWriterYield = Metrics.CreateCounter("pinpipe_log_writer_yield_seconds_total",
        "Time the embedded log's writer waited before its next group of appends while a consumer's write (an offset commit, a group heartbeat) had its turn at the write lock.");

    /// <summary>
    /// Time the embedded log's writer spent on groups of appends, by step: <c>write</c> (the rows of a group), <c>commit</c>
    /// (its WAL frames written and flushed to disk: the durable ack's fsync), <c>checkpoint</c> (the WAL copied into the
    /// database file between groups). Near one second per second, the writer is the API's bottleneck.
    /// </summary>
    public static readonly Counter LogWriterBusy = Metrics.CreateCounter("pinpipe_log_writer_busy_seconds_total",
        "Time the embedded log's writer spent on groups of appends, by step: write (the group's rows), commit (its WAL frames written and flushed to disk), "
        + "checkpoint (the WAL copied into the database file between groups). Near one second per second, the writer is the bottleneck.", "step");

    /// <summary>Groups the embedded log's writer committed: one transaction and one fsync each, shared by the appends in it.</summary>
    public static readonly Counter LogWriterGroups = Metrics.CreateCounter("pinpipe_log_writer_groups_total",
        "Groups of appends the embedded log's writer committed, each one transaction and one flush to disk shared by its appends.");

    /// <summary>Appends (produce requests, PutRecord(s) calls) committed in those groups: appends / groups is the group size.</summary>
    public static readonly Counter LogWriterAppends = Metrics.CreateCounter("pinpipe_log_writer_appends_total",
        "Appends (a produce request, a PutRecord or PutRecords call) the embedded log's writer committed; divided by the groups, the appends sharing one flush.");

    // ---- Object store (S3) ----

    /// <summary>Failed requests to the S3 object store, by S3 operation (<c>PutObject</c>, <c>GetObject</c>, ...) and kind of failure.</summary>
    public static readonly Counter ObjectStoreErrors = Metrics.CreateCounter("pinpipe_object_store_errors_total",
        "Failed requests to the S3 object store, by S3 operation and kind of failure (throttled, server_error, timeout, connection, "
        + "bucket_missing, access_denied, credentials, refused, bad_answer); each failed attempt counts, retried or not.", "operation", "kind");

    /// <summary>Requests to the S3 object store sent again after a transient failure, by S3 operation.</summary>
    public static readonly Counter ObjectStoreRetries = Metrics.CreateCounter("pinpipe_object_store_retries_total",
        "Requests to the S3 object store sent again after a transient failure (5xx, throttling, a timeout, a broken connection), by S3 operation.", "operation");

    // ---- Sink ----

    /// <summary>The sink group's committed offset per partition: every record below it is in the bucket.</summary>
    public static readonly Gauge SinkCommittedOffset = Metrics.CreateGauge("pinpipe_sink_committed_offset",
        "The sink's committed offset per topic partition: every record below it is in an object in the bucket.", "topic", "partition");

    /// <summary>Records in the log past the sink's committed offset.</summary>
    public static readonly Gauge SinkLag = Metrics.CreateGauge("pinpipe_sink_lag",
        "Records of a topic partition past the sink's committed offset (end offset - committed offset).", "topic", "partition");

    /// <summary>Records in objects written and committed.</summary>
    public static readonly Counter SinkRecords = Metrics.CreateCounter("pinpipe_sink_records_total",
        "Records the sink wrote into committed objects, by topic.", "topic");

    /// <summary>Objects written and committed.</summary>
    public static readonly Counter SinkObjects = Metrics.CreateCounter("pinpipe_sink_objects_total",
        "Objects the sink wrote and committed, by topic.", "topic");

    /// <summary>Bytes of those objects.</summary>
    public static readonly Counter SinkBytes = Metrics.CreateCounter("pinpipe_sink_bytes_total",
        "Bytes of the objects the sink wrote and committed, by topic.", "topic");

    /// <summary>Failed attempts that restarted a partition from its committed offset.</summary>
    public static readonly Counter SinkFailures = Metrics.CreateCounter("pinpipe_sink_failures_total",
        "Failed attempts (store or log errors) that restarted a partition from its committed offset, by topic.", "topic");

    /// <summary>From the put of an object to the commit of its offsets.</summary>
    public static readonly Histogram SinkFlushDuration = Metrics.CreateHistogram("pinpipe_sink_flush_duration_seconds",
        "Time to flush one object: its upload to the bucket and the commit of its offsets, by topic.",
        new HistogramConfiguration { LabelNames = ["topic"], Buckets = Histogram.ExponentialBuckets(0.0005, 2, 16) });

    // ---- Streaming ----

    /// <summary>Records of a stream partition no committed micro-batch holds yet.</summary>
    public static readonly Gauge StreamLag = Metrics.CreateGauge("pinpipe_stream_lag",
        "Records of a stream partition that no committed micro-batch holds yet (as of the stream job's last look).", "stream", "partition");

    /// <summary>From a micro-batch's first record read to its commits.</summary>
    public static readonly Histogram StreamBatchDuration = Metrics.CreateHistogram("pinpipe_stream_batch_duration_seconds",
        "Time from a micro-batch's first record read to its Delta commits, by table.",
        new HistogramConfiguration { LabelNames = ["table"], Buckets = Histogram.ExponentialBuckets(0.005, 2, 14) });

    /// <summary>Time of each step of a committed micro-batch, by table and step.</summary>
    public static readonly Histogram StreamBatchStep = Metrics.CreateHistogram("pinpipe_stream_batch_step_seconds",
        "Time of each step of a committed micro-batch, by table and step: collect (first record read to the micro-batch closed), clean (the rules and the key check), write (the Parquet files), commit (both Delta commits).",
        new HistogramConfiguration { LabelNames = ["table", "step"], Buckets = Histogram.ExponentialBuckets(0.001, 2, 16) });

    /// <summary>Records per micro-batch.</summary>
    public static readonly Histogram StreamBatchRecords = Metrics.CreateHistogram("pinpipe_stream_batch_records",
        "Records per committed micro-batch, by table.",
        new HistogramConfiguration { LabelNames = ["table"], Buckets = Histogram.ExponentialBuckets(1, 4, 10) });

    /// <summary>Micro-batches committed.</summary>
    public static readonly Counter StreamBatches = Metrics.CreateCounter("pinpipe_stream_batches_total",
        "Micro-batches the stream job committed, by table.", "table");

    /// <summary>Rows by what became of them: clean, duplicate (dropped) or reject.</summary>
    public static readonly Counter StreamRows = Metrics.CreateCounter("pinpipe_stream_rows_total",
        "Records the stream job committed, by table and outcome (clean rows appended, duplicates dropped, rejects appended).", "table", "outcome");

    /// <summary>Compaction commits.</summary>
    public static readonly Counter StreamCompactions = Metrics.CreateCounter("pinpipe_stream_compactions_total",
        "Compaction commits of the stream job (clean and reject tables), by table.", "table");

    /// <summary>Compactions of the stream job that failed beside the micro-batches (each logged as an error; the micro-batches go on), by table.</summary>
    public static readonly Counter StreamCompactionFailures = Metrics.CreateCounter("pinpipe_stream_compaction_failures_total",
        "Compactions of the stream job that failed beside the micro-batches (logged as errors; the table keeps its small files and the next is tried after a backoff), by table.", "table");

    /// <summary>Clean-table files the micro-batches' duplicate checks met, by how their keys were had.</summary>
    public static readonly Counter StreamKeyFiles = Metrics.CreateCounter("pinpipe_stream_key_files_total",
        "Clean-table files the stream job's duplicate checks met, summed over the micro-batches, by table and source: skipped (their ind stats rule out every new key), cached (the key cache held their keys), read (read from the table).", "table", "source");

    /// <summary>What each table's key cache holds.</summary>
    public static readonly Gauge StreamKeyCacheBytes = Metrics.CreateGauge("pinpipe_stream_key_cache_bytes",
        "Bytes of clean-table keys the stream job keeps between micro-batches (8 a key; at most Stream:KeyCacheBytes), by table.", "table");

    /// <summary>The clean table's Delta version after the last commit.</summary>
    public static readonly Gauge StreamTableVersion = Metrics.CreateGauge("pinpipe_stream_table_version",
        "The streaming clean table's Delta version after the stream job's last commit.", "table");

    // ---- Batch ----

    /// <summary>Batch runs by outcome: <c>success</c>, <c>nothing_new</c> or <c>failed</c>.</summary>
    public static readonly Counter BatchRuns = Metrics.CreateCounter("pinpipe_batch_runs_total",
        "Batch runs, by outcome (success, nothing_new, failed).", "outcome");

    /// <summary>A batch run's duration, by outcome.</summary>
    public static readonly Histogram BatchDuration = Metrics.CreateHistogram("pinpipe_batch_run_duration_seconds",
        "Batch run durations, by outcome.",
        new HistogramConfiguration { LabelNames = ["outcome"], Buckets = Histogram.ExponentialBuckets(0.25, 2, 16) });

    /// <summary>When the last batch run of each outcome ended (Unix seconds).</summary>
    public static readonly Gauge BatchLastRun = Metrics.CreateGauge("pinpipe_batch_last_run_timestamp_seconds",
        "When the last batch run of each outcome ended, in Unix seconds.", "outcome");

    /// <summary>The last successful run's records per table: read, clean, duplicates, rejects.</summary>
    public static readonly Gauge BatchRows = Metrics.CreateGauge("pinpipe_batch_last_run_records",
        "The last successful batch run's new records per table, by what became of them (read, clean, duplicates, rejects).", "table", "outcome");

    /// <summary>Rows of each clean table after the last successful run.</summary>
    public static readonly Gauge BatchTableRows = Metrics.CreateGauge("pinpipe_batch_table_rows",
        "Rows in each batch clean table after the last successful run.", "table");

    /// <summary>The last successful run's quality counts: values each cleaning rule nulled or converted, per table and column.</summary>
    public static readonly Gauge BatchQuality = Metrics.CreateGauge("pinpipe_batch_last_run_quality",
        "The last successful batch run's quality counts: values each cleaning rule nulled or converted, by table, column and rule.", "table", "column", "rule");

    /// <summary>The last successful run's rejects per table and reason.</summary>
    public static readonly Gauge BatchRejects = Metrics.CreateGauge("pinpipe_batch_last_run_rejects",
        "The last successful batch run's rejected records, by table and reason.", "table", "reason");
}
