using System.Globalization;
using System.Text;
using System.Text.Json;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;
using PinPipe.Batch;
using PinPipe.DuckDb;
using PinPipe.Hosting;
using PinPipe.Lake.Delta;
using PinPipe.Lake.Directory;
using PinPipe.Tests.Support;
using PinPipe.Transform;
using Xunit;

namespace PinPipe.Tests.Batch;

/// <summary>
/// The batch job end to end on real files: the fixtures' raw records as sink objects in a directory bucket →
/// clean Delta tables, reject tables, nine insights as CSV and JSON, the report and the summary (the batch lane of
/// <see cref="PipelineJobs.Batch"/>), and the <see cref="BatchJob"/> alone with the step it runs after its commits.
/// </summary>
public sealed class BatchJobTests : IDisposable
{
    private const string User = "u1";
    private static readonly string[] Tables = ["pin", "geo", "user"];
    private readonly TempDirectory _dir = new("batch-job");
    private readonly PinPipeSettings _settings;
    private readonly DirectoryObjectStore _store;

    public BatchJobTests()
    {
        _settings = new PinPipeSettings { UserId = User, DataDir = _dir.Path }.Resolve();
        _store = new DirectoryObjectStore(_settings.ObjectStore.Root, _settings.ObjectStore.Bucket!);
    }

    public void Dispose() => _dir.Dispose();

    [Fact]
    public async Task Fixtures_give_the_expected_clean_Delta_tables_counts_insights_and_report()
    {
        await PutFixturesAsync();
        var result = await PipelineJobs.Batch(_settings, NullLoggerFactory.Instance).RunAsync("run-1");

        using var counts = JsonDocument.Parse(await File.ReadAllTextAsync(Path.Combine(TestData.Fixtures, "counts.json")));
        foreach (string table in Tables)
        {
            var t = Assert.Single(result.Run.Tables, x => x.Table == table);
            var expected = counts.RootElement.GetProperty(table);
            Assert.Equal(expected.GetProperty("read").GetInt64(), t.Clean.Read);
            Assert.Equal(expected.GetProperty("clean").GetInt64(), t.Clean.Clean);
            Assert.Equal(expected.GetProperty("duplicates").GetInt64(), t.Clean.Duplicates);
            Assert.Equal(expected.GetProperty("rejects").GetInt64(), t.Clean.Rejects);
            Assert.Equal(0, t.Version);

            // The Delta table holds exactly the fixtures' clean rows, read back through our Delta reader.
            var rows = await ReadDeltaAsync($"delta/{table}");
            var expectedRows = (await File.ReadAllLinesAsync(Path.Combine(TestData.Fixtures, "clean", table + ".jsonl"))).Where(l => l.Length > 0).ToArray();
            Assert.Equal(expectedRows.Length, rows.Rows.Count);
            foreach (string line in expectedRows)
            {
                using var doc = JsonDocument.Parse(line);
                long ind = doc.RootElement.GetProperty("ind").GetInt64();
                var row = Assert.Single(rows.Rows, r => (long)r[0]! == ind);
                foreach (var property in doc.RootElement.EnumerateObject())
                {
                    int column = rows.Columns.IndexOf(property.Name);
                    Assert.True(column >= 0, $"{table}: no column {property.Name}");
                    Assert.Equal(Text(property.Value), Text(row[column]));
                }
            }
            var rejects = await ReadDeltaAsync($"delta/{table}_rejects");
            Assert.Equal(t.Clean.Rejects, rejects.Rows.Count);
            Assert.All(rejects.Rows, r => Assert.StartsWith($"{User}.{table}/", (string)r[rejects.Columns.IndexOf("origin")]!, StringComparison.Ordinal));
        }

        Assert.Equal(Enumerable.Range(1, 9), result.Insights.Select(i => i.Number));
        Assert.Equal(18, result.InsightFiles.Count);
        Assert.All(result.InsightFiles, f => Assert.True(File.Exists(f), f));
        string report = await File.ReadAllTextAsync(result.ReportPath);
        Assert.True(CountOf(report, "<svg") >= 9, "a chart per insight");
        Assert.DoesNotContain("src=\"http", report, StringComparison.Ordinal);
        using var summary = JsonDocument.Parse(await File.ReadAllTextAsync(result.SummaryPath));
        Assert.Equal(
            ["runId", "mode", "nothingNew", "rules", "startedAt", "durationSeconds", "bucket", "rawBytes", "megabytesPerSecond", "tables", "insights", "report"],
            summary.RootElement.EnumerateObject().Select(p => p.Name));
        Assert.Equal(
            ["table", "topic", "objects", "bytes", "read", "clean", "duplicates", "rejects", "deltaVersion", "rejectsDeltaVersion", "committed", "rejectsCommitted", "tableRows", "tableRejects", "quality", "rejectReasons"],
            summary.RootElement.GetProperty("tables")[0].EnumerateObject().Select(p => p.Name));
        Assert.Equal(result.InsightFiles.Select(Path.GetFileName), summary.RootElement.GetProperty("insights").EnumerateArray().Select(e => e.GetString()));
        Assert.Equal("report.html", summary.RootElement.GetProperty("report").GetString());
        Assert.Equal(_store.Location, summary.RootElement.GetProperty("bucket").GetString());
        Assert.Equal(Path.Combine(result.Run.OutputDirectory, "summary.json"), result.SummaryPath);
        Assert.Equal("run-1", summary.RootElement.GetProperty("runId").GetString());
        Assert.Equal(result.Run.Bytes, summary.RootElement.GetProperty("rawBytes").GetInt64());
        Assert.True(result.Run.Bytes > 0);
        Assert.False(Directory.Exists(Path.Combine(result.Run.OutputDirectory, ".work")), "the work folder is removed");
    }

