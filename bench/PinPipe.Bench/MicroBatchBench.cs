using System.Diagnostics;
using System.Globalization;
using PinPipe.DuckDb;
using PinPipe.Lake.Delta;
using PinPipe.Source;
using PinPipe.Transform;

namespace PinPipe.Bench;

/// <summary>
/// One stream table's micro-batch in DuckDB, as <c>StreamTable</c> runs it: the records added through
/// <see cref="MicroBatchCleaner.OpenRows"/> as they arrive, cleaned by <see cref="MicroBatchCleaner"/> and the clean rows
/// spilled to a Parquet file with their Delta stats taken from the same rows; one micro-batch every 100 ms (the default trigger), of 1,000 pins (10,000 records/s over
/// three tables) and of 20,000 (a pin micro-batch at 100,000 records/s), with our parser reading the records as they are
/// added (<c>Stream:Parser=pinpipe</c>) and with DuckDB's JSON functions reading them when the micro-batch is cleaned
/// (<c>duckdb</c>), and with our parser again but the file's rows as cleaned instead of sorted by ind, alternating by round.
/// Each cell is the median over rounds of the median time of a micro-batch's step,
/// and the CPU time of the process per micro-batch. Then the soak's pin micro-batch (<see cref="HeldMicroBatch"/>): a few
/// hundred pins almost all held by a clean Delta table, whose keys the duplicate check takes from the key cache.
/// </summary>
internal static class MicroBatchBench
{
    private const int Batches = 60, Warmup = 10;
    private static readonly TimeSpan Cadence = TimeSpan.FromMilliseconds(100);

    public static async Task<List<string>> RunAsync(BenchArgs args)
    {
        using var dir = new BenchDirectory("micro-batch");
        int[] sizes = [1_000, 20_000];
        // Our parser with the file's rows sorted by ind and as cleaned (as StreamTable writes a file of one row group); DuckDB's JSON functions sorted.
        (RecordParser Parser, bool Sorted)[] variants = [(RecordParser.PinPipe, true), (RecordParser.PinPipe, false), (RecordParser.DuckDb, true)];
        // Distinct posts for the largest micro-batch; the others take a window of them (a micro-batch is cleaned on its own).
        var values = Enumerable.Range(0, sizes[^1]).Select(i => SourceJson.Pin(SyntheticData.Post(42, i + 1).Pin)).ToArray();
        var results = new Dictionary<(int Size, RecordParser Parser, bool Sorted), List<Series>>();
        var held = new List<Series>();
        for (int round = 0; round < args.Rounds; round++)
        {
            var h = await RunHeldSeriesAsync(Path.Combine(dir.Path, $"held-{round}"));
            IngestBench.Progress($"micro-batch: round {round + 1}/{args.Rounds}, {HeldMicroBatch.Size:N0} pins against a table of {HeldMicroBatch.TablePins:N0}: {h.Wall:0.0} ms a micro-batch ({h.Add:0.0} ms add, {h.Clean:0.0} ms clean and check), {h.Cpu:0.0} ms CPU");
            held.Add(h);
            foreach (int size in sizes)
            {
                // Alternated by round, so that neither variant always runs after the other.
                foreach (var (parser, sorted) in round % 2 == 0 ? variants : variants.Reverse())
                {
                    var r = await RunSeriesAsync(dir.Path, values, size, parser, sorted);
                    IngestBench.Progress($"micro-batch: round {round + 1}/{args.Rounds}, {size:N0} pins, parser {parser}, file rows {Order(sorted)}: {r.Wall:0.0} ms a micro-batch ({r.Add:0.0} ms add, {r.Clean:0.0} ms clean, {r.Spill:0.0} ms Parquet, {r.Stats:0.0} ms stats), {r.Cpu:0.0} ms CPU");
                    (results.TryGetValue((size, parser, sorted), out var list) ? list : results[(size, parser, sorted)] = []).Add(r);
                }
            }
        }

        var output = new List<string>
        {
            "",
            $"One micro-batch every {Cadence.TotalMilliseconds:0} ms through MicroBatchCleaner (pin, 1 DuckDB thread, DuckDB's jemalloc decay), {Batches - Warmup} micro-batches after {Warmup} of warm-up, medians of {args.Rounds} round(s):",
            "",
            "| pins a micro-batch | parser | the file's rows | micro-batch (add + clean + Parquet + stats) | add (as records arrive) | clean | Parquet | Delta stats | after the close (clean + Parquet + stats) | CPU a micro-batch |",
            "|---|---|---|---|---|---|---|---|---|---|",
        };
        foreach (int size in sizes)
        {
            foreach (var (parser, sorted) in variants)
            {
                var r = results[(size, parser, sorted)];
                output.Add(string.Create(CultureInfo.InvariantCulture,
                    $"| {size:N0} | {parser} | {Order(sorted)} | {IngestBench.Median(r.Select(x => x.Wall)):0.0} ms | {IngestBench.Median(r.Select(x => x.Add)):0.0} ms | {IngestBench.Median(r.Select(x => x.Clean)):0.0} ms | {IngestBench.Median(r.Select(x => x.Spill)):0.0} ms | {IngestBench.Median(r.Select(x => x.Stats)):0.0} ms | {IngestBench.Median(r.Select(x => x.Clean + x.Spill + x.Stats)):0.0} ms | {IngestBench.Median(r.Select(x => x.Cpu)):0.0} ms |"));
            }
        }
        output.AddRange([
            "",
            $"The soak's pin micro-batch (HeldMicroBatch): {HeldMicroBatch.Size} pins a micro-batch (our parser) drawn from the {HeldMicroBatch.TablePins:N0} of a clean Delta table of {HeldMicroBatch.TableFiles} files, all but {HeldMicroBatch.NewPerBatch} of them held, their keys in the key cache; one every {Cadence.TotalMilliseconds:0} ms, {Batches - Warmup} after {Warmup} of warm-up, medians of {args.Rounds} round(s):",
            "",
            "| micro-batch (add + clean) | add | clean (rules, key check, duplicates, counts) | CPU a micro-batch (its thread) |",
            "|---|---|---|---|",
            string.Create(CultureInfo.InvariantCulture,
                $"| {IngestBench.Median(held.Select(x => x.Wall)):0.00} ms | {IngestBench.Median(held.Select(x => x.Add)):0.00} ms | {IngestBench.Median(held.Select(x => x.Clean)):0.00} ms | {IngestBench.Median(held.Select(x => x.Cpu)):0.00} ms |"),
        ]);
        return output;
    }

