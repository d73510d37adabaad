using System.Globalization;
using DuckDB.NET.Data;
using PinPipe.Configuration;
using PinPipe.DuckDb;
using PinPipe.Tests.Support;

namespace PinPipe.Tests.DuckDb;

/// <summary>The one DuckDB helper: settings, statements, parameters, cancellation and the Parquet spill, on a real DuckDB.</summary>
public sealed class DuckDbSessionTests : IDisposable
{
    private readonly TempDirectory _dir = new("duckdb");
    private readonly DuckDBConnection _db = DuckDbSession.Open();

    private static string Setting(DuckDBConnection db, string name) =>
        db.Query("SELECT current_setting($1)::VARCHAR", [name], r => r.GetString(0)).Single();

    /// <summary>What DuckDB shows for <paramref name="name"/> after <c>SET name = 'value'</c> on a plain connection.</summary>
    private static string SettingAfterSet(string name, string value)
    {
        using var plain = new DuckDBConnection("DataSource=:memory:");
        plain.Open();
        using (var command = plain.CreateCommand())
        {
#pragma warning disable CA2100 // test-written SQL: a setting name and value the test itself chose
            command.CommandText = $"SET {name} = '{value}'";
#pragma warning restore CA2100
            command.ExecuteNonQuery();
        }
        return Setting(plain, name);
    }

    [Fact]
    public void OpenShared_gives_connections_to_one_small_bounded_database()
    {
        // Other tests open shared connections in parallel: take a pair opened within one instance (no recycle between).
        DuckDBConnection a, b;
        while (true)
        {
            long generation = DuckDbSession.SharedGeneration;
            a = DuckDbSession.OpenShared();
            b = DuckDbSession.OpenShared();
            if (DuckDbSession.SharedGeneration == generation || generation == 0) break;
            a.Dispose();
            b.Dispose();
        }
        using var aa = a;
        using var bb = b;
        // One database: a table one connection makes is seen by the other (no instance per helper query).
        string table = "shared_probe_" + Guid.NewGuid().ToString("N");
        a.Execute($"CREATE TABLE {table} AS SELECT 42 AS x");
        try
        {
            Assert.Equal(42, b.QueryLongs($"SELECT x FROM {table}")[0]);
        }
        finally
        {
            b.Execute($"DROP TABLE {table}");
        }
        Assert.Equal(SettingAfterSet("memory_limit", DuckDbSession.SharedMemoryLimit), Setting(b, "memory_limit"));
        Assert.Equal(DuckDbSession.SharedThreads.ToString(System.Globalization.CultureInfo.InvariantCulture), Setting(b, "threads"));
        Assert.Equal("UTC", Setting(b, "TimeZone"));
        Assert.Equal("false", Setting(b, "enable_external_file_cache"));
        Assert.NotEqual(Setting(_db, "memory_limit"), Setting(b, "memory_limit"));
    }

    [Fact]
    public void OpenShared_replaces_the_instance_every_SharedRecycleEvery_connections_and_earlier_connections_keep_working()
    {
        using var early = DuckDbSession.OpenShared();
        string table = "early_probe_" + Guid.NewGuid().ToString("N");
        early.Execute($"CREATE TABLE {table} AS SELECT 7 AS x");
        long before = DuckDbSession.SharedGeneration;
        for (int i = 0; i < DuckDbSession.SharedRecycleEvery + 1; i++)
        {
            using var c = DuckDbSession.OpenShared();
            Assert.Equal("UTC", Setting(c, "TimeZone"));
        }
        Assert.True(DuckDbSession.SharedGeneration > before, $"generation {DuckDbSession.SharedGeneration} after {before}");
        // A new instance: the early connection's instance stays open until the connection is disposed.
        using var late = DuckDbSession.OpenShared();
        Assert.Equal(7, early.QueryLongs($"SELECT x FROM {table}")[0]);
        Assert.Throws<DuckDBException>(() => late.QueryLongs($"SELECT x FROM {table}"));
        early.Execute($"DROP TABLE {table}");
        Assert.Equal(SettingAfterSet("memory_limit", DuckDbSession.SharedMemoryLimit), Setting(late, "memory_limit"));
        Assert.Equal("false", Setting(late, "enable_external_file_cache"));
    }

    [Fact]
    public void ExecuteChanged_returns_the_rows_a_statement_changed_also_through_a_prepared_statement()
    {
        _db.Execute("CREATE TABLE changed (n INTEGER)");
        Assert.Equal(5, _db.ExecuteChanged("INSERT INTO changed SELECT * FROM range(5)"));
        _db.Execute("PREPARE delete_odd AS DELETE FROM changed WHERE n % 2 = 1");
        Assert.Equal(2, _db.ExecuteChanged("EXECUTE delete_odd"));
        Assert.Equal(0, _db.ExecuteChanged("EXECUTE delete_odd"));
        Assert.Equal(3, _db.QueryLongs("SELECT count(*) FROM changed")[0]);
    }

