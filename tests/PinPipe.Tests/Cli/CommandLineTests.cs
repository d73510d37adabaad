using PinPipe.Tests.Support;

namespace PinPipe.Tests.Cli;

/// <summary>The pinpipe command line as a user meets it: help everywhere, clear errors, non-zero exits.</summary>
public sealed class CommandLineTests
{
    private static readonly TimeSpan Timeout = TimeSpan.FromSeconds(60);

    [Theory]
    [InlineData("up")]
    [InlineData("seed")]
    [InlineData("emulate")]
    [InlineData("serve")]
    [InlineData("sink")]
    [InlineData("topics")]
    [InlineData("keys")]
    [InlineData("batch")]
    [InlineData("stream")]
    [InlineData("schedule")]
    [InlineData("runs")]
    public async Task Every_command_has_help_naming_its_settings_keys(string command)
    {
        using var dir = new TempDirectory("cli");
        var (code, output) = await CliProcess.RunAsync(dir.Path, Timeout, command, "--help");
        Assert.Equal(0, code);
        Assert.Contains("Usage:", output, StringComparison.Ordinal);
        Assert.Contains("[config: ", output, StringComparison.Ordinal);
        Assert.Contains("--data-dir", output, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Help_names_the_command_pinpipe_in_its_usage_lines()
    {
        using var dir = new TempDirectory("cli");
        var (code, output) = await CliProcess.RunAsync(dir.Path, Timeout, "--help");
        var (seedCode, seedOutput) = await CliProcess.RunAsync(dir.Path, Timeout, "seed", "--help");

        Assert.Equal((0, 0), (code, seedCode));
        Assert.Contains("Usage:\n  pinpipe [command] [options]", output.ReplaceLineEndings("\n"), StringComparison.Ordinal);
        Assert.Contains("Usage:\n  pinpipe seed [options]", seedOutput.ReplaceLineEndings("\n"), StringComparison.Ordinal);
        Assert.DoesNotContain("PinPipe.Cli", output + seedOutput, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Invalid_settings_exit_2_listing_every_problem_and_do_nothing()
    {
        using var dir = new TempDirectory("cli");
        var (code, output) = await CliProcess.RunAsync(dir.Path, Timeout, "sink", "--flush-size", "0", "--user-id", "no spaces");
        Assert.Equal(2, code);
        Assert.Contains("Sink:FlushSize: 0 must be at least 1", output, StringComparison.Ordinal);
        Assert.Contains("UserId: 'no spaces'", output, StringComparison.Ordinal);
        Assert.False(Directory.Exists(Path.Combine(dir.Path, ".pinpipe")));
    }

    [Fact]
    public async Task A_bad_duration_flag_is_a_parse_error()
    {
        using var dir = new TempDirectory("cli");
        var (code, output) = await CliProcess.RunAsync(dir.Path, Timeout, "emulate", "--duration", "forever");
        Assert.NotEqual(0, code);
        Assert.Contains("'forever' is not a duration", output, StringComparison.Ordinal);
    }

    [Fact]
    public async Task The_sink_says_to_start_serve_first_when_the_embedded_log_does_not_exist()
    {
        using var dir = new TempDirectory("cli");
        var (code, output) = await CliProcess.RunAsync(dir.Path, Timeout, "sink");
        Assert.Equal(3, code); // the log's owner (a dependency) is not running
        Assert.Contains("does not exist", output, StringComparison.Ordinal);
        Assert.Contains("pinpipe serve", output, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Seed_fills_an_empty_source_once_and_emulate_reports_loss_with_a_non_zero_exit_when_no_api_answers()
    {
        using var dir = new TempDirectory("cli");
        var seeded = await CliProcess.RunAsync(dir.Path, Timeout, "seed", "--rows", "500");
        Assert.True(seeded.ExitCode == 0, seeded.Output);
        Assert.Contains("Seeded 500 posts", seeded.Output, StringComparison.Ordinal);
        var again = await CliProcess.RunAsync(dir.Path, Timeout, "seed", "--rows", "500");
        Assert.Equal(0, again.ExitCode);
        Assert.Contains("already holds 500 posts", again.Output, StringComparison.Ordinal);

        var port = CliProcess.FreePort();
        var lost = await CliProcess.RunAsync(dir.Path, Timeout, "emulate", "--count", "3", "--api-url", $"http://127.0.0.1:{port}", "--max-attempts", "2");
        Assert.Equal(1, lost.ExitCode);
        Assert.Contains("LOST: 9 records", lost.Output, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Serve_puts_no_file_watch_on_its_working_folder_where_the_data_folder_is()
    {
        // ASP.NET Core's default host watches appsettings.json in the working folder, recursively: with the data folder
        // (.pinpipe) inside it, every write of the log woke the watcher. Checked as Linux shows it: no inotify watch at all.
        using var dir = new TempDirectory("cli");
        int port = CliProcess.FreePort();
        await using var serve = CliProcess.Start(dir.Path, "serve", "--urls", $"http://127.0.0.1:{port}");
        await serve.WaitHealthyAsync(new Uri($"http://127.0.0.1:{port}/healthz"), Timeout);
        Assert.True(Directory.Exists(Path.Combine(dir.Path, ".pinpipe")), "the data folder is in the working folder");
        var watches = new List<string>();
        foreach (var fd in Directory.GetFiles($"/proc/{serve.Id}/fdinfo"))
        {
            try { watches.AddRange((await File.ReadAllLinesAsync(fd)).Where(l => l.StartsWith("inotify wd:", StringComparison.Ordinal))); }
            catch (IOException) { } // a descriptor closed meanwhile
        }
        Assert.True(watches.Count == 0, $"serve holds {watches.Count} inotify watches:\n{string.Join('\n', watches)}");
    }

    [Fact]
    public async Task Serve_stops_cleanly_on_sigterm()
    {
        using var dir = new TempDirectory("cli");
        int port = CliProcess.FreePort();
        await using var serve = CliProcess.Start(dir.Path, "serve", "--urls", $"http://127.0.0.1:{port}");
        await serve.WaitHealthyAsync(new Uri($"http://127.0.0.1:{port}/healthz"), Timeout);
        Assert.Equal(0, await serve.SignalAsync("TERM", Timeout));
        Assert.Contains("Stopping", serve.Output, StringComparison.Ordinal);
    }
}
