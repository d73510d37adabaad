using DuckDB.NET.Data;
using PinPipe.DuckDb;
using PinPipe.Insights;
using PinPipe.Tests.Support;

namespace PinPipe.Tests.Insights;

public sealed class InsightEngineTests
{
    [Fact]
    public async Task RunAll_returns_the_nine_insights_in_spec_order_with_their_columns()
    {
        using var db = new InsightDatabase();

        var results = await InsightEngine.RunAllAsync(db.Connection);

        Assert.Equal(Enumerable.Range(1, 9), results.Select(r => r.Number));
        Assert.Equal(InsightQueries.All.Select(q => q.Name), results.Select(r => r.Name));
        Assert.Equal(9, results.Select(r => r.Name).Distinct().Count());
        Assert.All(results, r => Assert.Empty(r.Rows));
        Assert.Equal(["country", "category", "category_count"], results[0].Columns);
        Assert.Equal(["post_year", "category", "category_count"], results[1].Columns);
        Assert.Equal(["country", "poster_name", "follower_count"], results[2].Columns);
        Assert.Equal(["country", "follower_count"], results[3].Columns);
        Assert.Equal(["age_group", "category", "category_count"], results[4].Columns);
        Assert.Equal(["age_group", "median_follower_count"], results[5].Columns);
        Assert.Equal(["post_year", "number_users_joined"], results[6].Columns);
        Assert.Equal(["post_year", "median_follower_count"], results[7].Columns);
        Assert.Equal(["age_group", "post_year", "median_follower_count"], results[8].Columns);
        Assert.Equal("01-popular-category-per-country", results[0].FileStem);
        Assert.Equal("09-median-followers-per-age-group-and-join-year", results[8].FileStem);
    }

    [Fact]
    public async Task The_clean_fixture_rows_give_the_insights_worked_out_by_hand()
    {
        using var db = new InsightDatabase();
        string Json(string table) => "'" + Path.Combine(TestData.Fixtures, "clean", table + ".jsonl").Replace("'", "''", StringComparison.Ordinal) + "'";
        db.Execute($"""
            INSERT INTO clean_pin SELECT * FROM read_json({Json("pin")}, format = 'newline_delimited', columns = {"{"}
                ind: 'BIGINT', unique_id: 'VARCHAR', title: 'VARCHAR', description: 'VARCHAR', follower_count: 'BIGINT',
                poster_name: 'VARCHAR', tag_list: 'VARCHAR', is_image_or_video: 'VARCHAR', image_src: 'VARCHAR',
                save_location: 'VARCHAR', category: 'VARCHAR'{"}"});
            INSERT INTO clean_geo SELECT * FROM read_json({Json("geo")}, format = 'newline_delimited', columns = {"{"}
                ind: 'BIGINT', country: 'VARCHAR', coordinates: 'DOUBLE[]', "timestamp": 'TIMESTAMPTZ'{"}"});
            INSERT INTO clean_user SELECT * FROM read_json({Json("user")}, format = 'newline_delimited', columns = {"{"}
                ind: 'BIGINT', user_name: 'VARCHAR', age: 'INTEGER', date_joined: 'TIMESTAMPTZ'{"}"});
            """);

        var r = await InsightEngine.RunAllAsync(db.Connection);
        var shared = await InsightEngine.RunAllWithSharedJoinsAsync(db.Connection);
        for (int i = 0; i < 9; i++) Assert.Equal(r[i].Rows, shared[i].Rows);
        Assert.Empty(db.Connection.Query("SELECT table_name FROM duckdb_tables() WHERE table_name LIKE '_pinpipe_insights%'", x => x.GetString(0))); // cleaned up

        // pin ⋈ geo: 7528 Albania/mens-fashion/no poster/2020, 10794 Cocos/vehicles/Ray 437/2022,
        // 5730 Colombia/finance/Consuelo 0/2021, 1 Korea/christmas/Ann 5000/2018, 2 Côte d'Ivoire/art/Bo 1500/2019.
        InsightQueriesTests.AssertRows(r[0],
            ["Albania", "mens-fashion", 1L],
            ["Cocos (Keeling) Islands", "vehicles", 1L],
            ["Colombia", "finance", 1L],
            ["Côte d'Ivoire", "art", 1L],
            ["Korea, Republic of", "christmas", 1L]);
        InsightQueriesTests.AssertRows(r[1],
            [2018, "christmas", 1L], [2019, "art", 1L], [2020, "mens-fashion", 1L], [2021, "finance", 1L], [2022, "vehicles", 1L]);
        InsightQueriesTests.AssertRows(r[2],
            ["Cocos (Keeling) Islands", "Ray Uyemura", 437L],
            ["Colombia", "Consuelo Aguirre", 0L],
            ["Côte d'Ivoire", "Bo Example", 1500L],
            ["Korea, Republic of", "Ann Example", 5000L]);
        InsightQueriesTests.AssertRows(r[3], ["Korea, Republic of", 5000L]);
        // pin ⋈ user: 7528 age 20/mens-fashion/null/2015, 10794 34/vehicles/437/2016, 5730 36/finance/0/2015,
        // 1 51/christmas/5000/2020, 2 50/art/1500/2014.
        InsightQueriesTests.AssertRows(r[4],
            ["+50", "christmas", 1L], ["18-24", "mens-fashion", 1L], ["25-35", "vehicles", 1L], ["36-50", "art", 1L]);
        InsightQueriesTests.AssertRows(r[5], ["+50", 5000L], ["25-35", 437L], ["36-50", 0L]);
        InsightQueriesTests.AssertRows(r[6], [2015, 2L], [2016, 1L], [2020, 1L]);
        InsightQueriesTests.AssertRows(r[7], [2015, 0L], [2016, 437L], [2020, 5000L]);
        InsightQueriesTests.AssertRows(r[8], ["+50", 2020, 5000L], ["25-35", 2016, 437L], ["36-50", 2015, 0L]);
    }

