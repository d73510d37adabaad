using System.Diagnostics;
using DuckDB.NET.Data;
using PinPipe.DuckDb;
using PinPipe.Lake.Delta;
using PinPipe.Lake.Directory;
using PinPipe.Source;
using PinPipe.Transform;

namespace PinPipe.Bench;

/// <summary>
/// The soak's pin micro-batch, in the harness's own process: <see cref="Size"/> pins drawn again and again from the
/// <see cref="TablePins"/> of a clean Delta table (all but <see cref="NewPerBatch"/> of them held), added through
/// <see cref="MicroBatchCleaner.OpenRows"/> and cleaned against the table, whose keys the duplicate check takes from a
/// <see cref="DeltaKeyCache"/>, as in the stream job once its first check read them. One DuckDB thread, the caller's: a
/// micro-batch's CPU time is that thread's (<see cref="Baseline.ThreadCpuSeconds"/>). The <c>micro-batch</c> bench times
/// it on the stream job's cadence; the soak runs it with each sample as a probe of the host's speed for the stream job's
/// own kind of work (DuckDB's operators over a few hundred rows, memory-bound), which the JSON tokenizer's probe, in a
/// core's cache, does not see.
/// </summary>
internal sealed class HeldMicroBatch : IDisposable
{
    public const int TablePins = 11_000, TableFiles = 8, Size = 350, NewPerBatch = 2;

    private readonly DuckDBConnection _db;
    private readonly MicroBatchCleaner _cleaner;
    private readonly DeltaSnapshot _table;
    private readonly Random _random = new(7);
    private long _next = TablePins;
    private bool _warm; // the first micro-batch read the table's keys into the cache; the others read none

    private HeldMicroBatch(DuckDBConnection db, DeltaSnapshot table)
    {
        _db = db;
        _table = table;
        _cleaner = new MicroBatchCleaner(db, RecordKind.Pin, RecordParser.PinPipe) { KeyCache = new DeltaKeyCache(16L << 20) };
    }

    /// <summary>Writes the table under <paramref name="folder"/>, opens the cleaner, and runs one micro-batch, which reads the table's keys into the cache.</summary>
    public static async Task<HeldMicroBatch> CreateAsync(string folder)
    {
        var table = await CleanTableAsync(folder);
        var db = OpenDb(folder);
        try
        {
            var probe = new HeldMicroBatch(db, table);
            probe.Run();
            return probe;
        }
        catch
        {
            db.Dispose();
            throw;
        }
    }

    /// <summary>A DuckDB as the stream job opens one for a table: one thread, 400 MB, jemalloc's flush threshold.</summary>
    public static DuckDBConnection OpenDb(string folder) => DuckDbSession.Open(new DuckDbSettings
    {
        MemoryLimit = "400MB",
        Threads = 1,
        TempDirectory = Path.Combine(folder, "spill"),
        AllocatorFlushThreshold = "16MB",
        ExternalFileCache = false,
    });

    /// <summary>
    /// One micro-batch on the calling thread: the pins added as they would arrive, cleaned against the table, the clean
    /// file's keys taken (as the stream job does for its cache at the commit). Its times in ms: adding, cleaning (rules,
    /// key check, duplicates, counts), and the thread's CPU for the whole (NaN where the clock is missing).
    /// </summary>
    public (double AddMs, double CleanMs, double CpuMs) Run()
    {
        var values = Enumerable.Range(0, Size - NewPerBatch).Select(_ => (long)_random.Next(1, TablePins + 1))
            .Concat(Enumerable.Range(0, NewPerBatch).Select(_ => ++_next))
            .Select(id => SourceJson.Pin(SyntheticData.Post(42, id).Pin)).ToArray();
        double cpu0 = Baseline.ThreadCpuSeconds();
        long start = Stopwatch.GetTimestamp();
        _cleaner.Begin();
        using (var rows = _cleaner.OpenRows())
        {
            foreach (var value in values) rows.Add("bench", value, isNull: false, forClean: true, forRejects: true);
        }
        long cleaning = Stopwatch.GetTimestamp();
        var result = _cleaner.Clean(MicroBatchPart.All, _table, CancellationToken.None);
        if (result.Clean != NewPerBatch) throw new InvalidOperationException($"{result.Clean} clean rows where {NewPerBatch} pins were new.");
        if (_cleaner.CleanKeys().Length != NewPerBatch) throw new InvalidOperationException("The clean keys are not the new pins'.");
        long end = Stopwatch.GetTimestamp();
        double cpu = (Baseline.ThreadCpuSeconds() - cpu0) * 1000;
        if (_warm && result.KeyFilesRead != 0) throw new InvalidOperationException($"A check after the first read {result.KeyFilesRead} files: the key cache does not hold the table.");
        _warm = true;
        return (Stopwatch.GetElapsedTime(start, cleaning).TotalMilliseconds, Stopwatch.GetElapsedTime(cleaning, end).TotalMilliseconds, cpu);
    }

    public void Dispose() => _db.Dispose();

    /// <summary>A clean pin Delta table of <see cref="TablePins"/> posts (keys 1 to <see cref="TablePins"/>) in <see cref="TableFiles"/> files, cleaned by the cleaner itself.</summary>
    private static async Task<DeltaSnapshot> CleanTableAsync(string folder)
    {
        using var db = OpenDb(folder);
        var cleaner = new MicroBatchCleaner(db, RecordKind.Pin, RecordParser.PinPipe);
        var table = new DeltaTable(new DirectoryObjectStore(folder, "bucket"), "pin");
        var schema = CleanSchemas.ToDelta(CleaningRules.Schema(RecordKind.Pin));
        int per = TablePins / TableFiles;
        for (int f = 0; f < TableFiles; f++)
        {
            int from = f * per + 1, to = f == TableFiles - 1 ? TablePins : (f + 1) * per;
            cleaner.Begin();
            using (var rows = cleaner.OpenRows())
            {
                for (int i = from; i <= to; i++) rows.Add("bench", SourceJson.Pin(SyntheticData.Post(42, i).Pin), isNull: false, forClean: true, forRejects: true);
            }
            var result = await cleaner.CleanAsync(MicroBatchPart.All, null);
            if (result.Clean != to - from + 1) throw new InvalidOperationException($"{result.Clean} clean rows of {to - from + 1} pins.");
            string file = Path.Combine(folder, $"table-{f}.parquet");
            db.CopyToParquet(cleaner.CleanRowsSql, file);
            await table.CommitAsync(new DeltaWrite(schema, [file]));
        }
        return await table.LoadAsync() ?? throw new InvalidOperationException("The bench's table has no version.");
    }
}
