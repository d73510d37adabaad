using System.Collections.Concurrent;
using DuckDB.NET.Data;
using Microsoft.Extensions.Logging;
using PinPipe.Configuration;
using PinPipe.DuckDb;
using PinPipe.Lake;
using PinPipe.Lake.Delta;

namespace PinPipe.Streaming;

/// <summary>
/// The compaction of one <see cref="StreamTable"/>'s clean and reject Delta tables: counts their small live files (below
/// the small-file size) and, once a table has <see cref="StreamOptions.CompactEvery"/> of them, rewrites them into
/// one file in an <c>OPTIMIZE</c> commit, tiered and bounded (at most <see cref="CompactBytesFactor"/> × the small-file
/// size of small files, and one target-sized file's worth of a tier of larger ones, read by one compaction), so files
/// grow tier by tier to the target size (<see cref="StreamOptions.CompactTargetBytes"/>) and are then left alone.
/// </summary>
/// <remarks>
/// It runs beside the micro-batches, which do not wait for it: at most one compaction at a time per table, and only when
/// it gets one of the job's <see cref="MaintenanceSlot"/>s (one per two cores), at a lower CPU priority
/// (<see cref="StreamOptions.CompactionNice"/>), on its own DuckDB (one
/// thread, <see cref="CompactMemoryLimit"/>, kept for <see cref="ReopenDbEvery"/> compactions) and its own
/// <see cref="DeltaTable"/> instances of the tables (a micro-batch commit that loses the race to it retries at the next
/// version). Not cancelled with the job: a compaction reads at most a bounded amount, and a graceful stop
/// (<see cref="FinishAsync"/>) waits for it rather than throw the work away.
/// The table calls <see cref="StartAsync"/> after each micro-batch and <see cref="EndAsync"/> when it stops.
/// A compaction that fails beside the micro-batches does not stop them: compaction is maintenance, and a failure that
/// repeats (a file it cannot read, memory it cannot get) would otherwise end the job at every restart. The failure is
/// logged as an error and counted (<c>pinpipe_stream_compaction_failures_total</c>), the table keeps its small files, and
/// the next compaction waits <see cref="FirstRetryDelay"/>, doubled with each failure in a row up to
/// <see cref="MaxRetryDelay"/>. A graceful stop (<see cref="FinishAsync"/>) treats the compaction running beside the
/// micro-batches so too, then compacts what is due and throws that compaction's failure.
/// </remarks>
internal sealed class StreamCompactor
{
    private const int CompactBytesFactor = 4;

    /// <summary>The wait before the next compaction after one failed; doubled with each failure in a row.</summary>
    internal static readonly TimeSpan FirstRetryDelay = TimeSpan.FromSeconds(30);

    /// <summary>The longest wait between compactions that keep failing.</summary>
    internal static readonly TimeSpan MaxRetryDelay = TimeSpan.FromMinutes(15);

    private const string CompactMemoryLimit = "100MB"; // a compaction streams Parquet to Parquet: beyond this it spills

    /// <summary>Compactions that share one DuckDB before it is replaced (see <see cref="OpenDb"/>).</summary>
    internal const int ReopenDbEvery = 20;

    /// <summary>
    /// The row groups a compaction writes, by bytes: DuckDB's default of <see cref="DuckDbSession.RowGroupRows"/> (122,880) rows is held in memory whole before it is
    /// written, about 90 MB of pins, which ran a compaction out of its 100 MB once the table's files held new posts (an
    /// out-of-memory error that ended the stream job two minutes into a soak of unique records).
    /// </summary>
    internal const long CompactRowGroupBytes = 16L << 20;

    private readonly string _name;
    private readonly IObjectStore _store;
    private readonly DeltaTable _clean, _rejects; // the stream table's tables, own instances for the compaction task
    private readonly string _work;
    private readonly int _every;
    private readonly long _smallFileBytes;
    private readonly long _targetFileBytes;
    private readonly ILogger _logger;
    private readonly TimeProvider _time;
    private long _failures;
    private int _failuresInARow;
    private DateTimeOffset _retryAt = DateTimeOffset.MinValue; // after a failure, no compaction starts before this
    private int _cleanFiles, _rejectFiles; // small live files (compaction candidates): the micro-batches and the compaction task update them
    private long _compactions;
    private long _putOff; // times a due compaction was put off because the table was behind
    private bool _puttingOff;
    private Task? _compaction; // at most one per table, beside the micro-batches
    private readonly ConcurrentQueue<(string File, string[] From)> _cleanRewrites = new(); // for the stream table's key cache (TakeCleanRewrites)
    private readonly int _reopenDbEvery;
    private readonly MaintenanceSlot _slot;
    private readonly IWorkRunner? _runner;
    private DuckDBConnection? _db; // the compactions' DuckDB, kept between them (see OpenDb)
    private int _dbUses;
    private long _dbOpens;

