using System.Net;
using Amazon.Runtime;
using Amazon.S3;
using Amazon.S3.Model;
using PinPipe.Errors;
using PinPipe.Lake;
using PinPipe.Lake.S3;

namespace PinPipe.Tests.Lake;

/// <summary>
/// Runs the object-store contract against a real S3-compatible server (s3rver, started by
/// <c>scripts/services/s3rver.sh start</c>; its address is read from TEST_PINPIPE_S3).
/// s3rver 3.7 ignores <c>If-None-Match</c> on PutObject (it overwrites), so the conditional-write tests here
/// check what the store sends and how it reads S3's 412, and that the store reports put-if-absent not atomic; the race
/// runs in <see cref="S3ConditionalWriteTests"/>, through a proxy that enforces the header as S3 does.
/// </summary>
public sealed class S3ObjectStoreTests : ObjectStoreContract, IAsyncLifetime, IDisposable
{
    internal static readonly BasicAWSCredentials S3rverCredentials = new("S3RVER", "S3RVER");
    private readonly string _bucket = "pinpipe-test-" + Guid.NewGuid().ToString("N")[..16];
    private readonly S3ObjectStore _store;

    public S3ObjectStoreTests()
    {
        Options = S3rverOptions();
        _store = new S3ObjectStore(Options, _bucket, S3rverCredentials);
    }

