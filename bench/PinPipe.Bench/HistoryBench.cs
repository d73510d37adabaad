using System.Globalization;
using System.Text;
using System.Text.Json;
using PinPipe.Configuration;
using PinPipe.Lake;
using PinPipe.Lake.Delta;
using PinPipe.Lake.Directory;

namespace PinPipe.Bench;

/// <summary>
/// A pipeline's history, day after day (issue #10 §5): <see cref="LandingSimulator"/> lands a day of raw objects in a
/// directory bucket, then <c>pinpipe batch</c> (incremental) runs as a child process: wall time, raw MB read (its
/// <c>summary.json</c>) and peak RSS. On the full days, side by side after it, <c>pinpipe batch --full</c> on a
/// hard-linked copy of the bucket (raw objects and Delta tables as they stand after the day's incremental run; the
/// copy is deleted afterwards, so the bucket's own tables only ever see incremental runs and the next day stays
/// comparable) and the pandas port on the bucket (it only reads the raw objects). Prints a table per day and the
/// targets, writes <c>history.csv</c> and <c>history.svg</c> (seconds per day, the three curves) into the output folder
/// after every day. At the end: <c>pinpipe batch --full</c> on the bucket itself (its previous files become
/// unreferenced), <c>pinpipe vacuum --retention 0 --force</c>, and a check that each Delta table's folder holds only the
/// files its latest version references (and all of them).
/// </summary>
internal static class HistoryBench
{
    private const double TargetIncrementalRatio = 1.5;
    private const double TargetRssBand = 0.20;
    private const string VacuumRetention = "0s"; // a duration (the issue writes `--retention 0`; the CLI reads durations with a unit)
    private static readonly JsonSerializerOptions ManifestJson = new() { WriteIndented = true, PropertyNamingPolicy = JsonNamingPolicy.CamelCase, Encoder = System.Text.Encodings.Web.JavaScriptEncoder.UnsafeRelaxedJsonEscaping };

    /// <summary>One day's figures; null where not run.</summary>
    private sealed record DayRow(LandingDay Landing, long PostsSoFar, long LandedBytesSoFar)
    {
        public BatchBench.Round? Incremental { get; set; }
        public long? IncrementalBytesRead { get; set; }
        public string? IncrementalError { get; set; }
        public BatchBench.Round? Full { get; set; }
        public string? FullError { get; set; }
        public BatchBench.Round? Pandas { get; set; }
        public string? PandasError { get; set; }
    }

    /// <summary>The full days: <c>--full-days</c>, or 1, 10, 20, 30 up to the last day and the last day itself.</summary>
    public static IReadOnlyList<int> FullDays(BenchArgs args) =>
        args.FullDays ?? [.. new[] { 1, 10, 20, 30, args.Days }.Where(d => d <= args.Days).Distinct().Order()];

    /// <summary>Null when the history options are usable, else what is wrong and how to fix it.</summary>
    public static string? Validate(BenchArgs args)
    {
        if (args.Days < 1) return $"--days {args.Days}: give one day or more.";
        if (args.PostsPerDay < 1) return $"--posts-per-day {args.PostsPerDay}: give one post or more.";
        var outside = (args.FullDays ?? []).Where(d => d < 1 || d > args.Days).ToArray();
        if (outside.Length > 0) return $"--full-days {string.Join(',', outside)}: outside the simulated days 1-{args.Days}; give days within --days.";
        return null;
    }

