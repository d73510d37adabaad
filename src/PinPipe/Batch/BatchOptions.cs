using PinPipe.Configuration;

namespace PinPipe.Batch;

/// <summary>Settings of the batch job (configuration section <c>Batch</c>).</summary>
public sealed record BatchOptions
{
    /// <summary>Key prefix in the bucket under which the Delta tables live (<c>delta/pin</c>, <c>delta/pin_rejects</c>, ...). Default <c>delta</c>.</summary>
    public string TablesPrefix { get; init; } = "delta";

    /// <summary>Folder for each run's outputs (insights as CSV and JSON, the HTML report), one sub-folder per run id. A relative path is under the data folder. Default <c>runs</c>.</summary>
    public string OutputDir { get; init; } = "runs";

    /// <summary>DuckDB worker threads; 0 (default) = one per core.</summary>
    public int Threads { get; init; }

    /// <summary>DuckDB memory limit (DuckDB syntax, e.g. <c>2GB</c>); beyond it DuckDB spills to disk. Default <c>1250MB</c>: a million posts (0.9 GB of raw JSON) clean without spilling much and the process peaks under 2 GB.</summary>
    public string MemoryLimit { get; init; } = "1250MB";

    /// <summary>Every problem of these settings, each naming its key; empty when all is well.</summary>
    public IReadOnlyList<string> Validate() => new SettingsProblems()
        .Check(!string.IsNullOrWhiteSpace(TablesPrefix) && !TablesPrefix.StartsWith('/') && !TablesPrefix.EndsWith('/'),
            $"Batch:TablesPrefix: '{TablesPrefix}' must be a key prefix without leading or trailing '/' (e.g. delta).")
        .Check(Threads >= 0, $"Batch:Threads: {Threads} must be zero (all cores) or more.")
        .ToList();
}
