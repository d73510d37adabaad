using DuckDB.NET.Data;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;
using PinPipe.DuckDb;
using PinPipe.Lake;
using PinPipe.Lake.Delta;
using PinPipe.Log;
using PinPipe.Streaming;
using PinPipe.Transform;

namespace PinPipe.Verify;

/// <summary>
/// Streams ↔ streaming Delta tables: every record of a stream up to its clean table's position is a clean row (its
/// <c>ind</c> in the table exactly once) or a duplicate of one (an <c>ind</c> an earlier record already gave), and every
/// record the cleaning rules reject, up to the reject table's position, is one reject row (by its origin); no row comes
/// from nowhere. Records are classified by the cleaning rules themselves (<see cref="CleaningRules"/>, in DuckDB); of the
/// tables only the <c>ind</c> and <c>origin</c> columns are read. The records come from the log's streams
/// (<see cref="LogStreamRecords"/>) or Kinesis's (<see cref="KinesisStreamRecords"/>), as the stream job read them.
/// </summary>
internal sealed class StreamTablesCheck(StreamRecords records, IObjectStore store, StreamTarget target, VerifyOptions options, string workFolder)
{
    /// <summary>A check of the log's streams.</summary>
    public StreamTablesCheck(ILog log, IObjectStore store, StreamTarget target, VerifyOptions options, string workFolder)
        : this(new LogStreamRecords(log, options), store, target, options, workFolder)
    {
    }

    public async Task<VerifyCheck> RunAsync(RecordKind kind, CancellationToken cancellationToken)
    {
        string stream = target.Names.Streams[(int)kind];
        var check = new CheckBuilder("stream-tables", stream, options.MaxListed);
        var cleanTable = new DeltaTable(store, target.TablePrefix(kind));
        var rejectsTable = new DeltaTable(store, target.TablePrefix(kind, rejects: true));
        var clean = await cleanTable.LoadAsync(cancellationToken: cancellationToken).ConfigureAwait(false);
        var rejects = await rejectsTable.LoadAsync(cancellationToken: cancellationToken).ConfigureAwait(false);
        if (clean is null && rejects is null)
        {
            check.Note($"No streaming Delta tables of '{stream}' yet ({cleanTable.Location}): nothing to compare.");
            return check.Build();
        }

        Directory.CreateDirectory(workFolder);
        using var db = DuckDbSession.Open(new DuckDbSettings { MemoryLimit = options.MemoryLimit, TempDirectory = workFolder });
        db.Execute("CREATE TABLE raw (seq BIGINT, origin VARCHAR, line VARCHAR, for_clean BOOLEAN, for_rejects BOOLEAN)", cancellationToken);
        StreamRecordsRead read;
        using (var appender = db.CreateAppender("raw"))
            read = await records.ReadAsync(stream, clean, rejects, check, new RecordRows(appender), cancellationToken).ConfigureAwait(false);
        if (!read.Compared) return check.Build();

        db.Execute(CleaningRules.StageSql(kind, "raw", "stage"), cancellationToken);
        db.Execute("""
            CREATE TABLE classified AS
            SELECT s.origin, s.ind, r.seq,
                   s.reason IS NULL AND r.for_clean AS for_clean,
                   s.reason IS NOT NULL AND r.for_rejects AS for_rejects
            FROM stage s JOIN raw r USING (seq)
            """, cancellationToken);
        db.Execute("DROP TABLE stage; DROP TABLE raw", cancellationToken);
        check.Checked = db.QueryLongs("SELECT count(*) FROM classified WHERE for_clean OR for_rejects", cancellationToken)[0];

        using var cleanScan = clean is null ? null : await clean.OpenScanAsync(["ind"], cancellationToken).ConfigureAwait(false);
        using var rejectsScan = rejects is null ? null : await rejects.OpenScanAsync(["origin"], cancellationToken).ConfigureAwait(false);
        db.Execute($"CREATE TABLE clean_rows AS SELECT ind FROM {cleanScan?.Sql ?? "(SELECT NULL::BIGINT AS ind WHERE false)"}", cancellationToken);
        db.Execute($"CREATE TABLE reject_rows AS SELECT origin FROM {rejectsScan?.Sql ?? "(SELECT NULL::VARCHAR AS origin WHERE false)"}", cancellationToken);

        long[] figures = db.QueryLongs("""
            SELECT (SELECT count(*) FROM classified WHERE for_clean), (SELECT count(DISTINCT ind) FROM classified WHERE for_clean),
                   (SELECT count(*) FROM classified WHERE for_rejects), (SELECT count(*) FROM clean_rows), (SELECT count(*) FROM reject_rows)
            """, cancellationToken);
        check.Figure("records", check.Checked);
        check.Figure("cleanRows", figures[3]);
        check.Figure("duplicates", figures[0] - figures[1]);
        check.Figure("rejectRows", figures[4]);

        // A key twice in the clean table; a reject twice.
        foreach (var (ind, n) in db.Query("SELECT ind, count(*) FROM clean_rows GROUP BY ind HAVING count(*) > 1 ORDER BY ind", r => (r.GetInt64(0), r.GetInt64(1)), cancellationToken))
            check.Problem("duplicate", $"{cleanTable.Prefix} ind {ind}", $"ind {ind} is {n} times in {cleanTable.Location}: a record landed twice.");
        foreach (var (origin, n) in db.Query("SELECT origin, count(*) FROM reject_rows GROUP BY origin HAVING count(*) > 1 ORDER BY origin", r => (r.GetString(0), r.GetInt64(1)), cancellationToken))
            check.Problem("duplicate", origin, $"The reject of {origin} is {n} times in {rejectsTable.Location}.");
        // A record up to the table's position in no row.
        foreach (var (origin, ind) in db.Query("SELECT arg_min(origin, seq), ind FROM classified WHERE for_clean AND ind NOT IN (SELECT ind FROM clean_rows WHERE ind IS NOT NULL) GROUP BY ind ORDER BY min(seq)",
                     r => (r.GetString(0), r.GetInt64(1)), cancellationToken))
            check.Problem("gap", origin, $"The record at {origin} (ind {ind}) is within the clean table's position but its ind is not in {cleanTable.Location}: it was lost.");
        foreach (string origin in db.Query("SELECT origin FROM classified WHERE for_rejects AND origin NOT IN (SELECT origin FROM reject_rows WHERE origin IS NOT NULL) ORDER BY seq", r => r.GetString(0), cancellationToken))
            check.Problem("gap", origin, $"The record at {origin} is a reject by the cleaning rules and within the reject table's position, but not in {rejectsTable.Location}: it was lost.");
        // A row no record up to the positions explains.
        long extraClean = 0, extraRejects = 0;
        foreach (long ind in db.Query("SELECT DISTINCT ind FROM clean_rows WHERE ind NOT IN (SELECT ind FROM classified WHERE for_clean AND ind IS NOT NULL) ORDER BY ind", r => r.GetInt64(0), cancellationToken))
        {
            extraClean++;
            if (read.CleanExtrasExplained is null)
                check.Problem("extra", $"{cleanTable.Prefix} ind {ind}", $"ind {ind} is in {cleanTable.Location} but no record of '{stream}' within the table's position has it.");
        }
        foreach (string origin in db.Query("""
                SELECT r.origin FROM reject_rows r WHERE r.origin NOT IN (SELECT origin FROM classified WHERE for_rejects)
                ORDER BY r.origin
                """, r => r.GetString(0), cancellationToken))
        {
            extraRejects++;
            if (read.RejectsExtrasExplained is null)
                check.Problem("extra", origin, $"{rejectsTable.Location} holds a reject of {origin}, which is not a rejected record of '{stream}' within the table's position.");
        }
        if ((extraClean > 0 && read.CleanExtrasExplained is not null) || (extraRejects > 0 && read.RejectsExtrasExplained is not null))
            check.Note($"{extraClean} clean and {extraRejects} reject rows come from records {read.CleanExtrasExplained ?? read.RejectsExtrasExplained}: not checked.");
        return check.Build();
    }
}