    public static async Task<List<string>> RunAsync(BenchArgs args)
    {
        var outDir = args.Out ?? Path.Combine(Repo.Root, "bench", "results", $"history-{DateTime.UtcNow:yyyyMMdd'T'HHmmss'Z'}");
        Directory.CreateDirectory(outDir);
        var dataDir = Path.Combine(outDir, "data");
        var bucket = Path.Combine(dataDir, "buckets", new PipelineNames(BatchData.UserId).Bucket);
        if (Directory.Exists(dataDir)) Directory.Delete(dataDir, recursive: true);
        var simulator = new LandingSimulator(bucket, BatchData.UserId, args.PostsPerDay);
        if (args.LandOnly) return await LandOnlyAsync(args, simulator, outDir, bucket);

        var fullDays = FullDays(args).ToHashSet();
        var lines = new List<string> { "" };
        var warnings = new List<string>();
        var (cli, cliError) = await BatchBench.PrepareCliAsync();
        if (cli is null)
        {
            lines.Add($"history: ✗ {cliError}");
            return lines;
        }
        string? fullError = await MissingFlagAsync(cli, "batch", "--full");
        if (fullError is not null) warnings.Add($"{fullError}: the 'incremental' runs are this build's `pinpipe batch`, whatever it reads; no full runs");
        string? pandasError = null;
        try { PandasPeer.EnsureInstalled(); }
        catch (InvalidOperationException e) { pandasError = e.Message; }

        var rows = new List<DayRow>();
        long posts = 0, landed = 0, reposts = 0, rejects = 0;
        for (int d = 1; d <= args.Days; d++)
        {
            var day = await simulator.LandDayAsync();
            posts += day.Posts;
            reposts += day.Reposts;
            rejects += day.RejectsPerTopic;
            landed += day.Bytes;
            var row = new DayRow(day, posts, landed);
            rows.Add(row);
            IngestBench.Progress($"history: day {d}/{args.Days} landed: {day.Posts:N0} posts + {day.Reposts:N0} re-posts ({day.RepostsOfEarlierDays:N0} of earlier days) + {day.RejectsPerTopic} junk lines per topic, {day.Bytes / 1e6:N1} MB in {day.Objects.Count} objects; pinpipe batch");

            var (inc, incError, incRead) = await RunBatchAsync(cli, dataDir, [], Expected(day.Posts, day.Reposts, day.RejectsPerTopic), $"day {d} incremental", warnings);
            (row.Incremental, row.IncrementalError, row.IncrementalBytesRead) = (inc, incError, incRead);
            if (fullDays.Contains(d))
            {
                var all = Expected(posts, reposts, rejects);
                if (fullError is null)
                {
                    IngestBench.Progress($"history: day {d}, pinpipe batch --full on a copy of the bucket");
                    (row.Full, row.FullError) = await RunFullOnCopyAsync(cli, outDir, bucket, all, d, warnings);
                }
                else row.FullError = fullError;
                if (pandasError is null)
                {
                    IngestBench.Progress($"history: day {d}, pandas port on the whole history");
                    (row.Pandas, row.PandasError) = await BatchBench.RunPandasAsync(bucket, all, warnings);
                }
                else row.PandasError = pandasError;
            }
            IngestBench.Progress($"history: day {d}: incremental {Seconds(row.Incremental, row.IncrementalError)}" +
                (fullDays.Contains(d) ? $", full {Seconds(row.Full, row.FullError)}, pandas {Seconds(row.Pandas, row.PandasError)}" : ""));
            await WriteOutputsAsync(outDir, rows);
        }

        lines.Add(string.Create(CultureInfo.InvariantCulture,
            $"History: {args.Days} days of {args.PostsPerDay:N0} posts (+~{LandingSimulator.RepostRate:P0} re-posts, half of them of earlier days, and 3 junk lines per topic) a day, {landed / 1e6:N0} MB of raw JSON in all; full rebuild and pandas on days {string.Join(", ", fullDays.Order())}"));
        lines.Add("");
        lines.Add("| day | posts so far | landed MB (day) | incremental | MB read | peak RSS | full rebuild | full peak RSS | pandas | pandas peak RSS |");
        lines.Add("|---|---|---|---|---|---|---|---|---|---|");
        lines.AddRange(rows.Select(TableRow));
        lines.Add("");
        lines.AddRange(Targets(rows));
        lines.Add("");
        lines.AddRange(await VacuumCheckAsync(cli, dataDir, bucket, fullDays.Count == 0 ? "--full-days none" : fullError, Expected(posts, reposts, rejects), warnings));
        lines.Add("");
        lines.Add($"Chart and figures: {Path.Combine(outDir, "history.svg")}, {Path.Combine(outDir, "history.csv")}");
        lines.AddRange(warnings.Select(w => "WARNING: " + w));
        if (!args.KeepData) Directory.Delete(dataDir, recursive: true);
        return lines;
    }

