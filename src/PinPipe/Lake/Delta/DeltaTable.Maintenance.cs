using System.Globalization;
using DuckDB.NET.Data;
using Microsoft.Extensions.Logging;
using PinPipe.DuckDb;

namespace PinPipe.Lake.Delta;

public sealed partial class DeltaTable
{
    /// <summary>Default of <c>delta.logRetentionDuration</c>, as in Spark: 30 days.</summary>
    public static readonly TimeSpan DefaultLogRetention = TimeSpan.FromDays(30);

    /// <summary>Default of <c>delta.deletedFileRetentionDuration</c>, as in Spark: 7 days (VACUUM's default retention).</summary>
    public static readonly TimeSpan DefaultDeletedFileRetention = TimeSpan.FromDays(7);

    /// <summary>The expired-log cleanup that follows a checkpoint runs at most this often per instance (it lists the log's start).</summary>
    private static readonly TimeSpan LogCleanupInterval = TimeSpan.FromHours(1);

    private DateTimeOffset? _lastLogCleanup;

    /// <summary>
    /// Delta's VACUUM: deletes the data files under the table's prefix that no version within <paramref name="retention"/>
    /// references, i.e. files that are neither live in the latest version nor removed (a tombstone's
    /// <c>deletionTimestamp</c>) within the retention, and whose modification time is older than the retention (so files of
    /// killed runs or lost commit races are deleted once old, and the files of a commit in progress are not). It never
    /// touches <c>_delta_log/</c> or other hidden paths (a segment starting with <c>_</c> or <c>.</c>). With
    /// <paramref name="dryRun"/> it deletes nothing and returns what it would delete.
    /// </summary>
    /// <param name="retention">How far back versions stay readable (time travel); the caller checks it is safe (Delta refuses under its
    /// <c>delta.deletedFileRetentionDuration</c> without a flag; PinPipe under 1 hour).</param>
    /// <param name="dryRun">List only.</param>
    /// <param name="cancellationToken">Stops between files.</param>
    /// <returns>The files deleted (or to delete); null when there is no table under the prefix.</returns>
    /// <exception cref="DeltaException">The log cannot be read, or the table uses features this implementation does not write
    /// (deletion vectors, ...): their files are not understood, so nothing is deleted.</exception>
    public async Task<DeltaVacuumResult?> VacuumAsync(TimeSpan retention, bool dryRun = false, CancellationToken cancellationToken = default)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(retention, TimeSpan.Zero);
        var state = await LoadStateAsync(null, cancellationToken, tombstones: true).ConfigureAwait(false);
        if (state is null) return null;
        DeltaProtocolSupport.CheckWritable(state.Protocol!, state.Metadata!, Location);
        var now = _time.GetUtcNow();
        long cutoff = (now - retention).ToUnixTimeMilliseconds();
        var referenced = new HashSet<string>(state.Files.Keys, StringComparer.Ordinal);
        foreach (var tombstone in state.Tombstones.Values)
        {
            if ((tombstone.DeletionTimestamp ?? 0) > cutoff) referenced.Add(tombstone.Path);
        }

