using PinPipe.DuckDb;

namespace PinPipe.Transform;

/// <summary>
/// The SQL of each step after the rules' stage (<see cref="CleaningRules.StageSql"/>), written once for the two ways
/// they run: <see cref="Cleaner"/> creates a table per step; <see cref="MicroBatchCleaner"/> inserts into tables it keeps,
/// deletes the duplicates from its stage table instead of copying the clean rows (<see cref="DeleteDuplicatesSql"/>), and
/// plans each statement once.
/// </summary>
/// <param name="Kind">The table whose rules apply.</param>
/// <param name="Stage">The stage table (quoted).</param>
/// <param name="Clean">The clean table (quoted), with the clean columns and <see cref="CleaningRules.QualityColumn"/>; or a parenthesized query of the stage table's rows without a reason, which are the clean rows once <see cref="DeleteDuplicatesSql"/> ran.</param>
/// <param name="Rejects">The reject table (quoted).</param>
internal sealed record CleanSteps(RecordKind Kind, string Stage, string Clean, string Rejects)
{
    /// <summary>The clean columns, quoted, in schema order.</summary>
    public string Columns { get; } = string.Join(", ", CleaningRules.Schema(Kind).Select(c => Sql.Identifier(c.Name)));

    /// <summary>The valid records' keys.</summary>
    public string NewKeysSql => $"SELECT DISTINCT ind FROM {Stage} WHERE reason IS NULL AND ind IS NOT NULL";

    /// <summary>The valid records' keys, ascending (for the key check's file pruning).</summary>
    public string SortedNewKeysSql => NewKeysSql + " ORDER BY ind";

    /// <summary>
    /// The new keys already held in <paramref name="existing"/> (a relation with an <c>ind</c> column): an inner join that
    /// hashes the new keys (the smaller side) and streams the held keys past them, so memory follows the run, not the table
    /// (an anti-join would hash every key of the table).
    /// </summary>
    public string HeldSql(string existing) => $"SELECT DISTINCT e.ind FROM {existing} e JOIN ({NewKeysSql}) n ON e.ind = n.ind";

    /// <summary>The rejects in arrival order.</summary>
    public string RejectsSql => $"SELECT origin, raw, reason, ind FROM {Stage} WHERE reason IS NOT NULL ORDER BY seq";

    /// <summary>
    /// SPEC §4 duplicates: one row per ind, the first seen; keys in <paramref name="held"/> (the new keys already in the
    /// target, <see cref="HeldSql"/>; null: none) are duplicates too. The rows are those of <see cref="FirstRowIdsSql"/>, in
    /// arrival order.
    /// </summary>
    public string CleanSql(string? held) => $"""
        SELECT {Columns}, {CleaningRules.QualityColumn} FROM {Stage}
        WHERE rowid IN ({FirstRowIdsSql(held)})
        ORDER BY seq
        """;

    /// <summary>
    /// The duplicates of the valid records deleted from the stage table, which then holds the clean rows (its rows without a
    /// reason) and the rejects: the rows of <see cref="CleanSql"/> without a second copy of them. The statement's count is
    /// the duplicates (<see cref="Result"/>'s <c>deleted</c>).
    /// </summary>
    /// <remarks>The rowids kept are filtered for null (a key whose rows all lack a seq has none): one null in a <c>NOT IN</c> list would keep every row.</remarks>
    public string DeleteDuplicatesSql(string? held) =>
        $"DELETE FROM {Stage} WHERE reason IS NULL AND rowid NOT IN (SELECT id FROM ({FirstRowIdsSql(held)}) f(id) WHERE id IS NOT NULL)";

    /// <summary>
    /// The rowids of the clean rows in the stage table: the valid record seen first of each ind whose key is not in
    /// <paramref name="held"/>. Found on the narrow (ind, seq, rowid) columns, so the wide rows are not held in a window's
    /// partitions.
    /// </summary>
    private string FirstRowIdsSql(string? held)
    {
        string notHeld = held is null ? "" : $" AND NOT EXISTS (SELECT 1 FROM {held} h WHERE h.ind = s.ind)";
        return $"SELECT arg_min(rowid, seq) FROM {Stage} s WHERE reason IS NULL{notHeld} GROUP BY ind";
    }

