using System.Text;
using System.Text.Json;
using Microsoft.Extensions.Logging.Abstractions;
using PinPipe.DuckDb;
using PinPipe.Hosting;
using PinPipe.Lake;
using PinPipe.Lake.Delta;
using PinPipe.Log;
using PinPipe.Tests.Support;
using PinPipe.Verify;

namespace PinPipe.Tests.Verify;

/// <summary>
/// A data folder <c>pinpipe up</c> filled (the real CLI: emulator, API, log, sink, stream job, batch job), copied for each
/// test, which damages its copy the way a crash or a bug would and checks that <see cref="PipelineVerifier"/> names it.
/// </summary>
public sealed class VerifiedPipelineFixture : IAsyncLifetime
{
    public TempDirectory Folder { get; } = new("verify-up");

    public string DataDir => Path.Combine(Folder.Path, ".pinpipe");

    public async Task InitializeAsync()
    {
        var (code, output) = await CliProcess.RunAsync(Folder.Path, TimeSpan.FromMinutes(4), "up", "--records", "400", "--partitions", "2");
        Assert.True(code == 0, $"pinpipe up exited {code}:\n{output}");
    }

    public Task DisposeAsync()
    {
        Folder.Dispose();
        return Task.CompletedTask;
    }
}

public sealed class PipelineVerifierTests(VerifiedPipelineFixture up) : IClassFixture<VerifiedPipelineFixture>, IDisposable
{
    private readonly TempDirectory _copy = new("verify-copy");

    public void Dispose() => _copy.Dispose();

    private string DataDir => Path.Combine(_copy.Path, ".pinpipe");

    private PinPipeSettings Settings => new PinPipeSettings { DataDir = DataDir }.Resolve();

    /// <summary>Copies the fixture's data folder (the log, the bucket, the runs) for this test to damage.</summary>
    private void CopyPipeline()
    {
        foreach (string file in Directory.EnumerateFiles(up.DataDir, "*", SearchOption.AllDirectories))
        {
            string to = Path.Combine(DataDir, Path.GetRelativePath(up.DataDir, file));
            Directory.CreateDirectory(Path.GetDirectoryName(to)!);
            File.Copy(file, to);
        }
    }

    private async Task<VerifyReport> VerifyAsync(VerifyLanes lanes = VerifyLanes.All)
    {
        var settings = Settings;
        await using var log = await LogFactory.OpenAsync(settings.Log with { Access = LogAccess.Consumer });
        var store = await ObjectStoreFactory.OpenAsync(settings.ObjectStore, settings.Names.Bucket, NullLogger.Instance);
        var verifier = new PipelineVerifier(log, store, settings.Names, settings.Sink, settings.Batch, PipelineJobs.StreamTarget(settings), settings.Verify);
        return await verifier.RunAsync(lanes);
    }

    private IObjectStore Store() => ObjectStoreFactory.OpenAsync(Settings.ObjectStore, Settings.Names.Bucket, NullLogger.Instance).GetAwaiter().GetResult();

    /// <summary>The raw objects of a topic's partition, by start offset.</summary>
    private static async Task<List<ObjectInfo>> ObjectsAsync(IObjectStore store, string topic, int partition)
    {
        var list = new List<ObjectInfo>();
        await foreach (var o in store.ListAsync($"topics/{topic}/partition={partition}/")) list.Add(o);
        return list.OrderBy(o => o.Key, StringComparer.Ordinal).ToList();
    }

    private static VerifyCheck Only(VerifyReport report, string check, string subject) => report.Checks.Single(c => c.Check == check && c.Subject == subject);

    [Fact]
    public async Task A_pipeline_up_left_is_consistent_in_every_check_and_its_figures_add_up()
    {
        CopyPipeline();
        var report = await VerifyAsync();
        Assert.True(report.Consistent, string.Join("\n", report.Checks.SelectMany(c => c.Listed.Select(p => $"{c.Check} {c.Subject}: {p.Message}"))));
        Assert.Equal(9, report.Checks.Count);
        var names = Settings.Names;
        foreach (string topic in names.Topics)
        {
            var c = Only(report, "log-bucket", topic);
            Assert.Equal(400, c.Checked); // every posted record compared with its object's line
            Assert.Equal(400, c.Figures["committed"]);
        }
        foreach (string stream in names.Streams)
        {
            var c = Only(report, "stream-tables", stream);
            Assert.Equal(400, c.Figures["records"]);
            Assert.Equal(400, c.Figures["cleanRows"] + c.Figures["duplicates"] + c.Figures["rejectRows"]);
        }
        foreach (string table in new[] { "delta/pin", "delta/geo", "delta/user" })
        {
            var c = Only(report, "bucket-batch", table);
            Assert.Equal(400, c.Figures["read"]);
            Assert.Equal(c.Figures["read"], c.Figures["clean"] + c.Figures["duplicates"] + c.Figures["rejects"]);
            Assert.Empty(c.Notes); // the run's summary was found and compared
        }

        using var json = JsonDocument.Parse(report.ToJson());
        Assert.True(json.RootElement.GetProperty("consistent").GetBoolean());
        Assert.Equal(0, json.RootElement.GetProperty("problems").GetInt64());
        Assert.Equal(9, json.RootElement.GetProperty("checks").GetArrayLength());
    }