    [Fact]
    public async Task Each_committed_file_carries_the_stats_read_from_the_file_itself_after_an_incremental_run_and_a_full_rebuild_in_chunks()
    {
        // The job takes each file's stats from the rows it wrote the file from; they must be the ones a reader computes from the file.
        await PutFixturesAsync();
        await PipelineJobs.Batch(_settings, NullLoggerFactory.Instance).RunAsync("incremental");
        int incremental = await AssertStatsOfEveryFileAsync();

        var full = _settings with { Batch = _settings.Batch with { Full = true, ChunkSize = "1KB" } };
        var result = await PipelineJobs.Batch(full, NullLoggerFactory.Instance).RunAsync("full");
        Assert.All(result.Run.Tables, t => Assert.True(t.Committed && t.RejectsCommitted, $"{t.Table}: both tables rebuilt"));
        int rebuilt = await AssertStatsOfEveryFileAsync();
        Assert.True(rebuilt > incremental, $"the rebuild in chunks of 1 KB (two for pin) wrote more files ({rebuilt}) than the run in one chunk ({incremental})");
    }

    /// <summary>Compares each live file's stats in the six tables' logs with <see cref="DeltaStats.Compute"/> over the file; returns how many files.</summary>
    private async Task<int> AssertStatsOfEveryFileAsync()
    {
        using var connection = DuckDbSession.Open();
        int files = 0;
        foreach (string table in Tables)
        {
            foreach (string prefix in new[] { $"delta/{table}", $"delta/{table}_rejects" })
            {
                var snapshot = await new DeltaTable(_store, prefix).LoadAsync();
                Assert.NotNull(snapshot);
                Assert.NotEmpty(snapshot.Files);
                var paths = snapshot.Files.Select(f => _store.LocalPath($"{prefix}/{f.Path}")!).ToArray();
                var read = DeltaStats.ComputeAll(connection, paths, snapshot.Schema, 32, CancellationToken.None);
                for (int i = 0; i < paths.Length; i++)
                {
                    Assert.Equal(read[i].StatsJson, snapshot.Files[i].Stats);
                    Assert.EndsWith(".snappy.parquet", snapshot.Files[i].Path, StringComparison.Ordinal);
                }
                files += paths.Length;
            }
        }
        return files;
    }