    /// <summary>
    /// One row of every count a <see cref="CleanResult"/> needs, read once the clean rows are filled: records read, valid
    /// records, clean rows, each quality rule's sum over the clean rows, the clean rows' distinct keys, rejects, each reject
    /// kind's count (<see cref="Result"/> reads them in this order). The rejects are counted in the stage table, so the
    /// counts may run before the reject table is filled, and that fill skipped when there is none (<see cref="RejectsIn"/>);
    /// the caller hands <see cref="Result"/> the rows the reject table received, which must match. After
    /// <see cref="DeleteDuplicatesSql"/> the stage table no longer holds the duplicates: the records read and valid then
    /// lack them (<see cref="Result"/>'s <c>deleted</c> adds them back).
    /// </summary>
    public string CountsSql
    {
        get
        {
            int rules = CleaningRules.QualityRulesOf(Kind).Count;
            var sums = Enumerable.Range(0, rules).Select(i => $"coalesce(sum(({CleaningRules.QualityColumn} >> {i}) & 1), 0)::BIGINT AS q{i}");
            var kinds = RejectKinds.All.Select((k, i) => $"count(*) FILTER (WHERE kind = {Sql.Literal(k)}) AS k{i}");
            return $"""
                SELECT * FROM
                    (SELECT count(*) AS read, count(*) FILTER (WHERE reason IS NULL) AS valid FROM {Stage}),
                    (SELECT count(*) AS clean, {string.Join(", ", sums)}, count(DISTINCT ind) AS clean_keys FROM {Clean}),
                    (SELECT count(*) AS rejects, {string.Join(", ", kinds)} FROM (SELECT {RejectKinds.KindSql("reason")} AS kind FROM {Stage} WHERE reason IS NOT NULL))
                """;
        }
    }

    /// <summary>The rejects in the row of <see cref="CountsSql"/>.</summary>
    public long RejectsIn(long[] counts)
    {
        ArgumentNullException.ThrowIfNull(counts);
        return counts[4 + CleaningRules.QualityRulesOf(Kind).Count];
    }

    /// <summary>The result from the row of <see cref="CountsSql"/>; throws when the counts do not reconcile.</summary>
    /// <param name="counts">The row of <see cref="CountsSql"/>.</param>
    /// <param name="rejectsWritten">The rows the reject table received (<see cref="RejectsSql"/>): each reject of the counts, once.</param>
    /// <param name="keyFilesRead">Files of the target the key check read.</param>
    /// <param name="keyFilesSkipped">Files of the target the key check skipped by their stats.</param>
    /// <param name="deleted">Duplicates deleted from the stage table before the counts (<see cref="DeleteDuplicatesSql"/>): records read and valid that it no longer holds.</param>
    /// <param name="newKeys">
    /// When the caller knows them: the valid records' distinct keys that the target did not hold, which must be the clean
    /// rows (one each). Without it the clean rows are only checked to have distinct keys.
    /// </param>
    /// <remarks>
    /// Read = clean + duplicates + rejects holds by construction (the duplicates are the valid records that are not clean
    /// rows); what the counts check of the duplicates themselves is that no two clean rows share a key and, with
    /// <paramref name="newKeys"/>, that no held key and no new key was lost or kept.
    /// </remarks>
    public CleanResult Result(long[] counts, long rejectsWritten, int keyFilesRead, int keyFilesSkipped, long deleted = 0, long? newKeys = null)
    {
        ArgumentNullException.ThrowIfNull(counts);
        ArgumentOutOfRangeException.ThrowIfNegative(deleted);
        var rules = CleaningRules.QualityRulesOf(Kind);
        long read = counts[0] + deleted, valid = counts[1] + deleted, clean = counts[2], cleanKeys = counts[3 + rules.Count];
        long rejects = RejectsIn(counts);
        long duplicates = valid - clean;
        if (duplicates < 0 || read != clean + duplicates + rejects)
            throw new InvalidOperationException(
                $"Cleaning {Kind} does not reconcile: read {read} != clean {clean} + duplicates {duplicates} + rejects {rejects}.");
        if (cleanKeys != clean)
            throw new InvalidOperationException($"Cleaning {Kind} does not reconcile: {clean} clean rows but {cleanKeys} distinct keys among them (duplicates kept).");
        if (newKeys is { } expected && clean != expected)
            throw new InvalidOperationException(
                $"Cleaning {Kind} does not reconcile: {clean} clean rows but {expected} valid keys the table did not hold ({(clean > expected ? "held keys kept" : "new keys lost")}).");
        if (rejectsWritten != rejects)
            throw new InvalidOperationException($"Cleaning {Kind} does not reconcile: {rejects} rejects, but the reject table received {rejectsWritten} rows.");
        var quality = rules.Select((r, i) => new QualityCount(r.Column, r.Rule, counts[3 + i])).ToArray();
        var reasons = RejectKinds.All.Select((k, i) => new RejectCount(k, counts[5 + rules.Count + i])).ToArray();
        return new CleanResult(Kind, read, clean, duplicates, rejects, quality, reasons) { KeyFilesRead = keyFilesRead, KeyFilesSkipped = keyFilesSkipped };
    }
}
