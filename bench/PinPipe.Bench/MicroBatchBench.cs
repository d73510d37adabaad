using System.Diagnostics;
using System.Globalization;
using System.Text;
using DuckDB.NET.Data;
using PinPipe.DuckDb;
using PinPipe.Source;
using PinPipe.Transform;

namespace PinPipe.Bench;

/// <summary>
/// One stream table's micro-batch in DuckDB, as <c>StreamTable</c> runs it: the records appended to the raw table, cleaned
/// by <see cref="MicroBatchCleaner"/> and the clean rows spilled to a Parquet file; one micro-batch every 100 ms (the
/// default trigger), of 14 pins (100 records/s a table) and of 1,000 (10,000 records/s over three tables), under jemalloc's
/// decay of 100 ms (<c>Stream:ReleaseFreedMemory=true</c>) and DuckDB's own 1 s, alternating by round. Each cell is the
/// median over rounds of the median wall time of a micro-batch, and the CPU time of the process per micro-batch.
/// </summary>
internal static class MicroBatchBench
{
    private const int Batches = 60, Warmup = 10;
    private static readonly TimeSpan Cadence = TimeSpan.FromMilliseconds(100);

    public static async Task<List<string>> RunAsync(BenchArgs args)
    {
        using var dir = new BenchDirectory("micro-batch");
        int[] sizes = [14, 1_000];
        long[] decays = [FreedMemory.SoonMilliseconds, 1_000];
        var lines = Enumerable.Range(0, Batches * sizes[^1]).Select(i => Encoding.UTF8.GetString(SourceJson.Pin(SyntheticData.Post(42, i + 1).Pin))).ToArray();
        var results = new Dictionary<(int Size, long Decay), List<(double Wall, double Cpu, double Clean, double Spill)>>();
        for (int round = 0; round < args.Rounds; round++)
        {
            foreach (long decay in decays)
            {
                foreach (int size in sizes)
                {
                    if (!FreedMemory.SetDecay(decay)) throw new InvalidOperationException("this platform's DuckDB has no jemalloc: the decays cannot be compared");
                    var r = await RunSeriesAsync(dir.Path, lines, size);
                    IngestBench.Progress($"micro-batch: round {round + 1}/{args.Rounds}, decay {decay} ms, {size:N0} pins: {r.Wall:0.0} ms a micro-batch ({r.Clean:0.0} ms clean, {r.Spill:0.0} ms Parquet), {r.Cpu:0.0} ms CPU");
                    (results.TryGetValue((size, decay), out var list) ? list : results[(size, decay)] = []).Add(r);
                }
            }
        }

        var output = new List<string>
        {
            "",
            $"One micro-batch every {Cadence.TotalMilliseconds:0} ms through MicroBatchCleaner (pin, 1 DuckDB thread), {Batches - Warmup} micro-batches after {Warmup} of warm-up, medians of {args.Rounds} round(s):",
            "",
            "| pins a micro-batch | jemalloc decay | micro-batch (append + clean + Parquet) | clean | Parquet | CPU a micro-batch |",
            "|---|---|---|---|---|---|",
        };
        foreach (int size in sizes)
        {
            foreach (long decay in decays)
            {
                var r = results[(size, decay)];
                output.Add(string.Create(CultureInfo.InvariantCulture,
                    $"| {size:N0} | {decay:N0} ms | {IngestBench.Median(r.Select(x => x.Wall)):0.0} ms | {IngestBench.Median(r.Select(x => x.Clean)):0.0} ms | {IngestBench.Median(r.Select(x => x.Spill)):0.0} ms | {IngestBench.Median(r.Select(x => x.Cpu)):0.0} ms |"));
            }
        }
        return output;
    }

    /// <summary>A fresh DuckDB and cleaner (as the stream job's reopen gives), <see cref="Batches"/> micro-batches of <paramref name="size"/> pins on the cadence.</summary>
    private static async Task<(double Wall, double Cpu, double Clean, double Spill)> RunSeriesAsync(string folder, string[] lines, int size)
    {
        using var db = DuckDbSession.Open(new DuckDbSettings
        {
            MemoryLimit = "400MB",
            Threads = 1,
            TempDirectory = Path.Combine(folder, "spill"),
            AllocatorFlushThreshold = "16MB",
            ExternalFileCache = false,
        });
        var cleaner = new MicroBatchCleaner(db, RecordKind.Pin);
        string file = Path.Combine(folder, "clean.parquet");
        var walls = new List<double>();
        var cleans = new List<double>();
        var spills = new List<double>();
        TimeSpan cpu0 = default;
        for (int b = 0; b < Batches; b++)
        {
            if (b == Warmup) cpu0 = Process.GetCurrentProcess().TotalProcessorTime;
            long start = Stopwatch.GetTimestamp();
            cleaner.Begin();
            using (var appender = db.CreateAppender(cleaner.RawTable))
            {
                for (int i = 0; i < size; i++)
                {
                    int n = b * size + i;
                    appender.CreateRow().AppendValue((long)n).AppendValue("bench").AppendValue(lines[n]).AppendValue(true).AppendValue(true).EndRow();
                }
            }
            long cleaning = Stopwatch.GetTimestamp();
            var result = await cleaner.CleanAsync(MicroBatchPart.All, null);
            if (result.Clean != size) throw new InvalidOperationException($"{result.Clean} clean rows of {size} pins");
            long spilling = Stopwatch.GetTimestamp();
            db.CopyToParquet(cleaner.CleanRowsSql, file);
            long end = Stopwatch.GetTimestamp();
            if (b >= Warmup)
            {
                walls.Add(Stopwatch.GetElapsedTime(start, end).TotalMilliseconds);
                cleans.Add(Stopwatch.GetElapsedTime(cleaning, spilling).TotalMilliseconds);
                spills.Add(Stopwatch.GetElapsedTime(spilling, end).TotalMilliseconds);
            }
            var left = Cadence - Stopwatch.GetElapsedTime(start);
            if (left > TimeSpan.Zero) await Task.Delay(left);
        }
        double cpu = (Process.GetCurrentProcess().TotalProcessorTime - cpu0).TotalMilliseconds / (Batches - Warmup);
        return (IngestBench.Median(walls), cpu, IngestBench.Median(cleans), IngestBench.Median(spills));
    }
}
