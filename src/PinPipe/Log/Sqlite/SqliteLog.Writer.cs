using System.Diagnostics;
using System.Threading.Channels;
using Microsoft.Data.Sqlite;
using Microsoft.Extensions.Logging;

namespace PinPipe.Log.Sqlite;

// The writer, on a thread of its own: the only user of the write connection. Appends queued together share one transaction.
public sealed partial class SqliteLog
{
    private const int MaxGroupRequests = 4096;
    private const long MaxGroupBytes = 8L * 1024 * 1024;

    private SqliteCommand _insertBatch = null!;
    private SqliteParameter _ibTopic = null!, _ibPartition = null!, _ibBase = null!, _ibLast = null!, _ibCount = null!, _ibMaxTs = null!, _ibSize = null!, _ibPayload = null!;
    private SqliteCommand _updateNext = null!;
    private long _pageSize, _groupPages; // the file's page size; the WAL pages the group being written takes (an estimate)
    private SqliteParameter _unTopic = null!, _unPartition = null!, _unNext = null!;

    private void PrepareWriterCommands()
    {
        using (var size = _writer.CreateCommand())
        {
            size.CommandText = "PRAGMA page_size;";
            _pageSize = Convert.ToInt64(size.ExecuteScalar(), System.Globalization.CultureInfo.InvariantCulture);
        }

        _insertBatch = _writer.CreateCommand();
        _insertBatch.CommandText = """
            INSERT INTO batches(topic_id, partition, base_offset, last_offset, record_count, max_timestamp, size_bytes, payload)
            VALUES ($t, $p, $b, $l, $c, $m, $s, $d)
            """;
        _ibTopic = _insertBatch.Parameters.Add("$t", SqliteType.Integer);
        _ibPartition = _insertBatch.Parameters.Add("$p", SqliteType.Integer);
        _ibBase = _insertBatch.Parameters.Add("$b", SqliteType.Integer);
        _ibLast = _insertBatch.Parameters.Add("$l", SqliteType.Integer);
        _ibCount = _insertBatch.Parameters.Add("$c", SqliteType.Integer);
        _ibMaxTs = _insertBatch.Parameters.Add("$m", SqliteType.Integer);
        _ibSize = _insertBatch.Parameters.Add("$s", SqliteType.Integer);
        _ibPayload = _insertBatch.Parameters.Add("$d", SqliteType.Blob);

        _updateNext = _writer.CreateCommand();
        _updateNext.CommandText = "UPDATE partitions SET next_offset = $n WHERE topic_id = $t AND partition = $p";
        _unTopic = _updateNext.Parameters.Add("$t", SqliteType.Integer);
        _unPartition = _updateNext.Parameters.Add("$p", SqliteType.Integer);
        _unNext = _updateNext.Parameters.Add("$n", SqliteType.Integer);
    }

    private void DisposeWriterCommands()
    {
        _insertBatch?.Dispose();
        _updateNext?.Dispose();
    }

    /// <summary>
    /// Starts the writer on a thread of its own. On the thread pool, each wake-up of the writer queued behind the
    /// requests' work items, and each group's fsync held a pool thread; a thread of its own is woken directly by the
    /// append that finds it idle (<see cref="Wake"/>).
    /// </summary>
    private Task StartWriter()
    {
        var done = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var thread = new Thread(() =>
        {
            try
            {
                WriterLoop();
                done.TrySetResult();
            }
#pragma warning disable CA1031 // handed to whoever awaits the writer (close, readiness) instead of ending the process
            catch (Exception ex)
#pragma warning restore CA1031
            {
                done.TrySetException(ex);
            }
        })
        { IsBackground = true, Name = "pinpipe-log-writer" };
        thread.Start();
        return done.Task;
    }

    // The writer's idle wait: it sets _idle before it last looks at the queue, and an enqueue that sees it set wakes it.
    [System.Diagnostics.CodeAnalysis.SuppressMessage("Usage", "CA2213", Justification = "Never disposed on purpose: an append racing the close may still set it; it waits on a monitor and holds no wait handle.")]
    private readonly ManualResetEventSlim _wake = new(false, spinCount: 1);
    private int _idle;

    /// <summary>After an operation was queued (or the queue completed): wakes the writer if it is waiting.</summary>
    private void Wake()
    {
        if (Volatile.Read(ref _idle) != 0) _wake.Set();
    }

