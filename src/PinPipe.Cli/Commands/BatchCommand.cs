using System.CommandLine;
using PinPipe.Batch;
using PinPipe.Hosting;
using PinPipe.Lake;
using PinPipe.Scheduling;
using PinPipe.Transform;
using Spectre.Console;

namespace PinPipe.Cli.Commands;

/// <summary>
/// <c>pinpipe batch</c>: one run of the batch job (clean the raw objects, write the Delta tables, answer the nine
/// questions, write the report), recorded in the run history like a scheduled run and never overlapping one.
/// </summary>
internal static class BatchCommand
{
    public static Command Create(GlobalOptions global)
    {
        var command = new Command("batch", "Run the batch job once: clean the raw objects landed since the last run into the Delta tables (--full: all of them), answer the nine questions over the whole tables, write CSV, JSON and an HTML report.");
        var flags = new ConfigFlags();
        AddBatchFlags(command, flags);
        flags.Add<bool>(command, "--full", "Batch:Full", "Rebuild every table from all raw objects (a new version by overwrite, which may change the tables' columns), e.g. after the cleaning rules changed; default: incremental, only the raw objects landed since the last run.");
        flags.Add<string>(command, "--chunk-size", "Batch:ChunkSize", "Raw JSON a run (incremental or --full) reads and cleans at a time, e.g. 400MB (default: a sixth of Batch:MemoryLimit).");
        flags.AddChoice<RecordParser>(command, "--parser", "Batch:Parser",
            "Who reads the raw JSON: pinpipe (default: our parser, an object per core, for flat objects; DuckDB's JSON functions for the rest) or duckdb (DuckDB's for every line). Same rules, same results.");
        ScheduleCommand.AddHistoryFlag(command, flags);
        var rows = WholeNumberOption.Create("--rows", "Rows of each insight to print (the files hold them all).", 20, 0, "zero or more");
        command.Options.Add(rows);
        command.SetAction((parse, ct) => CliRunner.RunAsync(parse, global, flags,
            (ctx, token) => RunRecordedAsync(ctx, parse.GetValue(rows), token), ct));
        return command;
    }

    /// <summary>
    /// Takes the batch lock (so no scheduled run overlaps), records the run in the history as a manual run, runs the
    /// job and prints its answers. Exit code: 0, or 1 when the lock is held or the run failed.
    /// </summary>
    public static async Task<int> RunRecordedAsync(CliContext ctx, int rows, CancellationToken token)
    {
        var created = NewFolders.Before(ctx.Settings);
        string lockPath = BatchRunLock.PathFor(ctx.Settings.Schedule.HistoryPath);
        using var gate = BatchRunLock.TryAcquire(lockPath);
        if (gate is null)
        {
            await ctx.Error.WriteLineAsync($"error: another batch run is in progress (lock {lockPath} is held); try again when it ends.").ConfigureAwait(false);
            return ExitCodes.Failed;
        }
        var now = DateTimeOffset.UtcNow;
        var run = new ScheduledRun(ScheduledRun.IdFor(now, manual: true), now, 1);
        using var history = RunHistory.Open(ctx.Settings.Schedule.HistoryPath);
        long id = history.Start(run, now);
        try
        {
            await RunAndPrintAsync(ctx, run.RunId, rows, token).ConfigureAwait(false);
            history.Finish(id, RunOutcome.Succeeded, DateTimeOffset.UtcNow, null);
            return ExitCodes.Ok;
        }
        catch (OperationCanceledException) when (token.IsCancellationRequested)
        {
            history.Finish(id, RunOutcome.Cancelled, DateTimeOffset.UtcNow, "cancelled");
            created.RemoveAfterFailure(); // under the batch lock: no other run is making its folders
            throw;
        }
        catch (Exception ex)
        {
            history.Finish(id, RunOutcome.Failed, DateTimeOffset.UtcNow, ex.Message);
            created.RemoveAfterFailure();
            throw;
        }
    }

    /// <summary>Runs the batch job and prints the nine answers, the counts and where the outputs are.</summary>
    public static async Task<BatchLaneResult> RunAndPrintAsync(CliContext ctx, string? runId, int rows, CancellationToken token)
    {
        var lane = PipelineJobs.Batch(ctx.Settings, ctx.LoggerFactory);
        var result = await lane.RunAsync(runId, token).ConfigureAwait(false);
        var run = result.Run;
        var console = AnsiConsole.Create(new AnsiConsoleSettings { Out = new AnsiConsoleOutput(ctx.Out) });
        if (Console.IsOutputRedirected) console.Profile.Width = 200;
        InsightTables.Write(console, result.Insights, rows);
#pragma warning disable CA1849 // console output of a command line tool: short synchronous writes to the terminal
        ctx.Out.WriteLine();
        string mode = run.Full ? "full rebuild" : run.NothingNew ? "incremental, nothing new since the last run: nothing committed" : "incremental";
        ctx.Out.WriteLine($"Batch run {run.RunId} ({mode}): {run.Bytes / 1e6:N1} MB of raw JSON in {run.Duration.TotalSeconds:N1} s ({run.MegabytesPerSecond:N1} MB/s).");
        foreach (var t in run.Tables)
            ctx.Out.WriteLine($"  {t.Table,-5} read {t.Clean.Read,10:N0} = clean {t.Clean.Clean,10:N0} + duplicates {t.Clean.Duplicates,9:N0} + rejects {t.Clean.Rejects,6:N0}   table {t.Rows,10:N0} rows, Delta version {t.Version}{(t.Committed ? "" : " (unchanged)")} (rejects {t.RejectsVersion})");
        ctx.Out.WriteLine($"Delta tables: {ctx.Settings.Batch.TablesPrefix}/<pin|geo|user>[_rejects] in the bucket.");
        ctx.Out.WriteLine($"Insights (CSV, JSON): {Path.GetDirectoryName(result.InsightFiles[0])}");
        ctx.Out.WriteLine($"Report: {result.ReportPath}");
#pragma warning restore CA1849
        return result;
    }

