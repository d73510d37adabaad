using System.Globalization;
using System.Text;
using DuckDB.NET.Data;
using Microsoft.Extensions.Logging;
using PinPipe.DuckDb;
using PinPipe.Errors;
using PinPipe.Files;
using PinPipe.Lake;
using PinPipe.Lake.Delta;
using PinPipe.Log;
using PinPipe.Transform;

namespace PinPipe.Streaming;

/// <summary>
/// One table of the <see cref="StreamJob"/>: its stream, its clean and reject Delta tables, its DuckDB and each
/// partition's committed offsets per table (the keys already in the clean table are checked through the table itself); its <see cref="StreamCompactor"/>
/// compacts the two tables beside the micro-batches.
/// </summary>
internal sealed class StreamTable : IDisposable
{
    private const int ReadChunk = 2_000;
    private static readonly TimeSpan IdleWait = TimeSpan.FromSeconds(1);
    private static readonly TimeSpan PositionInterval = TimeSpan.FromSeconds(1);
    /// <summary>Wait before a table resumes after a transient failure, doubled after each one in a row (at most 30 s).</summary>
    private static readonly TimeSpan RetryBackoff = TimeSpan.FromSeconds(1);

    private readonly StreamTarget _target;
    private readonly StreamOptions _options;
    private readonly RecordKind _kind;
    private readonly string _stream;
    private readonly string _name;
    private readonly StreamTableMetrics _metrics;
    private readonly ILog _log;
    private readonly ILogger _logger;
    private readonly TimeProvider _time;
    private readonly DeltaTable _clean;
    private readonly DeltaTable _rejects;
    private readonly StreamCompactor _compactor;
    private readonly DeltaSchema _cleanSchema;
    private readonly DeltaSchema _rejectSchema;
    private readonly string _t; // short name: pin, geo, user
    private readonly Lock _statsGate = new();
    private string RawTable => "raw_" + _t;
    private DuckDBConnection? _db;
    private int _batchesSinceOpen;
    private string? _work;
    private long[] _cleanNext = [];
    private long[] _rejectsNext = [];
    private string? _topicId; // the incarnation of the stream the tables' offsets are for
    private string? _cleanKey, _rejectsKey; // the checkpoint key of each table's txns (StreamCheckpoint)
    private long[] _position = []; // what was last committed to the log as the group's offsets
    private long _generation = -1; // the group assignment the offsets were read for
    private long? _cleanRead, _rejectsRead; // the table versions the offsets were read at (then this worker's last commits): a commit fails when another worker moved one of its partitions since
    [System.Diagnostics.CodeAnalysis.SuppressMessage("Usage", "CA2213", Justification = "Never disposed: a revocation racing the table's end must get the gate; it holds no wait handle.")]
    private readonly SemaphoreSlim _batchGate = new(1, 1); // held while a micro-batch is read, cleaned and committed
    private long _positionAt;
    private long _duckDbOpens = 1, _batches, _read, _cleanRows, _duplicates, _rejectRows, _lag, _lastRecords, _version = -1, _keyFilesRead, _keyFilesSkipped;
    private TimeSpan _lastLatency;

    public StreamTable(StreamOptions options, StreamTarget target, RecordKind kind, string stream, ILog log, IObjectStore store, ILogger logger, ILoggerFactory loggerFactory, TimeProvider time, long smallFileBytes, string instance)
    {
        _instance = instance;
        _target = target;
        _options = options;
        _kind = kind;
        _stream = stream;
        _name = StreamJob.TableName(target.UserId, kind);
        _t = CleaningRules.TableName(kind);
        _log = log;
        _logger = logger;
        _time = time;
        _clean = new DeltaTable(store, target.TablePrefix(kind), loggerFactory.CreateLogger<DeltaTable>(), time);
        _rejects = new DeltaTable(store, target.TablePrefix(kind, rejects: true), loggerFactory.CreateLogger<DeltaTable>(), time);
        _metrics = new StreamTableMetrics(_name, stream);
        _compactor = new StreamCompactor(_name, store, _clean.Prefix, _rejects.Prefix, WorkFolder, _options.CompactEvery, smallFileBytes, logger, loggerFactory, time);
        _cleanSchema = CleanSchemas.ToDelta(CleaningRules.Schema(kind));
        _rejectSchema = CleanSchemas.ToDelta(CleaningRules.RejectSchema);
    }

