using System.Text;
using PinPipe.Source;
using PinPipe.Tests.Transform;
using PinPipe.Transform;

namespace PinPipe.Tests.Source;

public sealed class SyntheticDataTests
{
    private static readonly SourcePost[] Sample = SyntheticData.GenerateBatch(42, 1, 20_000);

    private static string Dump(IEnumerable<SourcePost> posts)
    {
        var sb = new StringBuilder();
        foreach (var p in posts)
        {
            sb.Append(Encoding.UTF8.GetString(SourceJson.Pin(p.Pin))).Append('\n')
              .Append(Encoding.UTF8.GetString(SourceJson.Geo(p.Geo!))).Append('\n')
              .Append(Encoding.UTF8.GetString(SourceJson.User(p.User!))).Append('\n');
        }
        return sb.ToString();
    }

    [Fact]
    public void The_same_seed_gives_identical_data()
    {
        Assert.Equal(Dump(SyntheticData.Generate(7, 1, 500)), Dump(SyntheticData.Generate(7, 1, 500)));
    }

    [Fact]
    public void A_different_seed_gives_different_data()
    {
        var a = SyntheticData.GenerateBatch(7, 1, 100);
        var b = SyntheticData.GenerateBatch(8, 1, 100);
        Assert.DoesNotContain(a.Zip(b), x => x.First.Pin.UniqueId == x.Second.Pin.UniqueId);
    }

    [Fact]
    public void Row_n_is_the_same_whatever_range_generates_it()
    {
        var small = SyntheticData.GenerateBatch(42, 1, 100);
        var large = SyntheticData.GenerateBatch(42, 1, 1000);
        Assert.Equal(Dump(small), Dump(large.Take(100)));
        Assert.Equal(Dump([large[500]]), Dump([SyntheticData.Post(42, 501)]));
        Assert.Equal(Dump(large.Skip(900)), Dump(SyntheticData.Generate(42, 901, 100)));
    }

    [Fact]
    public async Task Parallel_batches_equal_the_sequential_rows_in_order()
    {
        var batches = new List<SourcePost[]>();
        await foreach (var batch in SyntheticData.GenerateBatchesAsync(42, 1, 2_345, 100)) batches.Add(batch);
        Assert.Equal(24, batches.Count);
        Assert.Equal(Dump(Sample.Take(2_345)), Dump(batches.SelectMany(b => b)));
    }

    [Fact]
    public void Indexes_start_at_one_and_match_across_the_three_rows()
    {
        Assert.Equal(1, Sample[0].Pin.Index);
        Assert.All(Sample.Select((p, i) => (p, i)), x =>
        {
            Assert.Equal(x.i + 1, x.p.Pin.Index);
            Assert.Equal(x.p.Pin.Index, x.p.Geo!.Ind);
            Assert.Equal(x.p.Pin.Index, x.p.User!.Ind);
        });
        Assert.Throws<ArgumentOutOfRangeException>(() => SyntheticData.Post(42, 0));
    }

    private static string? PinValue(SourcePost p, string column) => column switch
    {
        "title" => p.Pin.Title,
        "description" => p.Pin.Description,
        "poster_name" => p.Pin.PosterName,
        "follower_count" => p.Pin.FollowerCount,
        "tag_list" => p.Pin.TagList,
        "image_src" => p.Pin.ImageSrc,
        _ => throw new ArgumentOutOfRangeException(nameof(column), column, "Not a pin column with junk markers."),
    };

    [Theory]
    [MemberData(nameof(JunkMarkersTests.Pairs), MemberType = typeof(JunkMarkersTests))] // Transform's list
    public void Each_junk_marker_of_the_cleaning_rules_appears_in_its_column_at_a_few_percent(string column, string marker)
    {
        Assert.InRange(Share(p => PinValue(p, column) == marker), 0.002, 0.05);
    }

    [Fact]
    public void Poster_and_follower_count_are_junk_together_and_downloaded_is_zero_on_junk_rows()
    {
        Assert.All(Sample, p => Assert.Equal(p.Pin.PosterName == JunkMarkers.UserInfoError, p.Pin.FollowerCount == JunkMarkers.UserInfoError));
        // The generator's junk is exactly the cleaning rules' markers: a row it made junk (downloaded 0) holds one of
        // Transform's markers in its column, and every other row none.
        Assert.All(Sample, p =>
        {
            var junk = JunkMarkers.ByColumn.Any(c => c.Value.Contains(PinValue(p, c.Key)));
            Assert.Equal(junk ? 0 : 1, p.Pin.Downloaded);
        });
        Assert.InRange(Share(p => p.Pin.Downloaded == 0), 0.08, 0.2);
    }

    [Fact]
    public void Empty_and_blank_strings_occur_now_and_then()
    {
        Assert.InRange(Share(p => p.Pin.Title is { Length: 0 }), 0.001, 0.01);
        Assert.InRange(Share(p => p.Pin.Description is { Length: > 0 } d && string.IsNullOrWhiteSpace(d)), 0.0005, 0.01);
        Assert.InRange(Share(p => p.Pin.TagList is { Length: 0 }), 0.001, 0.01);
    }

