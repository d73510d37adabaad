using System.Text;
using System.Text.Json;
using PinPipe.Lake.Delta;
using PinPipe.Lake.Directory;
using PinPipe.Tests.Support;
using static PinPipe.Tests.Lake.Delta.DeltaTestKit;

namespace PinPipe.Tests.Lake.Delta;

/// <summary>Tables we write: commits, stats, overwrite, compaction, txn skip, round trips through our reader and DuckDB.</summary>
public sealed class DeltaTableWriteTests : IDisposable
{
    internal static readonly DeltaSchema EventSchema = new(
        new DeltaField("event_id", DeltaType.String),
        new DeltaField("user_id", DeltaType.Long),
        new DeltaField("qty", DeltaType.Integer),
        new DeltaField("amount", DeltaType.Double),
        new DeltaField("event_time", DeltaType.Timestamp),
        new DeltaField("samples", DeltaType.Array(DeltaType.Double)));

    private static readonly string LongId = new('z', 40);

    private readonly TempDirectory _temp = new("delta-write");
    private readonly DirectoryObjectStore _store;

    public DeltaTableWriteTests() => _store = new DirectoryObjectStore(_temp.Path, "lake");

    public void Dispose() => _temp.Dispose();

    /// <summary>Three event rows as DuckDB writes them (TIMESTAMPTZ, DOUBLE[]); <paramref name="tag"/> makes ids unique.</summary>
    internal static string EventFile(string folder, string tag) => WriteParquet(folder, $"""
        SELECT * FROM (VALUES
          ('a1-{tag}', CAST(7 AS BIGINT), CAST(1 AS INTEGER), CAST(0.5 AS DOUBLE), TIMESTAMPTZ '2025-01-01 00:00:00.123456+00', [1.0, 2.5]::DOUBLE[]),
          ('{LongId}', CAST(42 AS BIGINT), CAST(5 AS INTEGER), CAST(NULL AS DOUBLE), TIMESTAMPTZ '2025-01-01 00:00:02.999999+00', CAST(NULL AS DOUBLE[])),
          ('b2-{tag}', CAST(-3 AS BIGINT), CAST(2 AS INTEGER), CAST(9.75 AS DOUBLE), TIMESTAMPTZ '1969-12-31 23:59:59.9995+00', []::DOUBLE[])
        ) AS t(event_id, user_id, qty, amount, event_time, samples)
        """);

    private static object?[][] EventRows(string tag) =>
    [
        [$"a1-{tag}", 7L, 1, 0.5, Utc(2025, 1, 1).AddTicks(1234560), new List<double?> { 1.0, 2.5 }],
        [LongId, 42L, 5, null, Utc(2025, 1, 1, 0, 0, 2).AddTicks(9999990), null],
        [$"b2-{tag}", -3L, 2, 9.75, Utc(1969, 12, 31, 23, 59, 59).AddTicks(9995000), new List<double?>()],
    ];

    private static IEnumerable<string> Canonical(IEnumerable<object?[]> rows) =>
        rows.Select(r => string.Join("|", r.Select(v => v switch
        {
            null => "null",
            DateTimeOffset t => t.UtcTicks.ToString(System.Globalization.CultureInfo.InvariantCulture) + (t.Offset == TimeSpan.Zero ? "Z" : "!"),
            DateTime dt => dt.Ticks.ToString(System.Globalization.CultureInfo.InvariantCulture) + "Z",
            System.Collections.IEnumerable e and not string => "[" + string.Join(",", e.Cast<object?>()) + "]",
            _ => Convert.ToString(v, System.Globalization.CultureInfo.InvariantCulture),
        }))).Order(StringComparer.Ordinal);

    private async Task<string[]> LogLinesAsync(string prefix, long version)
    {
        byte[] bytes = (await _store.GetAsync($"{prefix}/_delta_log/{version:D20}.json"))!;
        return Encoding.UTF8.GetString(bytes).Split('\n', StringSplitOptions.RemoveEmptyEntries);
    }

