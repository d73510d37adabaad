using PinPipe.Tests.Support;

namespace PinPipe.Tests.Cli;

/// <summary>
/// Settings as a new user meets them through the <c>pinpipe</c> process: every problem at once, each line naming where the
/// value came from (the file and line, the environment variable, the flag) and the key, in PinPipe's words; the same
/// duration forms in the file, the environment and flags; values checked before any work; bad input exits 2.
/// </summary>
public sealed class SettingsCommandLineTests
{
    private static readonly TimeSpan Timeout = TimeSpan.FromSeconds(60);

    [Fact]
    public async Task Bad_settings_from_the_file_the_environment_and_a_flag_exit_2_with_one_line_each_naming_its_source_and_key()
    {
        using var dir = new TempDirectory("cli");
        await File.WriteAllTextAsync(Path.Combine(dir.Path, "pinpipe.json"), """
            {
              "Sink": {
                "FlushSise": 500,
                "RotateScheduleInterval": "10s"
              },
              "Batch": { "MemoryLimit": "lots" }
            }
            """);
        var env = new Dictionary<string, string?> { ["PINPIPE_Bogus"] = "1", ["PINPIPE_Stream__Trigger"] = "soon" };

        var (code, output) = await CliProcess.RunWithEnvironmentAsync(env, dir.Path, Timeout, "batch", "--threads", "100000", "--tables-prefix", "x");

        Assert.True(code == 2, output);
        var lines = output.Split('\n', StringSplitOptions.TrimEntries);
        Assert.Contains("pinpipe.json:3: Sink:FlushSise: no such setting; did you mean Sink:FlushSize?", lines);
        Assert.Contains("environment PINPIPE_Bogus: Bogus: no such setting.", lines);
        Assert.Contains("environment PINPIPE_Stream__Trigger: Stream:Trigger: 'soon' is not a duration; use e.g. 500ms, 30s, 5m, 2h, 1d or hh:mm:ss.", lines);
        Assert.Contains("flag --threads: Batch:Threads: 100000 must be 0 (one per core) to 256: more threads than cores only adds contention, and each holds its own memory.", lines);
        Assert.Contains("pinpipe.json:6: Batch:MemoryLimit: 'lots' is not a memory limit; use a number and a unit (e.g. 4GB, 1250MB, 512MiB) or a percentage of the memory (e.g. 80%).", lines);
        Assert.DoesNotContain("BinderOptions", output, StringComparison.Ordinal);
        Assert.DoesNotContain("(Parameter '", output, StringComparison.Ordinal);
        Assert.False(Directory.Exists(Path.Combine(dir.Path, ".pinpipe")));
    }

