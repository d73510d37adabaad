using System.Text;
using System.Text.Json;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;
using PinPipe.Batch;
using PinPipe.Errors;
using PinPipe.Hosting;
using PinPipe.Lake.Delta;
using PinPipe.Lake.Directory;
using PinPipe.Tests.Support;
using PinPipe.Transform;
using Xunit;

namespace PinPipe.Tests.Batch;

/// <summary>
/// The incremental batch job on a real bucket folder and real Delta tables: only the raw objects past each table's
/// offsets are read, duplicates across runs are counted and not appended, rejects are appended, each table keeps its
/// offsets as txns, a run with nothing new commits nothing, <c>--full</c> rebuilds, and the rules hash guards the tables.
/// </summary>
public sealed partial class IncrementalBatchTests : IDisposable
{
    private const string User = "u1";
    private static readonly string[] Tables = ["pin", "geo", "user"];
    private readonly TempDirectory _dir = new("batch-incremental");
    private readonly PinPipeSettings _settings;
    private readonly DirectoryObjectStore _store;

    public IncrementalBatchTests()
    {
        _settings = new PinPipeSettings { UserId = User, DataDir = _dir.Path }.Resolve();
        _store = new DirectoryObjectStore(_settings.ObjectStore.Root, _settings.ObjectStore.Bucket!);
    }

    public void Dispose() => _dir.Dispose();

    [Fact]
    public async Task A_second_run_reads_only_the_new_objects_counts_duplicates_across_runs_and_appends_clean_rows_and_rejects()
    {
        await PutPostsAsync(0, [1, 2, 3, 4, 5]);
        var first = await RunAsync();
        Assert.Equal((5L, 5L, 0L, 0L), Counts(first, "pin"));

        // New pin records: three new posts, a re-post of ind 3 (a duplicate of the first run) and a record to reject.
        await PutAsync("pin", 0, 5, [Pin(6), Pin(7), Pin(3), Pin(8), "not json"]);
        var second = await RunAsync();

        var pin = Table(second, "pin");
        Assert.Equal(1, pin.Objects); // the new object only: the first one ends where the table's offset is
        Assert.Equal((5L, 3L, 1L, 1L), Counts(second, "pin"));
        Assert.Equal((1L, 1L, true, true), (pin.Version, pin.RejectsVersion, pin.Committed, pin.RejectsCommitted));
        Assert.Equal((8L, 1L), (pin.Rows, pin.RejectRows));
        Assert.Equal([1L, 2, 3, 4, 5, 6, 7, 8], await IndsAsync("pin"));
        Assert.Equal([$"{User}.pin/0/9"], await RejectOriginsAsync("pin"));
        Assert.Equal(10, await TxnAsync("delta/pin", $"pinpipe-batch:{User}.pin:0"));
        Assert.Equal(10, await TxnAsync("delta/pin_rejects", $"pinpipe-batch:{User}.pin:0"));
        // geo and user had nothing new: read nothing, committed nothing.
        foreach (string table in new[] { "geo", "user" })
        {
            Assert.Equal((0L, 0L, 0L, 0L), Counts(second, table));
            Assert.Equal((0L, false, false), (Table(second, table).Version, Table(second, table).Committed, Table(second, table).RejectsCommitted));
        }
        Assert.False(second.Run.NothingNew);
    }

    [Fact]
    public async Task A_run_with_nothing_new_commits_nothing_yet_writes_insights_report_and_summary_over_the_whole_tables()
    {
        await PutPostsAsync(0, [1, 2, 3]);
        var first = await RunAsync();
        var versions = await VersionsAsync();

        var second = await RunAsync();

        Assert.True(second.Run.NothingNew);
        Assert.Equal(versions, await VersionsAsync());
        Assert.All(second.Run.Tables, t => Assert.Equal((0L, 0L, false, false), (t.Clean.Read, t.Version, t.Committed, t.RejectsCommitted)));
        Assert.Equal(18, second.InsightFiles.Count);
        Assert.Equal(
            first.InsightFiles.Select(f => (Path.GetFileName(f), File.ReadAllText(f))),
            second.InsightFiles.Select(f => (Path.GetFileName(f), File.ReadAllText(f))));
        using var summary = JsonDocument.Parse(await File.ReadAllTextAsync(second.SummaryPath));
        Assert.True(summary.RootElement.GetProperty("nothingNew").GetBoolean());
        Assert.All(summary.RootElement.GetProperty("tables").EnumerateArray(), t => Assert.Equal(3, t.GetProperty("tableRows").GetInt64()));
        Assert.Contains("nothing new", await File.ReadAllTextAsync(second.ReportPath), StringComparison.Ordinal);
    }