    /// <summary>Only the landings: the bucket stays in <c>&lt;out&gt;/data</c>, each day's objects and counts in <c>landings.json</c>.</summary>
    private static async Task<List<string>> LandOnlyAsync(BenchArgs args, LandingSimulator simulator, string outDir, string bucket)
    {
        var days = new List<LandingDay>();
        for (int d = 1; d <= args.Days; d++) days.Add(await simulator.LandDayAsync());
        var manifest = Path.Combine(outDir, "landings.json");
        await File.WriteAllTextAsync(manifest, JsonSerializer.Serialize(new { bucket, days }, ManifestJson));
        var lines = new List<string> { "", "| day | first ind | posts | re-posts (of earlier days) | junk lines per topic | records | MB | objects |", "|---|---|---|---|---|---|---|---|" };
        lines.AddRange(days.Select(d => string.Create(CultureInfo.InvariantCulture,
            $"| {d.Day} | {d.FirstInd:N0} | {d.Posts:N0} | {d.Reposts:N0} ({d.RepostsOfEarlierDays:N0}) | {d.RejectsPerTopic} | {d.Records:N0} | {d.Bytes / 1e6:N1} | {d.Objects.Count} |")));
        lines.Add($"Bucket: {bucket}; landings: {manifest}");
        return lines;
    }

    private static TopicCounts Expected(long posts, long reposts, long rejects) => new(posts + reposts + rejects, posts, reposts, rejects);

    /// <summary>Null when <c>pinpipe <paramref name="command"/> --help</c> lists <paramref name="flag"/>, else why not.</summary>
    private static async Task<string?> MissingFlagAsync(string dll, string command, string flag)
    {
        var help = await ChildRun.RunAsync("dotnet", [dll, command, "--help"], Repo.Root);
        if (help.ExitCode != 0) return $"pinpipe {command} --help exited with {help.ExitCode}: {help.Excerpt()}";
        return help.Stdout.Contains(flag + " ", StringComparison.Ordinal) || help.Stdout.Contains(flag + ",", StringComparison.Ordinal)
            ? null
            : $"`pinpipe {command}` has no {flag} flag yet (not listed by pinpipe {command} --help)";
    }

    /// <summary>
    /// One <c>pinpipe batch</c> on <paramref name="dataDir"/>: its figures, or why it failed, and the raw bytes it read (its
    /// <c>summary.json</c>); its counts per table are checked against <paramref name="expected"/>.
    /// </summary>
    private static async Task<(BatchBench.Round? Result, string? Error, long? BytesRead)> RunBatchAsync(
        string dll, string dataDir, string[] extra, TopicCounts expected, string what, List<string> warnings)
    {
        var run = await ChildRun.RunAsync("dotnet", [dll, "batch", .. extra, "--data-dir", dataDir, "--user-id", BatchData.UserId], dataDir);
        // The run's log (its phase timings) beside the figures: <out>/logs/<what>.log.
        string logs = Path.Combine(Path.GetDirectoryName(dataDir)!, "logs");
        Directory.CreateDirectory(logs);
        await File.WriteAllTextAsync(Path.Combine(logs, what.Replace(' ', '-') + ".log"), run.Stdout + run.Stderr);
        if (run.ExitCode != 0) return (null, $"pinpipe batch {string.Join(' ', extra)} exited with {run.ExitCode}: {run.Excerpt()}".Replace("  ", " ", StringComparison.Ordinal), null);
        long? bytesRead = null;
        var runs = new DirectoryInfo(Path.Combine(dataDir, "runs"));
        var summary = runs.Exists ? runs.EnumerateFiles("summary.json", SearchOption.AllDirectories).MaxBy(f => f.LastWriteTimeUtc) : null;
        if (summary is null) warnings.Add($"{what}: no summary.json under {runs.FullName}");
        else
        {
            using var json = JsonDocument.Parse(await File.ReadAllBytesAsync(summary.FullName));
            bytesRead = json.RootElement.GetProperty("rawBytes").GetInt64();
            foreach (var table in json.RootElement.GetProperty("tables").EnumerateArray())
            {
                var actual = TopicCounts.Of(table);
                if (actual != expected) warnings.Add($"{what}: pinpipe batch counted {table.GetProperty("table").GetString()}: {actual}; expected {expected}");
            }
        }
        return (new BatchBench.Round(run.Wall.TotalSeconds, run.PeakRssBytes, new Dictionary<string, double>()), null, bytesRead);
    }

