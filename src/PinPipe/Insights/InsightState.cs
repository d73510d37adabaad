using System.Security.Cryptography;
using System.Text;
using System.Text.Json;
using DuckDB.NET.Data;
using PinPipe.Batch;
using PinPipe.DuckDb;
using PinPipe.Files;

namespace PinPipe.Insights;

/// <summary>The nine insights of an incremental run and how they were reached.</summary>
/// <param name="Results">The nine insights, in SPEC order.</param>
/// <param name="How">How the aggregates were brought up to date (new files folded in, or rebuilt from every file and why).</param>
public sealed record IncrementalInsights(IReadOnlyList<InsightResult> Results, string How);

/// <summary>
/// The nine insights of <see cref="InsightQueries"/> over the whole clean tables, kept up to date from the files each run adds
/// instead of joining the whole tables every run. Beside the run folders (<c>Batch:OutputDir</c>) a state folder keeps
/// exact, mergeable aggregates of <c>clean_pin ⋈ clean_geo</c>, <c>clean_pin ⋈ clean_user</c> and <c>clean_user</c>
/// at their finest grain (counts per country, post year and category with the top poster; counts per age group and category;
/// follower-count histograms per age group and join year, from which the lower medians are read exactly; users per join
/// year), with the list of each table's data files they cover.
/// </summary>
/// <remarks>
/// <para>A run folds in only the files added since: the rows of the new pin files joined with the whole geo (user) table,
/// plus the rows of the pin files already covered joined with the new geo (user) files; counts add up and the top poster
/// is a minimum, so the result equals the aggregates of the whole join (the tests compare both with the nine queries).
/// DuckDB's join filters skip the files whose ind range cannot match the new rows, so the cost follows the new rows, not
/// the history.</para>
/// <para>The state is rebuilt from every file when it is missing or unreadable, when it was written by other aggregate
/// definitions, for another table location, or when a file it covers is no longer live (a <c>--full</c> rebuild, a
/// compaction): the Delta tables stay the truth. The new state is written to a fresh folder and then named in
/// <c>state.json</c> (replaced in one rename), so a run killed at any moment leaves the previous state, which the next run
/// brings up to date.</para>
/// </remarks>
public static class InsightState
{
    private const string Pg = "_pinpipe_insights_pg", Pu = "_pinpipe_insights_pu", Uj = "_pinpipe_insights_uj";
    private const string StateFile = "state.json";
    private static readonly string[] Views = ["clean_pin", "clean_geo", "clean_user"];
    private static readonly string[] Parts = [Pg, Pu, Uj];

    // Grouping sets of the pins ⋈ users aggregate: per age group and category (category counts), per age group, join year
    // and follower count (the histogram the medians are read from).
    private const int PuCategory = 0b0101, PuHistogram = 0b0010;

    private static string PinGeoRows(string pin, string geo) => $"""
        SELECT g.country AS country, {InsightQueries.PostYear} AS post_year, p.category AS category,
               p.poster_name AS poster_name, p.follower_count AS follower_count
        FROM {pin} p JOIN {geo} g ON p.ind = g.ind
        """;

    private static string PinUserRows(string pin, string user) => $"""
        SELECT {InsightQueries.AgeGroup} AS age_group, {InsightQueries.JoinYear} AS join_year, p.category AS category,
               p.follower_count AS follower_count
        FROM {pin} p JOIN {user} u ON p.ind = u.ind
        """;

    private static string PinGeoAggregate(string rows) => $"""
        SELECT country, post_year, category,
               count(*) FILTER (WHERE category IS NOT NULL) AS category_count,
               min(struct_pack(nf := -follower_count, poster_name := poster_name))
                   FILTER (WHERE poster_name IS NOT NULL AND follower_count IS NOT NULL) AS top
        FROM ({rows}) GROUP BY country, post_year, category
        """;

