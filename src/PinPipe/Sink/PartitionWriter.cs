using System.Buffers;
using Microsoft.Extensions.Logging;
using PinPipe.Lake;
using PinPipe.Log;

namespace PinPipe.Sink;

/// <summary>
/// Writes one topic-partition into objects: reads from the group's committed offset, buffers values in one
/// pooled buffer, writes an object when it holds <see cref="SinkOptions.FlushSize"/> records (or on the
/// rotation schedule), then commits. One instance per attempt; a failed attempt is replaced by a new one.
/// </summary>
internal sealed class PartitionWriter
{
    private const int InitialBufferBytes = 64 * 1024;

    private readonly ILog _log;
    private readonly IObjectStore _store;
    private readonly SinkOptions _options;
    private readonly string _topic;
    private readonly int _partition;
    private readonly TopicCounters _counters;
    private readonly TimeProvider _time;
    private readonly ILogger _logger;
    private readonly int _readBatchSize;
    private readonly Func<long> _flushRequests;
    private long _flushRequestsSeen;

    private byte[] _buffer = [];
    private int _length;
    private int _count;
    private long _startOffset;
    private long _lastWrittenOffset;
    private DateTimeOffset _openedAt;
    private long _committed;
    private byte[]? _recovering; // the uncommitted object being rebuilt, or null

    internal PartitionWriter(ILog log, IObjectStore store, SinkOptions options, string topic, int partition,
        TopicCounters counters, TimeProvider time, ILogger logger, int readBatchSize, Func<long> flushRequests)
    {
        _flushRequests = flushRequests;
        _flushRequestsSeen = flushRequests();
        _log = log;
        _store = store;
        _options = options;
        _topic = topic;
        _partition = partition;
        _counters = counters;
        _time = time;
        _logger = logger;
        _readBatchSize = readBatchSize;
    }

    /// <summary>Runs until cancelled (throws <see cref="OperationCanceledException"/>) or until the log or store fails.</summary>
    internal async Task RunAsync(CancellationToken cancellationToken)
    {
        _buffer = ArrayPool<byte>.Shared.Rent(InitialBufferBytes);
        try
        {
            await RunCoreAsync(cancellationToken).ConfigureAwait(false);
        }
        catch (LogException e) when (e.Code == LogErrorCode.UnknownTopic)
        {
            await Incarnation().ConfigureAwait(false); // deleted (or created again): say so; else a passing error, retried
            throw;
        }
        finally
        {
            // Whatever is buffered is dropped uncommitted, as Confluent's close() does: the next attempt re-reads it.
            ArrayPool<byte>.Shared.Return(_buffer);
            _buffer = [];
        }
    }

    /// <summary>Throws when the topic is no longer the incarnation the sink verified (deleted or created again); run before each object is written.</summary>
    internal Func<Task> Incarnation { get; init; } = () => Task.CompletedTask;

    /// <summary>True once this attempt committed an offset.</summary>
    internal bool MadeProgress { get; private set; }

    private async Task RunCoreAsync(CancellationToken cancellationToken)
    {
        long? committed = await _log.GetCommittedOffsetAsync(_options.GroupId, _topic, _partition, cancellationToken).ConfigureAwait(false);
        long next = committed ?? (await _log.GetWatermarksAsync(_topic, _partition, cancellationToken).ConfigureAwait(false)).Low;
        _committed = next;
        _logger.LogInformation("Sinking {Topic}[{Partition}] from offset {Offset} ({Source})", _topic, _partition, next,
            committed is null ? "log start, no committed offset" : "committed offset");

        bool firstObject = true; // the only object that may already exist uncommitted
        while (true)
        {
            cancellationToken.ThrowIfCancellationRequested();
            IReadOnlyList<ConsumedRecord> batch = await _log.ReadAsync(_topic, _partition, next, _readBatchSize, cancellationToken).ConfigureAwait(false);
            if (batch.Count == 0)
            {
                // Caught up: an open object is committed now when a flush was asked for since it opened.
                long requests = _flushRequests();
                bool flushAsked = requests != _flushRequestsSeen;
                _flushRequestsSeen = requests;
                if (_recovering is null && (RotationDue() || (flushAsked && _count > 0)))
                {
                    await FlushAsync(cancellationToken).ConfigureAwait(false);
                    firstObject = false;
                    continue;
                }
                if (_count == 0 && next > _committed)
                {
                    // Only null values since the last object: nothing to write, move the group past them.
                    await CommitAsync(next, cancellationToken).ConfigureAwait(false);
                }
                await _log.WaitForDataAsync(_topic, _partition, next, WaitTime(), cancellationToken).ConfigureAwait(false);
                continue;
            }

            foreach (ConsumedRecord record in batch)
            {
                if (record.Offset < next) continue;
                next = record.Offset + 1;
                Interlocked.Increment(ref _counters.RecordsRead);
                if (record.Value is null)
                {
                    Interlocked.Increment(ref _counters.NullValuesSkipped);
                    continue;
                }
                if (_count == 0)
                {
                    _startOffset = record.Offset;
                    _openedAt = _time.GetUtcNow();
                    if (firstObject) _recovering = await RecoverBoundaryAsync(cancellationToken).ConfigureAwait(false);
                }
                Append(record.Value);
                _lastWrittenOffset = record.Offset;
                if (_recovering is not null ? Recovered(record.Offset) : _count >= _options.FlushSize)
                {
                    await FlushAsync(cancellationToken).ConfigureAwait(false);
                    firstObject = false;
                    _recovering = null;
                }
            }
            if (_recovering is null && RotationDue())
            {
                await FlushAsync(cancellationToken).ConfigureAwait(false);
                firstObject = false;
            }
        }
    }

