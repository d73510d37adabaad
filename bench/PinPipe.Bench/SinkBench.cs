using System.Diagnostics;
using PinPipe.Lake;
using PinPipe.Lake.Directory;
using PinPipe.Log;
using PinPipe.Sink;

namespace PinPipe.Bench;

/// <summary>
/// The S3-sink connector draining a pre-filled log into a directory bucket: one warm-up round (the JIT compiles the
/// drain's code while it runs at half speed), not counted, then the measured rounds.
/// </summary>
internal static class SinkBench
{
    public static async Task<List<string>> RunAsync(BenchArgs args)
    {
        var rates = new List<double>();
        long bytes = 0;
        for (int round = -1; round < args.Rounds; round++)
        {
            string name = round < 0 ? "warm-up round (not counted)" : $"round {round + 1}/{args.Rounds}";
            using var dir = new BenchDirectory("sink");
            await using var log = await LogFactory.OpenAsync(new LogOptions { Path = dir.File("log.db"), RetentionTime = null });
            string[] topics = ["bench.pin", "bench.geo", "bench.user"];
            foreach (var t in topics) await log.CreateTopicAsync(t, 1);
            IngestBench.Progress($"sink: {name}, filling the log with {args.Records:N0} records");
            var batch = new List<LogRecord>(1000);
            int next = 0;
            foreach (var record in RecordSamples.Records(args.Records))
            {
                bytes += record.Length;
                batch.Add(new LogRecord(null, record));
                if (batch.Count == 1000)
                {
                    await log.AppendAsync(topics[next++ % 3], batch);
                    batch = new List<LogRecord>(1000);
                }
            }
            if (batch.Count > 0) await log.AppendAsync(topics[next % 3], batch);

            var store = new DirectoryObjectStore(dir.File("buckets"), "bench-bucket");
            var sink = new S3SinkConnector(log, store, new SinkOptions { Topics = topics, FlushSize = 10_000, RotateScheduleInterval = TimeSpan.FromMilliseconds(250) });
            using var cts = new CancellationTokenSource();
            IngestBench.Progress($"sink: {name}, draining");
            var cpu = Process.GetCurrentProcess().TotalProcessorTime;
            int[] gcs = [GC.CollectionCount(0), GC.CollectionCount(1), GC.CollectionCount(2)];
            var pause = GC.GetTotalPauseDuration();
            double flushed = FlushSeconds(topics);
            var watch = Stopwatch.StartNew();
            var run = sink.RunAsync(cts.Token);
            while (sink.GetStats().RecordsWritten < args.Records)
            {
                if (run.IsCompleted) await run;
                await Task.Delay(20);
            }
            watch.Stop();
            IngestBench.Progress($"sink: {name}: {args.Records / watch.Elapsed.TotalSeconds:N0} records/s, CPU {(Process.GetCurrentProcess().TotalProcessorTime - cpu).TotalSeconds:0.00} s in {watch.Elapsed.TotalSeconds:0.00} s, GCs {GC.CollectionCount(0) - gcs[0]}/{GC.CollectionCount(1) - gcs[1]}/{GC.CollectionCount(2) - gcs[2]}, pause {(GC.GetTotalPauseDuration() - pause).TotalMilliseconds:N0} ms, flushes (put + offset commit) {FlushSeconds(topics) - flushed:0.00} s over the {topics.Length} partitions");
            await cts.CancelAsync();
            try { await run; } catch (OperationCanceledException) { }
            if (round < 0) continue;
            rates.Add(args.Records / watch.Elapsed.TotalSeconds);
        }
        double avgBytes = (double)bytes / args.Records / (args.Rounds + 1);
        return [IngestBench.Row($"sink, {args.Records:N0} records of {avgBytes:0} bytes avg, flush size 10,000", "S3-sink connector → directory bucket", double.NaN, IngestBench.Median(rates), double.NaN, double.NaN)];
    }

    /// <summary>The sink's flush time so far, all topics: each object's put and offset commit (<c>pinpipe_sink_flush_duration_seconds</c>).</summary>
    private static double FlushSeconds(string[] topics) => topics.Sum(t => PinPipe.Observability.PinPipeMetrics.SinkFlushDuration.WithLabels(t).Sum);
}