    private static string PinUserAggregate(string rows) => $"""
        SELECT GROUPING(age_group, join_year, category, follower_count) AS gs, age_group, join_year, category, follower_count,
               count(*) FILTER (WHERE category IS NOT NULL) AS category_count, count(follower_count) AS n
        FROM ({rows})
        GROUP BY GROUPING SETS ((age_group, category), (age_group, join_year, follower_count))
        """;

    private static string UsersAggregate(string user) => $"""
        SELECT {InsightQueries.JoinYear} AS join_year, count(*) AS n FROM {user} u GROUP BY ALL
        """;

    /// <summary>What the aggregates are: a state written under other definitions is rebuilt.</summary>
    internal static string Format { get; } = Convert.ToHexString(SHA256.HashData(Encoding.UTF8.GetBytes(string.Join("\n",
        PinGeoAggregate(PinGeoRows("p", "g")), PinUserAggregate(PinUserRows("p", "u")), UsersAggregate("u")))))[..16];

    private const string MergePg = $"""
        SELECT country, post_year, category, CAST(sum(category_count) AS BIGINT) AS category_count, min(top) AS top
        FROM (SELECT * FROM {Pg} UNION ALL SELECT * FROM {Pg}_new) GROUP BY country, post_year, category
        """;

    private const string MergePu = $"""
        SELECT gs, age_group, join_year, category, follower_count,
               CAST(sum(category_count) AS BIGINT) AS category_count, CAST(sum(n) AS BIGINT) AS n
        FROM (SELECT * FROM {Pu} UNION ALL SELECT * FROM {Pu}_new) GROUP BY gs, age_group, join_year, category, follower_count
        """;

    private const string MergeUj = $"""
        SELECT join_year, CAST(sum(n) AS BIGINT) AS n FROM (SELECT * FROM {Uj} UNION ALL SELECT * FROM {Uj}_new) GROUP BY join_year
        """;

    /// <summary>The aggregate table <see cref="InsightJoins"/>' queries read, from the state's finest grain.</summary>
    private static readonly string[] Finish =
    [
        $"""
        CREATE OR REPLACE TEMP TABLE {InsightJoins.PinGeo} AS
        SELECT GROUPING(country, post_year, category) AS gs, country, post_year, category,
               CAST(sum(category_count) AS BIGINT) AS category_count, min(top) AS top
        FROM {Pg}
        GROUP BY GROUPING SETS ((country, category), (post_year, category), (country))
        """,
        // Lower median per group: the smallest follower count whose cumulative count reaches half the group's (2·cum ≥ n).
        $"""
        CREATE OR REPLACE TEMP TABLE {InsightJoins.PinUser} AS
        WITH h AS (
            SELECT GROUPING(age_group, join_year) AS g2, age_group, join_year, follower_count, sum(n) AS n
            FROM {Pu} WHERE gs = {PuHistogram} AND follower_count IS NOT NULL AND n > 0
            GROUP BY GROUPING SETS ((age_group, follower_count), (join_year, follower_count), (age_group, join_year, follower_count))),
        c AS (
            SELECT g2, age_group, join_year, follower_count,
                   sum(n) OVER (PARTITION BY g2, age_group, join_year ORDER BY follower_count ROWS UNBOUNDED PRECEDING) AS cum,
                   sum(n) OVER (PARTITION BY g2, age_group, join_year) AS total
            FROM h)
        SELECT CASE g2 WHEN 1 THEN 3 WHEN 2 THEN 5 ELSE 1 END AS gs, age_group, join_year, CAST(NULL AS VARCHAR) AS category,
               CAST(NULL AS BIGINT) AS category_count, min(follower_count) FILTER (WHERE 2 * cum >= total) AS median_follower_count
        FROM c GROUP BY g2, age_group, join_year
        UNION ALL
        SELECT 2 AS gs, age_group, CAST(NULL AS INTEGER) AS join_year, category, CAST(sum(category_count) AS BIGINT) AS category_count,
               NULL AS median_follower_count
        FROM {Pu} WHERE gs = {PuCategory} GROUP BY age_group, category
        """,
    ];

