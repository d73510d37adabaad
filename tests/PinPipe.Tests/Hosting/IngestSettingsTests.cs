using PinPipe.Configuration;
using PinPipe.Hosting;

namespace PinPipe.Tests.Hosting;

/// <summary>The settings of the API's guards and limits: defaults, and every bad value named by its key.</summary>
public sealed class IngestSettingsTests
{
    private static readonly Dictionary<string, string?> NoEnvironment = [];

    private static SettingsException Refused(Dictionary<string, string?> flags) =>
        Assert.Throws<SettingsException>(() => SettingsLoader.Load(null, flags, NoEnvironment));

    [Fact]
    public void The_guards_and_limits_have_defaults_a_single_machine_holds()
    {
        var s = SettingsLoader.Load(null, new Dictionary<string, string?>(), NoEnvironment);
        Assert.Null(s.Ingest.AllowedHosts);
        Assert.Null(s.Ingest.AllowedOrigins);
        Assert.Equal(10_000, s.Ingest.MaxConcurrentConnections);
        Assert.Equal(200, s.Log.MaxTopics);
        Assert.Equal(1_000, s.Log.MaxPartitionsPerTopic);
    }

    [Fact]
    public void The_guards_are_set_from_the_environment_as_lists()
    {
        var s = SettingsLoader.Load(null, new Dictionary<string, string?>(), new Dictionary<string, string?>
        {
            ["PINPIPE_Ingest__AllowedHosts"] = "pinpipe.internal;10.0.0.5:8082",
            ["PINPIPE_Ingest__AllowedOrigins"] = "https://dash.example",
            ["PINPIPE_Ingest__MaxConcurrentConnections"] = "50",
        });
        Assert.Equal("pinpipe.internal;10.0.0.5:8082", s.Ingest.AllowedHosts);
        Assert.Equal("https://dash.example", s.Ingest.AllowedOrigins);
        Assert.Equal(50, s.Ingest.MaxConcurrentConnections);
    }

    [Fact]
    public void The_key_file_defaults_to_the_data_folder_and_the_key_settings_come_from_the_environment()
    {
        var defaults = SettingsLoader.Load(null, new Dictionary<string, string?> { ["DataDir"] = "/tmp/pp" }, NoEnvironment).Resolve();
        Assert.Equal("/tmp/pp/keys.json", defaults.Ingest.KeysFile);
        Assert.False(defaults.Ingest.AllowAnonymous);
        Assert.Null(defaults.Emulator.ApiKey);

        var s = SettingsLoader.Load(null, new Dictionary<string, string?> { ["DataDir"] = "/tmp/pp" }, new Dictionary<string, string?>
        {
            ["PINPIPE_Ingest__KeysFile"] = "secret/keys.json",
            ["PINPIPE_Ingest__AllowAnonymous"] = "true",
            ["PINPIPE_Emulator__ApiKey"] = "ppk_x",
        }).Resolve();
        Assert.Equal("/tmp/pp/secret/keys.json", s.Ingest.KeysFile);
        Assert.True(s.Ingest.AllowAnonymous);
        Assert.Equal("ppk_x", s.Emulator.ApiKey);
    }

    [Theory]
    [InlineData("streaming-u")]
    [InlineData("streaming-")]
    public void A_user_id_in_the_streams_namespace_is_refused(string userId)
    {
        var ex = Refused(new() { ["UserId"] = userId });
        Assert.Equal($"UserId: '{userId}' must not start with 'streaming-': its topics would be named as streams.", Assert.Single(ex.Errors));
    }

    [Fact]
    public void Bad_guards_and_limits_are_each_named_by_their_key()
    {
        var ex = Refused(new()
        {
            ["Ingest:AllowedHosts"] = "ok.example;http://bad/;host:99999",
            ["Ingest:AllowedOrigins"] = "https://dash.example/app;null;ftp://x",
            ["Ingest:MaxConcurrentConnections"] = "0",
            ["Log:MaxTopics"] = "0",
            ["Log:MaxPartitionsPerTopic"] = "10001",
        });
        Assert.Equal(
        [
            "Ingest:AllowedHosts: 'http://bad/' is not a host name, host:port or *.",
            "Ingest:AllowedHosts: 'host:99999' is not a host name, host:port or *.",
            "Ingest:AllowedOrigins: 'https://dash.example/app' is not an origin (http(s)://host[:port], no path) or *.",
            "Ingest:AllowedOrigins: 'null' is not an origin (http(s)://host[:port], no path) or *.",
            "Ingest:AllowedOrigins: 'ftp://x' is not an origin (http(s)://host[:port], no path) or *.",
            "Ingest:MaxConcurrentConnections: 0 must be 1 to 1000000.",
            "Log:MaxTopics: 0 must be at least 1.",
            "Log:MaxPartitionsPerTopic: 10001 must be 1 to 10000.",
        ], ex.Errors.Where(e => !e.StartsWith("Log:DefaultPartitions", StringComparison.Ordinal) && !e.StartsWith("Ingest:DefaultShardCount", StringComparison.Ordinal)));
    }

    [Fact]
    public void Default_partitions_and_shards_must_fit_the_per_topic_limit()
    {
        var ex = Refused(new() { ["Log:MaxPartitionsPerTopic"] = "4", ["Log:DefaultPartitions"] = "5", ["Ingest:DefaultShardCount"] = "8" });
        Assert.Equal(
        [
            "Ingest:DefaultShardCount: 8 must be 1 to Log:MaxPartitionsPerTopic (4).",
            "Log:DefaultPartitions: 5 must be 1 to Log:MaxPartitionsPerTopic (4).",
        ], ex.Errors);
    }
}
