using System.Runtime.CompilerServices;
using System.Threading.Channels;
using Bogus;
using PinPipe.Source.Internal;

namespace PinPipe.Source;

/// <summary>
/// Deterministic generator of the source data (SPEC §2). Indexes start at <b>1</b>. Every row is
/// generated from its own random stream seeded by (seed, index), so row n is the same whatever
/// range or row count it is generated in, the same seed always gives byte-identical data, and
/// ranges can be generated in parallel. Name and word pools come from Bogus with a fixed seed.
/// </summary>
public static class SyntheticData
{
    /// <summary>The first index the generator uses.</summary>
    public const long FirstIndex = 1;

    // The placeholders of the original project's real data, written at a few percent each (SPEC §2): the junk markers
    // of the cleaning rules, PinPipe.Transform.JunkMarkers. Source comes before Transform (DESIGN.md: a stage uses only
    // the stages before it), so the generator writes the data's values and SyntheticDataTests check they are
    // exactly Transform's markers, each in its column.
    private const string NoTitle = "No Title Data Available";
    private const string NoDescriptionStory = "No description available Story format";
    private const string NoDescription = "No description available";
    private const string Untitled = "Untitled";
    private const string UserInfoError = "User Info Error";
    private const string NoTags = "N,o, ,T,a,g,s, ,A,v,a,i,l,a,b,l,e";
    private const string ImageSrcError = "Image src error.";

    /// <summary>Rate of each junk marker (title, description, poster/follower, tags, image) per row.</summary>
    public const double JunkRate = 0.03;

    /// <summary>The categories, most popular first.</summary>
    public static IReadOnlyList<string> Categories => Pools.Categories;

    /// <summary>The countries, in the generator's popularity order (most popular first).</summary>
    public static IReadOnlyList<string> CountriesByPopularity => Pools.CountriesByPopularity;

    /// <summary>The values of <c>is_image_or_video</c>.</summary>
    public static IReadOnlyList<string> MediaTypes { get; } = ["image", "video", "multi-video(story page format)"];

    /// <summary>Post <paramref name="index"/> (≥ 1) for <paramref name="seed"/>.</summary>
    public static SourcePost Post(int seed, long index)
    {
        if (index < FirstIndex) throw new ArgumentOutOfRangeException(nameof(index), index, "Indexes start at 1.");
        var random = new RowRandom(seed, index);
        return Build(ref random, index);
    }

    /// <summary>Posts <paramref name="start"/> .. <paramref name="start"/> + <paramref name="count"/> - 1, in order.</summary>
    public static IEnumerable<SourcePost> Generate(int seed, long start, long count)
    {
        ValidateRange(start, count);
        for (var i = 0L; i < count; i++) yield return Post(seed, start + i);
    }

    /// <summary>Posts of a range as one array, generated on the calling thread.</summary>
    public static SourcePost[] GenerateBatch(int seed, long start, int count)
    {
        ValidateRange(start, count);
        var batch = new SourcePost[count];
        for (var i = 0; i < count; i++) batch[i] = Post(seed, start + i);
        return batch;
    }

    /// <summary>
    /// The posts of a range in batches of <paramref name="batchSize"/>, in index order, generated in
    /// parallel on all cores (at most two batches per core ahead of the consumer).
    /// </summary>
    public static async IAsyncEnumerable<SourcePost[]> GenerateBatchesAsync(
        int seed, long start, long count, int batchSize = 10_000,
        [EnumeratorCancellation] CancellationToken cancellationToken = default)
    {
        ValidateRange(start, count);
        if (batchSize <= 0) throw new ArgumentOutOfRangeException(nameof(batchSize), batchSize, "Batch size must be positive.");
        _ = Pools.Categories; // build the pools once, before the workers race for them
        var ahead = Channel.CreateBounded<Task<SourcePost[]>>(new BoundedChannelOptions(Math.Max(2, Environment.ProcessorCount * 2))
        {
            SingleReader = true,
            SingleWriter = true,
        });
        using var stop = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        var producer = Task.Run(async () =>
        {
            try
            {
                for (var first = start; first < start + count; first += batchSize)
                {
                    var from = first;
                    var size = (int)Math.Min(batchSize, start + count - first);
                    await ahead.Writer.WriteAsync(Task.Run(() => GenerateBatch(seed, from, size), stop.Token), stop.Token).ConfigureAwait(false);
                }
                ahead.Writer.Complete();
            }
#pragma warning disable CA1031 // the error completes the channel, so the reader rethrows it
            catch (Exception ex)
#pragma warning restore CA1031
            {
                ahead.Writer.TryComplete(ex);
            }
        }, CancellationToken.None);
        try
        {
            await foreach (var batch in ahead.Reader.ReadAllAsync(cancellationToken).ConfigureAwait(false))
            {
                yield return await batch.ConfigureAwait(false);
            }
        }
        finally
        {
            await stop.CancelAsync().ConfigureAwait(false);
            try { await producer.ConfigureAwait(false); } catch (OperationCanceledException) { }
        }
    }

