using PinPipe.Configuration;
using PinPipe.Emulation;
using PinPipe.Hosting;
using PinPipe.Lake;
using PinPipe.Log;
using PinPipe.Source;
using PinPipe.Streaming;
using PinPipe.Tests.Emulation;
using PinPipe.Tests.Support;

namespace PinPipe.Tests.Hosting;

/// <summary>
/// The settings that name a kind (<c>Log:Kind</c>, <c>ObjectStore:Kind</c>, <c>Source:Provider</c>, <c>Emulator:Lane</c>,
/// <c>Stream:From</c>) are read in any case; anything else is an error naming the key and the valid values, from the
/// file and the environment alike; each options record checks itself once, so a limit holds everywhere with one message.
/// </summary>
public sealed class SettingsChoicesTests
{
    private static readonly Dictionary<string, string?> NoOverrides = [];
    private static readonly Dictionary<string, string?> NoEnvironment = [];

    public static TheoryData<string, string, string> BadKinds => new()
    {
        { "Log", "Kind", "Log:Kind: 'kafak' is not one of: sqlite, kafka." },
        { "ObjectStore", "Kind", "ObjectStore:Kind: 'kafak' is not one of: directory, s3." },
        { "Source", "Provider", "Source:Provider: 'kafak' is not one of: sqlite, mysql, postgres." },
        { "Emulator", "Lane", "Emulator:Lane: 'kafak' is not one of: batch, stream." },
        { "Stream", "From", "Stream:From: 'kafak' is not one of: earliest, latest." },
        { "Stream", "Parser", "Stream:Parser: 'kafak' is not one of: pinpipe, duckdb." },
        { "Batch", "Parser", "Batch:Parser: 'kafak' is not one of: pinpipe, duckdb." },
    };

    [Theory]
    [MemberData(nameof(BadKinds))]
    public void A_bad_kind_in_the_file_is_named_with_the_valid_values(string section, string key, string message)
    {
        using var dir = new TempDirectory("settings");
        var file = dir.File("pinpipe.json");
        File.WriteAllText(file, $$$"""{"{{{section}}}": {"{{{key}}}": "kafak"}}""");

        var ex = Assert.Throws<SettingsException>(() => SettingsLoader.Load(file, NoOverrides, NoEnvironment));

        Assert.Equal([$"{file}:1: {message}"], ex.Errors);
    }

    [Theory]
    [MemberData(nameof(BadKinds))]
    public void A_bad_kind_in_the_environment_is_named_with_the_valid_values(string section, string key, string message)
    {
        var env = new Dictionary<string, string?> { [$"PINPIPE_{section}__{key}"] = "kafak" };
        var ex = Assert.Throws<SettingsException>(() => SettingsLoader.Load(null, NoOverrides, env));
        Assert.Equal([$"environment PINPIPE_{section}__{key}: {message}"], ex.Errors);
    }

    [Theory]
    [InlineData("1")]
    [InlineData("sqlite,kafka")]
    [InlineData(" kafka")]
    public void Only_the_names_are_kinds_not_numbers_or_lists(string value)
    {
        var ex = Assert.Throws<SettingsException>(() => SettingsLoader.Load(null, new Dictionary<string, string?> { ["Log:Kind"] = value }, NoEnvironment));
        Assert.Equal([$"Log:Kind: '{value}' is not one of: sqlite, kafka."], ex.Errors);
    }

