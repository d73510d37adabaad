using PinPipe.Insights;

namespace PinPipe.Tests.Insights;

/// <summary>
/// Each insight query on a small hand-built data set whose answer is worked out by hand in the comments.
/// Expected values carry their types: years are <see cref="int"/>, counts and follower counts <see cref="long"/>.
/// </summary>
public sealed class InsightQueriesTests
{
    internal static void AssertRows(InsightResult result, params object?[][] expected)
    {
        var actual = string.Join("\n", result.Rows.Select(Show));
        var wanted = string.Join("\n", expected.Select(Show));
        Assert.Equal(wanted, actual);
        for (var r = 0; r < expected.Length; r++)
            for (var c = 0; c < expected[r].Length; c++)
                Assert.Equal(expected[r][c]?.GetType(), result.Rows[r][c]?.GetType());

        static string Show(object?[] row) => "(" + string.Join(", ", row.Select(v => v is null ? "null" : $"{v}:{v.GetType().Name}")) + ")";
    }

    private static void Post(InsightDatabase db, long ind, string? country, string? category, string? timestamp = "2019-06-01 12:00:00")
    {
        db.Pin(ind, category);
        db.Geo(ind, country, timestamp);
    }

    [Fact]
    public async Task Q1_most_popular_category_per_country_breaks_ties_alphabetically_and_ignores_nulls()
    {
        using var db = new InsightDatabase();
        // France: art 2, beauty 2 (tie -> art), three null categories (not a category, must not win).
        Post(db, 1, "France", "beauty");
        Post(db, 2, "France", "art");
        Post(db, 3, "France", "beauty");
        Post(db, 4, "France", "art");
        Post(db, 5, "France", null);
        Post(db, 6, "France", null);
        Post(db, 7, "France", null);
        // Côte d'Ivoire: travel 1, diy-and-crafts 1 (tie -> diy-and-crafts).
        Post(db, 8, "Côte d'Ivoire", "travel");
        Post(db, 9, "Côte d'Ivoire", "diy-and-crafts");
        // Albania: quotes 2 beats finance 1.
        Post(db, 10, "Albania", "finance");
        Post(db, 11, "Albania", "quotes");
        Post(db, 12, "Albania", "quotes");
        // A null country is not a country; Chad has only a null category, so no row.
        Post(db, 13, null, "vehicles");
        Post(db, 14, null, "vehicles");
        Post(db, 15, "Chad", null);
        Post(db, 16, "Korea, Republic of", "tattoos");
        // Ordinal order: 'Å' (U+00C5) sorts after every ASCII letter.
        Post(db, 17, "Åland Islands", "art");
        // A pin without a geo row and a geo row without a pin take no part (inner join).
        db.Pin(18, "education");
        db.Geo(19, "Albania");

        var result = await db.RunAsync(InsightQueries.PopularCategoryPerCountry);

        Assert.Equal(["country", "category", "category_count"], result.Columns);
        AssertRows(result,
            ["Albania", "quotes", 2L],
            ["Côte d'Ivoire", "diy-and-crafts", 1L],
            ["France", "art", 2L],
            ["Korea, Republic of", "tattoos", 1L],
            ["Åland Islands", "art", 1L]);
    }