    public static void AddBatchFlags(Command command, ConfigFlags flags, bool withObjectStore = true)
    {
        if (withObjectStore)
        {
            flags.AddChoice<ObjectStoreKind>(command, "--object-store", "ObjectStore:Kind", "directory (default) or s3.");
            flags.Add<string>(command, "--bucket", "ObjectStore:Bucket", "Bucket name (default user-<UserId>-bucket).");
            flags.Add<string>(command, "--s3-endpoint", "ObjectStore:ServiceUrl", "S3-compatible endpoint URL (default: AWS).");
        }
        flags.Add<string>(command, "--tables-prefix", "Batch:TablesPrefix", "Key prefix of the Delta tables in the bucket (default delta).");
        flags.Add<string>(command, "--output-dir", "Batch:OutputDir", "Folder for each run's insights and report; relative to the data folder (default runs).");
        flags.Add<int>(command, "--threads", "Batch:Threads", "DuckDB threads; 0 = one per core (default).");
        flags.Add<string>(command, "--memory-limit", "Batch:MemoryLimit", "DuckDB memory limit, beyond which it spills to disk (default 1250MB).");
    }
}

/// <summary>
/// The folders a batch run creates when missing (the data folder, the bucket's, the output folder and the run's own
/// folder in it, the history's), noted before the run. When the run fails, those it created are removed again while
/// they hold nothing but empty folders: a failed <c>pinpipe batch</c> leaves no empty folders behind (the run history,
/// which records the failed run for <c>pinpipe runs</c>, stays). Folders that existed before are never touched.
/// </summary>
internal sealed class NewFolders
{
    private readonly List<string> _missing;
    private readonly string _outputDir;
    private readonly HashSet<string> _runFoldersBefore;

    private NewFolders(List<string> missing, string outputDir, HashSet<string> runFoldersBefore) =>
        (_missing, _outputDir, _runFoldersBefore) = (missing, outputDir, runFoldersBefore);

    public static NewFolders Before(PinPipeSettings settings)
    {
        var folders = new List<string> { settings.DataDir, settings.Batch.OutputDir, Path.GetDirectoryName(Path.GetFullPath(settings.Schedule.HistoryPath))! };
        if (settings.ObjectStore.Kind == ObjectStoreKind.Directory)
            folders.Add(Path.Combine(settings.ObjectStore.Root, settings.ObjectStore.Bucket ?? settings.Names.Bucket));
        var missing = new HashSet<string>(StringComparer.Ordinal);
        foreach (var folder in folders)
        {
            // The folder and each missing parent: creating it creates them.
            for (var f = Path.TrimEndingDirectorySeparator(Path.GetFullPath(folder)); !string.IsNullOrEmpty(f) && !Directory.Exists(f); f = Path.GetDirectoryName(f))
                missing.Add(f);
        }
        string outputDir = Path.GetFullPath(settings.Batch.OutputDir);
        var runFolders = Directory.Exists(outputDir) ? Directory.GetDirectories(outputDir).ToHashSet(StringComparer.Ordinal) : [];
        // Deepest first, so that a parent is empty when its turn comes.
        return new NewFolders([.. missing.OrderByDescending(f => f.Length)], outputDir, runFolders);
    }

    public void RemoveAfterFailure()
    {
        try
        {
            // The run's own folder (<output>/<run id>) in an output folder that existed before.
            if (Directory.Exists(_outputDir))
            {
                foreach (var folder in Directory.GetDirectories(_outputDir).Where(f => !_runFoldersBefore.Contains(f))) RemoveIfEmpty(folder);
            }
            foreach (var folder in _missing.Where(Directory.Exists)) RemoveIfEmpty(folder);
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
        {
            // Tidying only: the run's own error is what the user needs to see.
        }
    }

    /// <summary>Removes <paramref name="folder"/> when it holds nothing but (recursively) empty folders.</summary>
    private static bool RemoveIfEmpty(string folder)
    {
        bool empty = Directory.GetDirectories(folder).Aggregate(true, (all, sub) => RemoveIfEmpty(sub) && all)
                     && !Directory.EnumerateFileSystemEntries(folder).Any();
        if (empty) Directory.Delete(folder);
        return empty;
    }
}
