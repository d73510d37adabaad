using System.Text.Json;
using DuckDB.NET.Data;
using PinPipe.DuckDb;
using PinPipe.Lake.Delta;
using PinPipe.Tests.Support;
using PinPipe.Tests.Transform;
using PinPipe.Transform;

namespace PinPipe.Tests.Lake.Delta;

/// <summary>
/// The stats of files DuckDB just wrote, from the statistics its writer kept (<see cref="DeltaStats.ComputeAll(DuckDBConnection, IReadOnlyList{WrittenParquetFile}, DeltaSchema, int, CancellationToken)"/>,
/// as a compaction and the batch job take them): equal to the stats an aggregate over the whole file computes, for every
/// type and for the values the writer's statistics do not hold exactly (long strings, NaN, signed zeros, BC dates,
/// arrays' null counts), which it reads back; and reading back nothing for the columns they do hold.
/// </summary>
public sealed class DeltaWriterStatsTests : IDisposable
{
    private readonly TempDirectory _dir = new("delta-writer-stats");
    private readonly DuckDBConnection _db = DuckDbSession.Open();

    public void Dispose()
    {
        _db.Dispose();
        _dir.Dispose();
    }

    private static DeltaSchema Schema(params (string Name, DeltaType Type)[] fields) => new([.. fields.Select(f => new DeltaField(f.Name, f.Type))]);

    public static TheoryData<string, string> Sources() => new()
    {
        // name, the rows (the schema is derived from their DuckDB types below)
        { "numbers and dates", "SELECT (i % 200 - 100)::TINYINT AS b, (i * 7 % 30000)::SMALLINT AS sh, i::INTEGER AS n, i * 1000003 AS l, ((i + 1) / 7.0)::FLOAT AS f, (i + 1) / 3.0 AS d, (i / 100.0)::DECIMAL(10,2) AS dec, DATE '2020-01-01' + (i % 400)::INT AS da, i % 3 = 0 AS bo FROM range(20000) r(i)" },
        { "nulls and all-null columns", "SELECT CASE WHEN i % 5 = 0 THEN NULL ELSE i END AS n, NULL::VARCHAR AS s, CASE WHEN i % 2 = 0 THEN 'x' || i END AS t, NULL::DOUBLE AS d FROM range(5000) r(i)" },
        { "short and long strings", "SELECT md5(i::VARCHAR) AS h, 'é' || repeat('ü', i % 20) AS u, repeat('z', 100 + i % 400) || i AS long, CASE WHEN i = 7 THEN repeat('q', 20000) ELSE 'a' END AS huge, 'a' || repeat('😀', 70 + i % 3) AS emoji, chr(65535) || i AS high FROM range(3000) r(i)" },
        { "NaN, infinities and signed zeros", "SELECT CASE WHEN i = 5 THEN 'nan'::DOUBLE ELSE i::DOUBLE END AS with_nan, CASE WHEN i = 1 THEN 'inf'::DOUBLE WHEN i = 2 THEN '-inf'::DOUBLE ELSE 1.5 END AS inf, CASE WHEN i % 2 = 0 THEN -0.0::DOUBLE ELSE 0.0::DOUBLE END AS zeros, (i - 50)::FLOAT AS crosses_zero FROM range(100) r(i)" },
        { "timestamps", "SELECT TIMESTAMPTZ '1969-12-31 23:59:59.999999+00' + to_microseconds(i * 1234567) AS ts, CASE WHEN i = 3 THEN TIMESTAMPTZ '0001-01-01 00:00:00+00' - INTERVAL 400 DAY ELSE TIMESTAMPTZ '2024-02-29 12:00:00.5+00' END AS bc, CASE WHEN i = 4 THEN DATE '0001-01-01' - 5 ELSE DATE '2020-02-02' END AS bc_date FROM range(4000) r(i)" },
        { "nested", "SELECT CASE WHEN i % 3 = 0 THEN NULL ELSE {'x': CASE WHEN i % 5 = 0 THEN NULL ELSE i END, 'at': TIMESTAMPTZ '2024-01-01 00:00:00+00' + to_seconds(i), 's': 'v' || i} END AS st, CASE WHEN i % 4 = 0 THEN NULL ELSE [i::DOUBLE, NULL] END AS arr, MAP {'k': i} AS m, '\\xAB'::BLOB AS bi FROM range(2000) r(i)" },
    };