    [Fact]
    public async Task Q2_most_popular_category_per_post_year_keeps_2018_to_2022_by_utc_year()
    {
        using var db = new InsightDatabase();
        // 2017-12-31 23:59:59 UTC is 2017: out of the window.
        Post(db, 1, "France", "art", "2017-12-31 23:59:59");
        Post(db, 2, "France", "art", "2017-06-01 00:00:00");
        // 2018: beauty 2 (one at the first second of 2018), art 1.
        Post(db, 3, "France", "beauty", "2018-01-01 00:00:00");
        Post(db, 4, "France", "beauty", "2018-06-01 10:00:00");
        Post(db, 5, "France", "art", "2018-07-01 10:00:00");
        // 2019: travel 1, quotes 1 -> quotes.
        Post(db, 6, "France", "travel", "2019-03-03 03:03:03");
        Post(db, 7, "France", "quotes", "2019-04-04 04:04:04");
        // 2020: vehicles 2 (the last second of 2020 UTC, and 00:30 on 1 Jan 2021 at +01:00 = 23:30 on 31 Dec 2020 UTC), art 1.
        Post(db, 8, "France", "vehicles", "2020-12-31 23:59:59");
        Post(db, 9, "France", "vehicles", "2021-01-01 00:30:00+01:00");
        Post(db, 10, "France", "art", "2020-05-05 05:05:05");
        // 2021: finance 1; two null categories do not count.
        Post(db, 11, "France", "finance", "2021-01-01 00:00:00");
        Post(db, 12, "France", null, "2021-02-02 00:00:00");
        Post(db, 13, "France", null, "2021-02-03 00:00:00");
        // 2022: education 1 at the last second; 2023 is out of the window.
        Post(db, 14, "France", "education", "2022-12-31 23:59:59");
        Post(db, 15, "France", "art", "2023-01-01 00:00:00");
        Post(db, 16, "France", "art", "2023-01-01 00:00:01");
        // A null timestamp has no year.
        Post(db, 17, "France", "tattoos", null);

        var result = await db.RunAsync(InsightQueries.PopularCategoryPerYear);

        Assert.Equal(["post_year", "category", "category_count"], result.Columns);
        AssertRows(result,
            [2018, "beauty", 2L],
            [2019, "quotes", 1L],
            [2020, "vehicles", 2L],
            [2021, "finance", 1L],
            [2022, "education", 1L]);
    }

    [Fact]
    public async Task Q2_and_Q7_take_the_utc_year_whatever_the_session_time_zone()
    {
        using var db = new InsightDatabase(timeZone: "Asia/Tokyo");
        // 23:30 UTC on 31 Dec 2020 is 08:30 on 1 Jan 2021 in Tokyo; the UTC year is 2020.
        Post(db, 1, "France", "art", "2020-12-31 23:30:00+00:00");
        db.User(1, 30, "2020-12-31 23:30:00+00:00");
        // 08:00 on 1 Jan 2019 in Tokyo is 23:00 on 31 Dec 2018 UTC.
        Post(db, 2, "France", "beauty", "2019-01-01 08:00:00+09:00");
        db.User(2, 30, "2015-01-01 08:00:00+09:00");

        AssertRows(await db.RunAsync(InsightQueries.PopularCategoryPerYear),
            [2018, "beauty", 1L],
            [2020, "art", 1L]);
        // 23:00 UTC on 31 Dec 2014 is out of 2015–2020.
        AssertRows(await db.RunAsync(InsightQueries.UsersJoinedPerYear),
            [2020, 1L]);
    }

    private static void Poster(InsightDatabase db, long ind, string? country, string? poster, long? followers)
    {
        db.Pin(ind, "art", poster, followers);
        db.Geo(ind, country);
    }

    [Fact]
    public async Task Q3_poster_with_most_followers_per_country_breaks_ties_alphabetically_and_skips_nulls()
    {
        using var db = new InsightDatabase();
        // France: bob and carol tie at 900 -> bob; bob's other pin (100) changes nothing; a nameless 5,000 and a
        // countless dave are left out.
        Poster(db, 1, "France", "alice", 500);
        Poster(db, 2, "France", "carol", 900);
        Poster(db, 3, "France", "bob", 900);
        Poster(db, 4, "France", "bob", 100);
        Poster(db, 5, "France", null, 5_000);
        Poster(db, 6, "France", "dave", null);
        // Germany: yann and xavier tie at 300 -> xavier.
        Poster(db, 7, "Germany", "yann", 300);
        Poster(db, 8, "Germany", "xavier", 300);
        Poster(db, 9, "Germany", "wendy", 299);
        // A null country is no country; Spain has only a nameless poster, so no row.
        Poster(db, 10, null, "max", 1_000_000);
        Poster(db, 11, "Spain", null, 50);
        // "Korea, Republic of" sorts before "Åland Islands" (ordinal).
        Poster(db, 12, "Åland Islands", "zoe", 0);
        Poster(db, 13, "Korea, Republic of", "kim", 7);

        var result = await db.RunAsync(InsightQueries.TopPosterPerCountry);

        Assert.Equal(["country", "poster_name", "follower_count"], result.Columns);
        AssertRows(result,
            ["France", "bob", 900L],
            ["Germany", "xavier", 300L],
            ["Korea, Republic of", "kim", 7L],
            ["Åland Islands", "zoe", 0L]);
    }