    [Fact]
    public void Open_applies_every_setting()
    {
        string spill = Path.Combine(_dir.Path, "it's ünï spill");
        using var db = DuckDbSession.Open(new DuckDbSettings
        {
            MemoryLimit = "100MB",
            Threads = 1,
            TempDirectory = spill,
            TimeZone = "Europe/Paris",
            AllocatorFlushThreshold = "16MB",
        });
        Assert.Equal("1", Setting(db, "threads"));
        Assert.Equal("Europe/Paris", Setting(db, "TimeZone"));
        Assert.Equal(spill, Setting(db, "temp_directory"));
        Assert.Equal(SettingAfterSet("memory_limit", "100MB"), Setting(db, "memory_limit"));
        Assert.Equal(SettingAfterSet("allocator_flush_threshold", "16MB"), Setting(db, "allocator_flush_threshold"));
        Assert.NotEmpty(Setting(db, "memory_limit"));
    }

    [Fact]
    public void Unset_settings_keep_DuckDBs_defaults_and_the_time_zone_is_UTC()
    {
        using var plain = new DuckDBConnection("DataSource=:memory:");
        plain.Open();
        foreach (string name in new[] { "threads", "memory_limit", "allocator_flush_threshold" })
            Assert.Equal(Setting(plain, name), Setting(_db, name));
        Assert.Equal("UTC", Setting(_db, "TimeZone"));
        Assert.Equal(new DateTime(2024, 1, 2, 3, 4, 5), _db.Query("SELECT TIMESTAMPTZ '2024-01-02 03:04:05+00'::TIMESTAMP", r => r.GetDateTime(0)).Single());
    }

    [Fact]
    public void A_setting_DuckDB_refuses_is_DuckDBs_error()
    {
        var e = Assert.Throws<DuckDBException>(() => DuckDbSession.Open(new DuckDbSettings { MemoryLimit = "lots" }));
        Assert.Contains("Memory", e.Message, StringComparison.OrdinalIgnoreCase);
        e = Assert.Throws<DuckDBException>(() => DuckDbSession.Open(new DuckDbSettings { TimeZone = "Mars/Olympus_Mons" }));
        Assert.Contains("Mars/Olympus_Mons", e.Message, StringComparison.Ordinal);
        Assert.Throws<ArgumentOutOfRangeException>(() => DuckDbSession.Open(new DuckDbSettings { Threads = -1 }));
        Assert.Throws<ArgumentException>(() => DuckDbSession.Open(new DuckDbSettings { TempDirectory = "a\0b" }));
    }

    /// <summary>Memory limits in each form the settings accept (<c>Batch:MemoryLimit</c>, <c>Stream:MemoryLimit</c>).</summary>
    public static TheoryData<string> MemoryLimits => ["4GB", "1250MB", "512MiB", "1.5 GB", "2gib", "80%", "10%"];

    [Theory]
    [MemberData(nameof(MemoryLimits))]
    public void Every_memory_limit_the_settings_accept_DuckDB_takes(string limit)
    {
        Assert.True(SettingFormats.IsMemoryLimit(limit));
        using var db = DuckDbSession.Open(new DuckDbSettings { MemoryLimit = limit });
        Assert.NotEmpty(Setting(db, "memory_limit"));
    }

    [Fact]
    public void A_percentage_is_that_share_of_the_memory_available_to_the_process()
    {
        long available = GC.GetGCMemoryInfo().TotalAvailableMemoryBytes;
        Assert.Equal($"{available / 2}B", SettingFormats.ToDuckDbMemoryLimit("50%"));
        Assert.Null(SettingFormats.ToDuckDbMemoryLimit("0%"));
        Assert.Null(SettingFormats.ToDuckDbMemoryLimit("lots"));
    }

    [Fact]
    public void Parameters_are_bound_not_spliced()
    {
        _db.Execute("CREATE TABLE p (s VARCHAR, n BIGINT, b BLOB)");
        _db.Execute("INSERT INTO p VALUES ($1, $2, $3)", ["it's'); DROP TABLE p; --", null, new byte[] { 0, 1, 0xFF }]);
        var rows = _db.Query("SELECT s, n, b FROM p WHERE s = $1", ["it's'); DROP TABLE p; --"],
            r => (r.GetString(0), r.IsDBNull(1), r.GetFieldValue<Stream>(2)));
        var (s, nIsNull, b) = Assert.Single(rows);
        Assert.Equal("it's'); DROP TABLE p; --", s);
        Assert.True(nIsNull);
        using var bytes = new MemoryStream();
        b.CopyTo(bytes);
        Assert.Equal(new byte[] { 0, 1, 0xFF }, bytes.ToArray());
    }