    private const string UsersJoinedPerYear = $"""
        SELECT join_year AS post_year, CAST(sum(n) AS BIGINT) AS number_users_joined
        FROM {Uj} WHERE join_year BETWEEN 2015 AND 2020 GROUP BY join_year
        ORDER BY post_year
        """;

    private sealed record TableState(string Location, List<string> Files);

    private sealed record StateJson(string Format, long Generation, Dictionary<string, TableState> Tables);

    /// <summary>
    /// Brings the state in <paramref name="folder"/> up to date with <paramref name="tables"/> (the clean tables' files by view
    /// name, <c>clean_pin</c>, <c>clean_geo</c>, <c>clean_user</c>; views of those names over every file must exist on the
    /// connection) and computes the nine insights from it, in SPEC order. <paramref name="timed"/>, when given, is called with
    /// each step's name and seconds.
    /// </summary>
    /// <exception cref="ArgumentException">A table is missing from <paramref name="tables"/>.</exception>
    /// <exception cref="InvalidOperationException">A query failed (the message names the step).</exception>
    public static async Task<IncrementalInsights> RunAllAsync(DuckDBConnection connection, string folder, IReadOnlyDictionary<string, BatchTableFiles> tables,
        Action<string, double>? timed = null, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(connection);
        ArgumentException.ThrowIfNullOrEmpty(folder);
        ArgumentNullException.ThrowIfNull(tables);
        foreach (string view in Views)
            if (!tables.ContainsKey(view)) throw new ArgumentException($"The files of {view} are missing.", nameof(tables));
        try
        {
            long start = System.Diagnostics.Stopwatch.GetTimestamp();
            var (state, why) = Load(folder, tables);
            var covered = Views.ToDictionary(v => v, v => state is null ? [] : state.Tables[v].Files.ToHashSet(StringComparer.Ordinal), StringComparer.Ordinal);
            var added = Views.ToDictionary(v => v, v => tables[v].Files.Where(f => !covered[v].Contains(f)).ToList(), StringComparer.Ordinal);
            var kept = Views.ToDictionary(v => v, v => tables[v].Files.Where(covered[v].Contains).ToList(), StringComparer.Ordinal);
            string gen = state is null ? "" : GenerationFolder(folder, state.Generation);
            foreach (string part in Parts)
                Execute(connection, state is null
                    ? $"CREATE OR REPLACE TEMP TABLE {part} AS SELECT * FROM ({Empty(part)}) LIMIT 0"
                    : $"CREATE OR REPLACE TEMP TABLE {part} AS SELECT * FROM read_parquet({Sql.Literal(Path.Combine(gen, part + ".parquet"))})", "reading the insight state", cancellationToken);
            timed?.Invoke("the insight state read", Elapsed(start));

            int newFiles = added.Values.Sum(a => a.Count);
            if (newFiles > 0)
            {
                start = System.Diagnostics.Stopwatch.GetTimestamp();
                string? newPins = added["clean_pin"].Count > 0 ? await tables["clean_pin"].Scan(added["clean_pin"], cancellationToken).ConfigureAwait(false) : null;
                // The covered pins: the whole table less the new files' rows (one row per ind in a clean table), so that no
                // file is scanned twice (a store without local paths would download it again).
                string? oldPins = kept["clean_pin"].Count == 0 ? null
                    : newPins is null ? "clean_pin" : $"(SELECT * FROM clean_pin c WHERE NOT EXISTS (SELECT 1 FROM {newPins} n WHERE n.ind = c.ind))";
                string? newGeo = added["clean_geo"].Count > 0 ? await tables["clean_geo"].Scan(added["clean_geo"], cancellationToken).ConfigureAwait(false) : null;
                string? newUsers = added["clean_user"].Count > 0 ? await tables["clean_user"].Scan(added["clean_user"], cancellationToken).ConfigureAwait(false) : null;
                // The join of the grown tables less the join of the covered ones: new pins with every row, covered pins with the new rows.
                var pinGeo = new List<string>();
                var pinUser = new List<string>();
                if (newPins is not null)
                {
                    pinGeo.Add(PinGeoRows(newPins, "clean_geo"));
                    pinUser.Add(PinUserRows(newPins, "clean_user"));
                }
                if (oldPins is not null && newGeo is not null) pinGeo.Add(PinGeoRows(oldPins, newGeo));
                if (oldPins is not null && newUsers is not null) pinUser.Add(PinUserRows(oldPins, newUsers));
                Execute(connection, $"CREATE OR REPLACE TEMP TABLE {Pg}_new AS " + (pinGeo.Count == 0 ? $"SELECT * FROM {Pg} LIMIT 0" : PinGeoAggregate(string.Join(" UNION ALL ", pinGeo))), "the pins ⋈ geo aggregates of the new files", cancellationToken);
                Execute(connection, $"CREATE OR REPLACE TEMP TABLE {Pu}_new AS " + (pinUser.Count == 0 ? $"SELECT * FROM {Pu} LIMIT 0" : PinUserAggregate(string.Join(" UNION ALL ", pinUser))), "the pins ⋈ users aggregates of the new files", cancellationToken);
                Execute(connection, $"CREATE OR REPLACE TEMP TABLE {Uj}_new AS " + (newUsers is null ? $"SELECT * FROM {Uj} LIMIT 0" : UsersAggregate(newUsers)), "the users of the new files", cancellationToken);
                Execute(connection, $"CREATE OR REPLACE TEMP TABLE {Pg} AS {MergePg}", "merging the pins ⋈ geo aggregates", cancellationToken);
                Execute(connection, $"CREATE OR REPLACE TEMP TABLE {Pu} AS {MergePu}", "merging the pins ⋈ users aggregates", cancellationToken);
                Execute(connection, $"CREATE OR REPLACE TEMP TABLE {Uj} AS {MergeUj}", "merging the users per join year", cancellationToken);
                timed?.Invoke($"the aggregates of {newFiles} new file(s)", Elapsed(start));
                start = System.Diagnostics.Stopwatch.GetTimestamp();
                why = (state is null ? $"rebuilt from all {newFiles} files ({why})" : $"{newFiles} new file(s) folded in") + Save(connection, folder, state?.Generation ?? 0, tables, cancellationToken);
                timed?.Invoke("the insight state written", Elapsed(start));
            }
            else why = state is null ? $"no files ({why})" : "no new files";

            start = System.Diagnostics.Stopwatch.GetTimestamp();
            foreach (string sql in Finish) Execute(connection, sql, "the insight aggregates", cancellationToken);
            var results = new List<InsightResult>(InsightQueries.All.Count);
            foreach (var query in InsightQueries.All)
                results.Add(await InsightEngine.RunAsync(connection, query with { Sql = query.Number == 7 ? UsersJoinedPerYear : InsightJoins.Sql(query.Number) }, cancellationToken).ConfigureAwait(false));
            timed?.Invoke("the nine insights from the aggregates", Elapsed(start));
            return new IncrementalInsights(results, why);
        }
        finally
        {
            foreach (string sql in InsightJoins.CleanUp.Concat(Parts.SelectMany(p => new[] { p, p + "_new" }).Select(p => $"DROP TABLE IF EXISTS {p}")))
                Execute(connection, sql, "clean-up", CancellationToken.None);
        }
    }

