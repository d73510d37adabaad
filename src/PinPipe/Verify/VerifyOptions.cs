using PinPipe.Configuration;

namespace PinPipe.Verify;

/// <summary>Settings of <c>pinpipe verify</c> (section <c>Verify</c>).</summary>
public sealed record VerifyOptions
{
    /// <summary>Problems listed per check (all are counted). Default 20.</summary>
    public int MaxListed { get; init; } = 20;

    /// <summary>Records read from the log in one request. Default 5,000.</summary>
    public int ReadChunk { get; init; } = 5_000;

    /// <summary>DuckDB's memory limit for the streaming tables' check (it spills beyond it). Default <c>1GB</c>.</summary>
    public string MemoryLimit { get; init; } = "1GB";

    public static VerifyOptions Default { get; } = new();

    /// <summary>Every problem of the settings, one sentence each.</summary>
    public IReadOnlyList<string> Validate() => new SettingsProblems()
        .Check(MaxListed >= 1, $"Verify:MaxListed must be at least 1 (it is {MaxListed}).")
        .Check(ReadChunk is >= 1 and <= 100_000, $"Verify:ReadChunk must be 1 to 100,000 (it is {ReadChunk}).")
        .Check(SettingFormats.IsMemoryLimit(MemoryLimit), $"Verify:MemoryLimit '{MemoryLimit}' is not a memory size (e.g. 1GB, 512MiB).")
        .ToList();
}
