using DuckDB.NET.Data;
using PinPipe.DuckDb;
using PinPipe.Lake.Delta;

namespace PinPipe.Transform;

/// <summary>Which records of a micro-batch a <see cref="MicroBatchCleaner"/> cleans.</summary>
public enum MicroBatchPart
{
    /// <summary>Every record of the raw table.</summary>
    All,

    /// <summary>The records whose <c>for_clean</c> is true (the clean table has not committed them).</summary>
    ForClean,

    /// <summary>The records whose <c>for_rejects</c> is true (the reject table has not committed them).</summary>
    ForRejects,
}

/// <summary>
/// Cleans micro-batch after micro-batch of one table on one DuckDB connection (the streaming lane): the rules of
/// <see cref="CleaningRules"/> and the steps of <see cref="Cleaner"/> (<see cref="CleanSteps"/>), on tables it keeps between
/// micro-batches, through statements DuckDB plans once (SQL <c>PREPARE</c>). Planning the rules' statement costs more than
/// running it on a micro-batch of a thousand records (BENCHMARKS.md): <see cref="Cleaner"/>, which creates a table per step,
/// plans every statement again each time.
/// </summary>
/// <remarks>
/// <para>The connection is the cleaner's: it turns off DuckDB's optimizers that rewrite a plan from the tables' statistics
/// (<see cref="StatisticsOptimizers"/>), since a prepared plan would keep what they concluded from the micro-batch it was
/// planned for.</para>
/// <para>DuckDB plans a prepared statement again at every execution once any table or view of the database was created,
/// altered or dropped after the statement was prepared: nothing else may change the connection's catalog while the
/// cleaner is in use (<see cref="DuckDbSession.CopyToParquet"/> and queries may run).</para>
/// <para>An in-memory DuckDB keeps the blocks of rows deleted from a table until a checkpoint, which it runs by itself on
/// the main catalog only after some volume and never on the temp catalog: <see cref="Begin"/> checkpoints both, so the
/// tables hold one micro-batch at most. (Skipping one checkpoint is not cheap in memory: the next micro-batch of 1,000
/// pins then held about ten times the blocks of the first.)</para>
/// </remarks>
[System.Diagnostics.CodeAnalysis.SuppressMessage("Design", "CA1001:Types that own disposable fields should be disposable", Justification = "The rows OpenRows opened are the caller's to dispose; the cleaner only reads their counts.")]
public sealed class MicroBatchCleaner
{
    private readonly DuckDBConnection _connection;
    private readonly CleanSteps _steps;
    private readonly string _raw;
    private readonly string? _fields; // the records our parser read, as their fields' texts (null: DuckDB's JSON functions read every record)
    private readonly string _rejectedLines; // the text of those among them that the rules rejected, for the stage's raw column
    private readonly FieldReader? _parser;
    private readonly int _fieldColumns;
    private readonly KeptText _kept = new(); // the text of the micro-batch's records that our parser read
    private MicroBatchRows? _rows; // opened since Begin (a second would number its records from 0 again): what went to the raw and fields tables
    private (List<long> Keys, IReadOnlyList<long> Held)? _checked; // the last clean's valid keys and those of them the table held, when the check knew all held ones
    private readonly string _held, _heldName;
    private readonly string _prefix;
    private readonly HashSet<(MicroBatchPart Part, bool Lines)> _prepared = [];
    private readonly (string Name, string Table)[] _stepTables; // the tables each clean empties first, by the name of their prepared DELETE
    private readonly HashSet<string> _filled = new(StringComparer.Ordinal); // the steps' tables that may hold rows since they were last emptied, by name: only those are emptied (most micro-batches have no rejects)

    /// <summary>
    /// The clean table's keys kept between micro-batches (<see cref="DeltaSnapshot.OpenKeyScanAsync(string, IReadOnlyList{long}, DeltaKeyCache?, CancellationToken)"/>);
    /// null: each micro-batch reads the key column of every file its stats do not rule out. The owner of the table sets it,
    /// and keeps it across the cleaners of its DuckDB instances.
    /// </summary>
    public DeltaKeyCache? KeyCache { get; init; }