    [Fact]
    public async Task A_second_run_on_the_same_input_finds_nothing_new_commits_nothing_and_writes_the_same_answers()
    {
        await PutFixturesAsync();
        var job = PipelineJobs.Batch(_settings, NullLoggerFactory.Instance);
        var first = await job.RunAsync("first");
        var firstRows = await ReadDeltaAsync("delta/pin");
        var second = await job.RunAsync("second");
        var secondRows = await ReadDeltaAsync("delta/pin");

        Assert.True(second.Run.NothingNew);
        Assert.All(second.Run.Tables, t => Assert.Equal((0L, 0L, 0L, false, false), (t.Version, t.Clean.Read, t.RejectsVersion, t.Committed, t.RejectsCommitted)));
        foreach (string table in Tables)
        {
            Assert.Equal(0, (await new DeltaTable(_store, $"delta/{table}").LoadAsync())!.Version);
            Assert.Equal(0, (await new DeltaTable(_store, $"delta/{table}_rejects").LoadAsync())!.Version);
        }
        Assert.Equal(Dump(firstRows.Rows), Dump(secondRows.Rows));
        Assert.Equal(
            first.InsightFiles.Select(f => (Path.GetFileName(f), File.ReadAllText(f))),
            second.InsightFiles.Select(f => (Path.GetFileName(f), File.ReadAllText(f))));
        using var summary = JsonDocument.Parse(await File.ReadAllTextAsync(second.SummaryPath));
        Assert.True(summary.RootElement.GetProperty("nothingNew").GetBoolean());
        Assert.Equal("incremental", summary.RootElement.GetProperty("mode").GetString());
        Assert.Contains("nothing new", await File.ReadAllTextAsync(second.ReportPath), StringComparison.Ordinal);
    }

    [Fact]
    public async Task Text_a_spreadsheet_would_run_as_a_formula_reaches_the_insight_CSVs_as_text()
    {
        const string Category = "=HYPERLINK(\"http://evil\")";
        await PutAsync($"{User}.pin", 0, 0,
        [
            JsonSerializer.Serialize(new Dictionary<string, object>
            {
                ["index"] = 1, ["unique_id"] = "u-1", ["title"] = "t", ["description"] = "d", ["poster_name"] = "@SUM(1+1)",
                ["follower_count"] = "12", ["tag_list"] = "a,b", ["is_image_or_video"] = "image", ["image_src"] = "https://i.example/1.jpg",
                ["downloaded"] = 1, ["save_location"] = "Local save in /data/x", ["category"] = Category,
            }),
        ]);
        await PutAsync($"{User}.geo", 0, 0, ["""{"ind": 1, "timestamp": "2020-01-01 00:00:00", "latitude": 1.5, "longitude": 2.5, "country": "+Evil"}"""]);
        await PutAsync($"{User}.user", 0, 0, ["""{"ind": 1, "first_name": "-Ann", "last_name": "Lee", "age": 30, "date_joined": "2016-01-01 00:00:00"}"""]);

        var result = await PipelineJobs.Batch(_settings, NullLoggerFactory.Instance).RunAsync("run-formula");

        string Csv(string stem) => File.ReadAllText(Assert.Single(result.InsightFiles, f => Path.GetFileName(f) == stem + ".csv"));
        Assert.Equal("country,category,category_count\r\n'+Evil,\"'=HYPERLINK(\"\"http://evil\"\")\",1\r\n", Csv("01-popular-category-per-country"));
        Assert.Equal("country,poster_name,follower_count\r\n'+Evil,'@SUM(1+1),12\r\n", Csv("03-top-poster-per-country"));
        // The JSON files and the Delta tables keep the data as it was.
        string json = await File.ReadAllTextAsync(Assert.Single(result.InsightFiles, f => Path.GetFileName(f) == "01-popular-category-per-country.json"));
        Assert.Equal(Category, JsonDocument.Parse(json).RootElement[0].GetProperty("category").GetString());
    }

