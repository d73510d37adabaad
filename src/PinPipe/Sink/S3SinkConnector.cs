using System.Collections.Concurrent;
using System.Globalization;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;
using PinPipe.Configuration;
using PinPipe.Errors;
using PinPipe.Lake;
using PinPipe.Log;

namespace PinPipe.Sink;

/// <summary>
/// Copies topics from an <see cref="ILog"/> into an <see cref="IObjectStore"/> as Confluent's S3 sink does with
/// <c>DefaultPartitioner</c> and <c>JsonFormat</c>: objects
/// <c>&lt;topics.dir&gt;/&lt;topic&gt;/partition=&lt;p&gt;/&lt;topic&gt;+&lt;p&gt;+&lt;startOffset&gt;.json</c> holding each
/// record's value followed by <c>\n</c>. Records with a null value are skipped and counted
/// (<c>behavior.on.null.values=ignore</c>).
/// </summary>
/// <remarks>
/// <para><b>Exactly once.</b> Every record of the sunk topics ends up in exactly one object, once, across crashes,
/// cancellations, restarts and rebalances, provided the records are still in the log when a worker resumes them. Any
/// number of connectors (workers, on any machines) may share a <see cref="SinkOptions.GroupId"/>: the group gives each
/// partition to one worker at a time (<see cref="IGroupMember"/>); a worker writes an object only while it owns the
/// partition and commits through the group, which refuses a worker that lost it (<see cref="LogErrorCode.Fenced"/>);
/// a revoked partition's open object is dropped and its records left to the new owner, which rebuilds from the
/// committed offset under the same key:</para>
/// <list type="number">
/// <item>an object is written first and the group's offset (last record's offset + 1) committed only after the
/// store has it durably;</item>
/// <item>each partition resumes at the committed offset, and the next object's key is derived from its first
/// record's offset, so an object written but not committed before a crash is overwritten by its rebuilt self;</item>
/// <item>each partition has at most one uncommitted object (the commit follows every put), always at the key of
/// the committed offset, so no stale object can survive beside the rebuilt ones;</item>
/// <item>scheduled rotation (wall clock) makes boundaries non-deterministic, so on start, when an object already
/// exists at the key of the first object, its line count is used as that object's size: the rebuilt object is
/// byte-identical to the existing one, and an object never changes once written (like Confluent's conditional-write
/// recovery, which keeps existing files instead of replacing them).</item>
/// </list>
/// <para><b>Stopping.</b> On cancellation the open objects are discarded without commit, as Confluent's task
/// <c>close()</c> does; their records are read again by the next run.</para>
/// <para><b>Failures.</b> When the store or the log fails, the partition restarts from its committed offset after a
/// backoff (<see cref="RetryBackoff"/>, doubled after each failure in a row, at most 30 s), one warning line each. A
/// permanent failure (<see cref="Retry.IsPermanent"/>: a missing bucket, denied access) fails <see cref="RunAsync"/> at
/// once; a transient one (<see cref="Retry.IsTransient"/>: the endpoint down or overloaded) is retried while it lasts;
/// after <see cref="MaxConsecutiveFailures"/> other failures in a row <see cref="RunAsync"/> fails.</para>
/// </remarks>
public sealed class S3SinkConnector
{
    private readonly ILog _log;
    private readonly IObjectStore _store;
    private readonly SinkOptions _options;
    private readonly ILogger _logger;
    private readonly TimeProvider _time;
    private readonly ConcurrentDictionary<string, TopicCounters> _counters = new(StringComparer.Ordinal);
    private readonly TopicIncarnations _incarnations;

    /// <summary>Creates the connector; <see cref="SinkOptions.Topics"/> must name the topics (the host fills it from <c>PipelineNames.Topics</c>).</summary>
    /// <exception cref="ArgumentException">The options are invalid; the message lists every problem.</exception>
    public S3SinkConnector(ILog log, IObjectStore store, SinkOptions options, ILogger<S3SinkConnector>? logger = null, TimeProvider? timeProvider = null)
    {
        ArgumentNullException.ThrowIfNull(log);
        ArgumentNullException.ThrowIfNull(store);
        ArgumentNullException.ThrowIfNull(options);
        Validate(options);
        _log = log;
        _store = store;
        _options = options;
        _logger = (ILogger?)logger ?? NullLogger.Instance;
        _time = timeProvider ?? TimeProvider.System;
        _incarnations = new TopicIncarnations(log, store, options, _logger);
        foreach (string topic in options.Topics!) _counters.TryAdd(topic, new TopicCounters(topic));
    }

