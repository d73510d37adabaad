using PinPipe.Batch;
using PinPipe.DuckDb;
using PinPipe.Insights;
using PinPipe.Tests.Support;

namespace PinPipe.Tests.Insights;

/// <summary>
/// The insights kept up to date from the files each run adds (<see cref="InsightState"/>) against the nine queries over
/// the whole tables, on seeded random rows full of nulls and ties whose pin, geo and user rows arrive in different runs.
/// </summary>
public sealed class InsightStateTests : IDisposable
{
    private static readonly string[] Views = ["clean_pin", "clean_geo", "clean_user"];
    private readonly TempDirectory _dir = new("insight-state");
    private readonly Dictionary<string, List<string>> _files = Views.ToDictionary(v => v, _ => new List<string>());

    public void Dispose() => _dir.Dispose();

    private string StateFolder => _dir.File("state");

    /// <summary>Writes random rows of inds [from, to) as one Parquet file per table and per run in 0..runs-1 (each row's run drawn apart per table).</summary>
    private void WriteRuns(int seed, long from, long to, int runs, int firstRun = 0)
    {
        var random = new Random(seed);
        using var db = new InsightDatabase();
        db.Execute("CREATE TABLE run_of (ind BIGINT, r0 INTEGER, r1 INTEGER, r2 INTEGER)");
        db.Execute("BEGIN TRANSACTION");
        string?[] categories = ["art", "beauty", "finance", "travel", null];
        string?[] countries = ["Albania", "Côte d'Ivoire", "Chad", "Åland Islands", null];
        string?[] posters = ["ann", "Bob", "bob", "Émile", null];
        long?[] followers = [0, 1, 5, 100, 5_000, 2_000_000, null];
        int?[] ages = [15, 18, 24, 25, 35, 36, 50, 51, 75, null];
        string?[] instants = ["2014-12-31 23:59:30+00", "2015-01-01 00:00:10+00", "2016-06-01 12:00:00+02", "2018-03-01 00:00:00-05", "2019-07-01 08:00:00", "2020-12-31 23:59:59", "2022-02-02 02:02:02", null];
        for (long ind = from; ind < to; ind++)
        {
            int Draw() => firstRun + random.Next(runs);
            if (random.Next(20) != 0) db.Pin(ind, categories[random.Next(categories.Length)], posters[random.Next(posters.Length)], followers[random.Next(followers.Length)]);
            if (random.Next(20) != 0) db.Geo(ind, countries[random.Next(countries.Length)], instants[random.Next(instants.Length)]);
            if (random.Next(20) != 0) db.User(ind, ages[random.Next(ages.Length)], instants[random.Next(instants.Length)]);
            db.Execute("INSERT INTO run_of VALUES (?, ?, ?, ?)", ind, Draw(), Draw(), Draw());
        }
        db.Execute("COMMIT");
        for (int run = firstRun; run < firstRun + runs; run++)
            for (int t = 0; t < Views.Length; t++)
            {
                string path = _dir.File($"{Views[t]}-{run}-{Guid.NewGuid():N}.parquet");
                db.Execute($"COPY (SELECT * FROM {Views[t]} WHERE ind IN (SELECT ind FROM run_of WHERE r{t} = {run}) ORDER BY ind) TO {Sql.Literal(path)} (FORMAT parquet)");
                _files[Views[t]].Add(path);
            }
    }

    /// <summary>The tables as a batch run sees them: the files of runs up to <paramref name="run"/> (all when null).</summary>
    private Dictionary<string, BatchTableFiles> Tables(int? run = null, string location = "file:///tables/") =>
        Views.ToDictionary(v => v, v => new BatchTableFiles(location + v,
            [.. _files[v].Where(f => run is null || RunOf(f) <= run).Order(StringComparer.Ordinal)],
            (paths, _) => Task.FromResult($"(SELECT * FROM read_parquet([{string.Join(", ", paths.Select(Sql.Literal))}]))")));

    private static int RunOf(string path) => int.Parse(Path.GetFileName(path).Split('-')[^2], System.Globalization.CultureInfo.InvariantCulture);

    /// <summary>Runs the incremental insights on a fresh connection with views over <paramref name="tables"/>' files, and the nine queries there.</summary>
    private async Task<(IncrementalInsights Incremental, IReadOnlyList<InsightResult> Expected)> RunAsync(Dictionary<string, BatchTableFiles> tables)
    {
        using var connection = new DuckDB.NET.Data.DuckDBConnection("DataSource=:memory:");
#pragma warning disable CA1849 // DuckDB.NET has no real async
        connection.Open();
#pragma warning restore CA1849
        foreach (var (view, t) in tables)
            connection.Execute($"CREATE TEMP VIEW {view} AS SELECT * FROM read_parquet([{string.Join(", ", t.Files.Select(Sql.Literal))}])");
        var incremental = await InsightState.RunAllAsync(connection, StateFolder, tables);
        var expected = await InsightEngine.RunAllAsync(connection);
        Assert.Empty(connection.Query("SELECT table_name FROM duckdb_tables() WHERE table_name LIKE '_pinpipe_insights%'", x => x.GetString(0))); // cleaned up
        return (incremental, expected);
    }

