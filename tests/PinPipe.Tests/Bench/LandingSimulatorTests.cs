using System.Diagnostics;
using System.Globalization;
using System.Text.Json;
using PinPipe.Lake.Directory;
using PinPipe.Tests.Support;
using PinPipe.Tests.Transform;
using PinPipe.Transform;

namespace PinPipe.Tests.Bench;

/// <summary>
/// The history benchmark's landings (<c>bench/PinPipe.Bench history --land-only</c>, the harness built beside the tests):
/// days of raw objects in the sink's layout whose offsets continue per partition from day to day, each day's new posts
/// with the usual re-posts (of earlier days and of the day) and junk, so each day's incremental batch has known counts.
/// </summary>
public sealed class LandingSimulatorTests(LandedHistory history) : IClassFixture<LandedHistory>
{
    private const string UserId = "12885f560a0b";
    internal const int DayCount = 3;
    internal const int PostsPerDay = 3000;
    private static readonly (string Table, RecordKind Kind)[] Topics = [("pin", RecordKind.Pin), ("geo", RecordKind.Geo), ("user", RecordKind.User)];

    [Fact]
    public void Offsets_of_every_topic_partition_continue_from_day_to_day()
    {
        var landed = history.Days.SelectMany(d => d.Objects).ToList();
        var listed = Directory.EnumerateFiles(Path.Combine(history.Bucket, "topics"), "*", SearchOption.AllDirectories)
            .Select(f => Path.GetRelativePath(history.Bucket, f).Replace('\\', '/')).ToList();
        Assert.Equal(listed.Order(StringComparer.Ordinal), landed.Order(StringComparer.Ordinal)); // every object belongs to exactly one day

        foreach (var (table, _) in Topics)
        {
            for (int partition = 0; partition < 3; partition++)
            {
                long next = 0;
                foreach (var day in history.Days)
                {
                    var objects = day.Objects.Select(ObjectOf).Where(o => o.Topic == $"{UserId}.{table}" && o.Partition == partition).OrderBy(o => o.Start).ToList();
                    Assert.True(objects.Count > 0, $"day {day.Day} landed nothing in {table} partition {partition}");
                    foreach (var o in objects)
                    {
                        Assert.True(o.Start == next, $"{o.Key} (day {day.Day}) starts at offset {o.Start}; the partition's previous object ended at {next}");
                        next = o.Start + File.ReadLines(Path.Combine(history.Bucket, o.Key)).Count();
                    }
                }
            }
        }
    }

    [Fact]
    public async Task Each_day_cleans_to_its_new_posts_with_its_reposts_as_duplicates_and_its_junk_as_rejects()
    {
        using var kit = new TransformTestKit();
        var store = new DirectoryObjectStore(Path.GetDirectoryName(history.Bucket)!, Path.GetFileName(history.Bucket));
        foreach (var (table, _) in Topics) kit.Execute($"CREATE TABLE seen_{table} (ind BIGINT)");
        foreach (var day in history.Days)
        {
            Assert.Equal((PostsPerDay, 1 + (day.Day - 1) * (long)PostsPerDay), (day.Posts, day.FirstInd));
            foreach (var (table, kind) in Topics)
            {
                // As an incremental run does: only the day's objects, checked against the keys of the days before.
                var topic = $"{UserId}.{table}";
                await RawLoader.LoadObjectsAsync(kit.Connection, store, topic, day.Objects.Where(k => ObjectOf(k).Topic == topic), "raw_day");
                var clean = await Cleaner.CleanAsync(kit.Connection, kind, "raw_day", $"seen_{table}");
                Assert.Equal((day.Posts + day.Reposts + 3, day.Posts, day.Reposts, 3L), (clean.Read, clean.Clean, clean.Duplicates, clean.Rejects));
                var inds = kit.Rows($"SELECT min(ind) AS lo, max(ind) AS hi FROM {CleaningRules.CleanTable(kind)}")[0];
                Assert.Equal((day.FirstInd, day.FirstInd + day.Posts - 1), (long.Parse(inds["lo"]!, CultureInfo.InvariantCulture), long.Parse(inds["hi"]!, CultureInfo.InvariantCulture)));
                kit.Execute($"INSERT INTO seen_{table} SELECT ind FROM {CleaningRules.CleanTable(kind)}");
            }
        }
    }

