using System.Text;
using CsCheck;
using PinPipe.DuckDb;
using PinPipe.Lake.Delta;
using PinPipe.Lake.Directory;
using PinPipe.Tests.Support;
using PinPipe.Tests.Transform;
using PinPipe.Transform;

namespace PinPipe.Tests.Lake.Delta;

/// <summary>
/// <see cref="DeltaStats.RowsQuery"/>: the stats the stream job takes from a micro-batch's rows before writing them equal
/// the stats <see cref="DeltaStats.Compute"/> reads from the file written from them, and a commit given them writes them.
/// </summary>
public sealed class DeltaRowStatsTests : IDisposable
{
    private readonly TempDirectory _temp = new("delta-row-stats");

    public void Dispose() => _temp.Dispose();

    public static TheoryData<RecordKind> Kinds => new() { RecordKind.Pin, RecordKind.Geo, RecordKind.User };

    [Theory]
    [MemberData(nameof(Kinds))]
    public async Task Stats_of_the_rows_equal_the_stats_read_from_the_file_for_fixtures_and_generated_micro_batches(RecordKind kind)
    {
        using var kit = new TransformTestKit();
        var cleaner = new MicroBatchCleaner(kit.Connection, kind);
        var cleanSchema = CleanSchemas.ToDelta(CleaningRules.Schema(kind));
        var rejectSchema = CleanSchemas.ToDelta(CleaningRules.RejectSchema);
        var cleanQuery = DeltaStats.RowsQuery(cleanSchema, cleaner.CleanRowSetSql, "clean rows");
        var rejectQuery = DeltaStats.RowsQuery(rejectSchema, cleaner.RejectRowsSql, "rejects");
        kit.Execute($"PREPARE clean_stats AS {cleanQuery.Sql}");
        kit.Execute($"PREPARE reject_stats AS {rejectQuery.Sql}");

        var batches = new List<string[]> { TransformTestKit.FixtureLines("raw", kind) };
        var pcg = PCG.Parse("0004Ab1cD3eF");
        var gen = ParsedLoadTests.Lines(kind).Array[1, 60];
        for (int i = 0; i < 20; i++) batches.Add(gen.Generate(pcg, null!, out _).Select(l => Encoding.UTF8.GetString(l)).ToArray());

        long cleanFiles = 0, rejectFiles = 0;
        foreach (var (batch, n) in batches.Select((b, n) => (b, n)))
        {
            var result = await CleanAsync(kit, cleaner, batch);
            if (result.Clean > 0)
            {
                AssertSameStats(kit, cleaner.CleanRowsSql, "clean_stats", cleanQuery, cleanSchema, result.Clean, $"{kind} batch {n}, clean rows");
                cleanFiles++;
            }
            if (result.Rejects > 0)
            {
                AssertSameStats(kit, cleaner.RejectRowsSql, "reject_stats", rejectQuery, rejectSchema, result.Rejects, $"{kind} batch {n}, rejects");
                rejectFiles++;
            }
        }
        Assert.True(cleanFiles > 10 && rejectFiles > 2, $"{cleanFiles} clean and {rejectFiles} reject files compared");
    }

    [Fact]
    public async Task A_commit_given_the_stats_writes_them_and_a_count_other_than_the_files_is_refused()
    {
        using var kit = new TransformTestKit();
        var cleaner = new MicroBatchCleaner(kit.Connection, RecordKind.Geo);
        var result = await CleanAsync(kit, cleaner, TransformTestKit.FixtureLines("raw", RecordKind.Geo));
        var schema = CleanSchemas.ToDelta(CleaningRules.Schema(RecordKind.Geo));
        var query = DeltaStats.RowsQuery(schema, cleaner.CleanRowSetSql, "clean rows");
        var (json, count) = kit.Connection.Query(query.Sql, query.Read)[0];
        string file = Path.Combine(_temp.Path, "geo.parquet");
        kit.Connection.CopyToParquet(cleaner.CleanRowsSql, file);
        var facts = new DeltaStats.FileFacts(json, count, DuckDbSession.ParquetCompression);

        var store = new DirectoryObjectStore(Path.Combine(_temp.Path, "lake"), "lake");
        var table = new DeltaTable(store, "geo");
        var refused = await Assert.ThrowsAsync<DeltaException>(() => table.CommitAsync(new DeltaWrite(schema, [file]) { Facts = [facts, facts] }));
        Assert.Equal(DeltaErrorCode.InvalidWrite, refused.Code);
        Assert.Contains("1 file(s) but stats for 2", refused.Message, StringComparison.Ordinal);
        Assert.Null(await table.LoadAsync());

        var committed = await table.CommitAsync(new DeltaWrite(schema, [file]) { Facts = [facts] });
        var added = Assert.Single(committed.Added);
        Assert.Equal(json, added.Stats);
        Assert.Equal(result.Clean, count);
        Assert.EndsWith(".snappy.parquet", added.Path, StringComparison.Ordinal);
        var snapshot = (await table.LoadAsync())!;
        Assert.Equal(json, Assert.Single(snapshot.Files).Stats);
        // The stats equal what the commit computes from the file when it is given none.
        var other = await new DeltaTable(store, "geo-read").CommitAsync(new DeltaWrite(schema, [file]));
        Assert.Equal(json, Assert.Single(other.Added).Stats);
    }

    /// <summary>Cleans <paramref name="lines"/> as one micro-batch (every record for both tables).</summary>
    internal static Task<CleanResult> CleanAsync(TransformTestKit kit, MicroBatchCleaner cleaner, string[] lines)
    {
        cleaner.Begin();
        using (var appender = kit.Connection.CreateAppender(cleaner.RawTable))
        {
            for (int i = 0; i < lines.Length; i++)
                appender.CreateRow().AppendValue((long)i).AppendValue($"test/{i}").AppendValue(lines[i]).AppendValue(true).AppendValue(true).EndRow();
        }
        return cleaner.CleanAsync(MicroBatchPart.All, null);
    }

    /// <summary>Writes <paramref name="rows"/> to a file, and asserts that the prepared stats of the rows equal the stats read from it.</summary>
    private void AssertSameStats(TransformTestKit kit, string rows, string statement, DeltaStats.Query query, DeltaSchema schema, long expected, string what)
    {
        string file = Path.Combine(_temp.Path, Guid.NewGuid().ToString("N") + ".parquet");
        kit.Connection.CopyToParquet(rows, file);
        var (json, count) = kit.Connection.Query($"EXECUTE {statement}", query.Read)[0];
        var canonical = DeltaDuckDb.CanonicalTypes(kit.Connection, schema.Fields.Select(f => f.Type).ToArray(), CancellationToken.None);
        var read = DeltaStats.Compute(kit.Connection, file, schema, canonical, 32, CancellationToken.None);
        Assert.True(read.StatsJson == json, $"{what}: stats from the rows\n{json}\ndiffer from the file's\n{read.StatsJson}");
        Assert.Equal(expected, count);
        Assert.Equal(read.NumRecords, count);
        Assert.Equal(DuckDbSession.ParquetCompression, read.Codec);
        File.Delete(file);
    }
}
