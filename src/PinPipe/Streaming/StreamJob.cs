using System.Globalization;
using PinPipe.Errors;
using PinPipe.Files;
using System.Runtime.ExceptionServices;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;
using PinPipe.DuckDb;
using PinPipe.Lake;
using PinPipe.Log;
using PinPipe.Log.Kinesis;
using PinPipe.Transform;

namespace PinPipe.Streaming;

/// <summary>
/// The streaming lane's job (<c>pinpipe stream</c>), the original Databricks streaming notebook's work: reads the
/// three streams <c>streaming-&lt;U&gt;-pin|geo|user</c> from the log in micro-batches, cleans each with the one
/// definition of <see cref="CleaningRules"/> and appends the rows to the Delta tables <c>&lt;U&gt;_pin_table</c>,
/// <c>&lt;U&gt;_geo_table</c>, <c>&lt;U&gt;_user_table</c> and their rejects to <c>&lt;table&gt;_rejects</c>, exactly once.
/// </summary>
/// <remarks>
/// <para>Exactly once: each table's commit carries, in the same commit, one Delta <c>txn</c> per stream partition
/// (<see cref="AppId"/>, version = the next offset to read), keyed by the stream's topic id: a stream deleted and created
/// again, or behind the tables' offsets, stops the job (<see cref="LogErrorCode.CheckpointMismatch"/>) unless
/// <see cref="StreamOptions.Reset"/> moves the checkpoint to its start. A (re)started job resumes each table from its own
/// offsets, so a crash anywhere (between a table's clean and reject commits too) neither loses nor duplicates a row;
/// a clean table holds one row per <c>ind</c> across micro-batches (keys already committed count as duplicates). A
/// micro-batch without rejects commits to the clean table only; the reject table's position moves with its next commit
/// (the next rejects, <see cref="StreamTable.RejectsHoldLimit"/> after its last one, the table idle, a revocation, a
/// graceful stop), and a restart reads the records after it again for the reject table alone.</para>
/// <para>The three tables run concurrently, each with its own DuckDB. Micro-batches close
/// <see cref="StreamOptions.Trigger"/> apart while records come (<see cref="MicroBatchTrigger"/>), at most that long after
/// their first record, or at <see cref="StreamOptions.MaxBatchRecords"/>.
/// A table with <see cref="StreamOptions.CompactEvery"/> small live files (under <see cref="DefaultSmallFileBytes"/>, 8 MiB) has them rewritten into one file (OPTIMIZE), and files grow tier by tier to <see cref="StreamOptions.CompactTargetBytes"/> (<see cref="StreamCompactor"/>).
/// </para>
/// <para>Several jobs (workers, on any machines) may run on one bucket and tables prefix: they share the streams'
/// partitions as the consumer group <see cref="StreamOptions.GroupId"/> (<see cref="ILog.JoinGroupAsync"/>), each table of
/// a job reading the partitions the job owns, and commit to the same Delta tables with optimistic concurrency. A worker
/// commits only for partitions it owns, and a commit racing a handover loses to the Delta txn conflict check, so each row
/// still lands once.</para>
/// <para>With <see cref="StreamOptions.Source"/> <see cref="StreamSource.Kinesis"/> the streams are Amazon Kinesis streams
/// of the same names: each table reads every shard (<see cref="KinesisStreamInput"/>), its checkpoint the last sequence number
/// per shard in the same txns-with-the-rows way.</para>
/// </remarks>
public sealed class StreamJob
{
    private static readonly RecordKind[] Kinds = [RecordKind.Pin, RecordKind.Geo, RecordKind.User];
    private readonly StreamTable[] _tables;
    private readonly ILogger _logger; // category pinpipe.stream
    private readonly StreamOptions _options;
    private readonly ILog? _log; // null when the streams are Kinesis's
    private readonly LogStreamInput[] _logInputs;
    private readonly IReadOnlyList<string> _streams;
    private readonly string? _severalWritersProblem;
    private readonly string _instance = InstanceFolder();
    private readonly string _dataDir;
    private static int _instances; // why the bucket is not safe for several writers; null when it is

