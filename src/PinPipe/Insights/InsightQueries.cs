namespace PinPipe.Insights;

/// <summary>One insight of SPEC §5: its number, file name, title, result columns and DuckDB SQL.</summary>
/// <param name="Number">1 to 9, as numbered in SPEC §5.</param>
/// <param name="Name">Short file-friendly name (<c>popular-category-per-country</c>); output files are <c>&lt;nn&gt;-&lt;name&gt;</c>.</param>
/// <param name="Title">The SPEC's description, for reports.</param>
/// <param name="Columns">Result column names, exactly as the SPEC's table.</param>
/// <param name="Sql">The query over <c>clean_pin</c>, <c>clean_geo</c> and <c>clean_user</c>.</param>
public sealed record InsightQuery(int Number, string Name, string Title, IReadOnlyList<string> Columns, string Sql);

/// <summary>
/// The nine insight queries of SPEC §5 as DuckDB SQL over the clean tables <c>clean_pin</c>, <c>clean_geo</c> and
/// <c>clean_user</c> (SPEC §4 schemas, one row per <c>ind</c>).
/// </summary>
/// <remarks>
/// <para>Rules kept by every query:</para>
/// <list type="bullet">
/// <item>Tables are inner-joined on <c>ind</c>; a query that needs one table (#7) reads only that table.</item>
/// <item>Post year is the UTC year of <c>clean_geo.timestamp</c>, join year the UTC year of <c>clean_user.date_joined</c>,
/// both taken from the instant (<c>year(make_timestamp(epoch_us(…)))</c>) so the session's TimeZone setting does not matter. A null timestamp has
/// no year and its row is left out.</item>
/// <item>Age groups <c>18-24</c>, <c>25-35</c>, <c>36-50</c> (inclusive) and <c>+50</c> (51 and over); an age under 18
/// or a null age has no group and its row is left out of group results.</item>
/// <item>A row whose grouping value (country, year, age group) is null is left out: null is not a country.</item>
/// <item>Nulls are left out of counts (a null category is not a category) and of medians. A group with no
/// non-null value to count or take the median of has no row in the result.</item>
/// <item>The median is the lower median, the smallest v with at least half of the values ≤ v, computed with
/// DuckDB's <c>quantile_disc(x, 0.5)</c> (the element at 1-based position ⌈n/2⌉ of the sorted values;
/// what Spark's <c>percentile_approx(x, 0.5)</c> returns at full accuracy). DuckDB's <c>median</c> is not used:
/// it averages the two middle values.</item>
/// <item>Ties go to the alphabetically first name, in ordinal (Unicode code point) order, as Spark compares strings.</item>
/// <item>Results are ordered by their first column (then the second for #9), in the same ordinal order; so
/// <c>+50</c> sorts before <c>18-24</c>.</item>
/// <item>Years are INTEGER, counts and follower counts BIGINT.</item>
/// </list>
/// </remarks>
public static class InsightQueries
{
    // The UTC year from the instant's microseconds since the epoch: independent of the session's TimeZone and, being
    // plain arithmetic, some fifteen times faster than converting with timezone('UTC', …) through ICU.
    internal const string PostYear = "CAST(year(make_timestamp(epoch_us(g.\"timestamp\"))) AS INTEGER)";
    internal const string JoinYear = "CAST(year(make_timestamp(epoch_us(u.date_joined))) AS INTEGER)";
    internal const string AgeGroup = """
        CASE WHEN u.age BETWEEN 18 AND 24 THEN '18-24'
             WHEN u.age BETWEEN 25 AND 35 THEN '25-35'
             WHEN u.age BETWEEN 36 AND 50 THEN '36-50'
             WHEN u.age >= 51 THEN '+50' END
        """;

