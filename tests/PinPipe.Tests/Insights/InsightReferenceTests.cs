using System.Globalization;
using PinPipe.Insights;

namespace PinPipe.Tests.Insights;

/// <summary>
/// The SQL against a plain C# reading of SPEC §5 on seeded random data full of ties, nulls, missing rows, boundary
/// ages and years near midnight on 31 December; both must give the same rows in the same order.
/// </summary>
public sealed class InsightReferenceTests
{
    private sealed record Pin(long Ind, string? Category, string? Poster, long? Followers);
    private sealed record Geo(long Ind, string? Country, DateTimeOffset? Timestamp);
    private sealed record User(long Ind, int? Age, DateTimeOffset? Joined);

    private static readonly string?[] Categories = ["art", "beauty", "diy-and-crafts", "finance", "travel", null];
    private static readonly string?[] Countries = ["Albania", "Côte d'Ivoire", "Korea, Republic of", "Cocos (Keeling) Islands", "Åland Islands", "Chad", null];
    private static readonly string?[] Posters = ["ann", "Bob", "bob", "carol", "Émile", "zed", null];
    private static readonly long?[] Followers = [0, 1, 5, 10, 100, 1_000, 5_000, 2_000_000, null];
    private static readonly int?[] Ages = [15, 17, 18, 24, 25, 35, 36, 50, 51, 75, null];

    [Theory]
    [InlineData(1)]
    [InlineData(2)]
    [InlineData(3)]
    [InlineData(4)]
    [InlineData(5)]
    public async Task The_sql_agrees_with_a_reference_reading_of_the_spec(int seed)
    {
        var random = new Random(seed);
        var pins = new List<Pin>();
        var geos = new List<Geo>();
        var users = new List<User>();
        for (long ind = 0; ind < 600; ind++)
        {
            if (random.Next(30) != 0) pins.Add(new Pin(ind, Pick(random, Categories), Pick(random, Posters), Pick(random, Followers)));
            if (random.Next(30) != 0) geos.Add(new Geo(ind, Pick(random, Countries), Instant(random, 2013, 2024)));
            if (random.Next(30) != 0) users.Add(new User(ind, random.Next(4) == 0 ? random.Next(10, 90) : Pick(random, Ages), Instant(random, 2013, 2022)));
        }

        using var db = new InsightDatabase();
        db.Execute("BEGIN TRANSACTION");
        foreach (var p in pins) db.Pin(p.Ind, p.Category, p.Poster, p.Followers);
        foreach (var g in geos) db.Geo(g.Ind, g.Country, Text(g.Timestamp, random));
        foreach (var u in users) db.User(u.Ind, u.Age, Text(u.Joined, random));
        db.Execute("COMMIT");

        var results = await InsightEngine.RunAllAsync(db.Connection);
        var expected = Reference(pins, geos, users);
        Assert.True(expected[3].Count > 1, "several countries share #4's maximum, so its ties are compared");

        // The batch lane's path (two joins aggregated with GROUPING SETS) gives the same rows as the nine queries.
        var shared = await InsightEngine.RunAllWithSharedJoinsAsync(db.Connection);
        for (var i = 0; i < 9; i++)
        {
            Assert.True(expected[i].Count > 0, $"insight #{i + 1} has rows to compare");
            InsightQueriesTests.AssertRows(results[i], [.. expected[i]]);
            InsightQueriesTests.AssertRows(shared[i], [.. expected[i]]);
            Assert.Equal(results[i].Columns, shared[i].Columns);
        }
    }

    private static T Pick<T>(Random random, T[] values) => values[random.Next(values.Length)];

    /// <summary>A UTC instant in [from, to]; a third of them within a minute of midnight at a year's end; some null.</summary>
    private static DateTimeOffset? Instant(Random random, int from, int to)
    {
        if (random.Next(25) == 0) return null;
        var year = random.Next(from, to + 1);
        if (random.Next(3) == 0)
            return new DateTimeOffset(year, 12, 31, 23, 59, 0, TimeSpan.Zero).AddSeconds(random.Next(0, 120));
        return new DateTimeOffset(year, 1, 1, 0, 0, 0, TimeSpan.Zero).AddSeconds(random.NextDouble() * 365 * 86400);
    }

    /// <summary>The instant as TIMESTAMPTZ text, in UTC or at a random offset (the same instant).</summary>
    private static string? Text(DateTimeOffset? t, Random random)
    {
        if (t is not { } v) return null;
        var offset = TimeSpan.FromHours(random.Next(-11, 13));
        return v.ToOffset(offset).ToString("yyyy-MM-dd HH:mm:sszzz", CultureInfo.InvariantCulture);
    }