    [Fact]
    public async Task A_missing_clean_table_fails_with_a_message_naming_the_insight_and_the_table()
    {
        using var connection = new DuckDBConnection("DataSource=:memory:");
#pragma warning disable CA1849 // DuckDB.NET has no real async: its *Async methods run synchronously
        connection.Open();
#pragma warning restore CA1849

        var ex = await Assert.ThrowsAsync<InvalidOperationException>(() => InsightEngine.RunAllAsync(connection));

        Assert.Contains("#1 (popular-category-per-country)", ex.Message, StringComparison.Ordinal);
        Assert.Contains("clean_pin", ex.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task A_clean_table_without_a_needed_column_fails_naming_the_insight_and_the_column()
    {
        using var db = new InsightDatabase();
        db.Execute("ALTER TABLE clean_user DROP COLUMN age");

        var ex = await Assert.ThrowsAsync<InvalidOperationException>(() => InsightEngine.RunAsync(db.Connection, InsightQueries.PopularCategoryPerAgeGroup));

        Assert.Contains("#5 (popular-category-per-age-group)", ex.Message, StringComparison.Ordinal);
        Assert.Contains("age", ex.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task A_cancelled_token_stops_the_run()
    {
        using var db = new InsightDatabase();
        using var cts = new CancellationTokenSource();
        await cts.CancelAsync();

        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => InsightEngine.RunAllAsync(db.Connection, cts.Token));
    }

    [Fact]
    public async Task Cancelling_interrupts_a_running_query()
    {
        using var db = new InsightDatabase();
        // Runs for minutes unless interrupted.
        var endless = new InsightQuery(1, "endless", "Endless", ["n"], "SELECT count(*) AS n FROM range(1000000000000) a WHERE a.range % 7 = 3");
        using var cts = new CancellationTokenSource();
        cts.CancelAfter(TimeSpan.FromMilliseconds(300));

        var ex = await Assert.ThrowsAnyAsync<OperationCanceledException>(() => Task.Run(() => InsightEngine.RunAsync(db.Connection, endless, cts.Token)));

        Assert.Equal(cts.Token, ex.CancellationToken);
        Assert.Contains("#1 (endless) was cancelled", ex.Message, StringComparison.Ordinal);
    }
}