    [Fact]
    public void The_reposts_are_about_five_percent_of_the_posts_and_from_day_two_of_earlier_days_and_of_the_day()
    {
        var seen = new HashSet<long>();
        foreach (var day in history.Days)
        {
            var dayInds = new HashSet<long>();
            long ofEarlierDays = 0, ofTheDay = 0;
            var pins = day.Objects.Where(k => ObjectOf(k).Topic == $"{UserId}.pin").SelectMany(k => File.ReadLines(Path.Combine(history.Bucket, k)));
            foreach (var line in pins)
            {
                if (!TryIndex(line, out long ind)) continue; // junk
                if (seen.Contains(ind)) ofEarlierDays++;
                else if (!dayInds.Add(ind)) ofTheDay++;
            }
            double share = (ofEarlierDays + ofTheDay) / (double)day.Posts;
            Assert.True(share is >= 0.03 and <= 0.07, $"day {day.Day}: re-posts are {share:P1} of the posts, not about 5%");
            Assert.Equal((day.Reposts, day.RepostsOfEarlierDays), (ofEarlierDays + ofTheDay, ofEarlierDays));
            if (day.Day == 1) Assert.Equal(0, ofEarlierDays);
            else
            {
                double earlier = ofEarlierDays / (double)(ofEarlierDays + ofTheDay);
                Assert.True(earlier is >= 0.3 and <= 0.7, $"day {day.Day}: {earlier:P0} of the re-posts are of earlier days, not about half");
            }
            seen.UnionWith(dayInds);
        }
    }

    [Fact]
    public async Task Full_days_outside_the_simulated_days_are_refused_before_anything_runs()
    {
        using var dir = new TempDirectory("history-bench");
        var (code, output) = await RunBenchAsync("history", "--days", "3", "--full-days", "1,5", "--out", dir.Path);
        Assert.True(code == 2, $"exit {code}:\n{output}");
        Assert.Contains("error: --full-days 5: outside the simulated days 1-3; give days within --days.", output, StringComparison.Ordinal);
        Assert.Empty(Directory.EnumerateFileSystemEntries(dir.Path));
    }

    [Fact]
    public async Task Full_days_none_runs_only_the_incremental_runs_and_keeps_each_runs_log_with_its_phase_timings()
    {
        using var dir = new TempDirectory("history-bench");
        var (code, output) = await RunBenchAsync("history", "--days", "2", "--posts-per-day", "40", "--full-days", "none", "--out", dir.Path);
        Assert.True(code == 0, $"exit {code}:\n{output}");
        Assert.Contains("history: day 2: incremental ", output, StringComparison.Ordinal);
        Assert.DoesNotContain("pinpipe batch --full", output, StringComparison.Ordinal);
        Assert.DoesNotContain("pandas port on the whole history", output, StringComparison.Ordinal);
        Assert.Contains("Target: after vacuum the bucket holds only the files the latest versions reference: ✓", output, StringComparison.Ordinal);
        foreach (int day in new[] { 1, 2 })
            Assert.Contains(".pin phases: read raw ", await File.ReadAllTextAsync(Path.Combine(dir.Path, "logs", $"day-{day}-incremental.log")), StringComparison.Ordinal);
    }

    private static bool TryIndex(string line, out long ind)
    {
        ind = 0;
        try
        {
            using var json = JsonDocument.Parse(line);
            return json.RootElement.ValueKind == JsonValueKind.Object && json.RootElement.TryGetProperty("index", out var index)
                && index.ValueKind == JsonValueKind.Number && index.TryGetInt64(out ind);
        }
        catch (JsonException)
        {
            return false;
        }
    }

