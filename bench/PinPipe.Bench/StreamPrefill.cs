using System.Globalization;
using System.Text;
using PinPipe.DuckDb;
using PinPipe.Hosting;
using PinPipe.Lake;
using PinPipe.Lake.Delta;
using PinPipe.Source;
using PinPipe.Streaming;
using PinPipe.Transform;

namespace PinPipe.Bench;

/// <summary>
/// Fills the stream job's tables before it starts, as a job that has run for a long time leaves them: each clean
/// table gets <c>rows</c> clean rows (copies of 1,000 cleaned synthetic records with inds from 1,000,000,000 up, so
/// none collides with the bench's records), written sorted by ind by DuckDB into files of about 128 MiB and committed
/// in one Delta commit whose txn says the stream's partition 0 is read up to offset 0 (the job resumes there, as
/// from its own checkpoint); each reject table gets an empty commit with the same txn.
/// </summary>
internal static class StreamPrefill
{
    public const long FirstInd = 1_000_000_000;
    private const int SampleRows = 1_000;

    public static async Task FillAsync(PinPipeSettings settings, IObjectStore store, IReadOnlyList<string?> topicIds, long rows)
    {
        var target = PipelineJobs.StreamTarget(settings);
        RecordKind[] kinds = [RecordKind.Pin, RecordKind.Geo, RecordKind.User];
        using var work = new BenchDirectory("prefill");
        using var db = DuckDbSession.Open(new DuckDbSettings { MemoryLimit = "1GB", Threads = 1, TempDirectory = work.File("spill") });
        for (int k = 0; k < kinds.Length; k++)
        {
            var kind = kinds[k];
            IngestBench.Progress(string.Create(CultureInfo.InvariantCulture, $"stream-latency: pre-filling {CleaningRules.TableName(kind)} with {rows:N0} clean rows"));
            db.Execute("CREATE OR REPLACE TABLE raw (seq BIGINT, origin VARCHAR, line VARCHAR)");
            using (var appender = db.CreateAppender("raw"))
            {
                long seq = 0;
                foreach (var p in SyntheticData.Generate(23, SyntheticData.FirstIndex, SampleRows))
                {
                    byte[] json = kind switch { RecordKind.Pin => SourceJson.Pin(p.Pin), RecordKind.Geo => SourceJson.Geo(p.Geo!), _ => SourceJson.User(p.User!) };
                    appender.CreateRow().AppendValue(seq).AppendValue($"prefill/0/{seq}").AppendValue(Encoding.UTF8.GetString(json)).EndRow();
                    seq++;
                }
            }
            await Cleaner.CleanAsync(db, kind, "raw", null);
            string clean = Sql.Identifier(CleaningRules.CleanTable(kind));
            db.Execute($"CREATE OR REPLACE TABLE sample AS SELECT row_number() OVER () - 1 AS k, * FROM {clean}");
            long samples = db.QueryLongs("SELECT count(*) FROM sample")[0];
            string source = string.Create(CultureInfo.InvariantCulture,
                $"(SELECT s.* EXCLUDE (k) REPLACE (CAST({FirstInd} + r.i AS BIGINT) AS ind) FROM range({rows}) r(i) JOIN sample s ON s.k = r.i % {samples} ORDER BY r.i)");
            var files = db.CopyToParquetFiles(source, work.File(CleaningRules.TableName(kind))).Select(f => f.Path).ToList();
            var txns = new[] { new DeltaTxn(StreamJob.AppId(settings.Names.Streams[k], 0, topicIds[k]), 0) };
            await new DeltaTable(store, target.TablePrefix(kind)).CommitAsync(new DeltaWrite(CleanSchemas.ToDelta(CleaningRules.Schema(kind)), files) { Txns = txns });
            await new DeltaTable(store, target.TablePrefix(kind, rejects: true)).CommitAsync(new DeltaWrite(CleanSchemas.ToDelta(CleaningRules.RejectSchema), []) { Txns = txns });
            foreach (var f in files) File.Delete(f);
        }
    }
}
