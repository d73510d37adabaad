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
/// object, three partitions) in a folder bucket, loaded by <see cref="RawLoader"/> (DuckDB reads the files, and
/// again fetched through the store) and cleaned by <see cref="Cleaner"/>, in a fresh in-memory DuckDB per round.
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

        var lines = new List<string>();
        foreach ((string name, IObjectStore s) in new (string, IObjectStore)[] { ("DuckDB reads files", store), ("fetched via GetAsync", new FetchingObjectStore(store)) })
        {
            var rates = new List<double>();
            var seconds = new List<double>();
            var loadShare = new List<double>();
            var cpu = new List<double>();
            long bytes = 0;
            for (int round = 0; round < args.Rounds; round++)
            {
                IngestBench.Progress($"clean ({name}): round {round + 1}/{args.Rounds}");
                using var connection = new DuckDBConnection("DataSource=:memory:");
#pragma warning disable CA1849 // DuckDB.NET has no real async: its *Async methods run synchronously
                connection.Open();
#pragma warning restore CA1849
                TimeSpan cpu0 = Process.GetCurrentProcess().TotalProcessorTime;
                var total = Stopwatch.StartNew();
                RawLoadResult load = await RawLoader.LoadTopicAsync(connection, s, Topic, "raw_pin");
                double loadSeconds = total.Elapsed.TotalSeconds;
                CleanResult clean = await Cleaner.CleanAsync(connection, RecordKind.Pin, "raw_pin", null);
                total.Stop();
                cpu.Add((Process.GetCurrentProcess().TotalProcessorTime - cpu0).TotalSeconds);
                IngestBench.Progress($"clean ({name}): {total.Elapsed.TotalSeconds:0.00} s ({loadSeconds:0.00} s load), {cpu[^1]:0.00} s CPU");
                if (clean.Read != args.Records) throw new InvalidOperationException($"read {clean.Read}, expected {args.Records}");
                bytes = load.Bytes;
                rates.Add(load.Bytes / 1e6 / total.Elapsed.TotalSeconds);
                seconds.Add(total.Elapsed.TotalSeconds);
                loadShare.Add(loadSeconds);
            }
            lines.Add($"| load + clean, {args.Records:N0} pin records ({bytes / 1e6:N0} MB), {name} | RawLoader + Cleaner (DuckDB, {Environment.ProcessorCount} threads) | | " +
                      $"{args.Records / IngestBench.Median(seconds):N0} records/s | {IngestBench.Median(rates):N0} MB/s | {IngestBench.Median(seconds):0.00} s ({IngestBench.Median(loadShare):0.00} s load; {IngestBench.Median(cpu):0.0} s CPU) |");
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