    private static void ValidateRange(long start, long count)
    {
        if (start < FirstIndex) throw new ArgumentOutOfRangeException(nameof(start), start, "Indexes start at 1.");
        if (count < 0) throw new ArgumentOutOfRangeException(nameof(count), count, "Count must not be negative.");
    }

    private static readonly DateTime GeoFrom = new(2015, 1, 1, 0, 0, 0, DateTimeKind.Utc);
    private static readonly long GeoSpanSeconds = (long)(new DateTime(2023, 1, 1, 0, 0, 0, DateTimeKind.Utc) - GeoFrom).TotalSeconds;
    private static readonly DateTime JoinFrom = new(2014, 1, 1, 0, 0, 0, DateTimeKind.Utc);
    private static readonly long JoinSpanSeconds = (long)(new DateTime(2022, 1, 1, 0, 0, 0, DateTimeKind.Utc) - JoinFrom).TotalSeconds;

    private static SourcePost Build(ref RowRandom r, long index)
    {
        // pin
        var category = Pools.Categories[Pools.CategoryZipf.Sample(ref r)];
        var media = r.NextDouble() switch { < 0.80 => MediaTypes[0], < 0.93 => MediaTypes[1], _ => MediaTypes[2] };
        var story = ReferenceEquals(media, MediaTypes[2]);

        var junkTitle = r.Chance(JunkRate);
        var junkDescription = r.Chance(JunkRate);
        var junkPoster = r.Chance(JunkRate);
        var junkTags = r.Chance(JunkRate);
        var junkImage = r.Chance(JunkRate);

        var title = junkTitle ? NoTitle : Blank(ref r) ?? Title(ref r, category);
        var description = junkDescription
            ? (story ? NoDescriptionStory : r.Next(3) switch { 0 => NoDescriptionStory, 1 => NoDescription, _ => Untitled })
            : Blank(ref r) ?? Description(ref r, category);
        string posterName, followerCount;
        if (junkPoster)
        {
            posterName = followerCount = UserInfoError;
        }
        else
        {
            var poster = Pools.PosterZipf.Sample(ref r);
            posterName = Pools.Posters[poster];
            followerCount = Pools.PosterFollowers[poster];
        }
        var tags = junkTags ? NoTags : (r.Chance(0.005) ? "" : Tags(ref r, category));
        var image = junkImage ? ImageSrcError : ImageUrl(ref r);
        var downloaded = junkTitle || junkDescription || junkPoster || junkTags || junkImage ? 0 : 1;
        var pin = new PinRow(index, Uuid(ref r), title, description, posterName, followerCount, tags, media, image,
            downloaded, "Local save in /data/" + category, category);

        // geo
        var timestamp = GeoFrom.AddSeconds(r.NextLong(GeoSpanSeconds));
        var latitude = Math.Round(r.NextDouble() * 180.0 - 90.0, 4);
        var longitude = Math.Round(r.NextDouble() * 360.0 - 180.0, 4);
        var country = Pools.CountriesByPopularity[Pools.CountryZipf.Sample(ref r)];
        var geo = new GeoRow(index, timestamp, latitude, longitude, country);

        // user
        var first = Pools.FirstNames[Pools.FirstNameZipf.Sample(ref r)];
        var last = Pools.LastNames[Pools.LastNameZipf.Sample(ref r)];
        var age = r.Chance(0.01) ? r.Between(13, 17) : 18 + (int)(58 * Math.Pow(r.NextDouble(), 1.6));
        var joined = JoinFrom.AddSeconds(r.NextLong(JoinSpanSeconds));
        var user = new UserRow(index, first, last, age, joined);

        return new SourcePost(pin, geo, user);
    }

    /// <summary>An empty or all-whitespace string now and then, else null.</summary>
    private static string? Blank(ref RowRandom r) => r.NextDouble() switch { < 0.004 => "", < 0.006 => "  ", _ => null };

    private static string Title(ref RowRandom r, string category)
    {
        var words = r.Between(2, 6);
        var parts = new string[words];
        for (var i = 0; i < words; i++) parts[i] = Word(ref r, category);
        parts[0] = char.ToUpperInvariant(parts[0][0]) + parts[0][1..];
        return string.Join(' ', parts);
    }

    private static string Description(ref RowRandom r, string category)
    {
        var sentences = r.Between(1, 3);
        var text = new System.Text.StringBuilder();
        for (var s = 0; s < sentences; s++)
        {
            if (s > 0) text.Append(' ');
            text.Append(Title(ref r, category)).Append(r.Chance(0.1) ? "!" : ".");
        }
        if (r.Chance(0.05)) text.Append(" \"Quoted\" tips…");
        return text.ToString();
    }

    private static string Word(ref RowRandom r, string category)
    {
        if (r.Chance(0.02)) return Pools.NonAsciiWords[r.Next(Pools.NonAsciiWords.Length)];
        if (r.Chance(0.15)) return category.Replace('-', ' ');
        return Pools.Words[r.Next(Pools.Words.Length)];
    }

