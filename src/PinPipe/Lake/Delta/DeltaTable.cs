using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;

namespace PinPipe.Lake.Delta;

/// <summary>
/// A Delta Lake table kept in an <see cref="IObjectStore"/> under a key prefix (<c>delta/pin</c>): data files
/// under the prefix, the log under <c>prefix/_delta_log/</c>. Reads any simple table Spark writes (reader
/// version 1, no column mapping or deletion vectors); writes protocol (1,2) tables with put-if-absent commits,
/// so of two writers of one version exactly one wins and the other retries or finds its txn committed.
/// </summary>
/// <remarks>
/// <para>An instance caches the latest state it saw: a commit then reads only the commits written since, never the
/// whole log. Loading a table starts from the checkpoint <c>_last_checkpoint</c> points to and lists the log
/// only from there. Thread-safe.</para>
/// <para>Timestamps: DuckDB (1.5) writes a <c>TIMESTAMPTZ</c> column as Parquet INT64
/// <c>TIMESTAMP(isAdjustedToUTC=true, unit=MICROS)</c>, the protocol's type for <c>timestamp</c> (the instant is
/// stored, so the session <c>TimeZone</c> does not change the file; use <c>SET TimeZone='UTC'</c> so that casts
/// from text are UTC). A plain <c>TIMESTAMP</c> is written with <c>isAdjustedToUTC=false</c>, which Delta's
/// <c>timestamp</c> does not allow, so commits refuse such files. Readers accept INT64 micros or millis and INT96.</para>
/// </remarks>
public sealed partial class DeltaTable
{
    private readonly IObjectStore _store;
    private readonly string _root;
    private readonly string _logPrefix;
    private readonly ILogger _logger;
    private readonly TimeProvider _time;
    private readonly Lock _gate = new();
    private DeltaState? _latest;

    /// <summary>The table under <paramref name="prefix"/> (<c>delta/pin</c>; empty for the bucket's root) of <paramref name="store"/>.</summary>
    public DeltaTable(IObjectStore store, string prefix, ILogger? logger = null, TimeProvider? time = null)
    {
        ArgumentNullException.ThrowIfNull(store);
        ArgumentNullException.ThrowIfNull(prefix);
        prefix = prefix.Trim('/');
        if (prefix.Length > 0) ObjectKeys.Validate(prefix, nameof(prefix));
        _store = store;
        Prefix = prefix;
        _root = prefix.Length == 0 ? "" : prefix + "/";
        _logPrefix = _root + DeltaLogFiles.LogFolder;
        _logger = logger ?? NullLogger.Instance;
        _time = time ?? TimeProvider.System;
    }

    /// <summary>The key prefix of the table, without trailing '/'.</summary>
    public string Prefix { get; }

    /// <summary>A name for messages: the store's location and the prefix.</summary>
    public string Location => _store.Location.TrimEnd('/') + "/" + Prefix;

    /// <summary>
    /// The table at <paramref name="version"/> (null: the latest), or null when there is no table (no log).
    /// </summary>
    /// <exception cref="DeltaException">The log has a gap or cannot be parsed, the version does not exist, or the
    /// table needs a protocol version or feature this reader does not support.</exception>
    public async Task<DeltaSnapshot?> LoadAsync(long? version = null, CancellationToken cancellationToken = default)
    {
        if (version < 0) throw new ArgumentOutOfRangeException(nameof(version), version, "A table version is 0 or more.");
        var state = await LoadStateAsync(version, cancellationToken).ConfigureAwait(false);
        if (state is null) return null;
        if (version is null) Remember(state);
        return new DeltaSnapshot(_store, _root, state);
    }

    /// <summary>
    /// The latest version, cheaply: the state this instance cached (from a load or its own commits) brought up to date
    /// by reading only the commits written since (one GET each, plus one that finds nothing); a full
    /// <see cref="LoadAsync"/> when nothing is cached, or when it is over 1,000 commits behind a checkpoint. Null when there is no table.
    /// </summary>
    /// <exception cref="DeltaException">As <see cref="LoadAsync"/>.</exception>
    public async Task<DeltaSnapshot?> LatestAsync(CancellationToken cancellationToken = default)
    {
        var state = await LatestStateAsync(cancellationToken).ConfigureAwait(false);
        return state is null ? null : new DeltaSnapshot(_store, _root, state);
    }

