using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;
using PinPipe.Batch;
using PinPipe.Configuration;
using PinPipe.Lake;
using PinPipe.Log;
using PinPipe.Log.Kinesis;
using PinPipe.Sink;
using PinPipe.Streaming;
using PinPipe.Transform;

namespace PinPipe.Verify;

/// <summary>Which reconciliations <see cref="PipelineVerifier"/> runs.</summary>
[Flags]
public enum VerifyLanes
{
    /// <summary>Log ↔ bucket (the sink's topics) and bucket ↔ batch Delta tables.</summary>
    Batch = 1,
    /// <summary>Streams ↔ streaming Delta tables.</summary>
    Stream = 2,
    All = Batch | Stream,
}

/// <summary>
/// <c>pinpipe verify</c>: reconciles the stages after the fact and lists every gap and duplicate. Log ↔ bucket
/// (<see cref="BucketCheck"/>), streams ↔ streaming Delta tables (<see cref="StreamTablesCheck"/>: the log's streams, or
/// Kinesis's when given a client), bucket ↔ batch Delta
/// tables (<see cref="BatchTablesCheck"/>). It only reads: the log as a consumer that commits nothing, the bucket and the
/// tables; it may run beside a live pipeline, whose newest records it then finds not yet consumed (not a problem).
/// </summary>
public sealed class PipelineVerifier
{
    private readonly ILog _log;
    private readonly IObjectStore _store;
    private readonly PipelineNames _names;
    private readonly SinkOptions _sink;
    private readonly BatchOptions _batch;
    private readonly StreamTarget _stream;
    private readonly VerifyOptions _options;
    private readonly ILogger _logger;
    private readonly KinesisClient? _kinesis;

    /// <param name="log">The log the API writes, the sink and the stream job read.</param>
    /// <param name="store">The bucket.</param>
    /// <param name="names">The topics, streams and bucket (SPEC §1).</param>
    /// <param name="sink">The sink's settings: its topics, topics folder and consumer group.</param>
    /// <param name="batch">The batch job's settings: its tables' prefix and its runs' folder.</param>
    /// <param name="stream">Where the stream job writes.</param>
    /// <param name="options">How much to list, read at once, and DuckDB's memory limit.</param>
    /// <param name="logger">Progress lines.</param>
    /// <param name="kinesis">With <c>Stream:Source=kinesis</c>: the Kinesis client whose streams the stream job reads (the caller owns it); null for the log's streams.</param>
    public PipelineVerifier(ILog log, IObjectStore store, PipelineNames names, SinkOptions sink, BatchOptions batch, StreamTarget stream, VerifyOptions options, ILogger? logger = null,
        KinesisClient? kinesis = null)
    {
        ArgumentNullException.ThrowIfNull(log);
        ArgumentNullException.ThrowIfNull(store);
        ArgumentNullException.ThrowIfNull(names);
        ArgumentNullException.ThrowIfNull(sink);
        ArgumentNullException.ThrowIfNull(batch);
        ArgumentNullException.ThrowIfNull(stream);
        ArgumentNullException.ThrowIfNull(options);
        SettingsProblems.ThrowIfAny(options.Validate(), nameof(options));
        (_log, _store, _names, _sink, _batch, _stream, _options) = (log, store, names, sink, batch, stream, options);
        _logger = logger ?? NullLogger.Instance;
        _kinesis = kinesis;
    }

    /// <summary>Runs the reconciliations of <paramref name="lanes"/>; each check's problems are in the report, not thrown.</summary>
    /// <exception cref="LogException">The log cannot be read.</exception>
    /// <exception cref="ObjectStoreException">The bucket cannot be read.</exception>
    public async Task<VerifyReport> RunAsync(VerifyLanes lanes = VerifyLanes.All, CancellationToken cancellationToken = default)
    {
        var checks = new List<VerifyCheck>();
        if (lanes.HasFlag(VerifyLanes.Batch))
        {
            var bucket = new BucketCheck(_log, _store, _sink, _options);
            foreach (string topic in _sink.Topics ?? _names.Topics)
                checks.Add(await TimedAsync(() => bucket.RunAsync(topic, cancellationToken)).ConfigureAwait(false));
            var tables = new BatchTablesCheck(_store, _batch, _sink, _names, _options);
            foreach (var kind in Enum.GetValues<RecordKind>())
                checks.Add(await TimedAsync(() => tables.RunAsync(kind, cancellationToken)).ConfigureAwait(false));
        }
        if (lanes.HasFlag(VerifyLanes.Stream))
        {
            string work = Path.Combine(_stream.DataDir, "verify-work");
            try
            {
                StreamRecords records = _kinesis is null ? new LogStreamRecords(_log, _options) : new KinesisStreamRecords(_kinesis, _options);
                var streams = new StreamTablesCheck(records, _store, _stream, _options, work);
                foreach (var kind in Enum.GetValues<RecordKind>())
                    checks.Add(await TimedAsync(() => streams.RunAsync(kind, cancellationToken)).ConfigureAwait(false));
            }
            finally
            {
                try
                {
                    if (Directory.Exists(work)) Directory.Delete(work, recursive: true);
                }
                catch (IOException)
                {
                    // DuckDB's spill files: left for the next run.
                }
            }
        }
        return new VerifyReport(checks);
    }

    private async Task<VerifyCheck> TimedAsync(Func<Task<VerifyCheck>> run)
    {
        long start = System.Diagnostics.Stopwatch.GetTimestamp();
        var check = await run().ConfigureAwait(false);
        _logger.LogInformation("{Check} {Subject}: {Checked:N0} checked, {Problems:N0} problems in {Seconds:N1} s.",
            check.Check, check.Subject, check.Checked, check.Problems, System.Diagnostics.Stopwatch.GetElapsedTime(start).TotalSeconds);
        return check;
    }
}