    /// <summary>Writer thread: blocks until the queue holds an operation (true) or is completed and empty (false).</summary>
    private bool WaitForWork(ChannelReader<WriteOp> reader)
    {
        while (true)
        {
            if (reader.TryPeek(out _)) return true;
            _wake.Reset();
            Interlocked.Exchange(ref _idle, 1); // a full fence: an enqueue after it sees the flag, or this sees its op below
            if (reader.TryPeek(out _))
            {
                Volatile.Write(ref _idle, 0);
                return true;
            }
            if (reader.Completion.IsCompleted) return false;
            _wake.Wait();
            Volatile.Write(ref _idle, 0);
        }
    }

    private void WriterLoop()
    {
        var reader = _queue.Reader;
        var group = new List<AppendOp>();
        try
        {
            while (WaitForWork(reader))
            {
                long bytes = 0;
                while (group.Count < MaxGroupRequests && bytes < MaxGroupBytes && reader.TryRead(out var op))
                {
                    if (op is AppendOp append)
                    {
                        group.Add(append);
                        bytes += append.Bytes;
                        continue;
                    }

                    if (group.Count > 0) ApplyAppends(group);
                    group.Clear();
                    bytes = 0;
                    ((ExclusiveOp)op).Execute();
                }

                if (group.Count > 0) ApplyAppends(group);
                group.Clear();
            }
        }
#pragma warning disable CA1031 // last resort of the writer loop: every pending caller is failed with the error instead of hanging
        catch (Exception ex)
#pragma warning restore CA1031
        {
            // Not expected: every operation catches its own errors. Fail what is pending so no caller hangs.
            _logger.LogCritical(ex, "The writer of log {Path} stopped", _path);
            _queue.Writer.TryComplete(ex);
            foreach (var op in group) op.Completion.TrySetException(LogErrors.Unavailable("write", ex));
            while (reader.TryRead(out var op))
            {
                if (op is AppendOp a) a.Completion.TrySetException(LogErrors.Unavailable("write", ex));
                else if (op is ExclusiveOp e) e.Execute();
            }
        }
    }

    private static readonly Prometheus.Counter.Child BusyWrite = Observability.PinPipeMetrics.LogWriterBusy.WithLabels("write");
    private static readonly Prometheus.Counter.Child BusyCommit = Observability.PinPipeMetrics.LogWriterBusy.WithLabels("commit");
    private static readonly Prometheus.Counter.Child BusyCheckpoint = Observability.PinPipeMetrics.LogWriterBusy.WithLabels("checkpoint");

    private void ApplyAppends(List<AppendOp> group)
    {
        _turns?.Yield(); // another writer (an offset commit, a heartbeat) is waiting: let it have SQLite's lock first
        var nowMs = _time.GetUtcNow().ToUnixTimeMilliseconds();
        for (var attempt = 1; !TryApplyAppends(group, nowMs, attempt); attempt++)
        {
            Thread.Sleep(SqliteBusy.Backoff(attempt));
        }

        long started = Stopwatch.GetTimestamp();
        _checkpointer?.AfterGroup(_writer); // the group's callers have their answer
        long ticks = Stopwatch.GetTimestamp() - started;
        Interlocked.Add(ref _checkpointTicks, ticks);
        BusyCheckpoint.Inc((double)ticks / Stopwatch.Frequency);
    }

    // The writer's own figures (it alone adds to them), beside the process-wide metrics.
    private long _groups, _groupAppends, _writeTicks, _commitTicks, _checkpointTicks;

    /// <summary>What this log's writer has done: groups committed, appends in them, and its busy time by step (for tests and benchmarks).</summary>
    internal WriterStats Stats => new(Interlocked.Read(ref _groups), Interlocked.Read(ref _groupAppends),
        TimeSpan.FromSeconds((double)Interlocked.Read(ref _writeTicks) / Stopwatch.Frequency),
        TimeSpan.FromSeconds((double)Interlocked.Read(ref _commitTicks) / Stopwatch.Frequency),
        TimeSpan.FromSeconds((double)Interlocked.Read(ref _checkpointTicks) / Stopwatch.Frequency));