    [Fact]
    public async Task Q4_keeps_every_country_whose_top_poster_has_the_overall_maximum_one_row_each()
    {
        using var db = new InsightDatabase();
        // The overall maximum is 2M (nameless 9M, countryless 5M and countless pins are left out). Peru's, Brazil's,
        // Chile's and Åland's top posters have it: four rows, by country in ordinal order ('Å' after ASCII).
        // Brazil has two posters at 2M (mia, zed) and Peru one poster twice (lea): still one row each.
        // Argentina's top poster is 1 short: no row.
        Poster(db, 1, "Peru", "lea", 2_000_000);
        Poster(db, 2, "Peru", "lea", 2_000_000);
        Poster(db, 3, "Brazil", "mia", 2_000_000);
        Poster(db, 4, "Brazil", "zed", 2_000_000);
        Poster(db, 5, "Brazil", "abe", 10);
        Poster(db, 6, "Åland Islands", "zoe", 2_000_000);
        Poster(db, 7, "Chile", "lea", 2_000_000);
        Poster(db, 8, "Argentina", "ann", 1_999_999);
        Poster(db, 9, "Argentina", null, 9_000_000);
        Poster(db, 10, null, "ann", 5_000_000);
        Poster(db, 11, "Argentina", "kim", null);

        var result = await db.RunAsync(InsightQueries.TopPosterCountry);

        Assert.Equal(["country", "follower_count"], result.Columns);
        AssertRows(result,
            ["Brazil", 2_000_000L],
            ["Chile", 2_000_000L],
            ["Peru", 2_000_000L],
            ["Åland Islands", 2_000_000L]);
    }

    [Fact]
    public async Task Q4_gives_one_row_when_the_maximum_is_in_one_country_even_with_a_tie_inside_it()
    {
        using var db = new InsightDatabase();
        // Chile's ann and bob share the overall maximum (700); Peru's top poster has less: one row, Chile.
        Poster(db, 1, "Chile", "bob", 700);
        Poster(db, 2, "Chile", "ann", 700);
        Poster(db, 3, "Peru", "cy", 699);

        AssertRows(await db.RunAsync(InsightQueries.TopPosterCountry), ["Chile", 700L]);
    }

    [Fact]
    public async Task Q4_has_no_row_when_no_pin_has_a_poster_a_country_and_a_follower_count()
    {
        using var db = new InsightDatabase();
        Poster(db, 1, "Brazil", null, 10);
        Poster(db, 2, null, "ann", 10);
        Poster(db, 3, "Brazil", "kim", null);

        Assert.Empty((await db.RunAsync(InsightQueries.TopPosterCountry)).Rows);
        Assert.Empty((await db.RunAsync(InsightQueries.TopPosterPerCountry)).Rows);
    }

    private static void Aged(InsightDatabase db, long ind, int? age, string? category, long? followers = 1, string? joined = "2017-06-01 12:00:00")
    {
        db.Pin(ind, category, "poster", followers);
        db.User(ind, age, joined);
    }

    [Fact]
    public async Task Q5_most_popular_category_per_age_group_uses_inclusive_bounds_and_drops_under_18()
    {
        using var db = new InsightDatabase();
        // 17: no group, whatever it posts.
        Aged(db, 1, 17, "zzz");
        Aged(db, 2, 17, "zzz");
        Aged(db, 3, 17, "zzz");
        // 18-24: beauty 2 (18, 24), art 1 (24).
        Aged(db, 4, 18, "beauty");
        Aged(db, 5, 24, "beauty");
        Aged(db, 6, 24, "art");
        // 25-35: travel 1 (25), quotes 1 (35) -> quotes; a null category does not count.
        Aged(db, 7, 25, "travel");
        Aged(db, 8, 35, "quotes");
        Aged(db, 9, 25, null);
        Aged(db, 10, 30, null);
        // 36-50: finance 2 (36, 50), art 2 (50, 36) -> art.
        Aged(db, 11, 36, "finance");
        Aged(db, 12, 50, "finance");
        Aged(db, 13, 50, "art");
        Aged(db, 14, 36, "art");
        // +50: vehicles 2 (51, 80), tattoos 1 (51).
        Aged(db, 15, 51, "vehicles");
        Aged(db, 16, 80, "vehicles");
        Aged(db, 17, 51, "tattoos");
        // A null age has no group.
        Aged(db, 18, null, "zzz");
        Aged(db, 19, null, "zzz");

        var result = await db.RunAsync(InsightQueries.PopularCategoryPerAgeGroup);

        Assert.Equal(["age_group", "category", "category_count"], result.Columns);
        // Ordered by the first column, ordinally: '+' sorts before digits.
        AssertRows(result,
            ["+50", "vehicles", 2L],
            ["18-24", "beauty", 2L],
            ["25-35", "quotes", 1L],
            ["36-50", "art", 2L]);
    }