    [Fact]
    public void Follower_counts_are_digits_k_m_and_some_decimals()
    {
        var counts = Sample.Select(p => p.Pin.FollowerCount!).Where(c => c != JunkMarkers.UserInfoError).ToList();
        Assert.All(counts, c => Assert.Matches(@"^(0|[1-9][0-9]*)(\.[0-9])?[kM]?$", c));
        Assert.Contains(counts, c => c.All(char.IsAsciiDigit));
        Assert.Contains("0", counts);
        Assert.Contains(counts, c => c.EndsWith('k') && !c.Contains('.'));
        Assert.Contains(counts, c => c.EndsWith('M') && !c.Contains('.'));
        var decimals = counts.Count(c => c.Contains('.')) / (double)counts.Count;
        Assert.InRange(decimals, 0.005, 0.2);
    }

    [Fact]
    public void Media_types_categories_and_save_locations_are_consistent()
    {
        Assert.Equal(SyntheticData.MediaTypes.ToHashSet(), Sample.Select(p => p.Pin.IsImageOrVideo!).ToHashSet());
        Assert.InRange(SyntheticData.Categories.Count, 14, 17);
        Assert.Equal(SyntheticData.Categories.ToHashSet(), Sample.Select(p => p.Pin.Category!).ToHashSet());
        Assert.All(Sample, p => Assert.Equal("Local save in /data/" + p.Pin.Category, p.Pin.SaveLocation));
        Assert.All(Sample, p => Assert.True(Guid.TryParseExact(p.Pin.UniqueId, "D", out _)));
        Assert.Equal(Sample.Length, Sample.Select(p => p.Pin.UniqueId).Distinct().Count());
    }

    [Fact]
    public void Geo_rows_are_in_range_with_whole_second_utc_timestamps()
    {
        Assert.All(Sample, p =>
        {
            var g = p.Geo!;
            Assert.InRange(g.Timestamp!.Value.Year, 2015, 2022);
            Assert.Equal(DateTimeKind.Utc, g.Timestamp.Value.Kind);
            Assert.Equal(0, g.Timestamp.Value.Ticks % TimeSpan.TicksPerSecond);
            Assert.InRange(g.Latitude!.Value, -90, 90);
            Assert.InRange(g.Longitude!.Value, -180, 180);
        });
        Assert.Equal(8, Sample.Select(p => p.Geo!.Timestamp!.Value.Year).Distinct().Count());
    }

    [Fact]
    public void Countries_come_from_the_full_list_including_awkward_names()
    {
        Assert.True(SyntheticData.CountriesByPopularity.Count >= 240);
        var seen = Sample.Select(p => p.Geo!.Country!).ToHashSet();
        Assert.Contains("Korea, Republic of", seen);
        Assert.Contains("Cocos (Keeling) Islands", seen);
        Assert.Contains("Côte d'Ivoire", seen);
        Assert.True(seen.Count > 200, $"only {seen.Count} countries in 20k rows");
    }

    [Fact]
    public void Users_have_names_mostly_adult_ages_and_join_dates_from_2014_to_2021()
    {
        Assert.All(Sample, p =>
        {
            var u = p.User!;
            Assert.False(string.IsNullOrWhiteSpace(u.FirstName));
            Assert.False(string.IsNullOrWhiteSpace(u.LastName));
            Assert.InRange(u.Age!.Value, 13, 75);
            Assert.InRange(u.DateJoined!.Value.Year, 2014, 2021);
        });
        Assert.InRange(Share(p => p.User!.Age < 18), 0.002, 0.03);
        Assert.Contains(Sample, p => p.User!.Age == 18);
        Assert.Contains(Sample, p => p.User!.Age > 50);
        Assert.Equal(8, Sample.Select(p => p.User!.DateJoined!.Value.Year).Distinct().Count());
        Assert.True(Sample.Select(p => p.User!.FirstName).Distinct().Count() > 300);
    }

    [Fact]
    public void Popularity_is_skewed_for_categories_countries_and_posters()
    {
        static (int Top, int Bottom) Spread(IEnumerable<string?> values)
        {
            var counts = values.Where(v => v is not null && v != JunkMarkers.UserInfoError).GroupBy(v => v).Select(g => g.Count()).OrderDescending().ToList();
            return (counts[0], counts[^1]);
        }
        var categories = Spread(Sample.Select(p => p.Pin.Category));
        Assert.True(categories.Top > 5 * categories.Bottom, $"categories {categories}");
        var countries = Spread(Sample.Select(p => p.Geo!.Country));
        Assert.True(countries.Top > 20 * countries.Bottom, $"countries {countries}");
        var posters = Spread(Sample.Select(p => p.Pin.PosterName));
        Assert.True(posters.Top > 50 * posters.Bottom, $"posters {posters}");
    }

    [Fact]
    public void Some_rows_carry_non_ascii_text()
    {
        Assert.Contains(Sample, p => p.Pin.Title is { } t && t.Any(c => c > 127));
    }

    private static double Share(Func<SourcePost, bool> predicate) => Sample.Count(predicate) / (double)Sample.Length;
}