    /// <summary>
    /// Writes and commits the group. False when the database stayed busy (a consumer process held the write lock
    /// past the busy timeout) and another attempt is allowed; nothing was then written or completed.
    /// </summary>
    private bool TryApplyAppends(List<AppendOp> group, long nowMs, int attempt)
    {
        var accepted = new List<(AppendOp Op, RecordPosition[] Positions)>(group.Count);
        var touched = new Dictionary<PartitionState, long>();
        _groupPages = 0;
        var pending = new Dictionary<PartitionState, PendingBatch>();
        SqliteTransaction? tx = null;
        long started = Stopwatch.GetTimestamp(), committing = 0;
        try
        {
            tx = _writer.BeginTransaction();
            _insertBatch.Transaction = tx;
            _updateNext.Transaction = tx;
            foreach (var op in group)
            {
                if (op.Topic.Deleted)
                {
                    op.Completion.TrySetException(LogErrors.UnknownTopic(op.Topic.Name));
                    continue;
                }

                accepted.Add((op, PlanAppend(op, pending, nowMs, touched)));
            }

            foreach (var (p, batch) in pending) WriteBatch(p, batch, nowMs, touched);

            foreach (var p in touched.Keys)
            {
                _unTopic.Value = p.TopicId;
                _unPartition.Value = p.Partition;
                _unNext.Value = p.PendingNext;
                _updateNext.ExecuteNonQuery();
            }

            BeforeAppendCommit?.Invoke();
            committing = Stopwatch.GetTimestamp();
            tx.Commit();
        }
#pragma warning disable CA1031 // the group is reverted and each append's caller gets the error (or the group is retried when busy)
        catch (Exception ex)
#pragma warning restore CA1031
        {
            RollBack(tx);
            foreach (var p in touched.Keys) p.Revert();
            if (SqliteBusy.IsBusy(ex) && attempt < SqliteBusy.MaxAttempts)
            {
                _logger.LogWarning("Log {Path}: the database is busy (attempt {Attempt} of {Max}); retrying a group of {Count} appends", _path, attempt, SqliteBusy.MaxAttempts, accepted.Count);
                return false;
            }

            LogException error;
            if (IsDiskFull(ex))
            {
                // One line at most every DiskFullLogInterval: a client retrying against a full disk cannot flood the log.
                error = LogErrors.DiskFull("commit the append", _path, ex);
                if (ShouldLogDiskFull(out int suppressed))
                    _logger.LogError("Log {Path}: the disk is full; a group of {Count} appends was refused and nothing of it written ({Suppressed} more such groups since the last line)", _path, accepted.Count, suppressed);
            }
            else
            {
                _logger.LogError(ex, "Log {Path}: a group of {Count} appends failed to commit", _path, accepted.Count);
                error = LogErrors.Unavailable("commit the append", ex);
            }
            foreach (var (op, _) in accepted) op.Completion.TrySetException(error);
            return true;
        }
        finally
        {
            _insertBatch.Transaction = null;
            _updateNext.Transaction = null;
            tx?.Dispose();
            long ended = Stopwatch.GetTimestamp(), writing = (committing == 0 ? ended : committing) - started;
            Interlocked.Add(ref _writeTicks, writing);
            BusyWrite.Inc((double)writing / Stopwatch.Frequency);
            if (committing != 0)
            {
                Interlocked.Add(ref _commitTicks, ended - committing);
                BusyCommit.Inc((double)(ended - committing) / Stopwatch.Frequency);
            }
        }

        Interlocked.Increment(ref _groups);
        Interlocked.Add(ref _groupAppends, accepted.Count);
        Observability.PinPipeMetrics.LogWriterGroups.Inc();
        Observability.PinPipeMetrics.LogWriterAppends.Inc(accepted.Count);
        foreach (var (p, added) in touched)
        {
            p.SizeBytes += added;
            p.Publish();
        }
        _checkpointer?.Committed(touched.Values.Sum(), (_groupPages + touched.Count) * _pageSize); // and each partition's row

        foreach (var (op, positions) in accepted) op.Completion.TrySetResult(positions);
        return true;
    }

    /// <summary>The shortest time between two "disk full" lines of the writer.</summary>
    private static readonly TimeSpan DiskFullLogInterval = TimeSpan.FromSeconds(10);