    [Theory]
    [MemberData(nameof(Sources))]
    public void Stats_from_the_writer_equal_the_stats_computed_from_the_whole_file(string name, string rows)
    {
        _db.Execute("SET TimeZone = 'America/New_York'"); // the writer's timestamps are UTC whatever the session's zone
        _db.Execute($"CREATE TABLE t AS {rows}");
        var schema = SchemaOf("t");
        // Small files of small row groups: several per source, each with its own extremes.
        _db.Execute("SET preserve_insertion_order = false"); // DuckDB takes row groups by bytes only so
        var written = _db.CopyToParquetFiles("(SELECT * FROM t)", Path.Combine(_dir.Path, "out"), maxFileBytes: 32 << 10, rowGroupBytes: 16 << 10);
        if (name is "numbers and dates" or "short and long strings") Assert.True(written.Count >= 2, $"{written.Count} file(s)");
        Assert.All(written, f => Assert.True(f.Rows > 0, $"{f.Path}: no rows")); // a writer thread's empty file is not kept
        AssertSame(name, written, schema);
        if (name == "numbers and dates")
        {
            // Every column's stats from the writer: nothing read back.
            var present = schema.Fields.Select(f => f.Name).ToHashSet(StringComparer.OrdinalIgnoreCase);
            Assert.All(written, f => Assert.False(DeltaStats.WriterStatsQuery(_db, f, schema, present, 32, CancellationToken.None).NeedsScan, f.Path));
        }
    }

    [Theory]
    [InlineData(RecordKind.Pin)]
    [InlineData(RecordKind.Geo)]
    [InlineData(RecordKind.User)]
    public async Task Clean_tables_take_their_stats_from_the_writer_and_read_back_only_long_strings_and_arrays(RecordKind kind)
    {
        using var kit = new TransformTestKit();
        var cleaner = new MicroBatchCleaner(kit.Connection, kind);
        var result = await DeltaRowStatsTests.CleanAsync(kit, cleaner, TransformTestKit.FixtureLines("raw", kind));
        Assert.True(result.Clean > 0);
        var schema = CleanSchemas.ToDelta(CleaningRules.Schema(kind));
        var written = kit.Connection.CopyToParquetFiles(cleaner.CleanRowsSql, Path.Combine(_dir.Path, kind.ToString()));
        var file = Assert.Single(written);
        Assert.Equal(result.Clean, file.Rows);
        AssertSame($"{kind} clean rows", written, schema, kit.Connection);

        // What is read back: nothing but the columns whose stats the writer does not hold exactly.
        var present = schema.Fields.Select(f => f.Name).ToHashSet(StringComparer.OrdinalIgnoreCase);
        var query = DeltaStats.WriterStatsQuery(kit.Connection, file, schema, present, 32, CancellationToken.None);
        var readBack = schema.Fields.Where(f => query.Sql.Contains($"count(\"{f.Name}\")", StringComparison.Ordinal)).Select(f => f.Name).ToList();
        var longStrings = kit.Connection.Query($"SELECT path_in_schema FROM parquet_metadata({Sql.Literal(file.Path)}) WHERE NOT coalesce(min_is_exact AND max_is_exact, false)", r => r.GetString(0));
        var expected = schema.Fields.Where(f => f.Type is DeltaArrayType || longStrings.Contains(f.Name)).Select(f => f.Name).ToList();
        Assert.Equal(expected, readBack);
        Assert.True(readBack.Count < schema.Fields.Count / 2, $"{kind}: {string.Join(", ", readBack)} read back");
        if (kind == RecordKind.Geo) Assert.Contains("coordinates", readBack); // an array's own null count is not among the writer's
    }