    /// <summary>
    /// When an object already exists at the key of the first object (written before a crash but not committed),
    /// it is rebuilt byte for byte: the records are encoded again from the log and the object ends where the
    /// bytes end (<see cref="Recovered"/>). Nothing in a value can move that boundary; an object the records do
    /// not rebuild exactly stops the sink rather than being overwritten.
    /// </summary>
    private async Task<byte[]?> RecoverBoundaryAsync(CancellationToken cancellationToken)
    {
        string key = S3SinkConnector.ObjectKey(_options.TopicsDir, _topic, _partition, _startOffset, _options.OffsetZeroPadWidth);
        byte[]? existing = await _store.GetAsync(key, cancellationToken).ConfigureAwait(false);
        if (existing is null || existing.Length == 0) return null;
        _logger.LogInformation("Object {Key} exists but was not committed; rebuilding it ({Bytes} bytes) from the log", key, existing.Length);
        return existing;
    }

    /// <summary>
    /// While rebuilding an uncommitted object: true once the buffer holds exactly its bytes; throws when the
    /// buffer stops being a prefix of them.
    /// </summary>
    private bool Recovered(long offset)
    {
        byte[] existing = _recovering!;
        var built = _buffer.AsSpan(0, _length);
        if (built.Length <= existing.Length && built.SequenceEqual(existing.AsSpan(0, built.Length)))
            return built.Length == existing.Length;
        string key = S3SinkConnector.ObjectKey(_options.TopicsDir, _topic, _partition, _startOffset, _options.OffsetZeroPadWidth);
        int at = built.CommonPrefixLength(existing);
        throw new InvalidDataException(
            $"Object {key} exists but was not committed, and the log's records from offset {_startOffset} do not rebuild it: " +
            $"they differ at byte {at} (record at offset {offset}; the object has {existing.Length} bytes). The sink stops rather " +
            $"than overwrite it; move the object away (it was written by another writer or another version) and restart the sink.");
    }

    private bool RotationDue() =>
        _count > 0 && _options.RotateScheduleInterval is { } interval && _time.GetUtcNow() - _openedAt >= interval;

    private TimeSpan WaitTime()
    {
        TimeSpan wait = _options.PollInterval;
        if (_count > 0 && _options.RotateScheduleInterval is { } interval)
        {
            TimeSpan untilDue = _openedAt + interval - _time.GetUtcNow();
            if (untilDue < wait) wait = untilDue;
        }
        return wait < TimeSpan.FromMilliseconds(1) ? TimeSpan.FromMilliseconds(1) : wait;
    }

    /// <summary>Appends the value as one line of valid JSON (<see cref="RecordLine"/>).</summary>
    private void Append(byte[] value)
    {
        int needed = _length + RecordLine.MaxLineLength(value);
        if (needed > _buffer.Length)
        {
            byte[] bigger = ArrayPool<byte>.Shared.Rent(Math.Max(needed, _buffer.Length * 2));
            _buffer.AsSpan(0, _length).CopyTo(bigger);
            ArrayPool<byte>.Shared.Return(_buffer);
            _buffer = bigger;
        }
        _length += RecordLine.Write(value, _buffer.AsSpan(_length));
        _count++;
    }

    private async Task FlushAsync(CancellationToken cancellationToken)
    {
        string key = S3SinkConnector.ObjectKey(_options.TopicsDir, _topic, _partition, _startOffset, _options.OffsetZeroPadWidth);
        // Every record of the object was read before this check: a topic created again before a read shows here.
        await Incarnation().ConfigureAwait(false);
        await _store.PutAsync(key, _buffer.AsMemory(0, _length), cancellationToken).ConfigureAwait(false);
        await CommitAsync(_lastWrittenOffset + 1, cancellationToken).ConfigureAwait(false);
        Interlocked.Increment(ref _counters.ObjectsWritten);
        Interlocked.Add(ref _counters.RecordsWritten, _count);
        Interlocked.Add(ref _counters.BytesWritten, _length);
        _logger.LogDebug("Wrote {Key}: {Records} records, {Bytes} bytes", key, _count, _length);
        _count = 0;
        _length = 0;
    }

    private async Task CommitAsync(long offset, CancellationToken cancellationToken)
    {
        await _log.CommitOffsetsAsync(_options.GroupId, [new TopicPartitionOffset(_topic, _partition, offset)], cancellationToken).ConfigureAwait(false);
        _committed = offset;
        MadeProgress = true;
    }
}