    private long _lastDiskFullLine = long.MinValue;
    private int _diskFullSuppressed;

    /// <summary>SQLITE_FULL: the disk (or the database's size limit) is full; the transaction wrote nothing.</summary>
    internal static bool IsDiskFull(Exception ex) => ex is SqliteException { SqliteErrorCode: 13 };

    /// <summary>A write of the writer connection that failed: <see cref="LogErrorCode.DiskFull"/> when the disk is full, else unavailable.</summary>
    private LogException WriteFailed(string what, SqliteException ex) =>
        IsDiskFull(ex) ? LogErrors.DiskFull(what, _path, ex) : LogErrors.Unavailable(what, ex);

    /// <summary>Writer only: whether to log a disk-full refusal now, and how many were left out since the last line.</summary>
    private bool ShouldLogDiskFull(out int suppressed)
    {
        long now = _time.GetTimestamp();
        if (_lastDiskFullLine != long.MinValue && _time.GetElapsedTime(_lastDiskFullLine, now) < DiskFullLogInterval)
        {
            _diskFullSuppressed++;
            suppressed = 0;
            return false;
        }
        _lastDiskFullLine = now;
        suppressed = _diskFullSuppressed;
        _diskFullSuppressed = 0;
        return true;
    }

    /// <summary>
    /// Rolls a failed group's transaction back. SQLite may have rolled it back itself (SQLITE_FULL, SQLITE_IOERR), and
    /// then the ROLLBACK fails harmlessly: that error must not hide the one that failed the group.
    /// </summary>
    private static void RollBack(SqliteTransaction? tx)
    {
        try
        {
            tx?.Dispose();
        }
        catch (SqliteException)
        {
            // Already rolled back by SQLite.
        }
    }

    /// <summary>Small appends of one group that go to one partition are written as one batch row, up to this size.</summary>
    private const long CoalesceBytes = 256 * 1024;

    /// <summary>Records of a group waiting to be written as one batch row of a partition, from <see cref="Base"/> on.</summary>
    private sealed class PendingBatch(long baseOffset)
    {
        public long Base { get; } = baseOffset;
        public List<BatchCodec.Segment> Segments { get; } = [];
        public long Bytes { get; set; }
    }

    /// <summary>
    /// Gives the append's records their offsets (after what the group already took) and queues them per partition:
    /// concurrent small appends share a batch row as they share the fsync (Kafka's producer batching, done at
    /// the log); a row is written once it passes <see cref="CoalesceBytes"/>.
    /// </summary>
    private RecordPosition[] PlanAppend(AppendOp op, Dictionary<PartitionState, PendingBatch> pending, long nowMs, Dictionary<PartitionState, long> touched)
    {
        var positions = new RecordPosition[op.Records.Count];
        if (op.SinglePartition >= 0)
        {
            Plan(op, op.SinglePartition, null, positions, pending, nowMs, touched);
            return positions;
        }

        var byPartition = new SortedDictionary<int, List<int>>();
        for (var i = 0; i < op.PartitionOf.Length; i++)
        {
            if (!byPartition.TryGetValue(op.PartitionOf[i], out var list)) byPartition[op.PartitionOf[i]] = list = [];
            list.Add(i);
        }

        foreach (var (partition, indexes) in byPartition) Plan(op, partition, indexes, positions, pending, nowMs, touched);
        return positions;
    }

    private void Plan(AppendOp op, int partition, List<int>? indexes, RecordPosition[] positions, Dictionary<PartitionState, PendingBatch> pending,
        long nowMs, Dictionary<PartitionState, long> touched)
    {
        var p = op.Topic.Partitions[partition];
        var count = indexes?.Count ?? op.Records.Count;
        var baseOffset = p.PendingNext;
        for (var j = 0; j < count; j++) positions[indexes is null ? j : indexes[j]] = new RecordPosition(partition, baseOffset + j);
        p.PendingNext = baseOffset + count;
        if (!pending.TryGetValue(p, out var batch)) pending[p] = batch = new PendingBatch(baseOffset);
        batch.Segments.Add(new BatchCodec.Segment(op.Records, indexes));
        batch.Bytes += indexes is null ? op.Bytes : op.Bytes * count / Math.Max(1, op.Records.Count);
        if (batch.Bytes >= CoalesceBytes)
        {
            WriteBatch(p, batch, nowMs, touched);
            pending.Remove(p);
        }
    }

