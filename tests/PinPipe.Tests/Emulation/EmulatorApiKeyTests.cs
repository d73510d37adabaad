using PinPipe.Configuration;
using PinPipe.Emulation;
using PinPipe.Ingest;
using PinPipe.Ingest.Keys;
using PinPipe.Tests.Ingest;
using PinPipe.Tests.Support;

namespace PinPipe.Tests.Emulation;

/// <summary>The emulator with <c>Emulator:ApiKey</c> against the real API needing keys, on both lanes.</summary>
public sealed class EmulatorApiKeyTests
{
    private static readonly PipelineNames Names = new("u1");

    /// <summary>10 posts (30 records) of <paramref name="lane"/> to <paramref name="api"/>, retried quickly, seed 5.</summary>
    internal static EmulatorOptions TenPosts(IngestApiHarness api, EmulatorLane lane) => new()
    {
        ApiUrl = api.Server.BaseAddress.ToString(),
        Lane = lane,
        Count = 10,
        Concurrency = 2,
        RetryBaseDelay = TimeSpan.FromMilliseconds(5),
        Seed = 5,
    };

    private static EmulatorOptions Options(IngestApiHarness api, EmulatorLane lane, string? key) => TenPosts(api, lane) with { ApiKey = key };

    [Theory]
    [InlineData(EmulatorLane.Batch)]
    [InlineData(EmulatorLane.Stream)]
    public async Task With_its_api_key_every_record_is_acknowledged_and_without_one_none_is_written(EmulatorLane lane)
    {
        using var dir = new TempDirectory("keys");
        var store = new KeyStore(dir.File("keys.json"));
        var (_, key) = await store.CreateAsync("emulator", KeyScope.Produce, "u1.*,streaming-u1-*");
        await using var api = await IngestApiHarness.StartAsync(new IngestOptions { KeysFile = store.Path },
            [.. Names.Topics.Concat(Names.Streams).Select(t => (t, 1))]);
        await using var source = InMemorySourceDatabase.Generate(50);

        var refused = await new Emulator(Options(api, lane, null), source, Names).RunAsync();
        Assert.Equal(30, refused.RecordsLost);
        Assert.Contains(refused.Errors, e => e.Contains("HTTP 403", StringComparison.Ordinal) && e.Contains("needs an API key", StringComparison.Ordinal));
        Assert.Equal(0, refused.Retries);
        Assert.Equal(0, await api.TotalRecordsAsync());

        var result = await new Emulator(Options(api, lane, key), source, Names).RunAsync();
        Assert.Equal(30, result.RecordsAcknowledged);
        Assert.Equal(0, result.RecordsLost);
        Assert.Empty(result.Errors);
        Assert.Equal(30, await api.TotalRecordsAsync());
    }

    [Fact]
    public async Task Throttled_by_its_keys_rate_limit_it_waits_as_Retry_After_says_and_loses_nothing()
    {
        using var dir = new TempDirectory("keys");
        var store = new KeyStore(dir.File("keys.json"));
        var (_, key) = await store.CreateAsync("emulator", KeyScope.Produce, null, rateLimit: 3);
        await using var api = await IngestApiHarness.StartAsync(new IngestOptions { KeysFile = store.Path }, [.. Names.Topics.Select(t => (t, 1))]);
        await using var source = InMemorySourceDatabase.Generate(50);

        // 4 posts are 12 requests: more than a bucket of 3 a second holds, so some are answered 429 and retried after Retry-After.
        var result = await new Emulator(Options(api, EmulatorLane.Batch, key) with { Count = 4, Concurrency = 1, MaxAttempts = 50 }, source, Names).RunAsync();

        Assert.Equal(12, result.RecordsAcknowledged);
        Assert.Equal(0, result.RecordsLost);
        Assert.True(result.Retries > 0, "no request was throttled");
        Assert.Equal(12, await api.TotalRecordsAsync());
    }
}