    private static void AssertSame(IReadOnlyList<InsightResult> expected, IReadOnlyList<InsightResult> actual)
    {
        Assert.Equal(9, actual.Count);
        for (int i = 0; i < 9; i++)
        {
            Assert.Equal(expected[i].Columns, actual[i].Columns);
            InsightQueriesTests.AssertRows(actual[i], [.. expected[i].Rows]);
        }
    }

    [Theory]
    [InlineData(1)]
    [InlineData(2)]
    [InlineData(3)]
    public async Task Folding_in_each_runs_new_files_gives_the_nine_queries_rows_over_the_whole_tables(int seed)
    {
        WriteRuns(seed, 0, 500, runs: 4);
        for (int run = 0; run < 4; run++)
        {
            var (incremental, expected) = await RunAsync(Tables(run));
            AssertSame(expected, incremental.Results);
            Assert.Contains(run == 0 ? "rebuilt from all 3 files (no insight state yet)" : "3 new file(s) folded in", incremental.How, StringComparison.Ordinal);
            Assert.True(expected.Take(6).All(r => r.Rows.Count > 0), "the insights have rows to compare");
        }
        // Inds of later runs whose pins came before their geo and user rows, and the other way round.
        WriteRuns(seed + 10, 500, 800, runs: 2, firstRun: 4);
        var (last, all) = await RunAsync(Tables());
        AssertSame(all, last.Results);
        Assert.Contains("6 new file(s) folded in", last.How, StringComparison.Ordinal);
    }

    [Fact]
    public async Task A_run_with_no_new_file_reads_the_state_and_gives_the_same_rows()
    {
        WriteRuns(4, 0, 300, runs: 2);
        await RunAsync(Tables());
        var (again, expected) = await RunAsync(Tables());
        Assert.Equal("no new files", again.How);
        AssertSame(expected, again.Results);
    }

    [Fact]
    public async Task A_table_rewritten_under_the_state_rebuilds_it_from_every_file()
    {
        WriteRuns(5, 0, 300, runs: 2);
        await RunAsync(Tables());
        // A --full rebuild or a compaction: the pins now live in one new file, the ones the state covers are gone.
        string compacted = _dir.File($"clean_pin-9-{Guid.NewGuid():N}.parquet");
        using (var db = new InsightDatabase())
            db.Execute($"COPY (SELECT * FROM read_parquet([{string.Join(", ", _files["clean_pin"].Select(Sql.Literal))}])) TO {Sql.Literal(compacted)} (FORMAT parquet)");
        string gone = Path.GetFileName(_files["clean_pin"][0]);
        _files["clean_pin"].Clear();
        _files["clean_pin"].Add(compacted);

        var (rebuilt, expected) = await RunAsync(Tables());
        Assert.Contains("rebuilt from all 5 files", rebuilt.How, StringComparison.Ordinal);
        Assert.Contains("is no longer live", rebuilt.How, StringComparison.Ordinal);
        Assert.Contains(gone, rebuilt.How, StringComparison.Ordinal);
        AssertSame(expected, rebuilt.Results);
    }

    [Fact]
    public async Task An_unreadable_state_or_one_of_other_tables_is_rebuilt_and_the_rows_stay_right()
    {
        WriteRuns(6, 0, 300, runs: 2);
        await RunAsync(Tables(0));
        await File.WriteAllTextAsync(Path.Combine(StateFolder, "state.json"), "{ not json");
        var (unreadable, expected) = await RunAsync(Tables(1));
        Assert.Contains("is unreadable", unreadable.How, StringComparison.Ordinal);
        AssertSame(expected, unreadable.Results);

        var (elsewhere, same) = await RunAsync(Tables(location: "file:///other/"));
        Assert.Contains("the insight state is of file:///tables/clean_pin, not file:///other/clean_pin", elsewhere.How, StringComparison.Ordinal);
        AssertSame(same, elsewhere.Results);
    }

    [Fact]
    public async Task A_run_killed_before_naming_its_new_state_leaves_the_previous_one_which_the_next_run_brings_up_to_date()
    {
        WriteRuns(7, 0, 300, runs: 3);
        await RunAsync(Tables(0));
        // What a run killed while writing generation 2 leaves: a partial folder that state.json does not name.
        Directory.CreateDirectory(Path.Combine(StateFolder, "gen-2"));
        await File.WriteAllTextAsync(Path.Combine(StateFolder, "gen-2", "_pinpipe_insights_pg.parquet"), "partial");

        var (next, expected) = await RunAsync(Tables(2));
        Assert.Equal("6 new file(s) folded in", next.How);
        AssertSame(expected, next.Results);
        Assert.Equal(["gen-2"], Directory.GetDirectories(StateFolder).Select(Path.GetFileName));
    }

    [Fact]
    public async Task Missing_table_files_are_refused()
    {
        var tables = Tables();
        tables.Remove("clean_geo");
        using var connection = new DuckDB.NET.Data.DuckDBConnection("DataSource=:memory:");
#pragma warning disable CA1849 // DuckDB.NET has no real async
        connection.Open();
#pragma warning restore CA1849
        var ex = await Assert.ThrowsAsync<ArgumentException>(() => InsightState.RunAllAsync(connection, StateFolder, tables));
        Assert.Contains("clean_geo", ex.Message, StringComparison.Ordinal);
    }
}