    private static double Elapsed(long start) => System.Diagnostics.Stopwatch.GetElapsedTime(start).TotalSeconds;

    /// <summary>An empty relation of a part's columns (the queries over the views, which have the tables' types).</summary>
    private static string Empty(string part) => part switch
    {
        Pg => PinGeoAggregate(PinGeoRows("clean_pin", "clean_geo") + " WHERE false"),
        Pu => PinUserAggregate(PinUserRows("clean_pin", "clean_user") + " WHERE false"),
        _ => UsersAggregate("clean_user") + " HAVING false",
    };

    private static string GenerationFolder(string folder, long generation) => Path.Combine(folder, $"gen-{generation}");

    /// <summary>The state in <paramref name="folder"/> when it can be brought up to date with <paramref name="tables"/>, else null and why not.</summary>
    private static (StateJson? State, string Why) Load(string folder, IReadOnlyDictionary<string, BatchTableFiles> tables)
    {
        string path = Path.Combine(folder, StateFile);
        if (!File.Exists(path)) return (null, "no insight state yet");
        StateJson? state;
        try
        {
            state = JsonSerializer.Deserialize<StateJson>(File.ReadAllBytes(path));
        }
        catch (Exception ex) when (ex is JsonException or IOException or UnauthorizedAccessException or NotSupportedException)
        {
            return (null, $"the insight state {path} is unreadable: {ex.Message}");
        }
        if (state?.Tables is null || state.Format is null) return (null, $"the insight state {path} is incomplete");
        if (state.Format != Format) return (null, "the insight state was written by other aggregate definitions");
        foreach (string view in Views)
        {
            if (!state.Tables.TryGetValue(view, out var table) || table?.Files is null) return (null, $"the insight state has no files of {view}");
            if (table.Location != tables[view].Location) return (null, $"the insight state is of {table.Location}, not {tables[view].Location}");
            var live = tables[view].Files.ToHashSet(StringComparer.Ordinal);
            string? gone = table.Files.FirstOrDefault(f => !live.Contains(f));
            if (gone is not null) return (null, $"{view}'s file {gone} is no longer live (the table was rewritten)");
        }
        string gen = GenerationFolder(folder, state.Generation);
        if (Parts.Any(p => !File.Exists(Path.Combine(gen, p + ".parquet")))) return (null, $"the insight state's files in {gen} are missing");
        return (state, "");
    }