    /// <summary><c>pinpipe batch --full</c> on a hard-linked copy of the bucket (objects are never changed in place: a copy's writes and deletes leave the bucket as it is).</summary>
    private static async Task<(BatchBench.Round? Result, string? Error)> RunFullOnCopyAsync(
        string dll, string outDir, string bucket, TopicCounts expected, int day, List<string> warnings)
    {
        var copy = Path.Combine(outDir, "full-copy");
        if (Directory.Exists(copy)) Directory.Delete(copy, recursive: true);
        var copyBuckets = Path.Combine(copy, "buckets");
        Directory.CreateDirectory(copyBuckets);
        try
        {
            var link = await ChildRun.RunAsync("cp", ["-al", bucket, copyBuckets], copy);
            if (link.ExitCode != 0) return (null, $"cannot hard-link the bucket into {copyBuckets}: {link.Excerpt()}");
            var (result, error, _) = await RunBatchAsync(dll, copy, ["--full"], expected, $"day {day} full rebuild", warnings);
            return (result, error);
        }
        finally
        {
            Directory.Delete(copy, recursive: true);
        }
    }

    private static string Seconds(BatchBench.Round? round, string? error) =>
        round is not null ? string.Create(CultureInfo.InvariantCulture, $"{round.Seconds:0.0} s") : $"✗ {error ?? "not run"}";

    private static string TableRow(DayRow r)
    {
        string Cell(BatchBench.Round? round, string? error) => round is null && error is null ? "" : Seconds(round, error);
        string Rss(BatchBench.Round? round) => round is null ? "" : BatchBench.Mib(round.PeakBytes);
        return string.Create(CultureInfo.InvariantCulture,
            $"| {r.Landing.Day} | {r.PostsSoFar:N0} | {r.Landing.Bytes / 1e6:N1} | {Cell(r.Incremental, r.IncrementalError)} | {(r.IncrementalBytesRead is { } b ? (b / 1e6).ToString("N1", CultureInfo.InvariantCulture) : "—")} | {Rss(r.Incremental)} | {Cell(r.Full, r.FullError)} | {Rss(r.Full)} | {Cell(r.Pandas, r.PandasError)} | {Rss(r.Pandas)} |");
    }

    /// <summary>The targets: day-D incremental ≤ 1.5× day 1; its peak RSS within ±20% of the median every day; full and pandas growing.</summary>
    private static List<string> Targets(List<DayRow> rows)
    {
        var lines = new List<string> { "| target | figure | verdict |", "|---|---|---|" };
        var first = rows[0].Incremental;
        var last = rows[^1].Incremental;
        if (first is null || last is null) lines.Add($"| day-{rows.Count} incremental ≤ {TargetIncrementalRatio}× day 1 | the day-1 or day-{rows.Count} run failed | ✗ |");
        else
        {
            double ratio = last.Seconds / first.Seconds;
            lines.Add(string.Create(CultureInfo.InvariantCulture,
                $"| day-{rows.Count} incremental ≤ {TargetIncrementalRatio}× day 1 | {last.Seconds:0.0} s / {first.Seconds:0.0} s = {ratio:0.00}× | {BatchBench.Check(ratio <= TargetIncrementalRatio)} |"));
        }
        var peaks = rows.Where(r => r.Incremental is not null).Select(r => (double)r.Incremental!.PeakBytes).ToArray();
        if (peaks.Length == 0) lines.Add($"| incremental peak RSS flat within ±{TargetRssBand:P0} of the median | no run succeeded | ✗ |");
        else
        {
            double median = IngestBench.Median(peaks), low = peaks.Min() / median - 1, high = peaks.Max() / median - 1;
            bool flat = peaks.Length == rows.Count && low >= -TargetRssBand && high <= TargetRssBand;
            lines.Add(string.Create(CultureInfo.InvariantCulture,
                $"| incremental peak RSS flat within ±{TargetRssBand:P0} of the median | median {BatchBench.Mib((long)median)}, {BatchBench.Mib((long)peaks.Min())} to {BatchBench.Mib((long)peaks.Max())} ({low:+0%;-0%;0%} / {high:+0%;-0%;0%}){(peaks.Length < rows.Count ? $"; {rows.Count - peaks.Length} day(s) failed" : "")} | {BatchBench.Check(flat)} |"));
        }
        lines.Add(Growing("full rebuild grows with the history", rows.Where(r => r.Full is not null || r.FullError is not null).Select(r => (r.Landing.Day, r.Full)).ToList()));
        lines.Add(Growing("pandas port grows with the history", rows.Where(r => r.Pandas is not null || r.PandasError is not null).Select(r => (r.Landing.Day, r.Pandas)).ToList()));
        return lines;
    }

