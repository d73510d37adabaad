using DuckDB.NET.Data;
using PinPipe.DuckDb;
using PinPipe.Lake.Delta;

namespace PinPipe.Transform;

/// <summary>
/// Runs the <see cref="CleaningRules"/> of one table over a relation of raw records in DuckDB: the batch lane
/// over a whole topic (from <see cref="RawLoader"/>), the streaming lane over each micro-batch.
/// </summary>
public static class Cleaner
{
    /// <summary>
    /// Cleans the raw records of <paramref name="rawRelation"/> (columns <c>seq BIGINT, origin VARCHAR, line VARCHAR</c>:
    /// arrival order, where the record came from, its JSON text) into the tables
    /// <see cref="CleaningRules.CleanTable"/> (schema <see cref="CleaningRules.Schema"/>, one row per key, the first
    /// seen by seq) and <see cref="CleaningRules.RejectTable"/> (<see cref="CleaningRules.RejectSchema"/>), both
    /// created or replaced.
    /// </summary>
    /// <param name="connection">An open connection; its <c>TimeZone</c> is set to UTC (timestamps are UTC).</param>
    /// <param name="kind">Which table's rules apply.</param>
    /// <param name="rawRelation">Table or view of the raw records (<c>name</c> or <c>schema.name</c>).</param>
    /// <param name="existingKeysRelation">Optional table or view with a column <c>ind</c>: keys already in the target
    /// table (streaming lane); valid records with such a key count as duplicates.</param>
    /// <param name="cancellationToken">Interrupts the running query.</param>
    /// <returns>The counts, which reconcile: read = clean + duplicates + rejects.</returns>
    public static Task<CleanResult> CleanAsync(
        DuckDBConnection connection, RecordKind kind, string rawRelation, string? existingKeysRelation,
        CancellationToken cancellationToken = default) =>
        CleanAsync(connection, kind, rawRelation, existingKeysRelation, releaseFreedMemory: false, cancellationToken);

    /// <summary>Cleans as <see cref="CleanAsync(DuckDBConnection, RecordKind, string, string?, CancellationToken)"/>;
    /// with <paramref name="releaseFreedMemory"/>, memory each step freed goes back to the system before the next one
    /// (<see cref="FreedMemory"/>), so that a large run peaks at its largest step; a micro-batch keeps it for the next.</summary>
    public static Task<CleanResult> CleanAsync(
        DuckDBConnection connection, RecordKind kind, string rawRelation, string? existingKeysRelation, bool releaseFreedMemory,
        CancellationToken cancellationToken = default) =>
        Start(connection, kind, rawRelation, null, existingKeysRelation, null, releaseFreedMemory, cancellationToken);

    /// <summary>
    /// Cleans as <see cref="CleanAsync"/>, checking the valid records' keys against the rows already in the Delta table
    /// <paramref name="table"/> (the table this run appends to) through the table itself: the files whose <c>ind</c>
    /// stats cannot hold one of the new keys are not read, and of the others only the <c>ind</c> column
    /// (<see cref="DeltaSnapshot.OpenKeyScanAsync"/>). A valid record whose key is in the table counts as a duplicate.
    /// </summary>
    /// <param name="connection">An open connection; its <c>TimeZone</c> is set to UTC (timestamps are UTC).</param>
    /// <param name="kind">Which table's rules apply.</param>
    /// <param name="rawRelation">Table or view of the raw records (<c>name</c> or <c>schema.name</c>).</param>
    /// <param name="table">The target table's snapshot; null = no table yet (only duplicates within the records count).</param>
    /// <param name="cancellationToken">Interrupts the running query.</param>
    /// <returns>The counts, which reconcile: read = clean + duplicates + rejects; <see cref="CleanResult.KeyFilesRead"/>
    /// tells how many of the table's files the check read.</returns>
    public static Task<CleanResult> CleanAgainstAsync(
        DuckDBConnection connection, RecordKind kind, string rawRelation, DeltaSnapshot? table, CancellationToken cancellationToken = default) =>
        CleanAgainstAsync(connection, kind, rawRelation, table, releaseFreedMemory: false, cancellationToken);

    /// <summary>Cleans as <see cref="CleanAgainstAsync(DuckDBConnection, RecordKind, string, DeltaSnapshot?, CancellationToken)"/>;
    /// with <paramref name="releaseFreedMemory"/>, memory each step freed goes back to the system before the next one
    /// (<see cref="FreedMemory"/>), so that a large run peaks at its largest step; a micro-batch keeps it for the next.</summary>
    public static Task<CleanResult> CleanAgainstAsync(
        DuckDBConnection connection, RecordKind kind, string rawRelation, DeltaSnapshot? table, bool releaseFreedMemory,
        CancellationToken cancellationToken = default) =>
        CleanAgainstAsync(connection, kind, rawRelation, table, null, releaseFreedMemory, cancellationToken);