    /// <summary>DuckDB's optimizers whose rewrites depend on the tables' statistics at planning time.</summary>
    internal const string StatisticsOptimizers = "statistics_propagation,compressed_materialization";

    /// <summary>Creates the cleaner's tables on <paramref name="connection"/> (replacing any of the same names) and prepares its statements.</summary>
    /// <param name="connection">An open connection, used by this cleaner alone; its <c>TimeZone</c> is set to UTC (timestamps are UTC).</param>
    /// <param name="kind">Which table's rules apply.</param>
    /// <param name="cancellationToken">Interrupts the running statement.</param>
    public MicroBatchCleaner(DuckDBConnection connection, RecordKind kind, CancellationToken cancellationToken = default)
        : this(connection, kind, RecordParser.PinPipe, cancellationToken)
    {
    }

    /// <summary>Creates the cleaner's tables on <paramref name="connection"/> (replacing any of the same names) and prepares its statements.</summary>
    /// <param name="connection">An open connection, used by this cleaner alone; its <c>TimeZone</c> is set to UTC (timestamps are UTC).</param>
    /// <param name="kind">Which table's rules apply.</param>
    /// <param name="parser">Who reads the records' JSON as <see cref="OpenRows"/> adds them: our parser for the records it reads
    /// exactly, DuckDB's JSON functions for the rest (<see cref="RecordParser.PinPipe"/>), or DuckDB's for all. Same results.</param>
    /// <param name="cancellationToken">Interrupts the running statement.</param>
    public MicroBatchCleaner(DuckDBConnection connection, RecordKind kind, RecordParser parser, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(connection);
        if (connection.State != System.Data.ConnectionState.Open)
            throw new InvalidOperationException("The DuckDB connection must be open.");
        _connection = connection;
        Kind = kind;
        string t = CleaningRules.TableName(kind);
        RawTable = "raw_" + t;
        _raw = "main." + Sql.Identifier(RawTable);
        if (!Enum.IsDefined(parser)) throw new ArgumentOutOfRangeException(nameof(parser), parser, "Unknown parser.");
        if (parser == RecordParser.PinPipe)
        {
            _parser = new FieldReader(kind);
            _fields = "main." + Sql.Identifier(RawLoader.FieldsTableOf(RawTable));
            _fieldColumns = CleaningRules.Rules(kind).Fields.Count + 1; // the key and the rules' fields; the others are only counted
        }
        _rejectedLines = "_pinpipe_rejected_lines_" + t;
        _heldName = "_pinpipe_held_" + t;
        _held = "temp.main." + Sql.Identifier(_heldName);
        _prefix = "pinpipe_" + t + "_";
        string stage = "temp.main." + Sql.Identifier("_pinpipe_stage_" + t);
        // The clean rows stay in the stage table (its duplicates deleted, CleanSteps.DeleteDuplicatesSql): no copy of them.
        _steps = new CleanSteps(kind, stage, $"(SELECT * FROM {stage} WHERE reason IS NULL)", "main." + Sql.Identifier(CleaningRules.RejectTable(kind)));

        // Every table first: a statement prepared before a table is created would be planned again at each execution.
        Execute("SET TimeZone = 'UTC'");
        // A prepared plan keeps what these optimizers concluded from the tables' statistics when it was planned (with the
        // tables empty: "reason IS NOT NULL" always true, ind a one-byte integer), which later micro-batches contradict.
        Execute($"SET disabled_optimizers = {Sql.Literal(StatisticsOptimizers)}");
        Execute($"CREATE OR REPLACE TABLE {_raw} (seq BIGINT, origin VARCHAR, line VARCHAR, for_clean BOOLEAN, for_rejects BOOLEAN)");
        if (_fields is not null)
        {
            string fieldColumns = string.Join(", ", _parser!.Names.Take(_fieldColumns).Select(n => Sql.Identifier("f_" + n) + " VARCHAR"));
            Execute($"CREATE OR REPLACE TABLE {_fields} (seq BIGINT, origin VARCHAR, for_clean BOOLEAN, for_rejects BOOLEAN, {fieldColumns})");
            Execute($"CREATE OR REPLACE TEMP TABLE {Sql.Identifier(_rejectedLines)} (seq BIGINT, raw VARCHAR)");
        }
        Execute($"CREATE OR REPLACE TEMP TABLE {_steps.Stage} AS SELECT * FROM ({CleaningRules.StageQuerySql(kind, _raw)}) LIMIT 0");
        Execute($"CREATE OR REPLACE TEMP TABLE {_held} (ind BIGINT)");
        Execute($"CREATE OR REPLACE TABLE {_steps.Rejects} AS {_steps.RejectsSql} LIMIT 0");
        Prepare("keys", _steps.SortedNewKeysSql);
        Prepare("rejects", $"INSERT INTO {_steps.Rejects} {_steps.RejectsSql}");
        Prepare("delete_duplicates", _steps.DeleteDuplicatesSql(_held));
        Prepare("counts", _steps.CountsSql);
        Prepare("clean_keys", $"SELECT DISTINCT ind FROM {_steps.Clean} WHERE ind IS NOT NULL ORDER BY ind");
        if (_fields is not null)
        {
            Prepare("rejected_seqs", $"SELECT seq FROM {_steps.Stage} WHERE reason IS NOT NULL AND raw IS NULL ORDER BY seq");
            Prepare("rejected_text", $"UPDATE {_steps.Stage} SET raw = l.raw FROM temp.main.{Sql.Identifier(_rejectedLines)} l WHERE {_steps.Stage}.seq = l.seq");
            Prepare("clear_fields", $"DELETE FROM {_fields}");
        }
        PrepareStage(MicroBatchPart.All, lines: true);
        if (_fields is not null)
        {
            PrepareStage(MicroBatchPart.All, lines: false);
            Prepare("has_lines", $"SELECT count(*) FROM (SELECT 1 FROM {_raw} LIMIT 1)");
        }
        // Emptying the tables between micro-batches, planned once too.
        Prepare("clear_raw", $"DELETE FROM {_raw}");
        _stepTables = _fields is null
            ? [("stage", _steps.Stage), ("held", _held), ("rejects", _steps.Rejects)]
            : [("stage", _steps.Stage), ("held", _held), ("rejects", _steps.Rejects), ("rejected_lines", "temp.main." + Sql.Identifier(_rejectedLines))];
        foreach (var (name, table) in _stepTables) Prepare("clear_" + name, $"DELETE FROM {table}");
        CleanRowsSql = $"(SELECT {_steps.Columns} FROM {_steps.Clean} ORDER BY ind)";
        CleanRowSetSql = $"(SELECT {_steps.Columns} FROM {_steps.Clean})";
        RejectRowsSql = $"(SELECT * FROM {_steps.Rejects})";

        void Execute(string sql) => connection.Execute(sql, cancellationToken);
    }