    public StreamTableStats GetStats()
    {
        lock (_statsGate)
            return new StreamTableStats(_name, _stream, _batches, _read, _cleanRows, _duplicates, _rejectRows, _lag, _lastRecords, _lastLatency, _compactor.Compactions, _version)
            {
                KeyFilesRead = _keyFilesRead,
                KeyFilesSkipped = _keyFilesSkipped,
                DuckDbOpens = _duckDbOpens,
            };
    }

    /// <summary>
    /// The job's membership of the stream workers' group: this table reads only the stream partitions it owns. Null (tests
    /// of one table alone): every partition.
    /// </summary>
    public IGroupMember? Member { get; set; }

    private bool Owns(int partition) => Member?.Owns(_stream, partition) ?? true;

    /// <summary>Whether the partition is read now: owned at the last resume (its offsets are current) and still owned.</summary>
    private bool Reads(int partition) => partition < _resumedOwned.Length && _resumedOwned[partition] && Owns(partition);

    private bool[] _resumedOwned = [];

    /// <summary>
    /// The group takes <paramref name="partitions"/> from this worker: waits for a micro-batch under way to end (committed
    /// or dropped), so that no commit for them follows; the next micro-batch leaves them out.
    /// </summary>
    public async Task RevokedAsync(IReadOnlyList<LogPartition> partitions)
    {
        if (!partitions.Any(p => p.Topic == _stream)) return;
        await _batchGate.WaitAsync().ConfigureAwait(false);
        _batchGate.Release();
    }

    /// <summary>The table's folder for the micro-batches' and the compactions' work files.</summary>
    private string WorkFolder => Path.Combine(StreamJob.WorkRoot(_target.DataDir), _instance, _name);

    /// <summary>This job's folder under the work root (<see cref="StreamJob.InstanceFolder"/>): jobs on one data folder never share work files.</summary>
    private readonly string _instance;

    public async Task RunAsync(CancellationToken cancellationToken)
    {
        var topic = await WaitForStreamAsync(cancellationToken).ConfigureAwait(false);
        // One folder per table for the micro-batches' Parquet files; what a killed run left there is never committed.
        _work = WorkFolder;
        if (Directory.Exists(_work)) Directory.Delete(_work, recursive: true);
        OwnerOnly.CreateDirectory(_work);
        _db = OpenDuckDb(_work);
        try
        {
            bool resume = true;
            int failures = 0;
            while (true)
            {
                cancellationToken.ThrowIfCancellationRequested();
                try
                {
                    // The group gave this worker other partitions: their offsets are read again from the tables.
                    if (Member is not null && Member.Generation != _generation) resume = true;
                    await _batchGate.WaitAsync(cancellationToken).ConfigureAwait(false);
                    try
                    {
                        if (resume)
                        {
                            if (failures > 0) topic = await _log.DescribeTopicAsync(_stream, cancellationToken).ConfigureAwait(false) ?? throw Deleted();
                            await ResumeAsync(topic, cancellationToken).ConfigureAwait(false);
                            resume = false;
                        }
                        // Null: the group changed this worker's partitions while it waited; their offsets are read again first.
                        var batch = await CollectAsync(cancellationToken).ConfigureAwait(false);
                        resume = batch is null || !await ProcessAsync(batch, cancellationToken).ConfigureAwait(false);
                    }
                    finally
                    {
                        _batchGate.Release();
                    }
                    ReopenDuckDbWhenDue();
                    await _compactor.StartAsync().ConfigureAwait(false);
                    failures = 0;
                }
                catch (DeltaException ex) when (ex.Code is DeltaErrorCode.Conflict or DeltaErrorCode.ConcurrentTransaction && !cancellationToken.IsCancellationRequested)
                {
                    // Another worker committed for a partition of this micro-batch (it owns it now): nothing of the micro-batch
                    // was committed; the table resumes from the offsets the Delta tables hold, for the partitions it owns.
                    _logger.LogWarning("{Table}: {Message} Resuming from the tables' offsets.", _name, ex.Message);
                    resume = true;
                }
                catch (Exception ex) when (Retry.IsTransient(ex) && !cancellationToken.IsCancellationRequested)
                {
                    // The bucket or the log cannot be reached now: the micro-batch is dropped, and after a backoff the table
                    // resumes from the offsets its Delta tables hold (a commit that landed is not repeated). Permanent failures stop the job.
                    TimeSpan delay = Retry.Delay(++failures, RetryBackoff);
                    Retry.LogRetry(_logger, _name, ex, failures, delay);
                    await Task.Delay(delay, _time, cancellationToken).ConfigureAwait(false);
                    resume = true;
                }
            }
        }
        catch (LogException ex) when (ex.Code == LogErrorCode.UnknownTopic)
        {
            throw Deleted();
        }
        catch (OperationCanceledException) when (cancellationToken.IsCancellationRequested)
        {
            await CommitPositionAsync(force: true, CancellationToken.None).ConfigureAwait(false);
            // A graceful stop: finish the running compaction and leave no table with a compaction due.
            await _compactor.FinishAsync().ConfigureAwait(false);
            throw;
        }
        finally
        {
            await _compactor.EndAsync().ConfigureAwait(false);
        }
    }

