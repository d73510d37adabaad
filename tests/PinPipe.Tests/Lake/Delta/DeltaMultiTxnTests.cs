using PinPipe.Lake.Delta;
using PinPipe.Lake.Directory;
using PinPipe.Tests.Support;

namespace PinPipe.Tests.Lake.Delta;

/// <summary>Several txns in one commit (<see cref="DeltaWrite.Txns"/>), as the stream job writes one per stream partition.</summary>
public sealed class DeltaMultiTxnTests : IDisposable
{
    private readonly TempDirectory _temp = new("delta-txns");
    private readonly DirectoryObjectStore _store;

    public DeltaMultiTxnTests() => _store = new DirectoryObjectStore(_temp.Path, "lake");

    public void Dispose() => _temp.Dispose();

    private DeltaWrite Write(string tag, params DeltaTxn[] txns) =>
        new(DeltaTableWriteTests.EventSchema, [DeltaTableWriteTests.EventFile(_temp.Path, tag)]) { Txns = txns };

    [Fact]
    public async Task Every_txn_of_a_write_is_recorded_in_the_same_commit()
    {
        var table = new DeltaTable(_store, "t");
        var first = await table.CommitAsync(Write("1", new DeltaTxn("s:0", 10), new DeltaTxn("s:1", 4)));
        var second = await table.CommitAsync(Write("2", new DeltaTxn("s:0", 12)));
        Assert.Equal((DeltaCommitStatus.Committed, 0L), (first.Status, first.Version));
        Assert.Equal((DeltaCommitStatus.Committed, 1L), (second.Status, second.Version));

        var v0 = (await table.LoadAsync(0))!;
        Assert.Equal(new Dictionary<string, long> { ["s:0"] = 10, ["s:1"] = 4 }, v0.Txns);
        var latest = (await new DeltaTable(_store, "t").LoadAsync())!;
        Assert.Equal(new Dictionary<string, long> { ["s:0"] = 12, ["s:1"] = 4 }, latest.Txns);
        string commit0 = System.Text.Encoding.UTF8.GetString((await _store.GetAsync("t/_delta_log/00000000000000000000.json"))!);
        Assert.Equal(2, commit0.Split('\n').Count(l => l.StartsWith("{\"txn\"", StringComparison.Ordinal)));
    }

    [Fact]
    public async Task A_write_is_skipped_when_any_of_its_txns_is_already_committed()
    {
        var table = new DeltaTable(_store, "t");
        await table.CommitAsync(Write("1", new DeltaTxn("s:0", 10), new DeltaTxn("s:1", 4)));
        var again = await new DeltaTable(_store, "t").CommitAsync(Write("2", new DeltaTxn("s:0", 20), new DeltaTxn("s:1", 4)));
        Assert.Equal(DeltaCommitStatus.AlreadyCommitted, again.Status);
        Assert.Equal(0, again.Version);
        Assert.Single((await table.LoadAsync())!.Files);

        // A commit with txns but no files only moves the offsets.
        var empty = await table.CommitAsync(new DeltaWrite(DeltaTableWriteTests.EventSchema, []) { Txns = [new DeltaTxn("s:1", 9)] });
        Assert.Equal(DeltaCommitStatus.Committed, empty.Status);
        var snapshot = (await table.LoadAsync())!;
        Assert.Single(snapshot.Files);
        Assert.Equal(9, snapshot.Txns["s:1"]);
    }

    [Fact]
    public async Task The_same_app_id_twice_in_one_write_is_refused()
    {
        var table = new DeltaTable(_store, "t");
        var e = await Assert.ThrowsAsync<DeltaException>(() => table.CommitAsync(Write("1", new DeltaTxn("s:0", 1), new DeltaTxn("s:0", 2))));
        Assert.Equal(DeltaErrorCode.InvalidWrite, e.Code);
        Assert.Contains("s:0", e.Message, StringComparison.Ordinal);
        e = await Assert.ThrowsAsync<DeltaException>(() => table.CommitAsync(Write("2", new DeltaTxn("s:0", 1)) with { Txn = new DeltaTxn("s:0", 3) }));
        Assert.Equal(DeltaErrorCode.InvalidWrite, e.Code);
        Assert.Null(await table.LoadAsync());
    }
}