    [Fact]
    public async Task A_malformed_settings_file_exits_2_naming_its_line_and_column()
    {
        using var dir = new TempDirectory("cli");
        await File.WriteAllTextAsync(Path.Combine(dir.Path, "pinpipe.json"), "{\n  \"Sink\": {\n    \"FlushSize\": 500\n    \"GroupId\": \"g\"\n  }\n}\n");

        var (code, output) = await CliProcess.RunAsync(dir.Path, Timeout, "runs");

        Assert.True(code == 2, output);
        Assert.Contains("pinpipe.json:4:5: not valid JSON: unexpected '\"'; expected ',' between values, or the closing '}' or ']'.", output, StringComparison.Ordinal);
        Assert.DoesNotContain("Failed to load configuration", output, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Durations_take_the_same_forms_in_the_file_the_environment_and_flags()
    {
        using var dir = new TempDirectory("cli");
        string config = Path.Combine(dir.Path, "settings.json");
        await File.WriteAllTextAsync(config, """{"Sink": {"RotateScheduleInterval": "10s"}, "Schedule": {"RetryDelay": "00:00:10"}}""");
        var env = new Dictionary<string, string?> { ["PINPIPE_Sink__RotateScheduleInterval"] = "5m", ["PINPIPE_Emulator__Duration"] = "1h" };

        // Valid in every layer: the settings load and `runs` answers (it reads the history only when it exists).
        var (code, output) = await CliProcess.RunWithEnvironmentAsync(env, dir.Path, Timeout, "runs", "--config", config);
        Assert.True(code == 0, output);
        Assert.Contains("No runs recorded yet", output, StringComparison.Ordinal);

        // Read in every layer: a duration the settings refuse is named with its value, read from each form.
        await File.WriteAllTextAsync(config, """{"Sink": {"RotateScheduleInterval": "0s"}}""");
        var bad = new Dictionary<string, string?> { ["PINPIPE_Emulator__Duration"] = "00:00:00" };
        var (badCode, badOutput) = await CliProcess.RunWithEnvironmentAsync(bad, dir.Path, Timeout, "up", "--config", config, "--trigger", "2h", "--urls", $"http://127.0.0.1:{CliProcess.FreePort()}");
        Assert.True(badCode == 2, badOutput);
        var lines = badOutput.Split('\n', StringSplitOptions.TrimEntries);
        Assert.Contains($"{config}:1: Sink:RotateScheduleInterval: 0s must be more than 0 (or unset).", lines);
        Assert.Contains("environment PINPIPE_Emulator__Duration: Emulator:Duration: 0s must be more than 0 (or unset).", lines);
        Assert.Contains("flag --trigger: Stream:Trigger: 2h must be more than 0 and at most 1 hour.", lines);
        Assert.False(Directory.Exists(Path.Combine(dir.Path, ".pinpipe")));
        Assert.DoesNotContain("Failed to convert", badOutput, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("--threads", "100000", "flag --threads: Batch:Threads: 100000 must be 0 (one per core) to 256")]
    [InlineData("--tables-prefix", "../../evil", "flag --tables-prefix: Batch:TablesPrefix: '../../evil' must be a key prefix in the bucket")]
    [InlineData("--memory-limit", "lots", "flag --memory-limit: Batch:MemoryLimit: 'lots' is not a memory limit")]
    [InlineData("--threads", "abc", "flag --threads: Batch:Threads: 'abc' is not a whole number.")]
    [InlineData("--bucket", "../elsewhere", "flag --bucket: ObjectStore:Bucket: '../elsewhere' must be one folder name")]
    public async Task A_batch_value_that_would_fail_the_work_exits_2_before_anything_is_written(string flag, string value, string message)
    {
        using var dir = new TempDirectory("cli");
        // Raw objects in the bucket: with good settings the batch would run and write its tables and run folder.
        string topics = Path.Combine(dir.Path, ".pinpipe", "buckets", "user-u1-bucket", "topics");
        foreach (var topic in new[] { "u1.pin", "u1.geo", "u1.user" })
        {
            string partition = Path.Combine(topics, topic, "partition=0");
            Directory.CreateDirectory(partition);
            await File.WriteAllTextAsync(Path.Combine(partition, $"{topic}+0+0000000000.json"), "{\"index\": 1}\n");
        }
        var before = Directory.GetFileSystemEntries(Path.Combine(dir.Path, ".pinpipe"), "*", SearchOption.AllDirectories).Order().ToArray();

        var (code, output) = await CliProcess.RunAsync(dir.Path, Timeout, "batch", "--user-id", "u1", flag, value);

        Assert.True(code == 2, output);
        Assert.Contains(message, output, StringComparison.Ordinal);
        Assert.DoesNotContain("(Parameter '", output, StringComparison.Ordinal);
        Assert.DoesNotContain("System.", output, StringComparison.Ordinal);
        Assert.Equal(before, Directory.GetFileSystemEntries(Path.Combine(dir.Path, ".pinpipe"), "*", SearchOption.AllDirectories).Order().ToArray());
    }

    [Fact]
    public async Task Up_lanes_are_read_in_any_case_as_the_other_choices_are()
    {
        using var dir = new TempDirectory("cli");
        // The lanes are accepted; the one problem left is the records count, so nothing runs.
        var (code, output) = await CliProcess.RunAsync(dir.Path, Timeout, "up", "--lanes", "Batch,STREAM", "--records", "-3");
        Assert.True(code == 2, output);
        Assert.Equal(["error: --records: -3 must be zero (until Ctrl-C) or more.", "`pinpipe up --help` lists its flags."],
            output.Split('\n', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries));
    }

    [Theory]
    [InlineData("--records", "-3", "--records: -3 must be zero (until Ctrl-C) or more.")]
    [InlineData("--lanes", "sideways", "--lanes: 'sideways' must be batch, stream or batch,stream.")]
    [InlineData("--records", "many", "--records: 'many' is not a whole number.")]
    public async Task A_bad_up_flag_exits_2_before_anything_is_done(string flag, string value, string message)
    {
        using var dir = new TempDirectory("cli");
        var (code, output) = await CliProcess.RunAsync(dir.Path, Timeout, "up", flag, value, "--urls", $"http://127.0.0.1:{CliProcess.FreePort()}");
        Assert.True(code == 2, output);
        Assert.Contains(message, output, StringComparison.Ordinal);
        Assert.DoesNotContain("System.", output, StringComparison.Ordinal);
        Assert.DoesNotContain("(Parameter '", output, StringComparison.Ordinal);
        Assert.False(Directory.Exists(Path.Combine(dir.Path, ".pinpipe")));
    }

    [Theory]
    [InlineData(new[] { "seed", "--provider", "mysql" }, "Source:ConnectionString: the mysql source database needs Source:ConnectionString")]
    [InlineData(new[] { "seed", "--provider", "postgres", "--connection-string", "Hots=db;Password=s3cret" }, "flag --connection-string: Source:ConnectionString: not a postgres connection string")]
    [InlineData(new[] { "sink", "--log", "kafka" }, "Log:Kafka:bootstrap.servers: the Kafka log needs the brokers' addresses")]
    public async Task Settings_that_a_driver_would_refuse_exit_2_in_our_words_without_parameter_names_or_secrets(string[] args, string message)
    {
        using var dir = new TempDirectory("cli");
        var (code, output) = await CliProcess.RunAsync(dir.Path, Timeout, args);
        Assert.True(code == 2, output);
        Assert.Contains(message, output, StringComparison.Ordinal);
        Assert.DoesNotContain("(Parameter '", output, StringComparison.Ordinal);
        Assert.DoesNotContain("s3cret", output, StringComparison.Ordinal);
        Assert.False(Directory.Exists(Path.Combine(dir.Path, ".pinpipe")));
    }
}
