using System.Globalization;
using System.Text.Json;
using Microsoft.Extensions.Logging;
using PinPipe.DuckDb;

namespace PinPipe.Lake.Delta;

public sealed partial class DeltaTable
{
    /// <summary>Default of <c>delta.checkpointInterval</c>, as in Spark.</summary>
    internal const int DefaultCheckpointInterval = 10;

    private const int MaxAttempts = 100;

    /// <summary>
    /// Commits <paramref name="write"/> as the next version (protocol §1.5): uploads the files under the table's
    /// prefix, then creates <c>_delta_log/&lt;v&gt;.json</c> with put-if-absent. When another writer took the
    /// version first it reads the new commits and checks them as Spark's conflict checker does:
    /// <list type="bullet">
    /// <item>one carries one of the write's txn app ids at the write's version or later:
    /// <see cref="DeltaCommitStatus.AlreadyCommitted"/>;</item>
    /// <item>one carries one of them at a lower version (another writer advanced the same stream partition since the
    /// write read the table, or since <see cref="DeltaWrite.ReadVersion"/>): <see cref="DeltaErrorCode.ConcurrentTransaction"/>;</item>
    /// <item>one changed the metadata or protocol, removed a file the write removes, or (for an overwrite, which read
    /// the whole table) added or removed any file: <see cref="DeltaErrorCode.Conflict"/>;</item>
    /// <item>otherwise (blind appends, and compactions whose files are all still live) it retries at the next version
    /// with the same uploaded files.</item>
    /// </list>
    /// A write that is not committed leaves no uploaded file behind. Several processes may commit to one table when the
    /// store's put-if-absent is atomic (<see cref="IObjectStore.AtomicPutIfAbsent"/>). Writes a checkpoint every
    /// <c>delta.checkpointInterval</c> (10) versions, spaced by their size (<see cref="CheckpointDue"/>; after the commit returns with <see cref="CheckpointInBackground"/>), and after it deletes the expired log files the checkpoint makes
    /// unnecessary (<see cref="CleanUpLogAsync"/>, at most once an hour).
    /// </summary>
    /// <exception cref="DeltaException">The write is invalid (schema mismatch, missing file, append-only table),
    /// conflicts with a concurrent commit, or the table cannot be written by this implementation.</exception>
    public async Task<DeltaCommitResult> CommitAsync(DeltaWrite write, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(write);
        if (CommitGate is not { } gate) return await CommitCoreAsync(write, cancellationToken).ConfigureAwait(false);
        await gate.WaitAsync(cancellationToken).ConfigureAwait(false);
        try
        {
            return await CommitCoreAsync(write, cancellationToken).ConfigureAwait(false);
        }
        finally
        {
            gate.Release();
        }
    }

    /// <summary>
    /// Shared by the instances of one process that commit to this table, over a store whose put-if-absent is not atomic
    /// (<see cref="IObjectStore.AtomicPutIfAbsent"/>): their commits run one at a time, each from the latest version it then
    /// reads, so that two commits of the same version cannot overwrite each other (the stream job's micro-batches and its
    /// compactions of one table). Null (default): commits rely on the store's put-if-absent.
    /// </summary>
    public SemaphoreSlim? CommitGate { get; init; }

