using System.Globalization;
using DuckDB.NET.Data;
using Microsoft.Extensions.Logging;
using PinPipe.Configuration;
using PinPipe.DuckDb;
using PinPipe.Errors;
using PinPipe.Files;
using PinPipe.Lake;
using PinPipe.Lake.Delta;
using PinPipe.Sink;
using PinPipe.Transform;

namespace PinPipe.Batch;

/// <summary>One clean table's figures in a batch run.</summary>
/// <param name="Table">pin, geo or user.</param>
/// <param name="Topic">The topic its raw objects came from.</param>
/// <param name="Objects">Raw objects read (an incremental run reads only those holding offsets it has not read yet).</param>
/// <param name="Bytes">Raw JSON bytes read.</param>
/// <param name="Clean">The cleaning's counts of this run's new records (read = clean + duplicates + rejects).</param>
/// <param name="Version">The clean table's Delta version after the run (-1: no table); a new one only when <see cref="Committed"/>.</param>
/// <param name="RejectsVersion">The reject table's Delta version after the run (-1: no table).</param>
public sealed record BatchTableResult(string Table, string Topic, int Objects, long Bytes, CleanResult Clean, long Version, long RejectsVersion)
{
    /// <summary>The run committed a new version of the clean table (rows, or only offsets that advanced).</summary>
    public bool Committed { get; init; }

    /// <summary>The run committed a new version of the reject table.</summary>
    public bool RejectsCommitted { get; init; }

    /// <summary>Rows in the clean table after the run (every run's).</summary>
    public long Rows { get; init; }

    /// <summary>Rows in the reject table after the run.</summary>
    public long RejectRows { get; init; }
}

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
    /// <summary>The run rebuilt every table from all raw objects (<c>--full</c>); otherwise it was incremental.</summary>
    public bool Full { get; init; }

    /// <summary>The identity of the cleaning rules the run wrote with (<see cref="BatchRules.Hash"/>).</summary>
    public string Rules { get; init; } = BatchRules.Hash;

    /// <summary>An incremental run that found nothing new: it committed nothing.</summary>
    public bool NothingNew => !Full && Tables.All(t => !t.Committed && !t.RejectsCommitted);

    /// <summary>Raw JSON bytes read, all tables.</summary>
    public long Bytes => Tables.Sum(t => t.Bytes);

    /// <summary>Raw JSON megabytes (10⁶ bytes) per second of the whole run.</summary>
    public double MegabytesPerSecond => Duration.TotalSeconds > 0 ? Bytes / 1e6 / Duration.TotalSeconds : 0;
}

/// <summary>A step the batch job runs after its commits, on views <c>clean_pin</c>, <c>clean_geo</c> and <c>clean_user</c> over the clean Delta tables.</summary>
/// <param name="Run">The step; the run fails with its exception (the commits stand).</param>
public sealed record BatchTablesStep(Func<DuckDBConnection, CancellationToken, Task> Run)
{
    /// <summary>The columns each view needs, by view name (<c>clean_pin</c>): only those are read (a columnar scan). A view not listed has every column.</summary>
    public IReadOnlyDictionary<string, IReadOnlyList<string>>? Columns { get; init; }

    /// <summary>
    /// Runs before <see cref="Run"/>, on the same connection, with each clean table's live files by view name
    /// (<c>clean_pin</c>): for a step that reads only some of them (those it has not seen in an earlier run). Null = none.
    /// </summary>
    public Func<DuckDBConnection, IReadOnlyDictionary<string, BatchTableFiles>, CancellationToken, Task>? RunOnFiles { get; init; }
}

/// <summary>A clean Delta table's live data files as its latest version lists them, and a scan of any of them.</summary>
/// <param name="Location">The table's location (<c>file:///…/delta/pin</c>).</param>
/// <param name="Files">The live files' paths in the table (relative to it, as in the Delta log), ordinal order; empty when there is no table yet.</param>
/// <param name="Scan">A parenthesized SQL table expression over the given files (some of <paramref name="Files"/>, at least one) of only the
/// step's columns (<see cref="BatchTablesStep.Columns"/>), valid on the step's connection until the step returns.</param>
public sealed record BatchTableFiles(string Location, IReadOnlyList<string> Files, Func<IReadOnlyList<string>, CancellationToken, Task<string>> Scan);

