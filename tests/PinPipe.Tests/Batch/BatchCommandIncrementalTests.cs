using System.Text.Json.Nodes;
using PinPipe.Batch;
using PinPipe.Lake.Delta;
using PinPipe.Lake.Directory;
using PinPipe.Tests.Support;
using Xunit;
using Xunit.Abstractions;

namespace PinPipe.Tests.Batch;

/// <summary>
/// <c>pinpipe batch</c> as a process on a real bucket folder: killed with SIGKILL at random moments of incremental runs
/// (no row lost or duplicated, txns only grow), and the refusal of an incremental run under other cleaning rules.
/// </summary>
public sealed partial class BatchCommandIncrementalTests(ITestOutputHelper output)
{
    private const string User = "u5";
    private static readonly TimeSpan Timeout = TimeSpan.FromSeconds(180);
    private static readonly string[] Tables = ["pin", "geo", "user"];

    [Fact]
    public async Task Incremental_runs_killed_at_random_moments_leave_every_table_at_a_commit_and_the_final_run_holds_every_ind_exactly_once()
    {
        using var dir = new TempDirectory("batch-kill");
        int seed = Environment.TickCount;
        var random = new Random(seed);
        output.WriteLine($"seed {seed}");
        var landing = new Landing(Bucket(dir.Path));
        var seen = new Dictionary<string, long>(StringComparer.Ordinal);

        // A first run to completion says how long a run with one landing to read takes here; the kills fall within that.
        landing.Land(random, posts: 1500);
        var watch = System.Diagnostics.Stopwatch.StartNew();
        var (firstCode, firstOutput) = await CliProcess.RunAsync(dir.Path, Timeout, "batch", "--user-id", User);
        Assert.True(firstCode == 0, firstOutput);
        int took = (int)watch.ElapsedMilliseconds;
        output.WriteLine($"a whole run: {took} ms");

        for (int round = 0; round < 5; round++)
        {
            landing.Land(random, posts: 1500);
            int delay = random.Next(took / 4, took * 11 / 10);
            await using (var batch = CliProcess.Start(dir.Path, "batch", "--user-id", User))
            {
                await Task.Delay(delay);
                bool finished = batch.HasExited;
                if (!finished) batch.Kill();
                output.WriteLine($"round {round}: {(finished ? "finished before" : "killed at")} {delay} ms");
            }
            // Every table loads, at a commit, and its offsets never went back.
            var txns = await TxnsAsync(dir.Path);
            output.WriteLine($"  offsets: {string.Join(", ", txns.Select(kv => $"{kv.Key}={kv.Value}"))}");
            foreach (var (appId, version) in txns)
            {
                if (seen.TryGetValue(appId, out long before)) Assert.True(version >= before, $"seed {seed}: {appId} went back from {before} to {version}");
                seen[appId] = version;
            }
        }

        var (code, final) = await CliProcess.RunAsync(dir.Path, Timeout, "batch", "--user-id", User);
        Assert.True(code == 0, $"seed {seed}: {final}");
        var store = Store(dir.Path);
        foreach (string table in Tables)
        {
            var inds = await ColumnAsync<long>(store, $"delta/{table}", "ind");
            Assert.Equal(inds.Count, inds.Distinct().Count());
            Assert.Equal(landing.Inds.Order(), inds.Order());
            var origins = await ColumnAsync<string>(store, $"delta/{table}_rejects", "origin");
            Assert.Equal(landing.RejectOrigins(table).Order(StringComparer.Ordinal), origins.Order(StringComparer.Ordinal));
            foreach (var snapshot in new[] { await new DeltaTable(store, $"delta/{table}").LoadAsync(), await new DeltaTable(store, $"delta/{table}_rejects").LoadAsync() })
            {
                for (int p = 0; p < Landing.Partitions; p++)
                    Assert.Equal(landing.End(p), snapshot!.Txns[$"pinpipe-batch:{User}.{table}:{p}"]);
            }
        }
        // The killed runs' work files are gone.
        Assert.Empty(Directory.GetDirectories(Path.Combine(dir.Path, ".pinpipe", "runs"), ".work", SearchOption.AllDirectories));
    }

