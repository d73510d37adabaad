using PinPipe.Scheduling;
using PinPipe.Tests.Support;

namespace PinPipe.Tests.Cli;

/// <summary>
/// <c>pinpipe batch</c> and <c>pinpipe up</c> as a user runs them (the CLI as a process): the answers printed, the
/// report and Delta tables written, the run recorded; an empty bucket and a held lock refused with a message.
/// </summary>
public sealed class BatchCommandTests
{
    private static readonly TimeSpan Timeout = TimeSpan.FromSeconds(180);

    [Fact]
    public async Task Batch_on_an_empty_bucket_exits_1_naming_what_is_missing_and_records_the_failed_run()
    {
        using var dir = new TempDirectory("cli");
        var (code, output) = await CliProcess.RunAsync(dir.Path, Timeout, "batch", "--user-id", "u9");
        Assert.True(code == 1, output);
        Assert.Contains("No raw objects", output, StringComparison.Ordinal);
        Assert.Contains("u9.pin", output, StringComparison.Ordinal);

        var (runsCode, runs) = await CliProcess.RunAsync(dir.Path, Timeout, "runs");
        Assert.Equal(0, runsCode);
        Assert.Contains("manual__", runs, StringComparison.Ordinal);
        Assert.Contains("failed", runs, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Batch_refuses_to_run_while_another_batch_run_holds_the_lock()
    {
        using var dir = new TempDirectory("cli");
        string history = Path.Combine(dir.Path, ".pinpipe", "runs.db");
        Directory.CreateDirectory(Path.GetDirectoryName(history)!);
        using var held = BatchRunLock.TryAcquire(BatchRunLock.PathFor(history));
        Assert.NotNull(held);

        var (code, output) = await CliProcess.RunAsync(dir.Path, Timeout, "batch");
        Assert.True(code == 1, output);
        Assert.Contains("another batch run is in progress", output, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Up_lands_both_lanes_then_prints_the_nine_answers_and_the_report_and_batch_reruns_with_nothing_new_and_full_rebuilds()
    {
        using var dir = new TempDirectory("cli");
        int port = CliProcess.FreePort();
        var (code, output) = await CliProcess.RunAsync(dir.Path, Timeout,
            "up", "--records", "300", "--rows", "1000", "--urls", $"http://127.0.0.1:{port}", "--user-id", "u7");
        Assert.True(code == 0, output);
        for (int n = 1; n <= 9; n++) Assert.Contains($"#{n} ", output, StringComparison.Ordinal);
        Assert.Contains("read        300 = clean", output, StringComparison.Ordinal);
        string reportLine = output.Split('\n').Single(l => l.StartsWith("Report: ", StringComparison.Ordinal));
        string report = reportLine["Report: ".Length..].Trim();
        Assert.True(File.Exists(report), report);

        string bucket = Path.Combine(dir.Path, ".pinpipe", "buckets", "user-u7-bucket");
        foreach (string table in new[] { "pin", "geo", "user", "pin_rejects", "geo_rejects", "user_rejects" })
            Assert.True(File.Exists(Path.Combine(bucket, "delta", table, "_delta_log", "00000000000000000000.json")), table);

        // The streaming lane ran beside it: every record posted to the streams is committed to its Delta table.
        foreach (string table in new[] { "pin", "geo", "user" })
        {
            Assert.Contains($"streaming-u7-{table}", output, StringComparison.Ordinal);
            string Line(string what) => output.Split('\n').Single(l => l.Contains($"streaming-u7-{table} ", StringComparison.Ordinal) && l.Contains(what, StringComparison.Ordinal));
            Assert.Contains("300 records committed to Delta", Line("records logged"), StringComparison.Ordinal);
            Assert.Contains("300 records in the log", Line("records in the log"), StringComparison.Ordinal);
            Assert.Contains($"rows in the Delta table delta/u7_{table}_table", Line("records in the log"), StringComparison.Ordinal);
            Assert.True(Directory.Exists(Path.Combine(bucket, "delta", $"u7_{table}_table", "_delta_log")), table);
        }
        Assert.Contains("stream lane: Emulator: 300 posts", output, StringComparison.Ordinal);

        // A second run finds nothing new (incremental): it commits nothing and still prints the answers over the whole tables.
        var (again, second) = await CliProcess.RunAsync(dir.Path, Timeout, "batch", "--user-id", "u7", "--rows", "3");
        Assert.True(again == 0, second);
        Assert.Contains("nothing new since the last run: nothing committed", second, StringComparison.Ordinal);
        Assert.Contains("Delta version 0 (unchanged)", second, StringComparison.Ordinal);
        for (int n = 1; n <= 9; n++) Assert.Contains($"#{n} ", second, StringComparison.Ordinal);
        Assert.False(File.Exists(Path.Combine(bucket, "delta", "pin", "_delta_log", "00000000000000000001.json")));
        // --full rebuilds every table: a new version by overwrite.
        var (rebuilt, third) = await CliProcess.RunAsync(dir.Path, Timeout, "batch", "--user-id", "u7", "--rows", "3", "--full");
        Assert.True(rebuilt == 0, third);
        Assert.Contains("(full rebuild)", third, StringComparison.Ordinal);
        Assert.True(File.Exists(Path.Combine(bucket, "delta", "pin", "_delta_log", "00000000000000000001.json")));

        var (_, runs) = await CliProcess.RunAsync(dir.Path, Timeout, "runs");
        Assert.Equal(3, runs.Split('\n').Count(l => l.Contains("succeeded", StringComparison.Ordinal)));
    }
}