/// <summary>
/// The batch lane's job (<c>pinpipe batch</c>), the original Databricks notebook's work made incremental: read the raw
/// objects of the three topics landed since the tables' last commits, clean them with the one definition of
/// <see cref="CleaningRules"/> (an <c>ind</c> already in the table counts as a duplicate), append the clean rows and the
/// rejects to the Delta tables with each partition's next offset as a <c>txn</c> in the same commit. With
/// <see cref="BatchOptions.Full"/> it rebuilds every table from all raw objects instead, a chunk at a time, in one overwrite
/// commit per table (see BatchJob.Rebuild.cs). A step given to
/// <see cref="RunAsync"/> runs after the commits on the whole clean tables (the composition computes the nine insights
/// there, and writes them with the report and the summary into the run's folder afterwards).
/// </summary>
/// <remarks>
/// <para>Each table (each clean table and each reject table) keeps, per topic partition, the next offset to read as a
/// Delta <c>txn</c> (<see cref="BatchCheckpoint"/>) committed with its rows, so tables are independent: a run that fails
/// or is killed at any moment leaves every table at its last commit, and the next run reads from there. A raw object
/// (<c>&lt;topic&gt;+&lt;p&gt;+&lt;first offset&gt;.json</c>) holds the contiguous offsets from the one in its key, one record a line;
/// a run reads the objects at or past a partition's next offset, and the last one before it (which may straddle it, e.g.
/// an object the sink wrote again, longer, after a crash): of that one only the records at or after the offset count.
/// A partition whose offsets advanced but gave no row still gets its txn (a commit of offsets only).</para>
/// <para>The cleaning rules' identity (<see cref="BatchRules.Hash"/>) is recorded in each commit; an incremental run
/// refuses a table whose newest batch commit records other rules, or none (<c>--full</c> rebuilds it).</para>
/// <para>The Delta tables live in the bucket under <see cref="BatchOptions.TablesPrefix"/> (<c>delta/pin</c>,
/// <c>delta/pin_rejects</c>, ...), so Spark, DuckDB or delta-rs can read them where the bucket is. Each run has its folder
/// <c>&lt;OutputDir&gt;/&lt;run id&gt;/</c> for its outputs (its DuckDB work files go in <c>.work/</c> there while it runs; a
/// run removes the work folders killed runs left). The job does not take the batch lock: the caller does (<c>pinpipe
/// batch</c>, or the scheduler around each attempt).</para>
/// </remarks>
/// <param name="options">The job's settings (configuration section <c>Batch</c>), resolved: <see cref="BatchOptions.OutputDir"/> is the folder each run's folder goes in.</param>
/// <param name="names">The names of SPEC §1: the topics whose raw objects it reads and the default bucket.</param>
/// <param name="objectStore">The bucket the raw objects are in and the Delta tables go to.</param>
/// <param name="topicsDir">The key prefix under which the sink writes each topic's raw objects (<c>Sink:TopicsDir</c>).</param>
/// <param name="loggerFactory">Progress goes to category <c>pinpipe.batch</c>.</param>
/// <param name="time">Clock for the run id and durations.</param>
public sealed partial class BatchJob(BatchOptions options, PipelineNames names, ObjectStoreOptions objectStore, string topicsDir, ILoggerFactory loggerFactory, TimeProvider? time = null)
{
    /// <summary>The commitInfo operation parameter naming the run that made a batch commit (the id of its <c>runs/&lt;id&gt;/</c> folder).</summary>
    internal const string RunIdParameter = "pinpipe.runId";

    /// <summary>The commit parameter that says whether a batch run was a full rebuild (<see cref="FullMode"/>) or incremental.</summary>
    internal const string ModeParameter = "pinpipe.batch";

    /// <summary>The value of <see cref="ModeParameter"/> for a full rebuild.</summary>
    internal const string FullMode = "full";

    private static readonly RecordKind[] Kinds = [RecordKind.Pin, RecordKind.Geo, RecordKind.User];
    private const string MarksTable = "temp.main._pinpipe_batch_marks";
    private const string OriginPartition = "CAST(string_split(origin, '/')[-2] AS INTEGER)";
    private const string OriginOffset = "CAST(string_split(origin, '/')[-1] AS BIGINT)";
    private readonly ILogger _logger = loggerFactory.CreateLogger("pinpipe.batch");
    private readonly TimeProvider _time = time ?? TimeProvider.System;

    /// <summary>The folder each run's folder goes in (<see cref="BatchOptions.OutputDir"/>).</summary>
    public string OutputDir => options.OutputDir;

    /// <summary>A new run id: the UTC start time and a short random suffix (<c>20261125T143000Z-3f9a</c>).</summary>
    public static string NewRunId(DateTimeOffset startedAt) =>
        $"{startedAt.UtcDateTime.ToString("yyyyMMdd'T'HHmmss'Z'", CultureInfo.InvariantCulture)}-{Guid.NewGuid().ToString("N")[..4]}";

    /// <summary>The Delta table of a clean table (<c>delta/pin</c>) or of its rejects (<c>delta/pin_rejects</c>), as a key prefix in the bucket.</summary>
    public static string TablePrefix(BatchOptions options, RecordKind kind, bool rejects = false) =>
        $"{options.TablesPrefix}/{CleaningRules.TableName(kind)}{(rejects ? "_rejects" : "")}";

    /// <summary>One topic's tables and raw objects, as the run found them before reading any.</summary>
    private sealed record TopicPlan(RecordKind Kind, string Topic, string? TopicId, IReadOnlyList<RawLoader.RawObject> Objects,
        DeltaTable CleanTable, DeltaSnapshot? Clean, DeltaTable RejectsTable, DeltaSnapshot? Rejects)
    {
        /// <summary>Each raw object's size in bytes as listed, by key.</summary>
        public IReadOnlyDictionary<string, long> Sizes { get; init; } = new Dictionary<string, long>();
    }

    /// <summary>Runs the job once.</summary>
    /// <param name="runId">The run's id (a folder name is made of it); null = <see cref="NewRunId"/>.</param>
    /// <param name="afterCommit">Runs once every table is committed, on the DuckDB connection where the views <c>clean_pin</c>,
    /// <c>clean_geo</c> and <c>clean_user</c> read the clean Delta tables (every row of every run); when it throws, the run
    /// fails with its exception (the commits stand). Null = none.</param>
    /// <param name="cancellationToken">Stops the run; a Delta table is never left half-written (a commit is one put).</param>
    /// <exception cref="BatchException">No raw objects and no tables (<c>batch.no_raw_objects</c>), a table written under other
    /// cleaning rules or none recorded (<c>batch.rules_changed</c>, <c>batch.rules_unknown</c>: run with --full), or DuckDB refused the settings.</exception>
    /// <exception cref="InvalidOperationException">A step failed (the message names it).</exception>
    public async Task<BatchRunResult> RunAsync(string? runId = null, BatchTablesStep? afterCommit = null, CancellationToken cancellationToken = default)
    {
        long start = _time.GetTimestamp();
        try
        {
            var result = await RunCoreAsync(runId, afterCommit, cancellationToken).ConfigureAwait(false);
            BatchMetrics.Succeeded(result, _time.GetUtcNow());
            return result;
        }
        catch (Exception) when (!cancellationToken.IsCancellationRequested)
        {
            BatchMetrics.Failed(_time.GetElapsedTime(start), _time.GetUtcNow());
            throw;
        }
    }

