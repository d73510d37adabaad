using PinPipe.Configuration;
using PinPipe.Hosting;
using PinPipe.Log.Kinesis;
using PinPipe.Streaming;

namespace PinPipe.Tests.Log.Kinesis;

/// <summary><c>Stream:Source</c> and the <c>Kinesis</c> section: settings like any other (file, environment, flags), each problem naming its key.</summary>
public sealed class KinesisSettingsTests
{
    private static readonly Dictionary<string, string?> None = [];

    [Fact]
    public void The_log_is_the_default_source_and_the_environment_chooses_kinesis_with_its_endpoint()
    {
        var defaults = SettingsLoader.Load(null, None, None);
        Assert.Equal(StreamSource.Log, defaults.Stream.Source);
        Assert.Null(defaults.Kinesis.ServiceUrl);
        Assert.Null(defaults.Kinesis.Region);

        var kinesis = SettingsLoader.Load(null, None, new Dictionary<string, string?>
        {
            ["PINPIPE_Stream__Source"] = "Kinesis",
            ["PINPIPE_Kinesis__ServiceUrl"] = "http://127.0.0.1:4567",
            ["PINPIPE_Kinesis__Region"] = "eu-west-1",
            ["PINPIPE_Kinesis__PollInterval"] = "1s",
        });

        Assert.Equal(StreamSource.Kinesis, kinesis.Stream.Source);
        Assert.Equal(("http://127.0.0.1:4567", "eu-west-1", TimeSpan.FromSeconds(1)), (kinesis.Kinesis.ServiceUrl, kinesis.Kinesis.Region, kinesis.Kinesis.PollInterval));
        var keys = new SettingsSchema(typeof(PinPipeSettings)).Keys;
        Assert.Contains("Stream:Source", keys);
        Assert.Contains("Kinesis:ServiceUrl", keys);
        // Credentials are never settings: the SDK's chain only.
        Assert.DoesNotContain(keys, k => k.StartsWith("Kinesis:", StringComparison.Ordinal) && (k.Contains("Key", StringComparison.Ordinal) || k.Contains("Secret", StringComparison.Ordinal)));
    }

    [Fact]
    public void An_unknown_source_is_named_with_the_choices()
    {
        var e = Assert.Throws<SettingsException>(() => SettingsLoader.Load(null, new Dictionary<string, string?> { ["Stream:Source"] = "kinesys" }, None));

        Assert.Contains("Stream:Source: 'kinesys' is not one of: log, kinesis.", e.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Every_bad_kinesis_setting_is_named()
    {
        var problems = new KinesisOptions
        {
            Region = "",
            ServiceUrl = "localhost:4567",
            MaxRecordsPerRead = 10_001,
            PollInterval = TimeSpan.Zero,
            ShardListInterval = TimeSpan.FromMilliseconds(10),
            RequestTimeout = TimeSpan.FromHours(1),
        }.Validate();

        Assert.Equal(6, problems.Count);
        foreach (string key in new[] { "Region", "ServiceUrl", "MaxRecordsPerRead", "PollInterval", "ShardListInterval", "RequestTimeout" })
            Assert.Contains(problems, p => p.StartsWith($"Kinesis:{key}: ", StringComparison.Ordinal));
        Assert.Empty(new KinesisOptions().Validate());
        Assert.Empty(new PinPipeSettings { Stream = new StreamOptions { Source = StreamSource.Kinesis } }.Validate());
    }
}