    /// <summary>The tables' work beside the micro-batches (compactions, DuckDB reopens), one piece at a time per two cores across the tables.</summary>
    internal MaintenanceSlot Maintenance { get; } = new(MaintenanceSlot.For(Kinds.Length, Environment.ProcessorCount));

    /// <summary>Files below this size are compaction candidates; larger ones stay as they are, so a compacted file is not rewritten again and again. 8 MiB.</summary>
    internal const long DefaultSmallFileBytes = 8L << 20;

    /// <param name="options">The job's settings (configuration section <c>Stream</c>), valid.</param>
    /// <param name="target">The user id of the streams and tables, the tables' key prefix and the folder for work files.</param>
    /// <param name="log">The log holding the streams (opened as a consumer when it is the embedded log of another process).</param>
    /// <param name="store">The bucket.</param>
    /// <param name="loggerFactory">Progress per micro-batch goes to category <c>pinpipe.stream</c>.</param>
    /// <param name="time">Clock for the trigger and latencies.</param>
    public StreamJob(StreamOptions options, StreamTarget target, ILog log, IObjectStore store, ILoggerFactory? loggerFactory = null, TimeProvider? time = null)
        : this(options, target, log ?? throw new ArgumentNullException(nameof(log)), null, store, loggerFactory, time, DefaultSmallFileBytes)
    {
    }

    /// <summary>A job that reads the streams from Amazon Kinesis (<c>Stream:Source=kinesis</c>): every shard of each stream.</summary>
    /// <param name="options">The job's settings, with <see cref="StreamOptions.Source"/> <see cref="StreamSource.Kinesis"/>.</param>
    /// <param name="target">The user id of the streams and tables, the tables' key prefix and the folder for work files.</param>
    /// <param name="kinesis">The Kinesis client (the caller owns it).</param>
    /// <param name="store">The bucket.</param>
    /// <param name="loggerFactory">Progress per micro-batch goes to category <c>pinpipe.stream</c>.</param>
    /// <param name="time">Clock for the trigger, latencies and polls.</param>
    public StreamJob(StreamOptions options, StreamTarget target, KinesisClient kinesis, IObjectStore store, ILoggerFactory? loggerFactory = null, TimeProvider? time = null)
        : this(options, target, null, kinesis ?? throw new ArgumentNullException(nameof(kinesis)), store, loggerFactory, time, DefaultSmallFileBytes)
    {
    }

    internal StreamJob(StreamOptions options, StreamTarget target, ILog? log, KinesisClient? kinesis, IObjectStore store, ILoggerFactory? loggerFactory, TimeProvider? time, long smallFileBytes)
    {
        ArgumentNullException.ThrowIfNull(options);
        ArgumentNullException.ThrowIfNull(target);
        ArgumentNullException.ThrowIfNull(store);
        if ((options.Source == StreamSource.Kinesis) != (kinesis is not null))
            throw new ArgumentException(kinesis is null
                ? "Stream:Source=kinesis: the job reads Kinesis; give it a KinesisClient (PipelineJobs.Stream does)."
                : "A KinesisClient was given but Stream:Source is log.", nameof(options));
        loggerFactory ??= NullLoggerFactory.Instance;
        var logger = loggerFactory.CreateLogger("pinpipe.stream");
        _logger = logger;
        var clock = time ?? TimeProvider.System;
        _options = options;
        _log = log;
        _streams = target.Names.Streams;
        _dataDir = target.DataDir;
        _severalWritersProblem = ObjectStoreFactory.SeveralWritersProblem(store);
        StreamInput[] inputs = kinesis is not null
            ? [.. _streams.Select(s => new KinesisStreamInput(options, kinesis, s, clock))]
            : [.. _streams.Select(s => new LogStreamInput(options, log!, s, clock))];
        _logInputs = [.. inputs.OfType<LogStreamInput>()];
        _tables = Kinds.Zip(inputs)
            .Select(k => new StreamTable(options, target, k.First, k.Second, store, logger, loggerFactory, clock, smallFileBytes, _instance, Maintenance))
            .ToArray();
    }

