using System.Text;
using PinPipe.Log;
using PinPipe.Source;
using PinPipe.Tests.Support;

namespace PinPipe.Tests.Integration;

/// <summary>
/// The batch lane's ingestion as a user runs it, each part its own process on loopback:
/// <c>pinpipe seed</c> → <c>pinpipe serve</c> → <c>pinpipe emulate</c> → <c>pinpipe sink</c> → the bucket.
/// </summary>
public sealed class BatchIngestionEndToEndTests
{
    private const string UserId = "e2e";
    private static readonly string[] Topics = [$"{UserId}.pin", $"{UserId}.geo", $"{UserId}.user"];
    private static readonly TimeSpan Timeout = TimeSpan.FromSeconds(120);

    [Fact]
    public Task The_bucket_holds_exactly_the_posted_records_byte_for_byte_under_the_s3_sink_keys() => RunAsync(posts: 600, sinkKills: 0);

    [Fact]
    public Task The_bucket_holds_every_record_once_when_the_sink_is_killed_and_restarted_midway() => RunAsync(posts: 1500, sinkKills: 3);

    private static async Task RunAsync(int posts, int sinkKills)
    {
        using var dir = new TempDirectory("e2e");
        string[] common = ["--user-id", UserId];
        var seed = await CliProcess.RunAsync(dir.Path, Timeout, ["seed", "--rows", "2000", .. common]);
        Assert.True(seed.ExitCode == 0, seed.Output);

        int port = CliProcess.FreePort();
        var api = $"http://127.0.0.1:{port}";
        await using var serve = CliProcess.Start(dir.Path, ["serve", "--urls", api, .. common]);
        await serve.WaitHealthyAsync(new Uri($"{api}/healthz"), Timeout);

        string[] sinkArgs = ["sink", "--flush-size", "97", "--rotate-interval", "1s", .. common];
        var sink = CliProcess.Start(dir.Path, sinkArgs);
        try
        {
            var emulate = CliProcess.RunAsync(dir.Path, Timeout, ["emulate", "--api-url", api, "--count", posts.ToString(System.Globalization.CultureInfo.InvariantCulture),
                "--concurrency", "8", "--rate", sinkKills > 0 ? "400" : "0", .. common]);
            var bucket = Path.Combine(dir.Path, ".pinpipe", "buckets", $"user-{UserId}-bucket");
            for (int kill = 0; kill < sinkKills; kill++)
            {
                // Let the sink write some objects, then kill it mid-stream and start it again.
                await WaitUntilAsync(() => CountLines(bucket) > (kill + 1) * posts * 3 / (sinkKills + 2), Timeout, () => sink.Output);
                sink.Kill();
                await sink.DisposeAsync();
                sink = CliProcess.Start(dir.Path, sinkArgs);
            }
            var emulated = await emulate;
            Assert.True(emulated.ExitCode == 0, emulated.Output);
            Assert.Contains($"{posts * 3:N0} acknowledged", emulated.Output, StringComparison.Ordinal);

            await WaitUntilAsync(() => CountLines(bucket) >= posts * 3, Timeout, () => sink.Output);
            await Task.Delay(1500); // anything more would be a duplicate: give it the chance to show
            Assert.Equal(0, await sink.InterruptAsync(Timeout));
            Assert.Equal(0, await serve.InterruptAsync(Timeout));

            await AssertBucketAsync(dir.Path, bucket, posts);
        }
        finally
        {
            await sink.DisposeAsync();
        }
    }

    private static async Task AssertBucketAsync(string workDir, string bucket, int posts)
    {
        await using var source = new SqliteSourceDatabase($"Data Source={Path.Combine(workDir, ".pinpipe", "source.db")}");
        await using var log = await LogFactory.OpenAsync(new LogOptions { Path = Path.Combine(workDir, ".pinpipe", "log.db") });
        var indexesPerTopic = new List<List<long>>();
        foreach (var topic in Topics)
        {
            // Keys: topics/<topic>/partition=0/<topic>+0+<startOffset:D10>.json, contiguous and non-overlapping.
            var folder = Path.Combine(bucket, "topics", topic, "partition=0");
            var files = Directory.GetFiles(folder).Select(Path.GetFileName).Where(f => !f!.StartsWith(".pinpipe-tmp-", StringComparison.Ordinal)).Order(StringComparer.Ordinal).ToList();
            Assert.NotEmpty(files);
            var logged = await log.ReadAsync(topic, 0, 0, int.MaxValue);
            Assert.Equal(posts, logged.Count);
            long expectedStart = 0;
            var lines = new List<byte[]>();
            foreach (var file in files)
            {
                Assert.Equal($"{topic}+0+{expectedStart:D10}.json", file);
                var content = await File.ReadAllBytesAsync(Path.Combine(folder, file!));
                Assert.Equal((byte)'\n', content[^1]);
                var objectLines = Split(content);
                Assert.InRange(objectLines.Count, 1, 97);
                lines.AddRange(objectLines);
                expectedStart += objectLines.Count;
            }
            // Exactly the log's records, in offset order, once each.
            Assert.Equal(posts, lines.Count);
            for (int i = 0; i < posts; i++) Assert.Equal(logged[i].Value, lines[i]);

            // Byte for byte the source rows, as SPEC §3 shapes them.
            var indexes = lines.Select(l => IndexOf(l, topic.EndsWith(".pin", StringComparison.Ordinal) ? "index" : "ind")).ToList();
            var rows = await source.GetPostsAsync(indexes);
            Assert.Equal(posts, rows.Count);
            for (int i = 0; i < posts; i++)
            {
                var expected = topic.EndsWith(".pin", StringComparison.Ordinal) ? SourceJson.Pin(rows[i].Pin)
                    : topic.EndsWith(".geo", StringComparison.Ordinal) ? SourceJson.Geo(rows[i].Geo!) : SourceJson.User(rows[i].User!);
                Assert.Equal(Encoding.UTF8.GetString(expected), Encoding.UTF8.GetString(lines[i]));
            }
            indexesPerTopic.Add(indexes);
        }
        // Every post gave its pin, geo and user record.
        Assert.Equal(indexesPerTopic[0].Order(), indexesPerTopic[1].Order());
        Assert.Equal(indexesPerTopic[0].Order(), indexesPerTopic[2].Order());
    }

    private static long IndexOf(byte[] json, string key)
    {
        using var doc = System.Text.Json.JsonDocument.Parse(json);
        return doc.RootElement.GetProperty(key).GetInt64();
    }

    private static List<byte[]> Split(byte[] content)
    {
        var lines = new List<byte[]>();
        int start = 0;
        for (int i = 0; i < content.Length; i++)
            if (content[i] == '\n') { lines.Add(content[start..i]); start = i + 1; }
        return lines;
    }

    private static long CountLines(string bucket)
    {
        if (!Directory.Exists(bucket)) return 0;
        long n = 0;
        foreach (var f in Directory.EnumerateFiles(bucket, "*.json", SearchOption.AllDirectories))
        {
            try { n += File.ReadAllBytes(f).Count(b => b == '\n'); } catch (IOException) { }
        }
        return n;
    }

    private static async Task WaitUntilAsync(Func<bool> condition, TimeSpan timeout, Func<string> diagnostics)
    {
        var deadline = DateTime.UtcNow + timeout;
        while (!condition())
        {
            if (DateTime.UtcNow > deadline) throw new TimeoutException("timed out waiting for the bucket:\n" + diagnostics());
            await Task.Delay(100);
        }
    }
}