    /// <summary>Wait before a failed partition restarts the first time; doubled after each failure in a row, at most 30 s. Default 1 s.</summary>
    internal TimeSpan RetryBackoff { get; init; } = TimeSpan.FromSeconds(1);

    /// <summary>Failures in a row (without a commit between them) after which <see cref="RunAsync"/> fails; transient store failures do not count. Default 10.</summary>
    internal int MaxConsecutiveFailures { get; init; } = 10;

    /// <summary>How often topics are described again to find new topics and partitions. Default 10 s.</summary>
    internal TimeSpan DiscoveryInterval { get; init; } = TimeSpan.FromSeconds(10);

    /// <summary>
    /// Records per <see cref="ILog.ReadAsync"/>. Default 2,000: a read's records live until they are spooled, and reads of
    /// 10,000 (2.8 MB of records on the benchmark's data) outlived the young generation, so that the garbage collector copied
    /// them and ran full collections (the sink ran 20 % slower; BENCHMARKS.md, "Sink").
    /// </summary>
    internal int ReadBatchSize { get; init; } = 2_000;

    /// <summary>
    /// The object key of Confluent's DefaultPartitioner:
    /// <c>&lt;topicsDir&gt;/&lt;topic&gt;/partition=&lt;p&gt;/&lt;topic&gt;+&lt;p&gt;+&lt;startOffset zero-padded&gt;.json</c>
    /// (<paramref name="topicsDir"/> omitted when blank; longer offsets are not truncated).
    /// </summary>
    public static string ObjectKey(string topicsDir, string topic, int partition, long startOffset, int zeroPadWidth = 10)
    {
        string p = partition.ToString(CultureInfo.InvariantCulture);
        string file = $"{topic}+{p}+{startOffset.ToString("D" + zeroPadWidth.ToString(CultureInfo.InvariantCulture), CultureInfo.InvariantCulture)}.json";
        string path = $"{topic}/partition={p}/{file}";
        return string.IsNullOrWhiteSpace(topicsDir) ? path : $"{topicsDir}/{path}";
    }

    /// <summary>The counters now.</summary>
    /// <summary>
    /// Asks every partition to write and commit its open object once it has read all the records there are,
    /// without waiting for <see cref="SinkOptions.FlushSize"/> or the rotation schedule; <c>pinpipe up</c> calls
    /// it when the emulator is done. Exactly once still holds: the object is committed after it is durable,
    /// and recovery rebuilds any uncommitted object with the boundaries it was written with.
    /// </summary>
    public void CommitOpenObjects() => Interlocked.Increment(ref _flushRequests);

    private long _flushRequests;

    public SinkStats GetStats()
    {
        var topics = _counters.Values.Select(c => c.Snapshot()).OrderBy(t => t.Topic, StringComparer.Ordinal)
            .ToDictionary(t => t.Topic, StringComparer.Ordinal);
        return new SinkStats(
            topics.Values.Sum(t => t.RecordsRead),
            topics.Values.Sum(t => t.RecordsWritten),
            topics.Values.Sum(t => t.NullValuesSkipped),
            topics.Values.Sum(t => t.ObjectsWritten),
            topics.Values.Sum(t => t.BytesWritten),
            topics.Values.Sum(t => t.Failures),
            topics);
    }