    [Fact]
    public void Kinds_are_read_in_any_case_from_the_file_the_environment_and_flags()
    {
        using var dir = new TempDirectory("settings");
        var file = dir.File("pinpipe.json");
        File.WriteAllText(file, """{"Log": {"Kind": "Kafka", "Kafka": {"bootstrap.servers": "b:9092"}}, "Source": {"Provider": "MySQL", "ConnectionString": "Server=h"}, "Stream": {"From": "LATEST"}}""");
        var env = new Dictionary<string, string?> { ["PINPIPE_ObjectStore__Kind"] = "S3" };
        var flags = new Dictionary<string, string?> { ["Emulator:Lane"] = "Stream" };

        var s = SettingsLoader.Load(file, flags, env);

        Assert.Equal(LogKind.Kafka, s.Log.Kind);
        Assert.Equal(SourceProvider.MySql, s.Source.Provider);
        Assert.Equal(StreamStart.Latest, s.Stream.From);
        Assert.Equal(ObjectStoreKind.S3, s.ObjectStore.Kind);
        Assert.Equal(EmulatorLane.Stream, s.Emulator.Lane);
        var lower = SettingsLoader.Load(null, new Dictionary<string, string?> { ["Source:Provider"] = "postgres", ["Source:ConnectionString"] = "Host=h", ["Log:Kind"] = "sqlite" }, NoEnvironment);
        Assert.Equal((SourceProvider.Postgres, LogKind.Sqlite), (lower.Source.Provider, lower.Log.Kind));
    }

    [Fact]
    public void A_bad_kind_is_reported_with_every_other_problem_at_once()
    {
        var flags = new Dictionary<string, string?> { ["Log:Kind"] = "zookeeper", ["Log:MaxTopics"] = "0", ["Stream:From"] = "middle", ["Sink:FlushSize"] = "0" };
        var ex = Assert.Throws<SettingsException>(() => SettingsLoader.Load(null, flags, NoEnvironment));
        Assert.Equal(4, ex.Errors.Count);
        Assert.Contains("Log:Kind: 'zookeeper' is not one of: sqlite, kafka.", ex.Errors);
        Assert.Contains("Stream:From: 'middle' is not one of: earliest, latest.", ex.Errors);
        Assert.Contains("Log:MaxTopics: 0 must be at least 1.", ex.Errors);
        Assert.Contains("Sink:FlushSize: 0 must be at least 1.", ex.Errors);
    }

    [Fact]
    public void The_stream_lanes_500_record_limit_is_one_check_with_one_message_in_the_settings_and_the_emulator()
    {
        const string Message = "Emulator:RecordsPerRequest: 501 must be at most 500 on the stream lane, the most records of one PutRecords.";
        var flags = new Dictionary<string, string?> { ["Emulator:Lane"] = "stream", ["Emulator:RecordsPerRequest"] = "501" };

        var ex = Assert.Throws<SettingsException>(() => SettingsLoader.Load(null, flags, NoEnvironment));
        var direct = Assert.Throws<ArgumentException>(() =>
            new Emulator(EmulatorOptions.Default with { Lane = EmulatorLane.Stream, RecordsPerRequest = 501 }, InMemorySourceDatabase.Generate(1), new PipelineNames("u1")));

        Assert.Equal([Message], ex.Errors);
        Assert.Contains(Message, direct.Message, StringComparison.Ordinal);
        Assert.Empty(SettingsLoader.Load(null, new Dictionary<string, string?> { ["Emulator:Lane"] = "batch", ["Emulator:RecordsPerRequest"] = "501" }, NoEnvironment).Validate());
    }

    [Theory]
    [InlineData("0")]
    [InlineData("-1")]
    public async Task RetentionBytes_is_one_check_with_one_message_in_the_settings_and_the_log(string bytes)
    {
        var message = $"Log:RetentionBytes: {bytes} must be more than 0 (or unset).";
        using var dir = new TempDirectory("settings");

        var ex = Assert.Throws<SettingsException>(() => SettingsLoader.Load(null, new Dictionary<string, string?> { ["Log:RetentionBytes"] = bytes }, NoEnvironment));
        var direct = await Assert.ThrowsAsync<ArgumentException>(() =>
            LogFactory.OpenAsync(new LogOptions { Path = dir.File("log.db"), RetentionBytes = long.Parse(bytes, System.Globalization.CultureInfo.InvariantCulture) }).AsTask());

        Assert.Equal([message], ex.Errors);
        Assert.Contains(message, direct.Message, StringComparison.Ordinal);
        Assert.False(File.Exists(dir.File("log.db")));
    }
}
