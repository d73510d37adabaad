namespace PinPipe.Lake.Delta;

/// <summary>How a commit treats the table's current files.</summary>
public enum DeltaWriteMode
{
    /// <summary>Adds the files; the live files stay.</summary>
    Append,
    /// <summary>Adds the files and removes every live file, in the same commit.</summary>
    Overwrite,
}

/// <summary>An application transaction id: the commit records it, and a later commit with a version at or
/// below the recorded one is skipped (exactly-once writes, as Spark's streaming sink does).</summary>
/// <param name="AppId">A stable id of the writer (pipeline, partition).</param>
/// <param name="Version">A number that grows with every batch (batch number, source offset).</param>
public sealed record DeltaTxn(string AppId, long Version);

/// <summary>One commit to a Delta table.</summary>
/// <param name="Schema">The table's schema: creates the table at version 0, and must equal the table's schema afterwards.</param>
/// <param name="Files">Local Parquet files written by the caller (e.g. DuckDB <c>COPY … TO '…' (FORMAT parquet)</c>);
/// the commit uploads them under the table's prefix with new Spark-style names. Their columns must have the
/// schema's types (timestamps as TIMESTAMPTZ, i.e. Parquet INT64 TIMESTAMP(isAdjustedToUTC=true, MICROS)).</param>
public sealed record DeltaWrite(DeltaSchema Schema, IReadOnlyList<string> Files)
{
    public DeltaWriteMode Mode { get; init; } = DeltaWriteMode.Append;

    /// <summary>
    /// With <see cref="DeltaWriteMode.Overwrite"/>: the commit may replace the table's schema (Spark's <c>overwriteSchema</c>
    /// option): when <see cref="Schema"/> differs from the table's (or the table is partitioned), the commit carries a new
    /// <c>metaData</c> action with the write's schema and no partition columns, keeping the table's id and properties.
    /// Default false: a write whose schema differs from the table's is refused.
    /// </summary>
    public bool OverwriteSchema { get; init; }

    /// <summary>Live files to remove in the same commit (<see cref="DeltaFile.Path"/>): compaction removes small
    /// files and adds their rewrite in one commit. Only with <see cref="DeltaWriteMode.Append"/>.</summary>
    public IReadOnlyList<string> Removes { get; init; } = [];

    /// <summary>Written with the commit; when the table already holds this app id at this version or later the
    /// commit is skipped (<see cref="DeltaCommitStatus.AlreadyCommitted"/>) without uploading anything.</summary>
    public DeltaTxn? Txn { get; init; }

    /// <summary>More txns written with the same commit (one per source partition of a streaming micro-batch); with
    /// <see cref="Txn"/> every app id must be distinct. The commit is skipped when the table already holds any of
    /// them at its version or later: the write overlaps data that is already committed.</summary>
    public IReadOnlyList<DeltaTxn> Txns { get; init; } = [];

    /// <summary>
    /// The table version at which the writer read the txn versions this write continues from (the
    /// <see cref="DeltaSnapshot.Version"/> it resumed from, or the version of its own previous commit). A commit after it
    /// that records one of the write's app ids below the write's version fails the write with
    /// <see cref="DeltaErrorCode.ConcurrentTransaction"/> (one at or above it: <see cref="DeltaCommitStatus.AlreadyCommitted"/>),
    /// so a writer that lost its stream partition to another cannot commit over it. Null (default): the version
    /// <see cref="DeltaTable.CommitAsync"/> reads first. Used with txns only.
    /// </summary>
    public long? ReadVersion { get; init; }

    /// <summary>
    /// Each file's stats, row count and codec, one per <see cref="Files"/> entry, as the writer computed them from the rows it
    /// wrote (<see cref="DeltaStats.RowsQuery"/>): the commit then neither reads the files back nor checks their columns
    /// against the schema. Null (default): the commit reads each file (<see cref="DeltaStats.Compute"/>).
    /// </summary>
    internal IReadOnlyList<DeltaStats.FileFacts>? Facts { get; init; }

    /// <summary>
    /// Called with the files to add once they are in the store, before the commit's log entry is written: a reader of the
    /// table may see them live as soon as that entry is, before the commit returns (which may first write a checkpoint).
    /// The files are the same in every attempt; the commit may still fail, and they are then never live.
    /// </summary>
    internal Action<IReadOnlyList<DeltaFile>>? Uploaded { get; init; }

    /// <summary><see cref="Txn"/> and <see cref="Txns"/> together.</summary>
    internal IEnumerable<DeltaTxn> AllTxns => Txn is null ? Txns : Txns.Prepend(Txn);

    /// <summary>The <c>dataChange</c> flag of the adds and removes: false for a rewrite that changes no data (compaction).</summary>
    public bool DataChange { get; init; } = true;

    /// <summary>commitInfo's <c>operation</c> (Spark names: <c>WRITE</c>, <c>OPTIMIZE</c>, <c>STREAMING UPDATE</c>).</summary>
    public string Operation { get; init; } = "WRITE";

    /// <summary>commitInfo's <c>operationParameters</c>; <c>mode</c> and <c>partitionBy</c> are added when absent.</summary>
    public IReadOnlyDictionary<string, string>? OperationParameters { get; init; }

    /// <summary>Table properties (<c>delta.checkpointInterval</c>, <c>delta.appendOnly</c>, ...), used when the commit creates the table.</summary>
    public IReadOnlyDictionary<string, string>? Configuration { get; init; }
}

/// <summary>Whether a commit happened.</summary>
public enum DeltaCommitStatus
{
    /// <summary>The commit was written at <see cref="DeltaCommitResult.Version"/>.</summary>
    Committed,
    /// <summary>The table already holds the write's <see cref="DeltaWrite.Txn"/> (at this version or later): nothing was written.</summary>
    AlreadyCommitted,
}

/// <summary>The outcome of <see cref="DeltaTable.CommitAsync"/>.</summary>
/// <param name="Status">Committed, or skipped because the txn was already committed.</param>
/// <param name="Version">The version written, or (skipped) the table version that holds the txn.</param>
public sealed record DeltaCommitResult(DeltaCommitStatus Status, long Version)
{
    /// <summary>Put attempts: 1, plus one per concurrent commit that took the version first; 0 when the txn was found before any attempt.</summary>
    public int Attempts { get; init; }

    /// <summary>The files added (empty when skipped).</summary>
    public IReadOnlyList<DeltaFile> Added { get; init; } = [];

    /// <summary>True when a checkpoint of this version was written after the commit, before it returned (never with <see cref="DeltaTable.CheckpointInBackground"/>).</summary>
    public bool Checkpointed { get; init; }
}
