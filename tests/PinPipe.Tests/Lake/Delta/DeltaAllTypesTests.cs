using System.Text.Json;
using PinPipe.Lake.Delta;
using PinPipe.Lake.Directory;
using PinPipe.Tests.Support;
using static PinPipe.Tests.Lake.Delta.DeltaTestKit;

namespace PinPipe.Tests.Lake.Delta;

/// <summary>Every type through a commit: stats as Spark formats them, and values as the reader returns them.</summary>
public sealed class DeltaAllTypesTests : IDisposable
{
    private readonly TempDirectory _temp = new("delta-types");

    public void Dispose() => _temp.Dispose();

    [Fact]
    public async Task All_types_round_trip_with_spark_style_stats()
    {
        var schema = new DeltaSchema(
            new DeltaField("b", DeltaType.Byte), new DeltaField("sh", DeltaType.Short), new DeltaField("f", DeltaType.Float),
            new DeltaField("dec", DeltaType.Decimal(10, 2)), new DeltaField("da", DeltaType.Date), new DeltaField("bo", DeltaType.Boolean),
            new DeltaField("bi", DeltaType.Binary), new DeltaField("m", new DeltaMapType(DeltaType.String, DeltaType.Long)),
            new DeltaField("st", new DeltaStructType([new DeltaField("x", DeltaType.Integer), new DeltaField("at", DeltaType.Timestamp)])),
            new DeltaField("tl", DeltaType.Array(DeltaType.Timestamp)));
        string file = WriteParquet(_temp.Path, """
            SELECT * FROM (VALUES
              (CAST(-1 AS TINYINT), CAST(300 AS SMALLINT), CAST(0.1 AS FLOAT), CAST(12.5 AS DECIMAL(10,2)), DATE '1999-12-31', true, '\xAB\x00'::BLOB,
               MAP {'k': CAST(1 AS BIGINT)}, {'x': 4, 'at': TIMESTAMPTZ '2024-02-29 12:00:00+00'}, [TIMESTAMPTZ '2024-01-01 00:00:00+00', NULL]),
              (CAST(7 AS TINYINT), CAST(-2 AS SMALLINT), CAST(-2.5 AS FLOAT), CAST(-0.01 AS DECIMAL(10,2)), DATE '2024-02-29', NULL, NULL,
               NULL, {'x': NULL, 'at': NULL}, NULL)
            ) AS t(b, sh, f, "dec", da, bo, bi, m, st, tl)
            """);
        var store = new DirectoryObjectStore(_temp.Path, "lake");
        var result = await new DeltaTable(store, "t").CommitAsync(new DeltaWrite(schema, [file]));
        using var stats = JsonDocument.Parse(result.Added[0].Stats!);
        var s = stats.RootElement;
        Assert.Equal("""{"b":-1,"sh":-2,"f":-2.5,"dec":-0.01,"da":"1999-12-31","st":{"x":4,"at":"2024-02-29T12:00:00.000Z"}}""", s.GetProperty("minValues").GetRawText());
        Assert.Equal("""{"b":7,"sh":300,"f":0.1,"dec":12.50,"da":"2024-02-29","st":{"x":4,"at":"2024-02-29T12:00:00.000Z"}}""", s.GetProperty("maxValues").GetRawText());
        Assert.Equal("""{"b":0,"sh":0,"f":0,"dec":0,"da":0,"bo":1,"bi":1,"m":1,"st":{"x":1,"at":1},"tl":1}""", s.GetProperty("nullCount").GetRawText());

        var rows = await ReadAllAsync((await new DeltaTable(store, "t").LoadAsync())!);
        var first = rows.Single(r => (sbyte)r[0]! == -1);
        Assert.Equal((short)300, first[1]);
        Assert.Equal(0.1f, first[2]);
        Assert.Equal(12.5m, first[3]);
        Assert.Equal(new DateOnly(1999, 12, 31), first[4]);
        Assert.Equal(true, first[5]);
        Assert.Equal(new byte[] { 0xAB, 0x00 }, first[6]);
        Assert.Equal(1L, Assert.IsAssignableFrom<System.Collections.IDictionary>(first[7])["k"]);
        var st = Assert.IsType<Dictionary<string, object?>>(first[8]);
        Assert.Equal(4, st["x"]);
        Assert.Equal(Utc(2024, 2, 29, 12), st["at"]);
        Assert.Equal([Utc(2024, 1, 1), null], Assert.IsType<List<DateTimeOffset?>>(first[9]));
        var second = rows.Single(r => (sbyte)r[0]! == 7);
        Assert.Equal([null, null, null, null], second.Skip(5).Where((_, i) => i != 3).ToArray());
        Assert.Equal(new Dictionary<string, object?> { ["x"] = null, ["at"] = null }, second[8]);
    }
}