    /// <summary><see cref="Batches"/> micro-batches of <see cref="HeldMicroBatch"/> on the cadence, after the one that read the table's keys into the cache.</summary>
    private static async Task<Series> RunHeldSeriesAsync(string folder)
    {
        using var probe = await HeldMicroBatch.CreateAsync(folder);
        var walls = new List<double>();
        var adds = new List<double>();
        var cleans = new List<double>();
        var cpus = new List<double>();
        for (int b = 0; b < Batches; b++)
        {
            long start = Stopwatch.GetTimestamp();
            var (add, clean, cpu) = probe.Run();
            if (b >= Warmup)
            {
                walls.Add(add + clean);
                adds.Add(add);
                cleans.Add(clean);
                cpus.Add(cpu);
            }
            var left = Cadence - Stopwatch.GetElapsedTime(start);
            if (left > TimeSpan.Zero) await Task.Delay(left);
        }
        return new Series(IngestBench.Median(walls), IngestBench.Median(adds), IngestBench.Median(cleans), 0, IngestBench.Median(cpus));
    }

    private static string Order(bool sorted) => sorted ? "sorted by ind" : "as cleaned";

    private sealed record Series(double Wall, double Add, double Clean, double Spill, double Cpu, double Stats = 0);

    /// <summary>
    /// A fresh DuckDB and cleaner (as the stream job's reopen gives), <see cref="Batches"/> micro-batches of <paramref name="size"/>
    /// pins on the cadence, their clean rows written sorted by ind (<see cref="MicroBatchCleaner.CleanRowsSql"/>) or as cleaned.
    /// </summary>
    private static async Task<Series> RunSeriesAsync(string folder, byte[][] values, int size, RecordParser parser, bool sorted)
    {
        using var db = HeldMicroBatch.OpenDb(folder);
        var cleaner = new MicroBatchCleaner(db, RecordKind.Pin, parser);
        // The file's Delta stats from the same rows, planned once, as StreamTable takes them.
        var statsQuery = DeltaStats.RowsQuery(CleanSchemas.ToDelta(CleaningRules.Schema(RecordKind.Pin)), cleaner.CleanRowSetSql, "the bench's clean rows");
        db.Execute($"PREPARE bench_clean_stats AS {statsQuery.Sql}");
        string file = Path.Combine(folder, "clean.parquet");
        var walls = new List<double>();
        var adds = new List<double>();
        var cleans = new List<double>();
        var spills = new List<double>();
        var stats = new List<double>();
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
            db.CopyToParquet(sorted ? cleaner.CleanRowsSql : cleaner.CleanRowSetSql, file);
            long stating = Stopwatch.GetTimestamp();
            var (_, counted) = db.Query("EXECUTE bench_clean_stats", statsQuery.Read)[0];
            if (counted != size) throw new InvalidOperationException($"the stats counted {counted} clean rows of {size} pins");
            long end = Stopwatch.GetTimestamp();
            if (b >= Warmup)
            {
                walls.Add(Stopwatch.GetElapsedTime(start, end).TotalMilliseconds);
                adds.Add(Stopwatch.GetElapsedTime(start, cleaning).TotalMilliseconds);
                cleans.Add(Stopwatch.GetElapsedTime(cleaning, spilling).TotalMilliseconds);
                spills.Add(Stopwatch.GetElapsedTime(spilling, stating).TotalMilliseconds);
                stats.Add(Stopwatch.GetElapsedTime(stating, end).TotalMilliseconds);
            }
            var left = Cadence - Stopwatch.GetElapsedTime(start);
            if (left > TimeSpan.Zero) await Task.Delay(left);
        }
        double cpu = (Process.GetCurrentProcess().TotalProcessorTime - cpu0).TotalMilliseconds / (Batches - Warmup);
        return new Series(IngestBench.Median(walls), IngestBench.Median(adds), IngestBench.Median(cleans), IngestBench.Median(spills), cpu, IngestBench.Median(stats));
    }
}
