using System.Text;
using PinPipe.Lake.Delta;
using PinPipe.Lake.Directory;
using PinPipe.Tests.Support;
using static PinPipe.Tests.Lake.Delta.DeltaTestKit;

namespace PinPipe.Tests.Lake.Delta;

/// <summary>Bad tables and bad writes give errors that name what is wrong, and leave nothing behind.</summary>
public sealed class DeltaErrorTests : IDisposable
{
    private const string Schema = """{\"type\":\"struct\",\"fields\":[{\"name\":\"id\",\"type\":\"long\",\"nullable\":true,\"metadata\":{}}]}""";
    private const string Metadata = "{\"metaData\":{\"id\":\"x\",\"format\":{\"provider\":\"parquet\",\"options\":{}},\"schemaString\":\"" + Schema
        + "\",\"partitionColumns\":[],\"configuration\":{}}}";

    private static readonly DeltaSchema IdSchema = new(new DeltaField("id", DeltaType.Long));

    private readonly TempDirectory _temp = new("delta-errors");
    private readonly DirectoryObjectStore _store;

    public DeltaErrorTests() => _store = new DirectoryObjectStore(_temp.Path, "lake");

    public void Dispose() => _temp.Dispose();

    private async Task CommitRawAsync(string prefix, long version, params string[] lines) =>
        await _store.PutAsync($"{prefix}/_delta_log/{version:D20}.json", Encoding.UTF8.GetBytes(string.Join("\n", lines) + "\n"));

    private async Task<DeltaException> LoadFailsAsync(string prefix, DeltaErrorCode code)
    {
        var e = await Assert.ThrowsAsync<DeltaException>(() => new DeltaTable(_store, prefix).LoadAsync());
        Assert.Equal(code, e.Code);
        return e;
    }

    private async Task<DeltaException> CommitFailsAsync(DeltaWrite write, DeltaErrorCode code, string prefix = "t")
    {
        var before = await KeysAsync(_store, prefix + "/");
        var e = await Assert.ThrowsAsync<DeltaException>(() => new DeltaTable(_store, prefix).CommitAsync(write));
        Assert.Equal(code, e.Code);
        Assert.Equal(before, await KeysAsync(_store, prefix + "/")); // nothing uploaded, nothing committed
        return e;
    }

    private string IdFile(string select = "SELECT CAST(range AS BIGINT) AS id FROM range(3)") => WriteParquet(_temp.Path, select);

    [Fact]
    public async Task An_unknown_reader_feature_or_version_is_refused()
    {
        await CommitRawAsync("dv", 0, """{"protocol":{"minReaderVersion":3,"minWriterVersion":7,"readerFeatures":["deletionVectors"],"writerFeatures":["deletionVectors"]}}""", Metadata);
        var e = await LoadFailsAsync("dv", DeltaErrorCode.Unsupported);
        Assert.Contains("reader feature(s) 'deletionVectors'", e.Message, StringComparison.Ordinal);

        await CommitRawAsync("v4", 0, """{"protocol":{"minReaderVersion":4,"minWriterVersion":7}}""", Metadata);
        Assert.Contains("reader version 4", (await LoadFailsAsync("v4", DeltaErrorCode.Unsupported)).Message, StringComparison.Ordinal);

        // A later protocol upgrade counts too.
        await CommitRawAsync("up", 0, """{"protocol":{"minReaderVersion":1,"minWriterVersion":2}}""", Metadata);
        await CommitRawAsync("up", 1, """{"protocol":{"minReaderVersion":3,"minWriterVersion":7,"readerFeatures":["v2Checkpoint"],"writerFeatures":["v2Checkpoint"]}}""");
        Assert.Contains("'v2Checkpoint'", (await LoadFailsAsync("up", DeltaErrorCode.Unsupported)).Message, StringComparison.Ordinal);

        // A feature that does not change reading is accepted.
        await CommitRawAsync("ok", 0, """{"protocol":{"minReaderVersion":3,"minWriterVersion":7,"readerFeatures":["vacuumProtocolCheck"],"writerFeatures":["vacuumProtocolCheck"]}}""", Metadata);
        Assert.Equal(0, (await new DeltaTable(_store, "ok").LoadAsync())!.Version);
    }