    public void Dispose()
    {
        _metrics.Dispose();
        _db?.Dispose();
        _db = null;
        if (_work is not null)
        {
            try { Directory.Delete(_work, recursive: true); }
            catch (IOException) { }
            catch (UnauthorizedAccessException) { }
        }
    }

    // ------------------------------------------------------------------ start

    private async Task<TopicDescription> WaitForStreamAsync(CancellationToken cancellationToken)
    {
        bool logged = false;
        while (true)
        {
            var topic = await _log.DescribeTopicAsync(_stream, cancellationToken).ConfigureAwait(false);
            if (topic is not null) return topic;
            if (!logged) _logger.LogInformation("Waiting for stream {Stream} to be created.", _stream);
            logged = true;
            await Task.Delay(IdleWait, _time, cancellationToken).ConfigureAwait(false);
        }
    }

    /// <summary>
    /// Reads both tables' offsets and the clean table's keys. Offsets of another incarnation of the stream (deleted and
    /// created again) or past its end (truncated) stop the job, unless <c>--reset earliest</c> moves them to the stream's
    /// start; a new checkpoint (a first start with <c>--from latest</c>, a reset, offsets adopted from txns without topic
    /// id) is recorded in the tables first.
    /// </summary>
    /// <exception cref="LogException"><see cref="LogErrorCode.CheckpointMismatch"/>: the tables' offsets are not this stream's.</exception>
    private async Task ResumeAsync(TopicDescription topic, CancellationToken cancellationToken)
    {
        _generation = Member?.Generation ?? 0;
        var clean = await _clean.LoadAsync(cancellationToken: cancellationToken).ConfigureAwait(false);
        var rejects = await _rejects.LoadAsync(cancellationToken: cancellationToken).ConfigureAwait(false);
        RequireSchema(_clean, clean, _cleanSchema);
        RequireSchema(_rejects, rejects, _rejectSchema);
        _cleanRead = clean?.Version;
        _rejectsRead = rejects?.Version;
        int partitions = topic.Partitions;
        _topicId = topic.TopicId;
        var marks = new Watermarks[partitions];
        for (int p = 0; p < partitions; p++) marks[p] = await _log.GetWatermarksAsync(_stream, p, cancellationToken).ConfigureAwait(false);
        var c = StreamCheckpoint.Read(clean?.Txns, _stream, _topicId, partitions);
        var r = StreamCheckpoint.Read(rejects?.Txns, _stream, _topicId, partitions);
        bool accepted = c.Current || r.Current; // one table already moved to this incarnation: the other follows
        bool cleanMoved = Reconcile(c, _clean, marks, accepted), rejectsMoved = Reconcile(r, _rejects, marks, accepted);
        bool cleanRecord = cleanMoved || (c.Legacy && c.Key is not null), rejectsRecord = rejectsMoved || (r.Legacy && r.Key is not null);

        _cleanNext = new long[partitions];
        _rejectsNext = new long[partitions];
        var cleanStart = new List<DeltaTxn>();
        var rejectsStart = new List<DeltaTxn>();
        bool latest = _options.From == StreamStart.Latest;
        for (int p = 0; p < partitions; p++)
        {
            long? cv = cleanMoved ? marks[p].Low : c.Offsets[p];
            long? rv = rejectsMoved ? marks[p].Low : r.Offsets[p];
            // A table without an offset for the partition: earliest = the log's start (reading records the other table
            // already holds is harmless, they are skipped for it); latest = the other table's offset (its start commit)
            // or, for neither, the log's end now, recorded in both tables before any micro-batch.
            long start = latest ? cv ?? rv ?? marks[p].High : marks[p].Low;
            bool owned = Owns(p); // a partition another worker owns is recorded by that worker
            if (owned && (cleanRecord || (cv is null && latest))) cleanStart.Add(new DeltaTxn(StreamCheckpoint.AppId(_stream, p, c.Key), cv ?? start));
            if (owned && (rejectsRecord || (rv is null && latest))) rejectsStart.Add(new DeltaTxn(StreamCheckpoint.AppId(_stream, p, r.Key), rv ?? start));
            _cleanNext[p] = cv ?? start;
            _rejectsNext[p] = rv ?? start;
        }
        _cleanKey = c.Key;
        _rejectsKey = r.Key;
        _resumedOwned = [.. Enumerable.Range(0, partitions).Select(Owns)];
        if (cleanStart.Count > 0) _cleanRead = (await CommitAsync(_clean, _cleanSchema, [], cleanStart, "start", _cleanRead, cancellationToken).ConfigureAwait(false)).Version;
        if (rejectsStart.Count > 0) _rejectsRead = (await CommitAsync(_rejects, _rejectSchema, [], rejectsStart, "start", _rejectsRead, cancellationToken).ConfigureAwait(false)).Version;

        // No key is read here: each micro-batch checks its keys against the clean table itself (Cleaner.CleanAgainstAsync).
        _compactor.Resumed(clean, rejects);
        lock (_statsGate) _version = clean?.Version ?? _version;
        _logger.LogInformation("{Table}: resuming {Stream} (topic id {TopicId}) at offsets [{Offsets}] (rejects [{RejectOffsets}]); {Files:N0} files in the table.",
            _name, _stream, _topicId ?? "unknown", string.Join(", ", _cleanNext), string.Join(", ", _rejectsNext), clean?.Files.Count ?? 0);
        _position = new long[partitions];
        Array.Fill(_position, -1);
        await CommitPositionAsync(force: true, cancellationToken).ConfigureAwait(false);
    }

