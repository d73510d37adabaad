using PinPipe.DuckDb;
using PinPipe.Lake.Delta;

namespace PinPipe.Tests.Verify;

/// <summary>Damage done to a Delta table behind the pipeline's back, for verify to find.</summary>
internal static class TableEdits
{
    /// <summary>Commits the row of the table's lowest <c>ind</c> again, in a file of its own written in <paramref name="folder"/>; returns that ind.</summary>
    public static async Task<long> CommitLowestRowAgainAsync(DeltaTable table, string folder)
    {
        var snapshot = (await table.LoadAsync())!;
        string again = Path.Combine(folder, "again.parquet");
        long ind;
        using (var scan = await snapshot.OpenScanAsync())
        using (var db = DuckDbSession.Open())
        {
            ind = db.QueryLongs($"SELECT min(ind) FROM {scan.Sql}")[0];
            db.Execute($"COPY (SELECT * FROM {scan.Sql} WHERE ind = {ind} LIMIT 1) TO '{again}' (FORMAT parquet)");
        }
        await table.CommitAsync(new DeltaWrite(snapshot.Schema, [again]));
        return ind;
    }
}
