using System.Text.Json;
using PinPipe.Lake.Delta;
using PinPipe.Lake.Directory;
using PinPipe.Tests.Support;
using Xunit;

namespace PinPipe.Tests.Batch;

/// <summary>
/// <c>pinpipe batch --full</c> as a process: a rebuild larger than <c>Batch:MemoryLimit</c> holds succeeds in chunks, and
/// one killed with SIGKILL at random moments leaves each table at its previous version or wholly rebuilt, never a part.
/// </summary>
public sealed partial class BatchCommandIncrementalTests
{
    [Fact]
    public async Task A_full_rebuild_of_more_raw_JSON_than_the_memory_limit_holds_at_once_succeeds_in_chunks()
    {
        using var dir = new TempDirectory("batch-full-chunks");
        var landing = new Landing(Bucket(dir.Path));
        var random = new Random(4);
        for (int i = 0; i < 20; i++) landing.Land(random, posts: 10_000);
        var limit = new Dictionary<string, string?> { ["PINPIPE_Batch__MemoryLimit"] = "40MB" };

        // In one pass (a chunk larger than the topic, as every rebuild was read before) the pin topic does not fit.
        var (onePass, failed) = await CliProcess.RunWithEnvironmentAsync(limit, dir.Path, Timeout, "batch", "--user-id", User, "--full", "--threads", "2", "--chunk-size", "1GB");
        Assert.True(onePass == 1, failed);
        string line = Assert.Single(failed.Split('\n'), l => l.StartsWith("error: ", StringComparison.Ordinal));
        Assert.Contains("does not fit in Batch:MemoryLimit '40MB'", line, StringComparison.Ordinal);
        Assert.Contains("lower Batch:ChunkSize", line, StringComparison.Ordinal);
        Assert.False(Directory.Exists(Path.Combine(Bucket(dir.Path), "delta", "pin")));

        // In chunks of the default size, a sixth of the limit, the same rebuild succeeds.
        var (code, output) = await CliProcess.RunWithEnvironmentAsync(limit, dir.Path, Timeout, "batch", "--user-id", User, "--full", "--threads", "2");

        Assert.True(code == 0, output);
        var store = Store(dir.Path);
        foreach (string table in Tables)
        {
            var inds = await ColumnAsync<long>(store, $"delta/{table}", "ind");
            Assert.Equal(landing.Inds.Order(), inds.Order());
            Assert.True((await new DeltaTable(store, $"delta/{table}").LoadAsync())!.Files.Count > 1, $"{table}: more than one chunk");
        }
    }

