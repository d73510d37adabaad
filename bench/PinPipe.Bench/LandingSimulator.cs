using System.Buffers;
using System.Diagnostics;
using System.Globalization;
using System.Text;
using PinPipe.Configuration;
using PinPipe.Source;

namespace PinPipe.Bench;

/// <summary>What one day of landings wrote (per topic: records = posts + re-posts + rejects).</summary>
/// <param name="Day">The day, from 1.</param>
/// <param name="FirstInd">The first new post's <c>ind</c>; the day's new posts are <c>FirstInd .. FirstInd + Posts - 1</c>.</param>
/// <param name="Posts">New posts.</param>
/// <param name="Reposts">Re-posts (byte-identical copies of an earlier post), of earlier days and of the same day.</param>
/// <param name="RepostsOfEarlierDays">The re-posts of a post of an earlier day.</param>
/// <param name="RejectsPerTopic">Junk lines per topic (to be rejected).</param>
/// <param name="Records">Lines written, all three topics.</param>
/// <param name="Bytes">Bytes written, all three topics.</param>
/// <param name="Objects">The object keys written this day, relative to the bucket.</param>
internal sealed record LandingDay(
    int Day, long FirstInd, long Posts, long Reposts, long RepostsOfEarlierDays, long RejectsPerTopic, long Records, long Bytes, IReadOnlyList<string> Objects);

/// <summary>
/// Lands synthetic posts (seed 42) in a directory bucket as the S3-sink connector lays it out
/// (<c>topics/&lt;topic&gt;/partition=&lt;p&gt;/&lt;topic&gt;+&lt;p&gt;+&lt;startOffset:D10&gt;.json</c>, one record per line,
/// <see cref="FlushSize"/> records per object), a day at a time: each day's posts get new <c>ind</c>s after the
/// previous day's, each topic partition's offsets continue where the previous day's ended, and every day's
/// objects are closed at its end (the sink rotates them). The three records of a post (pin, geo, user) go to the
/// same partition, posts round-robin over <see cref="Partitions"/> partitions. The usual re-posts: after each new
/// post, with probability <see cref="RepostRate"/>, a byte-identical copy of an earlier post, half of the time
/// (from day 2) one of an earlier day, otherwise one of the same day; and the usual junk: three reject lines per
/// topic per day (not JSON, not an object, a bad or missing key). Day 1 is exactly <see cref="BatchData"/>'s bucket.
/// </summary>
internal sealed class LandingSimulator
{
    public const int Seed = 42;
    public const double RepostRate = 0.05;
    public const int Partitions = 3;
    public const int FlushSize = 10_000;

    /// <summary>Lines that must be rejected, per topic: not JSON, not an object, and a bad or missing key / bad value.</summary>
    private static readonly string[][] RejectLines =
    [
        ["not json at all", "[1, 2, 3]", """{"index": "abc", "unique_id": "x", "category": "art"}"""],
        ["not json at all", "[1, 2, 3]", """{"timestamp": "2020-01-01 00:00:00", "latitude": 1.0, "longitude": 2.0, "country": "Chad"}"""],
        ["not json at all", "[1, 2, 3]", """{"ind": 0, "first_name": "A", "last_name": "B", "age": "abc", "date_joined": "2015-01-01 00:00:00"}"""],
    ];

    private readonly long _postsPerDay;
#pragma warning disable CA1814 // a full 3 x Partitions grid (topic, partition), every cell used: a rectangular array fits
    private readonly RawObjectWriter[,] _writers = new RawObjectWriter[3, Partitions];
#pragma warning restore CA1814
    private readonly Random _random = new(Seed);
    private long _sequence;
    private long _nextInd = SyntheticData.FirstIndex;