    [Fact]
    public async Task Q6_median_follower_count_per_age_group_is_the_lower_median_without_nulls()
    {
        using var db = new InsightDatabase();
        // 18-24: {10, 20, 30, 40} -> lower median 20 (not 25); the 17-year-old's 1,000,000 and a null are left out.
        Aged(db, 1, 18, "art", 10);
        Aged(db, 2, 24, "art", 40);
        Aged(db, 3, 20, "art", 30);
        Aged(db, 4, 22, "art", 20);
        Aged(db, 5, 17, "art", 1_000_000);
        Aged(db, 6, 24, "art", null);
        // 25-35: {100, 200, 300} -> 200 (a leaked 24 or 36 would move it).
        Aged(db, 7, 25, "art", 100);
        Aged(db, 8, 35, "art", 300);
        Aged(db, 9, 30, "art", 200);
        // 36-50: {5, 6, 7, 1000, 1000} -> 7.
        Aged(db, 10, 36, "art", 5);
        Aged(db, 11, 50, "art", 7);
        Aged(db, 12, 40, "art", 6);
        Aged(db, 13, 45, "art", 1000);
        Aged(db, 14, 47, "art", 1000);
        // +50: {1, 3} -> 1 (a leaked 50 would make it 3).
        Aged(db, 15, 51, "art", 3);
        Aged(db, 16, 90, "art", 1);

        var result = await db.RunAsync(InsightQueries.MedianFollowersPerAgeGroup);

        Assert.Equal(["age_group", "median_follower_count"], result.Columns);
        AssertRows(result,
            ["+50", 1L],
            ["18-24", 20L],
            ["25-35", 200L],
            ["36-50", 7L]);
    }

    [Fact]
    public async Task Q6_leaves_out_an_age_group_whose_follower_counts_are_all_null()
    {
        using var db = new InsightDatabase();
        Aged(db, 1, 60, "art", null);
        Aged(db, 2, 70, "art", null);
        Aged(db, 3, 20, "art", 5);

        AssertRows(await db.RunAsync(InsightQueries.MedianFollowersPerAgeGroup), ["18-24", 5L]);
    }

    [Fact]
    public async Task Q7_users_joined_per_join_year_counts_user_rows_from_2015_to_2020()
    {
        using var db = new InsightDatabase();
        db.User(1, 30, "2014-12-31 23:59:59");               // 2014: out
        db.User(2, 30, "2015-01-01 00:00:00");               // 2015
        db.User(3, 45, "2015-07-07 07:07:07");               // 2015
        db.User(4, 17, "2015-09-09 09:09:09");               // 2015: every user counts, whatever the age
        db.User(5, 30, "2017-03-03 03:03:03");               // 2017
        db.User(6, 30, "2017-04-04 04:04:04", name: null);   // 2017: a user without a name still joined
        db.User(7, 30, "2020-12-31 23:59:59");               // 2020
        db.User(8, 30, "2021-01-01 00:30:00+01:00");         // 2020 in UTC
        db.User(9, 30, "2021-01-01 00:00:00");               // 2021: out
        db.User(10, 30, null);                               // no join year
        // Users need no pin or geo row; a pin without a user counts nothing.
        db.Pin(11, "art", "p", 5);

        var result = await db.RunAsync(InsightQueries.UsersJoinedPerYear);

        Assert.Equal(["post_year", "number_users_joined"], result.Columns);
        AssertRows(result,
            [2015, 3L],
            [2017, 2L],
            [2020, 2L]);
    }