    [Fact]
    public async Task A_deleted_object_is_a_gap_naming_its_first_record()
    {
        CopyPipeline();
        var store = Store();
        string topic = Settings.Names.PinTopic;
        var objects = await ObjectsAsync(store, topic, 0);
        Assert.True(objects.Count >= 1, "the fixture wrote no object of partition 0");
        var victim = objects[0];
        int lines = Encoding.UTF8.GetString((await store.GetAsync(victim.Key))!).Count(c => c == '\n');
        await store.DeleteAsync(victim.Key);
        long start = long.Parse(victim.Key[(victim.Key.LastIndexOf('+') + 1)..^".json".Length], System.Globalization.CultureInfo.InvariantCulture);

        var report = await VerifyAsync(VerifyLanes.Batch);
        Assert.False(report.Consistent);
        var c = Only(report, "log-bucket", topic);
        Assert.Equal(lines, c.Problems); // each record of the object is lost
        var gap = Assert.Single(c.Listed);
        Assert.Equal("gap", gap.Kind);
        Assert.Equal($"{topic}/0/{start}", gap.Where);
        Assert.Contains("in no object", gap.Message, StringComparison.Ordinal);
        Assert.All(report.Checks.Where(x => x.Check == "log-bucket" && x.Subject != topic), x => Assert.Equal(0, x.Problems));
    }

    [Fact]
    public async Task An_object_overlapping_the_one_before_a_changed_line_and_an_object_past_the_committed_offset_are_each_named()
    {
        CopyPipeline();
        var store = Store();
        string topic = Settings.Names.GeoTopic;
        var objects = await ObjectsAsync(store, topic, 1);
        Assert.NotEmpty(objects);
        string first = objects[0].Key;
        byte[] content = (await store.GetAsync(first))!;
        long start = long.Parse(first[(first.LastIndexOf('+') + 1)..^".json".Length], System.Globalization.CultureInfo.InvariantCulture);
        string KeyAt(long offset) => $"topics/{topic}/partition=1/{topic}+1+{offset:D10}.json";
        // The same records again from the second line on: offsets in two objects.
        int firstNewline = Array.IndexOf(content, (byte)'\n');
        await store.PutAsync(KeyAt(start + 1), content.AsMemory(firstNewline + 1));
        // An object where the sink never writes: past the committed offset.
        await using (var log = await LogFactory.OpenAsync(Settings.Log with { Access = LogAccess.Consumer }))
        {
            long committed = (await log.GetCommittedOffsetAsync(Settings.Sink.GroupId, topic, 1))!.Value;
            await store.PutAsync(KeyAt(committed + 5), content);
        }
        // A line changed in place.
        byte[] changed = (byte[])content.Clone();
        int at = Encoding.UTF8.GetString(changed).IndexOf("\"ind\":", StringComparison.Ordinal) + 6;
        changed[at] = changed[at] == (byte)'9' ? (byte)'8' : (byte)'9';
        await store.PutAsync(first, changed);

        var c = Only(await VerifyAsync(VerifyLanes.Batch), "log-bucket", topic);
        Assert.Contains(c.Listed, p => p.Kind == "duplicate" && p.Where == KeyAt(start + 1));
        Assert.Contains(c.Listed, p => p.Kind == "stale" && p.Message.Contains("past the sink's committed offset", StringComparison.Ordinal));
        Assert.Contains(c.Listed, p => p.Kind == "mismatch" && p.Where == first + ":1");
        Assert.True(c.Problems == 3, string.Join("\n", c.Listed.Select(p => $"{p.Kind} {p.Where}: {p.Message}")));
    }

    [Fact]
    public async Task An_object_cut_inside_a_line_is_half_written()
    {
        CopyPipeline();
        var store = Store();
        string topic = Settings.Names.UserTopic;
        var objects = await ObjectsAsync(store, topic, 0);
        string key = objects[^1].Key;
        byte[] content = (await store.GetAsync(key))!;
        await store.PutAsync(key, content.AsMemory(0, content.Length - 10));

        var c = Only(await VerifyAsync(VerifyLanes.Batch), "log-bucket", topic);
        Assert.Contains(c.Listed, p => p.Kind == "half-written" && p.Where == key);
        Assert.Contains(c.Listed, p => p.Kind == "mismatch"); // its last line is not the record's value
    }