    [Fact]
    public async Task The_step_after_the_commits_reads_the_committed_clean_tables_through_views_of_the_columns_it_asks_for_and_the_job_alone_writes_no_insights()
    {
        await PutFixturesAsync();
        var seen = new Dictionary<string, long>();
        var columns = new Dictionary<string, IReadOnlyList<string>> { ["clean_pin"] = ["ind", "category"] };
        var result = await NewJob().RunAsync("stepped", new BatchTablesStep(async (connection, token) =>
        {
            foreach (var kind in Kinds)
            {
                seen[CleaningRules.CleanTable(kind)] = connection.QueryLongs($"SELECT count(*) FROM {CleaningRules.CleanTable(kind)}", token)[0];
                Assert.Equal(0, (await new DeltaTable(_store, $"delta/{CleaningRules.TableName(kind)}").LoadAsync(cancellationToken: token))!.Version); // committed already
            }
            Assert.Equal(["ind", "category"], connection.Query("SELECT column_name FROM (DESCRIBE clean_pin)", r => r.GetString(0), token));
            Assert.Equal(CleaningRules.Schema(RecordKind.Geo).Select(c => c.Name), connection.Query("SELECT column_name FROM (DESCRIBE clean_geo)", r => r.GetString(0), token));
        })
        { Columns = columns });

        using var counts = JsonDocument.Parse(await File.ReadAllTextAsync(Path.Combine(TestData.Fixtures, "counts.json")));
        foreach (var kind in Kinds)
        {
            var expected = counts.RootElement.GetProperty(CleaningRules.TableName(kind));
            Assert.Equal(expected.GetProperty("clean").GetInt64(), seen[CleaningRules.CleanTable(kind)]);
            var t = Assert.Single(result.Tables, x => x.Table == CleaningRules.TableName(kind));
            Assert.Equal((expected.GetProperty("clean").GetInt64(), expected.GetProperty("rejects").GetInt64()), (t.Rows, t.RejectRows));
        }
        Assert.All(result.Tables, t => Assert.Equal(0, t.Version));
        Assert.Equal(Path.Combine(_settings.Batch.OutputDir, "stepped"), result.OutputDirectory);
        Assert.Equal(_store.Location, result.Bucket);
        // The job writes no insights, report or summary: those are the lane's (and its work folder is gone).
        Assert.Empty(Directory.EnumerateFileSystemEntries(result.OutputDirectory));
    }

    [Fact]
    public async Task A_run_logs_each_tables_phases_and_the_steps_time_to_show_where_a_run_spends_its_time()
    {
        await PutFixturesAsync();
        await NewJob().RunAsync("first");
        using var logs = new CapturedLogs();
        using var factory = logs.Factory();
        await new BatchJob(_settings.Batch, _settings.Names, _settings.ObjectStore, _settings.Sink.TopicsDir, factory)
            .RunAsync("second", new BatchTablesStep((_, _) => Task.CompletedTask));

        var info = logs.Entries.Where(e => e.Level == LogLevel.Information && e.Category == "pinpipe.batch").Select(e => e.Message).ToList();
        foreach (string topic in _settings.Names.Topics)
        {
            string phases = Assert.Single(info, m => m.StartsWith($"{topic} phases: ", StringComparison.Ordinal));
            Assert.Matches(@"read raw [\d.,]+ s, clean and duplicate check \(\d+ of [1-9]\d* files' ind read\) [\d.,]+ s, Parquet write [\d.,]+ s, Delta commit [\d.,]+ s\.$", phases);
        }
        Assert.Single(info, m => System.Text.RegularExpressions.Regex.IsMatch(m, @"^The step on the clean tables took [\d.,]+ s \(their snapshots and views [\d.,]+ s before it\)\.$"));
    }