    private static string? AgeGroup(int? age) => age switch
    {
        null or < 18 => null,
        <= 24 => "18-24",
        <= 35 => "25-35",
        <= 50 => "36-50",
        _ => "+50",
    };

    private static long LowerMedian(IEnumerable<long> values)
    {
        var sorted = values.Order().ToList();
        // The smallest v with at least half of the values <= v.
        return sorted.First(v => 2 * sorted.Count(x => x <= v) >= sorted.Count);
    }

    private static List<object?[]> MostPopular<TKey>(IEnumerable<(TKey Key, string? Category)> rows, IComparer<TKey> order) =>
        rows.Where(r => r.Key is not null && r.Category is not null)
            .GroupBy(r => r.Key)
            .OrderBy(g => g.Key, order)
            .Select(g =>
            {
                var best = g.GroupBy(r => r.Category!)
                    .Select(c => (Category: c.Key, Count: c.LongCount()))
                    .OrderByDescending(c => c.Count).ThenBy(c => c.Category, StringComparer.Ordinal)
                    .First();
                return new object?[] { g.Key, best.Category, best.Count };
            })
            .ToList();

    private static List<object?[]>[] Reference(List<Pin> pins, List<Geo> geos, List<User> users)
    {
        var pg = pins.Join(geos, p => p.Ind, g => g.Ind, (p, g) => (p, g)).ToList();
        var pu = pins.Join(users, p => p.Ind, u => u.Ind, (p, u) => (p, u)).ToList();
        static int? Year(DateTimeOffset? t) => t?.UtcDateTime.Year;
        var ordinal = StringComparer.Ordinal;

        var q1 = MostPopular(pg.Select(x => (x.g.Country, x.p.Category)), ordinal!);
        var q2 = MostPopular(pg.Where(x => Year(x.g.Timestamp) is >= 2018 and <= 2022).Select(x => (Year(x.g.Timestamp), x.p.Category)), Comparer<int?>.Default);

        var posters = pg.Where(x => x.g.Country is not null && x.p.Poster is not null && x.p.Followers is not null).ToList();
        var q3 = posters.GroupBy(x => x.g.Country!).OrderBy(g => g.Key, ordinal)
            .Select(g => g.OrderByDescending(x => x.p.Followers).ThenBy(x => x.p.Poster, ordinal).First())
            .Select(x => new object?[] { x.g.Country, x.p.Poster, x.p.Followers })
            .ToList();
        // Every country whose top poster (#3) has the overall maximum, one row each, by country.
        var max = q3.Count == 0 ? null : q3.Max(row => (long?)row[2]);
        var q4 = q3.Where(row => (long?)row[2] == max).Select(row => new object?[] { row[0], row[2] }).ToList();

        var q5 = MostPopular(pu.Select(x => (AgeGroup(x.u.Age), x.p.Category)), ordinal!);
        var q6 = pu.Where(x => AgeGroup(x.u.Age) is not null && x.p.Followers is not null)
            .GroupBy(x => AgeGroup(x.u.Age)!).OrderBy(g => g.Key, ordinal)
            .Select(g => new object?[] { g.Key, LowerMedian(g.Select(x => x.p.Followers!.Value)) })
            .ToList();

        var q7 = users.Where(u => Year(u.Joined) is >= 2015 and <= 2020)
            .GroupBy(u => Year(u.Joined)!.Value).OrderBy(g => g.Key)
            .Select(g => new object?[] { g.Key, g.LongCount() })
            .ToList();
        var inWindow = pu.Where(x => Year(x.u.Joined) is >= 2015 and <= 2020 && x.p.Followers is not null).ToList();
        var q8 = inWindow.GroupBy(x => Year(x.u.Joined)!.Value).OrderBy(g => g.Key)
            .Select(g => new object?[] { g.Key, LowerMedian(g.Select(x => x.p.Followers!.Value)) })
            .ToList();
        var q9 = inWindow.Where(x => AgeGroup(x.u.Age) is not null)
            .GroupBy(x => (Group: AgeGroup(x.u.Age)!, Year: Year(x.u.Joined)!.Value))
            .OrderBy(g => g.Key.Group, ordinal).ThenBy(g => g.Key.Year)
            .Select(g => new object?[] { g.Key.Group, g.Key.Year, LowerMedian(g.Select(x => x.p.Followers!.Value)) })
            .ToList();

        return [q1, q2, q3, q4, q5, q6, q7, q8, q9];
    }
}