    [Fact]
    public async Task A_table_of_a_higher_writer_version_is_read_but_not_written()
    {
        await CommitRawAsync("t", 0, """{"protocol":{"minReaderVersion":1,"minWriterVersion":4}}""", Metadata);
        Assert.Equal(0, (await new DeltaTable(_store, "t").LoadAsync())!.Version);
        var e = await CommitFailsAsync(new DeltaWrite(IdSchema, [IdFile()]), DeltaErrorCode.Unsupported);
        Assert.Contains("writer version 4", e.Message, StringComparison.Ordinal);

        await CommitRawAsync("w7", 0, """{"protocol":{"minReaderVersion":1,"minWriterVersion":7,"writerFeatures":["generatedColumns"]}}""", Metadata);
        var e7 = await CommitFailsAsync(new DeltaWrite(IdSchema, [IdFile()]), DeltaErrorCode.Unsupported, "w7");
        Assert.Contains("'generatedColumns'", e7.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task A_gap_in_the_log_and_an_unparsable_commit_are_refused()
    {
        string protocol = """{"protocol":{"minReaderVersion":1,"minWriterVersion":2}}""";
        await CommitRawAsync("gap", 0, protocol, Metadata);
        await CommitRawAsync("gap", 1, """{"add":{"path":"a.parquet","partitionValues":{},"size":1,"modificationTime":1,"dataChange":true}}""");
        await CommitRawAsync("gap", 3, """{"add":{"path":"b.parquet","partitionValues":{},"size":1,"modificationTime":1,"dataChange":true}}""");
        var e = await LoadFailsAsync("gap", DeltaErrorCode.Corrupt);
        Assert.Contains("version 2 is missing", e.Message, StringComparison.Ordinal);
        Assert.Contains("next present is 3", e.Message, StringComparison.Ordinal);
        // Up to the gap the table is readable.
        Assert.Equal(["a.parquet"], (await new DeltaTable(_store, "gap").LoadAsync(1))!.Files.Select(f => f.Path));

        await CommitRawAsync("bad", 0, protocol, Metadata, """{"add":{"path":""");
        var bad = await LoadFailsAsync("bad", DeltaErrorCode.Corrupt);
        Assert.Contains("commit 0 line 3 is not valid JSON", bad.Message, StringComparison.Ordinal);

        await CommitRawAsync("nosize", 0, protocol, Metadata, """{"add":{"path":"a.parquet","partitionValues":{},"modificationTime":1,"dataChange":true}}""");
        Assert.Contains("'size'", (await LoadFailsAsync("nosize", DeltaErrorCode.Corrupt)).Message, StringComparison.Ordinal);

        await CommitRawAsync("nometa", 0, protocol);
        Assert.Contains("no metaData", (await LoadFailsAsync("nometa", DeltaErrorCode.Corrupt)).Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Unknown_actions_crc_files_and_unknown_fields_are_ignored()
    {
        await CommitRawAsync("t", 0, """{"protocol":{"minReaderVersion":1,"minWriterVersion":2,"futureField":1}}""", Metadata,
            """{"add":{"path":"dir%20x/a%25b.parquet","partitionValues":{},"size":5,"modificationTime":1,"dataChange":true,"somethingNew":{"k":1}}}""",
            """{"domainMetadata":{"domain":"d","configuration":"{}","removed":false}}""", """{"futureAction":{"x":1}}""");
        await _store.PutAsync("t/_delta_log/00000000000000000000.crc", Encoding.UTF8.GetBytes("{}"));
        await _store.PutAsync("t/_delta_log/.00000000000000000001.json.crc", Encoding.UTF8.GetBytes("junk"));
        await _store.PutAsync("t/_delta_log/00000000000000000001.00000000000000000002.compacted.json", Encoding.UTF8.GetBytes("junk"));
        var s = (await new DeltaTable(_store, "t").LoadAsync())!;
        Assert.Equal(0, s.Version);
        var f = Assert.Single(s.Files);
        Assert.Equal("dir x/a%b.parquet", f.Path); // percent-decoded
        Assert.Equal("t/dir x/a%b.parquet", s.KeyOf(f));
    }

    [Fact]
    public async Task A_partition_value_DuckDB_SQL_cannot_carry_is_a_clear_error()
    {
        // A string partition value holding a NUL (valid JSON, \u0000) cannot be quoted into DuckDB's SQL text, which
        // ends at a NUL: reading names the column instead of running a statement cut short.
        const string partSchema = """{\"type\":\"struct\",\"fields\":[{\"name\":\"id\",\"type\":\"long\",\"nullable\":true,\"metadata\":{}},{\"name\":\"part\",\"type\":\"string\",\"nullable\":true,\"metadata\":{}}]}""";
        await _store.PutAsync("pt/part=x/a.parquet", await File.ReadAllBytesAsync(IdFile()));
        await CommitRawAsync("pt", 0, """{"protocol":{"minReaderVersion":1,"minWriterVersion":2}}""",
            "{\"metaData\":{\"id\":\"x\",\"format\":{\"provider\":\"parquet\",\"options\":{}},\"schemaString\":\"" + partSchema + "\",\"partitionColumns\":[\"part\"],\"configuration\":{}}}",
            """{"add":{"path":"part=x/a.parquet","partitionValues":{"part":"a\u0000b"},"size":1,"modificationTime":1,"dataChange":true}}""");
        var snapshot = (await new DeltaTable(_store, "pt").LoadAsync())!;
        var e = await Assert.ThrowsAsync<DeltaException>(async () => { await foreach (var _ in snapshot.ReadRowsAsync()) { } });
        Assert.Equal(DeltaErrorCode.Unsupported, e.Code);
        Assert.Contains("column 'part'", e.Message, StringComparison.Ordinal);
        Assert.Contains("NUL", e.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task An_append_with_another_schema_is_refused()
    {
        await new DeltaTable(_store, "t").CommitAsync(new DeltaWrite(IdSchema, [IdFile()]));
        var intSchema = new DeltaSchema(new DeltaField("id", DeltaType.Integer));
        var e = await CommitFailsAsync(new DeltaWrite(intSchema, [IdFile("SELECT CAST(1 AS INTEGER) AS id")]), DeltaErrorCode.SchemaMismatch);
        Assert.Contains("id long", e.Message, StringComparison.Ordinal);
        Assert.Contains("id integer", e.Message, StringComparison.Ordinal);

        var wider = new DeltaSchema(new DeltaField("id", DeltaType.Long), new DeltaField("name", DeltaType.String));
        await CommitFailsAsync(new DeltaWrite(wider, [IdFile()]), DeltaErrorCode.SchemaMismatch);
    }

    [Fact]
    public async Task Data_files_that_do_not_match_the_schema_are_refused()
    {
        var tsSchema = new DeltaSchema(new DeltaField("id", DeltaType.Long), new DeltaField("at", DeltaType.Timestamp));
        var naive = await CommitFailsAsync(new DeltaWrite(tsSchema, [IdFile("SELECT CAST(1 AS BIGINT) AS id, TIMESTAMP '2024-01-01' AS at")]), DeltaErrorCode.SchemaMismatch);
        Assert.Contains("column 'at' is TIMESTAMP", naive.Message, StringComparison.Ordinal);
        Assert.Contains("TIMESTAMPTZ", naive.Message, StringComparison.Ordinal);

        var wrongType = await CommitFailsAsync(new DeltaWrite(IdSchema, [IdFile("SELECT CAST(1 AS INTEGER) AS id")]), DeltaErrorCode.SchemaMismatch);
        Assert.Contains("column 'id' is INTEGER", wrongType.Message, StringComparison.Ordinal);

        var extra = await CommitFailsAsync(new DeltaWrite(IdSchema, [IdFile("SELECT CAST(1 AS BIGINT) AS id, 'x' AS other")]), DeltaErrorCode.SchemaMismatch);
        Assert.Contains("column 'other', which is not in the table schema", extra.Message, StringComparison.Ordinal);

        var required = new DeltaSchema(new DeltaField("id", DeltaType.Long, Nullable: false));
        var nulls = await CommitFailsAsync(new DeltaWrite(required, [IdFile("SELECT CAST(NULL AS BIGINT) AS id")]), DeltaErrorCode.SchemaMismatch);
        Assert.Contains("1 null(s) in column 'id'", nulls.Message, StringComparison.Ordinal);

        string text = Path.Combine(_temp.Path, "not.parquet");
        await File.WriteAllTextAsync(text, "hello");
        var notParquet = await CommitFailsAsync(new DeltaWrite(IdSchema, [text]), DeltaErrorCode.InvalidWrite);
        Assert.Contains("not a readable Parquet file", notParquet.Message, StringComparison.Ordinal);

        // A column the file lacks reads as null.
        var twoColumns = new DeltaSchema(new DeltaField("id", DeltaType.Long), new DeltaField("name", DeltaType.String));
        await new DeltaTable(_store, "t").CommitAsync(new DeltaWrite(twoColumns, [IdFile("SELECT CAST(1 AS BIGINT) AS id")]));
        var row = Assert.Single(await ReadAllAsync((await new DeltaTable(_store, "t").LoadAsync())!));
        Assert.Equal([1L, null], row);
    }

    [Fact]
    public async Task Invalid_writes_name_the_problem()
    {
        var missing = await CommitFailsAsync(new DeltaWrite(IdSchema, [Path.Combine(_temp.Path, "nope.parquet")]), DeltaErrorCode.InvalidWrite);
        Assert.Contains("nope.parquet' does not exist", missing.Message, StringComparison.Ordinal);

        var noTable = await CommitFailsAsync(new DeltaWrite(IdSchema, [IdFile()]) { Removes = ["x.parquet"] }, DeltaErrorCode.InvalidWrite);
        Assert.Contains("does not exist", noTable.Message, StringComparison.Ordinal);

        var badInterval = await CommitFailsAsync(new DeltaWrite(IdSchema, [IdFile()]) { Configuration = new Dictionary<string, string> { ["delta.checkpointInterval"] = "0" } },
            DeltaErrorCode.InvalidWrite);
        Assert.Contains("delta.checkpointInterval", badInterval.Message, StringComparison.Ordinal);

        await CommitFailsAsync(new DeltaWrite(IdSchema, [IdFile()]) { Txn = new DeltaTxn("", 1) }, DeltaErrorCode.InvalidWrite);
        await CommitFailsAsync(new DeltaWrite(new DeltaSchema([]), []), DeltaErrorCode.InvalidWrite);

        await new DeltaTable(_store, "t").CommitAsync(new DeltaWrite(IdSchema, [IdFile()]));
        var notLive = await CommitFailsAsync(new DeltaWrite(IdSchema, [IdFile()]) { Removes = ["part-gone.parquet"] }, DeltaErrorCode.InvalidWrite);
        Assert.Contains("'part-gone.parquet' is not a live file", notLive.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task An_append_only_table_refuses_removes_but_accepts_appends()
    {
        var table = new DeltaTable(_store, "t");
        await table.CommitAsync(new DeltaWrite(IdSchema, [IdFile()]) { Configuration = new Dictionary<string, string> { ["delta.appendOnly"] = "true" } });
        var e = await CommitFailsAsync(new DeltaWrite(IdSchema, [IdFile()]) { Mode = DeltaWriteMode.Overwrite }, DeltaErrorCode.InvalidWrite);
        Assert.Contains("append-only", e.Message, StringComparison.Ordinal);
        Assert.Equal(1, (await table.CommitAsync(new DeltaWrite(IdSchema, [IdFile()]))).Version);
        // A rewrite without data change (compaction) is allowed.
        var s = (await table.LoadAsync())!;
        var r = await table.CommitAsync(new DeltaWrite(IdSchema, [IdFile()]) { Removes = [s.Files[0].Path], DataChange = false });
        Assert.Equal(2, r.Version);
    }
}
