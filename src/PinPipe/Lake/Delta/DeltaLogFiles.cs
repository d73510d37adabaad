using System.Globalization;
using System.Text.RegularExpressions;

namespace PinPipe.Lake.Delta;

/// <summary>Names in <c>_delta_log/</c> (protocol §1.1) and listing the log from a version on.</summary>
internal static partial class DeltaLogFiles
{
    internal const string LogFolder = "_delta_log/";
    internal const string LastCheckpoint = "_last_checkpoint";

    /// <summary>Versions per listing block: list calls use the first 18 of the 20 digits as key prefix.</summary>
    private const long Block = 100;

    internal static string Commit(long version) => version.ToString("D20", CultureInfo.InvariantCulture) + ".json";

    internal static string Checkpoint(long version) => version.ToString("D20", CultureInfo.InvariantCulture) + ".checkpoint.parquet";

    /// <summary>Part <paramref name="part"/> (1-based) of a multi-part checkpoint of <paramref name="parts"/> parts.</summary>
    internal static string CheckpointPart(long version, int part, int parts) =>
        string.Create(CultureInfo.InvariantCulture, $"{version:D20}.checkpoint.{part:D10}.{parts:D10}.parquet");

    /// <summary>The version a log file is of (<c>&lt;20 digits&gt;.…</c>: commit, checkpoint, .crc), or null for other names.</summary>
    internal static long? VersionOf(string key, string logPrefix)
    {
        if (!key.StartsWith(logPrefix, StringComparison.Ordinal)) return null;
        var name = key.AsSpan(logPrefix.Length);
        if (name.Length < 22 || name[20] != '.' || name.Contains('/')) return null;
        return long.TryParse(name[..20], NumberStyles.None, CultureInfo.InvariantCulture, out long v) ? v : null;
    }

    /// <summary>
    /// A string in a commit file's <c>commitInfo.operationParameters</c> (where a writer records what it wants readers of
    /// the log to know about the commit, e.g. <c>pinpipe.runId</c>), or null when the commit has none.
    /// </summary>
    internal static string? OperationParameter(ReadOnlyMemory<byte> commit, string name)
    {
        foreach (var range in commit.Span.Split((byte)'\n'))
        {
            var line = commit[range];
            if (line.Span.IndexOf("\"commitInfo\""u8) < 0) continue;
            try
            {
                using var doc = System.Text.Json.JsonDocument.Parse(line);
                if (doc.RootElement.ValueKind == System.Text.Json.JsonValueKind.Object
                    && doc.RootElement.TryGetProperty("commitInfo", out var info) && info.ValueKind == System.Text.Json.JsonValueKind.Object
                    && info.TryGetProperty("operationParameters", out var parameters) && parameters.ValueKind == System.Text.Json.JsonValueKind.Object
                    && parameters.TryGetProperty(name, out var value) && value.ValueKind == System.Text.Json.JsonValueKind.String)
                    return value.GetString();
            }
            catch (System.Text.Json.JsonException)
            {
                // Not a commitInfo line (the word appears in a value) or a damaged one: the table's reader reports a damaged log.
            }
        }
        return null;
    }

    /// <summary>True for a commit file (<c>&lt;v&gt;.json</c>).</summary>
    internal static bool IsCommit(string key, string logPrefix) =>
        key.StartsWith(logPrefix, StringComparison.Ordinal) && CommitName().IsMatch(key.AsSpan(logPrefix.Length));

    [GeneratedRegex(@"^(\d{20})\.json$", RegexOptions.CultureInvariant)]
    private static partial Regex CommitName();

    [GeneratedRegex(@"^(\d{20})\.checkpoint\.parquet$", RegexOptions.CultureInvariant)]
    private static partial Regex ClassicCheckpointName();

    [GeneratedRegex(@"^(\d{20})\.checkpoint\.(\d{10})\.(\d{10})\.parquet$", RegexOptions.CultureInvariant)]
    private static partial Regex MultiPartCheckpointName();

    /// <summary>
    /// Lists the log: every object when <paramref name="fromVersion"/> is null, otherwise only the blocks of
    /// 100 versions from <paramref name="fromVersion"/>'s block on, stopping at the first empty block (so a
    /// load that starts at a checkpoint costs one or two list calls however long the log is).
    /// </summary>
    internal static async Task<LogListing> ListAsync(IObjectStore store, string logPrefix, long? fromVersion, CancellationToken cancellationToken)
    {
        var listing = new LogListing();
        if (fromVersion is null)
        {
            await foreach (var info in store.ListAsync(logPrefix, cancellationToken).ConfigureAwait(false)) listing.Add(info, logPrefix);
            return listing;
        }
        for (long block = fromVersion.Value / Block; ; block++)
        {
            string prefix = logPrefix + (block * Block).ToString("D20", CultureInfo.InvariantCulture)[..18];
            bool any = false;
            await foreach (var info in store.ListAsync(prefix, cancellationToken).ConfigureAwait(false))
            {
                any = true;
                listing.Add(info, logPrefix);
            }
            if (!any) return listing;
        }
    }