    private static string Tags(ref RowRandom r, string category)
    {
        var count = r.Between(3, 9);
        var parts = new string[count];
        for (var i = 0; i < count; i++)
        {
            var w = Word(ref r, category);
            parts[i] = char.ToUpperInvariant(w[0]) + w[1..];
        }
        return string.Join(',', parts);
    }

    private static string ImageUrl(ref RowRandom r)
    {
        var hex = $"{r.NextULong():x16}{r.NextULong():x16}";
        return $"https://i.pinimg.com/originals/{hex[..2]}/{hex[2..4]}/{hex[4..6]}/{hex}.jpg";
    }

    private static string Uuid(ref RowRandom r)
    {
        Span<byte> bytes = stackalloc byte[16];
        BitConverter.TryWriteBytes(bytes, r.NextULong());
        BitConverter.TryWriteBytes(bytes[8..], r.NextULong());
        bytes[7] = (byte)((bytes[7] & 0x0F) | 0x40); // version 4
        bytes[8] = (byte)((bytes[8] & 0x3F) | 0x80); // RFC 4122 variant
        return new Guid(bytes).ToString("D");
    }

    /// <summary>Name and word pools, built once from Bogus with a fixed seed.</summary>
    private static class Pools
    {
        public static readonly string[] Categories =
        [
            "mens-fashion", "beauty", "diy-and-crafts", "art", "tattoos", "quotes", "education", "christmas",
            "finance", "travel", "home-decor", "event-planning", "vehicles", "womens-fashion", "food-and-drink",
        ];

        public static readonly ZipfTable CategoryZipf = new(Categories.Length, 1.0);
        public static readonly string[] CountriesByPopularity = Shuffle(Countries.All, 0xC0FFEE);
        public static readonly ZipfTable CountryZipf = new(CountriesByPopularity.Length, 1.1);

        public static readonly string[] NonAsciiWords =
            ["café", "crème brûlée", "jalapeño", "naïve", "Zürich", "façade", "São Paulo", "piñata", "smörgåsbord", "日本", "✨ sparkle", "Ελλάδα"];

        public static readonly string[] FirstNames;
        public static readonly string[] LastNames;
        public static readonly string[] Words;
        public static readonly string[] Posters;
        public static readonly string[] PosterFollowers;
        public static readonly ZipfTable FirstNameZipf;
        public static readonly ZipfTable LastNameZipf;
        public static readonly ZipfTable PosterZipf;

#pragma warning disable CA1810 // the pools depend on each other; one static constructor keeps the order explicit
        static Pools()
#pragma warning restore CA1810
        {
            var faker = new Faker("en") { Random = new Randomizer(20_230_101) };
            FirstNames = Distinct(1_000, () => faker.Name.FirstName());
            LastNames = Distinct(1_000, () => faker.Name.LastName());
            Words = Distinct(1_500, () => faker.Random.Word().ToLowerInvariant(), w => w.Length is > 1 and < 24);
            Posters = Distinct(4_000, () => faker.Random.Int(0, 9) switch
            {
                < 6 => faker.Name.FullName(),
                < 8 => faker.Company.CompanyName(),
                _ => faker.Internet.UserName(),
            });
            FirstNameZipf = new ZipfTable(FirstNames.Length, 0.7);
            LastNameZipf = new ZipfTable(LastNames.Length, 0.7);
            PosterZipf = new ZipfTable(Posters.Length, 1.0);

            PosterFollowers = new string[Posters.Length];
            var r = new RowRandom(0xF011_0E25UL);
            for (var i = 0; i < Posters.Length; i++) PosterFollowers[i] = FollowerCount(ref r);
        }

        /// <summary>Digits, k or M suffixes, a few with a decimal part ("1.5k").</summary>
        private static string FollowerCount(ref RowRandom r)
        {
            var kind = r.NextDouble();
            if (kind < 0.35) return r.Chance(0.1) ? "0" : r.Between(1, 999).ToString(System.Globalization.CultureInfo.InvariantCulture);
            if (kind < 0.82) return r.Between(1, 999) + "k";
            if (kind < 0.92) return r.Between(1, 60) + "M";
            return r.Chance(0.7) ? $"{r.Between(1, 99)}.{r.Between(1, 9)}k" : $"{r.Between(1, 9)}.{r.Between(1, 9)}M";
        }

        private static string[] Distinct(int wanted, Func<string> next, Func<string, bool>? accept = null)
        {
            var seen = new HashSet<string>(StringComparer.Ordinal);
            var list = new List<string>(wanted);
            for (var attempts = 0; list.Count < wanted && attempts < wanted * 50; attempts++)
            {
                var value = next().Trim();
                if (value.Length == 0 || (accept is not null && !accept(value)) || !seen.Add(value)) continue;
                list.Add(value);
            }
            return [.. list];
        }

        private static string[] Shuffle(string[] source, ulong seed)
        {
            var copy = (string[])source.Clone();
            var r = new RowRandom(seed);
            for (var i = copy.Length - 1; i > 0; i--)
            {
                var j = r.Next(i + 1);
                (copy[i], copy[j]) = (copy[j], copy[i]);
            }
            return copy;
        }
    }
}