    /// <summary>The options of a store on the s3rver at TEST_PINPIPE_S3; throws, saying how to start it, when it is not set.</summary>
    internal static ObjectStoreOptions S3rverOptions()
    {
        string endpoint = Environment.GetEnvironmentVariable("TEST_PINPIPE_S3") is { Length: > 0 } e ? e
            : throw new InvalidOperationException(
                "TEST_PINPIPE_S3 is not set: run `scripts/services/s3rver.sh start` and then " +
                "`source ${TEST_PINPIPE_SERVICES_DIR:-/tmp/pinpipe-services}/s3.env` before `dotnet test`.");
        return new ObjectStoreOptions { Kind = ObjectStoreKind.S3, ServiceUrl = endpoint, ForcePathStyle = true };
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
    public async Task A_missing_bucket_is_a_permanent_error_naming_the_bucket_and_the_endpoint_not_an_empty_answer()
    {
        string name = "pinpipe-no-such-bucket-" + Guid.NewGuid().ToString("N")[..8];
        using var missing = new S3ObjectStore(Options, name, S3rverCredentials);
        var put = await Assert.ThrowsAsync<ObjectStoreException>(() => missing.PutAsync("x.json", Bytes("x")).AsTask());
        var get = await Assert.ThrowsAsync<ObjectStoreException>(() => missing.GetAsync("x.json").AsTask());
        var list = await Assert.ThrowsAsync<ObjectStoreException>(() => ListAsync(missing, ""));
        foreach (var e in new[] { put, get, list })
        {
            Assert.Equal(ObjectStoreErrorCode.BucketMissing, e.Code);
            Assert.Equal("store.bucket_missing", e.ErrorCode);
            Assert.Equal(ErrorKind.BadInput, e.Kind);
            Assert.False(e.IsRetriable);
            Assert.Equal($"bucket '{name}' at {Options.ServiceUrl}", e.Where);
            Assert.Contains($"aws s3 mb s3://{name} --endpoint-url {Options.ServiceUrl}", e.Message, StringComparison.Ordinal);
        }
    }

    [Fact]
    public async Task Check_bucket_fails_on_a_missing_bucket_and_creates_it_when_asked()
    {
        string name = "pinpipe-check-" + Guid.NewGuid().ToString("N")[..8];
        using var store = new S3ObjectStore(Options, name, S3rverCredentials);
        var e = await Assert.ThrowsAsync<ObjectStoreException>(() => store.CheckBucketAsync(create: false).AsTask());
        Assert.Equal(ObjectStoreErrorCode.BucketMissing, e.Code);

        Assert.True(await store.CheckBucketAsync(create: true));
        Assert.False(await store.CheckBucketAsync(create: true));
        Assert.False(await store.CheckBucketAsync(create: false));
        await store.PutAsync("a.json", Bytes("a"));
        Assert.Equal(Bytes("a"), await store.GetAsync("a.json"));
        Assert.False(await _store.CheckBucketAsync(create: false));
    }

    [Fact]
    public async Task Wrong_credentials_are_a_permanent_error_naming_what_to_check()
    {
        using var store = new S3ObjectStore(Options, _bucket, new BasicAWSCredentials("NOT-S3RVER", "wrong"));
        var e = await Assert.ThrowsAsync<ObjectStoreException>(() => store.CheckBucketAsync(create: false).AsTask());
        Assert.Equal(ObjectStoreErrorCode.BadCredentials, e.Code);
        Assert.False(e.IsRetriable);
        Assert.Contains("AWS_ACCESS_KEY_ID", e.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task An_endpoint_that_refuses_connections_is_a_transient_error()
    {
        string endpoint = $"http://127.0.0.1:{PinPipe.Tests.Support.CliProcess.FreePort()}";
        using var store = new S3ObjectStore(Options with { ServiceUrl = endpoint }, _bucket, S3rverCredentials);
        var e = await Assert.ThrowsAsync<ObjectStoreException>(() => store.GetAsync("a.json").AsTask());
        Assert.Equal(ObjectStoreErrorCode.Unavailable, e.Code);
        Assert.Equal(ErrorKind.Unavailable, e.Kind);
        Assert.True(e.IsRetriable);
        Assert.Equal($"bucket '{_bucket}' at {endpoint}", e.Where);
        Assert.StartsWith("cannot reach the object store (could not read object 'a.json'): ", e.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Straight_to_s3rver_put_if_absent_is_not_atomic_so_auto_reports_it_unsafe_for_several_writers()
    {
        // The negative control of the conditional-write tests: s3rver overwrites an existing key despite If-None-Match: *.
        Assert.True(await _store.PutIfAbsentAsync("nc/a.json", Bytes("first\n")));
        Assert.True(await _store.PutIfAbsentAsync("nc/a.json", Bytes("second\n")));
        Assert.Equal(Bytes("second\n"), await _store.GetAsync("nc/a.json"));

        Assert.Equal(ConditionalWrites.Auto, Options.ConditionalWrites);
        Assert.False(_store.AtomicPutIfAbsent);
        string problem = ObjectStoreFactory.SeveralWritersProblem(_store)!;
        Assert.Contains($"bucket '{_bucket}' at {Options.ServiceUrl}", problem, StringComparison.Ordinal);
        Assert.Contains("ObjectStore:ConditionalWrites=true", problem, StringComparison.Ordinal);

        // The setting overrides the guess either way; AWS (no ServiceUrl) is atomic under auto.
        using (var told = new S3ObjectStore(Options with { ConditionalWrites = ConditionalWrites.True }, _bucket, S3rverCredentials)) Assert.True(told.AtomicPutIfAbsent);
        var aws = new ObjectStoreOptions { Kind = ObjectStoreKind.S3, Region = "eu-west-1" };
        using (var onAws = new S3ObjectStore(aws, _bucket, S3rverCredentials)) Assert.True(onAws.AtomicPutIfAbsent);
        using (var refused = new S3ObjectStore(aws with { ConditionalWrites = ConditionalWrites.False }, _bucket, S3rverCredentials))
        {
            Assert.False(refused.AtomicPutIfAbsent);
            Assert.Contains("at AWS S3 (eu-west-1)", ObjectStoreFactory.SeveralWritersProblem(refused), StringComparison.Ordinal);
        }
    }

    [Fact]
    public void S3_answers_map_to_permanent_or_transient_failures()
    {
        using var store = new S3ObjectStore(Options, _bucket, S3rverCredentials);
        ObjectStoreException Map(string code, HttpStatusCode status) =>
            store.Translate(new AmazonS3Exception(code, ErrorType.Sender, code, "req", status), "doing");
        Assert.Equal(ObjectStoreErrorCode.BucketMissing, Map("NoSuchBucket", HttpStatusCode.NotFound).Code);
        Assert.Equal(ObjectStoreErrorCode.AccessDenied, Map("AccessDenied", HttpStatusCode.Forbidden).Code);
        Assert.Equal(ObjectStoreErrorCode.BadCredentials, Map("InvalidAccessKeyId", HttpStatusCode.Forbidden).Code);
        Assert.Equal(ObjectStoreErrorCode.BadCredentials, Map("SignatureDoesNotMatch", HttpStatusCode.Forbidden).Code);
        Assert.Equal(ObjectStoreErrorCode.Unavailable, Map("ServiceUnavailable", HttpStatusCode.ServiceUnavailable).Code);
        Assert.Equal(ObjectStoreErrorCode.Unavailable, Map("InternalError", HttpStatusCode.InternalServerError).Code);
        Assert.Equal(ObjectStoreErrorCode.Unavailable, Map("SlowDown", HttpStatusCode.ServiceUnavailable).Code);
        Assert.Equal(ObjectStoreErrorCode.Unavailable, Map("RequestTimeout", HttpStatusCode.BadRequest).Code);
        Assert.Equal(ObjectStoreErrorCode.Failed, Map("InvalidArgument", HttpStatusCode.BadRequest).Code);
        Assert.Equal(ObjectStoreErrorCode.Unavailable, store.Translate(new HttpRequestException("Connection refused"), "doing").Code);
        Assert.Equal(ErrorKind.Failed, Map("InvalidArgument", HttpStatusCode.BadRequest).Kind);
        Assert.Equal(ErrorKind.BadInput, Map("AccessDenied", HttpStatusCode.Forbidden).Kind);
    }

    private static async Task<List<ObjectInfo>> ListAsync(S3ObjectStore store, string prefix)
    {
        var all = new List<ObjectInfo>();
        await foreach (var o in store.ListAsync(prefix)) all.Add(o);
        return all;
    }
}