    /// <summary>
    /// Checks a table's checkpoint against the stream: offsets of another incarnation (unless the other table already
    /// moved to this one) or past a partition's end throw, or with <c>--reset earliest</c> move the checkpoint to a new
    /// key. Returns true when the checkpoint moved (its offsets are then the stream's start).
    /// </summary>
    private bool Reconcile(StreamCheckpoint checkpoint, DeltaTable table, Watermarks[] marks, bool accepted)
    {
        string? problem = null;
        if (checkpoint.ForeignKey is { } foreign)
        {
            if (accepted)
            {
                _logger.LogInformation("{Table}: {Location} holds offsets of an earlier incarnation of {Stream}; the other table already reads this one, so it starts at the stream's start too.", _name, table.Location, _stream);
                checkpoint.Reset(_stream, _topicId);
                return true;
            }
            problem = $"Stream '{_stream}' was deleted and created again: Delta table {table.Location} holds offsets of its earlier incarnation (topic id {StreamCheckpoint.BaseOf(foreign)}), not of this one (topic id {_topicId}); reading on would skip this incarnation's records below those offsets.";
        }
        for (int p = 0; problem is null && p < marks.Length; p++)
        {
            if (checkpoint.Offsets[p] is { } offset && offset > marks[p].High)
                problem = $"Stream '{_stream}' is behind Delta table {table.Location}: partition {p} ends at offset {marks[p].High}, but the table has read it up to offset {offset} (the stream was truncated or its log replaced); reading on would skip the records the stream takes at offsets {marks[p].High} to {offset - 1}.";
        }
        if (problem is null) return false;
        if (_options.Reset != "earliest")
            throw new LogException(LogErrorCode.CheckpointMismatch,
                $"{problem} Nothing was read. To read the stream from its start, deliberately, run the job once with --reset earliest (Stream:Reset); rows already in the tables stay (an ind already there counts as a duplicate).");
        _logger.LogWarning("{Table}: {Problem} Reset to the stream's start (--reset earliest).", _name, problem);
        checkpoint.Reset(_stream, _topicId);
        return true;
    }

    /// <summary>Throws when the stream is gone or is another incarnation than the one the job resumed.</summary>
    private async Task CheckIncarnationAsync(CancellationToken cancellationToken)
    {
        var now = await _log.DescribeTopicAsync(_stream, cancellationToken).ConfigureAwait(false) ?? throw Deleted();
        if (now.TopicId != _topicId)
            throw new LogException(LogErrorCode.CheckpointMismatch,
                $"Stream '{_stream}' was deleted and created again while the job read it (topic id {_topicId} → {now.TopicId}); nothing of the new incarnation was committed. Run the job again with --reset earliest (Stream:Reset) to read the new incarnation from its start, deliberately.");
    }

    private LogException Deleted() => new(LogErrorCode.CheckpointMismatch,
        $"Stream '{_stream}' was deleted while the job read it; the tables keep what was committed before. Once it exists again, run the job with --reset earliest (Stream:Reset) to read the new incarnation from its start.");

