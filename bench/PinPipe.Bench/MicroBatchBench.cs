using System.Diagnostics;
using System.Globalization;
using PinPipe.DuckDb;
using PinPipe.Source;
using PinPipe.Transform;

namespace PinPipe.Bench;

/// <summary>
/// One stream table's micro-batch in DuckDB, as <c>StreamTable</c> runs it: the records added through
/// <see cref="MicroBatchCleaner.OpenRows"/> as they arrive, cleaned by <see cref="MicroBatchCleaner"/> and the clean rows
/// spilled to a Parquet file; one micro-batch every 100 ms (the default trigger), of 1,000 pins (10,000 records/s over
/// three tables) and of 20,000 (a pin micro-batch at 100,000 records/s), with our parser reading the records as they are
/// added (<c>Stream:Parser=pinpipe</c>) and with DuckDB's JSON functions reading them when the micro-batch is cleaned
/// (<c>duckdb</c>), alternating by round. Each cell is the median over rounds of the median time of a micro-batch's step,
/// and the CPU time of the process per micro-batch.
/// </summary>
internal static class MicroBatchBench
{
    private const int Batches = 60, Warmup = 10;
    private static readonly TimeSpan Cadence = TimeSpan.FromMilliseconds(100);

    public static async Task<List<string>> RunAsync(BenchArgs args)
    {
        using var dir = new BenchDirectory("micro-batch");
        int[] sizes = [1_000, 20_000];
        RecordParser[] parsers = [RecordParser.PinPipe, RecordParser.DuckDb];
        // Distinct posts for the largest micro-batch; the others take a window of them (a micro-batch is cleaned on its own).
        var values = Enumerable.Range(0, sizes[^1]).Select(i => SourceJson.Pin(SyntheticData.Post(42, i + 1).Pin)).ToArray();
        var results = new Dictionary<(int Size, RecordParser Parser), List<Series>>();
        for (int round = 0; round < args.Rounds; round++)
        {
            foreach (int size in sizes)
            {
                foreach (RecordParser parser in parsers)
                {
                    var r = await RunSeriesAsync(dir.Path, values, size, parser);
                    IngestBench.Progress($"micro-batch: round {round + 1}/{args.Rounds}, {size:N0} pins, parser {parser}: {r.Wall:0.0} ms a micro-batch ({r.Add:0.0} ms add, {r.Clean:0.0} ms clean, {r.Spill:0.0} ms Parquet), {r.Cpu:0.0} ms CPU");
                    (results.TryGetValue((size, parser), out var list) ? list : results[(size, parser)] = []).Add(r);
                }
            }
        }

        var output = new List<string>
        {
            "",
            $"One micro-batch every {Cadence.TotalMilliseconds:0} ms through MicroBatchCleaner (pin, 1 DuckDB thread, DuckDB's jemalloc decay), {Batches - Warmup} micro-batches after {Warmup} of warm-up, medians of {args.Rounds} round(s):",
            "",
            "| pins a micro-batch | parser | micro-batch (add + clean + Parquet) | add (as records arrive) | clean | Parquet | after the close (clean + Parquet) | CPU a micro-batch |",
            "|---|---|---|---|---|---|---|---|",
        };
        foreach (int size in sizes)
        {
            foreach (RecordParser parser in parsers)
            {
                var r = results[(size, parser)];
                output.Add(string.Create(CultureInfo.InvariantCulture,
                    $"| {size:N0} | {parser} | {IngestBench.Median(r.Select(x => x.Wall)):0.0} ms | {IngestBench.Median(r.Select(x => x.Add)):0.0} ms | {IngestBench.Median(r.Select(x => x.Clean)):0.0} ms | {IngestBench.Median(r.Select(x => x.Spill)):0.0} ms | {IngestBench.Median(r.Select(x => x.Clean + x.Spill)):0.0} ms | {IngestBench.Median(r.Select(x => x.Cpu)):0.0} ms |"));
            }
        }
        return output;
    }

    private sealed record Series(double Wall, double Add, double Clean, double Spill, double Cpu);

    /// <summary>A fresh DuckDB and cleaner (as the stream job's reopen gives), <see cref="Batches"/> micro-batches of <paramref name="size"/> pins on the cadence.</summary>
    private static async Task<Series> RunSeriesAsync(string folder, byte[][] values, int size, RecordParser parser)
    {
        using var db = DuckDbSession.Open(new DuckDbSettings
        {
            MemoryLimit = "400MB",
            Threads = 1,
            TempDirectory = Path.Combine(folder, "spill"),
            AllocatorFlushThreshold = "16MB",
            ExternalFileCache = false,
        });
        var cleaner = new MicroBatchCleaner(db, RecordKind.Pin, parser);
        string file = Path.Combine(folder, "clean.parquet");
        var walls = new List<double>();
        var adds = new List<double>();
        var cleans = new List<double>();
        var spills = new List<double>();
        TimeSpan cpu0 = default;
        for (int b = 0; b < Batches; b++)
        {
            if (b == Warmup) cpu0 = Process.GetCurrentProcess().TotalProcessorTime;
            long start = Stopwatch.GetTimestamp();
            cleaner.Begin();
            using (var rows = cleaner.OpenRows())
            {
                int from = b * size % (values.Length - size + 1);
                for (int i = 0; i < size; i++) rows.Add("bench", values[from + i], isNull: false, forClean: true, forRejects: true);
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
                adds.Add(Stopwatch.GetElapsedTime(start, cleaning).TotalMilliseconds);
                cleans.Add(Stopwatch.GetElapsedTime(cleaning, spilling).TotalMilliseconds);
                spills.Add(Stopwatch.GetElapsedTime(spilling, end).TotalMilliseconds);
            }
            var left = Cadence - Stopwatch.GetElapsedTime(start);
            if (left > TimeSpan.Zero) await Task.Delay(left);
        }
        double cpu = (Process.GetCurrentProcess().TotalProcessorTime - cpu0).TotalMilliseconds / (Batches - Warmup);
        return new Series(IngestBench.Median(walls), IngestBench.Median(adds), IngestBench.Median(cleans), IngestBench.Median(spills), cpu);
    }
}