        var doomed = new List<ObjectInfo>();
        int kept = 0;
        await foreach (var info in _store.ListAsync(_root, cancellationToken).ConfigureAwait(false))
        {
            if (!info.Key.StartsWith(_root, StringComparison.Ordinal)) continue;
            string path = info.Key[_root.Length..];
            if (IsHidden(path)) continue;
            if (referenced.Contains(path) || info.LastModified.ToUnixTimeMilliseconds() >= cutoff) kept++;
            else doomed.Add(info);
        }
        if (!dryRun)
        {
            foreach (var info in doomed)
            {
                cancellationToken.ThrowIfCancellationRequested();
                await _store.DeleteAsync(info.Key, cancellationToken).ConfigureAwait(false);
            }
            if (doomed.Count > 0)
                _logger.LogInformation("Delta table {Table}: VACUUM deleted {Files} files ({Bytes} bytes) no version within {Retention} references.",
                    Location, doomed.Count, doomed.Sum(f => f.Size), retention);
        }
        return new DeltaVacuumResult(Prefix, state.Version, doomed, kept, dryRun);
    }

    /// <summary>True for a path under a folder or with a name Delta treats as hidden (<c>_delta_log</c>, <c>_tmp</c>, <c>.x</c>).</summary>
    private static bool IsHidden(string path) => path.Split('/').Any(s => s.Length == 0 || s[0] is '_' or '.');

    /// <summary>
    /// Delta's expired log cleanup (<c>delta.enableExpiredLogCleanup</c>, default true): deletes the commits and checkpoints
    /// of the versions before the newest checkpoint whose earlier commits are all older than <c>delta.logRetentionDuration</c>
    /// (default 30 days), so the table stays readable from that checkpoint on; versions before it can no longer be read
    /// (time travel to them fails with <see cref="DeltaErrorCode.VersionNotFound"/>). Commits are only ever deleted from the
    /// log's start up to a checkpoint that makes them unnecessary. <see cref="CommitAsync"/> runs it after writing a
    /// checkpoint (at most once an hour per instance).
    /// </summary>
    /// <returns>What was deleted; null when there is no table.</returns>
    public async Task<DeltaLogCleanupResult?> CleanUpLogAsync(CancellationToken cancellationToken = default)
    {
        var state = await LatestStateAsync(cancellationToken).ConfigureAwait(false);
        if (state is null) return null;
        var metadata = state.Metadata!;
        if (string.Equals(metadata.Get("delta.enableExpiredLogCleanup"), "false", StringComparison.OrdinalIgnoreCase))
            return new DeltaLogCleanupResult(Prefix, [], null, Enabled: false);
        var pointer = await DeltaCheckpoint.ReadPointerAsync(_store, _logPrefix, cancellationToken).ConfigureAwait(false);
        if (pointer is null) return new DeltaLogCleanupResult(Prefix, [], null, Enabled: true);
        long cutoff = (_time.GetUtcNow() - LogRetention(metadata)).ToUnixTimeMilliseconds();

        // The log from its start, in version order (a checkpoint's name sorts before its commit's), up to the first commit
        // that is not expired or past the newest checkpoint: every commit listed is expired.
        var listing = new DeltaLogFiles.LogListing();
        var listed = new List<(long Version, ObjectInfo Info)>();
        await foreach (var info in _store.ListAsync(_logPrefix, cancellationToken).ConfigureAwait(false))
        {
            if (DeltaLogFiles.VersionOf(info.Key, _logPrefix) is not { } version) continue;
            if (version > pointer.Version) break;
            if (DeltaLogFiles.IsCommit(info.Key, _logPrefix) && info.LastModified.ToUnixTimeMilliseconds() > cutoff) break;
            listing.Add(info, _logPrefix);
            listed.Add((version, info));
        }

        // The newest complete checkpoint listed: the versions before it are not needed to read it or any later version.
        long? keepFrom = listing.BestCheckpoint(pointer.Version)?.Version;
        if (keepFrom is not { } from || from == 0) return new DeltaLogCleanupResult(Prefix, [], null, Enabled: true);
        var doomed = listed.Where(f => f.Version < from).Select(f => f.Info).ToList();
        foreach (var info in doomed)
        {
            cancellationToken.ThrowIfCancellationRequested();
            await _store.DeleteAsync(info.Key, cancellationToken).ConfigureAwait(false);
        }
        if (doomed.Count > 0)
            _logger.LogInformation("Delta table {Table}: log cleanup deleted {Files} log files of versions before {Version} (older than delta.logRetentionDuration {Retention}).",
                Location, doomed.Count, from, LogRetention(metadata));
        return new DeltaLogCleanupResult(Prefix, doomed, from, Enabled: true);
    }

    /// <summary>After a checkpoint: the expired log cleanup, at most once per <see cref="LogCleanupInterval"/>; a failure is logged, not thrown.</summary>
    private async Task CleanUpLogAfterCheckpointAsync(CancellationToken cancellationToken)
    {
        var now = _time.GetUtcNow();
        lock (_gate)
        {
            if (_lastLogCleanup is { } last && now - last < LogCleanupInterval) return;
            _lastLogCleanup = now;
        }
        try
        {
            await CleanUpLogAsync(cancellationToken).ConfigureAwait(false);
        }
        catch (Exception e) when (e is not OperationCanceledException)
        {
            _logger.LogWarning(e, "Delta table {Table}: expired log cleanup failed; the log keeps its old files until the next checkpoint.", Location);
        }
    }

    /// <summary><c>delta.logRetentionDuration</c> of the table (<c>interval 30 days</c>), default 30 days.</summary>
    internal static TimeSpan LogRetention(DeltaMetadata metadata) =>
        DeltaCheckpoint.Interval(metadata.Get("delta.logRetentionDuration")) ?? DefaultLogRetention;

    /// <summary>
    /// Plans Delta's bin-packing OPTIMIZE: the files smaller than <paramref name="targetFileBytes"/>, in the given order,
    /// packed into bins of at most <paramref name="targetFileBytes"/>; bins of one file are dropped (rewriting it alone changes nothing).
    /// </summary>
    public static IReadOnlyList<IReadOnlyList<DeltaFile>> PlanBins(IEnumerable<DeltaFile> files, long targetFileBytes)
    {
        ArgumentNullException.ThrowIfNull(files);
        ArgumentOutOfRangeException.ThrowIfLessThan(targetFileBytes, 1);
        var bins = new List<IReadOnlyList<DeltaFile>>();
        var bin = new List<DeltaFile>();
        long size = 0;
        foreach (var file in files.Where(f => f.Size < targetFileBytes))
        {
            if (bin.Count > 0 && size + file.Size > targetFileBytes)
            {
                if (bin.Count > 1) bins.Add(bin);
                bin = [];
                size = 0;
            }
            bin.Add(file);
            size += file.Size;
        }
        if (bin.Count > 1) bins.Add(bin);
        return bins;
    }

    /// <summary>
    /// Rewrites each bin of live files of <paramref name="snapshot"/> into Parquet files of about <paramref name="targetFileBytes"/>
    /// (DuckDB, in <paramref name="connection"/>) and commits them all in one <c>OPTIMIZE</c> commit with <c>dataChange=false</c>
    /// that removes the bins' files: the rows stay the same. Returns null (and commits nothing) when there are no bins.
    /// </summary>
    /// <param name="snapshot">The version the bins come from (a concurrent commit that removed one of their files fails the commit).</param>
    /// <param name="bins">Groups of live files, each rewritten on its own (<see cref="PlanBins"/>).</param>
    /// <param name="connection">The DuckDB that reads and writes the files (its memory limit bounds the rewrite; it spills beyond).</param>
    /// <param name="workFolder">An existing folder for the rewritten files (and downloads from stores without local paths), cleaned after.</param>
    /// <param name="targetFileBytes">About the largest a rewritten file gets.</param>
    /// <param name="rowGroupBytes">About the largest a row group of a rewritten file gets in memory; 0: DuckDB's row groups (<see cref="DuckDbSession.CopyToParquetFiles"/>).</param>
    /// <param name="runner">Where the DuckDB work runs (the files' rewrite and their stats, all of a rewrite's CPU but the
    /// commit): e.g. threads of a lower CPU priority; null: the calling thread.</param>
    /// <param name="cancellationToken">Stops the rewrite before the commit.</param>
    public Task<DeltaCommitResult?> RewriteAsync(DeltaSnapshot snapshot, IReadOnlyList<IReadOnlyList<DeltaFile>> bins, DuckDBConnection connection, string workFolder,
        long targetFileBytes = DuckDbSession.TargetFileBytes, long rowGroupBytes = 0, IWorkRunner? runner = null, CancellationToken cancellationToken = default) =>
        RewriteAsync(snapshot, bins, connection, workFolder, targetFileBytes, rowGroupBytes, runner, written: null, cancellationToken);

    /// <summary>As <see cref="RewriteAsync(DeltaSnapshot, IReadOnlyList{IReadOnlyList{DeltaFile}}, DuckDBConnection, string, long, long, IWorkRunner?, CancellationToken)"/>,
    /// calling <paramref name="written"/> with the files each bin was rewritten into (in the bins' order; one or more a bin)
    /// once they are in the store, before the commit can make them live (<see cref="DeltaWrite.Uploaded"/>).</summary>
    internal async Task<DeltaCommitResult?> RewriteAsync(DeltaSnapshot snapshot, IReadOnlyList<IReadOnlyList<DeltaFile>> bins, DuckDBConnection connection, string workFolder,
        long targetFileBytes, long rowGroupBytes, IWorkRunner? runner, Action<IReadOnlyList<IReadOnlyList<DeltaFile>>>? written, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(snapshot);
        ArgumentNullException.ThrowIfNull(bins);
        ArgumentNullException.ThrowIfNull(connection);
        if (bins.Count == 0 || bins.All(b => b.Count == 0)) return null;
        string folder = Path.Combine(workFolder, $"rewrite-{Guid.NewGuid():N}");
        try
        {
            var files = new List<WrittenParquetFile>();
            var perBin = new int[bins.Count]; // the files each bin was rewritten into
            for (int i = 0; i < bins.Count; i++)
            {
                if (bins[i].Count == 0) continue;
                using var scan = await DeltaScan.OpenAsync(_store, _root, snapshot.State, [.. bins[i]], null, connection, cancellationToken).ConfigureAwait(false);
                string prefix = Path.Combine(folder, i.ToString(CultureInfo.InvariantCulture));
                var binFiles = await On(runner, () => connection.CopyToParquetFiles($"(SELECT * FROM {scan.Sql} AS t)", prefix, targetFileBytes, rowGroupBytes, cancellationToken),
                    cancellationToken).ConfigureAwait(false);
                files.AddRange(binFiles);
                perBin[i] = binFiles.Count;
            }
            // The new files' stats in the rewrite's own DuckDB (not the process's shared one, whose threads run at the normal priority),
            // from what the writer kept, reading back only the columns whose stats it does not give exactly.
            var facts = await On(runner, () => DeltaStats.ComputeAll(connection, files, snapshot.Schema, DeltaStats.NumIndexedCols(snapshot.State.Metadata?.Configuration), cancellationToken),
                cancellationToken).ConfigureAwait(false);
            var removes = bins.SelectMany(b => b).Select(f => f.Path).ToArray();
            return await CommitAsync(new DeltaWrite(snapshot.Schema, files.Select(f => f.Path).ToList())
            {
                Facts = facts,
                // The added files follow the written ones' order: each bin's, bin after bin.
                Uploaded = written is null ? null : added =>
                {
                    var byBin = new List<IReadOnlyList<DeltaFile>>(bins.Count);
                    int at = 0;
                    foreach (int n in perBin)
                    {
                        byBin.Add([.. added.Skip(at).Take(n)]);
                        at += n;
                    }
                    written(byBin);
                },
                Removes = removes,
                DataChange = false,
                Operation = "OPTIMIZE",
                OperationParameters = new Dictionary<string, string> { ["predicate"] = "[]", ["zOrderBy"] = "[]" },
            }, cancellationToken).ConfigureAwait(false);
        }
        finally
        {
            try { if (System.IO.Directory.Exists(folder)) System.IO.Directory.Delete(folder, recursive: true); }
            catch (Exception e) when (e is IOException or UnauthorizedAccessException) { _logger.LogDebug(e, "Could not delete {Folder}.", folder); }
        }
    }

    /// <summary>Runs <paramref name="work"/> with <paramref name="runner"/>, or at once on the calling thread when null.</summary>
    private static Task<T> On<T>(IWorkRunner? runner, Func<T> work, CancellationToken cancellationToken) =>
        runner is null ? Task.FromResult(work()) : runner.Run(work, cancellationToken);

    /// <summary>
    /// Delta's OPTIMIZE (bin-packing): rewrites the latest version's files smaller than <paramref name="targetFileBytes"/> into
    /// files of about that size in one <c>OPTIMIZE</c> commit (<see cref="PlanBins"/>, <see cref="RewriteAsync"/>). Null when
    /// there is no table; a result with no commit when no two small files fit in one bin.
    /// </summary>
    public async Task<DeltaOptimizeResult?> OptimizeAsync(DuckDBConnection connection, string workFolder, long targetFileBytes = DuckDbSession.TargetFileBytes,
        CancellationToken cancellationToken = default)
    {
        var snapshot = await LoadAsync(cancellationToken: cancellationToken).ConfigureAwait(false);
        if (snapshot is null) return null;
        var bins = PlanBins(snapshot.Files, targetFileBytes);
        var result = await RewriteAsync(snapshot, bins, connection, workFolder, targetFileBytes, cancellationToken: cancellationToken).ConfigureAwait(false);
        return new DeltaOptimizeResult(Prefix, snapshot.Version, bins.Sum(b => b.Count), bins.Sum(b => b.Sum(f => f.Size)), result);
    }
}