    private async Task<BatchRunResult> RunCoreAsync(string? runId, BatchTablesStep? afterCommit, CancellationToken cancellationToken)
    {
        var startedAt = _time.GetUtcNow();
        long start = _time.GetTimestamp();
        runId ??= NewRunId(startedAt);
        string folder = Path.Combine(options.OutputDir, SafeFolderName(runId));
        string work = Path.Combine(folder, ".work");
        // The bucket is checked once before any work: a missing one stops the run here, naming it.
        var store = await ObjectStoreFactory.OpenAsync(objectStore, names.Bucket, _logger, cancellationToken).ConfigureAwait(false);
        RemoveWorkOfKilledRuns(folder);
        OwnerOnly.CreateDirectory(work);
        try
        {
            bool full = options.Full;
            _logger.LogInformation("Batch run {RunId} ({Mode}): reading {Topics} from {Bucket}.", runId, full ? "full rebuild" : "incremental", string.Join(", ", names.Topics), store.Location);

            // 1. Every table's state and every topic's objects, and the rules check, before reading any record: a refusal writes nothing.
            var plans = new List<TopicPlan>();
            foreach (var (kind, topic) in Kinds.Zip(names.Topics))
                plans.Add(await PlanAsync(store, kind, topic, full, cancellationToken).ConfigureAwait(false));
            if (plans.All(p => p.Objects.Count == 0) && (full || plans.All(p => p.Clean is null && p.Rejects is null)))
                throw new BatchException("batch.no_raw_objects", ErrorKind.Failed,
                    $"No raw objects under {topicsDir}/<topic>/ in {store.Location} for {string.Join(", ", names.Topics)}{(full ? " (a full rebuild would leave every table empty)" : "")}: run the sink (pinpipe sink or pinpipe up) first, or check UserId and ObjectStore settings.");

            // 2. Per topic: read the new records, clean them against the clean table, commit the clean rows and the rejects, each with its offsets.
            using var connection = OpenDuckDb(work);
            var tables = new List<BatchTableResult>();
            foreach (var plan in plans)
            {
                try
                {
                    tables.Add(full
                        ? await RebuildTopicAsync(connection, store, plan, runId, work, cancellationToken).ConfigureAwait(false)
                        : await RunTopicAsync(connection, store, plan, runId, work, cancellationToken).ConfigureAwait(false));
                }
                catch (DuckDBException ex) when (DuckDbSession.IsOutOfMemory(ex))
                {
                    // Both kinds of run read a topic a chunk at a time (Batch:ChunkSize); a chunk too large for the limit stops the run here.
                    throw new BatchException("batch.out_of_memory", ErrorKind.Failed,
                        $"{plan.Topic}: a chunk of the {(full ? "full rebuild" : "incremental run")} (Batch:ChunkSize, {options.ChunkBytes / 1e6:N0} MB of raw JSON at a time) does not fit in Batch:MemoryLimit '{options.MemoryLimit}'; " +
                        $"nothing {(full ? "" : "more ")}was committed for it ({(full ? "its tables keep their previous version" : "its tables keep their last commits")}). Raise Batch:MemoryLimit (PINPIPE_Batch__MemoryLimit; about 6 × the chunk), lower Batch:ChunkSize, or lower Batch:Threads. DuckDB said: {ex.Message.Split('\n')[0]}", ex);
                }
            }
            var run = new BatchRunResult(runId, startedAt, _time.GetElapsedTime(start), tables, folder, store.Location) { Full = full };
            if (run.NothingNew) _logger.LogInformation("Nothing new since the tables' last commits: nothing committed.");

            // 3. The caller's step on the whole clean tables (the insights).
            if (afterCommit is not null) await RunOnTablesAsync(connection, store, plans, afterCommit, cancellationToken).ConfigureAwait(false);
            return run;
        }
        finally
        {
            TryDeleteDirectory(work);
            (store as IDisposable)?.Dispose();
        }
    }

    private async Task<TopicPlan> PlanAsync(IObjectStore store, RecordKind kind, string topic, bool full, CancellationToken cancellationToken)
    {
        var cleanTable = NewTable(store, kind, rejects: false);
        var rejectsTable = NewTable(store, kind, rejects: true);
        var clean = await cleanTable.LoadAsync(cancellationToken: cancellationToken).ConfigureAwait(false);
        var rejects = await rejectsTable.LoadAsync(cancellationToken: cancellationToken).ConfigureAwait(false);
        if (!full)
        {
            await RequireSameRulesAsync(store, cleanTable, clean, cancellationToken).ConfigureAwait(false);
            await RequireSameRulesAsync(store, rejectsTable, rejects, cancellationToken).ConfigureAwait(false);
            RequireSameSchema(cleanTable, clean, CleaningRules.Schema(kind));
            RequireSameSchema(rejectsTable, rejects, CleaningRules.RejectSchema);
        }
        var listing = await RawLoader.ListTopicAsync(store, topicsDir, topic, cancellationToken).ConfigureAwait(false);
        if (listing.Strays.Count > 0) throw new ArgumentException(listing.Strays[0].Why);
        var (objects, sizes) = (listing.Objects, listing.Sizes);
        string? topicId = await TopicIncarnations.ReadTopicIdAsync(store, TopicIncarnations.MarkerKey(topicsDir, topic), cancellationToken).ConfigureAwait(false);
        return new TopicPlan(kind, topic, topicId, objects, cleanTable, clean, rejectsTable, rejects) { Sizes = sizes };
    }