    [Fact]
    public async Task A_partition_whose_offsets_advanced_with_only_duplicates_gets_a_txn_only_commit_and_is_not_read_again()
    {
        await PutPostsAsync(0, [1, 2]);
        await RunAsync();
        await PutAsync("pin", 0, 2, [Pin(1), Pin(2)]);

        var second = await RunAsync();
        var pin = Table(second, "pin");
        Assert.Equal((2L, 0L, 2L, 0L), Counts(second, "pin"));
        Assert.Equal((1L, 1L), (pin.Version, pin.RejectsVersion));
        var snapshot = (await new DeltaTable(_store, "delta/pin").LoadAsync())!;
        Assert.Single(snapshot.Files); // the first run's file only: the commit added none
        Assert.Equal(4, snapshot.Txns[$"pinpipe-batch:{User}.pin:0"]);

        var third = await RunAsync();
        Assert.True(third.Run.NothingNew);
        Assert.Equal((0L, 0L, 0L, 0L), Counts(third, "pin"));
    }

    [Fact]
    public async Task An_object_the_sink_wrote_again_longer_contributes_only_its_records_at_or_after_the_tables_offset()
    {
        await PutPostsAsync(0, [1, 2, 3]);
        await RunAsync();
        // The sink crashed after its put and before its offset commit, and wrote the object again with more records.
        await PutAsync("pin", 0, 0, [Pin(1), Pin(2), Pin(3), Pin(4), "[1]"]);

        var second = await RunAsync();

        Assert.Equal((2L, 1L, 0L, 1L), Counts(second, "pin"));
        Assert.Equal([1L, 2, 3, 4], await IndsAsync("pin"));
        Assert.Equal([$"{User}.pin/0/4"], await RejectOriginsAsync("pin"));
        Assert.Equal(5, await TxnAsync("delta/pin", $"pinpipe-batch:{User}.pin:0"));
    }

    [Fact]
    public async Task After_a_small_run_the_insights_cover_the_whole_history_as_a_full_rebuild_gives_them()
    {
        await PutFixturesAsync();
        await RunAsync();
        await PutAsync("pin", 5, 0, [Pin(9001, "zz-new-category")]);
        await PutAsync("geo", 5, 0, [Geo(9001)]);
        await PutAsync("user", 5, 0, [UserRecord(9001)]);

        var small = await RunAsync();
        Assert.Equal(1, Table(small, "pin").Clean.Read);

        var full = await RunAsync(full: true);
        Assert.True(full.Run.Full);
        Assert.Equal(
            full.InsightFiles.Select(f => (Path.GetFileName(f), File.ReadAllText(f))),
            small.InsightFiles.Select(f => (Path.GetFileName(f), File.ReadAllText(f))));
        // The whole history: users of the fixtures (first run) and the new one (second run) are all counted.
        var joined = small.Insights.Single(i => i.Number == 7).Rows.Sum(r => Convert.ToInt64(r[1], System.Globalization.CultureInfo.InvariantCulture));
        Assert.True(joined > 1, $"users joined per year counts {joined} users: only this run's?");
    }

    [Fact]
    public async Task Full_rebuilds_every_table_by_overwrite_and_sets_the_offsets_so_the_next_incremental_run_continues_after_them()
    {
        await PutPostsAsync(0, [1, 2, 3]);
        await RunAsync();
        await PutAsync("pin", 0, 3, [Pin(4)]);

        var full = await RunAsync(full: true);

        Assert.All(full.Run.Tables, t => Assert.Equal((1L, 1L, true, true), (t.Version, t.RejectsVersion, t.Committed, t.RejectsCommitted)));
        Assert.Equal((4L, 4L, 0L, 0L), Counts(full, "pin"));
        Assert.Equal([1L, 2, 3, 4], await IndsAsync("pin"));
        var snapshot = (await new DeltaTable(_store, "delta/pin").LoadAsync())!;
        Assert.Single(snapshot.Files); // the overwrite removed the earlier files
        Assert.Equal(4, snapshot.Txns[$"pinpipe-batch:{User}.pin:0"]);
        Assert.Equal("full", (await CommitInfoAsync("delta/pin", 1)).GetProperty("operationParameters").GetProperty("pinpipe.batch").GetString());

        var next = await RunAsync();
        Assert.True(next.Run.NothingNew);
        Assert.Equal([1L, 2, 3, 4], await IndsAsync("pin"));
    }