    /// <summary>#1, most popular category per country: the category with the most pins per country.</summary>
    public static InsightQuery PopularCategoryPerCountry { get; } = new(
        1, "popular-category-per-country", "Most popular category per country",
        ["country", "category", "category_count"],
        """
        WITH counts AS (
            SELECT g.country, p.category, count(*) AS category_count
            FROM clean_pin p JOIN clean_geo g ON p.ind = g.ind
            WHERE g.country IS NOT NULL AND p.category IS NOT NULL
            GROUP BY g.country, p.category)
        SELECT country, category, category_count
        FROM counts
        QUALIFY row_number() OVER (PARTITION BY country ORDER BY category_count DESC, category) = 1
        ORDER BY country
        """);

    /// <summary>#2, most popular category per post year, for post years 2018 to 2022 inclusive.</summary>
    public static InsightQuery PopularCategoryPerYear { get; } = new(
        2, "popular-category-per-year", "Most popular category per post year, 2018–2022",
        ["post_year", "category", "category_count"],
        $"""
        WITH counts AS (
            SELECT {PostYear} AS post_year, p.category, count(*) AS category_count
            FROM clean_pin p JOIN clean_geo g ON p.ind = g.ind
            WHERE p.category IS NOT NULL AND {PostYear} BETWEEN 2018 AND 2022
            GROUP BY ALL)
        SELECT post_year, category, category_count
        FROM counts
        QUALIFY row_number() OVER (PARTITION BY post_year ORDER BY category_count DESC, category) = 1
        ORDER BY post_year
        """);

    /// <summary>
    /// #3, poster with the most followers per country: per country, the pin with the highest follower_count and its
    /// poster_name (ties: the alphabetically first poster). Pins with a null country, a null poster_name or a null
    /// follower_count are left out (no country to place them in, no poster to name, no count to compare); a country
    /// with no other pins has no row.
    /// </summary>
    public static InsightQuery TopPosterPerCountry { get; } = new(
        3, "top-poster-per-country", "Poster with the most followers per country",
        ["country", "poster_name", "follower_count"],
        """
        WITH candidates AS (
            SELECT g.country, p.poster_name, p.follower_count
            FROM clean_pin p JOIN clean_geo g ON p.ind = g.ind
            WHERE g.country IS NOT NULL AND p.poster_name IS NOT NULL AND p.follower_count IS NOT NULL),
        top AS (
            SELECT country, max(follower_count) AS follower_count FROM candidates GROUP BY country)
        SELECT country, min(c.poster_name) AS poster_name, follower_count
        FROM candidates c JOIN top USING (country, follower_count)
        GROUP BY country, follower_count
        ORDER BY country
        """);

    /// <summary>
    /// #4, country of the poster with the most followers overall: every country whose top poster (#3) has the overall
    /// maximum follower_count, one row per country, ordered by country, as the original notebook's
    /// <c>filter(follower_count == max)</c> keeps every row at the maximum. The same pins as #3 count (null country,
    /// poster_name or follower_count left out); several posters of one country at the maximum give that country one
    /// row. No pins: no row.
    /// </summary>
    public static InsightQuery TopPosterCountry { get; } = new(
        4, "top-poster-country", "Country of the poster with the most followers overall",
        ["country", "follower_count"],
        """
        WITH candidates AS (
            SELECT g.country, p.follower_count
            FROM clean_pin p JOIN clean_geo g ON p.ind = g.ind
            WHERE g.country IS NOT NULL AND p.poster_name IS NOT NULL AND p.follower_count IS NOT NULL)
        SELECT DISTINCT country, follower_count
        FROM candidates
        WHERE follower_count = (SELECT max(follower_count) FROM candidates)
        ORDER BY country
        """);

    /// <summary>#5, most popular category per age group.</summary>
    public static InsightQuery PopularCategoryPerAgeGroup { get; } = new(
        5, "popular-category-per-age-group", "Most popular category per age group",
        ["age_group", "category", "category_count"],
        $"""
        WITH counts AS (
            SELECT {AgeGroup} AS age_group, p.category, count(*) AS category_count
            FROM clean_pin p JOIN clean_user u ON p.ind = u.ind
            WHERE p.category IS NOT NULL AND u.age >= 18
            GROUP BY ALL)
        SELECT age_group, category, category_count
        FROM counts
        QUALIFY row_number() OVER (PARTITION BY age_group ORDER BY category_count DESC, category) = 1
        ORDER BY age_group
        """);

