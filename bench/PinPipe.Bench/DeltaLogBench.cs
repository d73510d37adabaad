using System.Diagnostics;
using System.Globalization;
using PinPipe.DuckDb;
using PinPipe.Lake.Delta;
using PinPipe.Lake.Directory;

namespace PinPipe.Bench;

/// <summary>
/// <c>delta-log</c>: what a Delta commit costs as a stream table's history grows. One writer commits <c>--commits</c>
/// micro-batch appends (one small file each, with a txn, as the stream job's) to a table in a directory bucket, and every
/// 50th commit is a compaction that removes the last 50 files (an <c>OPTIMIZE</c> commit, as the stream compactor's), so a
/// tombstone accrues per micro-batch, as in a stream table with new rows. Per window of commits: the median and p99 of a
/// commit (checkpoints included, every 10th version), the tombstones the writer's state holds, managed bytes allocated
/// per commit, and what a fresh load of the table (a restart, a compaction's reload) costs at the window's end.
/// </summary>
internal static class DeltaLogBench
{
    private const int CompactEvery = 50;

    public static async Task<List<string>> RunAsync(BenchArgs args)
    {
        int commits = args.Commits;
        int window = Math.Max(1, commits / 10);
        using var dir = new BenchDirectory("delta-log");
        var store = new DirectoryObjectStore(dir.Path, "bucket");
        var table = new DeltaTable(store, "delta/pin");
        string file = dir.File("mb.parquet");
        var schema = new DeltaSchema(new DeltaField("id", DeltaType.Long), new DeltaField("s", DeltaType.String));
        DeltaStats.FileFacts facts;
        using (var connection = DuckDbSession.OpenShared())
        {
            connection.Execute($"COPY (SELECT range AS id, 'post ' || range AS s FROM range(100)) TO {Sql.Literal(file)} (FORMAT parquet)");
            var canonical = DeltaDuckDb.CanonicalTypes(connection, schema.Fields.Select(f => f.Type).ToArray(), CancellationToken.None);
            facts = DeltaStats.Compute(connection, file, schema, canonical, 32, CancellationToken.None);
        }

        var lines = new List<string>
        {
            "",
            $"delta-log: {commits:N0} commits, a compaction of the last {CompactEvery} files every {CompactEvery}th (a tombstone per micro-batch file), checkpoint every 10 versions",
            "",
            "| commits so far | tombstones held | commit p50 | commit p99 | checkpoints p50 | allocated per commit | managed heap | fresh load |",
            "|---|---|---|---|---|---|---|---|",
        };
        var small = new List<string>();
        var times = new List<double>();
        var checkpointTimes = new List<double>();
        long txn = 0;
        long allocatedAtStart = GC.GetTotalAllocatedBytes(precise: false);
        var wall = Stopwatch.StartNew();
        for (int i = 1; i <= commits; i++)
        {
            DeltaWrite write;
            if (small.Count >= CompactEvery)
            {
                write = new DeltaWrite(schema, [file]) { Removes = [.. small], DataChange = false, Operation = "OPTIMIZE", Facts = [facts] };
                small.Clear();
            }
            else
            {
                write = new DeltaWrite(schema, [file]) { Txn = new DeltaTxn("bench-stream", ++txn), Facts = [facts] };
            }
            long start = Stopwatch.GetTimestamp();
            var result = await table.CommitAsync(write);
            double ms = Stopwatch.GetElapsedTime(start).TotalMilliseconds;
            times.Add(ms);
            if (result.Checkpointed) checkpointTimes.Add(ms);
            if (write.Txn is not null) small.AddRange(result.Added.Select(f => f.Path));

            if (i % window == 0 || i == commits)
            {
                long allocated = GC.GetTotalAllocatedBytes(precise: false);
                var latest = (await table.LatestAsync())!;
                long loadStart = Stopwatch.GetTimestamp();
                var fresh = await new DeltaTable(store, "delta/pin").LoadAsync();
                double loadMs = Stopwatch.GetElapsedTime(loadStart).TotalMilliseconds;
                lines.Add(string.Create(CultureInfo.InvariantCulture,
                    $"| {i:N0} | {latest.State.Tombstones.Count:N0} | {Percentile(times, 0.5):F2} ms | {Percentile(times, 0.99):F2} ms | {(checkpointTimes.Count > 0 ? Percentile(checkpointTimes, 0.5) : 0):F1} ms | {(allocated - allocatedAtStart) / (double)times.Count / 1024:F0} KiB | {GC.GetTotalMemory(false) / 1048576.0:F0} MiB | {loadMs:F0} ms |"));
                IngestBench.Progress($"delta-log: {i:N0}/{commits:N0} commits, {i / wall.Elapsed.TotalSeconds:F0}/s, commit p50 {Percentile(times, 0.5):F2} ms, ETA {TimeSpan.FromSeconds((commits - i) / (i / wall.Elapsed.TotalSeconds)):mm\\:ss}");
                times.Clear();
                checkpointTimes.Clear();
                allocatedAtStart = GC.GetTotalAllocatedBytes(precise: false);
                _ = fresh;
            }
        }
        lines.Add("");
        lines.Add(string.Create(CultureInfo.InvariantCulture, $"{commits:N0} commits in {wall.Elapsed.TotalSeconds:F1} s"));
        return lines;
    }

    private static double Percentile(List<double> values, double p)
    {
        var sorted = values.Order().ToArray();
        return sorted[Math.Min(sorted.Length - 1, (int)Math.Floor(p * sorted.Length))];
    }
}
