using PinPipe.Source;

namespace PinPipe.Bench;

/// <summary><c>pinpipe seed</c>'s work: a million synthetic posts (three million rows) into a SQLite source.</summary>
internal static class SeedBench
{
    public static async Task<List<string>> RunAsync(BenchArgs args)
    {
        var rates = new List<double>();
        var seconds = new List<double>();
        const long posts = 1_000_000;
        for (int round = 0; round < args.Rounds; round++)
        {
            using var dir = new BenchDirectory("seed");
            await using var db = new SqliteSourceDatabase($"Data Source={dir.File("source.db")}");
            IngestBench.Progress($"seed: round {round + 1}/{args.Rounds}, {posts:N0} posts");
            var done = await Seeder.SeedAsync(db, posts, 42);
            rates.Add(done.RowsPerSecond);
            seconds.Add(done.Elapsed.TotalSeconds);
        }
        return [$"| seed, {posts:N0} posts (3 rows each) | SQLite source | | {IngestBench.Median(rates) * 3:N0} rows/s | {IngestBench.Median(seconds):0.0} s per million posts | |"];
    }
}
