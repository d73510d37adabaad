using System.Diagnostics;
using System.Diagnostics.CodeAnalysis;
using PinPipe.Source;
using PinPipe.Tests.Support;

namespace PinPipe.Tests.Source;

/// <summary>The one contract every <see cref="ISourceDatabase"/> keeps, run against each provider.</summary>
public abstract class SourceDatabaseContractTests : IAsyncLifetime
{
    private const int Rows = 3_000;
    private const int Seed = 42;

    protected ISourceDatabase Db { get; private set; } = null!;

    protected abstract ISourceDatabase Open();

    /// <summary>A connection string from the environment; a missing one fails the test, never skips it.</summary>
    protected static string RequireEnvironment(string name) =>
        Environment.GetEnvironmentVariable(name) is { Length: > 0 } value
            ? value
            : throw new InvalidOperationException(
                $"{name} is not set. Run scripts/services/start.sh and then `source ${{TEST_PINPIPE_SERVICES_DIR:-/tmp/pinpipe-services}}/env` before dotnet test.");

    public async Task InitializeAsync()
    {
        Db = Open();
        await Db.DropSchemaAsync();
    }

    public async Task DisposeAsync()
    {
        await Db.DropSchemaAsync();
        await Db.DisposeAsync();
    }

    [Fact]
    public async Task A_missing_schema_counts_zero_and_has_no_range()
    {
        Assert.Equal(0, await Db.CountPostsAsync());
        Assert.Null(await Db.GetIndexRangeAsync());
    }

    [Fact]
    public async Task An_empty_schema_counts_zero_and_has_no_range()
    {
        await Db.CreateSchemaAsync();
        await Db.CreateSchemaAsync(); // idempotent
        Assert.Equal(0, await Db.CountPostsAsync());
        Assert.Null(await Db.GetIndexRangeAsync());
        Assert.Empty(await Db.GetPostsAsync([1, 2, 3]));
    }

    [Fact]
    public async Task Seeded_posts_come_back_equal_to_the_generated_ones()
    {
        var progress = new List<SeedProgress>();
        var result = await Seeder.SeedAsync(Db, Rows, Seed, new SyncProgress(progress));
        Assert.Equal(Rows, result.RowsWritten);
        Assert.Equal(Rows, progress[^1].RowsWritten);
        Assert.Equal(Rows, await Db.CountPostsAsync());
        Assert.Equal((1L, (long)Rows), await Db.GetIndexRangeAsync());

        var expected = SyntheticData.GenerateBatch(Seed, 1, Rows);
        for (var start = 0; start < Rows; start += 250)
        {
            var indexes = Enumerable.Range(start + 1, 250).Select(i => (long)i).Reverse().ToList();
            var posts = await Db.GetPostsAsync(indexes);
            Assert.Equal(indexes, posts.Select(p => p.Pin.Index));
            foreach (var post in posts)
            {
                var want = expected[post.Pin.Index - 1];
                Assert.Equal(want.Pin, post.Pin);
                Assert.Equal(want.Geo, post.Geo);
                Assert.Equal(want.User, post.User);
                Assert.Equal(DateTimeKind.Utc, post.Geo!.Timestamp!.Value.Kind);
                Assert.Equal(DateTimeKind.Utc, post.User!.DateJoined!.Value.Kind);
                Assert.Equal(SourceJson.Pin(want.Pin), SourceJson.Pin(post.Pin));
                Assert.Equal(SourceJson.Geo(want.Geo!), SourceJson.Geo(post.Geo));
            }
        }
        Assert.Contains(expected, p => p.Pin.Title is { } t && t.Any(c => c > 127));
    }

    [Fact]
    public async Task Repeated_indexes_are_repeated_and_missing_ones_left_out()
    {
        await Seeder.SeedAsync(Db, 50, Seed);
        var posts = await Db.GetPostsAsync([7, 99_999, 3, 7, 0, 3, 50]);
        Assert.Equal([7L, 3, 7, 3, 50], posts.Select(p => p.Pin.Index));
        Assert.Equal(SyntheticData.Post(Seed, 7), posts[0]);
        Assert.Equal(posts[0], posts[2]);
        Assert.Empty(await Db.GetPostsAsync([]));
    }