    private async Task<DeltaCommitResult> CommitCoreAsync(DeltaWrite write, CancellationToken cancellationToken)
    {
        ValidateWrite(write);
        var state = await LatestStateAsync(cancellationToken).ConfigureAwait(false);
        if (state is not null && AlreadyHas(state, write)) return new DeltaCommitResult(DeltaCommitStatus.AlreadyCommitted, state.Version) { Attempts = 0 };
        if (state is not null) CheckAgainstTable(state, write);
        else if (write.Removes.Count > 0) throw new DeltaException(DeltaErrorCode.InvalidWrite, $"Delta table {Location} does not exist, so it has no files to remove.");
        await CheckTxnsSinceReadAsync(state, write, cancellationToken).ConfigureAwait(false);

        var added = await UploadAsync(write, cancellationToken).ConfigureAwait(false);
        write.Uploaded?.Invoke(added);
        bool done = false;
        long? unsure = null; // the version whose commit failed without saying whether it was written
        try
        {
            for (int attempt = 1; attempt <= MaxAttempts; attempt++)
            {
                long version = (state?.Version ?? -1) + 1;
                byte[] commit = BuildCommit(write, state, added, version);
                unsure = version;
                bool written = await _store.PutIfAbsentAsync(_logPrefix + DeltaLogFiles.Commit(version), commit, cancellationToken).ConfigureAwait(false);
                unsure = null;
                if (written)
                {
                    done = true;
                    var next = state?.Clone(TombstoneExpiry(state)) ?? new DeltaState();
                    next.ApplyCommit(commit, $"{Location} commit {version}", version);
                    Remember(next);
                    bool checkpointed = false; // with CheckpointInBackground, written after the commit returns
                    if (CheckpointInBackground) StartCheckpoint(next);
                    else checkpointed = await MaybeCheckpointAsync(next, cancellationToken).ConfigureAwait(false);
                    return new DeltaCommitResult(DeltaCommitStatus.Committed, version) { Attempts = attempt, Added = added, Checkpointed = checkpointed };
                }

                // Another writer took the version: read what it (and any later writer) committed.
                var newer = await LatestStateAsync(cancellationToken).ConfigureAwait(false)
                    ?? throw new DeltaException(DeltaErrorCode.Corrupt, $"Delta table {Location}: commit {version} exists but the table cannot be loaded.");
                if (AlreadyHas(newer, write))
                {
                    var txn = write.AllTxns.First(t => AlreadyHas(newer, t));
                    _logger.LogInformation("Delta table {Table}: txn {AppId} version {TxnVersion} was committed concurrently (table version {Version}).",
                        Location, txn.AppId, txn.Version, newer.Version);
                    await DeleteAsync(added).ConfigureAwait(false);
                    done = true;
                    return new DeltaCommitResult(DeltaCommitStatus.AlreadyCommitted, newer.Version) { Attempts = attempt };
                }
                CheckConcurrentTxns(state, newer, write);
                if (state is null)
                {
                    // The table was created concurrently: go on as an append when it is the table we meant to create.
                    if (!newer.Metadata!.Schema.Equals(write.Schema) || newer.Metadata.PartitionColumns.Count > 0)
                        throw new DeltaException(DeltaErrorCode.Conflict, $"Delta table {Location} was created concurrently with another schema ({newer.Metadata.Schema}).");
                }
                else
                {
                    if (!Equals(newer.Metadata, state.Metadata) || !Equals(newer.Protocol, state.Protocol))
                        throw new DeltaException(DeltaErrorCode.Conflict,
                            $"Delta table {Location}: a concurrent commit (versions {state.Version + 1}..{newer.Version}) changed the metadata or protocol; the write was not committed.");
                }
                CheckConcurrentFiles(state, newer, write);
                CheckAgainstTable(newer, write);
                state = newer;
            }
            throw new DeltaException(DeltaErrorCode.Conflict, $"Delta table {Location}: gave up after {MaxAttempts} attempts lost to concurrent commits.");
        }
        finally
        {
            if (!done && unsure is { } version)
            {
                // The commit may have landed (its answer was lost, or the caller cancelled while it was in flight): its files
                // stay, or a committed version would name files that are gone. A caller that retries finds its txns in the
                // table if it landed; if not, VACUUM deletes the files once they are older than its retention.
                _logger.LogWarning("Delta table {Table}: it is not known whether commit {Version} was written; its {Files} uploaded file(s) are left in place (VACUUM removes them if it was not).",
                    Location, version, added.Count);
            }
            else if (!done) await DeleteAsync(added).ConfigureAwait(false);
        }
    }