    /// <param name="name">The clean table's name, for log lines.</param>
    /// <param name="store">The bucket.</param>
    /// <param name="cleanPrefix">The clean table's key prefix.</param>
    /// <param name="rejectsPrefix">The reject table's key prefix.</param>
    /// <param name="work">The table's work folder (spill and rewritten files); it must exist while compactions run.</param>
    /// <param name="compactEvery"><see cref="StreamOptions.CompactEvery"/>: small live files that make a compaction due; 0 never compacts.</param>
    /// <param name="smallFileBytes">Files below this size are compaction candidates.</param>
    /// <param name="logger">Where each compaction is logged (Debug) and a failure while stopping (Warning).</param>
    /// <param name="loggerFactory">For the compaction's own <see cref="DeltaTable"/> instances.</param>
    /// <param name="time">Clock of the Delta commits.</param>
    /// <param name="targetFileBytes">The size compacted files grow to, tier by tier (<see cref="StreamOptions.CompactTargetBytes"/>).</param>
    /// <param name="reopenDbEvery">Compactions that share one DuckDB (<see cref="ReopenDbEvery"/>).</param>
    /// <param name="slot">The job's <see cref="MaintenanceSlot"/>, one of which a compaction beside the micro-batches holds while
    /// it runs; null: one of its own.</param>
    /// <param name="runner">Where a compaction's DuckDB work (the rewrite and the new files' stats) runs: the threads of
    /// <see cref="StreamOptions.CompactionNice"/> (<see cref="LowPriorityScheduler"/>); null: the compaction's own task.</param>
    /// <param name="commitGates">The <see cref="DeltaTable.CommitGate"/>s of the clean and the reject table, shared with the stream
    /// table's own instances (over a store whose put-if-absent is not atomic); null: none.</param>
    public StreamCompactor(string name, IObjectStore store, string cleanPrefix, string rejectsPrefix, string work, int compactEvery, long smallFileBytes,
        ILogger logger, ILoggerFactory loggerFactory, TimeProvider time, long targetFileBytes = DuckDbSession.TargetFileBytes, int reopenDbEvery = ReopenDbEvery,
        MaintenanceSlot? slot = null, (SemaphoreSlim Clean, SemaphoreSlim Rejects)? commitGates = null, IWorkRunner? runner = null)
    {
        _runner = runner;
        ArgumentOutOfRangeException.ThrowIfLessThan(reopenDbEvery, 1);
        _reopenDbEvery = reopenDbEvery;
        _slot = slot ?? new MaintenanceSlot();
        _name = name;
        _store = store;
        _clean = new DeltaTable(store, cleanPrefix, loggerFactory.CreateLogger<DeltaTable>(), time) { CommitGate = commitGates?.Clean };
        _rejects = new DeltaTable(store, rejectsPrefix, loggerFactory.CreateLogger<DeltaTable>(), time) { CommitGate = commitGates?.Rejects };
        _work = work;
        _every = compactEvery;
        _smallFileBytes = smallFileBytes;
        _targetFileBytes = Math.Max(targetFileBytes, smallFileBytes);
        _logger = logger;
        _time = time;
    }

    /// <summary>Compaction commits since the job started (clean and reject table).</summary>
    public long Compactions => Interlocked.Read(ref _compactions);

    /// <summary>Times a due compaction was put off because the table was behind its stream (<see cref="StartAsync"/>).</summary>
    internal long PutOff => Interlocked.Read(ref _putOff);

    /// <summary>Compactions beside the micro-batches that failed since the job started (each logged as an error).</summary>
    public long Failures => Interlocked.Read(ref _failures);

    /// <summary>DuckDB instances the compactions opened since the job started.</summary>
    internal long DbOpens => Interlocked.Read(ref _dbOpens);

    /// <summary>Whether the compactions' DuckDB is open (between compactions; closed by <see cref="EndAsync"/> and <see cref="FinishAsync"/>).</summary>
    internal bool DbOpen => Volatile.Read(ref _db) is not null;

    /// <summary>Small live files of the clean table, as last counted.</summary>
    public int CleanSmallFiles => Volatile.Read(ref _cleanFiles);

    /// <summary>Small live files of the reject table, as last counted.</summary>
    public int RejectSmallFiles => Volatile.Read(ref _rejectFiles);