    /// <summary>Inserts one batch row holding the queued segments.</summary>
    private void WriteBatch(PartitionState p, PendingBatch batch, long nowMs, Dictionary<PartitionState, long> touched)
    {
        var payload = BatchCodec.Encode(batch.Segments, nowMs, out var count, out var maxTs);
        _ibTopic.Value = p.TopicId;
        _ibPartition.Value = p.Partition;
        _ibBase.Value = batch.Base;
        _ibLast.Value = batch.Base + count - 1;
        _ibCount.Value = count;
        _ibMaxTs.Value = maxTs;
        _ibSize.Value = payload.Length;
        _ibPayload.Value = payload;
        _insertBatch.ExecuteNonQuery();
        _ibPayload.Value = null;
        touched[p] = touched.GetValueOrDefault(p) + payload.Length;
        _groupPages += (payload.Length + _pageSize - 1) / _pageSize + 2; // the WAL frames it takes: its pages, a leaf of the table and of the key
    }

    private bool CreateTopic(string topic, int partitions)
    {
        if (_topics.TryGetValue(topic, out var existing))
        {
            if (existing.Partitions.Length == partitions) return false;
            throw new LogException(LogErrorCode.InvalidTopic, $"Topic '{topic}' already exists with {existing.Partitions.Length} partitions, not {partitions}.");
        }
        TopicRules.CheckLimits(topic, partitions, _topics.Count, _options);

        long id;
        string uuid = TopicIds.New();
        try
        {
            id = SqliteBusy.Run(() => InsertTopic(topic, partitions, uuid));
        }
        catch (SqliteException ex)
        {
            throw WriteFailed($"create topic '{topic}'", ex);
        }

        var states = new PartitionState[partitions];
        for (var i = 0; i < partitions; i++) states[i] = new PartitionState(id, i, 0, 0, 0);
        _topics[topic] = new TopicState(id, topic, states, uuid);
        _logger.LogInformation("Log {Path}: created topic {Topic} with {Partitions} partitions", _path, topic, partitions);
        return true;
    }

    private long InsertTopic(string topic, int partitions, string uuid)
    {
        long id;
        using var tx = _writer.BeginTransaction();
        using (var cmd = _writer.CreateCommand())
        {
            cmd.Transaction = tx;
            cmd.CommandText = "INSERT INTO topics(name, partitions, created_ms, uuid) VALUES ($n, $p, $c, $u) RETURNING topic_id";
            cmd.Parameters.AddWithValue("$n", topic);
            cmd.Parameters.AddWithValue("$u", uuid);
            cmd.Parameters.AddWithValue("$p", partitions);
            cmd.Parameters.AddWithValue("$c", _time.GetUtcNow().ToUnixTimeMilliseconds());
            id = Convert.ToInt64(cmd.ExecuteScalar());
        }

        using (var cmd = _writer.CreateCommand())
        {
            cmd.Transaction = tx;
            cmd.CommandText = "INSERT INTO partitions(topic_id, partition, next_offset, log_start_offset) VALUES ($t, $p, 0, 0)";
            cmd.Parameters.AddWithValue("$t", id);
            var p = cmd.Parameters.Add("$p", SqliteType.Integer);
            for (var i = 0; i < partitions; i++)
            {
                p.Value = i;
                cmd.ExecuteNonQuery();
            }
        }

        tx.Commit();
        return id;
    }

    private bool DeleteTopic(string topic, IReadOnlyCollection<string> consumers)
    {
        if (!_topics.TryGetValue(topic, out var t)) return false;
        try
        {
            SqliteBusy.Run(() => RemoveTopic(t, consumers));
        }
        catch (SqliteException ex)
        {
            throw WriteFailed($"delete topic '{topic}'", ex);
        }

        _topics.TryRemove(topic, out _);
        t.MarkDeleted();
        _logger.LogInformation("Log {Path}: deleted topic {Topic}", _path, topic);
        return true;
    }