    /// <summary>
    /// With <see cref="DeltaWrite.ReadVersion"/> older than <paramref name="state"/>: reads the commits after it and fails
    /// the write (<see cref="DeltaErrorCode.ConcurrentTransaction"/>, before anything is uploaded) when one records one of
    /// its app ids (below its version: the caller checked <see cref="AlreadyHas(DeltaState, DeltaWrite)"/>).
    /// </summary>
    private async Task CheckTxnsSinceReadAsync(DeltaState? state, DeltaWrite write, CancellationToken cancellationToken)
    {
        if (write.ReadVersion is not { } read) return;
        if (state is null || read > state.Version)
            throw new DeltaException(DeltaErrorCode.InvalidWrite,
                $"The write's ReadVersion {read} is not a version of Delta table {Location} (its latest is {(state is null ? "none: the table does not exist" : state.Version)}).");
        if (read == state.Version || !write.AllTxns.Any()) return;
        var since = new DeltaState();
        for (long v = read + 1; v <= state.Version; v++)
        {
            byte[] bytes = await _store.GetAsync(_logPrefix + DeltaLogFiles.Commit(v), cancellationToken).ConfigureAwait(false)
                ?? throw new DeltaException(DeltaErrorCode.VersionNotFound,
                    $"Delta table {Location} no longer has commit {v}, needed to check the txns committed since the write's ReadVersion {read} (the log cleanup deleted it): re-read the table.");
            since.ApplyCommit(bytes, $"{Location} commit {v}", v);
        }
        foreach (var txn in write.AllTxns)
        {
            if (since.Txns.TryGetValue(txn.AppId, out var theirs))
                throw ConcurrentTransaction(txn, null, read, theirs.Version, read + 1, state.Version);
        }
    }

    /// <summary>Fails the write when a commit after <paramref name="state"/> recorded one of its app ids (below its version: the caller checked <see cref="AlreadyHas(DeltaState, DeltaWrite)"/>).</summary>
    private void CheckConcurrentTxns(DeltaState? state, DeltaState newer, DeltaWrite write)
    {
        foreach (var txn in write.AllTxns)
        {
            DeltaTxnAction? read = state?.Txns.GetValueOrDefault(txn.AppId);
            if (newer.Txns.TryGetValue(txn.AppId, out var theirs) && !Equals(theirs, read))
                throw ConcurrentTransaction(txn, read?.Version, write.ReadVersion ?? state?.Version ?? -1, theirs.Version, (state?.Version ?? -1) + 1, newer.Version);
        }
    }

    private DeltaException ConcurrentTransaction(DeltaTxn txn, long? readTxnVersion, long readVersion, long theirs, long from, long to) =>
        new(DeltaErrorCode.ConcurrentTransaction,
            $"Delta table {Location}: txn app id '{txn.AppId}' was moved to version {theirs} by a concurrent commit (versions {from}..{to}) after this write read "
            + (readVersion < 0 ? "the table (which did not exist)" : $"version {readVersion}")
            + (readTxnVersion is { } r ? $" (where it was {r})" : "")
            + $"; this write's txn version {txn.Version} is ahead of it, so another writer advanced the same app id and committing would duplicate its data. "
            + "Nothing was committed: re-read the table's txn versions before writing again.");