    /// <summary>Refuses a table whose newest batch commit records other cleaning rules than today's, or none.</summary>
    private static async Task RequireSameRulesAsync(IObjectStore store, DeltaTable table, DeltaSnapshot? snapshot, CancellationToken cancellationToken)
    {
        if (snapshot is null) return; // a new table: this run creates it
        var recorded = await BatchRules.RecordedAsync(store, table.Prefix, snapshot, cancellationToken).ConfigureAwait(false);
        if (recorded is null)
            throw new BatchException("batch.rules_unknown", ErrorKind.BadInput,
                $"Delta table {table.Location} has no batch commit recording the cleaning rules its rows were cleaned with ({BatchRules.Parameter} in commitInfo): " +
                $"an earlier PinPipe (which rewrote every table each run) or another writer wrote it, or its log no longer reaches back to such a commit. " +
                $"An incremental run cannot tell whether those rows match today's rules ({BatchRules.Hash}); nothing was written. Run `pinpipe batch --full` once to rebuild the tables from all raw objects.",
                where: table.Location);
        if (recorded.Value.Hash != BatchRules.Hash)
            throw new BatchException("batch.rules_changed", ErrorKind.BadInput,
                $"The cleaning rules changed: Delta table {table.Location} was written (version {recorded.Value.Version}) under rules {recorded.Value.Hash}, this PinPipe cleans under rules {BatchRules.Hash}; " +
                $"appending would mix rows cleaned both ways, so nothing was written. Run `pinpipe batch --full` to rebuild every table from all raw objects under the new rules.",
                where: table.Location);
    }

    private DeltaTable NewTable(IObjectStore store, RecordKind kind, bool rejects) =>
        new(store, TablePrefix(options, kind, rejects), loggerFactory.CreateLogger<DeltaTable>(), _time);

