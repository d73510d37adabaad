using PinPipe.Lake.Delta;
using PinPipe.Lake.Directory;
using PinPipe.Tests.Support;
using static PinPipe.Tests.Lake.Delta.DeltaTestKit;

namespace PinPipe.Tests.Maintenance;

/// <summary>
/// <c>pinpipe vacuum</c>, <c>pinpipe optimize</c> and the maintenance settings of <c>pinpipe schedule</c>, as a user runs them:
/// the real CLI process on real Delta tables in the directory bucket of its data folder.
/// </summary>
public sealed class MaintenanceCommandTests : IDisposable
{
    private static readonly TimeSpan Timeout = TimeSpan.FromSeconds(120);
    private static readonly DeltaSchema Schema = new([new DeltaField("ind", DeltaType.Long), new DeltaField("name", DeltaType.String)]);

    private readonly TempDirectory _dir = new("maint-cli");
    private readonly DirectoryObjectStore _store;
    private int _next;

    public MaintenanceCommandTests() => _store = new DirectoryObjectStore(Path.Combine(_dir.Path, ".pinpipe", "buckets"), "user-12885f560a0b-bucket");

    public void Dispose() => _dir.Dispose();

    /// <summary>The batch job's pin table: three appends, then an overwrite, so three files no longer live; all data files made a day old.</summary>
    private async Task<(DeltaTable Table, List<string> Overwritten, List<string> Live)> PinTableAsync(string prefix = "delta/pin")
    {
        var table = new DeltaTable(_store, prefix);
        var overwritten = new List<string>();
        for (int i = 0; i < 3; i++)
            overwritten.Add(prefix + "/" + (await table.CommitAsync(new DeltaWrite(Schema, [Rows(5)]))).Added[0].Path);
        var last = await table.CommitAsync(new DeltaWrite(Schema, [Rows(5), Rows(5)]) { Mode = DeltaWriteMode.Overwrite });
        var live = last.Added.Select(f => prefix + "/" + f.Path).ToList();
        foreach (string key in overwritten.Concat(live)) File.SetLastWriteTimeUtc(_store.LocalPath(key)!, DateTime.UtcNow.AddDays(-1));
        return (table, overwritten, live);
    }

    private string Rows(int rows)
    {
        string file = WriteParquet(_dir.Path, $"SELECT i::BIGINT AS ind, 'name ' || i AS name FROM range({_next}, {_next + rows}) t(i)");
        _next += rows;
        return file;
    }

    private async Task<List<string>> DataKeysAsync(string prefix) =>
        (await KeysAsync(_store, prefix + "/")).Where(k => !k.Contains("/_delta_log/", StringComparison.Ordinal)).Order(StringComparer.Ordinal).ToList();

    [Fact]
    public async Task A_retention_under_an_hour_is_refused_without_force_and_nothing_is_deleted()
    {
        var (_, overwritten, live) = await PinTableAsync();
        var before = await DataKeysAsync("delta/pin");

        var (code, output) = await CliProcess.RunAsync(_dir.Path, Timeout, "vacuum", "--retention", "30m");

        Assert.True(code == 2, output);
        Assert.Contains("error: --retention 30m is under 1 hour", output, StringComparison.Ordinal);
        Assert.Contains("Add --force", output, StringComparison.Ordinal);
        Assert.Equal(before, await DataKeysAsync("delta/pin"));

        var (bad, badOutput) = await CliProcess.RunAsync(_dir.Path, Timeout, "vacuum", "--retention", "soon");
        Assert.True(bad == 2, badOutput);
        Assert.Contains("--retention: 'soon' is not a duration", badOutput, StringComparison.Ordinal);
        Assert.Equal(5, overwritten.Count + live.Count);
    }

    [Fact]
    public async Task A_dry_run_lists_the_files_count_and_bytes_and_deletes_nothing()
    {
        var (_, overwritten, _) = await PinTableAsync();
        var before = await DataKeysAsync("delta/pin");

        var (code, output) = await CliProcess.RunAsync(_dir.Path, Timeout, "vacuum", "--retention", "0s", "--force", "--dry-run");

        Assert.True(code == 0, output);
        foreach (string key in overwritten) Assert.Contains(key, output, StringComparison.Ordinal);
        Assert.Contains("delta/pin: would delete 3 files", output, StringComparison.Ordinal);
        Assert.Contains("Dry run: would delete 3 files", output, StringComparison.Ordinal);
        Assert.Contains("nothing was deleted", output, StringComparison.Ordinal);
        Assert.Contains("delta/geo: no Delta table.", output, StringComparison.Ordinal);
        Assert.Equal(before, await DataKeysAsync("delta/pin"));
    }

