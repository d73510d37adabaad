using System.Buffers;
using System.Diagnostics;
using DuckDB.NET.Data;
using PinPipe.Lake;
using PinPipe.Lake.Directory;
using PinPipe.Source;
using PinPipe.Transform;

namespace PinPipe.Bench;

/// <summary>
/// The batch lane's load + clean: <c>--records</c> synthetic pin records as the sink writes them (1,000 per
/// object, three partitions) in a folder bucket, loaded by <see cref="RawLoader"/> (DuckDB's JSON functions read every
/// line, or our parser the lines it can) and cleaned by <see cref="Cleaner"/>, in a fresh in-memory DuckDB per round.
/// </summary>
internal static class CleanBench
{
    private const string Topic = "bench.pin";

    public static async Task<List<string>> RunAsync(BenchArgs args)
    {
        using var dir = new BenchDirectory("clean");
        var store = new DirectoryObjectStore(dir.Path, "bucket");
        IngestBench.Progress($"clean: writing {args.Records:N0} pin records");
        await WriteObjectsAsync(store, args.Records);

        // Side by side, alternating by round: DuckDB's JSON functions read every line, or our parser reads the lines it can (BatchOptions.Parser).
        var variants = new (string Name, bool Ours)[] { ("DuckDB reads the JSON", false), ("our parser reads the JSON", true) };
        var rounds = variants.ToDictionary(v => v.Name, _ => new List<(double Seconds, double Load, double Cpu)>());
        long bytes = 0;
        for (int round = 0; round < args.Rounds; round++)
        {
            foreach (var (name, ours) in variants)
            {
                IngestBench.Progress($"clean ({name}): round {round + 1}/{args.Rounds}");
                using var connection = new DuckDBConnection("DataSource=:memory:");
#pragma warning disable CA1849 // DuckDB.NET has no real async: its *Async methods run synchronously
                connection.Open();
#pragma warning restore CA1849
                var keys = new List<string>();
                await foreach (ObjectInfo o in store.ListAsync($"topics/{Topic}/")) keys.Add(o.Key);
                TimeSpan cpu0 = Process.GetCurrentProcess().TotalProcessorTime;
                var total = Stopwatch.StartNew();
                using RawLoadResult load = ours
                    ? await RawLoader.LoadObjectsParsedAsync(connection, store, Topic, RecordKind.Pin, keys, "raw_pin")
                    : await RawLoader.LoadObjectsAsync(connection, store, Topic, keys, "raw_pin");
                double loadSeconds = total.Elapsed.TotalSeconds;
                CleanResult clean = await Cleaner.CleanAsync(connection, RecordKind.Pin, load, null, releaseFreedMemory: false);
                total.Stop();
                double cpu = (Process.GetCurrentProcess().TotalProcessorTime - cpu0).TotalSeconds;
                IngestBench.Progress($"clean ({name}): {total.Elapsed.TotalSeconds:0.00} s ({loadSeconds:0.00} s load), {cpu:0.00} s CPU");
                if (clean.Read != args.Records) throw new InvalidOperationException($"read {clean.Read}, expected {args.Records}");
                bytes = load.Bytes;
                rounds[name].Add((total.Elapsed.TotalSeconds, loadSeconds, cpu));
            }
        }

        var lines = new List<string>();
        foreach (var (name, _) in variants)
        {
            double seconds = IngestBench.Median(rounds[name].Select(r => r.Seconds));
            lines.Add($"| load + clean, {args.Records:N0} pin records ({bytes / 1e6:N0} MB), {name} | RawLoader + Cleaner ({Environment.ProcessorCount} threads) | | " +
                      $"{args.Records / seconds:N0} records/s | {bytes / 1e6 / seconds:N0} MB/s | {seconds:0.00} s ({IngestBench.Median(rounds[name].Select(r => r.Load)):0.00} s load; {IngestBench.Median(rounds[name].Select(r => r.Cpu)):0.0} s CPU) |");
        }
        return lines;
    }

    private static async Task WriteObjectsAsync(DirectoryObjectStore store, int records)
    {
        var buffer = new ArrayBufferWriter<byte>(1 << 20);
        long[] next = new long[3];
        int objectIndex = 0;
        await foreach (SourcePost[] batch in SyntheticData.GenerateBatchesAsync(42, SyntheticData.FirstIndex, records, 1_000))
        {
            buffer.Clear();
            foreach (SourcePost post in batch)
            {
                SourceJson.WritePin(buffer, post.Pin);
                buffer.GetSpan(1)[0] = (byte)'\n';
                buffer.Advance(1);
            }
            int partition = objectIndex++ % 3;
            await store.PutAsync($"topics/{Topic}/partition={partition}/{Topic}+{partition}+{next[partition]:D10}.json", buffer.WrittenMemory);
            next[partition] += batch.Length;
        }
    }
}