    /// <summary>One topic's incremental run: the raw objects at or past each partition's offset, cleaned against the table, appended.</summary>
    private async Task<BatchTableResult> RunTopicAsync(DuckDBConnection connection, IObjectStore store, TopicPlan plan, string runId, string work, CancellationToken cancellationToken)
    {
        long t0 = _time.GetTimestamp();
        var (kind, topic) = (plan.Kind, plan.Topic);
        string t = CleaningRules.TableName(kind);
        var cleanMark = BatchCheckpoint.Read(plan.Clean?.Txns, topic, plan.TopicId);
        var rejectsMark = BatchCheckpoint.Read(plan.Rejects?.Txns, topic, plan.TopicId);
        // Where reading starts in each partition: at the offset of the table that is behind.
        var from = plan.Objects.Select(o => o.Partition).Distinct()
            .ToDictionary(p => p, p => Math.Min(cleanMark.NextOf(p), rejectsMark.NextOf(p)));
        var objects = Unread(plan.Objects, from);

        // A chunk of about Batch:ChunkSize of raw JSON at a time, as a full rebuild reads (see BatchJob.Rebuild.cs): a backlog of
        // any size fits in Batch:MemoryLimit. A chunk's valid records are checked against the table and the earlier chunks' rows.
        string rawTable = "raw_" + t;
        string cleanFolder = Path.Combine(work, t + "-clean"), rejectsFolder = Path.Combine(work, t + "-rejects");
        var chunks = Chunks(objects, plan.Sizes, options.ChunkBytes);
        var cursor = new Dictionary<int, long>(from);
        var ends = new Dictionary<int, long>();
        var cleanFiles = new SpilledFiles();
        var rejectsFiles = new SpilledFiles();
        CleanResult? sum = null;
        int objectsRead = 0;
        long bytesRead = 0;
        TimeSpan readTime = TimeSpan.Zero, cleanTime = TimeSpan.Zero, writeTime = TimeSpan.Zero;
        for (int i = 0; i < chunks.Count; i++)
        {
            long c0 = _time.GetTimestamp();
            using var raw = await LoadAsync(connection, store, plan, chunks[i], rawTable, cancellationToken).ConfigureAwait(false);
            (objectsRead, bytesRead) = (objectsRead + raw.Objects, bytesRead + raw.Bytes);
            foreach (var (p, end) in KeepNewRecords(connection, raw, topic, cursor, cancellationToken))
            {
                ends[p] = Math.Max(ends.GetValueOrDefault(p), end);
                cursor[p] = Math.Max(cursor[p], end);
            }
            FreedMemory.Release(); // each phase starts from what it holds, not from what the last one freed (see FreedMemory)
            long c1 = _time.GetTimestamp();
            string? earlier = null;
            if (cleanFiles.Files.Count > 0)
            {
                string files = "[" + string.Join(", ", cleanFiles.Files.Select(Sql.Literal)) + "]";
                connection.Execute($"CREATE OR REPLACE TEMP VIEW {Sql.Identifier(RebuiltKeysView)} AS SELECT ind FROM read_parquet({files})", cancellationToken);
                earlier = RebuiltKeysView;
            }
            var chunk = await Cleaner.CleanAgainstAsync(connection, kind, raw, plan.Clean, earlier, releaseFreedMemory: true, cancellationToken).ConfigureAwait(false);
            DropRaw(connection, raw, cancellationToken);
            chunk = DropRejectsAlreadyHeld(connection, chunk, rejectsMark, from, cancellationToken);
            FreedMemory.Release();
            long c2 = _time.GetTimestamp();
            Spill(connection, CleaningRules.CleanTable(kind), CleaningRules.Schema(kind), Path.Combine(cleanFolder, $"{i:D6}"), chunk.Clean, cleanFiles, cancellationToken);
            Spill(connection, CleaningRules.RejectTable(kind), CleaningRules.RejectSchema, Path.Combine(rejectsFolder, $"{i:D6}"), chunk.Rejects, rejectsFiles, cancellationToken);
            FreedMemory.Release();
            sum = sum is null ? chunk : Add(sum, chunk);
            (readTime, cleanTime, writeTime) = (readTime + _time.GetElapsedTime(c0, c1), cleanTime + _time.GetElapsedTime(c1, c2), writeTime + _time.GetElapsedTime(c2));
            if (chunks.Count > 1)
                _logger.LogInformation("{Topic}: chunk {Chunk}/{Chunks}: {Records:N0} records in {Objects:N0} objects ({MB:N1} MB) → {Clean:N0} clean, {Duplicates:N0} duplicates, {Rejects:N0} rejects.",
                    topic, i + 1, chunks.Count, chunk.Read, raw.Objects, raw.Bytes / 1e6, chunk.Clean, chunk.Duplicates, chunk.Rejects);
        }
        connection.Execute($"DROP VIEW IF EXISTS {Sql.Identifier(RebuiltKeysView)}", cancellationToken);
        var clean = sum ?? throw new InvalidOperationException("Chunks gives at least one chunk.");

        // A partition gets a txn in a table when its end moved past the table's offset; the rows go with them. Nothing moved: no commit.
        var cleanTxns = Advanced(topic, plan.TopicId, ends, cleanMark);
        var rejectsTxns = Advanced(topic, plan.TopicId, ends, rejectsMark);
        long tWrite = _time.GetTimestamp();
        var (version, committed) = await CommitAsync(plan.CleanTable, plan.Clean, CleaningRules.Schema(kind), cleanFiles, cleanTxns, full: false, runId, cancellationToken).ConfigureAwait(false);
        var (rejectsVersion, rejectsCommitted) = await CommitAsync(plan.RejectsTable, plan.Rejects, CleaningRules.RejectSchema, rejectsFiles, rejectsTxns, full: false, runId, cancellationToken).ConfigureAwait(false);
        TryDeleteDirectory(cleanFolder);
        TryDeleteDirectory(rejectsFolder);

        long rows = RowsOf(await plan.CleanTable.LoadAsync(cancellationToken: cancellationToken).ConfigureAwait(false));
        long rejectRows = RowsOf(await plan.RejectsTable.LoadAsync(cancellationToken: cancellationToken).ConfigureAwait(false));
        var took = _time.GetElapsedTime(t0);
        _logger.LogInformation("{Table} phases: read raw {Read:N2} s, clean and duplicate check ({KeyFilesRead} of {KeyFiles} files' ind read) {Clean:N2} s, Parquet write {Write:N2} s, Delta commit {Commit:N2} s.",
            topic, readTime.TotalSeconds, clean.KeyFilesRead, clean.KeyFilesRead + clean.KeyFilesSkipped, cleanTime.TotalSeconds, writeTime.TotalSeconds, _time.GetElapsedTime(tWrite).TotalSeconds);
        _logger.LogInformation("{Table}: {Records:N0} new records in {Objects:N0} objects ({MB:N1} MB, {Rate:N1} MB/s{Chunks}) → {Clean:N0} clean, {Duplicates:N0} duplicates, {Rejects:N0} rejects; {Commit}; the table holds {Rows:N0} rows.",
            topic, clean.Read, objectsRead, bytesRead / 1e6, bytesRead / 1e6 / Math.Max(took.TotalSeconds, 1e-3), chunks.Count > 1 ? $", {chunks.Count} chunks" : "", clean.Clean, clean.Duplicates, clean.Rejects,
            committed || rejectsCommitted ? $"Delta version {version} (rejects {rejectsVersion})" : "nothing new to commit", rows);
        return new BatchTableResult(t, topic, objectsRead, bytesRead, clean, version, rejectsVersion)
        {
            Committed = committed,
            RejectsCommitted = rejectsCommitted,
            Rows = rows,
            RejectRows = rejectRows,
        };
    }

    /// <summary>
    /// The objects that may hold offsets at or past each partition's start: those starting there or later, and the last one
    /// starting before it unless the next one starts at or before it (then the earlier one ends before the start).
    /// </summary>
    private static List<RawLoader.RawObject> Unread(IReadOnlyList<RawLoader.RawObject> sorted, Dictionary<int, long> from)
    {
        var unread = new List<RawLoader.RawObject>();
        for (int i = 0; i < sorted.Count; i++)
        {
            var o = sorted[i];
            long start = from[o.Partition];
            bool lastOfPartition = i + 1 == sorted.Count || sorted[i + 1].Partition != o.Partition;
            if (o.StartOffset >= start || lastOfPartition || sorted[i + 1].StartOffset > start) unread.Add(o);
        }
        return unread;
    }

