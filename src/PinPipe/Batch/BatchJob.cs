using System.Globalization;
using DuckDB.NET.Data;
using Microsoft.Extensions.Logging;
using PinPipe.Configuration;
using PinPipe.DuckDb;
using PinPipe.Errors;
using PinPipe.Files;
using PinPipe.Lake;
using PinPipe.Lake.Delta;
using PinPipe.Transform;

namespace PinPipe.Batch;

/// <summary>One clean table's figures in a batch run.</summary>
/// <param name="Table">pin, geo or user.</param>
/// <param name="Topic">The topic its raw objects came from.</param>
/// <param name="Objects">Raw objects read.</param>
/// <param name="Bytes">Raw JSON bytes read.</param>
/// <param name="Clean">The cleaning's counts (read = clean + duplicates + rejects).</param>
/// <param name="Version">Delta version written for the clean table.</param>
/// <param name="RejectsVersion">Delta version written for the reject table.</param>
public sealed record BatchTableResult(string Table, string Topic, int Objects, long Bytes, CleanResult Clean, long Version, long RejectsVersion);

/// <summary>What a batch run did and where its outputs go.</summary>
/// <param name="RunId">The run's id.</param>
/// <param name="StartedAt">When the run started.</param>
/// <param name="Duration">How long it took, from its start to its last Delta commit.</param>
/// <param name="Tables">Each clean table's figures and Delta versions.</param>
/// <param name="OutputDirectory">The run's folder (<c>&lt;OutputDir&gt;/&lt;run id&gt;</c>), created, for the run's outputs.</param>
/// <param name="Bucket">The bucket the raw objects were read from and the Delta tables written to (its location).</param>
public sealed record BatchRunResult(
    string RunId, DateTimeOffset StartedAt, TimeSpan Duration, IReadOnlyList<BatchTableResult> Tables, string OutputDirectory, string Bucket)
{
    /// <summary>Raw JSON bytes read, all tables.</summary>
    public long Bytes => Tables.Sum(t => t.Bytes);

    /// <summary>Raw JSON megabytes (10⁶ bytes) per second of the whole run.</summary>
    public double MegabytesPerSecond => Duration.TotalSeconds > 0 ? Bytes / 1e6 / Duration.TotalSeconds : 0;
}

/// <summary>
/// The batch lane's job (<c>pinpipe batch</c>), the original Databricks notebook's work: read the raw objects
/// of the three topics from the bucket, clean them with the one definition of <see cref="CleaningRules"/>, write
/// the clean and reject tables as Delta tables (a new version per run). A step given to <see cref="RunAsync"/> runs on
/// the cleaned tables before the commits (the composition computes the nine insights there, and writes them with the
/// report and the summary into the run's folder afterwards).
/// </summary>
/// <remarks>
/// The job is deterministic: the same raw objects give the same clean rows (first seen by partition and offset),
/// the same Delta table contents. The Delta commits happen after every table is cleaned and the step before them
/// has run, so a run that fails before then (the step failing too) commits nothing; one that fails among the commits leaves
/// some tables at the new version and the others at the old one, and the next run overwrites them all. The Delta tables live in the
/// bucket under <see cref="BatchOptions.TablesPrefix"/> (<c>delta/pin</c>, <c>delta/pin_rejects</c>, ...), so
/// Spark, DuckDB or delta-rs can read them where the bucket is. Each run has its folder
/// <c>&lt;OutputDir&gt;/&lt;run id&gt;/</c> for its outputs (its DuckDB work files go in <c>.work/</c> there while it runs). The job does not take the batch lock: the caller does
/// (<c>pinpipe batch</c>, or the scheduler around each attempt).
/// </remarks>
/// <param name="options">The job's settings (configuration section <c>Batch</c>), resolved: <see cref="BatchOptions.OutputDir"/> is the folder each run's folder goes in.</param>
/// <param name="names">The names of SPEC §1: the topics whose raw objects it reads and the default bucket.</param>
/// <param name="objectStore">The bucket the raw objects are in and the Delta tables go to.</param>
/// <param name="topicsDir">The key prefix under which the sink writes each topic's raw objects (<c>Sink:TopicsDir</c>).</param>
/// <param name="loggerFactory">Progress goes to category <c>pinpipe.batch</c>.</param>
/// <param name="time">Clock for the run id and durations.</param>
public sealed class BatchJob(BatchOptions options, PipelineNames names, ObjectStoreOptions objectStore, string topicsDir, ILoggerFactory loggerFactory, TimeProvider? time = null)
{
    private static readonly RecordKind[] Kinds = [RecordKind.Pin, RecordKind.Geo, RecordKind.User];
    private readonly ILogger _logger = loggerFactory.CreateLogger("pinpipe.batch");
    private readonly TimeProvider _time = time ?? TimeProvider.System;