    /// <summary>
    /// Commits each partition's position (what both tables hold) to the log as the group <see cref="StreamOptions.GroupId"/>,
    /// when it moved and at most once per <see cref="PositionInterval"/> unless <paramref name="force"/>d. Advisory: the
    /// Delta txns are the checkpoint; the group lets the log refuse to delete records the job has not read. A failure is logged.
    /// </summary>
    private async Task CommitPositionAsync(bool force, CancellationToken cancellationToken)
    {
        if (_position.Length == 0 || (!force && _time.GetElapsedTime(_positionAt) < PositionInterval)) return;
        var offsets = new List<TopicPartitionOffset>();
        for (int p = 0; p < _position.Length; p++)
        {
            long at = Math.Min(_cleanNext[p], _rejectsNext[p]);
            if (at != _position[p] && Owns(p)) offsets.Add(new TopicPartitionOffset(_stream, p, at));
        }
        if (offsets.Count == 0) return;
        try
        {
            if (Member is not null) await Member.CommitAsync(offsets, cancellationToken).ConfigureAwait(false);
            else await _log.CommitOffsetsAsync(_options.GroupId, offsets, cancellationToken).ConfigureAwait(false);
            foreach (var o in offsets) _position[o.Partition] = o.Offset;
            _positionAt = _time.GetTimestamp();
        }
        catch (Exception ex) when (ex is LogException or ObjectDisposedException)
        {
            _logger.LogWarning("{Table}: could not commit the position of {Stream} to the log as group {Group}: {Message}", _name, _stream, _options.GroupId, ex.Message);
        }
    }

    private static void RequireSchema(DeltaTable table, DeltaSnapshot? snapshot, DeltaSchema schema)
    {
        if (snapshot is not null && !snapshot.Schema.Equals(schema))
            throw new DeltaException(DeltaErrorCode.SchemaMismatch,
                $"Delta table {table.Location} has schema ({snapshot.Schema}) but the stream job writes ({schema}); move the table away or set another Batch:TablesPrefix.");
    }

    // ------------------------------------------------------------------ micro-batch

    /// <summary>A collected micro-batch: its records are in DuckDB's raw table.</summary>
    /// <param name="Records">Records read.</param>
    /// <param name="End">Each partition's next offset after the micro-batch.</param>
    /// <param name="Split">Some records are for one table only (a crash between the two commits left one table ahead).</param>
    /// <param name="FirstAt">Timestamp of the first record's arrival.</param>
    private sealed record Batch(int Records, long[] End, bool Split, long FirstAt);

    /// <summary>
    /// Reads from each partition's position until <see cref="StreamOptions.MaxBatchRecords"/> or the trigger after the
    /// first record, appending each chunk read to DuckDB's raw table as it arrives (no .NET copy of the micro-batch).
    /// </summary>
    private async Task<Batch?> CollectAsync(CancellationToken cancellationToken)
    {
        int partitions = _cleanNext.Length;
        long[] next = new long[partitions];
        for (int p = 0; p < partitions; p++) next[p] = Math.Min(_cleanNext[p], _rejectsNext[p]);
        Execute($"CREATE OR REPLACE TABLE {RawTable} (seq BIGINT, origin VARCHAR, line VARCHAR, for_clean BOOLEAN, for_rejects BOOLEAN)");
        int count = 0;
        bool split = false;
        long firstAt = 0;
        using var appender = _db!.CreateAppender(RawTable);
        while (true)
        {
            int got = 0;
            for (int p = 0; p < partitions && count < _options.MaxBatchRecords; p++)
            {
                if (!Reads(p)) continue;
                int room = Math.Min(ReadChunk, _options.MaxBatchRecords - count);
                var read = await _log.ReadAsync(_stream, p, next[p], room, cancellationToken).ConfigureAwait(false);
                if (read.Count == 0) continue;
                if (read[0].Offset > next[p])
                    _logger.LogWarning("{Table}: offsets {From}..{To} of {Stream} partition {Partition} are not in the log (removed by retention before they were read, or skipped by the log); the tables do not hold them.",
                        _name, next[p], read[0].Offset - 1, _stream, p);
                foreach (var r in read)
                {
                    bool toClean = r.Offset >= _cleanNext[p], toRejects = r.Offset >= _rejectsNext[p];
                    split |= !(toClean && toRejects);
                    // Bytes that are not UTF-8 become the envelope the cleaning rules reject as invalid_utf8 (never U+FFFD text).
                    string line = r.Value is null ? "" : RecordLine.ToText(r.Value);
                    appender.CreateRow().AppendValue((long)count++).AppendValue($"{_stream}/{p}/{r.Offset}").AppendValue(line)
                        .AppendValue(toClean).AppendValue(toRejects).EndRow();
                }
                next[p] = read[^1].Offset + 1;
                got += read.Count;
            }
            if (count > 0 && firstAt == 0) firstAt = _time.GetTimestamp();
            if (count >= _options.MaxBatchRecords) return new Batch(count, next, split, firstAt);
            TimeSpan left = count == 0 ? IdleWait : _options.Trigger - _time.GetElapsedTime(firstAt);
            if (count > 0 && left <= TimeSpan.Zero) return new Batch(count, next, split, firstAt);
            if (got > 0) continue;
            if (count == 0)
            {
                if (Member is not null && Member.Generation != _generation) return null;
                await CheckIncarnationAsync(cancellationToken).ConfigureAwait(false);
                await UpdateLagAsync(next, cancellationToken).ConfigureAwait(false);
                await CommitPositionAsync(force: false, cancellationToken).ConfigureAwait(false);
            }
            await WaitForAnyAsync(next, left, cancellationToken).ConfigureAwait(false);
        }
    }