    private sealed record ObjectKey(string Key, string Topic, int Partition, long Start);

    /// <summary><c>topics/&lt;topic&gt;/partition=&lt;p&gt;/&lt;topic&gt;+&lt;p&gt;+&lt;start&gt;.json</c>, checked part by part.</summary>
    private static ObjectKey ObjectOf(string key)
    {
        var parts = key.Split('/');
        Assert.True(parts.Length == 4 && parts[0] == "topics" && parts[2].StartsWith("partition=", StringComparison.Ordinal), $"{key} is not in the sink's layout");
        var name = Path.GetFileNameWithoutExtension(parts[3]).Split('+');
        int partition = int.Parse(parts[2]["partition=".Length..], CultureInfo.InvariantCulture);
        Assert.True(name.Length == 3 && name[0] == parts[1] && name[1] == partition.ToString(CultureInfo.InvariantCulture) && name[2].Length == 10 && parts[3].EndsWith(".json", StringComparison.Ordinal),
            $"{key}: the object's name is not <topic>+<partition>+<start offset, 10 digits>.json");
        return new ObjectKey(key, parts[1], partition, long.Parse(name[2], CultureInfo.InvariantCulture));
    }

    /// <summary>The harness, <c>bench/PinPipe.Bench</c>, as built beside the tests (same configuration).</summary>
    internal static async Task<(int ExitCode, string Output)> RunBenchAsync(params string[] args)
    {
        var framework = new DirectoryInfo(AppContext.BaseDirectory);
        var dll = Path.Combine(TestData.RepoRoot, "bench", "PinPipe.Bench", "bin", framework.Parent!.Name, framework.Name, "PinPipe.Bench.dll");
        Assert.True(File.Exists(dll), $"{dll} is missing: build the solution (dotnet build PinPipe.slnx -c {framework.Parent.Name}), which builds the harness beside the tests.");
        return await BenchProcess.RunAsync("dotnet", [dll, .. args]);
    }
}

/// <summary>One day of the manifest <c>landings.json</c>.</summary>
public sealed record LandedDay(int Day, long FirstInd, long Posts, long Reposts, long RepostsOfEarlierDays, long RejectsPerTopic, IReadOnlyList<string> Objects);

/// <summary>Three days of 3,000 posts landed once for the class: the bucket and the manifest.</summary>
[System.Diagnostics.CodeAnalysis.SuppressMessage("Design", "CA1001", Justification = "xunit disposes the folder through IAsyncLifetime.DisposeAsync.")]
public sealed class LandedHistory : IAsyncLifetime
{
    private static readonly JsonSerializerOptions ManifestJson = new() { PropertyNameCaseInsensitive = true };
    private readonly TempDirectory _dir = new("history-landings");

    public string Bucket { get; private set; } = "";

    public IReadOnlyList<LandedDay> Days { get; private set; } = [];

    public async Task InitializeAsync()
    {
        var (code, output) = await LandingSimulatorTests.RunBenchAsync("history", "--land-only", "--days", LandingSimulatorTests.DayCount.ToString(CultureInfo.InvariantCulture),
            "--posts-per-day", LandingSimulatorTests.PostsPerDay.ToString(CultureInfo.InvariantCulture), "--out", _dir.Path);
        Assert.True(code == 0, $"history --land-only exited with {code}:\n{output}");
        using var manifest = JsonDocument.Parse(await File.ReadAllTextAsync(_dir.File("landings.json")));
        Bucket = manifest.RootElement.GetProperty("bucket").GetString()!;
        Days = manifest.RootElement.GetProperty("days").Deserialize<List<LandedDay>>(ManifestJson)!;
        Assert.Equal(Enumerable.Range(1, LandingSimulatorTests.DayCount), Days.Select(d => d.Day));
    }

    public Task DisposeAsync()
    {
        _dir.Dispose();
        return Task.CompletedTask;
    }
}
