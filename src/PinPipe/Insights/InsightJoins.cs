namespace PinPipe.Insights;

/// <summary>
/// The nine insights of <see cref="InsightQueries"/> computed with two joins instead of eight: one pass over
/// <c>clean_pin ⋈ clean_geo</c> aggregates what #1–#4 need and one over <c>clean_pin ⋈ clean_user</c> what #5, #6, #8
/// and #9 need (<c>GROUPING SETS</c>), into two small temporary tables; each insight is then a query of its aggregate
/// rows. The results equal the nine queries' (the tests compare them on the fixtures and on generated tables with nulls
/// and ties); <see cref="InsightQueries"/> stays the definition. On the history's tables (3 million rows each) the
/// joins are what the insights cost, so this is what the batch lane runs.
/// </summary>
internal static class InsightJoins
{
    internal const string PinGeo = "_pinpipe_insights_pin_geo";
    internal const string PinUser = "_pinpipe_insights_pin_user";

    // GROUPING(a, b, c) has bit 2 for a, 1 for b, 0 for c set when that column is not a key of the row's grouping set.
    private const int CountryCategory = 0b010, PostYearCategory = 0b100, Country = 0b011;
    private const int AgeGroupCategory = 0b010, AgeGroup = 0b011, JoinYear = 0b101, AgeGroupJoinYear = 0b001;

    /// <summary>Builds the two aggregate tables (temporary, replaced on each call).</summary>
    internal static IReadOnlyList<string> Prepare { get; } =
    [
        $"""
        CREATE OR REPLACE TEMP TABLE {PinGeo} AS
        WITH j AS (
            SELECT g.country AS country, {InsightQueries.PostYear} AS post_year, p.category AS category,
                   p.poster_name AS poster_name, p.follower_count AS follower_count
            FROM clean_pin p JOIN clean_geo g ON p.ind = g.ind)
        SELECT GROUPING(country, post_year, category) AS gs, country, post_year, category,
               count(*) FILTER (WHERE category IS NOT NULL) AS category_count,
               -- the most followers first, then the alphabetically first poster
               min(struct_pack(nf := -follower_count, poster_name := poster_name))
                   FILTER (WHERE poster_name IS NOT NULL AND follower_count IS NOT NULL) AS top
        FROM j
        GROUP BY GROUPING SETS ((country, category), (post_year, category), (country))
        """,
        $"""
        CREATE OR REPLACE TEMP TABLE {PinUser} AS
        WITH j AS (
            SELECT {InsightQueries.AgeGroup} AS age_group, {InsightQueries.JoinYear} AS join_year, p.category AS category,
                   p.follower_count AS follower_count
            FROM clean_pin p JOIN clean_user u ON p.ind = u.ind)
        SELECT GROUPING(age_group, join_year, category) AS gs, age_group, join_year, category,
               count(*) FILTER (WHERE category IS NOT NULL) AS category_count,
               quantile_disc(follower_count, 0.5) AS median_follower_count
        FROM j
        GROUP BY GROUPING SETS ((age_group, category), (age_group), (join_year), (age_group, join_year))
        """,
    ];

    /// <summary>Drops the aggregate tables.</summary>
    internal static IReadOnlyList<string> CleanUp { get; } = [$"DROP TABLE IF EXISTS {PinGeo}", $"DROP TABLE IF EXISTS {PinUser}"];

    private static readonly string TopPerCountry = $"""
        SELECT country, top.poster_name AS poster_name, -top.nf AS follower_count
        FROM {PinGeo} WHERE gs = {Country} AND country IS NOT NULL AND top IS NOT NULL
        """;

    /// <summary>The most pins' category per <paramref name="key"/> (ties: the alphabetically first), from the aggregate rows of grouping set <paramref name="set"/>.</summary>
    private static string TopCategory(string table, int set, string key, string keep) => $"""
        SELECT {key}, category, category_count
        FROM {table} WHERE gs = {set} AND {keep} AND category IS NOT NULL
        QUALIFY row_number() OVER (PARTITION BY {key} ORDER BY category_count DESC, category) = 1
        ORDER BY {key}
        """;

    /// <summary>The SQL of insight <paramref name="number"/> over the aggregate tables (#7 is <see cref="InsightQueries"/>' own: one table, no join).</summary>
    internal static string Sql(int number) => number switch
    {
        1 => TopCategory(PinGeo, CountryCategory, "country", "country IS NOT NULL"),
        2 => TopCategory(PinGeo, PostYearCategory, "post_year", "post_year BETWEEN 2018 AND 2022"),
        3 => $"{TopPerCountry} ORDER BY country",
        4 => $"""
            WITH t AS ({TopPerCountry})
            SELECT country, follower_count FROM t WHERE follower_count = (SELECT max(follower_count) FROM t)
            ORDER BY country
            """,
        5 => TopCategory(PinUser, AgeGroupCategory, "age_group", "age_group IS NOT NULL"),
        6 => $"""
            SELECT age_group, median_follower_count
            FROM {PinUser} WHERE gs = {AgeGroup} AND age_group IS NOT NULL AND median_follower_count IS NOT NULL
            ORDER BY age_group
            """,
        7 => InsightQueries.UsersJoinedPerYear.Sql,
        8 => $"""
            SELECT join_year AS post_year, median_follower_count
            FROM {PinUser} WHERE gs = {JoinYear} AND join_year BETWEEN 2015 AND 2020 AND median_follower_count IS NOT NULL
            ORDER BY post_year
            """,
        9 => $"""
            SELECT age_group, join_year AS post_year, median_follower_count
            FROM {PinUser}
            WHERE gs = {AgeGroupJoinYear} AND age_group IS NOT NULL AND join_year BETWEEN 2015 AND 2020 AND median_follower_count IS NOT NULL
            ORDER BY age_group, post_year
            """,
        _ => throw new ArgumentOutOfRangeException(nameof(number), number, "Insights are numbered 1 to 9."),
    };
}