    /// <summary>A new run id: the UTC start time and a short random suffix (<c>20261125T143000Z-3f9a</c>).</summary>
    public static string NewRunId(DateTimeOffset startedAt) =>
        $"{startedAt.UtcDateTime.ToString("yyyyMMdd'T'HHmmss'Z'", CultureInfo.InvariantCulture)}-{Guid.NewGuid().ToString("N")[..4]}";

    /// <summary>The Delta table of a clean table (<c>delta/pin</c>) or of its rejects (<c>delta/pin_rejects</c>), as a key prefix in the bucket.</summary>
    public static string TablePrefix(BatchOptions options, RecordKind kind, bool rejects = false) =>
        $"{options.TablesPrefix}/{CleaningRules.TableName(kind)}{(rejects ? "_rejects" : "")}";

    /// <summary>Runs the job once.</summary>
    /// <param name="runId">The run's id (a folder name is made of it); null = <see cref="NewRunId"/>.</param>
    /// <param name="beforeCommit">Runs once every table is cleaned and before the Delta commits, on the DuckDB connection
    /// where <c>clean_pin</c>, <c>clean_geo</c> and <c>clean_user</c> (and their <c>rejects_</c> tables) can be read; when it
    /// throws, the run fails with its exception and commits nothing. Null = none.</param>
    /// <param name="cancellationToken">Stops the run; a Delta table is never left half-written (a commit is one put).</param>
    /// <exception cref="BatchException">No raw objects at all (<c>batch.no_raw_objects</c>) or DuckDB refused the settings.</exception>
    /// <exception cref="InvalidOperationException">A step failed (the message names it).</exception>
    public async Task<BatchRunResult> RunAsync(string? runId = null, Func<DuckDBConnection, CancellationToken, Task>? beforeCommit = null, CancellationToken cancellationToken = default)
    {
        var startedAt = _time.GetUtcNow();
        long start = _time.GetTimestamp();
        runId ??= NewRunId(startedAt);
        string folder = Path.Combine(options.OutputDir, SafeFolderName(runId));
        string work = Path.Combine(folder, ".work");
        // The bucket is checked once before any work: a missing one stops the run here, naming it.
        var store = await ObjectStoreFactory.OpenAsync(objectStore, names.Bucket, _logger, cancellationToken).ConfigureAwait(false);
        OwnerOnly.CreateDirectory(work);
        try
        {
            _logger.LogInformation("Batch run {RunId}: reading {Topics} from {Bucket}.", runId, string.Join(", ", names.Topics), store.Location);
            using var connection = OpenDuckDb(work);

            // 1. Read and clean each table, then spill its clean and reject rows to Parquet (the files the Delta
            //    commits publish) and let the step before the commits read them from there: DuckDB's memory holds one table's
            //    records at a time, not all three.
            await RequireRawObjectsAsync(store, cancellationToken).ConfigureAwait(false);
            var loaded = new List<(RecordKind Kind, string Topic, RawLoadResult Raw, CleanResult Clean, string CleanFile, string RejectsFile)>();
            foreach (var (kind, topic) in Kinds.Zip(names.Topics))
            {
                long t0 = _time.GetTimestamp();
                string rawTable = "raw_" + CleaningRules.TableName(kind);
                var raw = await RawLoader.LoadTopicAsync(connection, store, topic, rawTable, topicsDir, cancellationToken).ConfigureAwait(false);
                if (raw.Objects == 0) _logger.LogWarning("No raw objects for {Topic}: its table is empty this run.", topic);
                var clean = await Cleaner.CleanAsync(connection, kind, rawTable, null, cancellationToken).ConfigureAwait(false);
                connection.Execute($"DROP TABLE {rawTable}", cancellationToken);
                string cleanFile = await SpillAsync(connection, CleaningRules.CleanTable(kind), work, cancellationToken).ConfigureAwait(false);
                string rejectsFile = await SpillAsync(connection, CleaningRules.RejectTable(kind), work, cancellationToken).ConfigureAwait(false);
                var took = _time.GetElapsedTime(t0);
                _logger.LogInformation("{Table}: {Records:N0} records in {Objects:N0} objects ({MB:N1} MB, {Rate:N1} MB/s) → {Clean:N0} clean, {Duplicates:N0} duplicates, {Rejects:N0} rejects.",
                    topic, raw.Records, raw.Objects, raw.Bytes / 1e6, raw.Bytes / 1e6 / Math.Max(took.TotalSeconds, 1e-3), clean.Clean, clean.Duplicates, clean.Rejects);
                loaded.Add((kind, topic, raw, clean, cleanFile, rejectsFile));
            }

            // 2. The caller's step on the clean tables (the insights): its failure fails the run before any commit.
            if (beforeCommit is not null) await beforeCommit(connection, cancellationToken).ConfigureAwait(false);

            // 3. The clean and reject tables as Delta tables: a new version per run (overwrite), committed only
            //    once every table is cleaned and the step before them has run.
            long phase = _time.GetTimestamp();
            var tables = new List<BatchTableResult>();
            foreach (var (kind, topic, raw, clean, cleanFile, rejectsFile) in loaded)
            {
                long version = await CommitAsync(store, kind, rejects: false, cleanFile, runId, cancellationToken).ConfigureAwait(false);
                long rejectsVersion = await CommitAsync(store, kind, rejects: true, rejectsFile, runId, cancellationToken).ConfigureAwait(false);
                tables.Add(new BatchTableResult(CleaningRules.TableName(kind), topic, raw.Objects, raw.Bytes, clean, version, rejectsVersion));
            }
            _logger.LogInformation("Delta tables committed in {Seconds:N1} s.", _time.GetElapsedTime(phase).TotalSeconds);

            return new BatchRunResult(runId, startedAt, _time.GetElapsedTime(start), tables, folder, store.Location);
        }
        finally
        {
            TryDeleteDirectory(work);
            (store as IDisposable)?.Dispose();
        }
    }

