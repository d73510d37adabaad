using System.Globalization;
using DuckDB.NET.Data;
using PinPipe.DuckDb;
using PinPipe.Lake;
using PinPipe.Lake.Delta;
using PinPipe.Log;
using PinPipe.Streaming;
using PinPipe.Transform;

namespace PinPipe.Verify;

/// <summary>
/// Streams ↔ streaming Delta tables: every record of a stream below its clean table's txn offset is a clean row (its
/// <c>ind</c> in the table exactly once) or a duplicate of one (an <c>ind</c> an earlier record already gave), and every
/// record the cleaning rules reject, below the reject table's txn offset, is one reject row (by its origin); no row comes
/// from nowhere. Records are classified by the cleaning rules themselves (<see cref="CleaningRules"/>, in DuckDB); of the
/// tables only the <c>ind</c> and <c>origin</c> columns are read. A table the job started at the stream's end
/// (<c>--from latest</c>) is compared from the offsets its start commit marked (<see cref="StreamCheckpoint.StartAppId"/>).
/// </summary>
internal sealed class StreamTablesCheck(ILog log, IObjectStore store, StreamTarget target, VerifyOptions options, string workFolder)
{
    public async Task<VerifyCheck> RunAsync(RecordKind kind, CancellationToken cancellationToken)
    {
        string stream = target.Names.Streams[(int)kind];
        var check = new CheckBuilder("stream-tables", stream, options.MaxListed);
        var cleanTable = new DeltaTable(store, target.TablePrefix(kind));
        var rejectsTable = new DeltaTable(store, target.TablePrefix(kind, rejects: true));
        var clean = await cleanTable.LoadAsync(cancellationToken: cancellationToken).ConfigureAwait(false);
        var rejects = await rejectsTable.LoadAsync(cancellationToken: cancellationToken).ConfigureAwait(false);
        var topic = await log.DescribeTopicAsync(stream, cancellationToken).ConfigureAwait(false);
        if (topic is null)
        {
            check.Note($"The log has no stream '{stream}'{(clean is null ? "" : $": table {cleanTable.Location} was not compared with records")}.");
            return check.Build();
        }
        if (clean is null && rejects is null)
        {
            check.Note($"No streaming Delta tables of '{stream}' yet ({cleanTable.Location}): nothing to compare.");
            return check.Build();
        }
        var cleanMark = StreamCheckpoint.Read(clean?.Txns, stream, topic.TopicId, topic.Partitions);
        var rejectsMark = StreamCheckpoint.Read(rejects?.Txns, stream, topic.TopicId, topic.Partitions);
        if (cleanMark.ForeignKey is not null || rejectsMark.ForeignKey is not null)
        {
            check.Note($"The tables of '{stream}' hold the offsets of an earlier incarnation of the stream (it was deleted and created again): not compared; the stream job stops on it until reset.");
            return check.Build();
        }

        // Where the job first read a partition from the stream's end (--from latest): the records below were never meant for the tables.
        long?[] cleanStarts = StreamCheckpoint.ReadStarts(clean?.Txns, stream, cleanMark.Key, topic.Partitions);
        long?[] rejectsStarts = StreamCheckpoint.ReadStarts(rejects?.Txns, stream, rejectsMark.Key, topic.Partitions);
        if (cleanStarts.Any(s => s is not null) || rejectsStarts.Any(s => s is not null))
            check.Note($"The stream job started reading '{stream}' at its end (--from latest), at offsets [{string.Join(", ", cleanStarts.Select(s => s?.ToString(CultureInfo.InvariantCulture) ?? "0"))}]: the records below were not compared.");

        Directory.CreateDirectory(workFolder);
        using var db = DuckDbSession.Open(new DuckDbSettings { MemoryLimit = options.MemoryLimit, TempDirectory = workFolder });
        db.Execute("CREATE TABLE raw (seq BIGINT, origin VARCHAR, line VARCHAR, p INTEGER, o BIGINT)", cancellationToken);
        db.Execute("CREATE TABLE marks (p INTEGER, clean_next BIGINT, rejects_next BIGINT, low BIGINT, clean_start BIGINT, rejects_start BIGINT)", cancellationToken);
        bool retention = false;
        long seq = 0;
        for (int p = 0; p < topic.Partitions; p++)
        {
            long cleanNext = cleanMark.Offsets[p] ?? 0, rejectsNext = rejectsMark.Offsets[p] ?? 0;
            long cleanStart = cleanStarts[p] ?? 0, rejectsStart = rejectsStarts[p] ?? 0;
            var marks = await log.GetWatermarksAsync(stream, p, cancellationToken).ConfigureAwait(false);
            retention |= marks.Low > 0;
            db.Execute("INSERT INTO marks VALUES ($1, $2, $3, $4, $5, $6)", [p, cleanNext, rejectsNext, marks.Low, cleanStart, rejectsStart], cancellationToken);
            long end = Math.Max(cleanNext, rejectsNext);
            if (end > marks.High)
                check.Problem("extra", $"{stream}/{p}", $"The tables of '{stream}' say partition {p} was read up to offset {end - 1}, past the log's end ({marks.High}): the log lost records the tables hold, or the tables are of another log.");
            using var appender = db.CreateAppender("raw");
            for (long at = Math.Max(marks.Low, Math.Min(cleanStart, rejectsStart)); at < end;)
            {
                var read = await log.ReadAsync(stream, p, at, options.ReadChunk, cancellationToken).ConfigureAwait(false);
                if (read.Count == 0) break;
                foreach (var r in read)
                {
                    if (r.Offset >= end) break;
                    string origin = string.Create(CultureInfo.InvariantCulture, $"{stream}/{p}/{r.Offset}");
                    // As the stream job hands records to the rules (RawRows): bytes that are not UTF-8 as their envelope.
                    string line = r.Value is null ? "" : RecordLine.ToText(r.Value);
                    appender.CreateRow().AppendValue(seq++).AppendValue(origin).AppendValue(line).AppendValue(p).AppendValue(r.Offset).EndRow();
                }
                at = read[^1].Offset + 1;
            }
        }
        db.Execute(CleaningRules.StageSql(kind, "raw", "stage"), cancellationToken);
        db.Execute("""
            CREATE TABLE classified AS
            SELECT s.origin, s.reason IS NULL AS valid, s.ind, r.p, r.o,
                   s.reason IS NULL AND r.o >= m.clean_start AND r.o < m.clean_next AS for_clean,
                   s.reason IS NOT NULL AND r.o >= m.rejects_start AND r.o < m.rejects_next AS for_rejects
            FROM stage s JOIN raw r USING (seq) JOIN marks m ON m.p = r.p
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
        // A record below the txn offset in no row.
        foreach (var (origin, ind) in db.Query("SELECT min(origin), ind FROM classified WHERE for_clean AND ind NOT IN (SELECT ind FROM clean_rows WHERE ind IS NOT NULL) GROUP BY ind ORDER BY min(p), min(o)",
                     r => (r.GetString(0), r.GetInt64(1)), cancellationToken))
            check.Problem("gap", origin, $"The record at {origin} (ind {ind}) is below the clean table's offset but its ind is not in {cleanTable.Location}: it was lost.");
        foreach (string origin in db.Query("SELECT origin FROM classified WHERE for_rejects AND origin NOT IN (SELECT origin FROM reject_rows WHERE origin IS NOT NULL) ORDER BY p, o", r => r.GetString(0), cancellationToken))
            check.Problem("gap", origin, $"The record at {origin} is a reject by the cleaning rules and below the reject table's offset, but not in {rejectsTable.Location}: it was lost.");
        // A row no record below the offsets explains.
        long extraClean = 0, extraRejects = 0;
        foreach (long ind in db.Query("SELECT DISTINCT ind FROM clean_rows WHERE ind NOT IN (SELECT ind FROM classified WHERE for_clean AND ind IS NOT NULL) ORDER BY ind", r => r.GetInt64(0), cancellationToken))
        {
            extraClean++;
            if (!retention && !cleanMark.Legacy)
                check.Problem("extra", $"{cleanTable.Prefix} ind {ind}", $"ind {ind} is in {cleanTable.Location} but no record of '{stream}' below the table's offsets has it.");
        }
        foreach (string origin in db.Query("""
                SELECT r.origin FROM reject_rows r WHERE r.origin NOT IN (SELECT origin FROM classified WHERE for_rejects)
                ORDER BY r.origin
                """, r => r.GetString(0), cancellationToken))
        {
            extraRejects++;
            if (!retention && !rejectsMark.Legacy)
                check.Problem("extra", origin, $"{rejectsTable.Location} holds a reject of {origin}, which is not a rejected record of '{stream}' below the table's offsets.");
        }
        if ((extraClean > 0 || extraRejects > 0) && (retention || cleanMark.Legacy || rejectsMark.Legacy))
            check.Note($"{extraClean} clean and {extraRejects} reject rows come from records the log no longer holds ({(retention ? "retention removed records from the log" : "offsets kept before topic ids")}): not checked.");
        return check.Build();
    }
}
