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
    private static readonly TimeSpan IdleWait = TimeSpan.FromSeconds(1);
    /// <summary>Wait before a table resumes after a transient failure, doubled after each one in a row (at most 30 s).</summary>
    private static readonly TimeSpan RetryBackoff = TimeSpan.FromSeconds(1);
    /// <summary>
    /// How long the reject table's commit of a micro-batch without rejects may be held back: the next commit of the table (a
    /// micro-batch with rejects, this long after its last commit, or the table idle) moves its position over all of them.
    /// A restart reads the records since the position it holds again for the reject table alone.
    /// </summary>
    internal static readonly TimeSpan RejectsHoldLimit = TimeSpan.FromSeconds(10);

    private readonly StreamTarget _target;
    private readonly StreamOptions _options;
    private readonly RecordKind _kind;
    private readonly string _stream;
    private readonly string _name;
    private readonly StreamTableMetrics _metrics;
    private readonly StreamInput _input;
    private readonly ILogger _logger;
    private readonly TimeProvider _time;
    private readonly DeltaTable _clean;
    private readonly DeltaTable _rejects;
    private readonly StreamCompactor _compactor;
    private readonly MicroBatchTrigger _trigger;
    private readonly DeltaSchema _cleanSchema;
    private readonly DeltaSchema _rejectSchema;
    private readonly Lock _statsGate = new();
    private readonly DeltaKeyCache _keys; // the clean table's keys that micro-batches had to read, kept for the next ones (across DuckDB instances)
    private DuckDBConnection? _db;
    private MicroBatchCleaner? _cleaner;
    private DeltaStats.Query? _cleanStats, _rejectsStats;
    private Task<DuckDbInstance>? _opening; // the next DuckDB, opened beside a micro-batch (ReopenDuckDbWhenDueAsync)
    private Task? _closing; // the last DuckDB replaced, closing beside the micro-batches
    private int _instances; // DuckDB instances opened, each with its own spill folder
    private readonly MaintenanceSlot _maintenance;
    private readonly (SemaphoreSlim Clean, SemaphoreSlim Rejects)? _commitGates; // the tables' DeltaTable.CommitGate, over a store whose put-if-absent is not atomic
    private int _batchesSinceOpen;
    private bool _behind; // the last micro-batch's stream had at least as many records waiting after its commit as it took
    private string? _work;
    private long _rejectsCommittedAt; // when the reject table's position was last committed (or read, at a resume)
    private long? _cleanRead, _rejectsRead; // the table versions the offsets were read at (then this worker's last commits): a commit fails when another worker moved one of its partitions since
    [System.Diagnostics.CodeAnalysis.SuppressMessage("Usage", "CA2213", Justification = "Never disposed: a revocation racing the table's end must get the gate; it holds no wait handle.")]
    private readonly SemaphoreSlim _batchGate = new(1, 1); // held while a micro-batch is read, cleaned and committed
    private long _duckDbOpens = 1, _batches, _read, _cleanRows, _duplicates, _rejectRows, _lastRecords, _version = -1, _keyFilesRead, _keyFilesSkipped, _keyFilesCached, _keyCacheBytes;
    private TimeSpan _lastLatency;

    /// <param name="maintenance">The job's slots for work beside the micro-batches (this table's compactions and DuckDB reopens), one piece per two cores across its tables.</param>
    public StreamTable(StreamOptions options, StreamTarget target, RecordKind kind, StreamInput input, IObjectStore store, ILogger logger, ILoggerFactory loggerFactory, TimeProvider time, long smallFileBytes, string instance,
        MaintenanceSlot maintenance)
    {
        _maintenance = maintenance;
        string stream = input.Stream;
        _input = input;
        _instance = instance;
        _target = target;
        _options = options;
        _kind = kind;
        _stream = stream;
        _name = StreamJob.TableName(target.UserId, kind);
        _logger = logger;
        _time = time;
        // Over a store whose put-if-absent is not atomic, the micro-batches' and the compactions' commits to a table take turns:
        // else two commits of one version, one from each, could overwrite each other and lose the rows of one.
        if (!store.AtomicPutIfAbsent) _commitGates = (new SemaphoreSlim(1, 1), new SemaphoreSlim(1, 1));
        var gates = _commitGates;
        // A micro-batch's records are readable once its commit exists: the checkpoints due after it are written beside the next micro-batch.
        _clean = new DeltaTable(store, target.TablePrefix(kind), loggerFactory.CreateLogger<DeltaTable>(), time) { CheckpointInBackground = true, CheckpointMinInterval = options.CheckpointEvery, CommitGate = gates?.Clean };
        _rejects = new DeltaTable(store, target.TablePrefix(kind, rejects: true), loggerFactory.CreateLogger<DeltaTable>(), time) { CheckpointInBackground = true, CheckpointMinInterval = options.CheckpointEvery, CommitGate = gates?.Rejects };
        _metrics = new StreamTableMetrics(_name, stream);
        _trigger = new MicroBatchTrigger(options.Trigger, time);
        _compactor = new StreamCompactor(_name, store, _clean.Prefix, _rejects.Prefix, WorkFolder, _options.CompactEvery, smallFileBytes, logger, loggerFactory, time,
            targetFileBytes: options.CompactTargetBytes, slot: maintenance, commitGates: gates,
            runner: options.CompactionNice > 0 ? LowPriorityScheduler.Shared(options.CompactionNice) : null);
        _cleanSchema = CleanSchemas.ToDelta(CleaningRules.Schema(kind));
        _keys = new DeltaKeyCache(options.KeyCacheBytes);
        _rejectSchema = CleanSchemas.ToDelta(CleaningRules.RejectSchema);
        input.Bind(_name, _clean.Location, _rejects.Location, _metrics, logger);
    }

    public StreamTableStats GetStats()
    {
        lock (_statsGate)
            return new StreamTableStats(_name, _stream, _batches, _read, _cleanRows, _duplicates, _rejectRows, _input.Lag, _lastRecords, _lastLatency, _compactor.Compactions, _version)
            {
                KeyFilesRead = _keyFilesRead,
                KeyFilesSkipped = _keyFilesSkipped,
                KeyFilesCached = _keyFilesCached,
                KeyCacheBytes = _keyCacheBytes,
                DuckDbOpens = _duckDbOpens,
                CompactionFailures = _compactor.Failures,
            };
    }

    /// <summary>
    /// The group takes <paramref name="partitions"/> from this worker: waits for a micro-batch under way to end (committed
    /// or dropped), so that no commit for them follows, and commits the reject table's held-back position while this worker
    /// still owns them (else their new owner reads the records since it again for the reject table); the next micro-batch
    /// leaves them out.
    /// </summary>
    public async Task RevokedAsync(IReadOnlyList<LogPartition> partitions)
    {
        if (!partitions.Any(p => p.Topic == _stream)) return;
        await CommitHeldRejectsBetweenBatchesAsync("before the partitions were revoked").ConfigureAwait(false);
    }

    /// <summary>The table's folder for the micro-batches' and the compactions' work files.</summary>
    private string WorkFolder => Path.Combine(StreamJob.WorkRoot(_target.DataDir), _instance, _name);

    /// <summary>This job's folder under the work root (<see cref="StreamJob.InstanceFolder"/>): jobs on one data folder never share work files.</summary>
    private readonly string _instance;

    public async Task RunAsync(CancellationToken cancellationToken)
    {
        await _input.OpenAsync(cancellationToken).ConfigureAwait(false);
        // One folder per table for the micro-batches' Parquet files; what a killed run left there is never committed.
        _work = WorkFolder;
        if (Directory.Exists(_work)) Directory.Delete(_work, recursive: true);
        OwnerOnly.CreateDirectory(_work);
        OpenDuckDb();
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
                    if (_input.MustResume) resume = true;
                    await _batchGate.WaitAsync(cancellationToken).ConfigureAwait(false);
                    try
                    {
                        if (resume)
                        {
                            await ResumeAsync(afterFailure: failures > 0, cancellationToken).ConfigureAwait(false);
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
                    await ReopenDuckDbWhenDueAsync().ConfigureAwait(false);
                    await _compactor.StartAsync(_behind).ConfigureAwait(false);
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
        catch (Exception ex) when (_input.Gone(ex) is { } gone)
        {
            throw gone;
        }
        catch (OperationCanceledException) when (cancellationToken.IsCancellationRequested)
        {
            // A graceful stop leaves the reject table at the position the micro-batches reached, as a consumer commits on close.
            await CommitHeldRejectsBetweenBatchesAsync("at the stop").ConfigureAwait(false);
            await _input.StopAsync().ConfigureAwait(false);
            // A graceful stop: finish the running compaction and leave no table with a compaction due.
            await _compactor.FinishAsync().ConfigureAwait(false);
            throw;
        }
        finally
        {
            await _compactor.EndAsync().ConfigureAwait(false);
            // The checkpoints written after the micro-batches' commits (logged when they fail, never thrown).
            await Task.WhenAll(_clean.CheckpointsWrittenAsync(), _rejects.CheckpointsWrittenAsync()).ConfigureAwait(false);
        }
    }

    public void Dispose()
    {
        _metrics.Dispose();
        _commitGates?.Clean.Dispose(); // the compactor, their other user, ended with RunAsync
        _commitGates?.Rejects.Dispose();
        _db?.Dispose();
        _db = null;
        try
        {
            _closing?.GetAwaiter().GetResult();
            _opening?.GetAwaiter().GetResult().Db.Dispose();
        }
        catch (DuckDBException) { } // a DuckDB that failed to open or close: nothing of it is left to dispose
        catch (StreamException) { }
        if (_work is not null)
        {
            try { Directory.Delete(_work, recursive: true); }
            catch (IOException) { }
            catch (UnauthorizedAccessException) { }
        }
    }

    // ------------------------------------------------------------------ start

    /// <summary>
    /// Loads both tables, has the input read their positions (and check them against the stream), and records a new
    /// checkpoint in the tables first when the input gives one.
    /// </summary>
    private async Task ResumeAsync(bool afterFailure, CancellationToken cancellationToken)
    {
        // The reject table's held-back position first, where the table still owns it (after a failure it is read again instead).
        if (_input.TakeHeldRejects() is { } held && !afterFailure) await CommitHeldRejectsAsync(held, cancellationToken).ConfigureAwait(false);
        var clean = await _clean.LoadAsync(cancellationToken: cancellationToken).ConfigureAwait(false);
        var rejects = await _rejects.LoadAsync(cancellationToken: cancellationToken).ConfigureAwait(false);
        RequireSchema(_clean, clean, _cleanSchema);
        RequireSchema(_rejects, rejects, _rejectSchema);
        _cleanRead = clean?.Version;
        _rejectsRead = rejects?.Version;
        _rejectsCommittedAt = _time.GetTimestamp();
        var (cleanStart, rejectsStart) = await _input.ResumeAsync(clean, rejects, afterFailure, cancellationToken).ConfigureAwait(false);
        if (cleanStart.Count > 0) _cleanRead = (await CommitAsync(_clean, _cleanSchema, [], null, cleanStart, "start", _cleanRead, cancellationToken).ConfigureAwait(false)).Version;
        if (rejectsStart.Count > 0) _rejectsRead = (await CommitAsync(_rejects, _rejectSchema, [], null, rejectsStart, "start", _rejectsRead, cancellationToken).ConfigureAwait(false)).Version;

        // No key is read here: each micro-batch checks its keys against the clean table itself (Cleaner.CleanAgainstAsync).
        _compactor.Resumed(clean, rejects);
        lock (_statsGate) _version = clean?.Version ?? _version;
        _logger.LogInformation("{Table}: resuming {Where}; {Files:N0} files in the table.", _name, _input.Where, clean?.Files.Count ?? 0);
        await _input.ResumedAsync(cancellationToken).ConfigureAwait(false);
    }

    private static void RequireSchema(DeltaTable table, DeltaSnapshot? snapshot, DeltaSchema schema)
    {
        if (snapshot is not null && !snapshot.Schema.Equals(schema))
            throw new DeltaException(DeltaErrorCode.SchemaMismatch,
                $"Delta table {table.Location} has schema ({snapshot.Schema}) but the stream job writes ({schema}); move the table away or set another Batch:TablesPrefix.");
    }

    // ------------------------------------------------------------------ micro-batch

    /// <summary>A collected micro-batch: its records are in DuckDB's raw table, its end is the input's position.</summary>
    /// <param name="Records">Records read.</param>
    /// <param name="Split">Some records are for one table only (a crash between the two commits left one table ahead).</param>
    /// <param name="FirstAt">Timestamp of the first record's arrival.</param>
    /// <param name="ClosedAt">Timestamp of its close (the trigger, or full).</param>
    private sealed record Batch(int Records, bool Split, long FirstAt, long ClosedAt);

    private MicroBatchCleaner Cleaner => _cleaner ?? throw new InvalidOperationException("The table's DuckDB is not open.");

    /// <summary>
    /// Reads from the tables' position until <see cref="StreamOptions.MaxBatchRecords"/> or the trigger's close
    /// (<see cref="MicroBatchTrigger"/>), adding each chunk read to DuckDB's tables as it arrives, its records read by our parser
    /// where it can (<see cref="MicroBatchRows"/>; .NET keeps only the text of those, for their rejects). Past its close a micro-batch still takes what the input can read at once, as a Spark micro-batch
    /// takes every offset there at its start.
    /// </summary>
    private async Task<Batch?> CollectAsync(CancellationToken cancellationToken)
    {
        _input.Begin();
        Cleaner.Begin(cancellationToken);
        long firstAt = 0, closeAt = 0;
        bool waited = false, idle = false;
        using var added = Cleaner.OpenRows();
        var rows = new RawRows(added);
        while (true)
        {
            int got = await _input.ReadAsync(_options.MaxBatchRecords, rows, cancellationToken).ConfigureAwait(false);
            int count = rows.Count;
            long now = _time.GetTimestamp();
            if (count > 0 && firstAt == 0) (firstAt, closeAt) = (now, _trigger.CloseAt(now, waiting: !waited));
            if (count >= _options.MaxBatchRecords) return Close(count, rows.Split, firstAt, now);
            TimeSpan left = count == 0 ? IdleWait : _time.GetElapsedTime(now, closeAt);
            if (count > 0 && left <= TimeSpan.Zero && !_input.MoreReady) return Close(count, rows.Split, firstAt, now);
            if (got > 0) continue;
            // Null: what this worker reads changed while it waited; the positions are read again first.
            if (count == 0 && !await _input.IdleAsync(cancellationToken).ConfigureAwait(false)) return null;
            // Nothing came since the last wait either: the reject table's held-back position is committed now.
            if (count == 0 && idle && _input.TakeHeldRejects() is { } held && !await CommitHeldRejectsAsync(held, cancellationToken).ConfigureAwait(false)) return null;
            idle = count == 0;
            waited = true;
            await _input.WaitAsync(left, cancellationToken).ConfigureAwait(false);
        }
    }

    private Batch Close(int records, bool split, long firstAt, long at)
    {
        _trigger.Closed(at);
        return new Batch(records, split, firstAt, at);
    }

    /// <summary>
    /// Cleans a micro-batch and commits it: the clean rows with the new offsets, then the rejects with theirs. A
    /// record below a table's committed offset (left by a crash between the two commits) is skipped for that table.
    /// </summary>
    /// <returns>False when the micro-batch was dropped and the table must resume from its offsets (another worker committed part of it, or this one no longer owns a partition of it).</returns>
    private async Task<bool> ProcessAsync(Batch batch, CancellationToken cancellationToken)
    {
        bool split = batch.Split;
        // Every record of the micro-batch was read before this check: a stream created again before a read shows here.
        await _input.CheckAsync(cancellationToken).ConfigureAwait(false);

        string cleanFile = Path.Combine(_work!, $"clean-{Guid.NewGuid():N}.parquet");
        string rejectsFile = Path.Combine(_work!, $"rejects-{Guid.NewGuid():N}.parquet");
        CleanResult forClean, forRejects;
        DeltaStats.FileFacts? cleanFacts = null, rejectsFacts = null;
        long[]? cleanKeys = null;
        try
        {
            // The keys already committed are found through the clean table itself (files whose ind stats rule out
            // every new key are not read); the cached latest version costs one GET when no commit came in between.
            var table = await _clean.LatestAsync(cancellationToken).ConfigureAwait(false);
            long cleaning = 0, writing = 0, at = _time.GetTimestamp();
            void Step(ref long step)
            {
                long now = _time.GetTimestamp();
                step += now - at;
                at = now;
            }
            if (!split)
            {
                forClean = forRejects = await CleanAsync(MicroBatchPart.All, table, cancellationToken).ConfigureAwait(false);
                Step(ref cleaning);
                if (forClean.Clean > 0) (cleanFacts, cleanKeys) = SpillClean(cleanFile, forClean, cancellationToken);
                if (forRejects.Rejects > 0) rejectsFacts = SpillRejects(rejectsFile, forRejects.Rejects);
                Step(ref writing);
            }
            else
            {
                // After a crash between the two commits one table is ahead: clean each table's own records.
                forClean = await CleanAsync(MicroBatchPart.ForClean, table, cancellationToken).ConfigureAwait(false);
                Step(ref cleaning);
                if (forClean.Clean > 0) (cleanFacts, cleanKeys) = SpillClean(cleanFile, forClean, cancellationToken);
                Step(ref writing);
                forRejects = await CleanAsync(MicroBatchPart.ForRejects, table, cancellationToken).ConfigureAwait(false);
                Step(ref cleaning);
                if (forRejects.Rejects > 0) rejectsFacts = SpillRejects(rejectsFile, forRejects.Rejects);
                Step(ref writing);
            }

            Step(ref writing);
            var cleanTxns = _input.Txns(rejects: false);
            var rejectTxns = _input.Txns(rejects: true);
            // A worker commits only for what it owns; one whose ownership may have run out drops the micro-batch (the new
            // owner reads it again). A commit racing the handover is caught by the Delta txn conflict check.
            if (_input.NotOwned(cleanTxns.Concat(rejectTxns)) is { } lost)
            {
                _logger.LogInformation("{Table}: {Lost} is no longer this worker's; the micro-batch was dropped.", _name, lost);
                return false;
            }
            long version = -1, rejectsVersion = -1;
            if (cleanTxns.Count > 0)
            {
                string[] files = cleanFacts is not null ? [cleanFile] : [];
                var result = await CommitAsync(_clean, _cleanSchema, files, cleanFacts, cleanTxns, "append", _cleanRead, cancellationToken).ConfigureAwait(false);
                if (result.Status == DeltaCommitStatus.AlreadyCommitted)
                {
                    Overlap();
                    return false;
                }
                _input.Committed(rejects: false);
                _cleanRead = result.Version;
                // The file's keys, taken from the rows it was written from: the next check finds them without reading it.
                if (cleanKeys is not null && result.Added.Count == 1 && _keys.TryAdd(result.Added[0].Path, cleanKeys))
                {
                    lock (_statsGate) _keyCacheBytes = _keys.Bytes;
                }
                _compactor.CleanAppended(files.Length);
                version = result.Version;
            }
            // A micro-batch without rejects moves the reject table's position with the next commit that has some, or
            // RejectsHoldLimit after its last one, or once the table is idle: most micro-batches commit to one table.
            bool holdRejects = rejectTxns.Count > 0 && rejectsFacts is null && _time.GetElapsedTime(_rejectsCommittedAt) < RejectsHoldLimit;
            if (holdRejects)
            {
                _input.RejectsHeld();
            }
            else if (rejectTxns.Count > 0)
            {
                string[] files = rejectsFacts is not null ? [rejectsFile] : [];
                var result = await CommitAsync(_rejects, _rejectSchema, files, rejectsFacts, rejectTxns, "append", _rejectsRead, cancellationToken).ConfigureAwait(false);
                if (result.Status == DeltaCommitStatus.AlreadyCommitted)
                {
                    Overlap();
                    return false;
                }
                _input.Committed(rejects: true);
                _rejectsRead = result.Version;
                _rejectsCommittedAt = _time.GetTimestamp();
                _compactor.RejectsAppended(files.Length);
                rejectsVersion = result.Version;
            }

            long committing = 0;
            Step(ref committing);
            var latency = _time.GetElapsedTime(batch.FirstAt);
            _metrics.BatchDuration.Observe(latency.TotalSeconds);
            var collected = _time.GetElapsedTime(batch.FirstAt, batch.ClosedAt);
            var (cleaned, written, committed) = (Ticks(cleaning), Ticks(writing), Ticks(committing));
            _metrics.CollectStep.Observe(collected.TotalSeconds);
            _metrics.CleanStep.Observe(cleaned.TotalSeconds);
            _metrics.WriteStep.Observe(written.TotalSeconds);
            _metrics.CommitStep.Observe(committed.TotalSeconds);
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
            await _input.CommittedBatchAsync(cancellationToken).ConfigureAwait(false);
            // More records came while the micro-batch ran than it took: the table is not gaining on its stream.
            _behind = _input.Lag >= batch.Records;
            var quality = string.Join(", ", forClean.Quality.Where(q => q.Count > 0).Select(q => $"{q.Column} {q.Rule} {q.Count}")
                .Concat(forRejects.RejectReasons.Where(k => k.Count > 0).Select(k => $"rejected {k.Kind} {k.Count}")));
            _logger.LogDebug("{Table}: micro-batch of {Read:N0} records → {Clean:N0} clean, {Duplicates:N0} duplicates, {Rejects:N0} rejects in {Ms:N0} ms (collect {Collect:N0}, clean {Cleaning:N0}, write {Writing:N0}, commit {Committing:N0} ms; Delta v{Version}, rejects v{RejectsVersion}); quality: {Quality}.",
                _name, batch.Records, forClean.Clean, forClean.Duplicates, forRejects.Rejects, latency.TotalMilliseconds, collected.TotalMilliseconds, cleaned.TotalMilliseconds,
                written.TotalMilliseconds, committed.TotalMilliseconds, version, rejectsVersion, quality.Length == 0 ? "none" : quality);
            return true;
        }
        finally
        {
            TryDelete(cleanFile);
            TryDelete(rejectsFile);
        }
    }

    private TimeSpan Ticks(long ticks) => _time.GetElapsedTime(0, ticks);

    /// <summary>The table already holds offsets of this micro-batch: another worker committed them (it owned the partition). The caller starts over from what the tables hold.</summary>
    private void Overlap() =>
        _logger.LogWarning("{Table}: the Delta table already holds offsets of this micro-batch (another stream worker committed them); resuming from the table's offsets.", _name);

    /// <summary>
    /// Commits the reject table's held-back position (the micro-batches since its last commit had no rejects), with no file.
    /// False when the table must resume first (a partition is no longer this worker's, or another worker committed for it).
    /// </summary>
    private async Task<bool> CommitHeldRejectsAsync(HeldRejects held, CancellationToken cancellationToken)
    {
        var txns = held.Txns;
        if (txns.Count > 0)
        {
            if (_input.NotOwned(txns) is { } lost)
            {
                _logger.LogInformation("{Table}: {Lost} is no longer this worker's; the reject table's position is read again.", _name, lost);
                return false;
            }
            var result = await CommitAsync(_rejects, _rejectSchema, [], null, txns, "position", _rejectsRead, cancellationToken).ConfigureAwait(false);
            if (result.Status == DeltaCommitStatus.AlreadyCommitted)
            {
                Overlap();
                return false;
            }
            held.Committed();
            _rejectsRead = result.Version;
        }
        _rejectsCommittedAt = _time.GetTimestamp();
        return true;
    }

    /// <summary>
    /// Between micro-batches (a revocation, a graceful stop): commits the reject table's held-back position; a failure is
    /// logged (whoever reads the stream next reads the records since the position the table holds again, for it alone).
    /// </summary>
    private async Task CommitHeldRejectsBetweenBatchesAsync(string moment)
    {
        await _batchGate.WaitAsync().ConfigureAwait(false);
        try
        {
            if (_input.TakeHeldRejects() is { } held) await CommitHeldRejectsAsync(held, CancellationToken.None).ConfigureAwait(false);
        }
        catch (Exception ex) when (ex is DeltaException || Retry.IsTransient(ex))
        {
            _logger.LogWarning("{Table}: the reject table's position could not be committed {Moment} ({Message}); the records since the position it holds are read again for it.", _name, moment, ex.Message);
        }
        finally
        {
            _batchGate.Release();
        }
    }

    /// <summary>Appends the files (with <paramref name="facts"/>, the stats of the one file, taken from its rows) with the txns; <paramref name="readVersion"/> is the version this worker's offsets were read at, so another worker's commit for one of the partitions since fails it (<see cref="DeltaErrorCode.ConcurrentTransaction"/>).</summary>
    private static Task<DeltaCommitResult> CommitAsync(DeltaTable table, DeltaSchema schema, IReadOnlyList<string> files, DeltaStats.FileFacts? facts, IReadOnlyList<DeltaTxn> txns, string what, long? readVersion, CancellationToken cancellationToken) =>
        table.CommitAsync(new DeltaWrite(schema, files)
        {
            Facts = facts is null ? null : [facts],
            Txns = txns,
            ReadVersion = readVersion,
            Operation = "STREAMING UPDATE",
            OperationParameters = new Dictionary<string, string> { ["outputMode"] = "Append", ["queryId"] = "pinpipe-stream", ["pinpipe.step"] = what },
        }, cancellationToken);

    // ------------------------------------------------------------------ DuckDB

    /// <summary>A DuckDB of the table, its <see cref="MicroBatchCleaner"/> and the Delta stats queries it prepared.</summary>
    private sealed record DuckDbInstance(DuckDBConnection Db, MicroBatchCleaner Cleaner, DeltaStats.Query CleanStats, DeltaStats.Query RejectsStats);

    /// <summary>Opens the table's DuckDB and its <see cref="MicroBatchCleaner"/>.</summary>
    private void OpenDuckDb() => Use(OpenInstance());

    private void Use(DuckDbInstance instance)
    {
        _db = instance.Db;
        _cleaner = instance.Cleaner;
        _cleanStats = instance.CleanStats;
        _rejectsStats = instance.RejectsStats;
        _batchesSinceOpen = 0;
    }

    /// <summary>A new DuckDB for the table, with its cleaner and statements prepared.</summary>
    private DuckDbInstance OpenInstance()
    {
        DuckDBConnection db;
        try
        {
            db = DuckDbSession.Open(new DuckDbSettings
            {
                MemoryLimit = _options.MemoryLimit,
                Threads = _options.Threads,
                TempDirectory = Path.Combine(_work!, string.Create(CultureInfo.InvariantCulture, $"spill-{Interlocked.Increment(ref _instances)}")),
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
        try
        {
            var cleaner = new MicroBatchCleaner(db, _kind, _options.Parser) { KeyCache = _keys };
            // The Delta stats of each micro-batch's files, planned once: taken from the rows the file is written from.
            var cleanStats = DeltaStats.RowsQuery(_cleanSchema, cleaner.CleanRowSetSql, $"{_name}'s clean rows");
            var rejectsStats = DeltaStats.RowsQuery(_rejectSchema, cleaner.RejectRowsSql, $"{_name}'s rejects");
            db.Execute($"PREPARE {CleanStatsStatement} AS {cleanStats.Sql}");
            db.Execute($"PREPARE {RejectsStatsStatement} AS {rejectsStats.Sql}");
            return new DuckDbInstance(db, cleaner, cleanStats, rejectsStats);
        }
        catch
        {
            db.Dispose();
            throw;
        }
    }

    /// <summary>
    /// Replaces the table's DuckDB every <see cref="StreamOptions.ReopenDuckDbEvery"/> micro-batches, between micro-batches
    /// (when it holds nothing needed). DuckDB keeps an entry in its buffer pool's eviction queues for every block a query
    /// unpinned (a micro-batch's joins unpin about a hundred) and purges dead entries only once a queue holds tens of
    /// thousands of them: without the reopen, a job running for hours holds memory that no query uses. (The rows the cleaner
    /// deletes between micro-batches are given back by its checkpoints, <see cref="MicroBatchCleaner.Begin"/>.)
    /// </summary>
    /// <remarks>
    /// Opening an instance and preparing its statements, and closing one (which purges every jemalloc arena of the process),
    /// took about 90–160 and 50–95 ms at 10k records/s: both run beside the micro-batches. Once due, and once one of the job's
    /// <see cref="MaintenanceSlot"/>s is free, the new instance opens while the next micro-batch runs on the old one, replaces it
    /// after that micro-batch (waiting for the open only if it is not done yet) and the old one closes in the background; the
    /// slot is held from the open to the close.
    /// </remarks>
    private async Task ReopenDuckDbWhenDueAsync()
    {
        if (_opening is { } opening)
        {
            _opening = null;
            long waited = _time.GetTimestamp();
            DuckDbInstance next;
            try
            {
                next = await opening.ConfigureAwait(false); // an open that failed fails the table here, as a reopen in line did
            }
            catch
            {
                _maintenance.Release();
                throw;
            }
            var old = _db!;
            Use(next);
            lock (_statsGate) _duckDbOpens++;
            _logger.LogDebug("{Table}: its DuckDB was replaced by one opened beside the last micro-batch (waited {Ms:N0} ms for it).", _name, _time.GetElapsedTime(waited).TotalMilliseconds);
            var closing = _closing ?? Task.CompletedTask;
            _closing = Task.Run(async () =>
            {
                try
                {
                    await closing.ConfigureAwait(false); // one close at a time
                    old.Dispose();
                }
                finally
                {
                    _maintenance.Release(); // the reopen held the job's slot from the open to the close
                }
            });
            return;
        }
        // Due, but other tables' compactions or reopens hold the job's slots: tried again after the next micro-batch.
        if (++_batchesSinceOpen < _options.ReopenDuckDbEvery || !_maintenance.TryTake()) return;
        _opening = Task.Run(OpenInstance);
    }

    /// <summary>
    /// Writes the micro-batch's clean rows to <paramref name="file"/> and returns its stats, from the same rows (the file is
    /// not read back), and the file's keys when they are worth keeping in the key cache once it is committed: when the
    /// micro-batch's own check had to look at the keys of files of the table (keys that recur, as the emulators post),
    /// the next check would otherwise read this file's keys back. A stream of new, rising keys never looks at a file's
    /// keys, and keeps none.
    /// </summary>
    private (DeltaStats.FileFacts Facts, long[]? Keys) SpillClean(string file, CleanResult result, CancellationToken cancellationToken)
    {
        var facts = Spill(Cleaner.CleanFileRowsSql(result.Clean), file, CleanStatsStatement, _cleanStats!, result.Clean);
        bool keep = result.KeyFilesRead + result.KeyFilesCached > 0 && _keys.Fits(result.Clean);
        return (facts, keep ? Cleaner.CleanKeys(cancellationToken) : null);
    }

    /// <summary>Writes the micro-batch's rejects to <paramref name="file"/> and returns its stats, from the same rows.</summary>
    private DeltaStats.FileFacts SpillRejects(string file, long rows) => Spill(Cleaner.RejectRowsSql, file, RejectsStatsStatement, _rejectsStats!, rows);

    private DeltaStats.FileFacts Spill(string source, string file, string statsStatement, DeltaStats.Query stats, long rows)
    {
        _db!.CopyToParquet(source, file);
        var (json, count) = _db!.Query($"EXECUTE {statsStatement}", stats.Read)[0];
        if (count != rows) throw new InvalidOperationException($"{_name}: the stats of {file} count {count} rows, but the micro-batch has {rows}.");
        return new DeltaStats.FileFacts(json, count, DuckDbSession.ParquetCompression);
    }

    private const string CleanStatsStatement = "pinpipe_stream_clean_stats";
    private const string RejectsStatsStatement = "pinpipe_stream_rejects_stats";

    private async Task<CleanResult> CleanAsync(MicroBatchPart part, DeltaSnapshot? table, CancellationToken cancellationToken)
    {
        // A compaction's file gets the keys kept for the files it replaced, before the check forgets those (no longer live).
        foreach (var (file, from) in _compactor.TakeCleanRewrites()) _keys.TryAddUnion(file, from);
        var result = await Cleaner.CleanAsync(part, table, cancellationToken).ConfigureAwait(false);
        lock (_statsGate)
        {
            _keyFilesRead += result.KeyFilesRead;
            _keyFilesSkipped += result.KeyFilesSkipped;
            _keyFilesCached += result.KeyFilesCached;
            _keyCacheBytes = _keys.Bytes;
        }
        return result;
    }

    internal static void TryDelete(string file)
    {
        try { File.Delete(file); }
        catch (IOException) { }
        catch (UnauthorizedAccessException) { }
    }
}
