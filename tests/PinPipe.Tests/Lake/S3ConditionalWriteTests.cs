using Amazon.S3.Model;
using PinPipe.Hosting;
using PinPipe.Lake;
using PinPipe.Lake.S3;
using PinPipe.Tests.Support;

namespace PinPipe.Tests.Lake;

/// <summary>
/// The conditional-write contract (put-if-absent refuses an existing key; of concurrent writers exactly one wins) on S3:
/// s3rver behind <see cref="ConditionalPutProxy"/>, which enforces <c>If-None-Match: *</c> as S3 does, with
/// <c>ObjectStore:ConditionalWrites=true</c>. The same server without the proxy is the negative control
/// (<see cref="S3ObjectStoreTests"/>).
/// </summary>
public sealed class S3ConditionalWriteTests : ConditionalWriteObjectStoreContract, IAsyncLifetime, IDisposable
{
    private readonly string _bucket = "pinpipe-cw-" + Guid.NewGuid().ToString("N")[..16];
    private ConditionalPutProxy _proxy = null!;
    private S3ObjectStore _store = null!;

    protected override IObjectStore Store => _store;

    public async Task InitializeAsync() => (_proxy, _store) = await OpenAsync(_bucket);

    /// <summary>
    /// Starts a <see cref="ConditionalPutProxy"/> in front of the s3rver at TEST_PINPIPE_S3 and returns it with a store on a
    /// new bucket <paramref name="bucket"/> through it, with <c>ObjectStore:ConditionalWrites=true</c>.
    /// </summary>
    internal static async Task<(ConditionalPutProxy Proxy, S3ObjectStore Store)> OpenAsync(string bucket)
    {
        var options = S3ObjectStoreTests.S3rverOptions();
        var proxy = await ConditionalPutProxy.StartAsync(new Uri(options.ServiceUrl!), S3ObjectStoreTests.S3rverCredentials);
        var store = new S3ObjectStore(options with { ServiceUrl = proxy.Url, ConditionalWrites = ConditionalWrites.True }, bucket, S3ObjectStoreTests.S3rverCredentials);
        await store.Client.PutBucketAsync(new PutBucketRequest { BucketName = bucket });
        return (proxy, store);
    }

    public async Task DisposeAsync() => await _proxy.DisposeAsync();

    public void Dispose() => _store?.Dispose();

    [Fact]
    public async Task The_proxy_answers_412_to_a_conditional_put_of_an_existing_key_and_forwards_the_rest()
    {
        Assert.True(await _store.PutIfAbsentAsync("p/a.json", Bytes("a\n")));
        Assert.False(await _store.PutIfAbsentAsync("p/a.json", Bytes("b\n")));
        await _store.PutAsync("p/a.json", Bytes("c\n")); // a plain put still replaces it
        Assert.Equal(Bytes("c\n"), await _store.GetAsync("p/a.json"));
        Assert.Equal((2, 1), (_proxy.ConditionalPuts, _proxy.Refused));
    }
}

/// <summary><c>ObjectStore:ConditionalWrites</c>: read from the settings, checked naming the key.</summary>
public sealed class ConditionalWritesSettingsTests
{
    [Fact]
    public void Conditional_writes_is_auto_by_default_and_read_from_the_settings_in_any_case()
    {
        Assert.Equal(ConditionalWrites.Auto, new ObjectStoreOptions().ConditionalWrites);
        var env = new Dictionary<string, string?> { ["PINPIPE_ObjectStore__ConditionalWrites"] = "True" };
        Assert.Equal(ConditionalWrites.True, SettingsLoader.Load(null, new Dictionary<string, string?>(), env).ObjectStore.ConditionalWrites);
        env["PINPIPE_ObjectStore__ConditionalWrites"] = "false";
        Assert.Equal(ConditionalWrites.False, SettingsLoader.Load(null, new Dictionary<string, string?>(), env).ObjectStore.ConditionalWrites);
    }

    [Fact]
    public void A_value_other_than_auto_true_or_false_is_refused_naming_the_key()
    {
        var env = new Dictionary<string, string?> { ["PINPIPE_ObjectStore__ConditionalWrites"] = "maybe" };
        var e = Assert.ThrowsAny<Exception>(() => SettingsLoader.Load(null, new Dictionary<string, string?>(), env));
        Assert.Contains("ObjectStore:ConditionalWrites: 'maybe' is not one of: auto, true, false.", e.Message, StringComparison.Ordinal);
        Assert.Contains(new ObjectStoreOptions { ConditionalWrites = (ConditionalWrites)7 }.Validate(),
            p => p == "ObjectStore:ConditionalWrites: '7' is not one of: auto, true, false.");
    }

    [Fact]
    public void The_directory_store_is_safe_for_several_writers()
    {
        using var temp = new TempDirectory("cw-dir");
        var store = ObjectStoreFactory.Create(new ObjectStoreOptions { Root = temp.Path }, "b");
        Assert.True(store.AtomicPutIfAbsent);
        Assert.Null(ObjectStoreFactory.SeveralWritersProblem(store));
        Assert.True(new FetchingObjectStore(store).AtomicPutIfAbsent);
    }
}