    [Fact]
    public void A_null_in_a_not_null_column_is_refused_from_the_writer_stats_too()
    {
        _db.Execute("CREATE TABLE t AS SELECT CASE WHEN i = 3 THEN NULL ELSE i END AS id, 'x' AS s FROM range(10) r(i)");
        var schema = new DeltaSchema(new DeltaField("id", DeltaType.Long, Nullable: false), new DeltaField("s", DeltaType.String));
        var written = _db.CopyToParquetFiles("(SELECT * FROM t)", Path.Combine(_dir.Path, "out"));
        var fromWriter = Assert.Throws<DeltaException>(() => DeltaStats.ComputeAll(_db, written, schema, 32, CancellationToken.None));
        var fromFile = Assert.Throws<DeltaException>(() => DeltaStats.ComputeAll(_db, written.Select(f => f.Path).ToList(), schema, 32, CancellationToken.None));
        Assert.Equal(fromFile.Message, fromWriter.Message);
        Assert.Contains("1 null(s) in column 'id'", fromWriter.Message, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("2020-01-01 00:01:40.098999+00", 1577836900098999L)]
    [InlineData("2020-01-01 00:00:00+00", 1577836800000000L)]
    [InlineData("1969-12-31 23:59:59.5+00", -500000L)]
    [InlineData("2020-01-01 05:30:00.25+05:30", 1577836800250000L)]
    [InlineData("2019-12-31 19:00:00-05", 1577836800000000L)]
    public void DuckDB_timestamps_parse_to_microseconds(string text, long micros)
    {
        Assert.True(DeltaStats.TryParseMicros(text, out long parsed), text);
        Assert.Equal(micros, parsed);
    }

    [Theory]
    [InlineData("0001-12-27 (BC) 00:00:00+00")]
    [InlineData("2020-01-01")]
    [InlineData("2020-13-01 00:00:00+00")]
    [InlineData("infinity")]
    public void Other_texts_are_not_timestamps(string text) => Assert.False(DeltaStats.TryParseMicros(text, out _), text);

    /// <summary>The Delta schema of a table's columns, by their DuckDB types.</summary>
    private DeltaSchema SchemaOf(string table)
    {
        var columns = _db.Query($"SELECT column_name, data_type FROM information_schema.columns WHERE table_name = {Sql.Literal(table)} ORDER BY ordinal_position",
            r => (Name: r.GetString(0), Type: r.GetString(1)));
        return new DeltaSchema([.. columns.Select(c => new DeltaField(c.Name, TypeOf(c.Type)))]);
    }

    private static DeltaType TypeOf(string duckDb) => duckDb switch
    {
        "TINYINT" => DeltaType.Byte,
        "SMALLINT" => DeltaType.Short,
        "INTEGER" => DeltaType.Integer,
        "BIGINT" => DeltaType.Long,
        "FLOAT" => DeltaType.Float,
        "DOUBLE" => DeltaType.Double,
        "DECIMAL(10,2)" => DeltaType.Decimal(10, 2),
        "DATE" => DeltaType.Date,
        "BOOLEAN" => DeltaType.Boolean,
        "VARCHAR" => DeltaType.String,
        "BLOB" => DeltaType.Binary,
        "TIMESTAMP WITH TIME ZONE" => DeltaType.Timestamp,
        "DOUBLE[]" => DeltaType.Array(DeltaType.Double),
        "MAP(VARCHAR, BIGINT)" => new DeltaMapType(DeltaType.String, DeltaType.Long),
        "STRUCT(x BIGINT, \"at\" TIMESTAMP WITH TIME ZONE, s VARCHAR)" => new DeltaStructType([new DeltaField("x", DeltaType.Long), new DeltaField("at", DeltaType.Timestamp), new DeltaField("s", DeltaType.String)]),
        _ => throw new InvalidOperationException($"no Delta type for {duckDb} in this test"),
    };

    private void AssertSame(string name, List<WrittenParquetFile> written, DeltaSchema schema, DuckDBConnection? connection = null)
    {
        connection ??= _db;
        var fromWriter = DeltaStats.ComputeAll(connection, written, schema, 32, CancellationToken.None);
        var fromFile = DeltaStats.ComputeAll(connection, written.Select(f => f.Path).ToList(), schema, 32, CancellationToken.None);
        Assert.Equal(fromFile.Count, fromWriter.Count);
        for (int i = 0; i < fromFile.Count; i++)
        {
            Assert.True(fromFile[i].StatsJson == fromWriter[i].StatsJson,
                $"{name}, file {i}: from the writer\n{fromWriter[i].StatsJson}\ndiffers from the file's\n{fromFile[i].StatsJson}");
            Assert.Equal(fromFile[i].NumRecords, fromWriter[i].NumRecords);
            Assert.Equal(written[i].Rows, fromWriter[i].NumRecords);
            Assert.Equal(fromFile[i].Codec, fromWriter[i].Codec);
            // Not trivially equal: null counts, and mins and maxes, were there to compare.
            using var stats = JsonDocument.Parse(fromWriter[i].StatsJson);
            Assert.True(stats.RootElement.GetProperty("nullCount").EnumerateObject().Any(), $"{name}: no null counts");
            Assert.True(stats.RootElement.GetProperty("minValues").EnumerateObject().Any() && stats.RootElement.GetProperty("maxValues").EnumerateObject().Any(), $"{name}, file {i} of {written.Count} ({written[i].Rows} rows): no min or max in {fromWriter[i].StatsJson}");
        }
    }
}