    /// <summary>Replays the log (protocol §1.4) from the newest usable checkpoint.</summary>
    /// <param name="version">The version; null: the latest.</param>
    /// <param name="tombstones">Read the checkpoint's tombstones too (VACUUM); else they stay in its file (<see cref="DeltaState.TombstoneBase"/>).</param>
    /// <param name="cancellationToken">Stops the reads.</param>
    private async Task<DeltaState?> LoadStateAsync(long? version, CancellationToken cancellationToken, bool tombstones = false)
    {
        DeltaLogFiles.LogListing? listing = null;
        (long Version, IReadOnlyList<ObjectInfo> Parts)? checkpoint = null;
        var pointer = await DeltaCheckpoint.ReadPointerAsync(_store, _logPrefix, cancellationToken).ConfigureAwait(false);
        if (pointer is not null && (version is null || pointer.Version <= version))
        {
            listing = await DeltaLogFiles.ListAsync(_store, _logPrefix, pointer.Version, cancellationToken).ConfigureAwait(false);
            checkpoint = listing.BestCheckpoint(version ?? listing.Latest, minVersion: pointer.Version);
            if (checkpoint is null)
            {
                _logger.LogWarning("Delta table {Table}: _last_checkpoint names version {Version}, which has no complete checkpoint; listing the whole log.", Location, pointer.Version);
                listing = null;
                checkpoint = null;
            }
        }
        if (listing is null)
        {
            listing = await DeltaLogFiles.ListAsync(_store, _logPrefix, null, cancellationToken).ConfigureAwait(false);
            if (listing.IsEmpty) return null;
            checkpoint = listing.BestCheckpoint(version ?? listing.Latest);
        }

        long latest = listing.Latest;
        if (version > latest)
            throw new DeltaException(DeltaErrorCode.VersionNotFound, $"Delta table {Location} has no version {version}: the latest is {latest}.");
        long end = version ?? latest;
        long start = checkpoint is { } cp ? cp.Version + 1 : 0;
        for (long v = start; v <= end; v++)
        {
            if (listing.Commits.ContainsKey(v)) continue;
            if (start == 0 && v == 0 && listing.Commits.Count > 0 && version is { } wanted && listing.EarliestCheckpoint(wanted + 1) is { } earliest)
                throw new DeltaException(DeltaErrorCode.VersionNotFound,
                    $"Delta table {Location} no longer has version {wanted}: the log cleanup (delta.logRetentionDuration) deleted the log before version {earliest}, the earliest version that can be read.");
            if (start == 0 && v == 0 && listing.Commits.Count > 0)
                throw new DeltaException(DeltaErrorCode.Corrupt,
                    $"Delta log of {Location} starts at version {listing.Commits.Keys.First()} and has no checkpoint to start from: versions before it are missing.");
            var after = listing.Commits.Keys.Where(k => k > v).Take(1).ToList();
            throw new DeltaException(DeltaErrorCode.Corrupt,
                $"Delta log of {Location} is not contiguous: version {v} is missing (versions {start}..{end} are needed{(after.Count > 0 ? $", next present is {after[0]}" : "")}).");
        }

        var state = new DeltaState();
        if (checkpoint is { } c)
        {
            await DeltaCheckpoint.LoadAsync(_store, c.Version, [.. c.Parts.Select(p => p.Key)], state, tombstones, cancellationToken).ConfigureAwait(false);
        }
        for (long v = start; v <= end; v++)
        {
            var info = listing.Commits[v];
            byte[] bytes = await _store.GetAsync(info.Key, cancellationToken).ConfigureAwait(false)
                ?? throw new DeltaException(DeltaErrorCode.Corrupt, $"Delta log of {Location}: commit {v} was listed but cannot be read.");
            state.ApplyCommit(bytes, $"{Location} commit {v}", v);
        }
        Validate(state);
        return state;
    }