    [Fact]
    public void QueryLongs_reads_the_first_row_nulls_as_zero()
    {
        Assert.Equal([3L, 0L, -7L, 2L], _db.QueryLongs("SELECT 3, NULL, -7::INTEGER, count(*) FROM range(2) UNION ALL SELECT 9, 9, 9, 9 ORDER BY 1 LIMIT 1"));
        var e = Assert.Throws<InvalidOperationException>(() => _db.QueryLongs("SELECT 1 WHERE false"));
        Assert.Contains("no row", e.Message, StringComparison.Ordinal);
        Assert.Equal([0L, 1L, 2L], _db.Query("SELECT * FROM range(3)", r => r.GetInt64(0)));
    }

    [Fact]
    public async Task Cancelling_the_token_interrupts_the_running_query_and_the_connection_goes_on()
    {
        using var running = new ManualResetEventSlim();
        // A function DuckDB calls for every chunk of rows: it tells the test the query is running.
#pragma warning disable DuckDBNET001 // DuckDB.NET marks scalar functions experimental
        _db.RegisterScalarFunction<long, long>("running", (readers, writer, rows) =>
        {
            running.Set();
            for (ulong i = 0; i < rows; i++) writer.WriteValue(readers[0].GetValue<long>(i), i);
        });
#pragma warning restore DuckDBNET001
        using var cts = new CancellationTokenSource();
        // 10^13 rows through a .NET function: hours of work, which only the interrupt ends.
        var query = Task.Run(() => _db.QueryLongs("SELECT count(running(i)) FROM range(10000000000000) t(i)", cts.Token));
        Assert.True(running.Wait(TimeSpan.FromMinutes(2)), "The query did not start.");

        await cts.CancelAsync();
        var e = await Assert.ThrowsAsync<OperationCanceledException>(() => query.WaitAsync(TimeSpan.FromMinutes(2)));
        // DuckDB stopped it (what DuckDB.NET threw is inside: not a check before or after the query), and the exception
        // carries the caller's token, so `catch (OperationCanceledException) when (token.IsCancellationRequested)` is theirs.
        Assert.True(e.InnerException is OperationCanceledException or DuckDBException, e.ToString());
        Assert.Equal(cts.Token, e.CancellationToken);

        // The interrupt does not reach the statements after it.
        Assert.Equal([20_000_000L], _db.QueryLongs("SELECT count(*) FROM range(20000000)"));
        _db.Execute("CREATE TABLE after_cancel AS SELECT * FROM range(3)", CancellationToken.None);
        Assert.Equal([3L], _db.QueryLongs("SELECT count(*) FROM after_cancel"));
    }

    [Fact]
    public void A_cancelled_token_runs_nothing_and_None_runs_clean_up()
    {
        using var cts = new CancellationTokenSource();
        cts.Cancel();
        Assert.ThrowsAny<OperationCanceledException>(() => _db.Execute("CREATE TABLE never AS SELECT 1", cts.Token));
        Assert.ThrowsAny<OperationCanceledException>(() => _db.QueryLongs("SELECT 1", cts.Token));
        Assert.ThrowsAny<OperationCanceledException>(() => _db.Query("SELECT 1", r => r.GetInt32(0), cts.Token));
        Assert.ThrowsAny<OperationCanceledException>(() => _db.CopyToParquet("(SELECT 1)", _dir.File("never.parquet"), cts.Token));
        Assert.Equal([0L], _db.QueryLongs("SELECT count(*) FROM information_schema.tables WHERE table_name = 'never'"));
        Assert.False(File.Exists(_dir.File("never.parquet")));
        _db.Execute("CREATE TABLE cleanup AS SELECT 1", CancellationToken.None);
        Assert.Equal([1L], _db.QueryLongs("SELECT count(*) FROM cleanup"));
    }