    /// <summary>
    /// Removes from the loaded records those below their partition's start (an object that straddles it) and returns each
    /// partition's end: the offset after the last record loaded.
    /// </summary>
    private Dictionary<int, long> KeepNewRecords(DuckDBConnection connection, RawLoadResult raw, string topic, Dictionary<int, long> from, CancellationToken cancellationToken)
    {
        var ranges = connection.Query($"SELECT {OriginPartition} AS p, min({OriginOffset}), max({OriginOffset}) FROM {Origins(raw)} GROUP BY p",
            r => (Partition: r.GetInt32(0), First: r.GetInt64(1), Last: r.GetInt64(2)), cancellationToken);
        foreach (var (p, first, _) in ranges.Where(r => r.First > from[r.Partition]))
            _logger.LogWarning("Offsets {From}..{To} of {Topic} partition {Partition} are in no raw object (deleted or never written); the tables do not hold them.", from[p], first - 1, topic, p);
        if (ranges.Any(r => r.First < from[r.Partition]))
        {
            FillMarks(connection, from, cancellationToken);
            foreach (string table in RawTables(raw))
                connection.Execute($"DELETE FROM {table} WHERE {OriginOffset} < (SELECT m.next FROM {MarksTable} m WHERE m.p = {OriginPartition})", cancellationToken);
        }
        return ranges.ToDictionary(r => r.Partition, r => r.Last + 1);
    }

    /// <summary>Loads a chunk's raw objects into <paramref name="rawTable"/> (and its fields table when our parser reads them, <see cref="BatchOptions.Parser"/>).</summary>
#pragma warning disable CA2000 // the result goes to the caller, who disposes it
    private Task<RawLoadResult> LoadAsync(DuckDBConnection connection, IObjectStore store, TopicPlan plan, IEnumerable<RawLoader.RawObject> chunk, string rawTable, CancellationToken cancellationToken) =>
        options.Parser == RecordParser.DuckDb
            ? RawLoader.LoadObjectsAsync(connection, store, plan.Topic, chunk.Select(o => o.Key), rawTable, cancellationToken)
            : RawLoader.LoadObjectsParsedAsync(connection, store, plan.Topic, plan.Kind, chunk.Select(o => o.Key), rawTable, options.Threads, cancellationToken);
#pragma warning restore CA2000

    /// <summary>The tables a load filled: its lines and, when our parser read lines, their fields.</summary>
    private static IEnumerable<string> RawTables(RawLoadResult raw) =>
        raw.FieldsTable is null ? [Sql.Identifier(raw.Table)] : [Sql.Identifier(raw.Table), Sql.Identifier(raw.FieldsTable)];

    /// <summary>SQL of the <c>origin</c> column of every record a load read.</summary>
    private static string Origins(RawLoadResult raw) => "(" + string.Join(" UNION ALL ", RawTables(raw).Select(t => $"SELECT origin FROM {t}")) + ")";

    private static void DropRaw(DuckDBConnection connection, RawLoadResult raw, CancellationToken cancellationToken)
    {
        foreach (string table in RawTables(raw)) connection.Execute($"DROP TABLE {table}", cancellationToken);
    }

    /// <summary>
    /// Drops the rejects a reject table already holds (it is ahead of the clean table in their partition, which happens only
    /// when the clean table lost commits): they are not appended again, nor counted as read this run.
    /// </summary>
    private static CleanResult DropRejectsAlreadyHeld(DuckDBConnection connection, CleanResult clean, BatchCheckpoint rejectsMark, Dictionary<int, long> from, CancellationToken cancellationToken)
    {
        if (!from.Any(kv => rejectsMark.NextOf(kv.Key) > kv.Value)) return clean;
        FillMarks(connection, from.ToDictionary(kv => kv.Key, kv => rejectsMark.NextOf(kv.Key)), cancellationToken);
        string rejects = Sql.Identifier(CleaningRules.RejectTable(clean.Kind));
        long held = connection.QueryLongs($"SELECT count(*) FROM {rejects} WHERE {OriginOffset} < (SELECT m.next FROM {MarksTable} m WHERE m.p = {OriginPartition})", cancellationToken)[0];
        if (held == 0) return clean;
        connection.Execute($"DELETE FROM {rejects} WHERE {OriginOffset} < (SELECT m.next FROM {MarksTable} m WHERE m.p = {OriginPartition})", cancellationToken);
        string byKind = string.Join(", ", RejectKinds.All.Select(k => $"count(*) FILTER (WHERE kind = {Sql.Literal(k)})"));
        long[] kinds = connection.QueryLongs($"SELECT {byKind} FROM (SELECT {RejectKinds.KindSql("reason")} AS kind FROM {rejects})", cancellationToken);
        return clean with
        {
            Read = clean.Read - held,
            Rejects = clean.Rejects - held,
            RejectReasons = RejectKinds.All.Select((k, i) => new RejectCount(k, kinds[i])).ToArray(),
        };
    }

    /// <summary>Fills the temporary table of (partition, offset) marks the record filters compare with.</summary>
    private static void FillMarks(DuckDBConnection connection, IReadOnlyDictionary<int, long> marks, CancellationToken cancellationToken)
    {
        connection.Execute($"CREATE OR REPLACE TEMP TABLE {MarksTable} (p INTEGER, next BIGINT)", cancellationToken);
        foreach (var (p, next) in marks) connection.Execute($"INSERT INTO {MarksTable} VALUES ($1, $2)", [p, next], cancellationToken);
    }