    /// <summary>The table whose rules apply.</summary>
    public RecordKind Kind { get; }

    /// <summary>
    /// The table the micro-batch's records go to before <see cref="CleanAsync"/> as JSON text (in the connection's main schema;
    /// <see cref="OpenRows"/> appends to it; a caller may fill it with an appender of its own instead, in a micro-batch
    /// whose rows it does not open: the cleaner goes by what opened rows added, and reads the table only when none were
    /// opened): <c>seq BIGINT</c> (arrival order),
    /// <c>origin VARCHAR</c>, <c>line VARCHAR</c> (the JSON text), <c>for_clean BOOLEAN</c> and <c>for_rejects BOOLEAN</c>
    /// (see <see cref="MicroBatchPart"/>). <see cref="Begin"/> empties it.
    /// </summary>
    public string RawTable { get; }

    /// <summary>
    /// Opens the micro-batch's rows after <see cref="Begin"/>: each record added goes to the tables as its fields or as its
    /// text (<see cref="MicroBatchRows"/>). Dispose them before <see cref="CleanAsync"/>. Once per micro-batch: the records are
    /// numbered from 0, so a second call before the next <see cref="Begin"/> is refused.
    /// </summary>
    public MicroBatchRows OpenRows()
    {
        if (_rows is not null) throw new InvalidOperationException("The micro-batch's rows were opened already: call Begin first.");
#pragma warning disable CA2000 // owned by the rows, which the caller disposes
        var lines = _connection.CreateAppender(RawTable);
        DuckDBAppender? fields = null;
        try
        {
            if (_fields is not null) fields = _connection.CreateAppender(RawLoader.FieldsTableOf(RawTable));
        }
        catch
        {
            lines.Dispose();
            throw;
        }
#pragma warning restore CA2000
        return _rows = new MicroBatchRows(lines, fields, _parser, _fieldColumns, _kept);
    }

