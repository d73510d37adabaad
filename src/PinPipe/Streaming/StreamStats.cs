namespace PinPipe.Streaming;

/// <summary>A snapshot of one table's progress in a <see cref="StreamJob"/>, for progress displays.</summary>
/// <param name="Table">The clean Delta table's name (<c>&lt;U&gt;_pin_table</c>).</param>
/// <param name="Stream">The stream it reads.</param>
/// <param name="Batches">Micro-batches committed since the job started.</param>
/// <param name="Read">Records read from the stream in those micro-batches.</param>
/// <param name="Clean">Rows added to the clean table.</param>
/// <param name="Duplicates">Valid records dropped because their key was seen before.</param>
/// <param name="Rejects">Rows added to the reject table.</param>
/// <param name="Lag">Records in the stream that no committed micro-batch holds yet (as of the last look at the stream).</param>
/// <param name="LastBatchRecords">Records of the last micro-batch.</param>
/// <param name="LastBatchLatency">From the last micro-batch's first record read to its commits.</param>
/// <param name="Compactions">Compaction commits (clean and reject table).</param>
/// <param name="Version">The clean table's Delta version after the last commit (-1: no table yet).</param>
public sealed record StreamTableStats(
    string Table, string Stream, long Batches, long Read, long Clean, long Duplicates, long Rejects, long Lag,
    long LastBatchRecords, TimeSpan LastBatchLatency, long Compactions, long Version)
{
    /// <summary>Clean-table files whose <c>ind</c> column the micro-batches' key checks read (their ind stats could hold a new key), summed over the micro-batches.</summary>
    public long KeyFilesRead { get; init; }

    /// <summary>Clean-table files the micro-batches' key checks did not read (their ind stats rule out every new key), summed over the micro-batches.</summary>
    public long KeyFilesSkipped { get; init; }

    /// <summary>Clean-table files the micro-batches' key checks did not read because the table's key cache held their keys (<see cref="Lake.Delta.DeltaKeyCache"/>), summed over the micro-batches.</summary>
    public long KeyFilesCached { get; init; }

    /// <summary>What the table's key cache holds after the last micro-batch: 8 bytes a key (at most <c>Stream:KeyCacheBytes</c>).</summary>
    public long KeyCacheBytes { get; init; }

    /// <summary>Compactions beside the micro-batches that failed (each logged as an error; the micro-batches went on).</summary>
    public long CompactionFailures { get; init; }

    /// <summary>DuckDB instances the table has opened since the job started (one, then one more every <c>ReopenDuckDbEvery</c> micro-batches).</summary>
    public long DuckDbOpens { get; init; }
}

/// <summary>A snapshot of a <see cref="StreamJob"/>'s progress: one entry per table.</summary>
public sealed record StreamStats(IReadOnlyList<StreamTableStats> Tables)
{
    /// <summary>Records read, all tables.</summary>
    public long Read => Tables.Sum(t => t.Read);

    /// <summary>Records not yet committed, all tables.</summary>
    public long Lag => Tables.Sum(t => t.Lag);
}