    [Fact]
    public async Task Batch_under_other_rules_exits_2_naming_both_hashes_and_full_then_full_rebuilds_and_incremental_runs_go_on()
    {
        using var dir = new TempDirectory("batch-rules");
        var landing = new Landing(Bucket(dir.Path));
        landing.Land(new Random(1), posts: 20);
        var (code, first) = await CliProcess.RunAsync(dir.Path, Timeout, "batch", "--user-id", User);
        Assert.True(code == 0, first);
        string older = new('b', 64);
        string commit = Path.Combine(Bucket(dir.Path), "delta", "pin", "_delta_log", $"{0:D20}.json");
        var lines = await File.ReadAllLinesAsync(commit);
        var info = JsonNode.Parse(lines[0])!;
        info["commitInfo"]!["operationParameters"]![BatchRules.Parameter] = older;
        lines[0] = info.ToJsonString();
        await File.WriteAllLinesAsync(commit, lines);
        landing.Land(new Random(2), posts: 20);

        var (refused, error) = await CliProcess.RunAsync(dir.Path, Timeout, "batch", "--user-id", User);

        Assert.True(refused == 2, error);
        string line = Assert.Single(error.Split('\n'), l => l.StartsWith("error: ", StringComparison.Ordinal));
        Assert.Contains(older, line, StringComparison.Ordinal);
        Assert.Contains(BatchRules.Hash, line, StringComparison.Ordinal);
        Assert.Contains("pinpipe batch --full", line, StringComparison.Ordinal);
        Assert.Contains("delta/pin", line, StringComparison.Ordinal);
        Assert.False(File.Exists(Path.Combine(Bucket(dir.Path), "delta", "pin", "_delta_log", $"{1:D20}.json")));

        var (rebuilt, full) = await CliProcess.RunAsync(dir.Path, Timeout, "batch", "--user-id", User, "--full");
        Assert.True(rebuilt == 0, full);
        Assert.Contains("(full rebuild)", full, StringComparison.Ordinal);
        var inds = await ColumnAsync<long>(Store(dir.Path), "delta/pin", "ind");
        Assert.True(landing.Inds.Order().SequenceEqual(inds.Order()), $"landed {string.Join(",", landing.Inds.Order())}; table {string.Join(",", inds.Order())}\n{full}");

        var (again, next) = await CliProcess.RunAsync(dir.Path, Timeout, "batch", "--user-id", User);
        Assert.True(again == 0, next);
        Assert.Contains("nothing new since the last run", next, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Records_that_outgrow_the_memory_limit_are_one_error_line_naming_the_setting_and_nothing_is_committed()
    {
        using var dir = new TempDirectory("batch-oom");
        new Landing(Bucket(dir.Path)).Land(new Random(3), posts: 3000);

        var (code, output) = await CliProcess.RunWithEnvironmentAsync(
            new Dictionary<string, string?> { ["PINPIPE_Batch__MemoryLimit"] = "2MB" }, dir.Path, Timeout, "batch", "--user-id", User);

        Assert.True(code == 1, output);
        string line = Assert.Single(output.Split('\n'), l => l.StartsWith("error: ", StringComparison.Ordinal));
        Assert.Contains("a chunk of the incremental run (Batch:ChunkSize, 1 MB of raw JSON at a time) does not fit in Batch:MemoryLimit '2MB'", line, StringComparison.Ordinal);
        Assert.Contains("Raise Batch:MemoryLimit", line, StringComparison.Ordinal);
        Assert.Contains("lower Batch:ChunkSize", line, StringComparison.Ordinal);
        Assert.False(Directory.Exists(Path.Combine(Bucket(dir.Path), "delta", "pin")), "nothing may be committed for the topic that did not fit");
    }

    private static string Bucket(string dir) => Path.Combine(dir, ".pinpipe", "buckets", $"user-{User}-bucket");

    private static DirectoryObjectStore Store(string dir) => new(Path.Combine(dir, ".pinpipe", "buckets"), $"user-{User}-bucket");

    private static async Task<Dictionary<string, long>> TxnsAsync(string dir)
    {
        var store = Store(dir);
        var txns = new Dictionary<string, long>(StringComparer.Ordinal);
        foreach (string table in Tables.SelectMany(t => new[] { t, t + "_rejects" }))
        {
            var snapshot = await new DeltaTable(store, $"delta/{table}").LoadAsync();
            foreach (var (appId, version) in snapshot?.Txns ?? new Dictionary<string, long>()) txns[$"{table} {appId}"] = version;
        }
        return txns;
    }

    private static async Task<List<T>> ColumnAsync<T>(DirectoryObjectStore store, string prefix, string column)
    {
        var snapshot = await new DeltaTable(store, prefix).LoadAsync();
        Assert.NotNull(snapshot);
        int index = snapshot.Schema.Fields.ToList().FindIndex(f => f.Name == column);
        var values = new List<T>();
        await foreach (var row in snapshot.ReadRowsAsync()) values.Add((T)Convert.ChangeType(row[index]!, typeof(T), System.Globalization.CultureInfo.InvariantCulture));
        return values;
    }

    /// <summary>Lands posts in the bucket as the sink would: per topic and partition one object at the partition's next offset, with re-posts and a record to reject.</summary>
    private sealed class Landing(string bucket)
    {
        public const int Partitions = 2;
        private readonly long[] _next = new long[Partitions];
        private readonly Dictionary<string, List<string>> _rejects = Tables.ToDictionary(t => t, _ => new List<string>());
        private readonly List<long> _landed = [];
        private long _ind;

        /// <summary>Every ind landed (a re-post lands an ind again).</summary>
        public HashSet<long> Inds { get; } = [];

        public long End(int partition) => _next[partition];

        public List<string> RejectOrigins(string table) => _rejects[table];

        public void Land(Random random, int posts)
        {
            for (int p = 0; p < Partitions; p++)
            {
                var inds = new List<long>();
                for (int i = 0; i < posts / Partitions; i++)
                    inds.Add(_landed.Count > 0 && random.Next(10) == 0 ? _landed[random.Next(_landed.Count)] : ++_ind);
                foreach (long ind in inds.Where(Inds.Add)) _landed.Add(ind);
                long start = _next[p];
                foreach (string table in Tables)
                {
                    var lines = inds.Select(ind => table switch
                    {
                        "pin" => IncrementalBatchTests.Pin(ind),
                        "geo" => IncrementalBatchTests.Geo(ind),
                        _ => IncrementalBatchTests.UserRecord(ind),
                    }).Append("{\"broken\": ").ToList();
                    _rejects[table].Add($"{User}.{table}/{p}/{start + inds.Count}");
                    string folder = Path.Combine(bucket, "topics", $"{User}.{table}", $"partition={p}");
                    Directory.CreateDirectory(folder);
                    File.WriteAllText(Path.Combine(folder, $"{User}.{table}+{p}+{start:D10}.json"), string.Join('\n', lines) + "\n"); // no BOM, as the sink writes
                }
                _next[p] = start + inds.Count + 1;
            }
        }
    }
}