    /// <summary>A target row: the seconds on each full day, growing from each full day to the next.</summary>
    private static string Growing(string target, List<(int Day, BatchBench.Round? Round)> runs)
    {
        if (runs.Count < 2) return $"| {target} | fewer than two full days | ✗ |";
        if (runs.Any(r => r.Round is null)) return $"| {target} | failed on day(s) {string.Join(", ", runs.Where(r => r.Round is null).Select(r => r.Day))} | ✗ |";
        bool growing = runs.Zip(runs.Skip(1)).All(p => p.Second.Round!.Seconds > p.First.Round!.Seconds);
        var figures = string.Join(", ", runs.Select(r => string.Create(CultureInfo.InvariantCulture, $"day {r.Day} {r.Round!.Seconds:0.0} s")));
        return string.Create(CultureInfo.InvariantCulture,
            $"| {target} | {figures} (last/first {runs[^1].Round!.Seconds / runs[0].Round!.Seconds:0.0}×) | {BatchBench.Check(growing)} |");
    }

    /// <summary>
    /// A full rebuild of the bucket itself (its previous files become unreferenced), <c>pinpipe vacuum --retention 0 --force</c>,
    /// then the check: per Delta table, the data files listed in its folder against the files its latest version references.
    /// </summary>
    private static async Task<List<string>> VacuumCheckAsync(string dll, string dataDir, string bucket, string? fullError, TopicCounts all, List<string> warnings)
    {
        var lines = new List<string>();
        if (fullError is null)
        {
            IngestBench.Progress("history: pinpipe batch --full on the bucket itself, before vacuum");
            var (_, error, _) = await RunBatchAsync(dll, dataDir, ["--full"], all, "final full rebuild", warnings);
            if (error is not null) lines.Add($"Final full rebuild before vacuum: ✗ {error}");
        }
        var before = await TableFilesAsync(bucket);
        lines.Add($"Before vacuum: {Describe(before)}");
        if (await BatchBench.MissingCommandAsync(dll, "vacuum") is { } missing)
        {
            lines.Add($"Vacuum: ✗ {missing}; the bucket was not vacuumed");
            return lines;
        }
        IngestBench.Progress($"history: pinpipe vacuum --retention {VacuumRetention} --force");
        var vacuum = await ChildRun.RunAsync("dotnet", [dll, "vacuum", "--retention", VacuumRetention, "--force", "--data-dir", dataDir, "--user-id", BatchData.UserId], dataDir);
        if (vacuum.ExitCode != 0)
        {
            lines.Add($"Vacuum: ✗ pinpipe vacuum --retention {VacuumRetention} --force exited with {vacuum.ExitCode}: {vacuum.Excerpt()}");
            return lines;
        }
        var after = await TableFilesAsync(bucket);
        lines.Add(string.Create(CultureInfo.InvariantCulture, $"After `pinpipe vacuum --retention {VacuumRetention} --force` ({vacuum.Wall.TotalSeconds:0.0} s): {Describe(after)}"));
        bool clean = after.Count > 0 && after.All(t => t.Unreferenced.Count == 0 && t.Missing.Count == 0);
        lines.Add($"Target: after vacuum the bucket holds only the files the latest versions reference: {BatchBench.Check(clean)}");
        var (_, nothingNewError, _) = await RunBatchAsync(dll, dataDir, [], new TopicCounts(0, 0, 0, 0), "incremental run after vacuum", warnings);
        lines.Add($"An incremental run with nothing new after vacuum: {(nothingNewError is null ? "✓ succeeded" : "✗ " + nothingNewError)}");
        return lines;
    }

    /// <summary>A Delta table's data files: those its latest version references, those listed in its folder beside them, and the referenced ones missing.</summary>
    private sealed record TableFiles(string Table, long Version, int Live, int Listed, IReadOnlyList<string> Unreferenced, IReadOnlyList<string> Missing);