    [Fact]
    public void RequireColumns_names_the_relation_and_what_it_lacks()
    {
        _db.Execute("CREATE TABLE rc (seq BIGINT, Origin VARCHAR)");
        _db.RequireColumns(Sql.Relation("rc", "r"), "rc", ["seq", "origin"]); // case-insensitive, as DuckDB
        var e = Assert.Throws<ArgumentException>(() => _db.RequireColumns(Sql.Relation("rc", "r"), "rc", ["seq", "line", "ind"]));
        Assert.Contains("Relation 'rc' lacks column(s) line, ind; it has: seq, Origin.", e.Message, StringComparison.Ordinal);
        e = Assert.Throws<ArgumentException>(() => _db.RequireColumns(Sql.Relation("nowhere", "r"), "nowhere", ["seq"]));
        Assert.Contains("Cannot read relation 'nowhere'", e.Message, StringComparison.Ordinal);
        Assert.IsType<DuckDBException>(e.InnerException);
    }

    [Fact]
    public void CopyToParquetFiles_splits_rows_into_files_of_about_the_size_given()
    {
        // One writer thread: with several, DuckDB may finish two row groups into a file before it checks the size (a flake).
        _db.Execute("SET threads = 1");
        _db.Execute("CREATE TABLE big AS SELECT i AS id, md5(i::VARCHAR) || md5((i * 7)::VARCHAR) AS text FROM range(400000) r(i)");
        var written = _db.CopyToParquetFiles("(SELECT * FROM big ORDER BY id)", Path.Combine(_dir.Path, "big"), maxFileBytes: 4L << 20);
        var files = written.Select(f => f.Path).ToList();

        Assert.True(files.Count >= 3, $"{files.Count} file(s)");
        // Each file with the rows its writer counted, in the order of the files' numbers.
        Assert.Equal(files.Select(f => _db.QueryLongs($"SELECT count(*) FROM read_parquet({Sql.Literal(f)})")[0]), written.Select(f => f.Rows));
        Assert.Equal(files.Select((_, i) => $"part_{i}.parquet"), files.Select(Path.GetFileName));
        // And the statistics its writer kept: the ids' range in the file, no nulls.
        Assert.All(written, f =>
        {
            var id = f.Columns!["\"id\""];
            Assert.Equal("0", id["null_count"]);
            Assert.Equal([long.Parse(id["min"], CultureInfo.InvariantCulture), long.Parse(id["max"], CultureInfo.InvariantCulture)],
                _db.QueryLongs($"SELECT min(id), max(id) FROM read_parquet({Sql.Literal(f.Path)})"));
        });
        foreach (string f in files) Assert.True(new FileInfo(f).Length < (4L << 20) * 3, $"{f}: {new FileInfo(f).Length} bytes");
        string all = $"read_parquet({Sql.List(files)})";
        Assert.Equal([400000L, 0L], _db.QueryLongs($"SELECT count(*), (SELECT count(*) FROM (SELECT * FROM big EXCEPT ALL SELECT * FROM {all})) FROM {all}"));

        var empty = _db.CopyToParquetFiles("(SELECT * FROM big WHERE id < 0)", Path.Combine(_dir.Path, "empty"));
        Assert.Equal([0L], _db.QueryLongs($"SELECT count(*) FROM read_parquet({Sql.Literal(Assert.Single(empty).Path)})"));
        Assert.Equal(0, empty[0].Rows);
        Assert.Throws<ArgumentException>(() => _db.CopyToParquetFiles("big", Path.Combine(_dir.Path, "big")));
    }