    [Fact]
    public async Task A_step_on_files_gets_each_clean_tables_live_files_and_a_scan_of_any_of_them_before_the_step()
    {
        await PutFixturesAsync();
        var order = new List<string>();
        var files = new Dictionary<string, BatchTableFiles>();
        var counts = new Dictionary<string, long>();
        var columns = new Dictionary<string, IReadOnlyList<string>> { ["clean_pin"] = ["ind", "category"] };
        string? notLive = null, noFile = null;
        await NewJob().RunAsync("files", new BatchTablesStep((_, _) =>
        {
            order.Add("step");
            return Task.CompletedTask;
        })
        {
            Columns = columns,
            RunOnFiles = async (connection, tables, token) =>
            {
                order.Add("files");
                foreach (var (view, t) in tables)
                {
                    files[view] = t;
                    string scan = await t.Scan(t.Files, token);
                    counts[view] = connection.QueryLongs($"SELECT count(*) FROM {scan} AS s", token)[0];
                    if (view == "clean_pin") Assert.Equal(["ind", "category"], connection.Query($"SELECT column_name FROM (DESCRIBE SELECT * FROM {scan} AS s)", r => r.GetString(0), token));
                }
                notLive = (await Assert.ThrowsAsync<ArgumentException>(() => tables["clean_geo"].Scan(["part-00000-nope.parquet"], token))).Message;
                noFile = (await Assert.ThrowsAsync<ArgumentException>(() => tables["clean_geo"].Scan([], token))).Message;
            },
        });

        Assert.Equal(["files", "step"], order);
        foreach (var kind in Kinds)
        {
            string view = CleaningRules.CleanTable(kind);
            var snapshot = (await new DeltaTable(_store, $"delta/{CleaningRules.TableName(kind)}").LoadAsync())!;
            Assert.Equal(snapshot.Files.Select(f => f.Path).Order(StringComparer.Ordinal), files[view].Files);
            Assert.Equal(new DeltaTable(_store, $"delta/{CleaningRules.TableName(kind)}").Location, files[view].Location);
            Assert.Equal(snapshot.Files.Sum(f => f.NumRecords ?? 0), counts[view]);
        }
        Assert.Contains("'part-00000-nope.parquet' is not a live file of", notLive, StringComparison.Ordinal);
        Assert.Contains("Give one or more of the live files", noFile, StringComparison.Ordinal);
    }

    [Fact]
    public async Task A_run_with_the_id_of_a_killed_run_clears_the_work_files_it_left_and_completes()
    {
        // Run ids have one-second resolution: a run started in the second another was killed in meets its work folder.
        await PutFixturesAsync();
        string leftover = Path.Combine(_settings.Batch.OutputDir, "same-second", ".work", "geo-rejects");
        Directory.CreateDirectory(leftover);
        await File.WriteAllTextAsync(Path.Combine(leftover, "part-0.parquet"), "half-written");

        var result = await NewJob().RunAsync("same-second");

        Assert.False(result.NothingNew);
        Assert.False(Directory.Exists(Path.Combine(_settings.Batch.OutputDir, "same-second", ".work")), "the work folder is removed");
        foreach (string table in Tables)
            Assert.Equal(0, (await new DeltaTable(_store, $"delta/{table}").LoadAsync())!.Version);
    }

    [Fact]
    public async Task A_step_that_fails_after_the_commits_fails_the_run_and_the_next_run_finds_nothing_new_and_runs_it_again()
    {
        await PutFixturesAsync();
        var ex = await Assert.ThrowsAsync<InvalidOperationException>(() => NewJob().RunAsync("first", new BatchTablesStep(async (_, _) =>
        {
            await Task.Yield();
            throw new InvalidOperationException("Insight #4 (top-poster) failed: no such column");
        })));
        Assert.Equal("Insight #4 (top-poster) failed: no such column", ex.Message);
        Assert.False(Directory.Exists(Path.Combine(_settings.Batch.OutputDir, "first", ".work")), "the work folder is removed");

        long ran = 0;
        var second = await NewJob().RunAsync("second", new BatchTablesStep((connection, token) =>
        {
            ran = connection.QueryLongs("SELECT count(*) FROM clean_user", token)[0];
            return Task.CompletedTask;
        }));
        Assert.True(second.NothingNew);
        Assert.True(ran > 0);
        foreach (string table in Tables)
        {
            Assert.Equal(0, (await new DeltaTable(_store, $"delta/{table}").LoadAsync())!.Version);
            Assert.Equal(0, (await new DeltaTable(_store, $"delta/{table}_rejects").LoadAsync())!.Version);
        }
    }

    [Fact]
    public async Task An_empty_bucket_fails_with_a_message_naming_the_topics_and_the_bucket()
    {
        var ex = await Assert.ThrowsAsync<BatchException>(() => PipelineJobs.Batch(_settings, NullLoggerFactory.Instance).RunAsync());
        Assert.Contains("No raw objects", ex.Message, StringComparison.Ordinal);
        Assert.Contains($"{User}.pin", ex.Message, StringComparison.Ordinal);
        Assert.Contains(_store.Location, ex.Message, StringComparison.Ordinal);
        Assert.Null(await new DeltaTable(_store, "delta/pin").LoadAsync());
    }