    [Fact]
    public async Task Written_rows_read_back_equal_through_our_reader_and_through_duckdb()
    {
        var table = new DeltaTable(_store, "delta/pin");
        var result = await table.CommitAsync(new DeltaWrite(EventSchema, [EventFile(_temp.Path, "x"), EventFile(_temp.Path, "y")]));
        Assert.Equal(DeltaCommitStatus.Committed, result.Status);
        Assert.Equal(0, result.Version);
        Assert.Equal(1, result.Attempts);
        Assert.Equal(2, result.Added.Count);
        Assert.All(result.Added, f => Assert.Matches(@"^part-0000[01]-[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}-c000\.snappy\.parquet$", f.Path));

        var snapshot = await new DeltaTable(_store, "delta/pin").LoadAsync();
        Assert.NotNull(snapshot);
        Assert.Equal(0, snapshot.Version);
        Assert.Equal(EventSchema, snapshot.Schema);
        var expected = Canonical(EventRows("x").Concat(EventRows("y"))).ToList();
        var rows = await ReadAllAsync(snapshot);
        Assert.Equal(expected, Canonical(rows));
        Assert.All(rows, r => Assert.IsType<DateTimeOffset>(r[4]));

        // DuckDB straight over the live files' paths.
        var paths = snapshot.Files.Select(f => _store.LocalPath(snapshot.KeyOf(f))!).ToList();
        Assert.All(paths, p => Assert.True(File.Exists(p)));
        using var c = OpenDuckDb();
        var direct = Query(c, $"SELECT event_id, user_id, qty, amount, event_time, samples FROM read_parquet([{string.Join(",", paths.Select(p => $"'{p}'"))}])");
        Assert.Equal(expected, Canonical(direct));
        // ... and through the scan expression.
        using var scan = await snapshot.OpenScanAsync();
        Assert.Equal(expected, Canonical(Query(c, $"SELECT * FROM {scan.Sql} AS t")));
    }

    [Fact]
    public async Task Version_zero_holds_protocol_metadata_adds_with_spark_stats_and_commit_info()
    {
        var table = new DeltaTable(_store, "t");
        string input = EventFile(_temp.Path, "s");
        await table.CommitAsync(new DeltaWrite(EventSchema, [input]) { Txn = new DeltaTxn("pipeline-1", 0) });
        string[] lines = await LogLinesAsync("t", 0);
        Assert.Equal(["commitInfo", "protocol", "metaData", "txn", "add"], lines.Select(l => JsonDocument.Parse(l).RootElement.EnumerateObject().Single().Name));
        Assert.Equal("""{"protocol":{"minReaderVersion":1,"minWriterVersion":2}}""", lines[1]);
        using var meta = JsonDocument.Parse(lines[2]);
        var m = meta.RootElement.GetProperty("metaData");
        Assert.True(Guid.TryParse(m.GetProperty("id").GetString(), out _));
        Assert.Equal("parquet", m.GetProperty("format").GetProperty("provider").GetString());
        Assert.Equal(EventSchema.ToJson(), m.GetProperty("schemaString").GetString());
        Assert.Equal(JsonValueKind.Array, m.GetProperty("partitionColumns").ValueKind);
        Assert.Empty(m.GetProperty("partitionColumns").EnumerateArray());
        using var info = JsonDocument.Parse(lines[0]);
        var ci = info.RootElement.GetProperty("commitInfo");
        Assert.Equal("WRITE", ci.GetProperty("operation").GetString());
        Assert.Equal("Append", ci.GetProperty("operationParameters").GetProperty("mode").GetString());
        Assert.True(ci.GetProperty("isBlindAppend").GetBoolean());
        Assert.Equal("3", ci.GetProperty("operationMetrics").GetProperty("numOutputRows").GetString());

        using var addDoc = JsonDocument.Parse(lines[4]);
        var add = addDoc.RootElement.GetProperty("add");
        Assert.Equal(new FileInfo(input).Length, add.GetProperty("size").GetInt64());
        Assert.True(add.GetProperty("dataChange").GetBoolean());
        Assert.InRange(add.GetProperty("modificationTime").GetInt64(), DateTimeOffset.UtcNow.AddMinutes(-5).ToUnixTimeMilliseconds(), DateTimeOffset.UtcNow.ToUnixTimeMilliseconds());
        Assert.Empty(add.GetProperty("partitionValues").EnumerateObject());

        using var stats = JsonDocument.Parse(add.GetProperty("stats").GetString()!);
        var s = stats.RootElement;
        Assert.Equal(3, s.GetProperty("numRecords").GetInt64());
        var min = s.GetProperty("minValues");
        var max = s.GetProperty("maxValues");
        Assert.Equal("a1-s", min.GetProperty("event_id").GetString());
        Assert.Equal(new string('z', 32) + "\u007F", max.GetProperty("event_id").GetString()); // Spark's 32-char truncation with tie-breaker
        Assert.Equal(-3, min.GetProperty("user_id").GetInt64());
        Assert.Equal(42, max.GetProperty("user_id").GetInt64());
        Assert.Equal(1, min.GetProperty("qty").GetInt32());
        Assert.Equal(5, max.GetProperty("qty").GetInt32());
        Assert.Equal(0.5, min.GetProperty("amount").GetDouble());
        Assert.Equal(9.75, max.GetProperty("amount").GetDouble());
        Assert.Equal("1969-12-31T23:59:59.999Z", min.GetProperty("event_time").GetString()); // truncated down to ms
        Assert.Equal("2025-01-01T00:00:02.999Z", max.GetProperty("event_time").GetString());
        Assert.False(min.TryGetProperty("samples", out _)); // no min/max for arrays
        Assert.Equal(["event_id", "user_id", "qty", "amount", "event_time"], min.EnumerateObject().Select(p => p.Name));
        var nulls = s.GetProperty("nullCount");
        Assert.Equal(["event_id", "user_id", "qty", "amount", "event_time", "samples"], nulls.EnumerateObject().Select(p => p.Name));
        Assert.Equal([0, 0, 0, 1, 0, 1], nulls.EnumerateObject().Select(p => p.Value.GetInt32()));

        // The uploaded file is the caller's, byte for byte; DuckDB wrote its TIMESTAMPTZ as INT64 UTC micros.
        var snapshot = (await table.LoadAsync())!;
        string uploaded = _store.LocalPath(snapshot.KeyOf(snapshot.Files.Single()))!;
        Assert.Equal(await File.ReadAllBytesAsync(input), await File.ReadAllBytesAsync(uploaded));
        using var c = OpenDuckDb();
        var ts = Query(c, $"SELECT type, logical_type FROM parquet_schema('{uploaded}') WHERE name = 'event_time'").Single();
        Assert.Equal("INT64", ts[0]);
        Assert.Contains("isAdjustedToUTC=1", (string)ts[1]!, StringComparison.Ordinal);
        Assert.Contains("MICROS=MicroSeconds()", (string)ts[1]!, StringComparison.Ordinal);
        Assert.Equal(0, snapshot.Txns["pipeline-1"]);
    }

