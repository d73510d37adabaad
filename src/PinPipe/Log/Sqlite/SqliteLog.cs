using System.Collections.Concurrent;
using System.Threading.Channels;
using Microsoft.Data.Sqlite;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;
using PinPipe.Configuration;
using PinPipe.Files;
using SQLitePCL;

namespace PinPipe.Log.Sqlite;

/// <summary>
/// The embedded log: one SQLite file in WAL mode with <c>synchronous=FULL</c>. Each append's records of one
/// partition are one row (a batch, as in Kafka). A single writer thread takes every change from a queue and
/// commits concurrent appends together (group commit: one transaction and one fsync for many callers); a
/// completed <see cref="AppendAsync"/> is on disk. Reads use their own pooled connections and never wait for
/// the writer. Only one producer (<see cref="LogAccess.Producer"/>) may have a file open at a time (a <c>.lock</c>
/// file beside it); any number of consumers (<see cref="LogAccess.Consumer"/>, in this or other processes) may open
/// it beside the producer to read and commit group offsets: they read the database, not the producer's memory.
/// </summary>
public sealed partial class SqliteLog : ILog
{
    private readonly LogOptions _options;
    private readonly ILogger _logger;
    private readonly TimeProvider _time;
    private readonly string _path;
    private readonly string _readConnectionString;
    private readonly SqliteConnection _writer;
    private readonly FileStream? _lockFile;
    private readonly bool _consumer;
    private readonly WriterTurns? _turns; // the producer's: its writer loop gives way to other writers' turns
    private WalCheckpointer? _checkpointer; // the producer's: its writer checkpoints the WAL between groups
    [System.Diagnostics.CodeAnalysis.SuppressMessage("Usage", "CA2213", Justification = "Never disposed on purpose: commits still waiting when the log closes must get the gate and see the log closed; it holds no wait handle.")]
    private readonly SemaphoreSlim _commitGate = new(1, 1);
    private readonly ConcurrentDictionary<string, TopicState> _topics;
    private readonly WriteBudget _budget;
    private readonly Channel<WriteOp> _queue = Channel.CreateBounded<WriteOp>(new BoundedChannelOptions(QueueCapacity)
    {
        SingleReader = true,
        FullMode = BoundedChannelFullMode.Wait,
    });
    private Task _writerTask = Task.CompletedTask;
    private ITimer? _retentionTimer;
    private int _retentionQueued;
    private int _disposed;

    /// <summary>The most operations queued for the writer; an append finding the queue full is refused (<see cref="LogErrorCode.Overloaded"/>).</summary>
    private const int QueueCapacity = 16_384;

    private SqliteLog(LogOptions options, ILogger logger, TimeProvider time, string path, SqliteConnection writer, FileStream? lockFile, ConcurrentDictionary<string, TopicState> topics)
    {
        _options = options;
        _consumer = options.Access == LogAccess.Consumer;
        _logger = logger;
        _time = time;
        _path = path;
        _writer = writer;
        _lockFile = lockFile;
        _turns = _consumer ? null : WriterTurns.ForProducer(path);
        _topics = topics;
        _budget = new WriteBudget(options.MaxQueuedBytes, long.MaxValue);
        _readConnectionString = new SqliteConnectionStringBuilder
        {
            DataSource = path,
            Mode = SqliteOpenMode.ReadWrite,
            Pooling = true,
        }.ToString();
    }

    /// <summary>The database file.</summary>
    public string Path => _path;

    /// <summary>The producer's side of the writer turns (null for a consumer).</summary>
    internal WriterTurns? Turns => _turns;

    /// <summary>Whether this instance is the producer (appends, holds the lock) or a consumer of the file.</summary>
    public LogAccess Access => _consumer ? LogAccess.Consumer : LogAccess.Producer;

    /// <summary>Test hook: runs inside each append group's transaction just before the commit (throw to make the commit fail).</summary>
    internal Action? BeforeAppendCommit { get; set; }