    /// <summary>The folder of the jobs' work files under the data folder.</summary>
    internal static string WorkRoot(string dataDir) => Path.Combine(dataDir, "stream-work");

    /// <summary>A job's own folder under <see cref="WorkRoot"/>: <c>&lt;process id&gt;-&lt;n&gt;</c>.</summary>
    internal static string InstanceFolder() => string.Create(CultureInfo.InvariantCulture, $"{Environment.ProcessId}-{Interlocked.Increment(ref _instances)}");

    /// <summary>Deletes the work folders of jobs whose process has ended (killed): their files were never committed.</summary>
    private void DeleteStaleWork()
    {
        string root = WorkRoot(_dataDir);
        if (!Directory.Exists(root)) return;
        foreach (string folder in Directory.GetDirectories(root))
        {
            string name = Path.GetFileName(folder);
            int dash = name.IndexOf('-', StringComparison.Ordinal);
            bool live = dash > 0 && int.TryParse(name.AsSpan(0, dash), NumberStyles.None, CultureInfo.InvariantCulture, out int pid) && LocalProcesses.IsRunning(pid);
            if (live) continue;
            try { Directory.Delete(folder, recursive: true); }
            catch (IOException) { }
            catch (UnauthorizedAccessException) { }
        }
    }

    /// <summary>
    /// On a bucket not known to be safe for several writers: fails the job as soon as the group shares the streams with
    /// another worker (this one owns some of their partitions but not all).
    /// </summary>
    private async Task RefuseSeveralWritersAsync(IGroupMember member, string problem, CancellationToken cancellationToken)
    {
        long seen = -1;
        while (true)
        {
            await member.WaitForChangeAsync(seen, cancellationToken).ConfigureAwait(false);
            seen = member.Generation;
            int owned = member.Assignment.Count;
            if (owned == 0) continue;
            int total = 0;
            foreach (string stream in _streams) total += (await _log!.DescribeTopicAsync(stream, cancellationToken).ConfigureAwait(false))?.Partitions ?? 0;
            if (owned < total)
                throw new StreamException("stream.several_writers", ErrorKind.BadInput,
                    $"Another stream worker of group '{_options.GroupId}' shares the streams (this one owns {owned} of their {total} partitions). {problem}");
        }
    }

    /// <summary>
    /// The Delta <c>txn</c> app id that records a stream partition's next offset for the stream's incarnation
    /// <paramref name="topicId"/> (<see cref="TopicDescription.TopicId"/>): <c>pinpipe-stream:&lt;stream&gt;@&lt;topic id&gt;:&lt;partition&gt;</c>
    /// (<c>@&lt;topic id&gt;.&lt;n&gt;</c> after the n-th <c>--reset earliest</c> of one incarnation; without topic id,
    /// <c>pinpipe-stream:&lt;stream&gt;:&lt;partition&gt;</c>, as tables written before topic ids have it).
    /// </summary>
    public static string AppId(string stream, int partition, string? topicId = null) => StreamCheckpoint.AppId(stream, partition, topicId);

    /// <summary>The clean table's name (<c>&lt;U&gt;_pin_table</c>), plus <c>_rejects</c> for its reject table.</summary>
    public static string TableName(string userId, RecordKind kind, bool rejects = false) =>
        $"{userId}_{CleaningRules.TableName(kind)}_table{(rejects ? "_rejects" : "")}";

    /// <summary>Progress of each table, now.</summary>
    public StreamStats GetStats() => new(_tables.Select(t => t.GetStats()).ToArray());