    /// <summary>
    /// An overwrite read every live file of <paramref name="state"/> and removes them all: it conflicts with a commit that
    /// added or removed any file since (Spark's ConcurrentAppendException, ConcurrentDeleteReadException), else it would
    /// remove files it never saw. A write that removes files conflicts when one of them was removed concurrently.
    /// </summary>
    private void CheckConcurrentFiles(DeltaState? state, DeltaState newer, DeltaWrite write)
    {
        string versions = $"versions {(state?.Version ?? -1) + 1}..{newer.Version}";
        foreach (string path in write.Removes)
        {
            if (!newer.Files.ContainsKey(path))
                throw new DeltaException(DeltaErrorCode.Conflict, $"Delta table {Location}: file '{path}' was removed by a concurrent commit ({versions}); the write was not committed.");
        }
        if (write.Mode != DeltaWriteMode.Overwrite) return;
        IReadOnlyDictionary<string, DeltaFile> read = state?.Files ?? [];
        var appended = newer.Files.Keys.Where(k => !read.ContainsKey(k)).ToList();
        var removed = read.Keys.Where(k => !newer.Files.ContainsKey(k)).ToList();
        if (appended.Count > 0)
            throw new DeltaException(DeltaErrorCode.Conflict,
                $"Delta table {Location}: a concurrent commit ({versions}) added {appended.Count} file(s) ('{appended[0]}') after the overwrite read the table; "
                + "the overwrite was not committed (it would remove data it never read). Run it again on the new version.");
        if (removed.Count > 0)
            throw new DeltaException(DeltaErrorCode.Conflict,
                $"Delta table {Location}: a concurrent commit ({versions}) removed {removed.Count} file(s) ('{removed[0]}') the overwrite read; "
                + "the overwrite was not committed. Run it again on the new version.");
    }

    private static bool AlreadyHas(DeltaState state, DeltaWrite write) => write.AllTxns.Any(t => AlreadyHas(state, t));

    private static bool AlreadyHas(DeltaState state, DeltaTxn txn) =>
        state.Txns.TryGetValue(txn.AppId, out var recorded) && recorded.Version >= txn.Version;

    private static void ValidateWrite(DeltaWrite write)
    {
        if (write.Schema is null || write.Schema.Fields.Count == 0) throw new DeltaException(DeltaErrorCode.InvalidWrite, "The write has no schema (at least one column).");
        if (write.Files is null) throw new DeltaException(DeltaErrorCode.InvalidWrite, "The write's file list is null.");
        foreach (string file in write.Files)
        {
            if (string.IsNullOrEmpty(file) || !File.Exists(file)) throw new DeltaException(DeltaErrorCode.InvalidWrite, $"Data file '{file}' does not exist.");
        }
        if (write.Removes.Count > 0 && write.Mode == DeltaWriteMode.Overwrite)
            throw new DeltaException(DeltaErrorCode.InvalidWrite, "An overwrite removes every live file: do not list Removes with it.");
        if (write.OverwriteSchema && write.Mode != DeltaWriteMode.Overwrite)
            throw new DeltaException(DeltaErrorCode.InvalidWrite, "OverwriteSchema replaces the schema of an overwrite only: set Mode to Overwrite, or leave OverwriteSchema false.");
        if (write.Facts is { } facts && facts.Count != write.Files.Count)
            throw new DeltaException(DeltaErrorCode.InvalidWrite, $"The write has {write.Files.Count} file(s) but stats for {facts.Count}: give one per file, or none.");
        if (write.Txns is null) throw new DeltaException(DeltaErrorCode.InvalidWrite, "The write's txn list is null.");
        if (write.ReadVersion < 0) throw new DeltaException(DeltaErrorCode.InvalidWrite, $"The write's ReadVersion {write.ReadVersion} is negative: a table version is 0 or more.");
        var appIds = new HashSet<string>(StringComparer.Ordinal);
        foreach (var txn in write.AllTxns)
        {
            if (txn is null || string.IsNullOrWhiteSpace(txn.AppId) || txn.Version < 0)
                throw new DeltaException(DeltaErrorCode.InvalidWrite, $"Invalid txn (appId '{txn?.AppId}', version {txn?.Version}): the app id must be set and the version 0 or more.");
            if (!appIds.Add(txn.AppId))
                throw new DeltaException(DeltaErrorCode.InvalidWrite, $"Txn app id '{txn.AppId}' appears twice in one write; a commit holds at most one txn per app id.");
        }
        if (string.IsNullOrWhiteSpace(write.Operation)) throw new DeltaException(DeltaErrorCode.InvalidWrite, "The write's operation name is empty.");
        if (write.Configuration is { } config)
        {
            if (config.TryGetValue("delta.checkpointInterval", out var interval) && (!int.TryParse(interval, NumberStyles.None, CultureInfo.InvariantCulture, out int n) || n < 1))
                throw new DeltaException(DeltaErrorCode.InvalidWrite, $"delta.checkpointInterval must be a positive integer, not '{interval}'.");
            if (config.TryGetValue("delta.appendOnly", out var appendOnly) && appendOnly is not ("true" or "false"))
                throw new DeltaException(DeltaErrorCode.InvalidWrite, $"delta.appendOnly must be 'true' or 'false', not '{appendOnly}'.");
        }
    }