    private static readonly RecordKind[] Kinds = [RecordKind.Pin, RecordKind.Geo, RecordKind.User];

    /// <summary>The batch job alone, as <see cref="PipelineJobs.Batch"/> builds it for the lane.</summary>
    private BatchJob NewJob() => new(_settings.Batch, _settings.Names, _settings.ObjectStore, _settings.Sink.TopicsDir, NullLoggerFactory.Instance);

    private Task PutFixturesAsync() => PutFixturesAsync(_store, User);

    private async Task PutAsync(string topic, int partition, long offset, string[] lines) =>
        await _store.PutAsync($"topics/{topic}/partition={partition}/{topic}+{partition}+{offset:D10}.json",
            Encoding.UTF8.GetBytes(string.Join('\n', lines) + "\n"));

    /// <summary>The fixtures as the sink writes them for <paramref name="user"/>; pin split over two partitions to read more than one object.</summary>
    internal static async Task PutFixturesAsync(DirectoryObjectStore store, string user)
    {
        foreach (string table in Tables)
        {
            string topic = $"{user}.{table}";
            var lines = (await File.ReadAllLinesAsync(Path.Combine(TestData.Fixtures, "raw", table + ".jsonl"))).Where(l => l.Length > 0).ToArray();
            if (table == "pin")
            {
                await PutObjectAsync(topic, 0, 0, lines[..7]);
                await PutObjectAsync(topic, 1, 0, lines[7..]);
            }
            else
            {
                await PutObjectAsync(topic, 0, 0, lines);
            }
        }

        async Task PutObjectAsync(string topic, int partition, long offset, string[] lines) =>
            await store.PutAsync($"topics/{topic}/partition={partition}/{topic}+{partition}+{offset:D10}.json",
                Encoding.UTF8.GetBytes(string.Join('\n', lines) + "\n"));
    }

    private async Task<(List<string> Columns, List<object?[]> Rows)> ReadDeltaAsync(string prefix)
    {
        var snapshot = await new DeltaTable(_store, prefix).LoadAsync();
        Assert.NotNull(snapshot);
        var rows = new List<object?[]>();
        await foreach (var row in snapshot.ReadRowsAsync()) rows.Add(row);
        return (snapshot.Schema.Fields.Select(f => f.Name).ToList(), rows);
    }

    /// <summary>A value as comparable text: JSON fixture values and Delta values alike.</summary>
    private static string Text(object? value) => value switch
    {
        null => "null",
        JsonElement { ValueKind: JsonValueKind.Null } => "null",
        JsonElement { ValueKind: JsonValueKind.String } e => e.GetString()!,
        JsonElement { ValueKind: JsonValueKind.Number } e => e.GetDouble().ToString("R", CultureInfo.InvariantCulture),
        JsonElement { ValueKind: JsonValueKind.Array } e => "[" + string.Join(",", e.EnumerateArray().Select(x => Text(x))) + "]",
        DateTimeOffset t => t.UtcDateTime.ToString("yyyy-MM-dd HH:mm:ss", CultureInfo.InvariantCulture),
        string s => s,
        System.Collections.IEnumerable list => "[" + string.Join(",", list.Cast<object?>().Select(Text)) + "]",
        IConvertible c => c.ToDouble(CultureInfo.InvariantCulture).ToString("R", CultureInfo.InvariantCulture),
        _ => value.ToString()!,
    };

    private static string Dump(IEnumerable<object?[]> rows) =>
        string.Join('\n', rows.Select(r => string.Join('|', r.Select(Text))).Order(StringComparer.Ordinal));

    private static int CountOf(string text, string what)
    {
        int n = 0;
        for (int i = text.IndexOf(what, StringComparison.Ordinal); i >= 0; i = text.IndexOf(what, i + 1, StringComparison.Ordinal)) n++;
        return n;
    }
}