    [Fact]
    public async Task Q8_median_follower_count_per_join_year_is_the_lower_median_from_2015_to_2020()
    {
        using var db = new InsightDatabase();
        Aged(db, 1, 30, "art", 999, "2014-12-31 23:59:59");       // 2014: out
        // 2015: {5, 1, 3} -> 3; a null is left out.
        Aged(db, 2, 30, "art", 5, "2015-01-01 00:00:00");
        Aged(db, 3, 30, "art", 1, "2015-05-05 00:00:00");
        Aged(db, 4, 30, "art", 3, "2015-06-06 00:00:00");
        Aged(db, 5, 30, "art", null, "2015-07-07 00:00:00");
        // 2016: {10, 11, 12, 20} -> 11; the 11 is a 17-year-old's (no age group here, so it counts).
        Aged(db, 6, 30, "art", 10, "2016-01-01 00:00:00");
        Aged(db, 7, 17, "art", 11, "2016-02-01 00:00:00");
        Aged(db, 8, 40, "art", 12, "2016-03-01 00:00:00");
        Aged(db, 9, 60, "art", 20, "2016-04-01 00:00:00");
        // 2019: only nulls -> no row.
        Aged(db, 10, 30, "art", null, "2019-01-01 00:00:00");
        // 2020: {7, 8} -> 7 (8 joined at 00:59:59 on 1 Jan 2021 +01:00, still 2020 UTC); 2021 is out.
        Aged(db, 11, 30, "art", 7, "2020-12-31 23:59:59");
        Aged(db, 12, 30, "art", 8, "2021-01-01 00:59:59+01:00");
        Aged(db, 13, 30, "art", 1000, "2021-01-01 00:00:00");

        var result = await db.RunAsync(InsightQueries.MedianFollowersPerJoinYear);

        Assert.Equal(["post_year", "median_follower_count"], result.Columns);
        AssertRows(result,
            [2015, 3L],
            [2016, 11L],
            [2020, 7L]);
    }

    [Fact]
    public async Task Q9_median_follower_count_per_age_group_and_join_year_is_ordered_by_group_then_year()
    {
        using var db = new InsightDatabase();
        // (18-24, 2020): {9}; (18-24, 2015): {2, 4} -> 2. Inserted out of order on purpose.
        Aged(db, 1, 20, "art", 9, "2020-12-31 23:59:59");
        Aged(db, 2, 18, "art", 4, "2015-01-01 00:00:00");
        Aged(db, 3, 24, "art", 2, "2015-12-31 23:59:59");
        // (+50, 2015): {50, 60, 70} -> 60.
        Aged(db, 4, 51, "art", 50, "2015-03-03 00:00:00");
        Aged(db, 5, 70, "art", 60, "2015-04-04 00:00:00");
        Aged(db, 6, 60, "art", 70, "2015-05-05 00:00:00");
        // (25-35, 2018): {1, 2, 3, 4} -> 2.
        Aged(db, 7, 25, "art", 1, "2018-01-01 00:00:00");
        Aged(db, 8, 35, "art", 2, "2018-02-01 00:00:00");
        Aged(db, 9, 30, "art", 3, "2018-03-01 00:00:00");
        Aged(db, 10, 33, "art", 4, "2018-04-01 00:00:00");
        // (36-50, 2016): {6, 8} -> 6.
        Aged(db, 11, 36, "art", 8, "2016-06-06 00:00:00");
        Aged(db, 12, 50, "art", 6, "2016-07-07 00:00:00");
        // Left out: under 18, outside 2015–2020, null follower count, null age.
        Aged(db, 13, 17, "art", 1, "2015-01-01 00:00:00");
        Aged(db, 14, 36, "art", 1, "2014-12-31 23:59:59");
        Aged(db, 15, 50, "art", 1, "2021-01-01 00:00:00");
        Aged(db, 16, 40, "art", null, "2017-01-01 00:00:00");
        Aged(db, 17, null, "art", 1, "2017-01-01 00:00:00");

        var result = await db.RunAsync(InsightQueries.MedianFollowersPerAgeGroupAndJoinYear);

        Assert.Equal(["age_group", "post_year", "median_follower_count"], result.Columns);
        AssertRows(result,
            ["+50", 2015, 60L],
            ["18-24", 2015, 2L],
            ["18-24", 2020, 9L],
            ["25-35", 2018, 2L],
            ["36-50", 2016, 6L]);
    }
}