    /// <summary>
    /// Joins the sink's consumer group (<see cref="SinkOptions.GroupId"/>) and sinks the partitions the group gives this
    /// worker, one task per partition, until <paramref name="cancellationToken"/> is cancelled; then leaves the group and
    /// completes normally, leaving open objects uncommitted. Any number of workers may run: the group shares the topics'
    /// partitions among them and moves them when one joins or leaves (<see cref="ILog.JoinGroupAsync"/>). Topics that do
    /// not exist yet are picked up when they appear.
    /// </summary>
    /// <exception cref="ObjectStoreException">The bucket cannot be used (missing, access denied): at the first such failure.</exception>
    /// <exception cref="InvalidOperationException">A partition failed <see cref="MaxConsecutiveFailures"/> times in a row (the last error is its inner exception).</exception>
    /// <exception cref="LogException"><see cref="LogErrorCode.CheckpointMismatch"/> at once: a topic was deleted, created again
    /// or truncated (<see cref="TopicIncarnations"/>); the message names it and the way forward.</exception>
    public async Task RunAsync(CancellationToken cancellationToken = default)
    {
        using var stop = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        var run = new SinkRun(this, stop.Token);
        _logger.LogInformation("S3 sink starting: topics {Topics} into {Location}, flush.size {FlushSize}, consumer group {Group}",
            string.Join(", ", _options.Topics!), _store.Location, _options.FlushSize, _options.GroupId);
        using var metrics = SinkMetrics.Register(this, _log, _options);
        IGroupMember? member = null;
        try
        {
            int discoveryFailures = 0;
            while (!stop.IsCancellationRequested)
            {
                try
                {
                    // Each topic's incarnation is verified (and a reset applied) before the group gives out its partitions.
                    await DiscoverAsync(run, stop.Token).ConfigureAwait(false);
                    member ??= await _log.JoinGroupAsync(_options.GroupId, _options.Topics!, new GroupMemberOptions
                    {
                        SessionTimeout = _options.SessionTimeout,
                        HeartbeatInterval = _options.Heartbeat,
                        ClientId = "pinpipe-sink",
                        OnAssigned = (partitions, _) => run.AssignedAsync(partitions),
                        OnRevoked = (partitions, _) => run.RevokedAsync(partitions),
                    }, stop.Token).ConfigureAwait(false);
                    run.Member = member;
                    run.StartWorkers();
                    discoveryFailures = 0;
                }
                catch (Exception e) when (Retry.IsTransient(e) && !stop.IsCancellationRequested)
                {
                    // The log or the bucket cannot be reached now: discovery is tried again after a backoff.
                    TimeSpan delay = Retry.Delay(++discoveryFailures, RetryBackoff);
                    Retry.LogRetry(_logger, "Discovering the topics", e, discoveryFailures, delay);
                    await Task.WhenAny(run.Fatal.Task, Task.Delay(delay, _time, stop.Token)).ConfigureAwait(false);
                    if (run.Fatal.Task.IsCompleted) break;
                    continue;
                }
                Task next = Task.Delay(DiscoveryInterval, _time, stop.Token);
                Task done = await Task.WhenAny(run.Fatal.Task, next, run.Woken).ConfigureAwait(false);
                if (done == run.Fatal.Task) break;
                if (next.IsCanceled) break;
            }
        }
        catch (OperationCanceledException) when (stop.IsCancellationRequested)
        {
        }
        finally
        {
            await stop.CancelAsync().ConfigureAwait(false);
            // Leaving the group revokes every partition (its worker stops first), then releases them to the other workers.
            if (member is not null) await member.DisposeAsync().ConfigureAwait(false);
            await run.StopAllAsync().ConfigureAwait(false);
        }
        if (run.Fatal.Task.IsCompleted)
        {
            Exception error = await run.Fatal.Task.ConfigureAwait(false);
            if (error is LogException { Code: LogErrorCode.CheckpointMismatch } or ObjectStoreException) throw error;
            throw new InvalidOperationException($"The S3 sink stopped: {error.Message}", error);
        }
        _logger.LogInformation("S3 sink stopped; open objects left uncommitted");
    }

    /// <summary>Describes the topics and verifies each topic's incarnation once (and again when its id changes).</summary>
    private async Task DiscoverAsync(SinkRun run, CancellationToken cancellationToken)
    {
        foreach (string topic in _options.Topics!)
        {
            TopicDescription? description = await _log.DescribeTopicAsync(topic, cancellationToken).ConfigureAwait(false);
            if (description is null)
            {
                if (run.Verified.ContainsKey(topic)) throw _incarnations.Deleted(topic);
                if (run.MissingLogged.Add(topic)) _logger.LogWarning("Topic {Topic} does not exist yet; waiting for it", topic);
                continue;
            }
            if (!run.Verified.TryGetValue(topic, out string? topicId))
            {
                await _incarnations.VerifyAsync(description, cancellationToken).ConfigureAwait(false);
                run.Verified[topic] = description.TopicId;
            }
            else if (topicId != description.TopicId) await _incarnations.RequireSameAsync(topic, topicId, cancellationToken).ConfigureAwait(false);
        }
    }

