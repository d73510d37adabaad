using System.Globalization;
using System.Text.Json;
using PinPipe.Configuration;

namespace PinPipe.Bench;

/// <summary>
/// <c>pinpipe batch</c> (the Release build of src/PinPipe.Cli, as a child process) against the pandas port
/// of the original notebook (<see cref="PandasPeer"/>), side by side on the same raw objects
/// (<see cref="BatchData"/>): wall time, raw MB/s and peak RSS of each child, medians of the rounds, the
/// ratio pandas/pinpipe and the targets.
/// </summary>
internal static class BatchBench
{
    private const double TargetSpeedup = 20;
    private const double TargetMegabytesPerSecond = 200; // issue #14 (issue #3 asked 100)
    private const long TargetPeakBytes = 2L << 30;

    internal sealed record Round(double Seconds, long PeakBytes, IReadOnlyDictionary<string, double> Phases);

    public static async Task<List<string>> RunAsync(BenchArgs args)
    {
        var pandasVersion = PandasPeer.EnsureInstalled();
        var data = await BatchData.EnsureAsync(args.Posts);
        var (cli, cliError) = await PrepareCliAsync();
        var pinpipe = new List<Round>();
        var duckdbParser = new List<Round>();
        string? duckdbError = null;
        var pandas = new List<Round>();
        var warnings = new List<string>();
        string? pandasError = null;
        for (int round = 0; round < args.Rounds; round++)
        {
            if (cliError is null)
            {
                IngestBench.Progress($"batch: round {round + 1}/{args.Rounds}, pinpipe batch");
                (var result, cliError) = await RunPinPipeAsync(cli!, data);
                if (result is not null) pinpipe.Add(result);
            }
            if (cli is not null && duckdbError is null)
            {
                IngestBench.Progress($"batch: round {round + 1}/{args.Rounds}, pinpipe batch --parser duckdb");
                (var result, duckdbError) = await RunPinPipeAsync(cli, data, "duckdb");
                if (result is not null) duckdbParser.Add(result);
            }
            if (pandasError is null)
            {
                IngestBench.Progress($"batch: round {round + 1}/{args.Rounds}, pandas port");
                (var result, pandasError) = await RunPandasAsync(data, warnings);
                if (result is not null)
                {
                    pandas.Add(result);
                    IngestBench.Progress($"batch: pandas took {result.Seconds:0.0} s, peak {Mib(result.PeakBytes)}");
                }
            }
        }

        var t = data.Totals;
        double megabytes = t.Bytes / 1e6;
        var lines = new List<string>
        {
            "",
            string.Create(CultureInfo.InvariantCulture,
                $"| batch job: {data.Parameters.Posts:N0} posts + {t.Reposts:N0} re-posts = {t.Records:N0} raw records ({t.RejectsPerTopic * 3} to reject), {megabytes:N0} MB in {t.Objects} objects; median of {args.Rounds} | wall | raw MB/s | peak RSS | phases |"),
            "|---|---|---|---|---|",
            Row("pinpipe batch (Release): our parser, DuckDB's JSON functions for what it leaves", pinpipe, megabytes, cliError),
            Row("pinpipe batch --parser duckdb: DuckDB's JSON functions for every line", duckdbParser, megabytes, duckdbError),
            Row($"pandas {pandasVersion} port of the notebook ({PandasPeer.Python})", pandas, megabytes, pandasError),
        };
        double pinSeconds = IngestBench.Median(pinpipe.Select(r => r.Seconds));
        double pandasSeconds = IngestBench.Median(pandas.Select(r => r.Seconds));
        double speedup = pandasSeconds / pinSeconds;
        double pinRate = megabytes / pinSeconds;
        double pinPeak = IngestBench.Median(pinpipe.Select(r => (double)r.PeakBytes));
        lines.Add(string.Create(CultureInfo.InvariantCulture,
            $"| targets for pinpipe batch | pandas/pinpipe {Figure(speedup, "0.0")}× (≥ {TargetSpeedup:0}×) {Check(speedup >= TargetSpeedup)} | {Figure(pinRate, "N0")} (≥ {TargetMegabytesPerSecond:0}) {Check(pinRate >= TargetMegabytesPerSecond)} | {(pinpipe.Count == 0 ? "—" : Mib((long)pinPeak))} (≤ 2 GiB) {Check(pinPeak <= TargetPeakBytes)} | |"));
        lines.AddRange(warnings.Select(w => "WARNING: " + w));
        return lines;
    }

