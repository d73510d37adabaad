using System.Buffers;
using System.Diagnostics;
using System.Globalization;
using System.Security.Cryptography;
using System.Text;
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
/// <c>params.json</c> marker differs.
/// </summary>
internal static class BatchData
{
    public const string UserId = "12885f560a0b";
    private const int Version = 1;
    private const int Seed = 42;
    private const double RepostRate = 0.05;
    private const int Partitions = 3;
    private const int FlushSize = 10_000;
    private const string Marker = "params.json";
    private static readonly JsonSerializerOptions MarkerJson = new() { WriteIndented = true };

    /// <summary>Lines that must be rejected, per topic: not JSON, not an object, and a bad or missing key / bad value.</summary>
    private static readonly Dictionary<string, string[]> RejectLines = new()
    {
        ["pin"] = ["not json at all", "[1, 2, 3]", """{"index": "abc", "unique_id": "x", "category": "art"}"""],
        ["geo"] = ["not json at all", "[1, 2, 3]", """{"timestamp": "2020-01-01 00:00:00", "latitude": 1.0, "longitude": 2.0, "country": "Chad"}"""],
        ["user"] = ["not json at all", "[1, 2, 3]", """{"ind": 0, "first_name": "A", "last_name": "B", "age": "abc", "date_joined": "2015-01-01 00:00:00"}"""],
    };

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
        var names = new PipelineNames(UserId);
        string[] tables = ["pin", "geo", "user"];
        string[] topics = [names.PinTopic, names.GeoTopic, names.UserTopic];
#pragma warning disable CA1814 // a full 3 x Partitions grid (topic, partition), every cell used: a rectangular array fits
        var writers = new ObjectWriter[3, Partitions];
#pragma warning restore CA1814
        for (int t = 0; t < 3; t++)
            for (int p = 0; p < Partitions; p++)
                writers[t, p] = new ObjectWriter(Path.Combine(bucket, "topics", topics[t]), topics[t], p);

        var reposts = new Random(Seed);
        long sequence = 0, repostCount = 0, records = 0;
        long nextReject = 0;
        long[] rejectAt = [1, Math.Max(2, posts / 2), Math.Max(3, posts - 1)];
        var watch = Stopwatch.StartNew();
        var lastProgress = TimeSpan.Zero;
        IngestBench.Progress($"batch data: generating {posts:N0} posts (+~{RepostRate:P0} re-posts) into {bucket}");

        void Post(SourcePost post)
        {
            int p = (int)(sequence++ % Partitions);
            writers[0, p].Add(w => SourceJson.WritePin(w, post.Pin));
            writers[1, p].Add(w => SourceJson.WriteGeo(w, post.Geo!));
            writers[2, p].Add(w => SourceJson.WriteUser(w, post.User!));
            records += 3;
            if (nextReject < rejectAt.Length && sequence == rejectAt[nextReject])
            {
                for (int t = 0; t < 3; t++) writers[t, p].AddLine(RejectLines[tables[t]][nextReject]);
                records += 3;
                nextReject++;
            }
        }

        await foreach (var batch in SyntheticData.GenerateBatchesAsync(Seed, SyntheticData.FirstIndex, posts, 10_000, cancellationToken))
        {
            foreach (var post in batch)
            {
                Post(post);
                if (post.Pin.Index > 1 && reposts.NextDouble() < RepostRate)
                {
                    Post(SyntheticData.Post(Seed, reposts.NextInt64(SyntheticData.FirstIndex, post.Pin.Index)));
                    repostCount++;
                }
            }
            if (watch.Elapsed - lastProgress >= TimeSpan.FromSeconds(2))
            {
                lastProgress = watch.Elapsed;
                IngestBench.Progress($"batch data: {records:N0} records, {records / watch.Elapsed.TotalSeconds:N0} records/s, {writers.Cast<ObjectWriter>().Sum(w => w.Bytes) / 1e6:N0} MB");
            }
        }
        foreach (var w in writers) w.Flush();
        long bytes = writers.Cast<ObjectWriter>().Sum(w => w.Bytes);
        int objects = writers.Cast<ObjectWriter>().Sum(w => w.Objects);
        IngestBench.Progress($"batch data: done, {records:N0} records ({repostCount:N0} re-posted posts, {nextReject * 3} reject lines), {bytes / 1e6:N0} MB in {objects} objects, {watch.Elapsed.TotalSeconds:0.0} s");
        return new BatchDataTotals(repostCount, nextReject, records, bytes, objects);
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

    /// <summary>One partition of one topic: records buffered and written as an object every <see cref="FlushSize"/> records.</summary>
    private sealed class ObjectWriter(string topicDir, string topic, int partition)
    {
        private readonly string _dir = Path.Combine(topicDir, $"partition={partition}");
        private readonly ArrayBufferWriter<byte> _buffer = new(8 << 20);
        private long _startOffset;
        private int _count;

        public long Bytes { get; private set; }
        public int Objects { get; private set; }

        public void Add(Action<IBufferWriter<byte>> write)
        {
            write(_buffer);
            EndRecord();
        }

        public void AddLine(string line)
        {
            _buffer.Write(Encoding.UTF8.GetBytes(line));
            EndRecord();
        }

        private void EndRecord()
        {
            _buffer.Write("\n"u8);
            if (++_count == FlushSize) Flush();
        }

        public void Flush()
        {
            if (_count == 0) return;
            Directory.CreateDirectory(_dir);
            var file = Path.Combine(_dir, string.Create(CultureInfo.InvariantCulture, $"{topic}+{partition}+{_startOffset:D10}.json"));
            using (var stream = new FileStream(file, FileMode.CreateNew, FileAccess.Write, FileShare.None, 1 << 16))
                stream.Write(_buffer.WrittenSpan);
            Bytes += _buffer.WrittenCount;
            Objects++;
            _startOffset += _count;
            _count = 0;
            _buffer.ResetWrittenCount();
        }
    }
}