    /// <summary>Checks the write against an existing table: writable protocol, same schema, files to remove live, append-only.</summary>
    private void CheckAgainstTable(DeltaState state, DeltaWrite write)
    {
        var metadata = state.Metadata!;
        DeltaProtocolSupport.CheckWritable(state.Protocol!, metadata, Location);
        bool replacesMetadata = ReplacesMetadata(state, write);
        if (!metadata.Schema.Equals(write.Schema) && !replacesMetadata)
            throw new DeltaException(DeltaErrorCode.SchemaMismatch,
                $"Delta table {Location} has schema ({metadata.Schema}) but the write has ({write.Schema}); only an overwrite with OverwriteSchema may change the schema.");
        if (metadata.PartitionColumns.Count > 0 && write.Files.Count > 0 && !replacesMetadata)
            throw new DeltaException(DeltaErrorCode.Unsupported, $"Delta table {Location} is partitioned by {string.Join(", ", metadata.PartitionColumns)}; writing partitioned tables is not supported.");
        foreach (string path in write.Removes)
        {
            if (!state.Files.ContainsKey(path))
                throw new DeltaException(DeltaErrorCode.InvalidWrite, $"File '{path}' is not a live file of Delta table {Location} at version {state.Version}.");
        }
        bool removesData = write.DataChange && (write.Removes.Count > 0 || (write.Mode == DeltaWriteMode.Overwrite && state.Files.Count > 0));
        if (removesData && metadata.Get("delta.appendOnly") == "true")
            throw new DeltaException(DeltaErrorCode.InvalidWrite, $"Delta table {Location} is append-only (delta.appendOnly=true): files cannot be removed.");
    }

    /// <summary>An overwrite with <see cref="DeltaWrite.OverwriteSchema"/> whose schema differs from the table's, or of a partitioned table: its commit carries new metadata.</summary>
    private static bool ReplacesMetadata(DeltaState state, DeltaWrite write) =>
        write.OverwriteSchema && write.Mode == DeltaWriteMode.Overwrite
        && (!state.Metadata!.Schema.Equals(write.Schema) || state.Metadata.PartitionColumns.Count > 0);

    /// <summary>Computes each file's stats (validating it against the schema) and uploads it under a new Spark-style name.</summary>
    private async Task<IReadOnlyList<DeltaFile>> UploadAsync(DeltaWrite write, CancellationToken cancellationToken)
    {
        if (write.Files.Count == 0) return [];
        IReadOnlyList<DeltaStats.FileFacts> facts;
        if (write.Facts is { } known)
        {
            facts = known; // computed from the rows the files were written from, or by a rewrite on its own DuckDB
        }
        else
        {
            using var connection = DuckDbSession.OpenShared();
            facts = DeltaStats.ComputeAll(connection, write.Files, write.Schema, DeltaStats.NumIndexedCols(write.Configuration), cancellationToken);
        }
        var added = new List<DeltaFile>();
        try
        {
            for (int i = 0; i < write.Files.Count; i++)
            {
                string name = string.Create(CultureInfo.InvariantCulture, $"part-{i:D5}-{Guid.NewGuid()}-c000{DeltaStats.CodecExtension(facts[i].Codec)}.parquet");
                long size = new FileInfo(write.Files[i]).Length;
                var file = new DeltaFile(name, new Dictionary<string, string?>(), size, _time.GetUtcNow().ToUnixTimeMilliseconds(), facts[i].StatsJson)
                {
                    RawPath = DeltaState.EncodePath(name),
                    DataChange = write.DataChange,
                };
                added.Add(file);
                await _store.PutFileAsync(_root + name, write.Files[i], cancellationToken).ConfigureAwait(false);
            }
            return added;
        }
        catch
        {
            await DeleteAsync(added).ConfigureAwait(false);
            throw;
        }
    }