    /// <summary>
    /// A parenthesized query of the last clean's clean rows (schema <see cref="CleaningRules.Schema"/>), sorted by <c>ind</c>:
    /// a file's row groups then cover narrow ind ranges that a later key check can skip.
    /// </summary>
    public string CleanRowsSql { get; }

    /// <summary>The rows of <see cref="CleanRowsSql"/> in no order, for aggregates over them (a Delta file's stats).</summary>
    public string CleanRowSetSql { get; }

    /// <summary>
    /// The last clean's <paramref name="rows"/> clean rows as a micro-batch's file takes them: <see cref="CleanRowsSql"/>,
    /// sorted by <c>ind</c>, when they fill more than one of the file's row groups (<see cref="DuckDbSession.RowGroupRows"/>),
    /// <see cref="CleanRowSetSql"/> otherwise. A file of one row group has one ind range, its stats, whatever its rows'
    /// order; sorting them cost 13 % of the Parquet write of 20,000 pins (BENCHMARKS.md, "micro-batch").
    /// </summary>
    public string CleanFileRowsSql(long rows) => rows > DuckDbSession.RowGroupRows ? CleanRowsSql : CleanRowSetSql;

    /// <summary>A parenthesized query of the last clean's rejects (schema <see cref="CleaningRules.RejectSchema"/>), in arrival order.</summary>
    public string RejectRowsSql { get; }

    /// <summary>
    /// The distinct <c>ind</c> keys of the last clean's clean rows (<see cref="CleanRowsSql"/>), ascending: the keys of the
    /// file written from them, for a <see cref="DeltaKeyCache"/> once that file is committed.
    /// </summary>
    public long[] CleanKeys(CancellationToken cancellationToken = default)
    {
        // The clean rows are one for each valid key that the table does not hold: when the check knew every held key
        // (none was found by a scan's join in SQL), they are the valid keys without the held ones, with no statement.
        if (_checked is { } known) return Except(known.Keys, known.Held);
        return [.. _connection.Query($"EXECUTE {_prefix}clean_keys", r => r.GetInt64(0), cancellationToken)];
    }

    /// <summary>The ascending <paramref name="keys"/> that the ascending <paramref name="held"/> (each among them) lacks.</summary>
    private long[] Except(List<long> keys, IReadOnlyList<long> held)
    {
        long[] result = SortedKeys.Except(keys, held, out int matched);
        if (matched != held.Count) throw new InvalidOperationException($"{Kind}: {held.Count - matched} of the {held.Count} held keys are not among the micro-batch's valid keys.");
        return result;
    }

    /// <summary>
    /// Empties the raw table and the steps' tables, for the next micro-batch, and hands their blocks back to DuckDB's
    /// allocator (a <c>CHECKPOINT</c> of the main and temp catalogs, which changes no table: the prepared statements stay
    /// planned).
    /// </summary>
    public void Begin(CancellationToken cancellationToken = default)
    {
        // The rows opened for the last micro-batch tell which of the two tables they filled (a failed add counts: it may
        // have left a row); without them, a caller's appender may have filled the raw table, and both are emptied.
        if (_rows is null || _rows.Texts > 0) _connection.Execute($"EXECUTE {_prefix}clear_raw", cancellationToken);
        if (_fields is not null && (_rows is null || _rows.Count > _rows.Texts)) _connection.Execute($"EXECUTE {_prefix}clear_fields", cancellationToken);
        _kept.Clear();
        _rows = null;
        ClearSteps(cancellationToken);
        // The deleted rows' blocks go back only with a checkpoint: DuckDB's automatic one runs on the main database after
        // some volume (the raw table then swings by tens of MB between them) and never on the temp catalog (the stage table
        // would keep every micro-batch's rows until the database closes).
        _connection.Execute("CHECKPOINT", cancellationToken);
        _connection.Execute("CHECKPOINT temp", cancellationToken);
    }