    private static string Row(string name, List<Round> rounds, double megabytes, string? error)
    {
        if (rounds.Count == 0) return $"| {name} | ✗ {error ?? "not run"} | — | — | |";
        double seconds = IngestBench.Median(rounds.Select(r => r.Seconds));
        long peak = (long)IngestBench.Median(rounds.Select(r => (double)r.PeakBytes));
        var phases = string.Join(", ", rounds[0].Phases.Keys.Select(k => string.Create(CultureInfo.InvariantCulture, $"{k} {IngestBench.Median(rounds.Select(r => r.Phases.GetValueOrDefault(k))):0.0} s")));
        var note = error is null ? "" : $" (a later round failed: {error})";
        return string.Create(CultureInfo.InvariantCulture, $"| {name} | {seconds:0.0} s{note} | {megabytes / seconds:N1} | {Mib(peak)} | {phases} |");
    }

    internal static string Mib(long bytes) => string.Create(CultureInfo.InvariantCulture, $"{bytes / (double)(1 << 20):N0} MiB");

    internal static string Figure(double value, string format) => double.IsFinite(value) ? value.ToString(format, CultureInfo.InvariantCulture) : "—";

    internal static string Check(bool ok) => ok ? "✓" : "✗";

    /// <summary>The CLI the child processes run, from <c>--cli</c> (e.g. a <c>dotnet publish</c> output); null: a Release build of src/PinPipe.Cli.</summary>
    internal static string? CliDll { get; set; }

    /// <summary>Builds src/PinPipe.Cli in Release (or takes <see cref="CliDll"/>) and checks it has the <paramref name="command"/> command; the error says why not.</summary>
    internal static async Task<(string? Dll, string? Error)> PrepareCliAsync(string command = "batch")
    {
        if (CliDll is { } given)
        {
            if (!File.Exists(given)) return (null, $"--cli {given}: no such file");
            IngestBench.Progress($"{command}: the children run {given} (--cli)");
            return await MissingCommandAsync(given, command) is { } absent ? (null, absent) : (given, null);
        }

        var project = Path.Combine(Repo.Root, "src", "PinPipe.Cli");
        IngestBench.Progress($"{command}: building src/PinPipe.Cli (Release)");
        var build = await ChildRun.RunAsync("dotnet", ["build", project, "-c", "Release", "--nologo", "-v", "q", "-clp:ErrorsOnly"], Repo.Root);
        if (build.ExitCode != 0) return (null, $"the Release build of src/PinPipe.Cli failed: {build.Excerpt()}");
        IngestBench.Progress($"{command}: {Baseline.FlushPendingWrites()}"); // the build's output, written back now rather than in the first round
        var framework = new DirectoryInfo(AppContext.BaseDirectory).Name; // bin/Release/<tfm>/
        var dll = Path.Combine(project, "bin", "Release", framework, "PinPipe.Cli.dll");
        if (!File.Exists(dll)) return (null, $"{dll} is missing after the build");
        var missing = await MissingCommandAsync(dll, command);
        return missing is null ? (dll, null) : (null, missing);
    }

    /// <summary>Null when the built CLI <paramref name="dll"/> lists <paramref name="command"/> in its help, else why not.</summary>
    internal static async Task<string?> MissingCommandAsync(string dll, string command)
    {
        var help = await ChildRun.RunAsync("dotnet", [dll, "--help"], Repo.Root);
        if (help.ExitCode != 0) return $"pinpipe --help exited with {help.ExitCode}: {help.Excerpt()}";
        if (!help.Stdout.Split('\n').Any(l => l.TrimStart().StartsWith(command + " ", StringComparison.Ordinal) && l.StartsWith("  ", StringComparison.Ordinal)))
            return $"src/PinPipe.Cli has no `{command}` command yet (not listed by pinpipe --help)";
        return null;
    }

    /// <summary>One run of <c>pinpipe batch --full</c> (the full rebuild, whose cost grows with the history) on a fresh data folder whose bucket hard-links the cached raw objects.</summary>
    private static async Task<(Round? Result, string? Error)> RunPinPipeAsync(string dll, BatchDataSet data, string parser = "pinpipe")
    {
        using var dir = new BenchDirectory("batch");
        var bucket = Path.Combine(dir.Path, "buckets", new PipelineNames(BatchData.UserId).Bucket);
        Directory.CreateDirectory(bucket);
        var link = await ChildRun.RunAsync("cp", ["-al", data.TopicsDir, Path.Combine(bucket, "topics")], dir.Path);
        if (link.ExitCode != 0)
        {
            var copy = await ChildRun.RunAsync("cp", ["-a", data.TopicsDir, Path.Combine(bucket, "topics")], dir.Path);
            if (copy.ExitCode != 0) return (null, $"cannot place the raw objects in {bucket}: {copy.Excerpt()}");
        }
        var run = await ChildRun.RunAsync("dotnet", [dll, "batch", "--full", "--parser", parser, "--data-dir", dir.Path, "--user-id", BatchData.UserId], dir.Path);
        if (run.ExitCode != 0) return (null, $"pinpipe batch exited with {run.ExitCode}: {run.Excerpt()}");
        return (new Round(run.Wall.TotalSeconds, run.PeakRssBytes, Phases(run.Stdout + "\n" + run.Stderr)), null);
    }