    /// <summary>Best-effort removal of uploaded files no commit references.</summary>
    private async Task DeleteAsync(IReadOnlyList<DeltaFile> files)
    {
        foreach (var f in files)
        {
            try
            {
                await _store.DeleteAsync(_root + f.Path, CancellationToken.None).ConfigureAwait(false);
            }
            catch (Exception e) when (e is IOException or UnauthorizedAccessException or ObjectStoreException or Amazon.Runtime.AmazonServiceException)
            {
                _logger.LogWarning(e, "Delta table {Table}: could not delete unreferenced file {Path}.", Location, f.Path);
            }
        }
    }

    private byte[] BuildCommit(DeltaWrite write, DeltaState? state, IReadOnlyList<DeltaFile> added, long version)
    {
        long now = _time.GetUtcNow().ToUnixTimeMilliseconds();
        var removes = write.Mode == DeltaWriteMode.Overwrite ? state?.Files.Values.ToList() ?? [] : write.Removes.Select(p => state!.Files[p]).ToList();
        using var buffer = new MemoryStream();
        void Line(Action<Utf8JsonWriter> action)
        {
            using (var w = new Utf8JsonWriter(buffer, DeltaCheckpoint.JsonOptions)) action(w);
            buffer.WriteByte((byte)'\n');
        }

        Line(w => WriteCommitInfo(w, write, state, added, removes.Count, now));
        if (state is null)
        {
            Line(w => DeltaActionJson.WriteProtocol(w, DeltaProtocol.Simple));
            var configuration = write.Configuration?.ToDictionary(kv => kv.Key, kv => kv.Value, StringComparer.Ordinal) ?? [];
            Line(w => DeltaActionJson.WriteMetadata(w, new DeltaMetadata(Guid.NewGuid().ToString(), write.Schema, [], configuration, now)));
        }
        else if (ReplacesMetadata(state, write))
        {
            // Spark's overwriteSchema: the same table (id, properties, creation time) with the write's schema, unpartitioned.
            Line(w => DeltaActionJson.WriteMetadata(w, state.Metadata! with { Schema = write.Schema, PartitionColumns = [] }));
        }
        foreach (var txn in write.AllTxns) Line(w => DeltaActionJson.WriteTxn(w, new DeltaTxnAction(txn.AppId, txn.Version, now)));
        foreach (var f in removes)
        {
            var remove = new DeltaRemove(f.RawPath, f.Path, now, write.DataChange, true, f.PartitionValues, f.Size);
            Line(w => DeltaActionJson.WriteRemove(w, remove));
        }
        foreach (var f in added) Line(w => DeltaActionJson.WriteAdd(w, f));
        return buffer.ToArray();
    }

