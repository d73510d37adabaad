using PinPipe.Batch;
using PinPipe.DuckDb;
using PinPipe.Lake.Delta;
using PinPipe.Tests.Support;
using PinPipe.Transform;

namespace PinPipe.Tests.Batch;

/// <summary>
/// <see cref="BatchJob.Spill"/>: a cleaned table goes to Parquet files with the schema's columns only, each file with the
/// stats a reader computes from it (taken from the rows for one file, read from the files for several), and a row count
/// that differs from the cleaning's is refused.
/// </summary>
public sealed class BatchSpillTests : IDisposable
{
    private const int Rows = 300_000; // three of DuckDB's row groups, so a small file size gives three files
    private readonly TempDirectory _temp = new("batch-spill");

    public void Dispose() => _temp.Dispose();

    [Theory]
    [InlineData(DuckDbSession.TargetFileBytes, 1)]
    [InlineData(1L, 3)]
    public void Each_file_carries_the_stats_read_from_it_and_only_the_schemas_columns(long maxFileBytes, int expectedFiles)
    {
        using var connection = DuckDbSession.Open();
        // One writer thread: with several, DuckDB may finish two row groups into a file before it checks the size (2 files, a flake).
        connection.Execute("SET threads = 1");
        var schema = CleaningRules.Schema(RecordKind.Geo);
        CreateTable(connection);
        var spilled = new BatchJob.SpilledFiles();

        BatchJob.Spill(connection, "clean_geo", schema, Path.Combine(_temp.Path, "out"), Rows, spilled, CancellationToken.None, maxFileBytes);

        Assert.Equal(expectedFiles, spilled.Files.Count);
        var delta = CleanSchemas.ToDelta(schema);
        var read = DeltaStats.ComputeAll(connection, spilled.Files, delta, 32, CancellationToken.None); // validates each file against the schema
        Assert.Equal(read.Select(f => f.StatsJson), spilled.Facts.Select(f => f.StatsJson));
        Assert.Equal(read.Select(f => f.Codec), spilled.Facts.Select(f => f.Codec));
        Assert.Equal(Rows, spilled.Facts.Sum(f => f.NumRecords));
        Assert.All(spilled.Files, f => Assert.Equal(schema.Select(c => c.Name), DeltaDuckDb.Describe(connection, [f], CancellationToken.None).Select(c => c.Name)));
        Assert.Empty(connection.Query("SELECT table_name FROM duckdb_tables() WHERE table_name = 'clean_geo'", r => r.GetString(0)));
    }

    [Fact]
    public void Files_that_do_not_hold_the_rows_the_cleaning_counted_are_refused()
    {
        using var connection = DuckDbSession.Open();
        CreateTable(connection);
        var spilled = new BatchJob.SpilledFiles();

        var e = Assert.Throws<InvalidOperationException>(() =>
            BatchJob.Spill(connection, "clean_geo", CleaningRules.Schema(RecordKind.Geo), Path.Combine(_temp.Path, "out"), Rows + 1, spilled, CancellationToken.None));

        Assert.Contains($"hold {Rows} rows, but the cleaning counted {Rows + 1}", e.Message, StringComparison.Ordinal);
        Assert.Empty(spilled.Files);
    }

    /// <summary>
    /// A clean geo table with nulls in every column but the key, the quality column the cleaner leaves out, and coordinates
    /// as DECIMAL, not the schema's DOUBLE: the files must hold the schema's types all the same.
    /// </summary>
    private static void CreateTable(DuckDB.NET.Data.DuckDBConnection connection)
    {
        connection.Execute("SET TimeZone = 'UTC'");
        connection.Execute($"""
            CREATE TABLE clean_geo AS SELECT
                i AS ind,
                CASE WHEN i % 11 = 0 THEN NULL ELSE 'country ' || (i % 97) END AS country,
                CASE WHEN i % 13 = 0 THEN NULL ELSE [i * 0.5, -i * 0.25] END AS coordinates,
                CASE WHEN i % 17 = 0 THEN NULL ELSE TIMESTAMPTZ '2020-01-01 00:00:00+00' + to_seconds(i) END AS "timestamp",
                i AS _quality
            FROM range({Rows}) r(i)
            """);
    }
}
