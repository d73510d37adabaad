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
        CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(connection);
        if (connection.State != System.Data.ConnectionState.Open)
            throw new InvalidOperationException("The DuckDB connection must be open.");
        string raw = Sql.Relation(rawRelation, nameof(rawRelation));
        string? existing = existingKeysRelation is null ? null : Sql.Relation(existingKeysRelation, nameof(existingKeysRelation));
        _ = CleaningRules.TableName(kind); // validates kind
        cancellationToken.ThrowIfCancellationRequested();
        // DuckDB.NET runs queries synchronously: keep the caller's thread free.
        return Task.Run(() => Clean(connection, kind, raw, rawRelation, existing, existingKeysRelation, null, releaseFreedMemory, cancellationToken), cancellationToken);
    }

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
        CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(connection);
        if (connection.State != System.Data.ConnectionState.Open)
            throw new InvalidOperationException("The DuckDB connection must be open.");
        string raw = Sql.Relation(rawRelation, nameof(rawRelation));
        _ = CleaningRules.TableName(kind); // validates kind
        cancellationToken.ThrowIfCancellationRequested();
        string? also = alsoExistingKeysRelation is null ? null : Sql.Relation(alsoExistingKeysRelation, nameof(alsoExistingKeysRelation));
        return Task.Run(() => Clean(connection, kind, raw, rawRelation, also, alsoExistingKeysRelation, table, releaseFreedMemory, cancellationToken), cancellationToken);
    }

    private static CleanResult Clean(
        DuckDBConnection connection, RecordKind kind, string raw, string rawName, string? existing, string? existingName, DeltaSnapshot? table,
        bool releaseFreedMemory, CancellationToken cancellationToken)
    {
        void Release()
        {
            if (releaseFreedMemory) FreedMemory.Release();
        }

        connection.RequireColumns(raw, rawName, ["seq", "origin", "line"], cancellationToken);
        if (existing is not null) connection.RequireColumns(existing, existingName!, ["ind"], cancellationToken);

        string stage = "temp.main." + Sql.Identifier("_pinpipe_stage_" + CleaningRules.TableName(kind));
        string clean = Sql.Identifier(CleaningRules.CleanTable(kind));
        string rejects = Sql.Identifier(CleaningRules.RejectTable(kind));
        string held = "temp.main." + Sql.Identifier("_pinpipe_held_" + CleaningRules.TableName(kind));
        string columns = string.Join(", ", CleaningRules.Schema(kind).Select(c => Sql.Identifier(c.Name)));
        DeltaKeyScan? keyScan = null;
        try
        {
            connection.Execute("SET TimeZone = 'UTC'", cancellationToken);
            connection.Execute(CleaningRules.StageSql(kind, raw, stage), cancellationToken);
            Release();
            if (table is not null && table.Files.Count > 0)
            {
                // The new keys, then only the table's files whose ind range holds one of them, only their ind column.
                var keys = connection.Query($"SELECT DISTINCT ind FROM {stage} WHERE reason IS NULL AND ind IS NOT NULL ORDER BY ind", r => r.GetInt64(0), cancellationToken);
#pragma warning disable CA2000 // disposed in finally
                keyScan = table.OpenKeyScanAsync("ind", keys, cancellationToken).GetAwaiter().GetResult();
#pragma warning restore CA2000
                if (keyScan.FilesRead > 0)
                    existing = existing is null ? keyScan.Sql : $"(SELECT ind FROM {keyScan.Sql} UNION ALL SELECT ind FROM {existing})";
            }
            string notExisting = "";
            if (existing is not null)
            {
                // The new keys already held: an inner join that hashes the new keys (the smaller side) and streams the table's
                // keys past them, so memory follows the run, not the table (an anti-join would hash every key of the table).
                connection.Execute($"""
                    CREATE OR REPLACE TEMP TABLE {held} AS
                    SELECT DISTINCT e.ind FROM {existing} e
                    JOIN (SELECT DISTINCT ind FROM {stage} WHERE reason IS NULL AND ind IS NOT NULL) n ON e.ind = n.ind
                    """, cancellationToken);
                notExisting = $" AND NOT EXISTS (SELECT 1 FROM {held} h WHERE h.ind = s.ind)";
                Release();
            }
            connection.Execute($"CREATE OR REPLACE TABLE {rejects} AS SELECT origin, raw, reason, ind FROM {stage} WHERE reason IS NOT NULL ORDER BY seq", cancellationToken);
            // SPEC §4 duplicates: one row per ind, the first seen; keys already in the target table are duplicates too. The row of
            // the first seq per ind is found on the narrow (ind, seq, rowid) columns, so the wide rows are not held in a window's partitions.
            connection.Execute($"""
                CREATE OR REPLACE TABLE {clean} AS
                SELECT {columns}, {CleaningRules.QualityColumn} FROM {stage}
                WHERE rowid IN (SELECT arg_min(rowid, seq) FROM {stage} s WHERE reason IS NULL{notExisting} GROUP BY ind)
                ORDER BY seq
                """, cancellationToken);
            long[] sums = connection.QueryLongs(CleaningRules.QualitySumsSql(kind, clean), cancellationToken);
            connection.Execute($"ALTER TABLE {clean} DROP COLUMN {CleaningRules.QualityColumn}", cancellationToken);

            long[] stageCounts = connection.QueryLongs($"SELECT count(*), count(*) FILTER (WHERE reason IS NULL) FROM {stage}", cancellationToken);
            long read = stageCounts[0], valid = stageCounts[1];
            long cleanRows = connection.QueryLongs($"SELECT count(*) FROM {clean}", cancellationToken)[0];
            long rejectRows = connection.QueryLongs($"SELECT count(*) FROM {rejects}", cancellationToken)[0];
            long duplicates = valid - cleanRows;
            if (duplicates < 0 || read != cleanRows + duplicates + rejectRows)
                throw new InvalidOperationException(
                    $"Cleaning {kind} does not reconcile: read {read} != clean {cleanRows} + duplicates {duplicates} + rejects {rejectRows}.");

            var rules = CleaningRules.QualityRulesOf(kind);
            var quality = rules.Select((r, i) => new QualityCount(r.Column, r.Rule, sums[i])).ToArray();
            string byKind = string.Join(", ", RejectKinds.All.Select(k => $"count(*) FILTER (WHERE kind = {Sql.Literal(k)})"));
            long[] kinds = connection.QueryLongs($"SELECT {byKind} FROM (SELECT {RejectKinds.KindSql("reason")} AS kind FROM {rejects})", cancellationToken);
            var reasons = RejectKinds.All.Select((k, i) => new RejectCount(k, kinds[i])).ToArray();
            return new CleanResult(kind, read, cleanRows, duplicates, rejectRows, quality, reasons) { KeyFilesRead = keyScan?.FilesRead ?? 0, KeyFilesSkipped = keyScan?.FilesSkipped ?? 0 };
        }
        finally
        {
            keyScan?.Dispose();
            connection.Execute($"DROP TABLE IF EXISTS {stage}", CancellationToken.None); // clean-up, also when cancelled
            connection.Execute($"DROP TABLE IF EXISTS {held}", CancellationToken.None);
        }
    }
}