    /// <summary>
    /// Runs until cancelled: waits for each stream to exist, resumes each table from the offsets its Delta tables
    /// hold and commits micro-batches. Returns when cancelled (a micro-batch being cleaned is dropped and read again
    /// on the next start). Throws when a table fails (a log, store or Delta error); the other tables stop too.
    /// </summary>
    public async Task RunAsync(CancellationToken cancellationToken = default)
    {
        long decay = (long)(_options.ReleaseFreedMemory ? StreamOptions.ReleasedFreedMemoryDecay : _options.FreedMemoryDecay).TotalMilliseconds;
        switch (FreedMemory.SetDecay(decay))
        {
            case DecayResult.Set:
                _logger.LogDebug("Memory that DuckDB frees goes back to the system after {Decay} ms (jemalloc's decay, read back: {Read} ms).", decay, FreedMemory.DirtyDecay(0));
                break;
            case DecayResult.Refused:
                _logger.LogWarning("jemalloc refused a decay of {Decay} ms for the memory DuckDB frees; it keeps its own (read back: {Read} ms).", decay, FreedMemory.DirtyDecay(0));
                break;
            default:
                _logger.LogDebug("This platform's DuckDB has no jemalloc: its freed memory goes back as the C library decides.");
                break;
        }
        DeleteStaleWork();
        using var metrics = StreamMetrics.Register(this);
        using var stop = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        if (_log is null)
        {
            // Kinesis: every shard, no group (see KinesisStreamInput).
            await RunTablesAsync(null, stop, cancellationToken).ConfigureAwait(false);
            return;
        }
        // The stream workers' group shares the streams' partitions among the jobs running; each table reads the ones this job owns.
        IGroupMember member;
        try
        {
            member = await _log.JoinGroupAsync(_options.GroupId, _streams, new GroupMemberOptions
            {
                SessionTimeout = _options.SessionTimeout,
                HeartbeatInterval = _options.Heartbeat,
                ClientId = "pinpipe-stream",
                OnRevoked = (partitions, _) => Task.WhenAll(_tables.Select(t => t.RevokedAsync(partitions))),
            }, cancellationToken).ConfigureAwait(false);
        }
        catch (OperationCanceledException) when (cancellationToken.IsCancellationRequested)
        {
            foreach (var t in _tables) t.Dispose();
            return;
        }
        await using var leave = member.ConfigureAwait(false);
        foreach (var input in _logInputs) input.Member = member;
        await RunTablesAsync(member, stop, cancellationToken).ConfigureAwait(false);
    }

    /// <summary>Runs the tables (and, in a group on a bucket not safe for several writers, the refusal of a second worker) until cancelled or one fails.</summary>
    private async Task RunTablesAsync(IGroupMember? member, CancellationTokenSource stop, CancellationToken cancellationToken)
    {
        var runs = _tables.Select(t => (Func<Task>)(() => t.RunAsync(stop.Token)))
            .Append(() => _severalWritersProblem is null || member is null ? Task.CompletedTask : RefuseSeveralWritersAsync(member, _severalWritersProblem, stop.Token))
            .Select(run => Task.Run(async () =>
        {
            try { await run().ConfigureAwait(false); }
            catch when (!stop.IsCancellationRequested)
            {
                await stop.CancelAsync().ConfigureAwait(false);
                throw;
            }
        }, CancellationToken.None)).ToArray();
        try
        {
            await Task.WhenAll(runs).ConfigureAwait(false);
        }
        catch (Exception)
        {
            var failure = runs.Where(r => r.IsFaulted).Select(r => r.Exception!.GetBaseException()).FirstOrDefault(e => e is not OperationCanceledException);
            if (failure is not null) ExceptionDispatchInfo.Throw(failure);
            if (!cancellationToken.IsCancellationRequested) throw;
        }
        finally
        {
            foreach (var t in _tables) t.Dispose();
            try { Directory.Delete(Path.Combine(WorkRoot(_dataDir), _instance), recursive: true); }
            catch (IOException) { }
            catch (UnauthorizedAccessException) { }
        }
    }
}
