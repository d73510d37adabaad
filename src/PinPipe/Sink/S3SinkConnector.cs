using System.Collections.Concurrent;
using System.Globalization;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;
using PinPipe.Configuration;
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
/// cancellations and restarts, provided one connector per <see cref="SinkOptions.GroupId"/> runs at a time and the
/// records are still in the log when the connector resumes:</para>
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
/// <para><b>Failures.</b> When the store or the log fails, the partition restarts from its committed offset after
/// <see cref="RetryBackoff"/>; after <see cref="MaxConsecutiveFailures"/> failures in a row <see cref="RunAsync"/> fails.</para>
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

    /// <summary>Wait before a failed partition restarts. Default 1 s.</summary>
    internal TimeSpan RetryBackoff { get; init; } = TimeSpan.FromSeconds(1);

    /// <summary>Failures in a row (without a commit between them) after which <see cref="RunAsync"/> fails. Default 10.</summary>
    internal int MaxConsecutiveFailures { get; init; } = 10;

    /// <summary>How often topics are described again to find new topics and partitions. Default 10 s.</summary>
    internal TimeSpan DiscoveryInterval { get; init; } = TimeSpan.FromSeconds(10);

    /// <summary>Records per <see cref="ILog.ReadAsync"/>. Default 10,000.</summary>
    internal int ReadBatchSize { get; init; } = 10_000;

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
    /// Sinks every partition of the topics, one task per partition, until <paramref name="cancellationToken"/> is
    /// cancelled; then completes normally, leaving open objects uncommitted. Topics that do not exist yet are
    /// picked up when they appear.
    /// </summary>
    /// <exception cref="Exception">A partition failed <see cref="MaxConsecutiveFailures"/> times in a row (the last error is rethrown).</exception>
    /// <exception cref="LogException"><see cref="LogErrorCode.CheckpointMismatch"/> at once: a topic was deleted, created again
    /// or truncated (<see cref="TopicIncarnations"/>); the message names it and the way forward.</exception>
    public async Task RunAsync(CancellationToken cancellationToken = default)
    {
        using var stop = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        var workers = new Dictionary<(string Topic, int Partition), Task>();
        var verified = new Dictionary<string, string?>(StringComparer.Ordinal); // the incarnation each topic is sunk for
        var fatal = new TaskCompletionSource<Exception>(TaskCreationOptions.RunContinuationsAsynchronously);
        var missingLogged = new HashSet<string>(StringComparer.Ordinal);
        _logger.LogInformation("S3 sink starting: topics {Topics} into {Location}, flush.size {FlushSize}", string.Join(", ", _options.Topics!), _store.Location, _options.FlushSize);
        try
        {
            while (!stop.IsCancellationRequested)
            {
                foreach (string topic in _options.Topics!)
                {
                    TopicDescription? description = await _log.DescribeTopicAsync(topic, stop.Token).ConfigureAwait(false);
                    if (description is null)
                    {
                        if (verified.ContainsKey(topic)) throw _incarnations.Deleted(topic);
                        if (missingLogged.Add(topic)) _logger.LogWarning("Topic {Topic} does not exist yet; waiting for it", topic);
                        continue;
                    }
                    if (!verified.TryGetValue(topic, out string? topicId))
                    {
                        await _incarnations.VerifyAsync(description, stop.Token).ConfigureAwait(false);
                        verified[topic] = topicId = description.TopicId;
                    }
                    else if (topicId != description.TopicId) await _incarnations.RequireSameAsync(topic, topicId, stop.Token).ConfigureAwait(false);
                    for (int p = 0; p < description.Partitions; p++)
                    {
                        if (workers.ContainsKey((topic, p))) continue;
                        int partition = p;
                        workers[(topic, p)] = Task.Run(() => RunPartitionAsync(topic, partition, topicId, fatal, stop.Token), CancellationToken.None);
                    }
                }
                Task delay = Task.Delay(DiscoveryInterval, _time, stop.Token);
                Task done = await Task.WhenAny(fatal.Task, delay).ConfigureAwait(false);
                if (done == fatal.Task) break;
                if (delay.IsCanceled) break;
            }
        }
        catch (OperationCanceledException) when (stop.IsCancellationRequested)
        {
        }
        finally
        {
            await stop.CancelAsync().ConfigureAwait(false);
            await Task.WhenAll(workers.Values).ConfigureAwait(false);
        }
        if (fatal.Task.IsCompleted)
        {
            Exception error = await fatal.Task.ConfigureAwait(false);
            if (error is LogException { Code: LogErrorCode.CheckpointMismatch }) throw error;
            throw new InvalidOperationException($"The S3 sink stopped: {error.Message}", error);
        }
        _logger.LogInformation("S3 sink stopped; open objects left uncommitted");
    }

    private async Task RunPartitionAsync(string topic, int partition, string? topicId, TaskCompletionSource<Exception> fatal, CancellationToken cancellationToken)
    {
        TopicCounters counters = _counters.GetOrAdd(topic, static t => new TopicCounters(t));
        int failuresInARow = 0;
        while (!cancellationToken.IsCancellationRequested)
        {
            var writer = new PartitionWriter(_log, _store, _options, topic, partition, counters, _time, _logger, ReadBatchSize, () => Interlocked.Read(ref _flushRequests))
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
#pragma warning disable CA1031 // a partition's failure is counted and retried; the sink stops after MaxConsecutiveFailures in a row
            catch (Exception e)
#pragma warning restore CA1031
            {
                Interlocked.Increment(ref counters.Failures);
                if (writer.MadeProgress) failuresInARow = 0;
                failuresInARow++;
                if (failuresInARow >= MaxConsecutiveFailures)
                {
                    _logger.LogError(e, "{Topic}[{Partition}] failed {Failures} times in a row; stopping the sink", topic, partition, failuresInARow);
                    fatal.TrySetResult(e);
                    return;
                }
                _logger.LogWarning(e, "{Topic}[{Partition}] failed ({Failures} in a row); restarting from the committed offset in {Backoff}", topic, partition, failuresInARow, RetryBackoff);
                try
                {
                    await Task.Delay(RetryBackoff, _time, cancellationToken).ConfigureAwait(false);
                }
                catch (OperationCanceledException)
                {
                    return;
                }
            }
        }
    }

    private static void Validate(SinkOptions options) =>
        SettingsProblems.ThrowIfAny(new SettingsProblems()
            .Check(options.Topics is { Count: > 0 }, "Sink:Topics: must name at least one topic (the host fills it from PipelineNames.Topics).")
            .Add(options.Validate()).ToList(), nameof(options));
}