    /// <summary>
    /// The latest state: the cached one brought up to date by reading the commits after it (one GET each, plus
    /// one that finds nothing), or a full load when nothing is cached. Null when there is no table.
    /// </summary>
    private async Task<DeltaState?> LatestStateAsync(CancellationToken cancellationToken)
    {
        DeltaState? cached;
        lock (_gate) cached = _latest;
        if (cached is null)
        {
            var loaded = await LoadStateAsync(null, cancellationToken).ConfigureAwait(false);
            if (loaded is not null) Remember(loaded);
            return loaded;
        }
        DeltaState? next = null;
        for (int replayed = 1; ; replayed++)
        {
            long v = (next ?? cached).Version + 1;
            if (replayed == MaxReplay
                && await DeltaCheckpoint.ReadPointerAsync(_store, _logPrefix, cancellationToken).ConfigureAwait(false) is { } pointer && pointer.Version >= v)
            {
                // Far behind: a load from the newest checkpoint reads less than the commits up to it, one GET each.
                var loaded = await LoadStateAsync(null, cancellationToken).ConfigureAwait(false);
                if (loaded is not null) Remember(loaded);
                return loaded;
            }
            byte[]? bytes = await _store.GetAsync(_logPrefix + DeltaLogFiles.Commit(v), cancellationToken).ConfigureAwait(false);
            if (bytes is null) break;
            next ??= cached.Clone(TombstoneExpiry(cached));
            next.ApplyCommit(bytes, $"{Location} commit {v}", v);
        }
        if (next is null) return cached;
        Validate(next);
        if (next.Tombstones.Count >= RebaseTombstones) next = await RebaseAsync(next, cancellationToken).ConfigureAwait(false);
        Remember(next);
        return next;
    }

    /// <summary>
    /// Tombstones held in memory past which <see cref="LatestStateAsync"/> looks for a newer checkpoint to leave them in (a
    /// reader, or a writer whose own commits seldom land on a checkpoint version, would otherwise hold every tombstone since
    /// it loaded the table).
    /// </summary>
    internal int RebaseTombstones { get; init; } = 10_000;

    /// <summary>Commits <see cref="LatestStateAsync"/> replays one by one before it checks for a checkpoint past them and loads from it instead.</summary>
    internal int MaxReplay { get; init; } = 1_000;

    /// <summary>
    /// <paramref name="state"/> with the newest checkpoint at or before its version (<c>_last_checkpoint</c>) as its tombstone
    /// base, when that is newer than its base: the tombstones up to it stay in its file. Else the state itself.
    /// </summary>
    private async Task<DeltaState> RebaseAsync(DeltaState state, CancellationToken cancellationToken)
    {
        var pointer = await DeltaCheckpoint.ReadPointerAsync(_store, _logPrefix, cancellationToken).ConfigureAwait(false);
        if (pointer is null || pointer.Version <= state.TombstoneBaseVersion || pointer.Version > state.Version) return state;
        IReadOnlyList<string> keys = pointer.Parts is { } parts && parts > 1
            ? [.. Enumerable.Range(1, parts).Select(i => _logPrefix + DeltaLogFiles.CheckpointPart(pointer.Version, i, parts))]
            : [_logPrefix + DeltaLogFiles.Checkpoint(pointer.Version)];
        foreach (string key in keys)
        {
            if (!await _store.ExistsAsync(key, cancellationToken).ConfigureAwait(false)) return state; // not (yet) complete
        }
        return state.Rebased(pointer.Version, keys);
    }

    /// <summary>The Unix ms at or before which a tombstone of <paramref name="state"/> has expired (<see cref="DeltaCheckpoint.TombstoneRetention"/>).</summary>
    private long TombstoneExpiry(DeltaState state) =>
        _time.GetUtcNow().ToUnixTimeMilliseconds() - (long)(state.Metadata is null ? DefaultDeletedFileRetention : DeltaCheckpoint.TombstoneRetention(state.Metadata)).TotalMilliseconds;

    private void Validate(DeltaState state)
    {
        if (state.Protocol is null) throw new DeltaException(DeltaErrorCode.Corrupt, $"Delta table {Location} has no protocol action at version {state.Version}.");
        if (state.Metadata is null) throw new DeltaException(DeltaErrorCode.Corrupt, $"Delta table {Location} has no metaData action at version {state.Version}.");
        DeltaProtocolSupport.CheckReadable(state.Protocol, state.Metadata, Location);
    }

    private void Remember(DeltaState state)
    {
        lock (_gate)
        {
            if (_latest is null || state.Version > _latest.Version) _latest = state;
        }
    }
}