    /// <summary>
    /// Cleans as <see cref="CleanAgainstAsync(DuckDBConnection, RecordKind, string, DeltaSnapshot?, bool, CancellationToken)"/>,
    /// a valid record whose key is in <paramref name="table"/> <b>or</b> in <paramref name="alsoExistingKeysRelation"/>
    /// (a relation with an <c>ind</c> column, e.g. the rows of a run's earlier chunks) being a duplicate.
    /// </summary>
    public static Task<CleanResult> CleanAgainstAsync(
        DuckDBConnection connection, RecordKind kind, string rawRelation, DeltaSnapshot? table, string? alsoExistingKeysRelation, bool releaseFreedMemory,
        CancellationToken cancellationToken = default) =>
        Start(connection, kind, rawRelation, null, alsoExistingKeysRelation, table, releaseFreedMemory, cancellationToken);

    /// <summary>
    /// Cleans what <see cref="RawLoader"/> loaded (<paramref name="raw"/>: its lines table and, when our parser read lines,
    /// its fields table; <see cref="RawLoader.LoadObjectsParsedAsync"/>), as
    /// <see cref="CleanAsync(DuckDBConnection, RecordKind, string, string?, bool, CancellationToken)"/> cleans a lines relation:
    /// the same rules on both, so the same rows, counts and rejects.
    /// </summary>
    public static Task<CleanResult> CleanAsync(
        DuckDBConnection connection, RecordKind kind, RawLoadResult raw, string? existingKeysRelation, bool releaseFreedMemory,
        CancellationToken cancellationToken = default) =>
        CleanLoadedAsync(connection, kind, raw, null, existingKeysRelation, releaseFreedMemory, cancellationToken);

    /// <summary>
    /// Cleans what <see cref="RawLoader"/> loaded (<paramref name="raw"/>, as <see cref="CleanAsync(DuckDBConnection, RecordKind, RawLoadResult, string?, bool, CancellationToken)"/>)
    /// against the Delta table <paramref name="table"/> and <paramref name="alsoExistingKeysRelation"/>, as
    /// <see cref="CleanAgainstAsync(DuckDBConnection, RecordKind, string, DeltaSnapshot?, string?, bool, CancellationToken)"/> does.
    /// </summary>
    public static Task<CleanResult> CleanAgainstAsync(
        DuckDBConnection connection, RecordKind kind, RawLoadResult raw, DeltaSnapshot? table, string? alsoExistingKeysRelation, bool releaseFreedMemory,
        CancellationToken cancellationToken = default) =>
        CleanLoadedAsync(connection, kind, raw, table, alsoExistingKeysRelation, releaseFreedMemory, cancellationToken);

    private static Task<CleanResult> CleanLoadedAsync(
        DuckDBConnection connection, RecordKind kind, RawLoadResult raw, DeltaSnapshot? table, string? existingKeysRelation, bool releaseFreedMemory,
        CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(raw);
        return Start(connection, kind, raw.Table, raw, existingKeysRelation, table, releaseFreedMemory, cancellationToken);
    }

    /// <summary>Checks the arguments, then cleans on a pool thread (DuckDB.NET runs queries synchronously: the caller's thread stays free).</summary>
    private static Task<CleanResult> Start(
        DuckDBConnection connection, RecordKind kind, string rawRelation, RawLoadResult? loaded, string? existingKeysRelation, DeltaSnapshot? table,
        bool releaseFreedMemory, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(connection);
        if (connection.State != System.Data.ConnectionState.Open)
            throw new InvalidOperationException("The DuckDB connection must be open.");
        string raw = Sql.Relation(rawRelation, nameof(rawRelation));
        string? fields = loaded?.FieldsTable is { } f ? Sql.Relation(f, nameof(loaded)) : null;
        string? existing = existingKeysRelation is null ? null : Sql.Relation(existingKeysRelation, nameof(existingKeysRelation));
        _ = CleaningRules.TableName(kind); // validates kind
        cancellationToken.ThrowIfCancellationRequested();
        return Task.Run(() => Clean(connection, kind, raw, rawRelation, existing, existingKeysRelation, table, releaseFreedMemory, cancellationToken, fields, loaded), cancellationToken);
    }

