using System.Buffers;
using System.Diagnostics;
using PinPipe.Configuration;
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
        double total = 3.0 * args.Records;
        lines.Add($"| stream job, backlog of {args.Records:N0} posts × 3 streams, tables concurrently | StreamJob (defaults) | | {total / IngestBench.Median(all):N0} records/s | {IngestBench.Median(all):0.00} s | |");
        lines.Add($"| stream job, same backlog, one table at a time (round-robin equivalent) | StreamJob (defaults) | | {total / IngestBench.Median(alone):N0} records/s | {IngestBench.Median(alone):0.00} s | |");
        return lines;
    }

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
                var records = batch.Select(p =>
                {
                    buffer.Clear();
                    if (k == 0) SourceJson.WritePin(buffer, p.Pin);
                    else if (k == 1) SourceJson.WriteGeo(buffer, p.Geo!);
                    else SourceJson.WriteUser(buffer, p.User!);
                    return new LogRecord(null, buffer.WrittenSpan.ToArray(), 0);
                }).ToList();
                await log.AppendAsync(streams[k], records);
            }
        }
        var store = ObjectStoreFactory.Create(settings.ObjectStore, settings.Names.Bucket);
        var job = new StreamJob(settings, log, store);
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