    private static void WriteCommitInfo(Utf8JsonWriter w, DeltaWrite write, DeltaState? state, IReadOnlyList<DeltaFile> added, int removed, long now)
    {
        var inv = CultureInfo.InvariantCulture;
        w.WriteStartObject();
        w.WriteStartObject("commitInfo");
        w.WriteNumber("timestamp", now);
        w.WriteString("operation", write.Operation);
        w.WriteStartObject("operationParameters");
        var parameters = write.OperationParameters ?? new Dictionary<string, string>();
        if (!parameters.ContainsKey("mode")) w.WriteString("mode", write.Mode.ToString());
        if (!parameters.ContainsKey("partitionBy")) w.WriteString("partitionBy", "[]");
        foreach (var kv in parameters) w.WriteString(kv.Key, kv.Value);
        w.WriteEndObject();
        if (state is not null) w.WriteNumber("readVersion", write.ReadVersion ?? state.Version);
        w.WriteString("isolationLevel", "Serializable");
        w.WriteBoolean("isBlindAppend", write.Mode == DeltaWriteMode.Append && removed == 0);
        w.WriteStartObject("operationMetrics");
        w.WriteString("numFiles", added.Count.ToString(inv));
        w.WriteString("numOutputRows", added.Sum(f => f.NumRecords ?? 0).ToString(inv));
        w.WriteString("numOutputBytes", added.Sum(f => f.Size).ToString(inv));
        if (removed > 0) w.WriteString("numRemovedFiles", removed.ToString(inv));
        w.WriteEndObject();
        w.WriteString("engineInfo", "PinPipe/" + (typeof(DeltaTable).Assembly.GetName().Version?.ToString(3) ?? "0"));
        w.WriteString("txnId", Guid.NewGuid().ToString());
        w.WriteEndObject();
        w.WriteEndObject();
    }

    /// <summary>
    /// Writes the checkpoints due after a commit on the thread pool, after <see cref="CommitAsync"/> has returned, instead of
    /// before it returns. A commit is readable as soon as its log file exists; a checkpoint only spares readers the
    /// replay of the commits before it, and writing one (tens of milliseconds) in the commit path delays the writer's
    /// next commit: a stream table's next micro-batch. At most one is written at a time: one that falls due while the
    /// last is still being written is skipped (the next due one is written). <see cref="CheckpointsWrittenAsync"/> waits
    /// for the one being written. Off by default: a commit then returns after its checkpoint (<see cref="DeltaCommitResult.Checkpointed"/>).
    /// </summary>
    public bool CheckpointInBackground { get; init; }

    private Task _checkpointing = Task.CompletedTask; // the background checkpoint being written, or the last one

    /// <summary>Completes when the checkpoint being written in the background (<see cref="CheckpointInBackground"/>), if any, is written or has failed (and was logged).</summary>
    public Task CheckpointsWrittenAsync()
    {
        lock (_gate) return _checkpointing;
    }

    /// <summary>
    /// Checkpoint actions per version between checkpoints: after this instance wrote a checkpoint of R actions, the next is
    /// written no sooner than R / 250 versions later (and at a multiple of <c>delta.checkpointInterval</c>).
    /// </summary>
    internal int CheckpointActionsPerVersion { get; init; } = 250;

    private long _lastCheckpointVersion = -1, _lastCheckpointActions; // the last checkpoint this instance wrote
    private DateTimeOffset? _lastCheckpointAt; // when this instance wrote it

    /// <summary>
    /// A due checkpoint is skipped when this instance wrote one less than this long ago (by its clock); the next due
    /// version after that writes it. Default zero: every due version. A stream table commits several times a second, so
    /// at Delta's interval of 10 commits it would write a checkpoint every second or so; a reader of a table so spaced
    /// replays at most this long's commits after the last checkpoint.
    /// </summary>
    public TimeSpan CheckpointMinInterval { get; init; }