    private DuckDBConnection OpenDuckDb(string work)
    {
        try
        {
            return DuckDbSession.Open(new DuckDbSettings
            {
                MemoryLimit = options.MemoryLimit,
                TempDirectory = Path.Combine(work, "spill"),
                Threads = options.Threads,
            });
        }
        catch (DuckDBException ex)
        {
            throw new BatchException("batch.settings_rejected", ErrorKind.BadInput, $"DuckDB rejected the batch settings (Batch:MemoryLimit '{options.MemoryLimit}', Batch:Threads {options.Threads}): {ex.Message}", ex);
        }
    }

    private async Task RequireRawObjectsAsync(IObjectStore store, CancellationToken cancellationToken)
    {
        foreach (string topic in names.Topics)
        {
            await foreach (var _ in store.ListAsync($"{topicsDir}/{topic}/", cancellationToken).ConfigureAwait(false))
                return;
        }
        throw new BatchException("batch.no_raw_objects", ErrorKind.Failed,
            $"No raw objects under {topicsDir}/<topic>/ in {store.Location} for {string.Join(", ", names.Topics)}: run the sink (pinpipe sink or pinpipe up) first, or check UserId and ObjectStore settings.");
    }

    /// <summary>Writes a DuckDB table to a Parquet file (<see cref="DuckDbSession.CopyToParquet"/>) and replaces the table by a view over the file.</summary>
    private static async Task<string> SpillAsync(DuckDBConnection connection, string table, string work, CancellationToken cancellationToken)
    {
        string file = Path.Combine(work, table + ".parquet");
        cancellationToken.ThrowIfCancellationRequested();
        await Task.Run(() =>
        {
            connection.CopyToParquet(table, file);
            connection.Execute($"DROP TABLE {table}");
            connection.Execute($"CREATE VIEW {table} AS SELECT * FROM read_parquet({Sql.Literal(file)})");
        }, cancellationToken).ConfigureAwait(false);
        return file;
    }

    private async Task<long> CommitAsync(IObjectStore store, RecordKind kind, bool rejects, string file, string runId, CancellationToken cancellationToken)
    {
        var table = new DeltaTable(store, TablePrefix(options, kind, rejects), loggerFactory.CreateLogger<DeltaTable>(), _time);
        var commit = await table.CommitAsync(new DeltaWrite(CleanSchemas.ToDelta(rejects ? CleaningRules.RejectSchema : CleaningRules.Schema(kind)), [file])
        {
            Mode = DeltaWriteMode.Overwrite,
            Operation = "WRITE",
            OperationParameters = new Dictionary<string, string> { ["mode"] = "Overwrite", ["pinpipe.runId"] = runId },
        }, cancellationToken).ConfigureAwait(false);
        return commit.Version;
    }

    private static string SafeFolderName(string runId)
    {
        var chars = runId.Select(c => char.IsAsciiLetterOrDigit(c) || c is '-' or '_' or '.' ? c : '-').ToArray();
        string name = new string(chars).Trim('.');
        return name.Length == 0 ? "run" : name;
    }

    private static void TryDeleteDirectory(string path)
    {
        try { if (Directory.Exists(path)) Directory.Delete(path, recursive: true); }
        catch (IOException) { }
        catch (UnauthorizedAccessException) { }
    }
}