    private static List<DeltaTxn> Advanced(string topic, string? topicId, Dictionary<int, long> ends, BatchCheckpoint mark)
    {
        var txns = ends.Where(e => e.Value > mark.NextOf(e.Key)).Select(e => new DeltaTxn(BatchCheckpoint.AppId(topic, topicId, e.Key), e.Value)).ToList();
        // Offsets kept without topic id are recorded under it with the first commit (every partition, not only those that moved).
        if (mark.Adopted && txns.Count > 0)
            txns.AddRange(mark.Next.Where(kv => !ends.TryGetValue(kv.Key, out long end) || end <= kv.Value).Select(kv => new DeltaTxn(BatchCheckpoint.AppId(topic, topicId, kv.Key), kv.Value)));
        return txns.OrderBy(x => x.AppId, StringComparer.Ordinal).ToList();
    }

    /// <summary>
    /// Writes <paramref name="table"/>'s rows, the columns of <paramref name="schema"/> in its order and types, to Parquet files of at
    /// most about <paramref name="maxFileBytes"/> in <paramref name="folder"/> (none when it is empty), adds them to
    /// <paramref name="spilled"/> with their stats, and drops the table. The stats of one file come from the rows still in
    /// DuckDB (as the stream job takes a micro-batch's), so the commit need not read it back; those of several files, which
    /// the rows cannot tell apart, are read from the files.
    /// </summary>
    /// <exception cref="InvalidOperationException">The files do not hold <paramref name="expectedRows"/> rows.</exception>
    internal static void Spill(DuckDBConnection connection, string table, IReadOnlyList<CleanColumn> schema, string folder, long expectedRows,
        SpilledFiles spilled, CancellationToken cancellationToken, long maxFileBytes = DuckDbSession.TargetFileBytes)
    {
        string name = Sql.Identifier(table);
        // The schema's columns in its order, each as its type: the file holds what the table's schema says, whatever else the table has.
        string rows = $"(SELECT {string.Join(", ", schema.Select(c => $"CAST({Sql.Identifier(c.Name)} AS {c.DuckDbType}) AS {Sql.Identifier(c.Name)}"))} FROM {name})";
        bool any = connection.QueryLongs($"SELECT count(*) FROM (SELECT 1 FROM {name} LIMIT 1)", cancellationToken)[0] > 0;
        if (any)
        {
            var delta = CleanSchemas.ToDelta(schema);
            var files = connection.CopyToParquetFiles(rows, folder, maxFileBytes, cancellationToken: cancellationToken);
            List<DeltaStats.FileFacts> facts;
            if (files.Count == 1)
            {
                var stats = DeltaStats.RowsQuery(delta, rows, $"The rows of {table}");
                var (json, count) = connection.Query(stats.Sql, stats.Read, cancellationToken)[0];
                facts = [new DeltaStats.FileFacts(json, count, DuckDbSession.ParquetCompression)];
            }
            else
            {
                // From what the writer kept, reading back only the columns whose stats it does not give exactly.
                facts = DeltaStats.ComputeAll(connection, files, delta, DeltaStats.NumIndexedCols(null), cancellationToken);
            }
            long written = facts.Sum(f => f.NumRecords);
            if (written != expectedRows)
                throw new InvalidOperationException($"The files of {table} hold {written} rows, but the cleaning counted {expectedRows}.");
            for (int i = 0; i < files.Count; i++) spilled.Add(files[i].Path, facts[i]);
        }
        else if (expectedRows != 0)
        {
            throw new InvalidOperationException($"{table} is empty, but the cleaning counted {expectedRows} rows.");
        }
        connection.Execute($"DROP TABLE {name}", cancellationToken);
    }

    /// <summary>A table's Parquet files of one run, each with its stats (<see cref="Spill"/>), for one commit.</summary>
    internal sealed class SpilledFiles
    {
        private readonly List<string> _files = [];
        private readonly List<DeltaStats.FileFacts> _facts = [];

        /// <summary>The files, in the order they were written.</summary>
        public IReadOnlyList<string> Files => _files;

        /// <summary>Each file's stats, row count and codec, in the order of <see cref="Files"/>.</summary>
        public IReadOnlyList<DeltaStats.FileFacts> Facts => _facts;

        /// <summary>Adds a file with its stats.</summary>
        public void Add(string file, DeltaStats.FileFacts facts)
        {
            _files.Add(file);
            _facts.Add(facts);
        }
    }

    private static async Task<(long Version, bool Committed)> CommitAsync(DeltaTable table, DeltaSnapshot? before, IReadOnlyList<CleanColumn> schema, SpilledFiles files,
        List<DeltaTxn> txns, bool full, string runId, CancellationToken cancellationToken)
    {
        if (!full && txns.Count == 0) return (before?.Version ?? -1, false);
        var mode = full ? DeltaWriteMode.Overwrite : DeltaWriteMode.Append;
        var commit = await table.CommitAsync(new DeltaWrite(CleanSchemas.ToDelta(schema), [.. files.Files])
        {
            Facts = files.Facts,
            Mode = mode,
            OverwriteSchema = full, // a rebuild replaces the table's columns when the rules changed them (Spark's overwriteSchema)
            Txns = txns,
            Operation = "WRITE",
            OperationParameters = new Dictionary<string, string>
            {
                ["mode"] = mode.ToString(),
                [RunIdParameter] = runId,
                [ModeParameter] = full ? FullMode : "incremental",
                [BatchRules.Parameter] = BatchRules.Hash,
            },
        }, cancellationToken).ConfigureAwait(false);
        if (commit.Status == DeltaCommitStatus.AlreadyCommitted)
            throw new BatchException("batch.concurrent_write", ErrorKind.Failed,
                $"Delta table {table.Location} already holds offsets this run was about to commit: another batch job wrote it meanwhile (runs exclude each other only through the same Schedule:HistoryPath lock); this table got nothing from this run. Run again.",
                where: table.Location);
        return (commit.Version, true);
    }