    /// <summary>#6, lower median follower count per age group.</summary>
    public static InsightQuery MedianFollowersPerAgeGroup { get; } = new(
        6, "median-followers-per-age-group", "Median follower count per age group",
        ["age_group", "median_follower_count"],
        $"""
        SELECT {AgeGroup} AS age_group, quantile_disc(p.follower_count, 0.5) AS median_follower_count
        FROM clean_pin p JOIN clean_user u ON p.ind = u.ind
        WHERE p.follower_count IS NOT NULL AND u.age >= 18
        GROUP BY ALL
        ORDER BY age_group
        """);

    /// <summary>
    /// #7, users joined per join year, 2015 to 2020 inclusive: the number of <c>clean_user</c> rows (one per ind)
    /// whose date_joined falls in that UTC year. Only the user table is read. Column <c>post_year</c> holds the join year
    /// (the original project's name).
    /// </summary>
    public static InsightQuery UsersJoinedPerYear { get; } = new(
        7, "users-joined-per-year", "Users joined per join year, 2015–2020",
        ["post_year", "number_users_joined"],
        $"""
        SELECT {JoinYear} AS post_year, count(*) AS number_users_joined
        FROM clean_user u
        WHERE {JoinYear} BETWEEN 2015 AND 2020
        GROUP BY ALL
        ORDER BY post_year
        """);

    /// <summary>#8, lower median follower count per join year, 2015 to 2020 inclusive (column <c>post_year</c> holds the join year).</summary>
    public static InsightQuery MedianFollowersPerJoinYear { get; } = new(
        8, "median-followers-per-join-year", "Median follower count per join year, 2015–2020",
        ["post_year", "median_follower_count"],
        $"""
        SELECT {JoinYear} AS post_year, quantile_disc(p.follower_count, 0.5) AS median_follower_count
        FROM clean_pin p JOIN clean_user u ON p.ind = u.ind
        WHERE p.follower_count IS NOT NULL AND {JoinYear} BETWEEN 2015 AND 2020
        GROUP BY ALL
        ORDER BY post_year
        """);

    /// <summary>#9, lower median follower count per age group and join year, 2015 to 2020 inclusive (column <c>post_year</c> holds the join year).</summary>
    public static InsightQuery MedianFollowersPerAgeGroupAndJoinYear { get; } = new(
        9, "median-followers-per-age-group-and-join-year", "Median follower count per age group and join year, 2015–2020",
        ["age_group", "post_year", "median_follower_count"],
        $"""
        SELECT {AgeGroup} AS age_group, {JoinYear} AS post_year,
               quantile_disc(p.follower_count, 0.5) AS median_follower_count
        FROM clean_pin p JOIN clean_user u ON p.ind = u.ind
        WHERE p.follower_count IS NOT NULL AND u.age >= 18 AND {JoinYear} BETWEEN 2015 AND 2020
        GROUP BY ALL
        ORDER BY age_group, post_year
        """);

    /// <summary>
    /// The columns the nine queries read, by clean table (<c>clean_pin</c>, <c>clean_geo</c>, <c>clean_user</c>): a scan of only
    /// these is all they need.
    /// </summary>
    public static IReadOnlyDictionary<string, IReadOnlyList<string>> Columns { get; } = new Dictionary<string, IReadOnlyList<string>>(StringComparer.Ordinal)
    {
        ["clean_pin"] = ["ind", "category", "poster_name", "follower_count"],
        ["clean_geo"] = ["ind", "country", "timestamp"],
        ["clean_user"] = ["ind", "age", "date_joined"],
    };

    /// <summary>The nine queries in SPEC order.</summary>
    public static IReadOnlyList<InsightQuery> All { get; } =
    [
        PopularCategoryPerCountry, PopularCategoryPerYear, TopPosterPerCountry, TopPosterCountry,
        PopularCategoryPerAgeGroup, MedianFollowersPerAgeGroup, UsersJoinedPerYear, MedianFollowersPerJoinYear,
        MedianFollowersPerAgeGroupAndJoinYear,
    ];
}