    /// <summary>Writes the state (the parts, then <c>state.json</c> naming them, in one rename); "" or, when it could not, why.</summary>
    private static string Save(DuckDBConnection connection, string folder, long previous, IReadOnlyDictionary<string, BatchTableFiles> tables, CancellationToken cancellationToken)
    {
        long generation = previous + 1;
        string gen = GenerationFolder(folder, generation);
        try
        {
            if (Directory.Exists(gen)) Directory.Delete(gen, recursive: true);
            OwnerOnly.CreateDirectory(gen);
            foreach (string part in Parts)
            {
                string path = Path.Combine(gen, part + ".parquet");
                Execute(connection, $"COPY {part} TO {Sql.Literal(path)} (FORMAT parquet)", "writing the insight state", cancellationToken);
                OwnerOnly.Restrict(path);
            }
            var json = new StateJson(Format, generation, Views.ToDictionary(v => v, v => new TableState(tables[v].Location, [.. tables[v].Files]), StringComparer.Ordinal));
            string temp = Path.Combine(folder, StateFile + ".tmp");
            using (var stream = new FileStream(temp, OwnerOnly.Options(FileMode.Create, FileAccess.Write)))
                stream.Write(JsonSerializer.SerializeToUtf8Bytes(json));
            File.Move(temp, Path.Combine(folder, StateFile), overwrite: true);
            foreach (string old in Directory.GetDirectories(folder, "gen-*").Where(d => !string.Equals(Path.GetFullPath(d), Path.GetFullPath(gen), StringComparison.Ordinal)))
                Directory.Delete(old, recursive: true);
            return "";
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException or InvalidOperationException)
        {
            return $"; the insight state could not be written to {folder} ({ex.Message}): the next run rebuilds it";
        }
    }

    private static void Execute(DuckDBConnection connection, string sql, string step, CancellationToken cancellationToken)
    {
        try
        {
            connection.Execute(sql, cancellationToken);
        }
        catch (DuckDBException ex)
        {
            throw new InvalidOperationException($"Insights: {step} failed: {ex.Message}", ex);
        }
    }
}