    /// <summary>Waits for a record in a partition this worker owns, a new assignment, or the timeout.</summary>
    private async Task WaitForAnyAsync(long[] next, TimeSpan timeout, CancellationToken cancellationToken)
    {
        var owned = Enumerable.Range(0, next.Length).Where(Reads).ToList();
        if (owned.Count == 1 && Member is null)
        {
            await _log.WaitForDataAsync(_stream, owned[0], next[owned[0]], timeout, cancellationToken).ConfigureAwait(false);
            return;
        }
        using var any = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        var waits = owned.Select(p => _log.WaitForDataAsync(_stream, p, next[p], timeout, any.Token).AsTask())
            .Append(Member is null ? Task.Delay(timeout, _time, any.Token) : Member.WaitForChangeAsync(_generation, any.Token).WaitAsync(timeout, _time, any.Token))
            .ToArray();
        await Task.WhenAny(waits).ConfigureAwait(false);
        await any.CancelAsync().ConfigureAwait(false);
        try { await Task.WhenAll(waits).ConfigureAwait(false); }
        catch (OperationCanceledException) { }
        catch (TimeoutException) { }
        cancellationToken.ThrowIfCancellationRequested();
    }

    private async Task UpdateLagAsync(long[] next, CancellationToken cancellationToken)
    {
        long lag = 0;
        for (int p = 0; p < next.Length; p++)
        {
            if (!Owns(p)) continue;
            var w = await _log.GetWatermarksAsync(_stream, p, cancellationToken).ConfigureAwait(false);
            long behind = w.Lag(next[p]);
            _metrics.Lag(p).Set(behind);
            lag += behind;
        }
        lock (_statsGate) _lag = lag;
    }