    [Fact]
    public async Task Each_batch_commit_records_the_rules_hash_and_an_incremental_run_under_other_rules_refuses_naming_both_hashes_until_full()
    {
        await PutPostsAsync(0, [1, 2]);
        await RunAsync();
        Assert.Equal(BatchRules.Hash, (await CommitInfoAsync("delta/pin", 0)).GetProperty("operationParameters").GetProperty(BatchRules.Parameter).GetString());
        Assert.Matches("^[0-9a-f]{64}$", BatchRules.Hash);
        string older = new('a', 64);
        await RewriteRulesAsync("delta/geo_rejects", 0, older); // as if an earlier PinPipe with other rules had written it
        await PutAsync("pin", 0, 2, [Pin(3)]);
        var versions = await VersionsAsync();

        var ex = await Assert.ThrowsAsync<BatchException>(() => RunAsync());

        Assert.Equal(("batch.rules_changed", ErrorKind.BadInput), (ex.ErrorCode, ex.Kind));
        Assert.Contains(older, ex.Message, StringComparison.Ordinal);
        Assert.Contains(BatchRules.Hash, ex.Message, StringComparison.Ordinal);
        Assert.Contains("pinpipe batch --full", ex.Message, StringComparison.Ordinal);
        Assert.Contains("delta/geo_rejects", ex.Where, StringComparison.Ordinal);
        Assert.Equal(versions, await VersionsAsync()); // nothing written, not even the pin table's new record

        var full = await RunAsync(full: true);
        Assert.Equal([1L, 2, 3], await IndsAsync("pin"));
        Assert.Equal(BatchRules.Hash, (await CommitInfoAsync("delta/geo_rejects", 1)).GetProperty("operationParameters").GetProperty(BatchRules.Parameter).GetString());
        Assert.True((await RunAsync()).Run.NothingNew);
    }