    /// <summary>What a listing of <c>_delta_log/</c> found: commits and checkpoint parts by version.</summary>
    internal sealed class LogListing
    {
        internal SortedDictionary<long, ObjectInfo> Commits { get; } = [];
        internal SortedDictionary<long, ObjectInfo> ClassicCheckpoints { get; } = [];
        /// <summary>version → parts count → part number → object.</summary>
        internal SortedDictionary<long, Dictionary<int, SortedDictionary<int, ObjectInfo>>> MultiPartCheckpoints { get; } = [];

        internal bool IsEmpty => Commits.Count == 0 && ClassicCheckpoints.Count == 0 && MultiPartCheckpoints.Count == 0;

        internal long Latest => Math.Max(Commits.Count > 0 ? Commits.Keys.Max() : -1,
            Math.Max(ClassicCheckpoints.Count > 0 ? ClassicCheckpoints.Keys.Max() : -1, MultiPartCheckpoints.Count > 0 ? MultiPartCheckpoints.Keys.Max() : -1));

        internal void Add(ObjectInfo info, string logPrefix)
        {
            if (!info.Key.StartsWith(logPrefix, StringComparison.Ordinal)) return;
            string name = info.Key[logPrefix.Length..];
            if (CommitName().Match(name) is { Success: true } c) Commits[ParseVersion(c)] = info;
            else if (ClassicCheckpointName().Match(name) is { Success: true } k) ClassicCheckpoints[ParseVersion(k)] = info;
            else if (MultiPartCheckpointName().Match(name) is { Success: true } m)
            {
                int part = int.Parse(m.Groups[2].Value, CultureInfo.InvariantCulture);
                int parts = int.Parse(m.Groups[3].Value, CultureInfo.InvariantCulture);
                if (part < 1 || part > parts) return;
                long version = ParseVersion(m);
                if (!MultiPartCheckpoints.TryGetValue(version, out var byCount)) MultiPartCheckpoints[version] = byCount = [];
                if (!byCount.TryGetValue(parts, out var set)) byCount[parts] = set = [];
                set[part] = info;
            }
            // Anything else (.crc, compacted logs, v2 checkpoints, _sidecars, _staged_commits) is not ours to read.
        }

        /// <summary>The newest complete checkpoint at or below <paramref name="maxVersion"/> (and at or above <paramref name="minVersion"/>).</summary>
        internal (long Version, IReadOnlyList<ObjectInfo> Parts)? BestCheckpoint(long maxVersion, long minVersion = 0)
        {
            var versions = ClassicCheckpoints.Keys.Concat(MultiPartCheckpoints.Keys).Where(v => v <= maxVersion && v >= minVersion).Distinct().OrderDescending();
            foreach (long v in versions)
            {
                if (CheckpointAt(v) is { } parts) return (v, parts);
            }
            return null;
        }

        /// <summary>The oldest complete checkpoint at or above <paramref name="minVersion"/>, or null.</summary>
        internal long? EarliestCheckpoint(long minVersion) =>
            ClassicCheckpoints.Keys.Concat(MultiPartCheckpoints.Keys).Where(v => v >= minVersion).Distinct().Order()
                .Select(v => (long?)v).FirstOrDefault(v => CheckpointAt(v!.Value) is not null);

        /// <summary>The parts of a complete checkpoint at <paramref name="version"/>, or null.</summary>
        internal IReadOnlyList<ObjectInfo>? CheckpointAt(long version, int? expectedParts = null)
        {
            if (expectedParts is null or 1 && ClassicCheckpoints.TryGetValue(version, out var classic)) return [classic];
            if (!MultiPartCheckpoints.TryGetValue(version, out var byCount)) return null;
            foreach (var (count, set) in byCount.OrderByDescending(kv => kv.Key))
            {
                if (expectedParts is not null && count != expectedParts) continue;
                if (set.Count == count) return set.Values.ToList(); // a set with a part missing is ignored
            }
            return null;
        }

        private static long ParseVersion(Match m) => long.Parse(m.Groups[1].Value, CultureInfo.InvariantCulture);
    }
}