    /// <summary>
    /// Cleans a micro-batch and commits it: the clean rows with the new offsets, then the rejects with theirs. A
    /// record below a table's committed offset (left by a crash between the two commits) is skipped for that table.
    /// </summary>
    /// <returns>False when the micro-batch was dropped and the table must resume from its offsets (another worker committed part of it, or this one no longer owns a partition of it).</returns>
    private async Task<bool> ProcessAsync(Batch batch, CancellationToken cancellationToken)
    {
        long[] end = batch.End;
        string raw = RawTable;
        bool split = batch.Split;
        // Every record of the micro-batch was read before this check: a stream created again before a read shows here.
        await CheckIncarnationAsync(cancellationToken).ConfigureAwait(false);

        string cleanFile = Path.Combine(_work!, $"clean-{Guid.NewGuid():N}.parquet");
        string rejectsFile = Path.Combine(_work!, $"rejects-{Guid.NewGuid():N}.parquet");
        CleanResult forClean, forRejects;
        try
        {
            // The keys already committed are found through the clean table itself (files whose ind stats rule out
            // every new key are not read); the cached latest version costs one GET when no commit came in between.
            var table = await _clean.LatestAsync(cancellationToken).ConfigureAwait(false);
            if (!split)
            {
                forClean = forRejects = await CleanAsync(raw, table, cancellationToken).ConfigureAwait(false);
                SpillClean(cleanFile);
                Spill(CleaningRules.RejectTable(_kind), rejectsFile);
            }
            else
            {
                // After a crash between the two commits one table is ahead: clean each table's own records.
                Execute($"CREATE OR REPLACE VIEW {raw}_c AS SELECT seq, origin, line FROM {raw} WHERE for_clean");
                Execute($"CREATE OR REPLACE VIEW {raw}_r AS SELECT seq, origin, line FROM {raw} WHERE for_rejects");
                forClean = await CleanAsync(raw + "_c", table, cancellationToken).ConfigureAwait(false);
                SpillClean(cleanFile);
                forRejects = await CleanAsync(raw + "_r", table, cancellationToken).ConfigureAwait(false);
                Spill(CleaningRules.RejectTable(_kind), rejectsFile);
            }
            Execute($"DROP VIEW IF EXISTS {raw}_c");
            Execute($"DROP VIEW IF EXISTS {raw}_r");
            Execute($"DROP TABLE {raw}");
            // The micro-batch's tables are in the Parquet files now: free their memory until the next one.
            Execute($"DROP TABLE IF EXISTS {CleaningRules.CleanTable(_kind)}");
            Execute($"DROP TABLE IF EXISTS {CleaningRules.RejectTable(_kind)}");

            var cleanTxns = Advanced(_cleanNext, end, _cleanKey);
            var rejectTxns = Advanced(_rejectsNext, end, _rejectsKey);
            // A worker commits only for the partitions it owns; one whose ownership may have run out drops the micro-batch
            // (the new owner reads it again). A commit racing the handover is caught by the Delta txn conflict check.
            if (cleanTxns.Concat(rejectTxns).Select(PartitionOf).Distinct().FirstOrDefault(p => !Owns(p), -1) is int lost and >= 0)
            {
                _logger.LogInformation("{Table}: {Stream} partition {Partition} is no longer this worker's; the micro-batch was dropped.", _name, _stream, lost);
                return false;
            }
            long version = -1, rejectsVersion = -1;
            if (cleanTxns.Count > 0)
            {
                string[] files = forClean.Clean > 0 ? [cleanFile] : [];
                var result = await CommitAsync(_clean, _cleanSchema, files, cleanTxns, "append", _cleanRead, cancellationToken).ConfigureAwait(false);
                if (result.Status == DeltaCommitStatus.AlreadyCommitted)
                {
                    Overlap();
                    return false;
                }
                foreach (var t in cleanTxns) _cleanNext[PartitionOf(t)] = t.Version;
                _cleanRead = result.Version;
                _compactor.CleanAppended(files.Length);
                version = result.Version;
            }
            if (rejectTxns.Count > 0)
            {
                string[] files = forRejects.Rejects > 0 ? [rejectsFile] : [];
                var result = await CommitAsync(_rejects, _rejectSchema, files, rejectTxns, "append", _rejectsRead, cancellationToken).ConfigureAwait(false);
                if (result.Status == DeltaCommitStatus.AlreadyCommitted)
                {
                    Overlap();
                    return false;
                }
                foreach (var t in rejectTxns) _rejectsNext[PartitionOf(t)] = t.Version;
                _rejectsRead = result.Version;
                _compactor.RejectsAppended(files.Length);
                rejectsVersion = result.Version;
            }

            var latency = _time.GetElapsedTime(batch.FirstAt);
            _metrics.BatchDuration.Observe(latency.TotalSeconds);
            _metrics.BatchRecords.Observe(batch.Records);
            lock (_statsGate)
            {
                _batches++;
                _read += batch.Records;
                _cleanRows += cleanTxns.Count > 0 ? forClean.Clean : 0;
                _duplicates += cleanTxns.Count > 0 ? forClean.Duplicates : 0;
                _rejectRows += rejectTxns.Count > 0 ? forRejects.Rejects : 0;
                _lastRecords = batch.Records;
                _lastLatency = latency;
                if (version >= 0) _version = version;
            }
            await UpdateLagAsync(end, cancellationToken).ConfigureAwait(false);
            await CommitPositionAsync(force: false, cancellationToken).ConfigureAwait(false);
            var quality = string.Join(", ", forClean.Quality.Where(q => q.Count > 0).Select(q => $"{q.Column} {q.Rule} {q.Count}")
                .Concat(forRejects.RejectReasons.Where(k => k.Count > 0).Select(k => $"rejected {k.Kind} {k.Count}")));
            _logger.LogDebug("{Table}: micro-batch of {Read:N0} records → {Clean:N0} clean, {Duplicates:N0} duplicates, {Rejects:N0} rejects in {Ms:N0} ms (Delta v{Version}, rejects v{RejectsVersion}); quality: {Quality}.",
                _name, batch.Records, forClean.Clean, forClean.Duplicates, forRejects.Rejects, latency.TotalMilliseconds, version, rejectsVersion, quality.Length == 0 ? "none" : quality);
            return true;
        }
        finally
        {
            TryDelete(cleanFile);
            TryDelete(rejectsFile);
        }
    }