    /// <summary>Test hook: the in-memory state the log keeps for a topic (its partitions'), or null when it keeps none.</summary>
    internal object? StateOf(string topic) => _topics.GetValueOrDefault(topic);

    /// <summary>
    /// Opens the log file of <paramref name="options"/>.<see cref="LogOptions.Path"/> as <see cref="LogOptions.Access"/> says:
    /// a producer opens (or creates, with its directory) the file and takes its lock; a consumer opens an existing
    /// file beside its producer, without lock.
    /// </summary>
    /// <exception cref="LogException"><see cref="LogErrorCode.Unavailable"/> when a producer opens a file another producer has open,
    /// or a consumer opens a file that does not exist (yet).</exception>
    /// <exception cref="InvalidOperationException">The file has a newer schema or is not a log database.</exception>
    public static ValueTask<SqliteLog> OpenAsync(LogOptions options, ILogger? logger = null, TimeProvider? time = null, CancellationToken cancellationToken = default) =>
        OpenAsync(options, logger, time, CheckpointSteps.Default, cancellationToken);

    /// <summary>As the public open, with the producer's checkpoint steps given (tests make them small).</summary>
    internal static ValueTask<SqliteLog> OpenAsync(LogOptions options, ILogger? logger, TimeProvider? time, CheckpointSteps checkpoints, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(options);
        SettingsProblems.ThrowIfAny(options.Validate(), nameof(options));
        cancellationToken.ThrowIfCancellationRequested();

        var path = System.IO.Path.GetFullPath(options.Path);
#pragma warning disable CA2000 // the opened log is the caller's to dispose
        if (options.Access == LogAccess.Consumer) return ValueTask.FromResult(OpenConsumer(options, logger, time, path));
#pragma warning restore CA2000
        if (options.Access != LogAccess.Producer) throw new ArgumentException($"Log:Access '{options.Access}' is not one of Producer, Consumer.", nameof(options));

        OwnerOnly.CreateParentDirectory(path);

        FileStream lockFile;
        try
        {
            lockFile = new FileStream(path + ".lock", OwnerOnly.Options(FileMode.OpenOrCreate, FileAccess.ReadWrite));
        }
        catch (IOException ex)
        {
            string owner = OwnerOf(path) is { } pid ? pid == Environment.ProcessId ? "another SqliteLog of this process" : $"process {pid}" : "another process";
            throw new LogException(LogErrorCode.Unavailable,
                $"The log '{path}' is already open by {owner} (a `pinpipe serve` or `pinpipe up`, which writes it): one process at a time writes the embedded log. Stop that process first, or give this one its own --data-dir.",
                ex, where: path);
        }
        WriteOwner(path);

        SqliteConnection? writer = null;
        try
        {
            OwnerOnly.CreateFileIfMissing(path); // 0600; SQLite gives its -wal and -shm files the same mode
            writer = new SqliteConnection(new SqliteConnectionStringBuilder
            {
                DataSource = path,
                Mode = SqliteOpenMode.ReadWriteCreate,
                Pooling = false,
                DefaultTimeout = SqliteBusy.CommandTimeoutSeconds,
            }.ToString());
            writer.Open();
            try
            {
                SqliteBusy.Configure(writer, autocheckpointPages: 0); // the writer checkpoints between its groups (WalCheckpointer)
                SqliteSchema.Prepare(writer, path);
            }
            catch (SqliteException ex)
            {
                throw new LogException(LogErrorCode.Unreadable, $"The file '{path}' cannot be opened as a log database: {ex.Message}", ex, "--log-path, Log:Path");
            }

            var topics = LoadState(writer);
#pragma warning disable CA2000 // the opened log is the caller's to dispose (it owns writer and lockFile from here on)
            var log = new SqliteLog(options, logger ?? NullLogger.Instance, time ?? TimeProvider.System, path, writer, lockFile, topics);
#pragma warning restore CA2000
            log.Start(checkpoints);
            return ValueTask.FromResult(log);
        }
        catch
        {
            writer?.Dispose();
#pragma warning disable CA1849 // a lock file on the failure path of a synchronous open; nothing to flush
            lockFile.Dispose();
#pragma warning restore CA1849
            throw;
        }
    }