    [Fact]
    public async Task Vacuum_with_force_leaves_only_the_live_files_and_the_table_reads_the_same()
    {
        var (table, _, live) = await PinTableAsync();
        var rows = (await ReadAllAsync((await table.LoadAsync())!)).Count;
        var (other, _, otherLive) = await PinTableAsync("delta/12885f560a0b_pin_table"); // the stream job's table

        var (code, output) = await CliProcess.RunAsync(_dir.Path, Timeout, "vacuum", "--retention", "0s", "--force", "--table", "delta/pin");

        Assert.True(code == 0, output);
        Assert.Contains("delta/pin: deleted 3 files", output, StringComparison.Ordinal);
        Assert.Contains("Vacuum: deleted 3 files", output, StringComparison.Ordinal);
        Assert.Equal(live.Order(StringComparer.Ordinal), await DataKeysAsync("delta/pin"));
        Assert.Equal(rows, (await ReadAllAsync((await new DeltaTable(_store, "delta/pin").LoadAsync())!)).Count);
        Assert.Equal(5, (await DataKeysAsync("delta/12885f560a0b_pin_table")).Count); // --table picked one table

        // Without --table every table the jobs write is vacuumed, the stream job's too; the default week keeps what is a day old.
        var (weekCode, week) = await CliProcess.RunAsync(_dir.Path, Timeout, "vacuum");
        Assert.True(weekCode == 0, week);
        Assert.Contains("delta/12885f560a0b_pin_table: deleted 0 files", week, StringComparison.Ordinal);
        Assert.Equal(5, (await DataKeysAsync("delta/12885f560a0b_pin_table")).Count);
        var (allCode, all) = await CliProcess.RunAsync(_dir.Path, Timeout, "vacuum", "--retention", "0s", "--force");
        Assert.True(allCode == 0, all);
        Assert.Equal(otherLive.Order(StringComparer.Ordinal), await DataKeysAsync("delta/12885f560a0b_pin_table"));
        Assert.NotNull(await other.LoadAsync());

        var (missing, missingOutput) = await CliProcess.RunAsync(_dir.Path, Timeout, "vacuum", "--table", "delta/nope");
        Assert.True(missing == 1, missingOutput);
        Assert.Contains("There is no Delta table under 'delta/nope'", missingOutput, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Optimize_compacts_a_batch_table_into_one_file_with_the_same_rows()
    {
        var table = new DeltaTable(_store, "delta/user");
        for (int i = 0; i < 4; i++) await table.CommitAsync(new DeltaWrite(Schema, [Rows(10)]));
        var before = (await ReadAllAsync((await table.LoadAsync())!)).Select(r => (long)r[0]!).Order().ToList();

        var (code, output) = await CliProcess.RunAsync(_dir.Path, Timeout, "optimize");

        Assert.True(code == 0, output);
        Assert.Contains("delta/user: compacted 4 files", output, StringComparison.Ordinal);
        Assert.Contains("into 1 (Delta version 4)", output, StringComparison.Ordinal);
        Assert.Contains("delta/pin: no Delta table.", output, StringComparison.Ordinal);
        var after = (await new DeltaTable(_store, "delta/user").LoadAsync())!;
        Assert.Single(after.Files);
        Assert.Equal(before, (await ReadAllAsync(after)).Select(r => (long)r[0]!).Order().ToList());
        Assert.False(Directory.Exists(Path.Combine(_dir.Path, ".pinpipe", "maintenance-work")));
    }

    [Fact]
    public async Task Schedule_refuses_a_bad_maintenance_cron_or_retention_naming_the_key()
    {
        var (code, output) = await CliProcess.RunAsync(_dir.Path, Timeout, "schedule", "--maintenance-cron", "0 25 * * *", "--retention", "10m");
        Assert.True(code == 2, output);
        Assert.Contains("Maintenance:Cron: '0 25 * * *': the hour 25 is out of range 0-23.", output, StringComparison.Ordinal);
        Assert.Contains("Maintenance:Retention: 10m must be at least 1 hour", output, StringComparison.Ordinal);

        var env = new Dictionary<string, string?> { ["PINPIPE_Maintenance__Cron"] = "daily" };
        var (envCode, envOutput) = await CliProcess.RunWithEnvironmentAsync(env, _dir.Path, Timeout, "schedule");
        Assert.True(envCode == 2, envOutput);
        Assert.Contains("Maintenance:Cron: 'daily' has 1 field", envOutput, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Schedule_announces_the_maintenance_cron_beside_the_batch_one()
    {
        await using var schedule = CliProcess.Start(_dir.Path, "schedule", "--maintenance-cron", "15 4 * * *");
        var deadline = DateTime.UtcNow + Timeout;
        while (!(schedule.Output.Contains("Next batch run at", StringComparison.Ordinal) && schedule.Output.Contains("Next maintenance run at", StringComparison.Ordinal)))
        {
            if (schedule.HasExited || DateTime.UtcNow > deadline) Assert.Fail($"schedule did not start both:\n{schedule.Output}");
            await Task.Delay(50);
        }
        Assert.Contains("Scheduling the tables' maintenance: cron '15 4 * * *' (UTC), VACUUM retention 7d, OPTIMIZE first.", schedule.Output, StringComparison.Ordinal);
        Assert.Matches(@"Next maintenance run at \d{4}-\d\d-\d\d 04:15:00Z", schedule.Output);
        Assert.Equal(0, await schedule.SignalAsync("TERM", Timeout));
    }
}
