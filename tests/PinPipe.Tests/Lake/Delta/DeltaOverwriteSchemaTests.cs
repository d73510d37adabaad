using PinPipe.Lake.Delta;
using PinPipe.Lake.Directory;
using PinPipe.Tests.Support;
using Xunit;
using static PinPipe.Tests.Lake.Delta.DeltaTestKit;

namespace PinPipe.Tests.Lake.Delta;

/// <summary>
/// An overwrite that replaces the table's schema (Spark's <c>overwriteSchema</c>): a <c>metaData</c> action in the overwrite
/// commit, the same table id and properties; earlier versions keep their schema for time travel; anything else that would
/// change the schema is refused.
/// </summary>
public sealed class DeltaOverwriteSchemaTests : IDisposable
{
    private static readonly DeltaSchema IdSchema = new(new DeltaField("id", DeltaType.Long));
    private static readonly DeltaSchema Wider = new(new DeltaField("id", DeltaType.Long), new DeltaField("name", DeltaType.String));
    private readonly TempDirectory _temp = new("delta-overwrite-schema");
    private readonly DirectoryObjectStore _store;

    public DeltaOverwriteSchemaTests() => _store = new DirectoryObjectStore(_temp.Path, "lake");

    public void Dispose() => _temp.Dispose();

    [Fact]
    public async Task An_overwrite_with_OverwriteSchema_commits_the_new_schema_keeping_the_table_id_and_properties_and_old_versions_keep_theirs()
    {
        var table = new DeltaTable(_store, "t");
        await table.CommitAsync(new DeltaWrite(IdSchema, [WriteParquet(_temp.Path, "SELECT CAST(range AS BIGINT) AS id FROM range(3)")])
        {
            Configuration = new Dictionary<string, string> { ["delta.checkpointInterval"] = "5" },
        });
        var before = (await table.LoadAsync())!;
        string wide = WriteParquet(_temp.Path, "SELECT CAST(7 AS BIGINT) AS id, 'seven' AS name");

        // Without the option the schema change is refused, as before.
        var refused = await Assert.ThrowsAsync<DeltaException>(() => table.CommitAsync(new DeltaWrite(Wider, [wide]) { Mode = DeltaWriteMode.Overwrite }));
        Assert.Equal(DeltaErrorCode.SchemaMismatch, refused.Code);
        Assert.Contains("OverwriteSchema", refused.Message, StringComparison.Ordinal);

        var commit = await table.CommitAsync(new DeltaWrite(Wider, [wide]) { Mode = DeltaWriteMode.Overwrite, OverwriteSchema = true });

        Assert.Equal((DeltaCommitStatus.Committed, 1L), (commit.Status, commit.Version));
        var lines = await File.ReadAllLinesAsync(Path.Combine(_temp.Path, "lake", "t", "_delta_log", $"{1:D20}.json"));
        Assert.Single(lines, l => l.StartsWith("{\"metaData\":", StringComparison.Ordinal));
        // A reader that replays the whole log sees the new schema, the same table.
        var after = (await new DeltaTable(_store, "t").LoadAsync())!;
        Assert.Equal(Wider, after.Schema);
        Assert.Equal(before.Metadata.Id, after.Metadata.Id);
        Assert.Equal("5", after.Metadata.Get("delta.checkpointInterval"));
        Assert.Equal(before.Metadata.CreatedTime, after.Metadata.CreatedTime);
        var row = Assert.Single(await ReadAllAsync(after));
        Assert.Equal([7L, "seven"], row);
        // Time travel to version 0 reads its own schema and rows.
        var old = (await new DeltaTable(_store, "t").LoadAsync(0))!;
        Assert.Equal(IdSchema, old.Schema);
        Assert.Equal([0L, 1L, 2L], (await ReadAllAsync(old)).Select(r => (long)r[0]!).Order());
        // Appends go on under the new schema; the old one is refused now.
        await table.CommitAsync(new DeltaWrite(Wider, [WriteParquet(_temp.Path, "SELECT CAST(8 AS BIGINT) AS id, 'eight' AS name")]));
        var stale = await Assert.ThrowsAsync<DeltaException>(() => table.CommitAsync(new DeltaWrite(IdSchema, [WriteParquet(_temp.Path, "SELECT CAST(9 AS BIGINT) AS id")])));
        Assert.Equal(DeltaErrorCode.SchemaMismatch, stale.Code);
        Assert.Equal(2, (await new DeltaTable(_store, "t").LoadAsync())!.Files.Count);
    }

    [Fact]
    public async Task OverwriteSchema_with_the_same_schema_writes_no_metadata_and_with_an_append_is_refused()
    {
        var table = new DeltaTable(_store, "t");
        await table.CommitAsync(new DeltaWrite(IdSchema, [WriteParquet(_temp.Path, "SELECT CAST(1 AS BIGINT) AS id")]));

        await table.CommitAsync(new DeltaWrite(IdSchema, [WriteParquet(_temp.Path, "SELECT CAST(2 AS BIGINT) AS id")]) { Mode = DeltaWriteMode.Overwrite, OverwriteSchema = true });
        var lines = await File.ReadAllLinesAsync(Path.Combine(_temp.Path, "lake", "t", "_delta_log", $"{1:D20}.json"));
        Assert.DoesNotContain(lines, l => l.StartsWith("{\"metaData\":", StringComparison.Ordinal));

        var e = await Assert.ThrowsAsync<DeltaException>(() => table.CommitAsync(new DeltaWrite(Wider, [WriteParquet(_temp.Path, "SELECT CAST(3 AS BIGINT) AS id, 'x' AS name")]) { OverwriteSchema = true }));
        Assert.Equal(DeltaErrorCode.InvalidWrite, e.Code);
        Assert.Contains("Overwrite", e.Message, StringComparison.Ordinal);
        Assert.Equal(1, (await new DeltaTable(_store, "t").LoadAsync())!.Version);
    }
}