    private static CleanResult Clean(
        DuckDBConnection connection, RecordKind kind, string raw, string rawName, string? existing, string? existingName, DeltaSnapshot? table,
        bool releaseFreedMemory, CancellationToken cancellationToken, string? fields = null, RawLoadResult? loaded = null)
    {
        void Release()
        {
            if (releaseFreedMemory) FreedMemory.Release();
        }

        connection.RequireColumns(raw, rawName, ["seq", "origin", "line"], cancellationToken);
        if (existing is not null) connection.RequireColumns(existing, existingName!, ["ind"], cancellationToken);
        if (fields is not null) connection.RequireColumns(fields, loaded!.FieldsTable!, ["seq", "origin"], cancellationToken);

        string stage = "temp.main." + Sql.Identifier("_pinpipe_stage_" + CleaningRules.TableName(kind));
        string held = "temp.main." + Sql.Identifier("_pinpipe_held_" + CleaningRules.TableName(kind));
        var steps = new CleanSteps(kind, stage, Sql.Identifier(CleaningRules.CleanTable(kind)), Sql.Identifier(CleaningRules.RejectTable(kind)));
        DeltaKeyScan? keyScan = null;
        long? newKeys = null; // the valid records' distinct keys the target did not hold, when known: the clean rows
        try
        {
            connection.Execute("SET TimeZone = 'UTC'", cancellationToken);
            connection.Execute(CleaningRules.StageSql(kind, raw, stage, fields), cancellationToken);
            if (fields is not null) FillRejectedLines(connection, stage, loaded!, cancellationToken);
            Release();
            if (table is not null && table.Files.Count > 0)
            {
                // The new keys, then only the table's files whose ind range holds one of them, only their ind column.
                var keys = connection.Query(steps.SortedNewKeysSql, r => r.GetInt64(0), cancellationToken);
                newKeys = keys.Count;
#pragma warning disable CA2000 // disposed in finally
                keyScan = table.OpenKeyScanAsync("ind", keys, cancellationToken).GetAwaiter().GetResult();
#pragma warning restore CA2000
                if (keyScan.FilesRead > 0)
                    existing = existing is null ? keyScan.Sql : $"(SELECT ind FROM {keyScan.Sql} UNION ALL SELECT ind FROM {existing})";
            }
            if (existing is not null)
            {
                connection.Execute($"CREATE OR REPLACE TEMP TABLE {held} AS {steps.HeldSql(existing)}", cancellationToken);
                if (newKeys is { } valid) newKeys = valid - connection.QueryLongs($"SELECT count(*) FROM {held}", cancellationToken)[0];
                Release();
            }
            connection.Execute($"CREATE OR REPLACE TABLE {steps.Rejects} AS {steps.RejectsSql}", cancellationToken);
            long rejectsWritten = connection.QueryLongs($"SELECT count(*) FROM {steps.Rejects}", cancellationToken)[0]; // DuckDB counts no changed rows for CREATE TABLE AS
            connection.Execute($"CREATE OR REPLACE TABLE {steps.Clean} AS {steps.CleanSql(existing is null ? null : held)}", cancellationToken);
            long[] counts = connection.QueryLongs(steps.CountsSql, cancellationToken);
            connection.Execute($"ALTER TABLE {steps.Clean} DROP COLUMN {CleaningRules.QualityColumn}", cancellationToken);
            return steps.Result(counts, rejectsWritten, keyScan?.FilesRead ?? 0, keyScan?.FilesSkipped ?? 0, newKeys: newKeys);
        }
        finally
        {
            keyScan?.Dispose();
            connection.Execute($"DROP TABLE IF EXISTS {stage}", CancellationToken.None); // clean-up, also when cancelled
            connection.Execute($"DROP TABLE IF EXISTS {held}", CancellationToken.None);
        }
    }

    /// <summary>Gives the stage's rejects among the lines our parser read their raw text, read back from their objects (no table holds it).</summary>
    private static void FillRejectedLines(DuckDBConnection connection, string stage, RawLoadResult loaded, CancellationToken cancellationToken)
    {
        var seqs = connection.Query($"SELECT seq FROM {stage} WHERE reason IS NOT NULL AND raw IS NULL", r => r.GetInt64(0), cancellationToken);
        if (seqs.Count == 0) return;
        const string Lines = "_pinpipe_rejected_lines";
        connection.Execute($"CREATE OR REPLACE TEMP TABLE {Lines} (seq BIGINT, raw VARCHAR)", cancellationToken);
        try
        {
            using (var appender = connection.CreateAppender("temp", "main", Lines))
            {
                foreach (var (seq, line) in loaded.LinesOf(seqs)) appender.CreateRow().AppendValue(seq).AppendValue(line).EndRow();
            }
            connection.Execute($"UPDATE {stage} SET raw = l.raw FROM temp.main.{Lines} l WHERE {stage}.seq = l.seq", cancellationToken);
        }
        finally
        {
            connection.Execute($"DROP TABLE IF EXISTS temp.main.{Lines}", CancellationToken.None);
        }
    }
}