    /// <summary>
    /// The clean table's files that compactions wrote since the last call (handed over before their commit, so that no check
    /// sees them live first), each with the files whose rows it holds (the ones it replaces): the stream table gives the new
    /// file the keys it kept for those (<see cref="DeltaKeyCache.TryAddUnion"/>), so that its next check does not read the
    /// compacted file's keys back. Only a group rewritten into one file is given (a group of more than the target size is
    /// split at row-group boundaries, the keys of each part unknown).
    /// </summary>
    public IEnumerable<(string File, string[] From)> TakeCleanRewrites()
    {
        while (_cleanRewrites.TryDequeue(out var rewrite)) yield return rewrite;
    }

    /// <summary>Counts the small live files of the tables as the stream table (re)loaded them.</summary>
    public void Resumed(DeltaSnapshot? clean, DeltaSnapshot? rejects)
    {
        Volatile.Write(ref _cleanFiles, clean?.Files.Count(f => f.Size < _smallFileBytes) ?? 0);
        Volatile.Write(ref _rejectFiles, rejects?.Files.Count(f => f.Size < _smallFileBytes) ?? 0);
    }

    /// <summary>A micro-batch committed <paramref name="files"/> files to the clean table.</summary>
    public void CleanAppended(int files) => Interlocked.Add(ref _cleanFiles, files);

    /// <summary>A micro-batch committed <paramref name="files"/> files to the reject table.</summary>
    public void RejectsAppended(int files) => Interlocked.Add(ref _rejectFiles, files);

    /// <summary>
    /// How many times <see cref="StreamOptions.CompactEvery"/> small files a table that is behind its stream holds before
    /// it compacts anyway: the compactions a table puts off while it catches up are bounded.
    /// </summary>
    internal const int BehindFactor = 2;

    /// <summary>
    /// Starts a compaction of the tables with <see cref="StreamOptions.CompactEvery"/> small files (<see cref="BehindFactor"/>
    /// times as many when <paramref name="behind"/>) unless one is running, the job's <see cref="MaintenanceSlot"/>s are all
    /// taken or the last one failed less than the retry delay ago. The failure of the one that ran before is logged and
    /// counted, not thrown (see the remarks).
    /// </summary>
    /// <param name="behind">The table is not keeping pace with its stream (its last micro-batch took longer than its records
    /// took to come): the compaction waits until it has caught up, or until the table holds <see cref="BehindFactor"/> ×
    /// <see cref="StreamOptions.CompactEvery"/> small files.</param>
    public async Task StartAsync(bool behind = false)
    {
        if (_every <= 0) return;
        if (_compaction is { } compaction)
        {
            if (!compaction.IsCompleted) return;
            await ObserveAsync(Moment.BetweenBatches).ConfigureAwait(false);
        }
        if (_time.GetUtcNow() < _retryAt) return;
        var due = Due(_every);
        var (clean, rejects) = behind ? Due(_every * BehindFactor) : due;
        bool putOff = (due.Clean || due.Rejects) && !(clean || rejects);
        if (putOff != _puttingOff)
        {
            _puttingOff = putOff;
            if (putOff)
            {
                Interlocked.Increment(ref _putOff);
                _logger.LogDebug("{Table}: behind its stream; its compaction waits until it catches up (or has {Bound} small files).", _name, _every * BehindFactor);
            }
            else
            {
                _logger.LogDebug("{Table}: no compaction put off now (the bound is {Bound} small files).", _name, _every * BehindFactor);
            }
        }
        // Other tables' compactions or DuckDB reopens hold the job's slots: this one starts after a later micro-batch.
        if (!(clean || rejects) || !_slot.TryTake()) return;
        _compaction = Task.Run(async () =>
        {
            try
            {
                await CompactTablesAsync(clean, rejects).ConfigureAwait(false);
            }
            finally
            {
                _slot.Release();
            }
        });
    }

    /// <summary>
    /// A graceful stop: waits for the compaction running beside the micro-batches (its failure logged and counted as
    /// between them, not thrown: whether a micro-batch came after it to see it is chance), then compacts every table with a
    /// compaction due, throwing that compaction's failure.
    /// </summary>
    public async Task FinishAsync()
    {
        try
        {
            await ObserveAsync(Moment.Finishing).ConfigureAwait(false);
            var (clean, rejects) = Due(_every);
            if (_every > 0 && (clean || rejects)) await CompactTablesAsync(clean, rejects).ConfigureAwait(false);
        }
        finally
        {
            CloseDb();
        }
    }

    /// <summary>Waits for the running compaction, if any, and closes the compactions' DuckDB; its failure is logged (the job is stopping), not thrown.</summary>
    public async Task EndAsync()
    {
        await ObserveAsync(Moment.Ending).ConfigureAwait(false);
        CloseDb();
    }

