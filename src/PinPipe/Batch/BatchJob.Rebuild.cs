using DuckDB.NET.Data;
using Microsoft.Extensions.Logging;
using PinPipe.DuckDb;
using PinPipe.Errors;
using PinPipe.Lake;
using PinPipe.Lake.Delta;
using PinPipe.Transform;

namespace PinPipe.Batch;

/// <remarks>
/// <para>The full rebuild (<c>--full</c>) of one topic's two tables, in bounded memory: the topic's raw objects, in
/// (partition, offset) order, are read and cleaned a chunk of about <see cref="BatchOptions.ChunkBytes"/> of raw JSON at a
/// time. Each chunk's valid records are checked against the clean rows of the chunks before it (their Parquet files, only
/// the <c>ind</c> column), so a key seen in an earlier chunk is a duplicate, as it is when the whole topic is cleaned at
/// once: the rows, duplicates, rejects and quality counts are the same as one pass would give. Each chunk's rows go to
/// Parquet files in the run's work folder and leave DuckDB.</para>
/// <para>Once every chunk is cleaned, each table gets all of them in <b>one</b> overwrite commit (as Spark's
/// <c>mode("overwrite")</c>): readers see the previous version until that commit and the whole rebuilt table after it,
/// never a part of it. A rebuild that fails or is killed leaves each table it had not committed yet at its previous
/// version, with its offsets and rules (the files it had uploaded for a commit it never made are no version's, and
/// <c>pinpipe vacuum</c> deletes them); the next run, incremental or full, goes on from each table's last commit.</para>
/// </remarks>
public sealed partial class BatchJob
{
    private const string RebuiltKeysView = "_pinpipe_rebuilt_keys";

