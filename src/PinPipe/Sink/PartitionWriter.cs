using System.Buffers;
using Microsoft.Extensions.Logging;
using PinPipe.Files;
using PinPipe.Lake;
using PinPipe.Lake.Delta;
using PinPipe.Log;

namespace PinPipe.Sink;

/// <summary>
/// Writes one topic-partition into objects: reads from the group's committed offset, spools the open object's
/// lines to a local file (so an object's size is bounded by the disk, not the memory), uploads the file as the object
/// (<see cref="IObjectStore.PutFileAsync"/>: streamed, S3 multipart above the threshold) when it holds
/// <see cref="SinkOptions.FlushSize"/> records (or on the rotation schedule), then commits. One instance per attempt;
/// a failed attempt is replaced by a new one.
/// </summary>
[System.Diagnostics.CodeAnalysis.SuppressMessage("Reliability", "CA1001:Types that own disposable fields should be disposable",
    Justification = "The spool file and its folder live only while RunAsync runs, which disposes them when it ends.")]
internal sealed class PartitionWriter
{
    private const int InitialLineBytes = 64 * 1024;
    private const int SpoolBufferBytes = 64 * 1024;

    /// <summary>A read or a flush that takes this long is logged as a warning with its parts' times: the sink's lag grows while it waits.</summary>
    internal static readonly TimeSpan SlowStep = TimeSpan.FromSeconds(1);

    private readonly ILog _log;
    private readonly IObjectStore _store;
    private readonly SinkOptions _options;
    private readonly string _topic;
    private readonly int _partition;
    private readonly TopicCounters _counters;
    private readonly TimeProvider _time;
    private readonly Prometheus.Histogram.Child _flushDuration;
    private readonly ILogger _logger;
    private readonly int _readBatchSize;
    private readonly Func<long> _flushRequests;
    private long _flushRequestsSeen;

    private byte[] _line = [];  // one encoded record
    private readonly RecordBuffer _records = new(); // the last read's records, reused from read to read
    private TempFolder? _folder; // the attempt's spool files
    private string _spoolPath = "";
    private FileStream? _spool;  // the open object's bytes so far
    private long _length;
    private int _count;
    private long _startOffset;
    private long _lastWrittenOffset;
    private DateTimeOffset _openedAt;
    private long _committed;
    private readonly IGroupMember _member; // the group membership through which this worker owns the partition
    private Recovery? _recovering; // the uncommitted object being rebuilt, or null
    private Task? _flushing; // the closed object's upload and offset commit, while the next one is spooled

    internal PartitionWriter(ILog log, IObjectStore store, SinkOptions options, string topic, int partition,
        TopicCounters counters, TimeProvider time, ILogger logger, int readBatchSize, Func<long> flushRequests, IGroupMember member)
    {
        _member = member;
        _flushRequests = flushRequests;
        _flushRequestsSeen = flushRequests();
        _log = log;
        _store = store;
        _options = options;
        _topic = topic;
        _partition = partition;
        _counters = counters;
        _time = time;
        _flushDuration = Observability.PinPipeMetrics.SinkFlushDuration.WithLabels(topic);
        _logger = logger;
        _readBatchSize = readBatchSize;
    }