    [Fact]
    public async Task The_rules_are_looked_up_past_commits_that_do_not_record_them_and_a_table_without_any_is_refused()
    {
        await PutPostsAsync(0, [1, 2]);
        await RunAsync();
        // A commit of another writer (OPTIMIZE, VACUUM) records no rules: the newest batch commit before it counts.
        var pin = new DeltaTable(_store, "delta/pin");
        await pin.CommitAsync(new DeltaWrite(CleanSchemas.ToDelta(CleaningRules.Schema(RecordKind.Pin)), []) { Operation = "OPTIMIZE", DataChange = false });
        await PutAsync("pin", 0, 2, [Pin(3)]);
        var second = await RunAsync();
        Assert.Equal((1L, 1L), (Counts(second, "pin").Read, Counts(second, "pin").Clean));

        // A table an earlier PinPipe wrote (it rewrote every table each run, recording no rules) cannot be appended to.
        var user = new DeltaTable(_store, "delta/user");
        await user.CommitAsync(new DeltaWrite(CleanSchemas.ToDelta(CleaningRules.Schema(RecordKind.User)), []) { Mode = DeltaWriteMode.Overwrite });
        await RewriteRulesAsync("delta/user", 0, null);

        var ex = await Assert.ThrowsAsync<BatchException>(() => RunAsync());
        Assert.Equal(("batch.rules_unknown", ErrorKind.BadInput), (ex.ErrorCode, ex.Kind));
        Assert.Contains("pinpipe batch --full", ex.Message, StringComparison.Ordinal);
        Assert.Contains(BatchRules.Hash, ex.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task A_topic_deleted_and_created_again_is_read_from_offset_0_under_its_new_id()
    {
        await PutMarkerAsync("pin", "first-id");
        await PutPostsAsync(0, [1, 2, 3]);
        await RunAsync();
        Assert.Equal(3, await TxnAsync("delta/pin", $"pinpipe-batch:{User}.pin@first-id:0"));

        // The sink made the earlier objects be moved away, then wrote the new incarnation's from offset 0.
        await _store.DeleteAsync(Key("pin", 0, 0));
        await PutMarkerAsync("pin", "second-id");
        await PutAsync("pin", 0, 0, [Pin(10), Pin(1)]);

        var second = await RunAsync();
        Assert.Equal((2L, 1L, 1L, 0L), Counts(second, "pin"));
        Assert.Equal([1L, 2, 3, 10], await IndsAsync("pin"));
        Assert.Equal(2, await TxnAsync("delta/pin", $"pinpipe-batch:{User}.pin@second-id:0"));
    }

    [Fact]
    public async Task Offsets_kept_before_the_sink_recorded_the_topic_id_are_adopted_for_it()
    {
        await PutPostsAsync(0, [1, 2]);
        await RunAsync();
        await PutMarkerAsync("pin", "the-id");
        await PutAsync("pin", 0, 2, [Pin(3)]);

        var second = await RunAsync();
        Assert.Equal((1L, 1L), (Counts(second, "pin").Read, Counts(second, "pin").Clean));
        Assert.Equal(3, await TxnAsync("delta/pin", $"pinpipe-batch:{User}.pin@the-id:0"));
        Assert.Equal([1L, 2, 3], await IndsAsync("pin"));
    }

    [Fact]
    public async Task The_insights_fold_in_only_the_new_files_and_log_each_steps_time_at_debug()
    {
        await PutPostsAsync(0, [1, 2]);
        var first = await RunAsync();
        await PutPostsAsync(2, [3]);
        using var logs = new CapturedLogs();
        using var factory = logs.Factory();
        var second = await PipelineJobs.Batch(_settings, factory).RunAsync();

        Assert.Equal(3, second.Run.Tables.Single(t => t.Table == "pin").Rows);
        var timings = logs.Entries.Where(e => e.Level == LogLevel.Debug && e.Category == "pinpipe.batch" && e.Message.StartsWith("Insights: ", StringComparison.Ordinal)).Select(e => e.Message).ToList();
        Assert.Equal(4, timings.Count); // the state read, the new files' aggregates, the state written, the nine insights
        Assert.Matches(@"^Insights: the insight state read in [\d.,]+ s\.$", timings[0]);
        Assert.Matches(@"^Insights: the aggregates of 3 new file\(s\) in [\d.,]+ s\.$", timings[1]);
        Assert.Matches(@"^Insights: the insight state written in [\d.,]+ s\.$", timings[2]);
        Assert.Matches(@"^Insights: the nine insights from the aggregates in [\d.,]+ s\.$", timings[3]);
        Assert.Single(logs.Entries, e => e.Level == LogLevel.Information && System.Text.RegularExpressions.Regex.IsMatch(e.Message,
            @"^Nine insights over the whole tables in [\d.,]+ s \(their aggregates: 3 new file\(s\) folded in\)\.$"));
        // Over the whole tables all the same: the posts of both runs count (all pins "art", users aged 20 and over joined in 2016).
        Assert.Equal(2L, first.Insights[4].Rows.Sum(r => (long)r[2]!));
        Assert.Equal(3L, second.Insights[4].Rows.Sum(r => (long)r[2]!));
        Assert.Equal([2016, 3L], Assert.Single(second.Insights[6].Rows));
    }

    // ------------------------------------------------------------------ helpers

    private Task<BatchLaneResult> RunAsync(bool full = false) =>
        PipelineJobs.Batch(_settings with { Batch = _settings.Batch with { Full = full } }, NullLoggerFactory.Instance).RunAsync();

    private static BatchTableResult Table(BatchLaneResult result, string table) => Assert.Single(result.Run.Tables, t => t.Table == table);

    private static (long Read, long Clean, long Duplicates, long Rejects) Counts(BatchLaneResult result, string table)
    {
        var c = Table(result, table).Clean;
        Assert.Equal(c.Read, c.Clean + c.Duplicates + c.Rejects);
        return (c.Read, c.Clean, c.Duplicates, c.Rejects);
    }

    internal static string Pin(long ind, string category = "art") => JsonSerializer.Serialize(new Dictionary<string, object>
    {
        ["index"] = ind,
        ["unique_id"] = $"u-{ind}",
        ["title"] = "t",
        ["description"] = "d",
        ["poster_name"] = $"poster {ind % 7}",
        ["follower_count"] = (ind * 13 % 1000).ToString(System.Globalization.CultureInfo.InvariantCulture),
        ["tag_list"] = "a,b",
        ["is_image_or_video"] = "image",
        ["image_src"] = "https://i.example/1.jpg",
        ["downloaded"] = 1,
        ["save_location"] = "Local save in /data/x",
        ["category"] = category,
    });

    internal static string Geo(long ind) => $$"""{"ind": {{ind}}, "timestamp": "2020-01-01 00:00:00", "latitude": 1.5, "longitude": 2.5, "country": "Country {{ind % 5}}"}""";

    internal static string UserRecord(long ind) => $$"""{"ind": {{ind}}, "first_name": "Ann", "last_name": "Lee", "age": {{20 + (ind % 40)}}, "date_joined": "2016-01-01 00:00:00"}""";

    /// <summary>A post (pin, geo and user records) per ind, as one object per topic at <paramref name="offset"/> of partition 0.</summary>
    private async Task PutPostsAsync(long offset, long[] inds)
    {
        await PutAsync("pin", 0, offset, inds.Select(i => Pin(i)).ToArray());
        await PutAsync("geo", 0, offset, inds.Select(Geo).ToArray());
        await PutAsync("user", 0, offset, inds.Select(UserRecord).ToArray());
    }

    private async Task PutFixturesAsync()
    {
        foreach (string table in Tables)
            await PutAsync(table, 0, 0, (await File.ReadAllLinesAsync(Path.Combine(TestData.Fixtures, "raw", table + ".jsonl"))).Where(l => l.Length > 0).ToArray());
    }

    private static string Key(string table, int partition, long offset) =>
        $"topics/{User}.{table}/partition={partition}/{User}.{table}+{partition}+{offset:D10}.json";

    private async Task PutAsync(string table, int partition, long offset, string[] lines) =>
        await _store.PutAsync(Key(table, partition, offset), Encoding.UTF8.GetBytes(string.Join('\n', lines) + "\n"));

    private async Task PutMarkerAsync(string table, string topicId) =>
        await _store.PutAsync($"topics/{User}.{table}+topic-id.json", Encoding.UTF8.GetBytes(JsonSerializer.Serialize(new { topic = $"{User}.{table}", topicId }) + "\n"));

    private async Task<List<long>> IndsAsync(string table)
    {
        var snapshot = (await new DeltaTable(_store, $"delta/{table}").LoadAsync())!;
        int column = snapshot.Schema.Fields.ToList().FindIndex(f => f.Name == "ind");
        var inds = new List<long>();
        await foreach (var row in snapshot.ReadRowsAsync()) inds.Add(Convert.ToInt64(row[column], System.Globalization.CultureInfo.InvariantCulture));
        return inds.Order().ToList();
    }

    private async Task<List<string>> RejectOriginsAsync(string table)
    {
        var snapshot = (await new DeltaTable(_store, $"delta/{table}_rejects").LoadAsync())!;
        int column = snapshot.Schema.Fields.ToList().FindIndex(f => f.Name == "origin");
        var origins = new List<string>();
        await foreach (var row in snapshot.ReadRowsAsync()) origins.Add((string)row[column]!);
        return origins.Order(StringComparer.Ordinal).ToList();
    }

    private async Task<long> TxnAsync(string prefix, string appId) => (await new DeltaTable(_store, prefix).LoadAsync())!.Txns[appId];

    private async Task<List<long>> VersionsAsync()
    {
        var versions = new List<long>();
        foreach (string table in Tables.SelectMany(t => new[] { t, t + "_rejects" }))
            versions.Add((await new DeltaTable(_store, $"delta/{table}").LoadAsync())?.Version ?? -1);
        return versions;
    }

    private string CommitPath(string prefix, long version) =>
        Path.Combine(_settings.ObjectStore.Root, _settings.ObjectStore.Bucket!, prefix, "_delta_log", $"{version:D20}.json");

    private async Task<JsonElement> CommitInfoAsync(string prefix, long version)
    {
        string first = (await File.ReadAllLinesAsync(CommitPath(prefix, version)))[0];
        return JsonDocument.Parse(first).RootElement.GetProperty("commitInfo").Clone();
    }

    /// <summary>Rewrites the rules hash a commit records (null: removes it), as another PinPipe would have written it.</summary>
    private async Task RewriteRulesAsync(string prefix, long version, string? hash)
    {
        string path = CommitPath(prefix, version);
        var lines = await File.ReadAllLinesAsync(path);
        var info = System.Text.Json.Nodes.JsonNode.Parse(lines[0])!;
        var parameters = info["commitInfo"]!["operationParameters"]!.AsObject();
        if (hash is null) parameters.Remove(BatchRules.Parameter);
        else parameters[BatchRules.Parameter] = hash;
        lines[0] = info.ToJsonString();
        await File.WriteAllLinesAsync(path, lines);
    }
}