    /// <summary>
    /// Cleans <paramref name="part"/> of the raw table's records into the clean rows (<see cref="CleanRowsSql"/>) and rejects
    /// (<see cref="RejectRowsSql"/>), replacing the last clean's; a valid record whose key is in <paramref name="table"/>
    /// (read as <see cref="Cleaner.CleanAgainstAsync(DuckDBConnection, RecordKind, string, DeltaSnapshot?, CancellationToken)"/>
    /// reads it: only the files whose <c>ind</c> stats allow a new key) is a duplicate.
    /// </summary>
    /// <returns>The counts, which reconcile: read = clean + duplicates + rejects.</returns>
    public Task<CleanResult> CleanAsync(MicroBatchPart part, DeltaSnapshot? table, CancellationToken cancellationToken = default)
    {
        if (!Enum.IsDefined(part)) throw new ArgumentOutOfRangeException(nameof(part), part, "Unknown part of a micro-batch.");
        cancellationToken.ThrowIfCancellationRequested();
        // DuckDB.NET runs queries synchronously: the caller's thread stays free.
        return Task.Run(() => Clean(part, table, cancellationToken), cancellationToken);
    }

    /// <summary><see cref="CleanAsync"/> on the caller's thread, where DuckDB runs it with one thread (the bench's probe times it by that thread's CPU clock).</summary>
    internal CleanResult Clean(MicroBatchPart part, DeltaSnapshot? table, CancellationToken cancellationToken)
    {
        ClearSteps(cancellationToken);
        _checked = null;
        // A micro-batch our parser read whole has no JSON text to read: the rules' statement without that branch (DuckDB
        // sets up every operator of a plan at each execution, rows or none; about 40 % of the statement's time at a few
        // hundred records). The rules are the same: one query, its text relation empty (CleaningRules.StageQuerySql).
        // The rows opened for it know whether any record went in as text; a caller's own appender is asked of the table.
        bool lines = _fields is null || (_rows is { } rows ? rows.Texts > 0 : _connection.QueryLongs($"EXECUTE {_prefix}has_lines", cancellationToken)[0] > 0);
        if (!lines) FieldsOnlyStages++;
        Fill("stage", PrepareStage(part, lines));
        DeltaKeyScan? keyScan = null;
        try
        {
            if (table is not null && table.Files.Count > 0)
            {
                var keys = _connection.Query($"EXECUTE {_prefix}keys", r => r.GetInt64(0), cancellationToken);
#pragma warning disable CA2000 // disposed in finally
                keyScan = table.OpenKeyScanAsync("ind", keys, KeyCache, cancellationToken).GetAwaiter().GetResult();
#pragma warning restore CA2000
                // The keys the cache held (or read into it) are appended; the files it could not hold are joined.
                if (keyScan.HeldKeys.Count > 0)
                {
                    _filled.Add("held");
                    using var appender = _connection.CreateAppender("temp", "main", _heldName);
                    foreach (long key in keyScan.HeldKeys) appender.CreateRow().AppendValue(key).EndRow();
                }
                // Its files differ each time: planned each time, an insert (no table created, so the prepared statements stay planned).
                if (keyScan.FilesScanned > 0)
                {
                    _filled.Add("held");
                    _connection.Execute($"INSERT INTO {_held} {_steps.HeldSql(keyScan.Sql)}", cancellationToken);
                }
                else _checked = (keys, keyScan.HeldKeys);
            }
            long duplicates = _connection.ExecuteChanged($"EXECUTE {_prefix}delete_duplicates", cancellationToken);
            long[] counts = _connection.QueryLongs($"EXECUTE {_prefix}counts", cancellationToken);
            // The rejects are counted in the stage table: most micro-batches have none, and skip the two statements that
            // give them their text and copy them to the reject table.
            long rejectsWritten = 0;
            if (_steps.RejectsIn(counts) > 0)
            {
                if (_fields is not null) FillRejectedLines(cancellationToken);
                _filled.Add("rejects");
                rejectsWritten = _connection.ExecuteChanged($"EXECUTE {_prefix}rejects", cancellationToken);
                RejectsFilled++;
            }
            // When the check knew every held key, the clean rows must be the other valid keys, one each (no statement).
            long? newKeys = _checked is { } known ? known.Keys.Count - known.Held.Count : null;
            var result = _steps.Result(counts, rejectsWritten, keyScan?.FilesRead ?? 0, keyScan?.FilesSkipped ?? 0, deleted: duplicates, newKeys: newKeys);
            return result with { KeyFilesCached = keyScan?.FilesCached ?? 0 };
        }
        finally
        {
            keyScan?.Dispose();
        }

        // Marked before the statement runs (a failed one may have left rows), unmarked when it inserted none.
        void Fill(string step, string statement)
        {
            _filled.Add(step);
            if (_connection.ExecuteChanged($"EXECUTE {_prefix}{statement}", cancellationToken) == 0) _filled.Remove(step);
        }
    }

