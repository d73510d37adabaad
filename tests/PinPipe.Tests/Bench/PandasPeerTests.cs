using System.Diagnostics;
using System.Text.Json.Nodes;
using PinPipe.Tests.Support;

namespace PinPipe.Tests.Bench;

/// <summary>
/// The batch benchmark's peer, <c>bench/peers/pandas_batch.py</c>, run on the shared fixtures laid out as a
/// bucket: its cleaning must give the fixtures' clean rows and counts, or the benchmark compares unequal work.
/// </summary>
public sealed class PandasPeerTests
{
    private const string Python = "/usr/bin/python3";
    private const string UserId = "fixtureuser";
    private static readonly string[] Tables = ["pin", "geo", "user"];

    private static string Script => Path.Combine(TestData.RepoRoot, "bench", "peers", "pandas_batch.py");

    [Fact]
    public async Task Clean_counts_equal_the_fixtures_counts()
    {
        using var dir = new TempDirectory("pandas-peer");
        var output = await RunOnFixturesAsync(dir);
        var expected = JsonNode.Parse(await File.ReadAllTextAsync(Path.Combine(TestData.Fixtures, "counts.json")))!;
        var actual = JsonNode.Parse(await File.ReadAllTextAsync(Path.Combine(output, "counts.json")))!;
        foreach (var table in Tables)
        {
            foreach (var count in new[] { "read", "clean", "duplicates", "rejects" })
                Assert.True((long)expected[table]![count]! == (long)actual[table]![count]!,
                    $"{table}.{count}: fixtures {expected[table]![count]}, pandas_batch.py {actual[table]![count]}");
        }
    }

    [Fact]
    public async Task Clean_rows_equal_the_fixtures_clean_rows()
    {
        using var dir = new TempDirectory("pandas-peer");
        var output = await RunOnFixturesAsync(dir, "--write-clean");
        foreach (var table in Tables)
        {
            var expected = ReadRows(Path.Combine(TestData.Fixtures, "clean", table + ".jsonl"));
            var actual = ReadRows(Path.Combine(output, "clean", table + ".jsonl"));
            Assert.Equal(expected.Keys.Order(), actual.Keys.Order());
            foreach (var (ind, row) in expected)
                Assert.True(JsonNode.DeepEquals(row, actual[ind]), $"{table} ind {ind}: expected {row.ToJsonString()}, got {actual[ind].ToJsonString()}");
        }
    }

    [Fact]
    public async Task Rejects_name_the_object_and_offset_they_came_from()
    {
        using var dir = new TempDirectory("pandas-peer");
        var output = await RunOnFixturesAsync(dir);
        var lines = await File.ReadAllLinesAsync(Path.Combine(output, "rejects", "pin_rejects.csv"));
        Assert.Equal("object_key,offset,reason,raw", lines[0]);
        // The last four raw pin lines (offsets 9..12) are the rejects; the fixture is split into objects at offset 7.
        var prefix = $"topics/{UserId}.pin/partition=0/{UserId}.pin+0+0000000007.json,";
        Assert.Equal(
            [prefix + "9,key 'index' is not an integer", prefix + "10,not a JSON object", prefix + "11,no key 'index'", prefix + "12,not JSON"],
            lines.Skip(1).Select(l => string.Join(',', l.Split(',').Take(3))));
    }

    [Fact]
    public async Task Insights_are_computed_from_the_joined_clean_tables()
    {
        using var dir = new TempDirectory("pandas-peer");
        var output = await RunOnFixturesAsync(dir);
        var insights = Path.Combine(output, "insights");
        Assert.Equal(9, Directory.GetFiles(insights, "*.csv").Length);
        // Of the clean pins with a geo row, ind 1 (Ann Example, 5k followers, "Korea, Republic of") has the most
        // followers: ind 3 has 2M but no geo row, ind 5 has 12k but no geo row.
        Assert.Equal(["country,follower_count", "\"Korea, Republic of\",5000"], await File.ReadAllLinesAsync(Path.Combine(insights, "4_country_of_top_poster.csv")));
        // Pins joined with users by age group: 18-24 only ind 7528, whose follower count is null (no row);
        // 25-35 ind 10794 (437); 36-50 ind 5730 (0) and ind 2 (1500), lower median 0; +50 ind 1 (5000).
        Assert.Equal(["age_group,median_follower_count", "+50,5000", "25-35,437", "36-50,0"],
            await File.ReadAllLinesAsync(Path.Combine(insights, "6_median_followers_per_age_group.csv")));
    }