    /// <summary>Counts and logs a failed compaction and puts the next one off (at a graceful stop, <paramref name="finishing"/>, the stop compacts at once).</summary>
    private void Failed(Exception ex, bool finishing = false)
    {
        Interlocked.Increment(ref _failures);
        _failuresInARow++;
        if (finishing)
        {
            _logger.LogError(ex, "{Table}: a compaction failed ({Failures} in a row): {Message} The stop compacts what is due once more.", _name, _failuresInARow, ex.Message);
            return;
        }
        var delay = TimeSpan.FromTicks(Math.Min(MaxRetryDelay.Ticks, FirstRetryDelay.Ticks << Math.Min(_failuresInARow - 1, 20)));
        _retryAt = _time.GetUtcNow() + delay;
        _logger.LogError(ex, "{Table}: a compaction failed ({Failures} in a row): {Message} The table keeps its small files and the micro-batches go on; the next compaction is tried in {Delay}.",
            _name, _failuresInARow, ex.Message, Durations.Text(delay));
    }

    private (bool Clean, bool Rejects) Due(int every) => (Volatile.Read(ref _cleanFiles) >= every, Volatile.Read(ref _rejectFiles) >= every);

    /// <summary>When the running compaction is waited for: what its failure does.</summary>
    private enum Moment
    {
        /// <summary>Between micro-batches: logged as an error and counted, the next compaction put off (<see cref="Failed"/>).</summary>
        BetweenBatches,

        /// <summary>At a graceful stop: logged as an error and counted; the stop compacts what is due at once.</summary>
        Finishing,

        /// <summary>The job stops on another failure or a cancel: a warning.</summary>
        Ending,
    }

    /// <summary>Waits for the running compaction, if any: a failure is logged (and counted) as <paramref name="moment"/> says, not thrown.</summary>
    private async Task ObserveAsync(Moment moment)
    {
        var compaction = _compaction;
        _compaction = null;
        if (compaction is null) return;
        try
        {
            await compaction.ConfigureAwait(false);
            _failuresInARow = 0;
        }
#pragma warning disable CA1031 // any failure of the maintenance task: logged (and counted), the micro-batches go on or the job's own failure is thrown
        catch (Exception ex)
#pragma warning restore CA1031
        {
            if (moment == Moment.Ending) _logger.LogWarning(ex, "{Table}: a compaction failed while the job stopped; the table keeps its small files.", _name);
            else Failed(ex, finishing: moment == Moment.Finishing);
        }
    }

    /// <summary>Compacts the clean and/or reject table.</summary>
    private async Task CompactTablesAsync(bool clean, bool rejects)
    {
        var db = OpenDb();
        try
        {
            if (clean) Interlocked.Add(ref _cleanFiles, await CompactAsync(_clean, db, CancellationToken.None).ConfigureAwait(false));
            if (rejects) Interlocked.Add(ref _rejectFiles, await CompactAsync(_rejects, db, CancellationToken.None).ConfigureAwait(false));
        }
        catch
        {
            CloseDb(); // the next compaction starts on a fresh DuckDB
            throw;
        }
    }

    /// <summary>
    /// The compactions' DuckDB (one thread, <see cref="CompactMemoryLimit"/>), opened by the first and kept for the next
    /// <see cref="ReopenDbEvery"/> − 1, or until one fails. Closing a DuckDB purges every jemalloc arena of the process
    /// (DuckDB's <c>Allocator::FlushAll</c>), so the micro-batches of every table then fault their working set in again:
    /// with an instance per compaction (one every 2–3 s over three tables at 10k records/s) that was about a third of the
    /// stream job's page faults (BENCHMARKS.md).
    /// </summary>
    private DuckDBConnection OpenDb()
    {
        if (_db is not null && _dbUses >= _reopenDbEvery) CloseDb();
        if (_db is null)
        {
            _db = DuckDbSession.Open(new DuckDbSettings
            {
                Threads = 1,
                MemoryLimit = CompactMemoryLimit,
                AllocatorFlushThreshold = "16MB",
                PreserveInsertionOrder = false, // a compacted file's rows have no order to keep; row groups bounded by bytes need it
                ExternalFileCache = false, // the files it read are removed from the table: caching them would only hold memory
                TempDirectory = Path.Combine(_work, "compact-spill"),
            });
            _dbUses = 0;
            Interlocked.Increment(ref _dbOpens);
        }
        _dbUses++;
        return _db;
    }

    private void CloseDb()
    {
        _db?.Dispose();
        _db = null;
    }