    /// <summary>A txn per partition whose end moved past the table's offset.</summary>
    private List<DeltaTxn> Advanced(long[] committed, long[] end, string? key)
    {
        var txns = new List<DeltaTxn>();
        for (int p = 0; p < end.Length; p++)
            if (end[p] > committed[p]) txns.Add(new DeltaTxn(StreamCheckpoint.AppId(_stream, p, key), end[p]));
        return txns;
    }

    private static int PartitionOf(DeltaTxn txn) => int.Parse(txn.AppId.AsSpan(txn.AppId.LastIndexOf(':') + 1), CultureInfo.InvariantCulture);

    /// <summary>The table already holds offsets of this micro-batch: another worker committed them (it owned the partition). The caller starts over from what the tables hold.</summary>
    private void Overlap() =>
        _logger.LogWarning("{Table}: the Delta table already holds offsets of this micro-batch (another stream worker committed them); resuming from the table's offsets.", _name);

    /// <summary>Appends the files with the txns; <paramref name="readVersion"/> is the version this worker's offsets were read at, so another worker's commit for one of the partitions since fails it (<see cref="DeltaErrorCode.ConcurrentTransaction"/>).</summary>
    private static Task<DeltaCommitResult> CommitAsync(DeltaTable table, DeltaSchema schema, IReadOnlyList<string> files, IReadOnlyList<DeltaTxn> txns, string what, long? readVersion, CancellationToken cancellationToken) =>
        table.CommitAsync(new DeltaWrite(schema, files)
        {
            Txns = txns,
            ReadVersion = readVersion,
            Operation = "STREAMING UPDATE",
            OperationParameters = new Dictionary<string, string> { ["outputMode"] = "Append", ["queryId"] = "pinpipe-stream", ["pinpipe.step"] = what },
        }, cancellationToken);

    // ------------------------------------------------------------------ DuckDB

    private DuckDBConnection OpenDuckDb(string work)
    {
        try
        {
            return DuckDbSession.Open(new DuckDbSettings
            {
                MemoryLimit = _options.MemoryLimit,
                Threads = _options.Threads,
                TempDirectory = Path.Combine(work, "spill"),
                // Hand memory freed after each micro-batch back to the system sooner (DuckDB's default flushes above 128 MiB).
                AllocatorFlushThreshold = "16MB",
                // Each micro-batch reads other files (its key check): caching them would fill the memory limit.
                ExternalFileCache = false,
            });
        }
        catch (DuckDBException ex)
        {
            throw new StreamException("stream.settings_rejected", ErrorKind.BadInput, $"DuckDB rejected the stream settings (Stream:MemoryLimit '{_options.MemoryLimit}', Stream:Threads {_options.Threads}): {ex.Message}", ex);
        }
    }

    /// <summary>
    /// Replaces the table's DuckDB every <see cref="StreamOptions.ReopenDuckDbEvery"/> micro-batches, between micro-batches
    /// (when it holds nothing). DuckDB keeps an entry in its buffer pool's eviction queues for every block a query unpinned
    /// (a micro-batch's joins unpin about a hundred) and purges dead entries only once a queue holds tens of thousands of
    /// them: without the reopen, a job running for hours holds tens of MB per table that no query uses.
    /// </summary>
    private void ReopenDuckDbWhenDue()
    {
        if (++_batchesSinceOpen < _options.ReopenDuckDbEvery) return;
        _db?.Dispose();
        _db = null;
        _db = OpenDuckDb(_work!);
        _batchesSinceOpen = 0;
        lock (_statsGate) _duckDbOpens++;
    }

    private void Spill(string table, string file) => _db!.CopyToParquet(table, file);

    /// <summary>The clean rows sorted by <c>ind</c>: a file's row groups then cover narrow ind ranges that a key check can skip.</summary>
    private void SpillClean(string file) => Spill($"(SELECT * FROM {Sql.Identifier(CleaningRules.CleanTable(_kind))} ORDER BY ind)", file);

    private async Task<CleanResult> CleanAsync(string raw, DeltaSnapshot? table, CancellationToken cancellationToken)
    {
        var result = await Cleaner.CleanAgainstAsync(_db!, _kind, raw, table, cancellationToken).ConfigureAwait(false);
        lock (_statsGate)
        {
            _keyFilesRead += result.KeyFilesRead;
            _keyFilesSkipped += result.KeyFilesSkipped;
        }
        return result;
    }

    private void Execute(string sql) => _db!.Execute(sql);

    internal static void TryDelete(string file)
    {
        try { File.Delete(file); }
        catch (IOException) { }
        catch (UnauthorizedAccessException) { }
    }
}
