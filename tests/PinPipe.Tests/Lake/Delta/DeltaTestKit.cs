using DuckDB.NET.Data;
using PinPipe.Lake;
using PinPipe.Lake.Delta;
using PinPipe.Lake.Directory;
using PinPipe.Tests.Support;

namespace PinPipe.Tests.Lake.Delta;

/// <summary>Helpers of the Delta tests: the reference tables, Parquet files written by DuckDB, store wrappers.</summary>
internal static class DeltaTestKit
{
    /// <summary>The reference tables (Data/delta) as a read-only store: bucket <c>delta</c> of the test data folder.</summary>
    internal static DirectoryObjectStore ReferenceStore() => new(TestData.Root, "delta");

    /// <summary>Copies reference table <paramref name="name"/> into <paramref name="store"/> under <paramref name="prefix"/>.</summary>
    internal static async Task CopyReferenceTableAsync(string name, IObjectStore store, string prefix)
    {
        string root = Path.Combine(TestData.Root, "delta", name);
        foreach (string file in Directory.EnumerateFiles(root, "*", SearchOption.AllDirectories))
        {
            string key = prefix + "/" + Path.GetRelativePath(root, file).Replace(Path.DirectorySeparatorChar, '/');
            await store.PutAsync(key, await File.ReadAllBytesAsync(file));
        }
    }

    /// <summary>An open in-memory DuckDB connection (session time zone UTC).</summary>
    internal static DuckDBConnection OpenDuckDb(string timeZone = "UTC")
    {
        var c = new DuckDBConnection("DataSource=:memory:");
        c.Open();
        Execute(c, $"SET TimeZone = '{timeZone}'");
        return c;
    }

    internal static void Execute(DuckDBConnection c, string sql)
    {
        using var cmd = c.CreateCommand();
#pragma warning disable CA2100 // SQL written by the tests themselves
        cmd.CommandText = sql;
#pragma warning restore CA2100
        cmd.ExecuteNonQuery();
    }

    internal static List<object?[]> Query(DuckDBConnection c, string sql)
    {
        using var cmd = c.CreateCommand();
#pragma warning disable CA2100 // SQL written by the tests themselves
        cmd.CommandText = sql;
#pragma warning restore CA2100
        using var r = cmd.ExecuteReader();
        var rows = new List<object?[]>();
        while (r.Read())
        {
            var row = new object?[r.FieldCount];
            for (int i = 0; i < row.Length; i++) row[i] = r.IsDBNull(i) ? null : r.GetValue(i);
            rows.Add(row);
        }
        return rows;
    }

    /// <summary>The schema of the maintenance tests' small tables: <c>ind</c> (long), <c>name</c> (string).</summary>
    internal static readonly DeltaSchema IndNameSchema = new([new DeltaField("ind", DeltaType.Long), new DeltaField("name", DeltaType.String)]);

    /// <summary>A new Parquet file of <see cref="IndNameSchema"/>: <paramref name="rows"/> rows, <c>ind</c> from <paramref name="from"/> on.</summary>
    internal static string IndNameRows(string folder, int from, int rows) =>
        WriteParquet(folder, $"SELECT i::BIGINT AS ind, 'name ' || i AS name FROM range({from}, {from + rows}) t(i)");

    /// <summary>Writes the rows of <paramref name="select"/> to a new Parquet file in <paramref name="folder"/> with DuckDB.</summary>
    internal static string WriteParquet(string folder, string select)
    {
        string path = Path.Combine(folder, $"in-{Guid.NewGuid():N}.parquet");
        using var c = OpenDuckDb();
        Execute(c, $"COPY ({select}) TO '{path}' (FORMAT parquet)");
        return path;
    }

    internal static async Task<List<object?[]>> ReadAllAsync(DeltaSnapshot snapshot)
    {
        var rows = new List<object?[]>();
        await foreach (var row in snapshot.ReadRowsAsync()) rows.Add(row);
        return rows;
    }

    internal static async Task<List<string>> KeysAsync(IObjectStore store, string prefix)
    {
        var keys = new List<string>();
        await foreach (var info in store.ListAsync(prefix)) keys.Add(info.Key);
        return keys;
    }

    internal static DateTimeOffset Utc(int y, int mo, int d, int h = 0, int mi = 0, int s = 0, int ms = 0) => new(y, mo, d, h, mi, s, ms, TimeSpan.Zero);
}

/// <summary>A real store seen through a wrapper: everything is delegated except <see cref="IObjectStore.LocalPath"/>,
/// which stays null (as for S3), so readers must download.</summary>
internal class RemoteLikeStore(IObjectStore inner) : IObjectStore
{
    public string Location => inner.Location;

    public virtual ValueTask PutAsync(string key, ReadOnlyMemory<byte> content, CancellationToken cancellationToken = default) => inner.PutAsync(key, content, cancellationToken);

    public virtual ValueTask<bool> PutIfAbsentAsync(string key, ReadOnlyMemory<byte> content, CancellationToken cancellationToken = default) =>
        inner.PutIfAbsentAsync(key, content, cancellationToken);

    public bool AtomicPutIfAbsent => inner.AtomicPutIfAbsent;

    public virtual ValueTask PutFileAsync(string key, string localPath, CancellationToken cancellationToken = default) => inner.PutFileAsync(key, localPath, cancellationToken);

    public virtual ValueTask<byte[]?> GetAsync(string key, CancellationToken cancellationToken = default) => inner.GetAsync(key, cancellationToken);

    public virtual ValueTask<Stream?> OpenReadAsync(string key, CancellationToken cancellationToken = default) => inner.OpenReadAsync(key, cancellationToken);

    public ValueTask<bool> ExistsAsync(string key, CancellationToken cancellationToken = default) => inner.ExistsAsync(key, cancellationToken);

    public IAsyncEnumerable<ObjectInfo> ListAsync(string prefix, CancellationToken cancellationToken = default) => inner.ListAsync(prefix, cancellationToken);

    public ValueTask DeleteAsync(string key, CancellationToken cancellationToken = default) => inner.DeleteAsync(key, cancellationToken);
}