/// <summary>What <see cref="StreamRecords.ReadAsync"/> found.</summary>
/// <param name="Compared">The records were read: compare them with the tables (false: the check's notes say why not).</param>
/// <param name="CleanExtrasExplained">Why clean rows without a record read are not problems (the stream no longer holds every record), or null.</param>
/// <param name="RejectsExtrasExplained">The same for reject rows.</param>
internal sealed record StreamRecordsRead(bool Compared, string? CleanExtrasExplained = null, string? RejectsExtrasExplained = null)
{
    public static StreamRecordsRead NotCompared { get; } = new(false);
}

/// <summary>
/// Where <see cref="StreamTablesCheck"/> gets a stream's records: each record up to a table's position, as the stream
/// job read it, with the table or tables that should hold it.
/// </summary>
internal abstract class StreamRecords
{
    /// <summary>
    /// Reads the records of <paramref name="stream"/> that the tables' positions (their txns) cover into
    /// <paramref name="rows"/>, in the stream's order (partition or shard, then position); adds notes and problems of the
    /// positions themselves to <paramref name="check"/>.
    /// </summary>
    public abstract Task<StreamRecordsRead> ReadAsync(string stream, DeltaSnapshot? clean, DeltaSnapshot? rejects, CheckBuilder check, RecordRows rows,
        CancellationToken cancellationToken);
}

/// <summary>A stream's records as DuckDB's raw table takes them: sequence, origin, the value as the job hands it to the rules, and which tables it is for.</summary>
internal sealed class RecordRows(DuckDBAppender appender)
{
    private long _seq;

    /// <summary>Adds a record that one of the tables should hold (bytes that are not UTF-8 as their envelope, as the stream job does).</summary>
    public void Add(string origin, ReadOnlyMemory<byte>? value, bool forClean, bool forRejects)
    {
        if (!forClean && !forRejects) return;
        string line = value is { } v ? RecordLine.ToText(v.Span) : "";
        appender.CreateRow().AppendValue(_seq++).AppendValue(origin).AppendValue(line).AppendValue(forClean).AppendValue(forRejects).EndRow();
    }
}