    [Fact]
    public async Task Overwrite_makes_a_new_version_that_removes_every_live_file()
    {
        var table = new DeltaTable(_store, "t");
        var v0 = await table.CommitAsync(new DeltaWrite(EventSchema, [EventFile(_temp.Path, "a"), EventFile(_temp.Path, "b")]));
        var v1 = await table.CommitAsync(new DeltaWrite(EventSchema, [EventFile(_temp.Path, "c")]) { Mode = DeltaWriteMode.Overwrite });
        Assert.Equal(1, v1.Version);

        string[] lines = await LogLinesAsync("t", 1);
        var removes = lines.Select(l => JsonDocument.Parse(l).RootElement).Where(e => e.TryGetProperty("remove", out _)).Select(e => e.GetProperty("remove")).ToList();
        Assert.Equal(v0.Added.Select(f => f.Path).Order(StringComparer.Ordinal), removes.Select(r => r.GetProperty("path").GetString()).Order(StringComparer.Ordinal));
        Assert.All(removes, r => Assert.True(r.GetProperty("dataChange").GetBoolean()));
        Assert.All(removes, r => Assert.True(r.GetProperty("deletionTimestamp").GetInt64() > 0));
        using var ci = JsonDocument.Parse(lines[0]);
        Assert.Equal("Overwrite", ci.RootElement.GetProperty("commitInfo").GetProperty("operationParameters").GetProperty("mode").GetString());
        Assert.False(ci.RootElement.GetProperty("commitInfo").GetProperty("isBlindAppend").GetBoolean());

        var latest = (await new DeltaTable(_store, "t").LoadAsync())!;
        Assert.Equal(1, latest.Version);
        Assert.Equal(v1.Added.Select(f => f.Path), latest.Files.Select(f => f.Path));
        Assert.Equal(Canonical(EventRows("c")), Canonical(await ReadAllAsync(latest)));
        // The removed files stay for time travel.
        var old = (await new DeltaTable(_store, "t").LoadAsync(0))!;
        Assert.Equal(Canonical(EventRows("a").Concat(EventRows("b"))), Canonical(await ReadAllAsync(old)));
    }

    [Fact]
    public async Task Compaction_removes_and_adds_in_one_commit_without_data_change()
    {
        var table = new DeltaTable(_store, "t");
        var a = await table.CommitAsync(new DeltaWrite(EventSchema, [EventFile(_temp.Path, "a")]));
        var b = await table.CommitAsync(new DeltaWrite(EventSchema, [EventFile(_temp.Path, "b")]));
        string merged = WriteParquet(_temp.Path, $"SELECT * FROM read_parquet(['{_store.LocalPath("t/" + a.Added[0].Path)}', '{_store.LocalPath("t/" + b.Added[0].Path)}'])");
        var compact = await table.CommitAsync(new DeltaWrite(EventSchema, [merged])
        {
            Removes = [a.Added[0].Path, b.Added[0].Path],
            DataChange = false,
            Operation = "OPTIMIZE",
        });
        Assert.Equal(2, compact.Version);
        var lines = (await LogLinesAsync("t", 2)).Select(l => JsonDocument.Parse(l).RootElement).ToList();
        Assert.Equal(2, lines.Count(e => e.TryGetProperty("remove", out var r) && !r.GetProperty("dataChange").GetBoolean()));
        Assert.Equal(1, lines.Count(e => e.TryGetProperty("add", out var x) && !x.GetProperty("dataChange").GetBoolean()));
        Assert.Equal("OPTIMIZE", lines[0].GetProperty("commitInfo").GetProperty("operation").GetString());

        var s = (await new DeltaTable(_store, "t").LoadAsync())!;
        Assert.Equal([compact.Added[0].Path], s.Files.Select(f => f.Path));
        Assert.Equal(Canonical(EventRows("a").Concat(EventRows("b"))), Canonical(await ReadAllAsync(s)));
    }

