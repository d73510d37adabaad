using PinPipe.Configuration;
using PinPipe.Hosting;
using PinPipe.Tests.Support;

namespace PinPipe.Tests.Hosting;

public sealed class SettingsLoaderTests
{
    private static readonly Dictionary<string, string?> NoOverrides = [];
    private static readonly Dictionary<string, string?> NoEnvironment = [];

    [Fact]
    public void Defaults_hold_when_nothing_is_given_and_every_name_derives_from_the_user_id()
    {
        var s = SettingsLoader.Load(null, NoOverrides, NoEnvironment);
        Assert.Equal("12885f560a0b", s.UserId);
        Assert.Equal(["12885f560a0b.pin", "12885f560a0b.geo", "12885f560a0b.user"], s.Names.Topics);
        Assert.Equal(["streaming-12885f560a0b-pin", "streaming-12885f560a0b-geo", "streaming-12885f560a0b-user"], s.Names.Streams);
        Assert.Equal("user-12885f560a0b-bucket", s.Names.Bucket);
        Assert.Equal("http://127.0.0.1:8082", s.Ingest.Urls);
        Assert.Equal(1000, s.Sink.FlushSize);
        Assert.Equal(11_000, s.Source.Rows);
    }

    [Fact]
    public void The_file_then_the_environment_then_flags_win_in_that_order()
    {
        using var dir = new TempDirectory("settings");
        var file = dir.File("pinpipe.json");
        File.WriteAllText(file, """{"UserId": "fromfile", "Sink": {"FlushSize": 10, "RotateScheduleInterval": "00:00:03"}, "Source": {"Rows": 5}, "Log": {"Kafka": {"bootstrap.servers": "b:9092"}}}""");
        var env = new Dictionary<string, string?> { ["PINPIPE_Sink__FlushSize"] = "20", ["PINPIPE_Source__Rows"] = "6", ["OTHER"] = "x" };
        var flags = new Dictionary<string, string?> { ["Source:Rows"] = "7" };

        var s = SettingsLoader.Load(file, flags, env);

        Assert.Equal("fromfile", s.UserId);
        Assert.Equal(20, s.Sink.FlushSize);
        Assert.Equal(TimeSpan.FromSeconds(3), s.Sink.RotateScheduleInterval);
        Assert.Equal(7, s.Source.Rows);
        Assert.Equal("b:9092", s.Log.Kafka["bootstrap.servers"]);
    }

    [Fact]
    public void Resolve_puts_relative_files_under_the_data_folder_and_names_the_bucket_and_topics()
    {
        var s = SettingsLoader.Load(null, new Dictionary<string, string?> { ["DataDir"] = "/tmp/pp", ["UserId"] = "u1" }, NoEnvironment).Resolve();
        Assert.Equal("/tmp/pp/log.db", s.Log.Path);
        Assert.Equal("/tmp/pp/buckets", s.ObjectStore.Root);
        Assert.Equal("user-u1-bucket", s.ObjectStore.Bucket);
        Assert.Equal("Data Source=/tmp/pp/source.db", s.Source.ConnectionString);
        Assert.Equal(["u1.pin", "u1.geo", "u1.user"], s.Sink.Topics);
    }

    [Fact]
    public void Every_invalid_setting_is_reported_at_once_naming_its_key()
    {
        var flags = new Dictionary<string, string?>
        {
            ["UserId"] = "bad id!",
            ["Sink:FlushSize"] = "0",
            ["Emulator:Lane"] = "sideways",
            ["Ingest:PathBase"] = "dev/",
            ["Log:Kind"] = "zookeeper",
        };
        var ex = Assert.Throws<SettingsException>(() => SettingsLoader.Load(null, flags, NoEnvironment));
        Assert.Equal(5, ex.Errors.Count);
        foreach (var key in new[] { "UserId", "Sink:FlushSize", "Emulator:Lane", "Ingest:PathBase", "Log:Kind" })
            Assert.Contains(ex.Errors, e => e.StartsWith(key + ":", StringComparison.Ordinal));
    }

    [Fact]
    public void A_misspelt_key_or_a_value_of_the_wrong_type_is_an_error_not_a_silent_default()
    {
        var typo = Assert.Throws<SettingsException>(() => SettingsLoader.Load(null, new Dictionary<string, string?> { ["Sink:FlushSise"] = "5" }, NoEnvironment));
        Assert.Contains("FlushSise", typo.Message, StringComparison.Ordinal);
        var type = Assert.Throws<SettingsException>(() => SettingsLoader.Load(null, NoOverrides, new Dictionary<string, string?> { ["PINPIPE_Sink__FlushSize"] = "many" }));
        Assert.Contains("Sink:FlushSize", type.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void A_missing_or_malformed_settings_file_is_named_in_the_error()
    {
        using var dir = new TempDirectory("settings");
        var missing = Assert.Throws<SettingsException>(() => SettingsLoader.Load(dir.File("nope.json"), NoOverrides, NoEnvironment));
        Assert.Contains("nope.json", missing.Message, StringComparison.Ordinal);
        var bad = dir.File("bad.json");
        File.WriteAllText(bad, "{ not json");
        var malformed = Assert.Throws<SettingsException>(() => SettingsLoader.Load(bad, NoOverrides, NoEnvironment));
        Assert.Contains("bad.json", malformed.Message, StringComparison.Ordinal);
    }
}