/// <summary>What <see cref="DeltaTable.VacuumAsync"/> deleted (or, on a dry run, would delete).</summary>
/// <param name="Table">The table's prefix.</param>
/// <param name="Version">The latest version when it ran.</param>
/// <param name="Deleted">The objects deleted (or to delete), with their sizes.</param>
/// <param name="Kept">Data files kept: referenced by a version within the retention, or younger than it.</param>
/// <param name="DryRun">True when nothing was deleted.</param>
public sealed record DeltaVacuumResult(string Table, long Version, IReadOnlyList<ObjectInfo> Deleted, int Kept, bool DryRun)
{
    /// <summary>The bytes of <see cref="Deleted"/>.</summary>
    public long DeletedBytes => Deleted.Sum(f => f.Size);
}

/// <summary>What <see cref="DeltaTable.CleanUpLogAsync"/> deleted.</summary>
/// <param name="Table">The table's prefix.</param>
/// <param name="Deleted">The log files deleted.</param>
/// <param name="EarliestVersion">The checkpoint the log now starts from, when anything was deleted.</param>
/// <param name="Enabled">False when the table turned it off (<c>delta.enableExpiredLogCleanup=false</c>).</param>
public sealed record DeltaLogCleanupResult(string Table, IReadOnlyList<ObjectInfo> Deleted, long? EarliestVersion, bool Enabled);

/// <summary>What <see cref="DeltaTable.OptimizeAsync"/> did.</summary>
/// <param name="Table">The table's prefix.</param>
/// <param name="Version">The version it read.</param>
/// <param name="FilesCompacted">Small files rewritten.</param>
/// <param name="BytesCompacted">Their bytes.</param>
/// <param name="Commit">The OPTIMIZE commit, or null when there was nothing to compact.</param>
public sealed record DeltaOptimizeResult(string Table, long Version, int FilesCompacted, long BytesCompacted, DeltaCommitResult? Commit);