    /// <summary>Every Delta table under the bucket's <c>delta/</c> folder (<c>Batch:TablesPrefix</c>'s default), through the project's <see cref="DeltaTable"/>.</summary>
    private static async Task<List<TableFiles>> TableFilesAsync(string bucket)
    {
        var result = new List<TableFiles>();
        var tablesDir = Path.Combine(bucket, "delta");
        if (!Directory.Exists(tablesDir)) return result;
        var store = new DirectoryObjectStore(System.IO.Path.GetDirectoryName(bucket)!, Path.GetFileName(bucket));
        foreach (var table in Directory.EnumerateDirectories(tablesDir).Select(Path.GetFileName).Order(StringComparer.Ordinal))
        {
            string prefix = $"delta/{table}/";
            var snapshot = await new DeltaTable(store, prefix).LoadAsync();
            if (snapshot is null) continue;
            var live = snapshot.Files.Select(snapshot.KeyOf).ToHashSet(StringComparer.Ordinal);
            var listed = new HashSet<string>(StringComparer.Ordinal);
            await foreach (var o in store.ListAsync(prefix))
                if (!o.Key.StartsWith(prefix + "_delta_log/", StringComparison.Ordinal)) listed.Add(o.Key);
            result.Add(new TableFiles(table!, snapshot.Version, live.Count, listed.Count,
                [.. listed.Except(live).Order(StringComparer.Ordinal)], [.. live.Except(listed).Order(StringComparer.Ordinal)]));
        }
        return result;
    }

    private static string Describe(List<TableFiles> tables)
    {
        if (tables.Count == 0) return "no Delta tables under delta/";
        var text = new StringBuilder(string.Create(CultureInfo.InvariantCulture,
            $"{tables.Sum(t => t.Listed)} data files in {tables.Count} tables, {tables.Sum(t => t.Live)} referenced by the latest versions, {tables.Sum(t => t.Unreferenced.Count)} unreferenced, {tables.Sum(t => t.Missing.Count)} referenced but missing"));
        foreach (var t in tables.Where(t => t.Unreferenced.Count > 0 || t.Missing.Count > 0))
            text.Append(CultureInfo.InvariantCulture, $"; {t.Table} v{t.Version}: {Files(t.Unreferenced, "unreferenced")}, {Files(t.Missing, "missing")}");
        return text.ToString();
    }

    private static string Files(IReadOnlyList<string> keys, string what) => keys.Count == 0 ? $"0 {what}" : $"{keys.Count} {what} (e.g. {keys[0]})";

    /// <summary>Writes <c>history.csv</c> and <c>history.svg</c> into <paramref name="outDir"/>.</summary>
    private static async Task WriteOutputsAsync(string outDir, List<DayRow> rows)
    {
        var csv = new StringBuilder("day,posts_so_far,landed_bytes_day,landed_bytes_so_far,incremental_s,incremental_bytes_read,incremental_peak_rss_bytes,full_s,full_peak_rss_bytes,pandas_s,pandas_peak_rss_bytes,errors\n");
        foreach (var r in rows)
        {
            var errors = string.Join("; ", new[] { r.IncrementalError, r.FullError, r.PandasError }.OfType<string>()).Replace("\"", "'", StringComparison.Ordinal);
            csv.Append(CultureInfo.InvariantCulture,
                $"{r.Landing.Day},{r.PostsSoFar},{r.Landing.Bytes},{r.LandedBytesSoFar},{r.Incremental?.Seconds:0.000},{r.IncrementalBytesRead},{r.Incremental?.PeakBytes},{r.Full?.Seconds:0.000},{r.Full?.PeakBytes},{r.Pandas?.Seconds:0.000},{r.Pandas?.PeakBytes},\"{errors}\"\n");
        }
        await File.WriteAllTextAsync(Path.Combine(outDir, "history.csv"), csv.ToString());
        await File.WriteAllTextAsync(Path.Combine(outDir, "history.svg"), HistoryChart.Svg(
            "pinpipe batch over a growing history: seconds per run",
            rows.Count,
            [
                new("pinpipe batch (incremental)", "#1f77b4", [.. rows.Where(r => r.Incremental is not null).Select(r => (r.Landing.Day, r.Incremental!.Seconds))]),
                new("pinpipe batch --full", "#ff7f0e", [.. rows.Where(r => r.Full is not null).Select(r => (r.Landing.Day, r.Full!.Seconds))]),
                new("pandas port", "#2ca02c", [.. rows.Where(r => r.Pandas is not null).Select(r => (r.Landing.Day, r.Pandas!.Seconds))]),
            ]));
    }
}