    [Fact]
    public async Task A_txn_already_in_the_table_is_skipped_without_uploading()
    {
        var table = new DeltaTable(_store, "t");
        var first = await table.CommitAsync(new DeltaWrite(EventSchema, [EventFile(_temp.Path, "1")]) { Txn = new DeltaTxn("app", 5) });
        Assert.Equal(DeltaCommitStatus.Committed, first.Status);
        var keys = await KeysAsync(_store, "t/");

        // The same batch again, from this writer and from a fresh one, and an older batch: skipped.
        foreach (var (writer, version) in new[] { (table, 5L), (new DeltaTable(_store, "t"), 5L), (table, 4L) })
        {
            var again = await writer.CommitAsync(new DeltaWrite(EventSchema, [EventFile(_temp.Path, "2")]) { Txn = new DeltaTxn("app", version) });
            Assert.Equal(DeltaCommitStatus.AlreadyCommitted, again.Status);
            Assert.Equal(0, again.Version);
            Assert.Empty(again.Added);
        }
        Assert.Equal(keys, await KeysAsync(_store, "t/"));

        // Another app id, and the next batch: committed.
        var other = await table.CommitAsync(new DeltaWrite(EventSchema, [EventFile(_temp.Path, "3")]) { Txn = new DeltaTxn("other-app", 0) });
        var next = await table.CommitAsync(new DeltaWrite(EventSchema, [EventFile(_temp.Path, "4")]) { Txn = new DeltaTxn("app", 6) });
        Assert.Equal((DeltaCommitStatus.Committed, 1L), (other.Status, other.Version));
        Assert.Equal((DeltaCommitStatus.Committed, 2L), (next.Status, next.Version));
        var s = (await new DeltaTable(_store, "t").LoadAsync())!;
        Assert.Equal(6, s.Txns["app"]);
        Assert.Equal(0, s.Txns["other-app"]);
        Assert.Equal(9, (await ReadAllAsync(s)).Count);
    }

    [Fact]
    public async Task A_store_without_local_paths_is_read_through_downloads_that_the_scan_deletes()
    {
        await new DeltaTable(_store, "t").CommitAsync(new DeltaWrite(EventSchema, [EventFile(_temp.Path, "r")]));
        var remote = new RemoteLikeStore(_store);
        var s = (await new DeltaTable(remote, "t").LoadAsync())!;
        Assert.Equal(Canonical(EventRows("r")), Canonical(await ReadAllAsync(s)));
        string downloaded;
        using (var scan = await s.OpenScanAsync())
        {
            downloaded = Assert.Single(scan.Paths);
            Assert.DoesNotContain(_temp.Path, downloaded, StringComparison.Ordinal);
            Assert.True(File.Exists(downloaded));
            using var c = OpenDuckDb();
            Assert.Equal(3L, Query(c, $"SELECT count(*) FROM {scan.Sql} AS t").Single()[0]);
        }
        Assert.False(File.Exists(downloaded));
    }

    [Fact]
    public async Task An_empty_table_scans_as_zero_rows_with_the_schema_columns()
    {
        var table = new DeltaTable(_store, "t");
        var r = await table.CommitAsync(new DeltaWrite(EventSchema, []));
        Assert.Equal(0, r.Version);
        var s = (await table.LoadAsync())!;
        Assert.Empty(s.Files);
        Assert.Empty(await ReadAllAsync(s));
        using var scan = await s.OpenScanAsync();
        using var c = OpenDuckDb();
        var columns = Query(c, $"DESCRIBE SELECT * FROM {scan.Sql} AS t");
        Assert.Equal(EventSchema.Fields.Select(f => f.Name), columns.Select(x => (string)x[0]!));
        Assert.Equal("TIMESTAMP WITH TIME ZONE", columns[4][1]);
        Assert.Equal("DOUBLE[]", columns[5][1]);
    }
}