    /// <summary>Gives the stage's rejects among the records our parser read their text, kept as the micro-batch's rows were added.</summary>
    private void FillRejectedLines(CancellationToken cancellationToken)
    {
        var seqs = _connection.Query($"EXECUTE {_prefix}rejected_seqs", r => r.GetInt64(0), cancellationToken);
        if (seqs.Count == 0) return;
        _filled.Add("rejected_lines");
        using (var appender = _connection.CreateAppender("temp", "main", _rejectedLines))
        {
            foreach (var (seq, line) in _kept.LinesOf(seqs)) appender.CreateRow().AppendValue(seq).AppendValue(line).EndRow();
        }
        _connection.Execute($"EXECUTE {_prefix}rejected_text", cancellationToken);
    }

    private void ClearSteps(CancellationToken cancellationToken)
    {
        if (_filled.Count == 0) return;
        foreach (var (name, _) in _stepTables)
        {
            if (_filled.Contains(name)) _connection.Execute($"EXECUTE {_prefix}clear_{name}", cancellationToken);
        }
        _filled.Clear();
    }

    /// <summary>
    /// Prepares the rules' statement for <paramref name="part"/> the first time it is cleaned (the parts other than all are
    /// rare: after a crash between a micro-batch's two commits), and returns its name. Without <paramref name="lines"/> the
    /// raw table's JSON text is an empty relation (<c>LIMIT 0</c>), which DuckDB's planner drops with every expression
    /// that reads it: for micro-batches whose records our parser read whole.
    /// </summary>
    private string PrepareStage(MicroBatchPart part, bool lines)
    {
        string name = lines ? "stage_" + part : "stage_" + part + "_fields";
        if (!_prepared.Add((part, lines))) return name;
        string where = part switch
        {
            MicroBatchPart.ForClean => " WHERE for_clean",
            MicroBatchPart.ForRejects => " WHERE for_rejects",
            _ => "",
        };
        string raw = lines ? $"(SELECT seq, origin, line FROM {_raw}{where})" : $"(SELECT seq, origin, line FROM {_raw} LIMIT 0)";
        string? fields = _fields is null ? null : $"(SELECT * EXCLUDE (for_clean, for_rejects) FROM {_fields}{where})";
        Prepare(name, $"INSERT INTO {_steps.Stage} {CleaningRules.StageQuerySql(Kind, raw, fields)}");
        return name;
    }

    /// <summary>Cleans whose micro-batch our parser read whole, so the rules' statement ran without its JSON text branch (for tests).</summary>
    internal long FieldsOnlyStages { get; private set; }

    /// <summary>Cleans that had rejects, so that their text was found and they were copied to the reject table (for tests).</summary>
    internal long RejectsFilled { get; private set; }

    private void Prepare(string name, string sql) => _connection.Execute($"PREPARE {_prefix}{name} AS {sql}");
}
