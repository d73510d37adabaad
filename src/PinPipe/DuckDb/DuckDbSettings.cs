namespace PinPipe.DuckDb;

/// <summary>
/// How <see cref="DuckDbSession.Open"/> sets up an in-memory DuckDB: each setting left unset keeps DuckDB's default.
/// The stages fill it from their own options (e.g. <c>Batch:MemoryLimit</c>, <c>Stream:MemoryLimit</c>).
/// </summary>
public sealed record DuckDbSettings
{
    /// <summary>DuckDB's <c>memory_limit</c> (<c>1250MB</c>, <c>2GiB</c>, ..., or a percentage of the memory, <c>80%</c>); null = DuckDB's default (80% of the RAM).</summary>
    public string? MemoryLimit { get; init; }

    /// <summary>Worker threads; 0 (default) = DuckDB's default, one per core.</summary>
    public int Threads { get; init; }

    /// <summary>The folder DuckDB spills to beyond the memory limit (<c>temp_directory</c>); null = DuckDB's default.</summary>
    public string? TempDirectory { get; init; }

    /// <summary>The session's time zone; <c>UTC</c> by default (every timestamp PinPipe writes is UTC).</summary>
    public string TimeZone { get; init; } = "UTC";

    /// <summary>
    /// DuckDB's <c>allocator_flush_threshold</c>: memory freed above it goes back to the system sooner (<c>16MB</c>
    /// for long-running jobs); null = DuckDB's default (128 MiB).
    /// </summary>
    public string? AllocatorFlushThreshold { get; init; }

    /// <summary>
    /// DuckDB's <c>enable_external_file_cache</c>: file data it reads stays cached in its buffer pool, up to the memory
    /// limit. True (default) keeps DuckDB's default; long-running jobs that read ever new files turn it off, so that their
    /// memory does not fill up with files they will not read again.
    /// </summary>
    public bool ExternalFileCache { get; init; } = true;

    /// <summary>
    /// DuckDB's <c>preserve_insertion_order</c>: true (default) keeps DuckDB's default. False lets a <c>COPY</c> bound its
    /// Parquet row groups by bytes (<see cref="DuckDbSession.CopyToParquetFiles"/>' <c>rowGroupBytes</c>), for a rewrite
    /// whose rows have no order to keep (a compaction).
    /// </summary>
    public bool PreserveInsertionOrder { get; init; } = true;
}
