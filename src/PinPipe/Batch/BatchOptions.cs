using PinPipe.Configuration;
using PinPipe.Transform;

namespace PinPipe.Batch;

/// <summary>Settings of the batch job (configuration section <c>Batch</c>).</summary>
public sealed record BatchOptions
{
    /// <summary>Key prefix in the bucket under which the Delta tables live (<c>delta/pin</c>, <c>delta/pin_rejects</c>, ...). Default <c>delta</c>.</summary>
    public string TablesPrefix { get; init; } = "delta";

    /// <summary>Folder for each run's outputs (insights as CSV and JSON, the HTML report), one sub-folder per run id. A relative path is under the data folder. Default <c>runs</c>.</summary>
    public string OutputDir { get; init; } = "runs";

    /// <summary>DuckDB worker threads; 0 (default) = one per core; at most <see cref="SettingFormats.MaxThreads"/>.</summary>
    public int Threads { get; init; }

    /// <summary>DuckDB memory limit (<c>2GB</c>, <c>512MiB</c>, <c>80%</c>: <see cref="SettingFormats.IsMemoryLimit"/>); beyond it DuckDB spills to disk. Default <c>1250MB</c>: a million posts (0.9 GB of raw JSON) clean without spilling much and the process peaks under 2 GB.</summary>
    public string MemoryLimit { get; init; } = "1250MB";

    /// <summary>
    /// How much raw JSON a run (incremental or <see cref="Full"/>) reads and cleans at a time: a size (<c>400MB</c>, <c>256MiB</c>,
    /// units as <see cref="MemoryLimit"/>'s). Null (default): a sixth of <see cref="MemoryLimit"/> (about 208 MB at 1250MB): the
    /// process's peak (DuckDB's buffers and what it allocates beside them, about 4 × the chunk, and some 500 MB of its own)
    /// then stays near the limit.
    /// Chunks are whole raw objects, so one larger than this is a chunk of its own.
    /// </summary>
    public string? ChunkSize { get; init; }

    /// <summary>
    /// Who reads the raw records' JSON: <see cref="RecordParser.PinPipe"/> (default), our own parser, an object per core, for
    /// the lines it can read exactly, DuckDB's JSON functions for the rest; or <see cref="RecordParser.DuckDb"/>, DuckDB's for
    /// every line. The same rules clean both, with the same rows, counts and rejects; the setting exists to compare them.
    /// </summary>
    public RecordParser Parser { get; init; } = RecordParser.PinPipe;

    /// <summary>
    /// Rebuild every table from all raw objects (<c>pinpipe batch --full</c>): each table is overwritten (a new version) and
    /// its offsets set to the ends read, so that the next incremental run continues after them. Default false: an
    /// incremental run, which reads only the raw objects landed since the tables' last commits.
    /// </summary>
    public bool Full { get; init; }

    /// <summary>Every problem of these settings, each naming its key; empty when all is well.</summary>
    public IReadOnlyList<string> Validate() => new SettingsProblems()
        .Check(SettingFormats.IsKeyPrefix(TablesPrefix), SettingFormats.NotKeyPrefix("Batch:TablesPrefix", TablesPrefix, "delta"))
        .Check(!string.IsNullOrWhiteSpace(OutputDir), "Batch:OutputDir: must not be empty.")
        .Check(Threads is >= 0 and <= SettingFormats.MaxThreads,
            $"Batch:Threads: {Threads} must be 0 (one per core) to {SettingFormats.MaxThreads}: more threads than cores only adds contention, and each holds its own memory.")
        .Check(SettingFormats.IsMemoryLimit(MemoryLimit), SettingFormats.NotMemoryLimit("Batch:MemoryLimit", MemoryLimit))
        .Check(ChunkSize is null || (SettingFormats.IsMemoryLimit(ChunkSize) && !ChunkSize.Contains('%', StringComparison.Ordinal)),
            $"Batch:ChunkSize: '{ChunkSize}' is not a size; use a number and a unit (e.g. 400MB, 256MiB), or leave it unset for a sixth of Batch:MemoryLimit.")
        .ToList();

    /// <summary>The raw JSON bytes a run reads at a time: <see cref="ChunkSize"/>, or a sixth of <see cref="MemoryLimit"/> (at least 1 MB).</summary>
    public long ChunkBytes => ChunkSize is not null && SettingFormats.ToBytes(ChunkSize) is { } size
        ? Math.Max(size, 1)
        : Math.Max((SettingFormats.ToBytes(MemoryLimit) ?? 1_250_000_000) / 6, 1_000_000);
}
