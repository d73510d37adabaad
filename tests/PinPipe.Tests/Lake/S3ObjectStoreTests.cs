using System.Net;
using Amazon.Runtime;
using Amazon.S3;
using Amazon.S3.Model;
using PinPipe.Lake;
using PinPipe.Lake.S3;

namespace PinPipe.Tests.Lake;

/// <summary>
/// Runs the object-store contract against a real S3-compatible server (s3rver, started by
/// <c>scripts/services/s3rver.sh start</c>; its address is read from TEST_PINPIPE_S3).
/// s3rver 3.7 ignores <c>If-None-Match</c> on PutObject (it overwrites), so the conditional-write tests
/// check what the store sends and how it reads S3's 412; the race itself is S3's guarantee.
/// </summary>
public sealed class S3ObjectStoreTests : ObjectStoreContract, IAsyncLifetime, IDisposable
{
    private static readonly BasicAWSCredentials S3rverCredentials = new("S3RVER", "S3RVER");
    private readonly string _bucket = "pinpipe-test-" + Guid.NewGuid().ToString("N")[..16];
    private readonly S3ObjectStore _store;

    public S3ObjectStoreTests()
    {
        string endpoint = Environment.GetEnvironmentVariable("TEST_PINPIPE_S3") is { Length: > 0 } e ? e
            : throw new InvalidOperationException(
                "TEST_PINPIPE_S3 is not set: run `scripts/services/s3rver.sh start` and then " +
                "`source ${TEST_PINPIPE_SERVICES_DIR:-/tmp/pinpipe-services}/s3.env` before `dotnet test`.");
        Options = new ObjectStoreOptions { Kind = ObjectStoreKind.S3, ServiceUrl = endpoint, ForcePathStyle = true };
        _store = new S3ObjectStore(Options, _bucket, S3rverCredentials);
    }

    private ObjectStoreOptions Options { get; }

    protected override IObjectStore Store => _store;

    public async Task InitializeAsync() => await _store.Client.PutBucketAsync(new PutBucketRequest { BucketName = _bucket });

    public Task DisposeAsync() => Task.CompletedTask;

    public void Dispose() => _store.Dispose();

    [Fact]
    public void Location_names_the_bucket() => Assert.Equal($"s3://{_bucket}", _store.Location);

    [Fact]
    public async Task Put_if_absent_sends_if_none_match_star_and_plain_put_does_not()
    {
        var seen = new List<(string Method, string? IfNoneMatch)>();
        _store.Client.BeforeRequestEvent += (_, e) =>
        {
            if (e is WebServiceRequestEventArgs w && w.Request is PutObjectRequest)
                lock (seen) seen.Add(("put", w.Headers.TryGetValue("If-None-Match", out string? v) ? v : null));
        };
        Assert.True(await _store.PutIfAbsentAsync("cw/a.json", Bytes("a\n")));
        await _store.PutAsync("cw/b.json", Bytes("b\n"));
        Assert.Equal([("put", "*"), ("put", (string?)null)], seen);
        Assert.Equal(Bytes("a\n"), await _store.GetAsync("cw/a.json"));
    }

    [Fact]
    public void A_412_precondition_failed_means_the_object_exists_and_a_409_conflict_is_retried()
    {
        Assert.True(S3ObjectStore.IsPreconditionFailed(new AmazonS3Exception("At least one of the pre-conditions you specified did not hold",
            ErrorType.Sender, "PreconditionFailed", "req", HttpStatusCode.PreconditionFailed)));
        Assert.False(S3ObjectStore.IsPreconditionFailed(new AmazonS3Exception("Access Denied", ErrorType.Sender, "AccessDenied", "req", HttpStatusCode.Forbidden)));
        Assert.True(S3ObjectStore.IsConditionalConflict(new AmazonS3Exception("conflict", ErrorType.Sender, "ConditionalRequestConflict", "req", HttpStatusCode.Conflict)));
        Assert.False(S3ObjectStore.IsConditionalConflict(new AmazonS3Exception("busy", ErrorType.Sender, "OperationAborted", "req", HttpStatusCode.Conflict)));
    }

    [Fact]
    public async Task Listing_pages_through_more_than_one_thousand_keys_in_order()
    {
        string[] keys = Enumerable.Range(0, 1_205).Select(i => $"many/{i:D5}.json").ToArray();
        // One at a time: s3rver's file store fails concurrent first writes into a new folder.
        foreach (string k in keys) await _store.PutAsync(k, Bytes("1"));
        Assert.Equal(keys, (await ListAsync("many/")).Select(o => o.Key));
    }

    [Fact]
    public async Task A_missing_bucket_is_an_error_not_an_empty_answer()
    {
        using var missing = new S3ObjectStore(Options, "pinpipe-no-such-bucket-" + Guid.NewGuid().ToString("N")[..8], S3rverCredentials);
        var e = await Assert.ThrowsAsync<AmazonS3Exception>(() => missing.PutAsync("x.json", Bytes("x")).AsTask());
        Assert.Equal(HttpStatusCode.NotFound, e.StatusCode);
        Assert.Equal("NoSuchBucket", e.ErrorCode);
    }
}