    /// <summary>
    /// A checkpoint is due when the version is a multiple of <c>delta.checkpointInterval</c>, at least
    /// <see cref="CheckpointMinInterval"/> after this instance's last one, and spaced by its size: a checkpoint
    /// holds every live file and unexpired tombstone, and a stream table's grows with a week of compacted micro-batch files
    /// (hundreds of thousands of actions a day at 10 commits a second), so one of R actions is followed by the next no sooner
    /// than R / <see cref="CheckpointActionsPerVersion"/> versions later: the cost of checkpoints per commit stays about 250
    /// actions' worth however large the table (readers replay up to R / 250 commits from it).
    /// </summary>
    private bool CheckpointDue(DeltaState state)
    {
        int interval = int.TryParse(state.Metadata!.Get("delta.checkpointInterval"), NumberStyles.None, CultureInfo.InvariantCulture, out int n) && n > 0 ? n : DefaultCheckpointInterval;
        if (state.Version == 0 || state.Version % interval != 0) return false;
        lock (_gate)
        {
            if (_lastCheckpointAt is { } at && _time.GetUtcNow() - at < CheckpointMinInterval) return false;
            return _lastCheckpointVersion < 0 || state.Version - _lastCheckpointVersion >= _lastCheckpointActions / CheckpointActionsPerVersion;
        }
    }

    /// <summary>Writes the checkpoint of <paramref name="state"/> when it is due (<see cref="CheckpointDue"/>). A failure is logged, not thrown (the commit stands).</summary>
    private async Task<bool> MaybeCheckpointAsync(DeltaState state, CancellationToken cancellationToken) =>
        CheckpointDue(state) && await WriteCheckpointAsync(state, cancellationToken).ConfigureAwait(false);

    /// <summary>Starts writing the checkpoint of <paramref name="state"/> in the background when it is due and none is being written.</summary>
    private void StartCheckpoint(DeltaState state)
    {
        if (!CheckpointDue(state)) return;
        lock (_gate)
        {
            if (!_checkpointing.IsCompleted)
            {
                _logger.LogDebug("Delta table {Table}: the checkpoint of version {Version} is skipped: an earlier one is still being written.", Location, state.Version);
                return;
            }
            _checkpointing = Task.Run(() => WriteCheckpointAsync(state, CancellationToken.None));
        }
    }

    /// <summary>
    /// Writes the checkpoint of <paramref name="state"/> (whose commit exists), then the expired log cleanup; true when
    /// written. The cached latest state, this one or a later one, then leaves the tombstones up to it in its file. A
    /// failure is logged, not thrown (the commit stands; readers replay the log instead).
    /// </summary>
    private async Task<bool> WriteCheckpointAsync(DeltaState state, CancellationToken cancellationToken)
    {
        try
        {
            var (checkpoint, actions) = await DeltaCheckpoint.WriteAsync(_store, _logPrefix, state, _time.GetUtcNow(), cancellationToken).ConfigureAwait(false);
            lock (_gate)
            {
                _lastCheckpointVersion = Math.Max(_lastCheckpointVersion, state.Version);
                _lastCheckpointActions = actions;
                _lastCheckpointAt = _time.GetUtcNow();
                // The cached state leaves its tombstones up to the checkpoint in it: the next commits hold only their own. A
                // later state (commits made while a background checkpoint was written) holds the tombstones of the same
                // history, so the checkpoint holds its tombstones up to that version too.
                if (_latest is { } latest && latest.Version >= state.Version && latest.TombstoneBaseVersion < state.Version)
                    _latest = latest.Rebased(state.Version, [checkpoint]);
            }
        }
        catch (Exception e) when (e is not OperationCanceledException)
        {
            _logger.LogWarning(e, "Delta table {Table}: checkpoint of version {Version} failed; readers replay the log instead.", Location, state.Version);
            lock (_gate)
            {
                // The next commit loads the table afresh: its tombstone base may be a checkpoint the log cleanup has since deleted.
                if (_latest is { } latest && latest.TombstoneBaseVersion == state.TombstoneBaseVersion) _latest = null;
            }
            return false;
        }
        await CleanUpLogAfterCheckpointAsync(cancellationToken).ConfigureAwait(false);
        return true;
    }
}