    [Fact]
    public async Task Full_rebuilds_killed_at_random_moments_leave_each_table_at_its_previous_version_or_wholly_rebuilt_and_the_next_runs_go_on()
    {
        using var dir = new TempDirectory("batch-full-kill");
        int seed = Environment.TickCount;
        var random = new Random(seed);
        output.WriteLine($"seed {seed}");
        var landing = new Landing(Bucket(dir.Path));
        for (int i = 0; i < 4; i++) landing.Land(random, posts: 600);
        var (firstCode, firstOutput) = await CliProcess.RunAsync(dir.Path, Timeout, "batch", "--user-id", User);
        Assert.True(firstCode == 0, firstOutput);
        // Every object a chunk of its own: a rebuild of many chunks, whose kills fall within the time a whole one takes.
        string[] full = ["batch", "--user-id", User, "--full", "--chunk-size", "1B"];
        var watch = System.Diagnostics.Stopwatch.StartNew();
        var (wholeCode, wholeOutput) = await CliProcess.RunAsync(dir.Path, Timeout, full);
        Assert.True(wholeCode == 0, wholeOutput);
        int took = (int)watch.ElapsedMilliseconds;
        output.WriteLine($"a whole rebuild: {took} ms");
        var store = Store(dir.Path);

        for (int round = 0; round < 5; round++)
        {
            landing.Land(random, posts: 600);
            var before = new Dictionary<string, (long Version, List<string> Keys)>(StringComparer.Ordinal);
            foreach (string table in Tables.SelectMany(t => new[] { t, t + "_rejects" }))
                before[table] = ((await new DeltaTable(store, $"delta/{table}").LoadAsync())!.Version, await KeysAsync(store, table));
            int delay = random.Next(took / 4, took * 11 / 10);
            await using (var batch = CliProcess.Start(dir.Path, full))
            {
                await Task.Delay(delay);
                bool finished = batch.HasExited;
                if (!finished) batch.Kill();
                output.WriteLine($"round {round}: {(finished ? "finished before" : "killed at")} {delay} ms");
            }
            foreach (var (table, (version, keys)) in before)
            {
                var snapshot = (await new DeltaTable(store, $"delta/{table}").LoadAsync())!;
                var now = await KeysAsync(store, table);
                if (snapshot.Version == version)
                {
                    Assert.True(keys.SequenceEqual(now), $"seed {seed} round {round}: {table} changed without a commit");
                    continue;
                }
                // A new version: the rebuild's one commit, holding everything landed.
                Assert.Equal(version + 1, snapshot.Version);
                Assert.Equal("full", await BatchModeAsync(dir.Path, table, snapshot.Version));
                var all = table.EndsWith("_rejects", StringComparison.Ordinal)
                    ? landing.RejectOrigins(table[..^"_rejects".Length]).Order(StringComparer.Ordinal).ToList()
                    : landing.Inds.Order().Select(i => i.ToString(System.Globalization.CultureInfo.InvariantCulture)).Order(StringComparer.Ordinal).ToList();
                Assert.True(all.SequenceEqual(now), $"seed {seed} round {round}: {table} version {snapshot.Version} holds a part of the rebuild ({now.Count} of {all.Count})");
            }
        }

        // An incremental run goes on from each table's last commit, then a rebuild gives the same.
        foreach (string[] args in new[] { new[] { "batch", "--user-id", User }, full })
        {
            var (code, final) = await CliProcess.RunAsync(dir.Path, Timeout, args);
            Assert.True(code == 0, $"seed {seed}: {final}");
            foreach (string table in Tables)
            {
                var inds = await ColumnAsync<long>(store, $"delta/{table}", "ind");
                Assert.Equal(landing.Inds.Order(), inds.Order());
                var origins = await ColumnAsync<string>(store, $"delta/{table}_rejects", "origin");
                Assert.Equal(landing.RejectOrigins(table).Order(StringComparer.Ordinal), origins.Order(StringComparer.Ordinal));
                for (int p = 0; p < Landing.Partitions; p++)
                    Assert.Equal(landing.End(p), (await new DeltaTable(store, $"delta/{table}").LoadAsync())!.Txns[$"pinpipe-batch:{User}.{table}:{p}"]);
            }
        }
        Assert.Empty(Directory.GetDirectories(Path.Combine(dir.Path, ".pinpipe", "runs"), ".work", SearchOption.AllDirectories));
    }

    /// <summary>A table's keys as sorted text: the clean table's inds, the reject table's origins.</summary>
    private static async Task<List<string>> KeysAsync(DirectoryObjectStore store, string table) =>
        table.EndsWith("_rejects", StringComparison.Ordinal)
            ? (await ColumnAsync<string>(store, $"delta/{table}", "origin")).Order(StringComparer.Ordinal).ToList()
            : (await ColumnAsync<long>(store, $"delta/{table}", "ind")).Select(i => i.ToString(System.Globalization.CultureInfo.InvariantCulture)).Order(StringComparer.Ordinal).ToList();

    /// <summary>The <c>pinpipe.batch</c> (full or incremental) a commit's commitInfo records.</summary>
    private static async Task<string?> BatchModeAsync(string dir, string table, long version)
    {
        string first = (await File.ReadAllLinesAsync(Path.Combine(Bucket(dir), "delta", table, "_delta_log", $"{version:D20}.json")))[0];
        using var info = JsonDocument.Parse(first);
        return info.RootElement.GetProperty("commitInfo").GetProperty("operationParameters").GetProperty("pinpipe.batch").GetString();
    }
}