    /// <summary>Rebuilds one topic's clean and reject tables from all its raw objects, chunk by chunk, committing each table once.</summary>
    private async Task<BatchTableResult> RebuildTopicAsync(DuckDBConnection connection, IObjectStore store, TopicPlan plan, string runId, string work, CancellationToken cancellationToken)
    {
        long t0 = _time.GetTimestamp();
        var kind = plan.Kind;
        string t = CleaningRules.TableName(kind);
        string rawTable = "raw_" + t;
        string cleanFolder = Path.Combine(work, t + "-clean"), rejectsFolder = Path.Combine(work, t + "-rejects");
        var chunks = Chunks(plan.Objects, plan.Sizes, options.ChunkBytes);
        var cleanFiles = new SpilledFiles();
        var rejectsFiles = new SpilledFiles();
        var ends = new Dictionary<int, long>();
        CleanResult? clean = null;
        int objects = 0;
        long bytes = 0;
        TimeSpan readTime = TimeSpan.Zero, cleanTime = TimeSpan.Zero, writeTime = TimeSpan.Zero;
        try
        {
            for (int i = 0; i < chunks.Count; i++)
            {
                long c0 = _time.GetTimestamp();
                using var raw = await LoadAsync(connection, store, plan, chunks[i], rawTable, cancellationToken).ConfigureAwait(false);
                (objects, bytes) = (objects + raw.Objects, bytes + raw.Bytes);
                NoteEnds(connection, raw, plan.Topic, ends, cancellationToken);
                FreedMemory.Release(); // each phase starts from what it holds (see FreedMemory)
                long c1 = _time.GetTimestamp();
                // Keys of the earlier chunks' clean rows (each once): a valid record with one of them is a duplicate.
                string? earlier = null;
                if (cleanFiles.Files.Count > 0)
                {
                    string files = "[" + string.Join(", ", cleanFiles.Files.Select(Sql.Literal)) + "]";
                    connection.Execute($"CREATE OR REPLACE TEMP VIEW {Sql.Identifier(RebuiltKeysView)} AS SELECT ind FROM read_parquet({files})", cancellationToken);
                    earlier = RebuiltKeysView;
                }
                var chunk = await Cleaner.CleanAsync(connection, kind, raw, earlier, releaseFreedMemory: true, cancellationToken).ConfigureAwait(false);
                DropRaw(connection, raw, cancellationToken);
                long c2 = _time.GetTimestamp();
                Spill(connection, CleaningRules.CleanTable(kind), CleaningRules.Schema(kind), Path.Combine(cleanFolder, $"{i:D6}"), chunk.Clean, cleanFiles, cancellationToken);
                Spill(connection, CleaningRules.RejectTable(kind), CleaningRules.RejectSchema, Path.Combine(rejectsFolder, $"{i:D6}"), chunk.Rejects, rejectsFiles, cancellationToken);
                FreedMemory.Release();
                clean = clean is null ? chunk : Add(clean, chunk);
                (readTime, cleanTime, writeTime) = (readTime + _time.GetElapsedTime(c0, c1), cleanTime + _time.GetElapsedTime(c1, c2), writeTime + _time.GetElapsedTime(c2));
                if (chunks.Count > 1)
                    _logger.LogInformation("{Topic}: full rebuild chunk {Chunk}/{Chunks}: {Records:N0} records in {Objects:N0} objects ({MB:N1} MB) → {Clean:N0} clean, {Duplicates:N0} duplicates, {Rejects:N0} rejects.",
                        plan.Topic, i + 1, chunks.Count, chunk.Read, raw.Objects, raw.Bytes / 1e6, chunk.Clean, chunk.Duplicates, chunk.Rejects);
            }
            connection.Execute($"DROP VIEW IF EXISTS {Sql.Identifier(RebuiltKeysView)}", cancellationToken);

            // One overwrite per table with every chunk's files; offsets as an incremental run's (past what the table already holds).
            long tCommit = _time.GetTimestamp();
            var cleanTxns = Advanced(plan.Topic, plan.TopicId, ends, BatchCheckpoint.Read(plan.Clean?.Txns, plan.Topic, plan.TopicId));
            var rejectsTxns = Advanced(plan.Topic, plan.TopicId, ends, BatchCheckpoint.Read(plan.Rejects?.Txns, plan.Topic, plan.TopicId));
            var (version, committed) = await CommitAsync(plan.CleanTable, plan.Clean, CleaningRules.Schema(kind), cleanFiles, cleanTxns, true, runId, cancellationToken).ConfigureAwait(false);
            var (rejectsVersion, rejectsCommitted) = await CommitAsync(plan.RejectsTable, plan.Rejects, CleaningRules.RejectSchema, rejectsFiles, rejectsTxns, true, runId, cancellationToken).ConfigureAwait(false);

            var commitTime = _time.GetElapsedTime(tCommit);
            long rows = RowsOf(await plan.CleanTable.LoadAsync(cancellationToken: cancellationToken).ConfigureAwait(false));
            long rejectRows = RowsOf(await plan.RejectsTable.LoadAsync(cancellationToken: cancellationToken).ConfigureAwait(false));
            var took = _time.GetElapsedTime(t0);
            _logger.LogInformation("{Table} phases: read raw {Read:N2} s, clean and duplicate check ({KeyFilesRead} of {KeyFiles} files' ind read) {Clean:N2} s, Parquet write {Write:N2} s, Delta commit {Commit:N2} s.",
                plan.Topic, readTime.TotalSeconds, clean!.KeyFilesRead, clean.KeyFilesRead + clean.KeyFilesSkipped, cleanTime.TotalSeconds, writeTime.TotalSeconds, commitTime.TotalSeconds);
            _logger.LogInformation("{Table}: full rebuild of {Records:N0} records in {Objects:N0} objects ({MB:N1} MB, {Rate:N1} MB/s, {Chunks} chunk(s)) → {Clean:N0} clean, {Duplicates:N0} duplicates, {Rejects:N0} rejects; Delta version {Version} (rejects {RejectsVersion}); the table holds {Rows:N0} rows.",
                plan.Topic, clean.Read, objects, bytes / 1e6, bytes / 1e6 / Math.Max(took.TotalSeconds, 1e-3), chunks.Count, clean.Clean, clean.Duplicates, clean.Rejects, version, rejectsVersion, rows);
            return new BatchTableResult(t, plan.Topic, objects, bytes, clean, version, rejectsVersion)
            {
                Committed = committed,
                RejectsCommitted = rejectsCommitted,
                Rows = rows,
                RejectRows = rejectRows,
            };
        }
        finally
        {
            TryDeleteDirectory(cleanFolder);
            TryDeleteDirectory(rejectsFolder);
        }
    }