    [Fact]
    public async Task A_key_that_appears_twice_in_a_record_takes_its_last_value_in_the_peer_and_in_pinpipe()
    {
        using var dir = new TempDirectory("pandas-peer");
        string[] pins =
        [
            """{"index": 1, "title": "first", "category": "art", "title": "last"}""",
            """{"index": 7, "index": 2, "title": "x", "category": {"a": 1}, "category": "kept"}""",
        ];
        var bucket = dir.File("bucket");
        await WriteObjectAsync(bucket, "pin", 0, pins);
        await WriteObjectAsync(bucket, "geo", 0, ["""{"ind": 1, "country": "X", "latitude": 1.5, "longitude": 2.5, "timestamp": "2020-01-01 00:00:00"}"""]);
        await WriteObjectAsync(bucket, "user", 0, ["""{"ind": 1, "first_name": "A", "last_name": "B", "age": 30, "date_joined": "2020-01-01 00:00:00"}"""]);
        var output = dir.File("out");
        var (code, text) = await RunAsync([Script, "--bucket", bucket, "--user-id", UserId, "--out", output, "--write-clean"]);
        Assert.True(code == 0, $"pandas_batch.py exited with {code}:\n{text}");
        var peer = ReadRows(Path.Combine(output, "clean", "pin.jsonl"));

        using var kit = new Transform.TransformTestKit();
        await kit.CleanAsync(PinPipe.Transform.RecordKind.Pin, pins);
        var ours = kit.CleanRows(PinPipe.Transform.RecordKind.Pin);

        Assert.Equal([1L, 2L], peer.Keys.Order());
        Assert.Equal(peer.Keys.Order(), ours.Keys.Order());
        foreach (var (ind, row) in peer)
            foreach (string field in new[] { "title", "category" })
                Assert.Equal((string?)row[field], ours[ind][field]);
        Assert.Equal(("last", "kept"), ((string?)peer[1]["title"], (string?)peer[2]["category"]));
    }

    [Fact]
    public async Task Insight_4_keeps_every_country_at_the_maximum_in_the_peer_and_in_pinpipe()
    {
        using var dir = new TempDirectory("pandas-peer");
        // Peru (lea), Brazil (mia and zed: a tie inside one country) and Chile (lea again) reach the overall
        // maximum, 2M; Argentina's top poster has 1.9M: three rows, by country, one per country.
        (long Ind, string Country, string Poster, string Followers)[] posts =
        [
            (1, "Peru", "lea", "2M"), (2, "Brazil", "mia", "2000000"), (3, "Brazil", "zed", "2M"),
            (4, "Brazil", "abe", "10"), (5, "Chile", "lea", "2M"), (6, "Argentina", "ann", "1.9M"),
        ];
        string[] pins = [.. posts.Select(p => $$"""{"index": {{p.Ind}}, "poster_name": "{{p.Poster}}", "follower_count": "{{p.Followers}}", "category": "art"}""")];
        string[] geos = [.. posts.Select(p => $$"""{"ind": {{p.Ind}}, "country": "{{p.Country}}", "latitude": 1.5, "longitude": 2.5, "timestamp": "2020-01-01 00:00:00"}""")];
        string[] users = ["""{"ind": 1, "first_name": "A", "last_name": "B", "age": 30, "date_joined": "2020-01-01 00:00:00"}"""];
        var bucket = dir.File("bucket");
        await WriteObjectAsync(bucket, "pin", 0, pins);
        await WriteObjectAsync(bucket, "geo", 0, geos);
        await WriteObjectAsync(bucket, "user", 0, users);
        var output = dir.File("out");
        var (code, text) = await RunAsync([Script, "--bucket", bucket, "--user-id", UserId, "--out", output]);
        Assert.True(code == 0, $"pandas_batch.py exited with {code}:\n{text}");
        var peer = await File.ReadAllLinesAsync(Path.Combine(output, "insights", "4_country_of_top_poster.csv"));

        using var kit = new Transform.TransformTestKit();
        await kit.CleanAsync(PinPipe.Transform.RecordKind.Pin, pins);
        await kit.CleanAsync(PinPipe.Transform.RecordKind.Geo, geos);
        var ours = await PinPipe.Insights.InsightEngine.RunAsync(kit.Connection, PinPipe.Insights.InsightQueries.TopPosterCountry);

        Assert.Equal(["country,follower_count", "Brazil,2000000", "Chile,2000000", "Peru,2000000"], peer);
        Assert.Equal(peer.Skip(1), ours.Rows.Select(r => FormattableString.Invariant($"{r[0]},{r[1]}")));
    }