    /// <summary>
    /// The phases a run of <c>pinpipe batch</c> logged, summed over its tables: read raw, clean (and duplicate check),
    /// Parquet write, Delta commit, then the nine insights and the job as the process saw it (the wall adds .NET's start).
    /// </summary>
    internal static Dictionary<string, double> Phases(string log)
    {
        static double Number(string text) => double.Parse(text.Replace(",", "", StringComparison.Ordinal), CultureInfo.InvariantCulture);
        var phases = new Dictionary<string, double> { ["read"] = 0, ["clean"] = 0, ["write"] = 0, ["commit"] = 0 };
        foreach (System.Text.RegularExpressions.Match m in System.Text.RegularExpressions.Regex.Matches(log,
                     @"phases: read raw ([\d.,]+) s, clean and duplicate check \([^)]*\) ([\d.,]+) s, Parquet write ([\d.,]+) s, Delta commit ([\d.,]+) s"))
        {
            phases["read"] += Number(m.Groups[1].Value);
            phases["clean"] += Number(m.Groups[2].Value);
            phases["write"] += Number(m.Groups[3].Value);
            phases["commit"] += Number(m.Groups[4].Value);
        }
        if (System.Text.RegularExpressions.Regex.Match(log, @"Nine insights over the whole tables in ([\d.,]+) s") is { Success: true } insights)
            phases["insights"] = Number(insights.Groups[1].Value);
        if (System.Text.RegularExpressions.Regex.Match(log, @"Batch run \S+ done in ([\d.,]+) s") is { Success: true } job)
            phases["job"] = Number(job.Groups[1].Value);
        return phases;
    }

    /// <summary>One run of the pandas port; its counts are checked against what the generator wrote.</summary>
    private static Task<(Round? Result, string? Error)> RunPandasAsync(BatchDataSet data, List<string> warnings)
    {
        var t = data.Totals;
        return RunPandasAsync(data.BucketDir, new TopicCounts(data.Parameters.Posts + t.Reposts + t.RejectsPerTopic, data.Parameters.Posts, t.Reposts, t.RejectsPerTopic), warnings);
    }

    /// <summary>
    /// One run of the pandas port on the bucket folder <paramref name="bucketDir"/>; its counts (every topic) are checked against
    /// <paramref name="expected"/>, a difference added to <paramref name="warnings"/>.
    /// </summary>
    internal static async Task<(Round? Result, string? Error)> RunPandasAsync(string bucketDir, TopicCounts expected, List<string> warnings)
    {
        using var dir = new BenchDirectory("batch-pandas");
        var run = await ChildRun.RunAsync(PandasPeer.Python,
            [PandasPeer.Script, "--bucket", bucketDir, "--user-id", BatchData.UserId, "--out", dir.File("out")], dir.Path);
        if (run.ExitCode != 0) return (null, $"pandas_batch.py exited with {run.ExitCode}: {run.Excerpt()}");
        var timings = JsonDocument.Parse(run.Stdout.Split('\n', StringSplitOptions.RemoveEmptyEntries)[^1]).RootElement;
        var phases = new Dictionary<string, double>
        {
            ["read"] = timings.GetProperty("read_s").GetDouble(),
            ["clean"] = timings.GetProperty("clean_s").GetDouble(),
            ["insights"] = timings.GetProperty("insights_s").GetDouble(),
        };

        var counts = JsonDocument.Parse(await File.ReadAllTextAsync(dir.File(Path.Combine("out", "counts.json")))).RootElement;
        foreach (var table in new[] { "pin", "geo", "user" })
        {
            if (TopicCounts.Of(counts.GetProperty(table)) is var actual && actual != expected)
                warnings.Add($"pandas counted {table}: {actual}; the generator wrote {expected}");
        }
        return (new Round(run.Wall.TotalSeconds, run.PeakRssBytes, phases), null);
    }
}

/// <summary>A topic's records as a batch run counts them: read = clean + duplicates + rejects.</summary>
internal sealed record TopicCounts(long Read, long Clean, long Duplicates, long Rejects)
{
    /// <summary>The counts of a <c>counts.json</c> or <c>summary.json</c> table entry (<c>read</c>, <c>clean</c>, <c>duplicates</c>, <c>rejects</c>).</summary>
    public static TopicCounts Of(JsonElement c) =>
        new(c.GetProperty("read").GetInt64(), c.GetProperty("clean").GetInt64(), c.GetProperty("duplicates").GetInt64(), c.GetProperty("rejects").GetInt64());

    public override string ToString() => string.Create(CultureInfo.InvariantCulture, $"read {Read}, clean {Clean}, duplicates {Duplicates}, rejects {Rejects}");
}