    /// <summary>
    /// One run's partitions: those the group gave this worker, and a task for each of them whose topic was verified.
    /// The member's callbacks (its own loop) and the discovery loop both use it.
    /// </summary>
    private sealed class SinkRun(S3SinkConnector sink, CancellationToken stop)
    {
        private readonly Lock _gate = new();
        private readonly HashSet<(string Topic, int Partition)> _assigned = [];
        private readonly Dictionary<(string Topic, int Partition), (Task Task, CancellationTokenSource Stop)> _workers = [];
        private TaskCompletionSource _wake = new(TaskCreationOptions.RunContinuationsAsynchronously);

        public ConcurrentDictionary<string, string?> Verified { get; } = new(StringComparer.Ordinal); // the incarnation each topic is sunk for
        public HashSet<string> MissingLogged { get; } = new(StringComparer.Ordinal);
        public TaskCompletionSource<Exception> Fatal { get; } = new(TaskCreationOptions.RunContinuationsAsynchronously);
        public IGroupMember? Member { get; set; }

        /// <summary>Completes when the group gave this worker partitions, so the discovery loop starts their tasks at once.</summary>
        public Task Woken
        {
            get { lock (_gate) return _wake.Task; }
        }

        public Task AssignedAsync(IReadOnlyList<LogPartition> partitions)
        {
            TaskCompletionSource wake;
            lock (_gate)
            {
                foreach (var p in partitions) _assigned.Add((p.Topic, p.Partition));
                wake = _wake;
                _wake = new(TaskCreationOptions.RunContinuationsAsynchronously);
            }
            sink._logger.LogInformation("S3 sink: partitions {Partitions} assigned to this worker", string.Join(", ", partitions));
            wake.TrySetResult();
            return Task.CompletedTask;
        }

        /// <summary>Stops the partitions' tasks (their open objects dropped uncommitted) before the group gives them to another worker.</summary>
        public async Task RevokedAsync(IReadOnlyList<LogPartition> partitions)
        {
            var stopping = new List<(Task Task, CancellationTokenSource Stop)>();
            lock (_gate)
            {
                foreach (var p in partitions)
                {
                    _assigned.Remove((p.Topic, p.Partition));
                    if (_workers.Remove((p.Topic, p.Partition), out var worker)) stopping.Add(worker);
                }
            }
            await StopAsync(stopping).ConfigureAwait(false);
            sink._logger.LogInformation("S3 sink: partitions {Partitions} revoked from this worker", string.Join(", ", partitions));
        }

        /// <summary>Starts a task for each assigned partition of a verified topic that has none.</summary>
        public void StartWorkers()
        {
            lock (_gate)
            {
                foreach (var key in _assigned)
                {
                    if (_workers.ContainsKey(key) || !Verified.TryGetValue(key.Topic, out string? topicId) || stop.IsCancellationRequested) continue;
                    var cancel = CancellationTokenSource.CreateLinkedTokenSource(stop);
                    var member = Member!;
                    _workers[key] = (Task.Run(() => sink.RunPartitionAsync(key.Topic, key.Partition, topicId, member, Fatal, cancel.Token), CancellationToken.None), cancel);
                }
                RaiseThreadFloor(_workers.Count);
            }
        }

        public async Task StopAllAsync()
        {
            List<(Task Task, CancellationTokenSource Stop)> all;
            lock (_gate)
            {
                all = [.. _workers.Values];
                _workers.Clear();
            }
            await StopAsync(all).ConfigureAwait(false);
        }

        private static async Task StopAsync(List<(Task Task, CancellationTokenSource Stop)> workers)
        {
            foreach (var (_, cancel) in workers) await cancel.CancelAsync().ConfigureAwait(false);
            await Task.WhenAll(workers.Select(w => w.Task)).ConfigureAwait(false);
            foreach (var (_, cancel) in workers) cancel.Dispose();
        }
    }

    /// <summary>The most thread-pool threads <see cref="RaiseThreadFloor"/> asks for, however many partitions this worker writes.</summary>
    internal const int MaxThreadFloor = 64;

    /// <summary>
    /// The thread pool's floor for <paramref name="writers"/> partition writers: the cores, plus two a writer. A writer holds
    /// a pool thread while it reads and spools (synchronous work), and its flush a second one while it blocks in the put's
    /// <c>fsync</c>s and the offset commit. Below that floor the pool adds threads slowly, and the flushes and their offset
    /// commits waited for one: on 2 cores with 3 partitions the writers spent about a fifth of their time waiting for the
    /// object before to be committed, against 2-4 % with a floor of 10 threads (BENCHMARKS.md, sink).
    /// </summary>
    internal static int ThreadFloor(int writers) => Math.Min(MaxThreadFloor, Environment.ProcessorCount + 2 * writers);