    [Fact]
    public async Task A_missing_bucket_is_reported_by_name()
    {
        using var dir = new TempDirectory("pandas-peer");
        var missing = dir.File("no-such-bucket");
        var (code, output) = await RunAsync("--bucket", missing, "--user-id", UserId, "--out", dir.File("out"));
        Assert.NotEqual(0, code);
        Assert.Contains($"bucket folder {missing} does not exist", output, StringComparison.Ordinal);
    }

    /// <summary>Writes the raw fixtures as the bucket's objects, runs the script and returns its output folder.</summary>
    private static async Task<string> RunOnFixturesAsync(TempDirectory dir, params string[] extra)
    {
        var bucket = dir.File("bucket");
        foreach (var table in Tables)
        {
            var lines = await File.ReadAllLinesAsync(Path.Combine(TestData.Fixtures, "raw", table + ".jsonl"));
            // pin spans two objects of partition 0 (offsets 0 and 7), as the sink rolls objects.
            var split = table == "pin" ? 7 : lines.Length;
            await WriteObjectAsync(bucket, table, 0, lines[..split]);
            if (split < lines.Length) await WriteObjectAsync(bucket, table, split, lines[split..]);
        }
        var output = dir.File("out");
        var (code, text) = await RunAsync([Script, "--bucket", bucket, "--user-id", UserId, "--out", output, .. extra]);
        Assert.True(code == 0, $"pandas_batch.py exited with {code}:\n{text}");
        return output;
    }

    private static async Task WriteObjectAsync(string bucket, string table, int startOffset, string[] lines)
    {
        var topic = $"{UserId}.{table}";
        var folder = Path.Combine(bucket, "topics", topic, "partition=0");
        Directory.CreateDirectory(folder);
        await File.WriteAllTextAsync(Path.Combine(folder, $"{topic}+0+{startOffset:D10}.json"), string.Concat(lines.Select(l => l + "\n")));
    }

    private static Dictionary<long, JsonNode> ReadRows(string file) =>
        File.ReadLines(file).Where(l => l.Trim().Length > 0).Select(l => JsonNode.Parse(l)!).ToDictionary(n => (long)n["ind"]!);

    private static async Task<(int ExitCode, string Output)> RunAsync(params string[] args)
    {
        EnsurePandas();
        if (args.Length == 0 || args[0] != Script) args = [Script, .. args];
        return await BenchProcess.RunAsync(Python, args);
    }

    private static void EnsurePandas()
    {
        Assert.True(File.Exists(Python), $"{Python} is missing: install Debian's python3 and python3-pandas (apt-get install python3-pandas).");
        var info = new ProcessStartInfo(Python, ["-c", "import pandas"]) { RedirectStandardError = true, UseShellExecute = false };
        using var p = Process.Start(info)!;
        var error = p.StandardError.ReadToEnd();
        p.WaitForExit();
        Assert.True(p.ExitCode == 0, $"pandas is missing for {Python}: install Debian's python3-pandas (apt-get install python3-pandas).\n{error}");
    }
}