    private static long RowsOf(DeltaSnapshot? snapshot) => snapshot?.Files.Sum(f => f.NumRecords ?? 0) ?? 0;

    /// <summary>Runs <paramref name="step"/> with views <c>clean_pin</c>, ... over the clean tables' latest versions (only the columns it needs).</summary>
    private async Task RunOnTablesAsync(DuckDBConnection connection, IObjectStore store, IReadOnlyList<TopicPlan> plans, BatchTablesStep step, CancellationToken cancellationToken)
    {
        long t0 = _time.GetTimestamp();
        var scans = new List<DeltaScan>();
        var files = new Dictionary<string, BatchTableFiles>(StringComparer.Ordinal);
        try
        {
            foreach (var plan in plans)
            {
                string view = CleaningRules.CleanTable(plan.Kind);
                var schema = CleaningRules.Schema(plan.Kind);
                IReadOnlyList<string>? columns = step.Columns is { } c && c.TryGetValue(view, out var wanted) ? wanted : null;
                var snapshot = await plan.CleanTable.LoadAsync(cancellationToken: cancellationToken).ConfigureAwait(false);
                string relation;
                if (snapshot is null)
                {
                    // No table yet (its topic never had an object): an empty relation of the schema's columns.
                    relation = "(SELECT " + string.Join(", ", schema.Where(s => columns is null || columns.Contains(s.Name, StringComparer.Ordinal))
                        .Select(s => $"CAST(NULL AS {s.DuckDbType}) AS {Sql.Identifier(s.Name)}")) + " LIMIT 0)";
                }
                else
                {
                    var scan = columns is null
                        ? await snapshot.OpenScanAsync(cancellationToken).ConfigureAwait(false)
                        : await snapshot.OpenScanAsync(columns, cancellationToken).ConfigureAwait(false);
                    scans.Add(scan);
                    relation = scan.Sql;
                }
                connection.Execute($"CREATE OR REPLACE TEMP VIEW {Sql.Identifier(view)} AS SELECT * FROM {relation} AS t", cancellationToken);
                files[view] = FilesOf(connection, store, plan.CleanTable, snapshot, columns, scans);
            }
            long t1 = _time.GetTimestamp();
            if (step.RunOnFiles is { } onFiles) await onFiles(connection, files, cancellationToken).ConfigureAwait(false);
            await step.Run(connection, cancellationToken).ConfigureAwait(false);
            _logger.LogInformation("The step on the clean tables took {Seconds:N2} s (their snapshots and views {Open:N2} s before it).",
                _time.GetElapsedTime(t1).TotalSeconds, _time.GetElapsedTime(t0, t1).TotalSeconds);
        }
        finally
        {
            foreach (var scan in scans) scan.Dispose();
        }
    }

    /// <summary>A table's live files and a scan of some of them (the scans join <paramref name="scans"/>, disposed after the step).</summary>
    private static BatchTableFiles FilesOf(DuckDBConnection connection, IObjectStore store, DeltaTable table, DeltaSnapshot? snapshot,
        IReadOnlyList<string>? columns, List<DeltaScan> scans)
    {
        var live = snapshot?.Files.ToDictionary(f => f.Path, StringComparer.Ordinal) ?? [];
        return new BatchTableFiles(table.Location, [.. live.Keys.Order(StringComparer.Ordinal)], async (paths, ct) =>
        {
            if (snapshot is null || paths.Count == 0) throw new ArgumentException($"Give one or more of the live files of {table.Location}.", nameof(paths));
            var chosen = paths.Select(p => live.TryGetValue(p, out var f) ? f : throw new ArgumentException($"'{p}' is not a live file of {table.Location}.", nameof(paths))).ToArray();
            string root = table.Prefix.Length == 0 ? "" : table.Prefix + "/";
            var scan = await DeltaScan.OpenAsync(store, root, snapshot.State, chosen, columns, connection, ct).ConfigureAwait(false);
            scans.Add(scan);
            return scan.Sql;
        });
    }

    /// <summary>Removes the work folders of runs that were killed (under the batch lock the callers hold, no other run is at work), and their run folder when nothing else is in it.
    /// The current run's own folder counts too: a run killed in the same second as this one started had the same id.</summary>
    private void RemoveWorkOfKilledRuns(string current)
    {
        if (!Directory.Exists(options.OutputDir)) return;
        foreach (string folder in Directory.GetDirectories(options.OutputDir))
        {
            string work = Path.Combine(folder, ".work");
            if (!Directory.Exists(work)) continue;
            _logger.LogInformation("Removing the work files a killed run left in {Folder}.", work);
            TryDeleteDirectory(work);
            if (Path.GetFullPath(folder) == Path.GetFullPath(current)) continue;
            try
            {
                if (!Directory.EnumerateFileSystemEntries(folder).Any()) Directory.Delete(folder);
            }
            catch (IOException) { }
            catch (UnauthorizedAccessException) { }
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

    /// <summary>The folder name of run <paramref name="runId"/> under <see cref="BatchOptions.OutputDir"/> (letters, digits, '-', '_', '.'; others as '-').</summary>
    internal static string SafeFolderName(string runId)
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