    /// <summary>The file beside the log where its producer writes its process id while it holds the lock.</summary>
    private static string OwnerPath(string path) => path + ".lock.pid";

    /// <summary>
    /// The process id of the producer that holds the log at <paramref name="path"/> (written beside the log when it took
    /// the lock), or null when no producer wrote one or it is not running. Meaningful while the lock is held.
    /// </summary>
    public static int? OwnerOf(string path)
    {
        try
        {
            var text = File.ReadAllText(OwnerPath(System.IO.Path.GetFullPath(path))).Trim();
            if (!int.TryParse(text, System.Globalization.NumberStyles.None, System.Globalization.CultureInfo.InvariantCulture, out int pid)) return null;
            return LocalProcesses.IsRunning(pid) ? pid : null;
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException or ArgumentException or InvalidOperationException)
        {
            return null;
        }
    }

    private static void WriteOwner(string path)
    {
        try
        {
            using var owner = new FileStream(OwnerPath(path), OwnerOnly.Options(FileMode.Create, FileAccess.Write, FileShare.Read));
            owner.Write(System.Text.Encoding.ASCII.GetBytes(Environment.ProcessId.ToString(System.Globalization.CultureInfo.InvariantCulture)));
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
        {
            // Only for messages: a log that cannot record its owner still works.
        }
    }

    private static ConcurrentDictionary<string, TopicState> LoadState(SqliteConnection connection)
    {
        var names = new Dictionary<long, (string Name, PartitionState[] Partitions, string Uuid)>();
        using (var cmd = connection.CreateCommand())
        {
            cmd.CommandText = "SELECT topic_id, name, partitions, uuid FROM topics";
            using var r = cmd.ExecuteReader();
            while (r.Read()) names[r.GetInt64(0)] = (r.GetString(1), new PartitionState[r.GetInt32(2)], r.GetString(3));
        }

        var sizes = new Dictionary<(long, int), (long Size, long Next)>();
        using (var cmd = connection.CreateCommand())
        {
            cmd.CommandText = "SELECT topic_id, partition, SUM(size_bytes), MAX(last_offset) FROM batches GROUP BY topic_id, partition";
            using var r = cmd.ExecuteReader();
            while (r.Read()) sizes[(r.GetInt64(0), r.GetInt32(1))] = (r.GetInt64(2), r.GetInt64(3) + 1);
        }

        using (var cmd = connection.CreateCommand())
        {
            cmd.CommandText = "SELECT topic_id, partition, next_offset, log_start_offset FROM partitions";
            using var r = cmd.ExecuteReader();
            while (r.Read())
            {
                var id = r.GetInt64(0);
                var p = r.GetInt32(1);
                if (!names.TryGetValue(id, out var t) || p < 0 || p >= t.Partitions.Length) continue;
                var (size, next) = sizes.GetValueOrDefault((id, p));
                t.Partitions[p] = new PartitionState(id, p, Math.Max(next, r.GetInt64(2)), r.GetInt64(3), size);
            }
        }

        var topics = new ConcurrentDictionary<string, TopicState>(StringComparer.Ordinal);
        foreach (var (id, (name, partitions, uuid)) in names)
        {
            for (var p = 0; p < partitions.Length; p++) partitions[p] ??= new PartitionState(id, p, 0, 0, 0);
            topics[name] = new TopicState(id, name, partitions, uuid);
        }

        return topics;
    }

    /// <summary>The free space the embedded log's disk must have for <c>/readyz</c> to say it takes writes: 64 MiB.</summary>
    internal const long ReadyFreeBytes = 64L << 20;

    /// <summary>
    /// Null while the log takes writes: it is open, its writer runs (a producer's) and its folder's disk has at least
    /// <see cref="ReadyFreeBytes"/> free; else what is wrong.
    /// </summary>
    public ValueTask<string?> CheckReadyAsync(CancellationToken cancellationToken = default)
    {
        if (Volatile.Read(ref _disposed) != 0) return ValueTask.FromResult<string?>($"the log {_path} is closed");
        if (!_consumer && _writerTask.IsCompleted)
        {
            string why = _writerTask.Exception?.GetBaseException().Message is { } m ? $": {m}" : "";
            return ValueTask.FromResult<string?>($"the writer of the log {_path} has stopped{why}");
        }
        string folder = System.IO.Path.GetDirectoryName(System.IO.Path.GetFullPath(_path)) ?? ".";
        long free = new DriveInfo(folder).AvailableFreeSpace;
        return ValueTask.FromResult(free >= ReadyFreeBytes ? null
            : $"the disk of the log's folder {folder} has {free / (1 << 20)} MiB free, under {ReadyFreeBytes / (1 << 20)} MiB");
    }

    /// <summary>Test hook: the producer's checkpointer (null for a consumer).</summary>
    internal WalCheckpointer? Checkpointer => _checkpointer;

    private void Start(CheckpointSteps checkpoints)
    {
        PrepareWriterCommands();
        _checkpointer = new WalCheckpointer(_path, _logger, checkpoints);
        _writerTask = StartWriter();
        if (_options.RetentionTime is not null || _options.RetentionBytes is not null)
            _retentionTimer = _time.CreateTimer(_ => OnRetentionTimer(), null, _options.RetentionCheckInterval, _options.RetentionCheckInterval);
    }

    /// <inheritdoc />
    public async ValueTask CreateTopicAsync(string topic, int partitions, CancellationToken cancellationToken = default)
    {
        ThrowIfConsumer("create topics");
        TopicRules.Validate(topic, partitions);
        await RunExclusiveAsync(() => CreateTopic(topic, partitions), cancellationToken).ConfigureAwait(false);
    }

    /// <inheritdoc />
    public ValueTask<bool> DeleteTopicAsync(string topic, CancellationToken cancellationToken = default) =>
        DeleteTopicAsync(topic, [], cancellationToken);

    /// <inheritdoc />
    /// <remarks>The check and the delete run as one writer operation in one transaction: no append or offset commit comes between them.</remarks>
    public async ValueTask<bool> DeleteTopicAsync(string topic, IReadOnlyCollection<string> consumers, CancellationToken cancellationToken = default)
    {
        ThrowIfConsumer("delete topics");
        ArgumentNullException.ThrowIfNull(topic);
        ArgumentNullException.ThrowIfNull(consumers);
        return await RunExclusiveAsync(() => DeleteTopic(topic, consumers), cancellationToken).ConfigureAwait(false);
    }

    /// <inheritdoc />
    public ValueTask<IReadOnlyList<TopicDescription>> ListTopicsAsync(CancellationToken cancellationToken = default)
    {
        ThrowIfDisposed();
        if (_consumer) return ConsumerListTopicsAsync(cancellationToken);
        IReadOnlyList<TopicDescription> list = _topics.Values
            .Select(t => t.Describe())
            .OrderBy(t => t.Name, StringComparer.Ordinal)
            .ToList();
        return ValueTask.FromResult(list);
    }

    /// <summary>From the writer's state, without a query (a consumer's log asks the database as the default does).</summary>
    public ValueTask<IReadOnlyList<PartitionSummary>> SummarizePartitionsAsync(CancellationToken cancellationToken = default)
    {
        ThrowIfDisposed();
        if (_consumer) return PartitionSummary.FromWatermarksAsync(this, cancellationToken);
        IReadOnlyList<PartitionSummary> list = _topics.Values
            .Where(t => !t.Deleted)
            .OrderBy(t => t.Name, StringComparer.Ordinal)
            .SelectMany(t => t.Partitions.Select(p => new PartitionSummary(t.Name, p.Partition, p.LogStartOffset, p.NextOffset, p.SizeBytes)))
            .ToList();
        return ValueTask.FromResult(list);
    }

    /// <inheritdoc />
    public ValueTask<TopicDescription?> DescribeTopicAsync(string topic, CancellationToken cancellationToken = default)
    {
        ThrowIfDisposed();
        ArgumentNullException.ThrowIfNull(topic);
        if (_consumer) return ConsumerDescribeTopicAsync(topic, cancellationToken);
        return ValueTask.FromResult(_topics.TryGetValue(topic, out var t) ? t.Describe() : null);
    }

    /// <inheritdoc />
    public async ValueTask<IReadOnlyList<RecordPosition>> AppendAsync(string topic, IReadOnlyList<LogRecord> records, CancellationToken cancellationToken = default)
    {
        ThrowIfDisposed();
        ThrowIfConsumer("append");
        ArgumentNullException.ThrowIfNull(topic);
        ArgumentNullException.ThrowIfNull(records);
        if (!_topics.TryGetValue(topic, out var t)) throw LogErrors.UnknownTopic(topic);
        if (records.Count == 0) return [];

        var partitionCount = t.Partitions.Length;
        var partitionOf = new int[records.Count];
        var single = -2;
        var sticky = -1;
        long bytes = 0;
        var max = _options.MaxRecordBytes;
        for (var i = 0; i < records.Count; i++)
        {
            var r = records[i];
            if (r.Value is { Length: var vl } && vl > max) throw LogErrors.RecordTooLarge(topic, i, "value", vl, max);
            if (r.Key is { Length: var kl } && kl > max) throw LogErrors.RecordTooLarge(topic, i, "key", kl, max);
            int p;
            if (r.Partition is { } explicitPartition)
            {
                if (explicitPartition < 0 || explicitPartition >= partitionCount) throw LogErrors.UnknownPartition(topic, explicitPartition, partitionCount);
                p = explicitPartition;
            }
            else if (r.Key is { } key)
            {
                p = partitionCount == 1 ? 0 : KafkaPartitioner.Partition(key.Span, partitionCount);
            }
            else
            {
                if (sticky < 0) sticky = t.NextStickyPartition();
                p = sticky;
            }

            partitionOf[i] = p;
            single = single == -2 ? p : single == p ? p : -1;
            bytes += BatchCodec.RecordSize(r);
        }

        // Refused whole, before anything is queued, when the writer cannot keep up: the caller sheds load (503) instead of
        // waiting in a queue that holds its records' bytes.
        if (!_budget.TryReserve(bytes, records.Count, out long held))
            throw LogErrors.Overloaded(topic, bytes, held, _budget.MaxBytes, "Log:MaxQueuedBytes");
        try
        {
            var op = new AppendOp(t, records, partitionOf, single, bytes);
            if (!TryEnqueue(op)) throw LogErrors.QueueFull(topic, $"the queue of its writer ({QueueCapacity} operations)");
            return await op.Completion.Task.ConfigureAwait(false);
        }
        finally
        {
            _budget.Release(bytes, records.Count);
        }
    }

    /// <inheritdoc />
    public async ValueTask<IReadOnlyList<ConsumedRecord>> ReadAsync(string topic, int partition, long offset, int maxRecords, CancellationToken cancellationToken = default)
    {
        List<ConsumedRecord>? list = null;
        await ReadWithAsync(topic, partition, offset, maxRecords, (from, high) =>
        {
            // Sized for the whole read, below the large-object heap (a list grown past it would be collected with gen 2).
            list = new List<ConsumedRecord>((int)Math.Max(0, Math.Min(Math.Min(maxRecords, high - from), MaxListCapacity)));
            return new ListTarget(list, topic, partition);
        }, cancellationToken).ConfigureAwait(false);
        return list ?? (IReadOnlyList<ConsumedRecord>)[];
    }

    /// <inheritdoc />
    public ValueTask<int> ReadIntoAsync(string topic, int partition, long offset, int maxRecords, RecordBuffer into, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(into);
        into.Clear();
        return ReadWithAsync(topic, partition, offset, maxRecords, (_, _) => new BufferTarget(into), cancellationToken);
    }

    /// <summary>
    /// Reads the records of one partition from <paramref name="offset"/> (clamped up to the log start) into the target that
    /// <paramref name="target"/> makes from the read's range (from, high); returns how many were read.
    /// </summary>
    private async ValueTask<int> ReadWithAsync<T>(string topic, int partition, long offset, int maxRecords, Func<long, long, T> target, CancellationToken cancellationToken)
        where T : IRecordTarget
    {
        ThrowIfDisposed();
        if (_consumer) return await ConsumerReadAsync(topic, partition, offset, maxRecords, target, cancellationToken).ConfigureAwait(false);
        var (t, p) = Resolve(topic, partition);
        ArgumentOutOfRangeException.ThrowIfNegative(offset);
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(maxRecords);
        var from = Math.Max(offset, p.LogStartOffset);
        var high = p.NextOffset;
        if (from >= high) return 0;

        try
        {
            await using var connection = new SqliteConnection(_readConnectionString);
            await connection.OpenAsync(cancellationToken).ConfigureAwait(false);
            return ReadBatches(connection, t.Id, t.Name, partition, from, maxRecords, target(from, high), cancellationToken);
        }
        catch (SqliteException ex)
        {
            throw LogErrors.Unavailable($"read {topic}/{partition} at offset {offset}", ex);
        }
    }

    /// <summary>The most records a read's list is sized for at once: 10,240 references (80 KiB) stay below the large-object heap's 85,000 bytes.</summary>
    private const int MaxListCapacity = 10_240;

    private const string ReadBatchesSql = """
        SELECT base_offset, payload FROM batches
        WHERE topic_id = ?1 AND partition = ?2 AND base_offset >= coalesce(
            (SELECT base_offset FROM batches WHERE topic_id = ?1 AND partition = ?2 AND base_offset <= ?3 ORDER BY base_offset DESC LIMIT 1), ?3)
        ORDER BY base_offset
        """;

    /// <summary>
    /// Reads up to <paramref name="maxRecords"/> records of one partition from <paramref name="from"/> into
    /// <paramref name="into"/>; returns how many. Each batch row's payload is decoded where SQLite holds it
    /// (<c>sqlite3_column_blob</c>): Microsoft.Data.Sqlite would copy it into a new array first, a large-object allocation
    /// (up to a few hundred KiB, zeroed and collected with gen 2) for every row read.
    /// </summary>
    private static int ReadBatches<T>(SqliteConnection connection, long topicId, string topic, int partition, long from, int maxRecords, T into, CancellationToken cancellationToken)
        where T : IRecordTarget
    {
        var db = connection.Handle ?? throw new InvalidOperationException("The log's read connection is not open.");
        // SQLite waits for a lock itself (Microsoft.Data.Sqlite's own busy retries do not run for this statement).
        raw.sqlite3_busy_timeout(db, SqliteBusy.TimeoutMs);
        SqliteException.ThrowExceptionForRC(raw.sqlite3_prepare_v2(db, ReadBatchesSql, out sqlite3_stmt statement), db);
        int read = 0;
        using (statement)
        {
            SqliteException.ThrowExceptionForRC(raw.sqlite3_bind_int64(statement, 1, topicId), db);
            SqliteException.ThrowExceptionForRC(raw.sqlite3_bind_int64(statement, 2, partition), db);
            SqliteException.ThrowExceptionForRC(raw.sqlite3_bind_int64(statement, 3, from), db);
            while (read < maxRecords)
            {
                cancellationToken.ThrowIfCancellationRequested();
                int rc = raw.sqlite3_step(statement);
                if (rc == raw.SQLITE_DONE) break;
                if (rc != raw.SQLITE_ROW) SqliteException.ThrowExceptionForRC(rc, db);
                read += BatchCodec.Decode(raw.sqlite3_column_blob(statement, 1), topic, partition, raw.sqlite3_column_int64(statement, 0), from, maxRecords - read, into);
            }
        }

        return read;
    }

    /// <inheritdoc />
    /// <exception cref="OperationCanceledException">The token was cancelled.</exception>
    public async ValueTask WaitForDataAsync(string topic, int partition, long offset, TimeSpan timeout, CancellationToken cancellationToken = default)
    {
        ThrowIfDisposed();
        if (_consumer)
        {
            await ConsumerWaitForDataAsync(topic, partition, offset, timeout, cancellationToken).ConfigureAwait(false);
            return;
        }

        var (t, p) = Resolve(topic, partition);
        var deadline = _time.GetTimestamp() + (long)(timeout.TotalSeconds * _time.TimestampFrequency);
        while (true)
        {
            var signal = p.Signal; // taken before the check, so a commit between the two still wakes us
            if (p.NextOffset > offset || t.Deleted || Volatile.Read(ref _disposed) != 0) return;
            var remaining = _time.GetElapsedTime(_time.GetTimestamp(), deadline);
            if (remaining <= TimeSpan.Zero) return;
            try
            {
                await signal.WaitAsync(remaining, _time, cancellationToken).ConfigureAwait(false);
            }
            catch (TimeoutException)
            {
                return;
            }
        }
    }

    /// <inheritdoc />
    public ValueTask<Watermarks> GetWatermarksAsync(string topic, int partition, CancellationToken cancellationToken = default)
    {
        ThrowIfDisposed();
        if (_consumer) return ConsumerGetWatermarksAsync(topic, partition, cancellationToken);
        var (_, p) = Resolve(topic, partition);
        var high = p.NextOffset;
        return ValueTask.FromResult(new Watermarks(Math.Min(p.LogStartOffset, high), high));
    }

    /// <inheritdoc />
    public async ValueTask CommitOffsetsAsync(string group, IReadOnlyList<TopicPartitionOffset> offsets, CancellationToken cancellationToken = default)
    {
        ThrowIfDisposed();
        ArgumentException.ThrowIfNullOrEmpty(group);
        ArgumentNullException.ThrowIfNull(offsets);
        if (_consumer)
        {
            await ConsumerCommitOffsetsAsync(group, offsets, cancellationToken).ConfigureAwait(false);
            return;
        }

        foreach (var o in offsets)
        {
            Resolve(o.Topic, o.Partition);
            if (o.Offset < 0) throw new ArgumentOutOfRangeException(nameof(offsets), $"Offset {o.Offset} for {o.Topic}/{o.Partition} is negative.");
        }

        if (offsets.Count == 0) return;
        await RunExclusiveAsync(() => CommitOffsets(group, offsets), cancellationToken).ConfigureAwait(false);
    }

    /// <inheritdoc />
    public async ValueTask<long?> GetCommittedOffsetAsync(string group, string topic, int partition, CancellationToken cancellationToken = default)
    {
        ThrowIfDisposed();
        ArgumentException.ThrowIfNullOrEmpty(group);
        ArgumentNullException.ThrowIfNull(topic);
        try
        {
            await using var connection = new SqliteConnection(_readConnectionString);
            await connection.OpenAsync(cancellationToken).ConfigureAwait(false);
            await using var cmd = connection.CreateCommand();
            cmd.CommandText = "SELECT next_offset FROM group_offsets WHERE group_id = $g AND topic = $t AND partition = $p";
            cmd.Parameters.AddWithValue("$g", group);
            cmd.Parameters.AddWithValue("$t", topic);
            cmd.Parameters.AddWithValue("$p", partition);
            var value = await cmd.ExecuteScalarAsync(cancellationToken).ConfigureAwait(false);
            return value is null or DBNull ? null : Convert.ToInt64(value);
        }
        catch (SqliteException ex)
        {
            throw LogErrors.Unavailable($"read the offset of group '{group}' for {topic}/{partition}", ex);
        }
    }

    /// <inheritdoc />
    /// <remarks>Leases in the log database (<see cref="SqliteGroupMember"/>); producer and consumers of the file alike can join.</remarks>
    public async ValueTask<IGroupMember> JoinGroupAsync(string group, IReadOnlyList<string> topics, GroupMemberOptions options, CancellationToken cancellationToken = default)
    {
        ThrowIfDisposed();
        ArgumentException.ThrowIfNullOrEmpty(group);
        ArgumentNullException.ThrowIfNull(topics);
        ArgumentNullException.ThrowIfNull(options);
        SettingsProblems.ThrowIfAny(options.Validate(), nameof(options));
        if (topics.Count == 0) throw new ArgumentException("A group member needs at least one topic.", nameof(topics));
        return await SqliteGroupMember.JoinAsync(_path, group, topics, options, _logger, _time, cancellationToken).ConfigureAwait(false);
    }

    /// <inheritdoc />
    public async ValueTask<long> EnforceRetentionAsync(CancellationToken cancellationToken = default)
    {
        ThrowIfDisposed();
        ThrowIfConsumer("apply retention");
        return await RunExclusiveAsync(ApplyRetention, cancellationToken).ConfigureAwait(false);
    }

    /// <summary>Finishes the queued writes, then closes the file.</summary>
    public async ValueTask DisposeAsync()
    {
        if (Interlocked.Exchange(ref _disposed, 1) != 0) return;
        if (_retentionTimer is not null) await _retentionTimer.DisposeAsync().ConfigureAwait(false);
        _queue.Writer.TryComplete();
        _wake.Set();
        await _writerTask.ConfigureAwait(false);
        foreach (var t in _topics.Values)
        {
            foreach (var p in t.Partitions) p.Wake();
        }

        DisposeWriterCommands();
        using (var pooled = new SqliteConnection(_readConnectionString)) SqliteConnection.ClearPool(pooled);
        await _commitGate.WaitAsync().ConfigureAwait(false); // a consumer's commit in progress finishes first
        await _writer.DisposeAsync().ConfigureAwait(false);
        _turns?.Dispose();
        if (_lockFile is not null)
        {
            try { File.Delete(OwnerPath(_path)); }
            catch (Exception ex) when (ex is IOException or UnauthorizedAccessException) { } // only for messages; a stale one is checked against running processes
            await _lockFile.DisposeAsync().ConfigureAwait(false);
        }
        _commitGate.Release(); // commits still waiting now see the log closed
    }

    private (TopicState Topic, PartitionState Partition) Resolve(string topic, int partition)
    {
        ArgumentNullException.ThrowIfNull(topic);
        if (!_topics.TryGetValue(topic, out var t)) throw LogErrors.UnknownTopic(topic);
        if (partition < 0 || partition >= t.Partitions.Length) throw LogErrors.UnknownPartition(topic, partition, t.Partitions.Length);
        return (t, t.Partitions[partition]);
    }

    private void ThrowIfConsumer(string what)
    {
        if (_consumer) throw LogErrors.ConsumerOnly(what, _path);
    }

    private void ThrowIfDisposed() => ObjectDisposedException.ThrowIf(Volatile.Read(ref _disposed) != 0, this);

    private async ValueTask EnqueueAsync(WriteOp op, CancellationToken cancellationToken)
    {
        ThrowIfDisposed();
        try
        {
            await _queue.Writer.WriteAsync(op, cancellationToken).ConfigureAwait(false);
            Wake();
        }
        catch (ChannelClosedException)
        {
            throw new ObjectDisposedException(nameof(SqliteLog), $"The log '{_path}' is closed.");
        }
    }

    /// <summary>Queues an append without waiting: false when the queue is full.</summary>
    /// <exception cref="ObjectDisposedException">The log is closed or its writer stopped.</exception>
    private bool TryEnqueue(AppendOp op)
    {
        ThrowIfDisposed();
        if (_queue.Writer.TryWrite(op))
        {
            Wake();
            return true;
        }
        if (Volatile.Read(ref _disposed) != 0 || _writerTask.IsCompleted)
            throw new ObjectDisposedException(nameof(SqliteLog), $"The log '{_path}' is closed.");
        return false;
    }

    private async ValueTask<T> RunExclusiveAsync<T>(Func<T> work, CancellationToken cancellationToken)
    {
        var op = new ExclusiveOp<T>(work);
        await EnqueueAsync(op, cancellationToken).ConfigureAwait(false);
        return await op.Completion.Task.ConfigureAwait(false);
    }
}