    [Fact]
    public async Task Nulls_and_missing_geo_or_user_rows_round_trip()
    {
        await Db.CreateSchemaAsync();
        var bare = new SourcePost(new PinRow(5, null, null, "", null, null, null, null, null, null, null, null), null, null);
        var partial = new SourcePost(
            new PinRow(6, "u", "Crème brûlée ✨", "d", "p", "1.5k", "A,B", "video", "src", 1, "Local save in /data/art", "art"),
            new GeoRow(6, null, null, -0.5, "Côte d'Ivoire"),
            new UserRow(6, "Zoë", null, null, new DateTime(2014, 1, 1, 0, 0, 0, DateTimeKind.Utc)));
        await Db.InsertAsync([bare, partial]);
        var posts = await Db.GetPostsAsync([5, 6]);
        Assert.Equal([bare, partial], posts);
    }

    [Fact]
    public async Task Inserting_an_existing_index_fails_and_writes_nothing_of_that_batch()
    {
        await Seeder.SeedAsync(Db, 10, Seed);
        var batch = new[] { SyntheticData.Post(Seed, 11), SyntheticData.Post(Seed, 5) };
        await Assert.ThrowsAnyAsync<Exception>(async () => await Db.InsertAsync(batch));
        Assert.Equal(10, await Db.CountPostsAsync());
        Assert.Empty(await Db.GetPostsAsync([11]));
    }

    [Fact]
    public async Task Random_batches_of_one_hundred_are_fetched_quickly()
    {
        await Seeder.SeedAsync(Db, Rows, Seed);
        var random = new Random(1);
        var clock = Stopwatch.StartNew();
        var fetched = 0;
        for (var i = 0; i < 50; i++)
        {
            var indexes = Enumerable.Range(0, 100).Select(_ => (long)random.Next(1, Rows + 1)).ToList();
            fetched += (await Db.GetPostsAsync(indexes)).Count;
        }
        Assert.Equal(5_000, fetched);
        Assert.True(clock.Elapsed < TimeSpan.FromSeconds(10), $"5,000 posts took {clock.Elapsed}");
    }

    [Fact]
    public async Task Dropping_the_schema_removes_the_data()
    {
        await Seeder.SeedAsync(Db, 20, Seed);
        await Db.DropSchemaAsync();
        Assert.Equal(0, await Db.CountPostsAsync());
        await Db.DropSchemaAsync(); // idempotent
    }

    private sealed class SyncProgress(List<SeedProgress> into) : IProgress<SeedProgress>
    {
        public void Report(SeedProgress value) => into.Add(value);
    }
}

[Collection(SourceDatabaseCollection.Name)]
public sealed class SqliteSourceDatabaseTests : SourceDatabaseContractTests, IDisposable
{
    private readonly TempDirectory _dir = new("source-sqlite");

    protected override ISourceDatabase Open() => new SqliteSourceDatabase($"Data Source={_dir.File("source.db")}");

    public void Dispose()
    {
        Microsoft.Data.Sqlite.SqliteConnection.ClearAllPools();
        _dir.Dispose();
    }
}

[Collection(SourceDatabaseCollection.Name)]
public sealed class MySqlSourceDatabaseTests : SourceDatabaseContractTests
{
    protected override ISourceDatabase Open() => new MySqlSourceDatabase(RequireEnvironment("TEST_PINPIPE_MYSQL"));
}

[Collection(SourceDatabaseCollection.Name)]
public sealed class PostgresSourceDatabaseTests : SourceDatabaseContractTests
{
    protected override ISourceDatabase Open() => new PostgresSourceDatabase(RequireEnvironment("TEST_PINPIPE_POSTGRES"));
}

/// <summary>The database tests own the <c>pinpipe</c> databases: they run one at a time.</summary>
[CollectionDefinition(Name, DisableParallelization = true)]
[SuppressMessage("Naming", "CA1711:Identifiers should not have incorrect suffix", Justification = "xUnit's convention for a collection definition.")]
public sealed class SourceDatabaseCollection
{
    public const string Name = "source databases";
}
