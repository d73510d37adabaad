using System.Diagnostics;
using System.Globalization;
using System.Security.Cryptography;
using System.Text.Json;
using PinPipe.Configuration;
using PinPipe.Source;

namespace PinPipe.Bench;

/// <summary>The parameters of a generated bucket; the cache is reused only when they are all equal.</summary>
internal sealed record BatchDataParameters(int Version, long Posts, int Seed, double RepostRate, int Partitions, int FlushSize, string UserId, string Fingerprint);

/// <summary>What a generated bucket holds (per topic: records = posts + re-posts + rejects).</summary>
internal sealed record BatchDataTotals(long Reposts, long RejectsPerTopic, long Records, long Bytes, int Objects);

/// <summary>A generated bucket: <c>DataDir/buckets/user-U-bucket/topics/...</c>.</summary>
internal sealed record BatchDataSet(string DataDir, string BucketDir, BatchDataParameters Parameters, BatchDataTotals Totals)
{
    public string TopicsDir => Path.Combine(BucketDir, "topics");
}

/// <summary>
/// The batch benchmark's raw data: <c>posts</c> synthetic posts (seed 42) as the emulator posts them
/// (<see cref="SourceJson"/>), about 5% re-posted (byte-identical copies of an earlier post) and three reject
/// lines per topic, written as the S3-sink connector lays out a bucket
/// (<c>topics/&lt;topic&gt;/partition=&lt;p&gt;/&lt;topic&gt;+&lt;p&gt;+&lt;startOffset:D10&gt;.json</c>, 10,000 records
/// per object). Cached under <c>/tmp/pinpipe-bench-batch-&lt;posts&gt;</c> and regenerated when its
/// <c>params.json</c> marker differs. The posts are one day of <see cref="LandingSimulator"/>.
/// </summary>
internal static class BatchData
{
    public const string UserId = "12885f560a0b";
    private const int Version = 1;
    private const int Seed = LandingSimulator.Seed;
    private const double RepostRate = LandingSimulator.RepostRate;
    private const int Partitions = LandingSimulator.Partitions;
    private const int FlushSize = LandingSimulator.FlushSize;
    private const string Marker = "params.json";
    private static readonly JsonSerializerOptions MarkerJson = new() { WriteIndented = true };

    public static string CacheDir(long posts) => Path.Combine(Path.GetTempPath(), $"pinpipe-bench-batch-{posts}");

    /// <summary>The cached bucket for <paramref name="posts"/>, generated first when missing or made with other parameters.</summary>
    public static async Task<BatchDataSet> EnsureAsync(long posts, CancellationToken cancellationToken = default)
    {
        var parameters = new BatchDataParameters(Version, posts, Seed, RepostRate, Partitions, FlushSize, UserId, Fingerprint(posts));
        var dir = CacheDir(posts);
        var bucket = Path.Combine(dir, "buckets", new PipelineNames(UserId).Bucket);
        var marker = Path.Combine(dir, Marker);
        if (File.Exists(marker))
        {
            var cached = JsonSerializer.Deserialize<MarkerFile>(await File.ReadAllTextAsync(marker, cancellationToken));
            if (cached is not null && cached.Parameters == parameters)
            {
                IngestBench.Progress($"batch data: reusing {dir} ({cached.Totals.Records:N0} records, {cached.Totals.Bytes / 1e6:N0} MB)");
                return new BatchDataSet(dir, bucket, parameters, cached.Totals);
            }
            IngestBench.Progress($"batch data: {dir} was made with other parameters; regenerating");
        }

        var staging = dir + ".tmp-" + Guid.NewGuid().ToString("N");
        var stagingBucket = Path.Combine(staging, "buckets", new PipelineNames(UserId).Bucket);
        try
        {
            var totals = await GenerateAsync(stagingBucket, posts, cancellationToken);
            await File.WriteAllTextAsync(Path.Combine(staging, Marker), JsonSerializer.Serialize(new MarkerFile(parameters, totals), MarkerJson), cancellationToken);
            if (Directory.Exists(dir)) Directory.Delete(dir, recursive: true);
            Directory.Move(staging, dir);
            return new BatchDataSet(dir, bucket, parameters, totals);
        }
        finally
        {
            if (Directory.Exists(staging)) Directory.Delete(staging, recursive: true);
        }
    }

    private static async Task<BatchDataTotals> GenerateAsync(string bucket, long posts, CancellationToken cancellationToken)
    {
        var watch = Stopwatch.StartNew();
        IngestBench.Progress($"batch data: generating {posts:N0} posts (+~{RepostRate:P0} re-posts) into {bucket}");
        var day = await new LandingSimulator(bucket, UserId, posts).LandDayAsync(cancellationToken);
        IngestBench.Progress($"batch data: done, {day.Records:N0} records ({day.Reposts:N0} re-posted posts, {day.RejectsPerTopic * 3} reject lines), {day.Bytes / 1e6:N0} MB in {day.Objects.Count} objects, {watch.Elapsed.TotalSeconds:0.0} s");
        return new BatchDataTotals(day.Reposts, day.RejectsPerTopic, day.Records, day.Bytes, day.Objects.Count);
    }

    /// <summary>A hash of the first and last posts' JSON: changes when the generator or the encoder changes.</summary>
    private static string Fingerprint(long posts)
    {
        var first = SyntheticData.Post(Seed, SyntheticData.FirstIndex);
        var last = SyntheticData.Post(Seed, SyntheticData.FirstIndex + Math.Max(0, posts - 1));
        var all = new List<byte>();
        foreach (var p in new[] { first, last })
        {
            all.AddRange(SourceJson.Pin(p.Pin));
            all.AddRange(SourceJson.Geo(p.Geo!));
            all.AddRange(SourceJson.User(p.User!));
        }
        return Convert.ToHexStringLower(SHA256.HashData(all.ToArray()));
    }

    private sealed record MarkerFile(BatchDataParameters Parameters, BatchDataTotals Totals);
}
