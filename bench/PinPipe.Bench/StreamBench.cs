using System.Buffers;
using System.Diagnostics;
using PinPipe.Hosting;
using PinPipe.Lake;
using PinPipe.Log;
using PinPipe.Source;
using PinPipe.Streaming;

namespace PinPipe.Bench;

/// <summary>
/// The stream job over a backlog: <c>--records</c> synthetic posts in each of the three streams of a fresh embedded
/// log, then <see cref="StreamJob"/> with the default settings until every table's txns reach the streams' ends.
/// Measured twice: the three tables concurrently (as the job runs), and each stream alone (the sum is what
/// round-robin over the tables would take).
/// </summary>
internal static class StreamBench
{
    public static async Task<List<string>> RunAsync(BenchArgs args)
    {
        var lines = new List<string>();
        var all = new List<double>();
        var alone = new List<double>();
        for (int round = 0; round < args.Rounds; round++)
        {
            all.Add(await TimeAsync(args.Records, [0, 1, 2]));
            IngestBench.Progress($"stream: three tables concurrently {all[^1]:0.00} s");
            double sum = 0;
            for (int k = 0; k < 3; k++) sum += await TimeAsync(args.Records, [k]);
            alone.Add(sum);
            IngestBench.Progress($"stream: one table at a time {sum:0.00} s");
        }
        var (rate, latencies) = await SteadyAsync(TimeSpan.FromSeconds(10), 5_000);
        double total = 3.0 * args.Records;
        lines.Add($"| stream job, backlog of {args.Records:N0} posts × 3 streams, tables concurrently | StreamJob (defaults) | | {total / IngestBench.Median(all):N0} records/s | {IngestBench.Median(all):0.00} s | |");
        lines.Add($"| stream job, same backlog, one table at a time (round-robin equivalent) | StreamJob (defaults) | | {total / IngestBench.Median(alone):N0} records/s | {IngestBench.Median(alone):0.00} s | |");
        lines.Add($"| stream job, steady {rate:N0} records/s per stream for 10 s (default trigger) | micro-batch latency, first record read → both commits | | | {IngestBench.Median(latencies) * 1000:N0} ms | {latencies.Max() * 1000:N0} ms (max) |");
        return lines;
    }

    /// <summary>Appends <paramref name="perSecond"/> records a second to each stream and samples the last micro-batch's latency.</summary>
    private static async Task<(double Rate, List<double> Latencies)> SteadyAsync(TimeSpan duration, int perSecond)
    {
        using var dir = new BenchDirectory("stream-steady");
        var settings = new PinPipeSettings { DataDir = dir.Path }.Resolve();
        await using var log = await LogFactory.OpenAsync(settings.Log);
        var streams = settings.Names.Streams;
        foreach (string s in streams) await log.CreateTopicAsync(s, 1);
        var store = ObjectStoreFactory.Create(settings.ObjectStore, settings.Names.Bucket);
        var job = PipelineJobs.Stream(settings, log, store);
        using var stop = new CancellationTokenSource();
        var run = job.RunAsync(stop.Token);
        var buffer = new ArrayBufferWriter<byte>();
        var latencies = new List<double>();
        var seen = new long[3];
        long index = SyntheticData.FirstIndex, appended = 0;
        var clock = Stopwatch.StartNew();
        while (clock.Elapsed < duration)
        {
            var batch = SyntheticData.GenerateBatch(7, index, perSecond / 20);
            index += batch.Length;
            for (int k = 0; k < 3; k++)
            {
                await log.AppendAsync(streams[k], Records(batch, k, buffer));
            }
            appended += batch.Length;
            var stats = job.GetStats();
            for (int k = 0; k < 3; k++)
            {
                if (stats.Tables[k].Batches == seen[k]) continue;
                seen[k] = stats.Tables[k].Batches;
                latencies.Add(stats.Tables[k].LastBatchLatency.TotalSeconds);
            }
            if (run.IsCompleted) await run;
            var wait = TimeSpan.FromSeconds(appended / (double)perSecond) - clock.Elapsed;
            if (wait > TimeSpan.Zero) await Task.Delay(wait);
        }
        double rate = appended / clock.Elapsed.TotalSeconds;
        await stop.CancelAsync();
        await run;
        (store as IDisposable)?.Dispose();
        if (latencies.Count == 0) throw new InvalidOperationException("the stream job committed no micro-batch under steady load");
        return (rate, latencies);
    }

    /// <summary>The posts' records of one stream (0 pin, 1 geo, 2 user) as the Kinesis routes store them, on partition 0.</summary>
    private static List<LogRecord> Records(SourcePost[] batch, int kind, ArrayBufferWriter<byte> buffer) => batch.Select(p =>
    {
        buffer.Clear();
        if (kind == 0) SourceJson.WritePin(buffer, p.Pin);
        else if (kind == 1) SourceJson.WriteGeo(buffer, p.Geo!);
        else SourceJson.WriteUser(buffer, p.User!);
        return new LogRecord(null, buffer.WrittenSpan.ToArray(), 0);
    }).ToList();

    /// <summary>Seconds until the job committed the backlog of the given streams (0 pin, 1 geo, 2 user).</summary>
    private static async Task<double> TimeAsync(int posts, int[] kinds)
    {
        using var dir = new BenchDirectory("stream");
        var settings = new PinPipeSettings { DataDir = dir.Path }.Resolve();
        await using var log = await LogFactory.OpenAsync(settings.Log);
        var streams = settings.Names.Streams;
        foreach (string s in streams) await log.CreateTopicAsync(s, 1);
        var buffer = new ArrayBufferWriter<byte>();
        await foreach (SourcePost[] batch in SyntheticData.GenerateBatchesAsync(42, SyntheticData.FirstIndex, posts, 5_000))
        {
            foreach (int k in kinds)
            {
                await log.AppendAsync(streams[k], Records(batch, k, buffer));
            }
        }
        var store = ObjectStoreFactory.Create(settings.ObjectStore, settings.Names.Bucket);
        var job = PipelineJobs.Stream(settings, log, store);
        using var stop = new CancellationTokenSource();
        var clock = Stopwatch.StartNew();
        var run = job.RunAsync(stop.Token);
        while (job.GetStats().Read < (long)posts * kinds.Length)
        {
            if (run.IsCompleted) await run;
            await Task.Delay(10);
        }
        double seconds = clock.Elapsed.TotalSeconds;
        await stop.CancelAsync();
        await run;
        (store as IDisposable)?.Dispose();
        return seconds;
    }
}
