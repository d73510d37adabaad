using PinPipe.Configuration;
using PinPipe.Hosting;
using PinPipe.Tests.DuckDb;
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

    [Fact]
    public void Every_bad_key_and_value_of_the_file_the_environment_and_the_flags_is_reported_at_once_naming_its_source_and_key()
    {
        using var dir = new TempDirectory("settings");
        var file = SettingsFileWith(dir, """
            {
              "Sink": {
                "FlushSise": 5,
                "RotateScheduleInterval": "soon"
              },
              "FlushSize": 3,
              "Batch": { "Threads": "many" }
            }
            """);
        var env = new Dictionary<string, string?> { ["PINPIPE_Bogus"] = "1", ["PINPIPE_Sink__FlushSize"] = "lots", ["PINPIPE_Stream__Trigger"] = "fast" };
        var flags = new Dictionary<string, string?> { ["Batch:Threads"] = "abc", ["Source:Rows"] = "-5", ["Log:MaxTopics"] = "1e3" };
        var flagNames = new Dictionary<string, string> { ["Batch:Threads"] = "--threads", ["Source:Rows"] = "--rows", ["Log:MaxTopics"] = "--max-topics" };

        var ex = Assert.Throws<SettingsException>(() => SettingsLoader.Load(file, flags, env, flagNames));

        Assert.Equal(
        [
            $"{file}:3: Sink:FlushSise: no such setting; did you mean Sink:FlushSize?",
            $"{file}:6: FlushSize: no such setting; did you mean Sink:FlushSize?",
            "environment PINPIPE_Bogus: Bogus: no such setting.",
            $"{file}:4: Sink:RotateScheduleInterval: 'soon' is not a duration; use e.g. 500ms, 30s, 5m, 2h, 1d or hh:mm:ss.",
            "flag --threads: Batch:Threads: 'abc' is not a whole number.",
            "environment PINPIPE_Sink__FlushSize: Sink:FlushSize: 'lots' is not a whole number.",
            "environment PINPIPE_Stream__Trigger: Stream:Trigger: 'fast' is not a duration; use e.g. 500ms, 30s, 5m, 2h, 1d or hh:mm:ss.",
            "flag --max-topics: Log:MaxTopics: '1e3' is not a whole number.",
            "flag --rows: Source:Rows: -5 must be zero or more.",
        ], ex.Errors);
        Assert.DoesNotContain("BinderOptions", ex.Message, StringComparison.Ordinal);
        Assert.DoesNotContain("System.", ex.Message, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("{\n  \"Sink\": {\n    \"FlushSize\": 5\n    \"GroupId\": \"g\"\n  }\n}", "4:5: not valid JSON: unexpected '\"'; expected ',' between values, or the closing '}' or ']'.")]
    [InlineData("{ not json", "1:3: not valid JSON: unexpected 'not'; a name must be in double quotes (\"FlushSize\").")]
    [InlineData("{\"Sink\": {\"FlushSize\": 5", "1:25: not valid JSON: the file ends before the JSON does (a '}' or ']' missing?).")]
    [InlineData("{\"Sink\" {}}", "1:9: not valid JSON: unexpected '{'; expected ':' after a name.")]
    [InlineData("{\"UserId\": \"é\", \"DataDir\": x}", "1:28: not valid JSON: unexpected 'x'; a value is a \"string\", a number, true, false, null, an object or an array.")]
    [InlineData("{} {}", "1:4: not valid JSON: unexpected '{' after the end of the settings object.")]
    [InlineData("[1]", "1: the file must hold one JSON object ({\"Sink\": {\"FlushSize\": 500}}), not an array.")]
    public void A_malformed_settings_file_is_named_with_the_line_and_column_of_the_problem(string json, string problem)
    {
        using var dir = new TempDirectory("settings");
        var file = SettingsFileWith(dir, json);

        var ex = Assert.Throws<SettingsException>(() => SettingsLoader.Load(file, NoOverrides, NoEnvironment));

        Assert.Equal([$"{file}:{problem}"], ex.Errors);
    }

    [Fact]
    public void Comments_trailing_commas_and_a_byte_order_mark_are_read_as_by_the_json_configuration()
    {
        using var dir = new TempDirectory("settings");
        var file = SettingsFileWith(dir, "{\n  // the sink\n  \"Sink\": { \"FlushSize\": 7, },\n  /* topics */ \"Log\": { \"RetentionBytes\": null },\n}", bom: true);

        var s = SettingsLoader.Load(file, NoOverrides, NoEnvironment);

        Assert.Equal(7, s.Sink.FlushSize);
        Assert.Null(s.Log.RetentionBytes);
    }

    [Fact]
    public void A_key_given_twice_in_the_file_is_named_with_both_lines()
    {
        using var dir = new TempDirectory("settings");
        var file = SettingsFileWith(dir, "{\n  \"Sink\": { \"FlushSize\": 7 },\n  \"sink\": { \"flushsize\": 8 }\n}");

        var ex = Assert.Throws<SettingsException>(() => SettingsLoader.Load(file, NoOverrides, NoEnvironment));

        Assert.Equal([$"{file}:3: sink:flushsize: given twice (also on line 2); keep one."], ex.Errors);
    }

    [Fact]
    public void Durations_take_the_same_forms_in_the_file_the_environment_and_flags()
    {
        using var dir = new TempDirectory("settings");
        var file = SettingsFileWith(dir, """{"Sink": {"RotateScheduleInterval": "10s"}, "Log": {"RetentionTime": "7d", "RetentionCheckInterval": "00:00:30"}}""");
        var env = new Dictionary<string, string?> { ["PINPIPE_Stream__Trigger"] = "250ms", ["PINPIPE_Schedule__RetryDelay"] = "5m" };
        var flags = new Dictionary<string, string?> { ["Emulator:Duration"] = "1h", ["Emulator:RetryBaseDelay"] = "1.5s" };

        var s = SettingsLoader.Load(file, flags, env);

        Assert.Equal(TimeSpan.FromSeconds(10), s.Sink.RotateScheduleInterval);
        Assert.Equal(TimeSpan.FromDays(7), s.Log.RetentionTime);
        Assert.Equal(TimeSpan.FromSeconds(30), s.Log.RetentionCheckInterval);
        Assert.Equal(TimeSpan.FromMilliseconds(250), s.Stream.Trigger);
        Assert.Equal(TimeSpan.FromMinutes(5), s.Schedule.RetryDelay);
        Assert.Equal(TimeSpan.FromHours(1), s.Emulator.Duration);
        Assert.Equal(TimeSpan.FromMilliseconds(1500), s.Emulator.RetryBaseDelay);
    }

    [Fact]
    public void A_null_in_the_file_still_unsets_a_setting_that_may_be_unset()
    {
        using var dir = new TempDirectory("settings");
        var file = SettingsFileWith(dir, """{"Sink": {"RotateScheduleInterval": null, "Topics": ["a.pin", "a.geo"]}, "Log": {"RetentionTime": null, "Kafka": {"linger.ms": "5"}}, "Ingest": {}}""");

        var s = SettingsLoader.Load(file, NoOverrides, NoEnvironment);

        Assert.Null(s.Sink.RotateScheduleInterval);
        Assert.Null(s.Log.RetentionTime);
        Assert.Equal(["a.pin", "a.geo"], s.Sink.Topics);
        Assert.Equal("5", s.Log.Kafka["linger.ms"]);
    }

    [Fact]
    public void A_null_or_an_empty_value_unsets_a_text_setting_that_may_be_unset_and_an_empty_required_one_is_refused()
    {
        using var dir = new TempDirectory("settings");
        var file = SettingsFileWith(dir, """
            {"Batch": {"ChunkSize": null}, "Metrics": {"Urls": null}, "Emulator": {"ApiKey": null},
             "Ingest": {"Certificate": null, "CertificateKey": null, "PathBase": null}}
            """);

        var s = SettingsLoader.Load(file, NoOverrides, new Dictionary<string, string?> { ["PINPIPE_Source__CredentialsFile"] = "" });

        Assert.Null(s.Batch.ChunkSize); // a sixth of Batch:MemoryLimit, as when not given
        Assert.Null(s.Metrics.Urls);
        Assert.Null(s.Emulator.ApiKey);
        Assert.Null(s.Ingest.Certificate);
        Assert.Null(s.Ingest.CertificateKey);
        Assert.Null(s.Ingest.PathBase);
        Assert.Null(s.Source.CredentialsFile);
        var refused = Assert.Throws<SettingsException>(() => SettingsLoader.Load(null, NoOverrides, new Dictionary<string, string?> { ["PINPIPE_UserId"] = "" }));
        Assert.Contains(refused.Errors, p => p.StartsWith("environment PINPIPE_UserId: UserId", StringComparison.Ordinal));
    }

    [Fact]
    public void The_settings_file_shown_in_the_readme_loads_as_it_is()
    {
        string readme = File.ReadAllText(Path.Combine(TestData.RepoRoot, "README.md"));
        int section = readme.IndexOf("\n## Configuration\n", StringComparison.Ordinal);
        Assert.True(section >= 0, "README has no Configuration section");
        int start = readme.IndexOf("```json\n", section, StringComparison.Ordinal) + "```json\n".Length;
        int end = readme.IndexOf("```", start, StringComparison.Ordinal);
        using var dir = new TempDirectory("settings");
        var file = SettingsFileWith(dir, readme[start..end]);

        var s = SettingsLoader.Load(file, NoOverrides, NoEnvironment);

        Assert.Equal("12885f560a0b", s.UserId);
        Assert.Equal(16_777_216, s.Ingest.MaxRequestBytes);
        Assert.Null(s.Batch.ChunkSize);
        Assert.Null(s.Metrics.Urls);
        Assert.Null(s.Log.RetentionBytes);
        Assert.Equal(1_048_576, s.Log.MaxRecordBytes);
        Assert.Equal("b-1.msk.example:9094", s.Log.Kafka["bootstrap.servers"]);
    }

    [Theory]
    [InlineData("PINPIPE_Sink", "5", "environment PINPIPE_Sink: Sink: is a section, not a value; set its keys (Sink:Topics, Sink:GroupId, Sink:TopicsDir, ...).")]
    [InlineData("PINPIPE_Log__Kafka", "x", "environment PINPIPE_Log__Kafka: Log:Kafka: takes named values (Log:Kafka:<name>), not one value.")]
    [InlineData("PINPIPE_Sink__FlushSize__Max", "5", "environment PINPIPE_Sink__FlushSize__Max: Sink:FlushSize:Max: no such setting.")]
    [InlineData("PINPIPE_Sink__Topics__first", "t", "environment PINPIPE_Sink__Topics__first: Sink:Topics:first: no such setting.")]
    [InlineData("PINPIPE_Ingest__ForcePathStyle", "true", "environment PINPIPE_Ingest__ForcePathStyle: Ingest:ForcePathStyle: no such setting; did you mean ObjectStore:ForcePathStyle?")]
    [InlineData("PINPIPE_ObjectStore__ForcePathStyle", "yes", "environment PINPIPE_ObjectStore__ForcePathStyle: ObjectStore:ForcePathStyle: 'yes' is not true or false.")]
    [InlineData("PINPIPE_Log__MaxTopics", "99999999999", "environment PINPIPE_Log__MaxTopics: Log:MaxTopics: 99999999999 is out of range (-2147483648 to 2147483647).")]
    [InlineData("PINPIPE_Emulator__Rate", "fast", "environment PINPIPE_Emulator__Rate: Emulator:Rate: 'fast' is not a number.")]
    public void A_value_where_a_section_list_or_map_goes_and_a_value_of_the_wrong_type_are_named_in_our_words(string variable, string value, string problem)
    {
        var ex = Assert.Throws<SettingsException>(() => SettingsLoader.Load(null, NoOverrides, new Dictionary<string, string?> { [variable] = value }));
        Assert.Equal([problem], ex.Errors);
    }

    [Theory]
    [InlineData("Batch:Threads", "100000", "Batch:Threads: 100000 must be 0 (one per core) to 256: more threads than cores only adds contention, and each holds its own memory.")]
    [InlineData("Batch:Threads", "-1", "Batch:Threads: -1 must be 0 (one per core) to 256: more threads than cores only adds contention, and each holds its own memory.")]
    [InlineData("Batch:TablesPrefix", "../../evil", "Batch:TablesPrefix: '../../evil' must be a key prefix in the bucket: names of letters, digits, '.', '_', '-' or '=' separated by '/', without '..' and without a leading or trailing '/' (e.g. delta).")]
    [InlineData("Batch:TablesPrefix", "/abs", "Batch:TablesPrefix: '/abs' must be a key prefix in the bucket: names of letters, digits, '.', '_', '-' or '=' separated by '/', without '..' and without a leading or trailing '/' (e.g. delta).")]
    [InlineData("Batch:TablesPrefix", "a b", "Batch:TablesPrefix: 'a b' must be a key prefix in the bucket: names of letters, digits, '.', '_', '-' or '=' separated by '/', without '..' and without a leading or trailing '/' (e.g. delta).")]
    [InlineData("Sink:TopicsDir", "x/../../y", "Sink:TopicsDir: 'x/../../y' must be a key prefix in the bucket: names of letters, digits, '.', '_', '-' or '=' separated by '/', without '..' and without a leading or trailing '/' (e.g. topics).")]
    [InlineData("Batch:MemoryLimit", "lots", "Batch:MemoryLimit: 'lots' is not a memory limit; use a number and a unit (e.g. 4GB, 1250MB, 512MiB) or a percentage of the memory (e.g. 80%).")]
    [InlineData("Stream:MemoryLimit", "400", "Stream:MemoryLimit: '400' is not a memory limit; use a number and a unit (e.g. 4GB, 1250MB, 512MiB) or a percentage of the memory (e.g. 80%).")]
    [InlineData("Batch:MemoryLimit", "150%", "Batch:MemoryLimit: '150%' is not a memory limit; use a number and a unit (e.g. 4GB, 1250MB, 512MiB) or a percentage of the memory (e.g. 80%).")]
    [InlineData("ObjectStore:Bucket", "../b", "ObjectStore:Bucket: '../b' must be one folder name: letters, digits, '.', '_' and '-', not '.' or '..'.")]
    [InlineData("ObjectStore:ServiceUrl", "localhost:9000", "ObjectStore:ServiceUrl: 'localhost:9000' must be an absolute http(s) URL (e.g. http://127.0.0.1:9000).")]
    [InlineData("Emulator:Concurrency", "100000", "Emulator:Concurrency: 100000 must be 1 to 1024: each request in flight holds a connection.")]
    [InlineData("Source:Provider", "mysql", "Source:ConnectionString: the mysql source database needs Source:ConnectionString (--connection-string, or PINPIPE_Source__ConnectionString for a password) or Source:CredentialsFile (--credentials-file).")]
    [InlineData("Log:Kind", "kafka", "Log:Kafka:bootstrap.servers: the Kafka log needs the brokers' addresses (host:port[,host:port...]): --bootstrap-servers, or Log:Kafka:bootstrap.servers in the settings.")]
    public void Values_that_would_fail_only_once_the_work_runs_are_refused_when_the_settings_load(string key, string value, string problem)
    {
        var ex = Assert.Throws<SettingsException>(() => SettingsLoader.Load(null, new Dictionary<string, string?> { [key] = value }, NoEnvironment));
        Assert.Equal([problem], ex.Errors);
    }

    [Fact]
    public void An_s3_bucket_name_follows_amazons_rules_and_a_connection_string_the_driver_cannot_read_is_named_without_its_text()
    {
        var bucket = Assert.Throws<SettingsException>(() => SettingsLoader.Load(null, new Dictionary<string, string?> { ["ObjectStore:Kind"] = "s3", ["ObjectStore:Bucket"] = "My_Bucket" }, NoEnvironment));
        Assert.Equal(["ObjectStore:Bucket: 'My_Bucket' is not an S3 bucket name: 3-63 lower-case letters, digits, '.' and '-', starting and ending with a letter or digit."], bucket.Errors);

        var connection = Assert.Throws<SettingsException>(() => SettingsLoader.Load(null, new Dictionary<string, string?> { ["Source:Provider"] = "mysql" },
            new Dictionary<string, string?> { ["PINPIPE_Source__ConnectionString"] = "Server=db;Pasword=s3cret" }));
        var problem = Assert.Single(connection.Errors);
        Assert.StartsWith("environment PINPIPE_Source__ConnectionString: Source:ConnectionString: not a mysql connection string (key=value;...): ", problem, StringComparison.Ordinal);
        Assert.DoesNotContain("s3cret", problem, StringComparison.Ordinal);
        Assert.DoesNotContain("(Parameter '", problem, StringComparison.Ordinal);
    }

    [Theory]
    [MemberData(nameof(DuckDbSessionTests.MemoryLimits), MemberType = typeof(DuckDbSessionTests))]
    public void Memory_limits_in_duckdbs_form_are_accepted(string limit)
    {
        var s = SettingsLoader.Load(null, new Dictionary<string, string?> { ["Batch:MemoryLimit"] = limit, ["Stream:MemoryLimit"] = limit }, NoEnvironment);
        Assert.Equal(limit, s.Batch.MemoryLimit);
    }

    /// <summary>Writes <paramref name="json"/> to <c>pinpipe.json</c> in <paramref name="dir"/> and returns its path.</summary>
    private static string SettingsFileWith(TempDirectory dir, string json, bool bom = false)
    {
        var file = dir.File("pinpipe.json");
        File.WriteAllText(file, json, new System.Text.UTF8Encoding(bom));
        return file;
    }
}