    [Fact]
    public async Task A_clean_row_committed_twice_and_a_file_of_rows_removed_are_named_in_the_streaming_tables()
    {
        CopyPipeline();
        var store = Store();
        var target = PipelineJobs.StreamTarget(Settings);
        var pin = new DeltaTable(store, target.TablePrefix(PinPipe.Transform.RecordKind.Pin));
        var geo = new DeltaTable(store, target.TablePrefix(PinPipe.Transform.RecordKind.Geo));

        // One pin row again in a file of its own: its ind twice.
        long ind = await TableEdits.CommitLowestRowAgainAsync(pin, _copy.Path);

        // A geo file removed: its rows' records are lost.
        var geoSnapshot = (await geo.LoadAsync())!;
        var removed = geoSnapshot.Files.OrderByDescending(f => f.NumRecords).First();
        await geo.CommitAsync(new DeltaWrite(geoSnapshot.Schema, []) { Removes = [removed.Path] });

        var report = await VerifyAsync(VerifyLanes.Stream);
        var p = Only(report, "stream-tables", Settings.Names.PinStream);
        var twice = Assert.Single(p.Listed);
        Assert.Equal("duplicate", twice.Kind);
        Assert.Contains($"ind {ind} is 2 times", twice.Message, StringComparison.Ordinal);
        var g = Only(report, "stream-tables", Settings.Names.GeoStream);
        Assert.Equal(removed.NumRecords, g.Problems);
        Assert.All(g.Listed, x => Assert.Equal("gap", x.Kind));
        Assert.Equal(0, Only(report, "stream-tables", Settings.Names.UserStream).Problems);
    }

    [Fact]
    public async Task A_batch_run_whose_summary_does_not_match_its_commit_is_named()
    {
        CopyPipeline();
        string summary = Directory.EnumerateFiles(Path.Combine(DataDir, "runs"), "summary.json", SearchOption.AllDirectories).Single();
        string text = await File.ReadAllTextAsync(summary);
        using (var doc = JsonDocument.Parse(text))
        {
            var pin = doc.RootElement.GetProperty("tables").EnumerateArray().Single(t => t.GetProperty("table").GetString() == "pin");
            long read = pin.GetProperty("read").GetInt64();
            // The run says it read one record more than the objects between its offsets hold.
            string from = $"\"read\": {read},";
            int at = text.IndexOf(from, text.IndexOf("\"table\": \"pin\"", StringComparison.Ordinal), StringComparison.Ordinal);
            text = string.Concat(text.AsSpan(0, at), $"\"read\": {read + 1},", text.AsSpan(at + from.Length));
        }
        await File.WriteAllTextAsync(summary, text);

        var report = await VerifyAsync(VerifyLanes.Batch);
        var c = Only(report, "bucket-batch", "delta/pin");
        Assert.Contains(c.Listed, p => p.Kind == "counts" && p.Message.Contains("records read; the raw objects between its offsets hold 400 lines", StringComparison.Ordinal));
        Assert.Contains(c.Listed, p => p.Kind == "counts" && p.Message.Contains("read 401 ≠ clean", StringComparison.Ordinal));
        Assert.Equal(0, Only(report, "bucket-batch", "delta/geo").Problems);
    }

    [Fact]
    public async Task A_full_rebuild_after_an_incremental_run_is_compared_with_every_raw_line_it_read_again()
    {
        CopyPipeline();
        // The fixture's up ran the first (incremental) batch; a full rebuild reads every raw object again, from offset 0.
        var (code, output) = await CliProcess.RunAsync(_copy.Path, TimeSpan.FromMinutes(3), "batch", "--full");
        Assert.True(code == 0, $"pinpipe batch --full exited {code}:\n{output}");

        var report = await VerifyAsync(VerifyLanes.Batch);
        Assert.True(report.Consistent, string.Join("\n", report.Checks.SelectMany(c => c.Listed.Select(p => $"{c.Check} {c.Subject}: {p.Message}"))));
        foreach (string table in new[] { "delta/pin", "delta/geo", "delta/user" })
        {
            var c = Only(report, "bucket-batch", table);
            Assert.Equal(400, c.Figures["read"]);
            Assert.Equal(400, c.Figures["clean"] + c.Figures["duplicates"] + c.Figures["rejects"]);
            Assert.True(c.Figures["clean"] > 0, table);
            Assert.Empty(c.Notes); // the rebuild's own summary was found and compared
        }
    }

    [Fact]
    public async Task The_cli_exits_0_when_consistent_and_1_with_the_list_otherwise()
    {
        CopyPipeline();
        var (ok, okOutput) = await CliProcess.RunAsync(_copy.Path, TimeSpan.FromMinutes(1), "verify");
        Assert.True(ok == 0, okOutput);
        Assert.Contains("Consistent: 9 checks, no gap and no duplicate.", okOutput, StringComparison.Ordinal);

        var store = Store();
        var objects = await ObjectsAsync(store, Settings.Names.PinTopic, 1);
        await store.DeleteAsync(objects[0].Key);
        var (bad, badOutput) = await CliProcess.RunAsync(_copy.Path, TimeSpan.FromMinutes(1), "verify", "--lane", "batch");
        Assert.True(bad == 1, badOutput);
        Assert.Contains("gap", badOutput, StringComparison.Ordinal);
        Assert.Contains("Not consistent:", badOutput, StringComparison.Ordinal);
        Assert.DoesNotContain("stream-tables", badOutput, StringComparison.Ordinal); // --lane batch

        var (usage, usageOutput) = await CliProcess.RunAsync(_copy.Path, TimeSpan.FromMinutes(1), "verify", "--lane", "sideways");
        Assert.True(usage == 2, usageOutput);
        Assert.Contains("sideways", usageOutput, StringComparison.Ordinal);
    }
}