    /// <summary>Raises the thread pool's floor of worker threads to <see cref="ThreadFloor"/>; never lowers it.</summary>
    private static void RaiseThreadFloor(int writers)
    {
        int wanted = ThreadFloor(writers);
        ThreadPool.GetMinThreads(out int workers, out int completionPorts);
        if (workers < wanted) ThreadPool.SetMinThreads(wanted, completionPorts);
    }

    private async Task RunPartitionAsync(string topic, int partition, string? topicId, IGroupMember member, TaskCompletionSource<Exception> fatal, CancellationToken cancellationToken)
    {
        TopicCounters counters = _counters.GetOrAdd(topic, static t => new TopicCounters(t));
        int failuresInARow = 0;
        while (!cancellationToken.IsCancellationRequested)
        {
            var writer = new PartitionWriter(_log, _store, _options, topic, partition, counters, _time, _logger, ReadBatchSize, () => Interlocked.Read(ref _flushRequests), member)
            {
                Incarnation = () => _incarnations.RequireSameAsync(topic, topicId, cancellationToken),
            };
            try
            {
                await writer.RunAsync(cancellationToken).ConfigureAwait(false);
            }
            catch (OperationCanceledException) when (cancellationToken.IsCancellationRequested)
            {
                return;
            }
            catch (LogException e) when (e.Code == LogErrorCode.CheckpointMismatch)
            {
                _logger.LogError("{Topic}[{Partition}]: {Message}", topic, partition, e.Message);
                fatal.TrySetResult(e);
                return;
            }
            catch (LogException e) when (e.Code == LogErrorCode.Fenced)
            {
                // This worker may no longer own the partition (its heartbeats were late): nothing was committed, and the open
                // object is dropped. The group revokes the partition (which stops this task) or renews the lease; until then, wait.
                _logger.LogWarning("{Topic}[{Partition}]: {Message}", topic, partition, e.Message);
                try
                {
                    await Task.Delay(RetryBackoff, _time, cancellationToken).ConfigureAwait(false);
                }
                catch (OperationCanceledException)
                {
                    return;
                }
            }
#pragma warning disable CA1031 // a partition's failure is counted and retried; the sink stops on a permanent one or after MaxConsecutiveFailures in a row
            catch (Exception e)
#pragma warning restore CA1031
            {
                Interlocked.Increment(ref counters.Failures);
                if (writer.MadeProgress) failuresInARow = 0;
                failuresInARow++;
                bool permanent = IsPermanent(e);
                // Transient failures (an endpoint down or overloaded) are retried for as long as they last; others count.
                if (permanent || (!Retry.IsTransient(e) && failuresInARow >= MaxConsecutiveFailures))
                {
                    _logger.LogError("{Topic}[{Partition}] {Why}; stopping the sink: {Error}", topic, partition,
                        permanent ? "failed and retrying cannot help" : $"failed {failuresInARow} times in a row", Retry.Describe(e));
                    _logger.LogDebug(e, "{Topic}[{Partition}] failed with:", topic, partition);
                    fatal.TrySetResult(e);
                    return;
                }
                TimeSpan delay = Retry.Delay(failuresInARow, RetryBackoff);
                Retry.LogRetry(_logger, $"{topic}[{partition}]", e, failuresInARow, delay);
                try
                {
                    await Task.Delay(delay, _time, cancellationToken).ConfigureAwait(false);
                }
                catch (OperationCanceledException)
                {
                    return;
                }
            }
        }
    }

    /// <summary>
    /// A failure retrying cannot help (<see cref="Retry.IsPermanent"/>: a missing bucket, denied access, bad credentials),
    /// except a partition or topic the log no longer knows: the topic's deletion is told apart by discovery (<see cref="TopicIncarnations"/>).
    /// </summary>
    private static bool IsPermanent(Exception e) =>
        Retry.IsPermanent(e) && e is not LogException { Code: LogErrorCode.UnknownTopic or LogErrorCode.UnknownPartition };

    private static void Validate(SinkOptions options) =>
        SettingsProblems.ThrowIfAny(new SettingsProblems()
            .Check(options.Topics is { Count: > 0 }, "Sink:Topics: must name at least one topic (the host fills it from PipelineNames.Topics).")
            .Add(options.Validate()).ToList(), nameof(options));
}