    [Fact]
    public void CopyToParquetFiles_with_row_groups_bounded_by_bytes_rewrites_wide_rows_within_a_small_memory_limit()
    {
        // 260,000 rows of about 300 bytes (pin-like varchars, little to compress), in a Parquet file as DuckDB writes it.
        string input = Path.Combine(_dir.Path, "wide-in.parquet");
        _db.Execute($"""
            COPY (SELECT i AS ind, md5(i::VARCHAR) AS unique_id,
                         md5((i * 3)::VARCHAR) || md5((i * 5)::VARCHAR) || md5((i * 11)::VARCHAR) || md5((i * 13)::VARCHAR) || md5((i * 17)::VARCHAR) || md5((i * 19)::VARCHAR) AS description,
                         'https://i.pinimg.com/originals/' || md5((i * 23)::VARCHAR) || '.jpg' AS image_src
                  FROM range(260000) r(i)) TO {Sql.Literal(input)} (FORMAT parquet)
            """);
        string source = $"(SELECT * FROM read_parquet({Sql.Literal(input)}))";
        DuckDBConnection Bounded(bool preserveOrder) => DuckDbSession.Open(new DuckDbSettings
        {
            Threads = 1,
            MemoryLimit = "100MB",
            TempDirectory = Path.Combine(_dir.Path, "spill"),
            PreserveInsertionOrder = preserveOrder,
        });

        using (var plain = Bounded(preserveOrder: true))
        {
            // DuckDB's row groups of 122,880 rows do not fit in 100 MB.
            var oom = Assert.Throws<DuckDBException>(() => plain.CopyToParquetFiles(source, Path.Combine(_dir.Path, "plain")));
            Assert.True(DuckDbSession.IsOutOfMemory(oom), oom.Message);
            // Row groups by bytes need insertion order off: DuckDB refuses them otherwise, naming the setting.
            var refused = Assert.Throws<DuckDBException>(() => plain.CopyToParquetFiles(source, Path.Combine(_dir.Path, "refused"), rowGroupBytes: 16L << 20));
            Assert.Contains("preserve_insertion_order", refused.Message, StringComparison.Ordinal);
        }

        using var bounded = Bounded(preserveOrder: false);
        Assert.Equal("false", Setting(bounded, "preserve_insertion_order"));
        var files = bounded.CopyToParquetFiles(source, Path.Combine(_dir.Path, "bounded"), rowGroupBytes: 16L << 20).Select(f => f.Path).ToList();

        string all = $"read_parquet({Sql.List(files)})";
        Assert.Equal([260000L, 0L], _db.QueryLongs($"SELECT count(*), (SELECT count(*) FROM (SELECT * FROM {source} EXCEPT ALL SELECT * FROM {all})) FROM {all}"));
        var rowGroups = _db.QueryLongs($"SELECT DISTINCT row_group_num_rows FROM parquet_metadata({Sql.List(files)})");
        Assert.True(rowGroups.Max() < 122_880, $"row groups of {string.Join(", ", rowGroups)} rows");
        Assert.Throws<ArgumentOutOfRangeException>(() => bounded.CopyToParquetFiles("(SELECT 1)", Path.Combine(_dir.Path, "negative"), rowGroupBytes: -1));
    }

    [Fact]
    public void CopyToParquet_writes_a_snappy_file_DuckDB_reads_back_as_the_rows()
    {
        _db.Execute("""
            CREATE TABLE spill AS
            SELECT i AS id,
                   CASE WHEN i % 3 = 0 THEN NULL ELSE 'row ' || i || ' it''s ünï 😀' END AS text,
                   i / 7.0 AS ratio,
                   TIMESTAMPTZ '2024-01-01 00:00:00+00' + to_seconds(i) AS at,
                   [i, i + 0.5] AS pair
            FROM range(5000) r(i)
            """);
        string file = Path.Combine(_dir.Path, "it's ünï", "spill.parquet");
        Directory.CreateDirectory(Path.GetDirectoryName(file)!);

        _db.CopyToParquet("spill", file);

        string read = $"read_parquet({Sql.Literal(file)})";
        Assert.Equal([5000L], _db.QueryLongs($"SELECT count(*) FROM {read}"));
        Assert.Equal([0L, 0L], _db.QueryLongs($"SELECT (SELECT count(*) FROM (SELECT * FROM spill EXCEPT ALL SELECT * FROM {read})), (SELECT count(*) FROM (SELECT * FROM {read} EXCEPT ALL SELECT * FROM spill))"));
        Assert.Equal(
            _db.Query("SELECT column_name, data_type FROM information_schema.columns WHERE table_name = 'spill' ORDER BY ordinal_position", r => (r.GetString(0), r.GetString(1))),
            _db.Query($"SELECT column_name, column_type FROM (DESCRIBE SELECT * FROM {read})", r => (r.GetString(0), r.GetString(1))));
        Assert.Equal(["SNAPPY"], _db.Query($"SELECT DISTINCT compression::VARCHAR FROM parquet_metadata({Sql.Literal(file)})", r => r.GetString(0)));
    }

    [Fact]
    public void CopyToParquet_takes_a_query_and_replaces_an_existing_file()
    {
        string file = _dir.File("query.parquet");
        File.WriteAllText(file, "not parquet");
        _db.CopyToParquet("(SELECT i AS n, 'x' AS s FROM range(3) r(i) WHERE i > 0)", file);
        Assert.Equal([1L, 2L], _db.Query($"SELECT n FROM read_parquet({Sql.Literal(file)}) ORDER BY n", r => r.GetInt64(0)));

        Assert.Throws<DuckDBException>(() => _db.CopyToParquet("no_such_table", _dir.File("none.parquet")));
        Assert.Throws<ArgumentException>(() => _db.CopyToParquet(" ", _dir.File("none.parquet")));
        Assert.Throws<ArgumentException>(() => _db.CopyToParquet("(SELECT 1)", ""));
    }

    public void Dispose()
    {
        _db.Dispose();
        _dir.Dispose();
    }
}