    /// <summary>Runs until cancelled (throws <see cref="OperationCanceledException"/>) or until the log or store fails.</summary>
    internal async Task RunAsync(CancellationToken cancellationToken)
    {
        _line = ArrayPool<byte>.Shared.Rent(InitialLineBytes);
        _folder = new TempFolder("pinpipe-sink-");
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
            // A flush still in flight ends first (its spool file lives in the folder disposed below). The attempt's own
            // error is the one reported; when the flush fails too (or is cancelled with the attempt), its object stays
            // uncommitted for the next attempt to rebuild.
            if (_flushing is { } flushing)
            {
                _flushing = null;
                try { await flushing.ConfigureAwait(false); }
                catch (Exception e) when (e is not OperationCanceledException)
                {
                    _logger.LogDebug(e, "The flush in flight of {Topic}[{Partition}] failed as the attempt ended", _topic, _partition);
                }
                catch (OperationCanceledException) { }
            }
            // Whatever is buffered is dropped uncommitted, as Confluent's close() does: the next attempt re-reads it.
            ArrayPool<byte>.Shared.Return(_line);
            _line = [];
            _records.Clear();
            if (_spool is not null) await _spool.DisposeAsync().ConfigureAwait(false);
            _spool = null;
            _recovering?.Dispose();
            _recovering = null;
            _folder.Dispose();
            _folder = null;
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
            long readStart = _time.GetTimestamp();
            int read = await _log.ReadIntoAsync(_topic, _partition, next, _readBatchSize, _records, cancellationToken).ConfigureAwait(false);
            if (_time.GetElapsedTime(readStart) is var took && took >= SlowStep)
                _logger.LogWarning("Slow read of {Topic}[{Partition}]: {Millis:0} ms for {Records} records from offset {Offset}", _topic, _partition, took.TotalMilliseconds, read, next);
            if (read == 0)
            {
                // Caught up: the object in flight is committed before anything else happens (a commit of offsets past
                // it, a wait), and an open object is committed now when a flush was asked for since it opened.
                await FlushedAsync().ConfigureAwait(false);
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

            for (int i = 0; i < read; i++)
            {
                long offset = _records.Offset(i);
                if (offset < next) continue;
                next = offset + 1;
                Interlocked.Increment(ref _counters.RecordsRead);
                if (!_records.HasValue(i))
                {
                    Interlocked.Increment(ref _counters.NullValuesSkipped);
                    continue;
                }
                if (_count == 0)
                {
                    _startOffset = offset;
                    _openedAt = _time.GetUtcNow();
                    if (firstObject) _recovering = await RecoverBoundaryAsync(cancellationToken).ConfigureAwait(false);
                }
                Append(_records.Value(i));
                _lastWrittenOffset = offset;
                if (_recovering is not null ? Recovered(offset) : _count >= _options.FlushSize)
                {
                    await FlushAsync(cancellationToken).ConfigureAwait(false);
                    firstObject = false;
                    _recovering?.Dispose();
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
    /// not rebuild exactly stops the sink rather than being overwritten. The existing object is downloaded to a
    /// local file (streamed) and compared as the lines are written.
    /// </summary>
    private async Task<Recovery?> RecoverBoundaryAsync(CancellationToken cancellationToken)
    {
        string key = S3SinkConnector.ObjectKey(_options.TopicsDir, _topic, _partition, _startOffset, _options.OffsetZeroPadWidth);
        string path = _folder!.File("existing-" + Guid.NewGuid().ToString("N"));
        if (!await _store.GetFileAsync(key, path, cancellationToken).ConfigureAwait(false)) return null;
        var existing = new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.Read, SpoolBufferBytes, FileOptions.SequentialScan | FileOptions.DeleteOnClose);
        if (existing.Length == 0)
        {
            await existing.DisposeAsync().ConfigureAwait(false);
            return null;
        }
        _logger.LogInformation("Object {Key} exists but was not committed; rebuilding it ({Bytes} bytes) from the log", key, existing.Length);
        return new Recovery(existing);
    }

    /// <summary>The uncommitted object being rebuilt: a local copy of its bytes, against which each rebuilt line is compared.</summary>
    private sealed class Recovery(FileStream existing) : IDisposable
    {
        private byte[] _chunk = [];

        internal long Length { get; } = existing.Length;

        /// <summary>The position of the first byte where <paramref name="line"/>, written at <paramref name="at"/>, differs from the object; -1 when it matches (the line may not go past the object's end).</summary>
        internal int Mismatch(ReadOnlySpan<byte> line, long at, out long firstDifferent)
        {
            int available = (int)Math.Min(line.Length, Math.Max(0, Length - at));
            if (_chunk.Length < available) _chunk = new byte[Math.Max(available, 2 * _chunk.Length)];
            existing.Position = at;
            existing.ReadExactly(_chunk, 0, available);
            int common = line[..available].CommonPrefixLength(_chunk.AsSpan(0, available));
            firstDifferent = at + common;
            return common == line.Length ? -1 : common;
        }

        public void Dispose() => existing.Dispose();
    }

    /// <summary>
    /// While rebuilding an uncommitted object: true once the spooled lines are exactly its bytes; throws when they
    /// stop being a prefix of them (<see cref="Append"/> compares each line as it is written).
    /// </summary>
    private bool Recovered(long offset)
    {
        if (_mismatchAt < 0) return _length == _recovering!.Length;
        string key = S3SinkConnector.ObjectKey(_options.TopicsDir, _topic, _partition, _startOffset, _options.OffsetZeroPadWidth);
        throw new InvalidDataException(
            $"Object {key} exists but was not committed, and the log's records from offset {_startOffset} do not rebuild it: " +
            $"they differ at byte {_mismatchAt} (record at offset {offset}; the object has {_recovering!.Length} bytes). The sink stops rather " +
            $"than overwrite it; move the object away (it was written by another writer or another version) and restart the sink.");
    }

    private long _mismatchAt = -1;

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

    /// <summary>
    /// Appends the value as one line of valid JSON (<see cref="RecordLine"/>) to the spool file (opened for the object's first
    /// line). The spool is a local file written synchronously: a write lands in the page cache, and an awaited write per
    /// record cost more than the write itself.
    /// </summary>
    private void Append(ReadOnlySpan<byte> value)
    {
        int needed = RecordLine.MaxLineLength(value);
        if (needed > _line.Length)
        {
            ArrayPool<byte>.Shared.Return(_line);
            _line = ArrayPool<byte>.Shared.Rent(needed);
        }
        int n = RecordLine.Write(value, _line);
        if (_spool is null)
        {
            _spoolPath = _folder!.File("object-" + Guid.NewGuid().ToString("N"));
            var options = OwnerOnly.Options(FileMode.CreateNew, FileAccess.Write);
            options.BufferSize = SpoolBufferBytes;
            _spool = new FileStream(_spoolPath, options);
        }
        if (_recovering is not null && _mismatchAt < 0 && _recovering.Mismatch(_line.AsSpan(0, n), _length, out long at) >= 0) _mismatchAt = at;
        _spool.Write(_line, 0, n);
        _length += n;
        _count++;
    }

    /// <summary>
    /// Closes the open object and starts its upload and offset commit (<see cref="PutAndCommitAsync"/>), after the one before
    /// it has committed: the next object is read and spooled while this one is flushed, and at most one object is ever
    /// written but not committed, so a restart rebuilds at most that one (<see cref="RecoverBoundaryAsync"/>). A failed
    /// flush fails the attempt at the next flush or when the writer catches up.
    /// </summary>
    private async Task FlushAsync(CancellationToken cancellationToken)
    {
        string key = S3SinkConnector.ObjectKey(_options.TopicsDir, _topic, _partition, _startOffset, _options.OffsetZeroPadWidth);
        // Every record of the object was read before this check: a topic created again before a read shows here.
        await Incarnation().ConfigureAwait(false);
        // The spool file is closed and handed to the store whole; a store may keep it as the object (a hard link), so it
        // is never written again: the next object gets a new one.
        FileStream spool = _spool!;
        _spool = null;
        await spool.DisposeAsync().ConfigureAwait(false);
        await FlushedAsync().ConfigureAwait(false);
        _flushing = PutAndCommitAsync(key, _spoolPath, _lastWrittenOffset + 1, _count, _length, cancellationToken);
        _count = 0;
        _length = 0;
        _mismatchAt = -1;
    }

    /// <summary>Waits for the object in flight, if any, to be committed; throws its flush's error.</summary>
    private async ValueTask FlushedAsync()
    {
        if (_flushing is not { } flushing) return;
        _flushing = null;
        await flushing.ConfigureAwait(false);
    }

    private async Task PutAndCommitAsync(string key, string spoolPath, long nextOffset, int count, long length, CancellationToken cancellationToken)
    {
        await Task.Yield(); // the reads and spooling of the next object go on meanwhile
        long flushStart = _time.GetTimestamp();
        try
        {
            // Only the partition's owner writes: a worker whose ownership may have run out leaves the key to the new owner.
            if (!_member.Owns(_topic, _partition)) throw NotOwned();
            await _store.PutFileAsync(key, spoolPath, cancellationToken).ConfigureAwait(false);
        }
        finally
        {
            File.Delete(spoolPath);
        }
        TimeSpan put = _time.GetElapsedTime(flushStart);
        await CommitAsync(nextOffset, cancellationToken).ConfigureAwait(false);
        TimeSpan flush = _time.GetElapsedTime(flushStart);
        _flushDuration.Observe(flush.TotalSeconds);
        if (flush >= SlowStep)
            _logger.LogWarning("Slow flush of {Key}: {Put:0} ms to put {Bytes} bytes, {Commit:0} ms to commit the offset", key, put.TotalMilliseconds, length, (flush - put).TotalMilliseconds);
        Interlocked.Increment(ref _counters.ObjectsWritten);
        Interlocked.Add(ref _counters.RecordsWritten, count);
        Interlocked.Add(ref _counters.BytesWritten, length);
        _logger.LogDebug("Wrote {Key}: {Records} records, {Bytes} bytes", key, count, length);
    }

    private async Task CommitAsync(long offset, CancellationToken cancellationToken)
    {
        await _member.CommitAsync([new TopicPartitionOffset(_topic, _partition, offset)], cancellationToken).ConfigureAwait(false);
        _committed = offset;
        MadeProgress = true;
    }

    private LogException NotOwned() =>
        new(LogErrorCode.Fenced, $"{_topic}[{_partition}] is no longer owned by this sink worker (member {_member.MemberId} of group '{_member.Group}'); its open object was dropped for the new owner to write.");
}