    /// <summary>
    /// One transaction: checks that the consumer groups consumed every record (the writer task runs no append meanwhile,
    /// and the transaction's write lock keeps consumer processes' offset commits out), then deletes.
    /// </summary>
    /// <exception cref="LogException"><see cref="LogErrorCode.NotConsumed"/>.</exception>
    private bool RemoveTopic(TopicState t, IReadOnlyCollection<string> consumers)
    {
        using var tx = _writer.BeginTransaction();
        if (consumers.Count > 0)
        {
            var committed = new Dictionary<(string Group, int Partition), long>();
            using (var cmd = _writer.CreateCommand())
            {
                cmd.Transaction = tx;
                cmd.CommandText = "SELECT group_id, partition, next_offset FROM group_offsets WHERE topic = $n";
                cmd.Parameters.AddWithValue("$n", t.Name);
                using var r = cmd.ExecuteReader();
                while (r.Read()) committed[(r.GetString(0), r.GetInt32(1))] = r.GetInt64(2);
            }
            var marks = t.Partitions.Select(p => new Watermarks(Math.Min(p.LogStartOffset, p.NextOffset), p.NextOffset)).ToList();
            if (TopicConsumers.Unconsumed(t.Name, consumers, marks, (g, p) => committed.TryGetValue((g, p), out long o) ? o : null) is { } refused)
                throw refused;
        }
        foreach (var sql in new[]
        {
            "DELETE FROM batches WHERE topic_id = $t",
            "DELETE FROM partitions WHERE topic_id = $t",
            "DELETE FROM topics WHERE topic_id = $t",
            "DELETE FROM group_offsets WHERE topic = $n",
        })
        {
            using var cmd = _writer.CreateCommand();
            cmd.Transaction = tx;
#pragma warning disable CA2100 // constant statements (the array above), values bound as parameters
            cmd.CommandText = sql;
#pragma warning restore CA2100
            cmd.Parameters.AddWithValue("$t", t.Id);
            cmd.Parameters.AddWithValue("$n", t.Name);
            cmd.ExecuteNonQuery();
        }

        tx.Commit();
        return true;
    }

    private bool CommitOffsets(string group, IReadOnlyList<TopicPartitionOffset> offsets)
    {
        foreach (var o in offsets)
        {
            if (!_topics.ContainsKey(o.Topic)) throw LogErrors.UnknownTopic(o.Topic);
        }

        var nowMs = _time.GetUtcNow().ToUnixTimeMilliseconds();
        try
        {
            SqliteBusy.Run(() =>
            {
                using var tx = _writer.BeginTransaction();
                WriteOffsets(_writer, tx, group, offsets, nowMs);
                tx.Commit();
                return true;
            });
        }
        catch (SqliteException ex)
        {
            throw WriteFailed($"commit the offsets of group '{group}'", ex);
        }

        return true;
    }

    /// <summary>Upserts a group's offsets inside the caller's transaction.</summary>
    internal static void WriteOffsets(SqliteConnection connection, SqliteTransaction tx, string group, IReadOnlyList<TopicPartitionOffset> offsets, long nowMs)
    {
        using var cmd = connection.CreateCommand();
        cmd.Transaction = tx;
        cmd.CommandText = """
            INSERT INTO group_offsets(group_id, topic, partition, next_offset, committed_ms) VALUES ($g, $t, $p, $o, $c)
            ON CONFLICT(group_id, topic, partition) DO UPDATE SET next_offset = excluded.next_offset, committed_ms = excluded.committed_ms
            """;
        cmd.Parameters.AddWithValue("$g", group);
        var topic = cmd.Parameters.Add("$t", SqliteType.Text);
        var partition = cmd.Parameters.Add("$p", SqliteType.Integer);
        var offset = cmd.Parameters.Add("$o", SqliteType.Integer);
        cmd.Parameters.AddWithValue("$c", nowMs);
        foreach (var o in offsets)
        {
            topic.Value = o.Topic;
            partition.Value = o.Partition;
            offset.Value = o.Offset;
            cmd.ExecuteNonQuery();
        }
    }
}

/// <summary>An embedded log writer's figures: groups committed (one transaction and fsync each), the appends in them, its busy time by step.</summary>
internal readonly record struct WriterStats(long Groups, long Appends, TimeSpan Write, TimeSpan Commit, TimeSpan Checkpoint)
{
    /// <summary>The writer's busy time, all steps.</summary>
    public TimeSpan Busy => Write + Commit + Checkpoint;
}