    /// <summary>
    /// The objects (sorted by partition and offset) cut, in order, into chunks of at most <paramref name="chunkBytes"/> raw
    /// bytes each, an object larger than that a chunk of its own; one empty chunk when there are no objects (the tables are
    /// still rebuilt, empty).
    /// </summary>
    internal static List<List<RawLoader.RawObject>> Chunks(IReadOnlyList<RawLoader.RawObject> sorted, IReadOnlyDictionary<string, long> sizes, long chunkBytes)
    {
        var chunks = new List<List<RawLoader.RawObject>> { new() };
        long size = 0;
        foreach (var o in sorted)
        {
            long bytes = sizes.TryGetValue(o.Key, out long s) ? s : 0;
            if (chunks[^1].Count > 0 && size + bytes > chunkBytes)
            {
                chunks.Add([]);
                size = 0;
            }
            chunks[^1].Add(o);
            size += bytes;
        }
        return chunks;
    }

    /// <summary>
    /// Raises each partition's end to the offset after the last record of the chunk <paramref name="raw"/> loaded;
    /// warns when a partition's first records are missing (the offsets before its first object are in none).
    /// </summary>
    private void NoteEnds(DuckDBConnection connection, RawLoadResult raw, string topic, Dictionary<int, long> ends, CancellationToken cancellationToken)
    {
        var ranges = connection.Query($"SELECT {OriginPartition} AS p, min({OriginOffset}), max({OriginOffset}) FROM {Origins(raw)} GROUP BY p",
            r => (Partition: r.GetInt32(0), First: r.GetInt64(1), Last: r.GetInt64(2)), cancellationToken);
        foreach (var (p, first, last) in ranges)
        {
            if (!ends.TryGetValue(p, out long end) && first > 0)
                _logger.LogWarning("Offsets 0..{To} of {Topic} partition {Partition} are in no raw object (deleted or never written); the tables do not hold them.", first - 1, topic, p);
            ends[p] = Math.Max(end, last + 1);
        }
    }

    /// <summary>The counts of two chunks of one table together (read = clean + duplicates + rejects still holds).</summary>
    private static CleanResult Add(CleanResult a, CleanResult b) => a with
    {
        Read = a.Read + b.Read,
        Clean = a.Clean + b.Clean,
        Duplicates = a.Duplicates + b.Duplicates,
        Rejects = a.Rejects + b.Rejects,
        Quality = a.Quality.Zip(b.Quality, (x, y) => x with { Count = x.Count + y.Count }).ToArray(),
        RejectReasons = a.RejectReasons.Zip(b.RejectReasons, (x, y) => x with { Count = x.Count + y.Count }).ToArray(),
        KeyFilesRead = a.KeyFilesRead + b.KeyFilesRead,
        KeyFilesSkipped = a.KeyFilesSkipped + b.KeyFilesSkipped,
    };

    /// <summary>Refuses (incremental runs) a table whose columns are not the ones this PinPipe writes: appending would not fit.</summary>
    private static void RequireSameSchema(DeltaTable table, DeltaSnapshot? snapshot, IReadOnlyList<CleanColumn> columns)
    {
        if (snapshot is null) return;
        var expected = CleanSchemas.ToDelta(columns);
        if (snapshot.Schema.Equals(expected)) return;
        throw new BatchException("batch.schema_changed", ErrorKind.BadInput,
            $"Delta table {table.Location} has the columns ({snapshot.Schema}) at version {snapshot.Version}, but this PinPipe writes ({expected}): another writer changed the table's schema. " +
            $"An incremental run appends only to a table of its own columns; nothing was written. Run `pinpipe batch --full` to rebuild every table from all raw objects with these columns (the overwrite replaces the schema).",
            where: table.Location);
    }
}
