using System.Globalization;
using System.Text.RegularExpressions;

namespace PinPipe.Configuration;

/// <summary>
/// The shapes of settings several stages share, checked when the settings are loaded rather than when the work meets
/// them: key prefixes in the bucket (<c>Batch:TablesPrefix</c>), DuckDB memory limits (<c>Batch:MemoryLimit</c>) and bucket names.
/// </summary>
public static partial class SettingFormats
{
    /// <summary>
    /// The most DuckDB worker threads a setting may ask for. More threads than cores only adds contention, and each thread
    /// holds its own buffers: 256 covers the largest common machines (192-vCPU instances) while a slip such as
    /// <c>--threads 100000</c> is refused at once instead of exhausting the memory after a long wait.
    /// </summary>
    public const int MaxThreads = 256;

    /// <summary>
    /// Whether <paramref name="prefix"/> is a key prefix in a bucket: names of ASCII letters, digits, <c>.</c>, <c>_</c>, <c>-</c> and
    /// <c>=</c> separated by single <c>/</c>, none of them <c>.</c> or <c>..</c>, without a leading or trailing <c>/</c> (<c>delta</c>,
    /// <c>lake/delta</c>): it cannot leave the bucket or the folder that holds it.
    /// </summary>
    public static bool IsKeyPrefix(string? prefix) =>
        !string.IsNullOrEmpty(prefix) && prefix.Split('/').All(s => s.Length > 0 && s is not ("." or "..") && s.All(c => char.IsAsciiLetterOrDigit(c) || c is '.' or '_' or '-' or '='));

    /// <summary>The message of a bad key prefix: <c>Batch:TablesPrefix: '../x' must be a key prefix in the bucket: ...</c>.</summary>
    public static string NotKeyPrefix(string key, string? prefix, string example) =>
        $"{key}: '{prefix}' must be a key prefix in the bucket: names of letters, digits, '.', '_', '-' or '=' separated by '/', without '..' and without a leading or trailing '/' (e.g. {example}).";

    /// <summary>
    /// Whether <paramref name="limit"/> is a memory limit in DuckDB's form: a number and a unit, <c>B</c>, <c>KB</c>, <c>MB</c>, <c>GB</c>,
    /// <c>TB</c> (powers of 1000) or <c>KiB</c>, <c>MiB</c>, <c>GiB</c>, <c>TiB</c> (powers of 1024), in any case (<c>1250MB</c>, <c>4GB</c>,
    /// <c>512MiB</c>, <c>1.5 GB</c>); or a percentage of the machine's memory, <c>1%</c> to <c>100%</c> (<c>80%</c>).
    /// </summary>
    public static bool IsMemoryLimit(string? limit) => ToDuckDbMemoryLimit(limit) is not null;

    /// <summary>The message of a bad memory limit.</summary>
    public static string NotMemoryLimit(string key, string? limit) =>
        $"{key}: '{limit}' is not a memory limit; use a number and a unit (e.g. 4GB, 1250MB, 512MiB) or a percentage of the memory (e.g. 80%).";

    /// <summary>
    /// The memory limit as DuckDB's <c>memory_limit</c> takes it: a size as it is, a percentage as the bytes it is of the memory
    /// available to this process (its container's limit included); null when <paramref name="limit"/> is not a memory limit.
    /// </summary>
    public static string? ToDuckDbMemoryLimit(string? limit)
    {
        if (limit is null) return null;
        var size = MemorySize().Match(limit);
        if (size.Success)
            return double.TryParse(size.Groups[1].Value, NumberStyles.AllowDecimalPoint, CultureInfo.InvariantCulture, out var n) && n > 0 ? limit.Trim() : null;
        var percent = MemoryPercent().Match(limit);
        if (!percent.Success || !double.TryParse(percent.Groups[1].Value, NumberStyles.AllowDecimalPoint, CultureInfo.InvariantCulture, out var p) || p is <= 0 or > 100) return null;
        long bytes = (long)(GC.GetGCMemoryInfo().TotalAvailableMemoryBytes * (p / 100));
        return Math.Max(bytes, 1L << 20).ToString(CultureInfo.InvariantCulture) + "B";
    }

    /// <summary>
    /// A memory limit (<see cref="IsMemoryLimit"/>) in bytes: a size by its unit (<c>1250MB</c> = 1,250,000,000, <c>512MiB</c> =
    /// 536,870,912), a percentage of the memory available to this process; null when it is not a memory limit.
    /// </summary>
    public static long? ToBytes(string? limit)
    {
        string? resolved = ToDuckDbMemoryLimit(limit);
        if (resolved is null) return null;
        var size = SizeParts().Match(resolved);
        if (!size.Success || !double.TryParse(size.Groups[1].Value, NumberStyles.AllowDecimalPoint, CultureInfo.InvariantCulture, out var n)) return null;
        double unit = size.Groups[2].Value.ToUpperInvariant() switch
        {
            "B" => 1,
            "KB" => 1e3,
            "MB" => 1e6,
            "GB" => 1e9,
            "TB" => 1e12,
            "KIB" => 1L << 10,
            "MIB" => 1L << 20,
            "GIB" => 1L << 30,
            _ => 1L << 40,
        };
        return (long)Math.Min(n * unit, long.MaxValue);
    }

    /// <summary>
    /// Whether <paramref name="bucket"/> is a bucket name: for S3 (<paramref name="s3"/>) Amazon's rules (3-63 lower-case letters,
    /// digits, '.' and '-', starting and ending with a letter or digit, no '..'); for a folder store one folder name of letters,
    /// digits, '.', '_' and '-', not '.' or '..'.
    /// </summary>
    public static bool IsBucketName(string bucket, bool s3)
    {
        ArgumentNullException.ThrowIfNull(bucket);
        return s3
            ? bucket.Length is >= 3 and <= 63 && bucket.All(c => char.IsAsciiLetterLower(c) || char.IsAsciiDigit(c) || c is '.' or '-')
              && char.IsAsciiLetterOrDigit(bucket[0]) && char.IsAsciiLetterOrDigit(bucket[^1]) && !bucket.Contains("..", StringComparison.Ordinal)
            : bucket.Length is >= 1 and <= 255 && bucket is not ("." or "..") && bucket.All(c => char.IsAsciiLetterOrDigit(c) || c is '.' or '_' or '-');
    }

    [GeneratedRegex(@"^\s*([0-9]+(?:\.[0-9]+)?)\s*(?:B|KB|MB|GB|TB|KIB|MIB|GIB|TIB)\s*$", RegexOptions.IgnoreCase | RegexOptions.CultureInvariant)]
    private static partial Regex MemorySize();

    [GeneratedRegex(@"^\s*([0-9]+(?:\.[0-9]+)?)\s*(B|KB|MB|GB|TB|KIB|MIB|GIB|TIB)\s*$", RegexOptions.IgnoreCase | RegexOptions.CultureInvariant)]
    private static partial Regex SizeParts();

    [GeneratedRegex(@"^\s*([0-9]+(?:\.[0-9]+)?)\s*%\s*$", RegexOptions.CultureInvariant)]
    private static partial Regex MemoryPercent();
}