    /// <summary>
    /// One compaction of the table, in one <c>OPTIMIZE</c> commit (no data change) through <see cref="DeltaTable.RewriteAsync"/>:
    /// <list type="bullet">
    /// <item>its small live files (below the small-file size, 8 MiB by default), at most <see cref="CompactBytesFactor"/> × the
    /// small-file size of them (in the snapshot's order, by path, so in no particular age order; at least two);</item>
    /// <item>and the lowest tier of larger files that holds <see cref="CompactBytesFactor"/> files or more: tier k holds the files
    /// of [small × 4^(k-1), small × 4^k), below the target file size; as many of its files as fit in one target-sized
    /// file (at least two), rewritten into one.</item>
    /// </list>
    /// So a file is rewritten about once per tier (8 → 32 → 128 MiB for a target of 128 MiB) until it reaches the target
    /// size, and never after: the tables end with files of about the target size, each byte rewritten once per tier, however
    /// long the job runs. Returns the change in the number of small live files.
    /// </summary>
    private async Task<int> CompactAsync(DeltaTable table, DuckDBConnection db, CancellationToken cancellationToken)
    {
        long started = _time.GetTimestamp();
        // The cached state brought up to date (the commits since the last compaction): no listing of the log, no checkpoint read.
        var snapshot = await table.LatestAsync(cancellationToken).ConfigureAwait(false);
        if (snapshot is null) return 0;
        var candidates = snapshot.Files.Where(f => f.Size < _smallFileBytes).ToArray();
        long budget = _smallFileBytes * CompactBytesFactor, taken = 0;
        int take = 0;
        while (take < candidates.Length && (take < 2 || taken + candidates[take].Size <= budget)) taken += candidates[take++].Size;
        var small = candidates[..take];
        var bins = new List<IReadOnlyList<DeltaFile>>();
        if (small.Length >= 2) bins.Add(small);
        for (long low = _smallFileBytes; low < _targetFileBytes; low *= CompactBytesFactor)
        {
            long high = Math.Min(low * CompactBytesFactor, _targetFileBytes);
            var tier = snapshot.Files.Where(f => f.Size >= low && f.Size < high).ToArray();
            if (tier.Length < CompactBytesFactor) continue;
            var planned = DeltaTable.PlanBins(tier, _targetFileBytes);
            if (planned.Count == 0) continue;
            bins.Add(planned[0]);
            break;
        }
        if (bins.Count == 0) return 0;
        // The clean table's new files are handed over before the commit can make them live: a micro-batch's check that saw
        // the commit (and forgot the replaced files' keys) before the commit returned would otherwise read the new file.
        // A group rewritten into several files is not handed over; a commit that then fails leaves files never live,
        // which the key cache forgets after DeltaKeyCache.MaxPendingChecks checks.
        Action<IReadOnlyList<IReadOnlyList<DeltaFile>>>? written = !ReferenceEquals(table, _clean) ? null : byBin =>
        {
            for (int i = 0; i < bins.Count; i++)
            {
                if (byBin[i].Count == 1) _cleanRewrites.Enqueue((byBin[i][0].Path, bins[i].Select(f => f.Path).ToArray()));
            }
        };
        var result = await table.RewriteAsync(snapshot, bins, db, _work, _targetFileBytes, CompactRowGroupBytes, _runner, written, cancellationToken).ConfigureAwait(false);
        Interlocked.Increment(ref _compactions);
        int smallTaken = small.Length >= 2 ? small.Length : 0, largerTaken = bins.Skip(smallTaken > 0 ? 1 : 0).Sum(b => b.Count);
        // What it read and how long it took (from reading the table's state to its commit), for telling its cost apart
        // from the micro-batches': a rewrite of a tier of larger files reads up to the target file size.
        double mib = bins.Sum(b => b.Sum(f => f.Size)) / (1024.0 * 1024.0), seconds = _time.GetElapsedTime(started).TotalSeconds;
        if (smallTaken > 0)
            _logger.LogDebug("{Table}: compacted {Files} small files of {Prefix} into one{Larger}: {MiB:0.0} MiB in {Seconds:0.00} s (Delta v{Version}).",
                _name, smallTaken, table.Prefix, largerTaken > 0 ? $" and {largerTaken} larger files into one" : "", mib, seconds, result!.Version);
        else
            _logger.LogDebug("{Table}: compacted {Files} larger files of {Prefix} into one: {MiB:0.0} MiB in {Seconds:0.00} s (Delta v{Version}).", _name, largerTaken, table.Prefix, mib, seconds, result!.Version);
        return result.Added.Count(f => f.Size < _smallFileBytes) - smallTaken;
    }
}
