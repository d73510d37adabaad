using PinPipe.Lake.Delta;
using PinPipe.Lake.Directory;
using PinPipe.Tests.Support;
using static PinPipe.Tests.Lake.Delta.DeltaTestKit;

namespace PinPipe.Tests.Lake.Delta;

/// <summary><see cref="DeltaSnapshot.OpenKeyScanAsync"/>: only the files whose key stats allow one of the keys are read.</summary>
public sealed class DeltaKeyScanTests : IDisposable
{
    private static readonly DeltaSchema Schema = new(new DeltaField("ind", DeltaType.Long), new DeltaField("title", DeltaType.String));

    private readonly TempDirectory _temp = new("delta-key-scan");
    private readonly DirectoryObjectStore _store;

    public DeltaKeyScanTests() => _store = new DirectoryObjectStore(_temp.Path, "bucket");

    public void Dispose() => _temp.Dispose();

    [Theory]
    [InlineData(new long[] { 20, 21 }, 0, new long[0])] // above every file's range: nothing read
    [InlineData(new long[] { 4, 5, 9 }, 0, new long[0])] // between the two ranges
    [InlineData(new long[] { 11, 11, 30 }, 1, new long[] { 11 })] // duplicates allowed; one file can hold them
    [InlineData(new long[] { 2, 12 }, 2, new long[] { 2, 12 })]
    [InlineData(new long[0], 0, new long[0])]
    public async Task Only_files_whose_range_holds_a_key_are_read_and_the_scan_finds_the_held_keys(long[] keys, int filesRead, long[] held)
    {
        var snapshot = await TwoFilesAsync();
        using var scan = await snapshot.OpenKeyScanAsync("ind", keys);
        Assert.Equal((filesRead, 2 - filesRead), (scan.FilesRead, scan.FilesSkipped));
        using var c = OpenDuckDb();
        string wanted = keys.Length == 0 ? "NULL" : string.Join(", ", keys);
        var found = Query(c, $"SELECT DISTINCT ind FROM {scan.Sql} AS t WHERE ind IN ({wanted}) ORDER BY ind").Select(r => (long)r[0]!).ToArray();
        Assert.Equal(held, found);
        // The scan of no file still has the column, typed as the table's.
        Assert.Equal("BIGINT", Query(c, $"SELECT typeof(ind) FROM (SELECT * FROM {scan.Sql} AS t UNION ALL SELECT 0) LIMIT 1").Single()[0]);
    }

    [Fact]
    public async Task A_column_not_in_the_table_is_refused_even_when_no_file_is_read()
    {
        var snapshot = await TwoFilesAsync();
        await Assert.ThrowsAsync<ArgumentException>(() => snapshot.OpenKeyScanAsync("nope", []));
    }

    /// <summary>A table of two files: ind 1..3 and ind 10..12.</summary>
    private async Task<DeltaSnapshot> TwoFilesAsync()
    {
        string low = WriteParquet(_temp.Path, "SELECT CAST(i AS BIGINT) AS ind, 'pin ' || i AS title FROM range(1, 4) r(i)");
        string high = WriteParquet(_temp.Path, "SELECT CAST(i AS BIGINT) AS ind, 'pin ' || i AS title FROM range(10, 13) r(i)");
        var table = new DeltaTable(_store, "keys");
        await table.CommitAsync(new DeltaWrite(Schema, [low]));
        await table.CommitAsync(new DeltaWrite(Schema, [high]));
        return (await table.LoadAsync())!;
    }
}
