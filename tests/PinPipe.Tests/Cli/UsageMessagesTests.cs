using PinPipe.Tests.Support;

namespace PinPipe.Tests.Cli;

/// <summary>What a new user reads on a typo, in <c>runs --help</c>, on a bad cron and after a failed batch (the CLI as a process).</summary>
public sealed class UsageMessagesTests
{
    private static readonly TimeSpan Timeout = TimeSpan.FromSeconds(60);

    [Fact]
    public async Task An_unknown_command_suggests_the_near_one_without_the_required_command_error_or_the_whole_help()
    {
        using var dir = new TempDirectory("cli");
        var (code, output) = await CliProcess.RunAsync(dir.Path, Timeout, "srve");
        Assert.True(code == 2, output);
        Assert.Equal(
            "error: 'srve' is not a command of `pinpipe`. Did you mean `pinpipe serve`? `pinpipe --help` lists the commands: up, seed, emulate, serve, sink, topics, keys, batch, stream, schedule, runs, vacuum, optimize, verify.",
            output.Trim());
        Assert.DoesNotContain("Required command was not provided", output, StringComparison.Ordinal);

        var (subCode, sub) = await CliProcess.RunAsync(dir.Path, Timeout, "topics", "creat", "orders");
        Assert.True(subCode == 2, sub);
        Assert.StartsWith("error: 'creat' is not a command of `pinpipe topics`. Did you mean `pinpipe topics create`?", sub.Trim(), StringComparison.Ordinal);
        Assert.False(Directory.Exists(Path.Combine(dir.Path, ".pinpipe")));
    }

    [Fact]
    public async Task Pinpipe_without_a_command_shows_the_help_and_exits_0_as_help_does()
    {
        using var dir = new TempDirectory("cli");
        var (code, output) = await CliProcess.RunAsync(dir.Path, Timeout);
        Assert.True(code == 0, output);
        Assert.DoesNotContain("Required command was not provided", output, StringComparison.Ordinal);
        Assert.Contains("Usage:", output, StringComparison.Ordinal);
        Assert.Contains("pinpipe [command] [options]", output, StringComparison.Ordinal);
        Assert.Contains("Commands:", output, StringComparison.Ordinal);
        var (helpCode, help) = await CliProcess.RunAsync(dir.Path, Timeout, "--help");
        Assert.True(helpCode == 0, help);
        Assert.Equal(help, output);

        // An unknown flag besides is still a usage error (exit 2), not the help alone.
        var (badCode, bad) = await CliProcess.RunAsync(dir.Path, Timeout, "--verbos");
        Assert.True(badCode == 2, bad);
        Assert.Equal(["error: '--verbos' is not a flag of `pinpipe`. Did you mean --verbose?", "`pinpipe --help` lists its flags."],
            bad.Split('\n', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries));
        Assert.False(Directory.Exists(Path.Combine(dir.Path, ".pinpipe")));
    }

    [Fact]
    public async Task An_unknown_flag_or_a_bad_value_is_one_error_line_each_with_the_near_flag_not_the_whole_help()
    {
        using var dir = new TempDirectory("cli");
        var (code, output) = await CliProcess.RunAsync(dir.Path, Timeout, "sink", "--flsh-size", "3");
        Assert.True(code == 2, output);
        Assert.Equal(
            [
                "error: '--flsh-size' is not a flag of `pinpipe sink`. Did you mean --flush-size?",
                "error: unexpected argument '3' for `pinpipe sink`.",
                "`pinpipe sink --help` lists its flags.",
            ],
            output.Split('\n', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries));

        var (valueCode, value) = await CliProcess.RunAsync(dir.Path, Timeout, "up", "--records", "abc");
        Assert.True(valueCode == 2, value);
        Assert.Equal("error: --records: 'abc' is not a whole number.", value.Split('\n')[0].Trim());
        Assert.DoesNotContain("Description:", value, StringComparison.Ordinal);
        Assert.DoesNotContain("Usage:", value, StringComparison.Ordinal);
        Assert.False(Directory.Exists(Path.Combine(dir.Path, ".pinpipe")));
    }

    [Fact]
    public async Task Runs_help_says_it_shows_manual_runs_beside_scheduled_ones()
    {
        using var dir = new TempDirectory("cli");
        var (code, output) = await CliProcess.RunAsync(dir.Path, Timeout, "runs", "--help");
        Assert.True(code == 0, output);
        Assert.Contains("manual runs (`pinpipe batch` and the batch job of `pinpipe up`", output, StringComparison.Ordinal);
        Assert.Contains("scheduled runs (`pinpipe schedule`", output, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("61 * * * *", "Schedule:Cron: '61 * * * *': the minute 61 is out of range 0-59.")]
    [InlineData("0 0 * 13 *", "Schedule:Cron: '0 0 * 13 *': the month 13 is out of range 1-12.")]
    public async Task A_cron_field_out_of_range_exits_2_naming_the_field_and_its_range(string cron, string expected)
    {
        using var dir = new TempDirectory("cli");
        var (code, output) = await CliProcess.RunAsync(dir.Path, Timeout, "schedule", "--cron", cron);
        Assert.True(code == 2, output);
        Assert.Contains(expected, output, StringComparison.Ordinal);
        Assert.False(Directory.Exists(Path.Combine(dir.Path, ".pinpipe")));
    }

    [Fact]
    public async Task A_failed_batch_in_an_empty_folder_leaves_no_empty_folder_behind_only_the_history_of_the_failed_run()
    {
        using var dir = new TempDirectory("cli");
        var (code, output) = await CliProcess.RunAsync(dir.Path, Timeout, "batch");
        Assert.True(code == 1, output);
        Assert.Contains("No raw objects", output, StringComparison.Ordinal);

        string data = Path.Combine(dir.Path, ".pinpipe");
        Assert.Empty(Directory.GetDirectories(data, "*", SearchOption.AllDirectories));
        Assert.Equal(["runs.db", "runs.db.lock"], Directory.GetFiles(data).Select(Path.GetFileName).Order(StringComparer.Ordinal));
        Assert.Equal([dir.Path + "/.pinpipe"], Directory.GetFileSystemEntries(dir.Path));

        // An output folder that existed keeps its earlier runs' folders and loses only the failed run's empty one.
        string earlier = Path.Combine(data, "runs", "manual__earlier");
        Directory.CreateDirectory(earlier);
        var (again, againOutput) = await CliProcess.RunAsync(dir.Path, Timeout, "batch");
        Assert.True(again == 1, againOutput);
        Assert.Equal([earlier], Directory.GetDirectories(Path.Combine(data, "runs")));
        Assert.False(Directory.Exists(Path.Combine(data, "buckets")));
    }
}