    /// <summary>A simulator writing into the bucket folder <paramref name="bucket"/> (created when missing).</summary>
    public LandingSimulator(string bucket, string userId, long postsPerDay)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(postsPerDay, 1);
        _postsPerDay = postsPerDay;
        var names = new PipelineNames(userId);
        string[] topics = [names.PinTopic, names.GeoTopic, names.UserTopic];
        for (int t = 0; t < 3; t++)
            for (int p = 0; p < Partitions; p++)
                _writers[t, p] = new RawObjectWriter(bucket, topics[t], p);
    }

    /// <summary>The days landed so far.</summary>
    public int Days { get; private set; }

    /// <summary>Lands the next day.</summary>
    public async Task<LandingDay> LandDayAsync(CancellationToken cancellationToken = default)
    {
        int day = ++Days;
        long firstInd = _nextInd, posts = _postsPerDay;
        long dayStart = _sequence, reposts = 0, ofEarlierDays = 0, rejects = 0;
        long recordsBefore = Sum(w => w.Records), bytesBefore = Sum(w => w.Bytes);
        int[] objectsBefore = [.. _writers.Cast<RawObjectWriter>().Select(w => w.Keys.Count)];
        long[] rejectAt = [1, Math.Max(2, posts / 2), Math.Max(3, posts - 1)];
        var watch = Stopwatch.StartNew();
        var lastProgress = TimeSpan.Zero;

        void Post(SourcePost post)
        {
            int p = (int)(_sequence++ % Partitions);
            _writers[0, p].Add(w => SourceJson.WritePin(w, post.Pin));
            _writers[1, p].Add(w => SourceJson.WriteGeo(w, post.Geo!));
            _writers[2, p].Add(w => SourceJson.WriteUser(w, post.User!));
            if (rejects < rejectAt.Length && _sequence - dayStart == rejectAt[rejects])
            {
                for (int t = 0; t < 3; t++) _writers[t, p].AddLine(RejectLines[t][rejects]);
                rejects++;
            }
        }

        await foreach (var batch in SyntheticData.GenerateBatchesAsync(Seed, firstInd, posts, 10_000, cancellationToken))
        {
            foreach (var post in batch)
            {
                Post(post);
                long index = post.Pin.Index;
                // Not for the very first post; day 1 draws exactly as BatchData always did (no coin for the day).
                if (index > SyntheticData.FirstIndex && _random.NextDouble() < RepostRate)
                {
                    bool earlierExists = firstInd > SyntheticData.FirstIndex, sameDayExists = index > firstInd;
                    bool earlier = earlierExists && (!sameDayExists || _random.NextDouble() < 0.5);
                    long of = earlier ? _random.NextInt64(SyntheticData.FirstIndex, firstInd) : _random.NextInt64(firstInd, index);
                    Post(SyntheticData.Post(Seed, of));
                    reposts++;
                    if (earlier) ofEarlierDays++;
                }
            }
            if (watch.Elapsed - lastProgress >= TimeSpan.FromSeconds(2))
            {
                lastProgress = watch.Elapsed;
                long records = Sum(w => w.Records) - recordsBefore;
                IngestBench.Progress($"landing day {day}: {records:N0} records, {records / watch.Elapsed.TotalSeconds:N0} records/s, {(Sum(w => w.Bytes) - bytesBefore) / 1e6:N0} MB");
            }
        }
        foreach (var w in _writers) w.Flush();
        _nextInd = firstInd + posts;
        var keys = _writers.Cast<RawObjectWriter>().SelectMany((w, i) => w.Keys.Skip(objectsBefore[i])).Order(StringComparer.Ordinal).ToArray();
        return new LandingDay(day, firstInd, posts, reposts, ofEarlierDays, rejects, Sum(w => w.Records) - recordsBefore, Sum(w => w.Bytes) - bytesBefore, keys);
    }

    private long Sum(Func<RawObjectWriter, long> figure) => _writers.Cast<RawObjectWriter>().Sum(figure);
}

/// <summary>One partition of one topic: records buffered and written as an object every <see cref="LandingSimulator.FlushSize"/> records, offsets continuing across objects.</summary>
internal sealed class RawObjectWriter(string bucket, string topic, int partition)
{
    private readonly string _dir = Path.Combine(bucket, "topics", topic, $"partition={partition}");
    private readonly ArrayBufferWriter<byte> _buffer = new(8 << 20);
    private readonly List<string> _keys = [];
    private long _startOffset;
    private int _count;

    public long Bytes { get; private set; }

    public long Records { get; private set; }

    /// <summary>The keys of the objects written, relative to the bucket, in offset order.</summary>
    public IReadOnlyList<string> Keys => _keys;

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
        Records++;
        if (++_count == LandingSimulator.FlushSize) Flush();
    }

    /// <summary>Writes the buffered records as an object (none when empty).</summary>
    public void Flush()
    {
        if (_count == 0) return;
        Directory.CreateDirectory(_dir);
        var name = string.Create(CultureInfo.InvariantCulture, $"{topic}+{partition}+{_startOffset:D10}.json");
        using (var stream = new FileStream(Path.Combine(_dir, name), FileMode.CreateNew, FileAccess.Write, FileShare.None, 1 << 16))
            stream.Write(_buffer.WrittenSpan);
        _keys.Add($"topics/{topic}/partition={partition}/{name}");
        Bytes += _buffer.WrittenCount;
        _startOffset += _count;
        _count = 0;
        _buffer.ResetWrittenCount();
    }
}
