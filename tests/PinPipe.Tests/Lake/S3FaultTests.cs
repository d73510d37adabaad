using Amazon.S3.Model;
using Microsoft.Extensions.Logging;
using PinPipe.Errors;
using PinPipe.Lake;
using PinPipe.Lake.S3;
using PinPipe.Tests.Observability;
using PinPipe.Tests.Support;

namespace PinPipe.Tests.Lake;

/// <summary>
/// The S3 store through <see cref="FaultProxy"/> in front of s3rver (TEST_PINPIPE_S3): each kind of fault (a 500
/// InternalError, a 503 SlowDown, an answer that never comes, a connection reset while the request is sent or while the
/// answer comes, a slow answer) is retried until the request succeeds, each failed attempt counted by kind in
/// <c>pinpipe_object_store_errors_total</c> and logged as one warning line; a request failing every attempt gives up with
/// a transient error, a permanent failure is not retried, and a put-if-absent whose answer was lost is told apart from
/// one that lost the race. Run alone (<see cref="SharedMetrics"/>): the counters are the process's.
/// </summary>
[Collection(SharedMetrics.Name)]
public sealed class S3FaultTests : IAsyncLifetime, IDisposable
{
    private readonly string _bucket = "pinpipe-faults-" + Guid.NewGuid().ToString("N")[..16];
    private readonly ObjectStoreOptions _options = S3ObjectStoreTests.S3rverOptions() with { SocketTimeout = TimeSpan.FromSeconds(2) };
    private readonly S3ObjectStore _direct;
    private readonly CapturedLogs _logs = new();

    public S3FaultTests() => _direct = new S3ObjectStore(_options, _bucket, S3ObjectStoreTests.S3rverCredentials);

    public async Task InitializeAsync() => await _direct.Client.PutBucketAsync(new PutBucketRequest { BucketName = _bucket });

    public Task DisposeAsync() => Task.CompletedTask;

    public void Dispose()
    {
        _direct.Dispose();
        _logs.Dispose();
    }

    private S3ObjectStore Through(FaultProxy proxy, ObjectStoreOptions? options = null) =>
        new((options ?? _options) with { ServiceUrl = proxy.Url }, _bucket, S3ObjectStoreTests.S3rverCredentials, _logs.CreateLogger("store"));

    private static byte[] Bytes(string text) => System.Text.Encoding.UTF8.GetBytes(text);

    /// <summary>The metric kind a fault's failed request is counted under.</summary>
    internal static string KindOf(Fault fault) => fault switch
    {
        Fault.InternalError => "server_error",
        Fault.SlowDown => "throttled",
        Fault.Stall => "timeout",
        Fault.ResetMidRequest or Fault.ResetMidResponse => "connection",
        Fault.OpaqueETag => "bad_answer",
        _ => throw new ArgumentOutOfRangeException(nameof(fault), fault, "not a failure"),
    };

    /// <summary>Failed S3 requests counted so far, by operation and kind.</summary>
    internal static async Task<Dictionary<(string Operation, string Kind), double>> ErrorsAsync() =>
        (await PrometheusText.ScrapeProcessAsync()).Find("pinpipe_object_store_errors_total")
            .ToDictionary(s => (s.Labels["operation"], s.Labels["kind"]), s => s.Value);

    /// <summary>What each (operation, kind) counter rose by between two readings (only those that rose).</summary>
    internal static Dictionary<(string Operation, string Kind), double> Rise(Dictionary<(string, string), double> before, Dictionary<(string, string), double> after) =>
        after.Where(kv => kv.Value > before.GetValueOrDefault(kv.Key)).ToDictionary(kv => kv.Key, kv => kv.Value - before.GetValueOrDefault(kv.Key));

    /// <summary>
    /// Asserts that every request the proxy failed was counted, once, under its kind. Timeouts may be more: on a loaded
    /// machine a request the proxy forwarded may go <see cref="ObjectStoreOptions.SocketTimeout"/> without a byte too.
    /// </summary>
    internal static void AssertCounted(FaultProxy proxy, Dictionary<(string Operation, string Kind), double> rise)
    {
        var counted = rise.GroupBy(r => r.Key.Kind).ToDictionary(g => g.Key, g => g.Sum(r => r.Value));
        var injected = Enum.GetValues<Fault>().Where(f => f is not (Fault.None or Fault.Slow))
            .GroupBy(KindOf).ToDictionary(g => g.Key, g => (double)g.Sum(proxy.Injected));
        string why = $"counted {string.Join(", ", rise)}; {proxy.Summary}";
        Assert.True(counted.Keys.All(injected.ContainsKey), why);
        foreach (var (kind, count) in injected)
            Assert.True(kind == "timeout" ? counted.GetValueOrDefault(kind) >= count : counted.GetValueOrDefault(kind) == count, why);
    }

    /// <summary>
    /// <see cref="AssertCounted"/>, and that each failure counted was logged as one line: the store's retry, or, after the
    /// last attempt, its caller's: a retry of what it was doing (a warning), or, for work beside it that gives up until its
    /// next turn (a Delta checkpoint, a compaction, a cleanup), a warning or error with the store's exception. Returns how
    /// many lines were the callers'.
    /// </summary>
    internal static int AssertCountedAndLogged(FaultProxy proxy, Dictionary<(string Operation, string Kind), double> rise, CapturedLogs logs)
    {
        AssertCounted(proxy, rise);
        var failed = logs.Entries.Where(e => e.Level >= LogLevel.Warning
            && (e.Message.Contains(" failed (attempt ", StringComparison.Ordinal) || IsStoreFailure(e.Exception))).ToList();
        int callers = failed.Count(e => !e.Message.StartsWith("S3 ", StringComparison.Ordinal));
        Assert.True(rise.Values.Sum() == failed.Count,
            $"{rise.Values.Sum()} failures counted ({string.Join(", ", rise.Select(r => $"{r.Key.Operation} {r.Key.Kind} {r.Value}"))}; {proxy.Summary}), {failed.Count} logged:\n" + string.Join("\n", failed.Select(e => $"{e.Level} {e.Category}: {e.Message}")));
        return callers;

        static bool IsStoreFailure(Exception? e)
        {
            for (; e is not null; e = e.InnerException)
                if (e is ObjectStoreException) return true;
            return false;
        }
    }

    private List<CapturedLogs.Entry> Warnings(string operation) =>
        _logs.Entries.Where(e => e.Level == LogLevel.Warning && e.Message.StartsWith($"S3 {operation} failed (attempt ", StringComparison.Ordinal)).ToList();

    [Theory]
    [InlineData(Fault.InternalError, "HTTP 500 InternalError")]
    [InlineData(Fault.SlowDown, "HTTP 503 SlowDown")]
    [InlineData(Fault.Stall, "no byte moved on the connection")]
    [InlineData(Fault.ResetMidRequest, "cannot reach the object store")]
    [InlineData(Fault.ResetMidResponse, "cannot reach the object store")]
    public async Task A_failed_put_get_list_and_download_are_each_retried_counted_by_kind_and_logged_once(Fault fault, string said)
    {
        await using var proxy = FaultProxy.Http(new Uri(_options.ServiceUrl!), FaultRates.None);
        using var store = Through(proxy);
        byte[] big = Bytes(string.Concat(Enumerable.Range(0, 8_000).Select(i => $"{{\"n\":{i}}}\n"))); // ~80 KB: a reset mid-answer cuts its body
        var before = await ErrorsAsync();

        proxy.Inject(fault);
        await store.PutAsync("f/big.json", big);
        proxy.Inject(fault);
        Assert.Equal(big, await store.GetAsync("f/big.json"));
        proxy.Inject(fault);
        var listed = new List<string>();
        await foreach (var o in store.ListAsync("f/")) listed.Add(o.Key);
        proxy.Inject(fault);
        using var temp = new TempDirectory("s3-fault");
        Assert.True(await store.GetFileAsync("f/big.json", temp.File("big.json")));

        Assert.Equal(["f/big.json"], listed);
        Assert.Equal(big, await File.ReadAllBytesAsync(temp.File("big.json")));
        Assert.Equal(big, await _direct.GetAsync("f/big.json"));
        Assert.Equal(4, proxy.Injected(fault));
        Assert.Equal(8, proxy.Requests);
        var rise = Rise(before, await ErrorsAsync());
        string kind = KindOf(fault);
        Assert.Equal(new Dictionary<(string, string), double> { [("PutObject", kind)] = 1, [("GetObject", kind)] = 2, [("ListObjectsV2", kind)] = 1 }, rise);
        foreach (var (operation, count) in new[] { ("PutObject", 1), ("GetObject", 2), ("ListObjectsV2", 1) })
        {
            var warnings = Warnings(operation);
            Assert.Equal(count, warnings.Count);
            Assert.All(warnings, w =>
            {
                Assert.Contains("failed (attempt 1): ", w.Message, StringComparison.Ordinal);
                Assert.Contains(said, w.Message, StringComparison.Ordinal);
                Assert.Contains($"(bucket '{_bucket}' at {proxy.Url}); retrying in ", w.Message, StringComparison.Ordinal);
                Assert.Null(w.Exception); // the stack trace goes to Debug only
            });
        }
    }

    [Fact]
    public async Task An_error_answer_cut_in_its_body_is_retried_not_taken_for_what_its_status_says()
    {
        // A 404 whose XML body breaks off could be NoSuchKey or NoSuchBucket: the store asks again rather than guess.
        await using var proxy = FaultProxy.Http(new Uri(_options.ServiceUrl!), FaultRates.None, 1, Fault.ResetMidResponse);
        using var store = Through(proxy);
        var before = await ErrorsAsync();
        Assert.Null(await store.GetAsync("missing/a.json"));
        Assert.Equal(2, proxy.Requests);
        Assert.Equal(new Dictionary<(string, string), double> { [("GetObject", "connection")] = 1 }, Rise(before, await ErrorsAsync()));
        Assert.Contains("cannot read the object store's answer (could not read object 'missing/a.json'): HTTP 404", Assert.Single(Warnings("GetObject")).Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task A_slow_answer_within_the_socket_timeout_is_no_failure()
    {
        await using var proxy = FaultProxy.Http(new Uri(_options.ServiceUrl!), FaultRates.None, 1, Fault.Slow, Fault.Slow);
        using var store = Through(proxy);
        var before = await ErrorsAsync();
        await store.PutAsync("s/a.json", Bytes("a\n"));
        Assert.Equal(Bytes("a\n"), await store.GetAsync("s/a.json"));
        Assert.Equal(2, proxy.Injected(Fault.Slow));
        Assert.Equal(2, proxy.Requests);
        Assert.Empty(Rise(before, await ErrorsAsync()));
        Assert.DoesNotContain(_logs.Entries, e => e.Level >= LogLevel.Warning);
    }

    [Fact]
    public async Task A_request_failing_every_attempt_gives_up_after_max_attempts_with_a_transient_error()
    {
        await using var proxy = FaultProxy.Http(new Uri(_options.ServiceUrl!), new FaultRates(SlowDown: 1));
        using var store = Through(proxy, _options with { MaxAttempts = 3 });
        var before = await ErrorsAsync();

        var e = await Assert.ThrowsAsync<ObjectStoreException>(() => store.PutAsync("g/a.json", Bytes("a\n")).AsTask());

        Assert.Equal(ObjectStoreErrorCode.Unavailable, e.Code);
        Assert.True(e.IsRetriable);
        Assert.Contains("HTTP 503 SlowDown", e.Message, StringComparison.Ordinal);
        Assert.Equal(3, proxy.Requests);
        Assert.Equal(new Dictionary<(string, string), double> { [("PutObject", "throttled")] = 3 }, Rise(before, await ErrorsAsync()));
        Assert.Equal(2, Warnings("PutObject").Count);
        Assert.Null(await _direct.GetAsync("g/a.json"));
    }

    [Fact]
    public async Task A_get_answered_with_an_ETag_that_is_not_an_MD5_is_retried_and_then_read()
    {
        // The AWS SDK checks a GET's body against the ETag when it looks like a single-part upload's (an MD5 in hex); an
        // S3-compatible store or gateway that sends another kind of ETag (or s3rver, racing a rewrite) fails that check.
        await _direct.PutAsync("e/a.json", Bytes("a\n"));
        await using var proxy = FaultProxy.Http(new Uri(_options.ServiceUrl!), FaultRates.None, 1, Fault.OpaqueETag);
        using var store = Through(proxy);
        var before = await ErrorsAsync();

        Assert.Equal(Bytes("a\n"), await store.GetAsync("e/a.json"));

        Assert.Equal(1, proxy.Injected(Fault.OpaqueETag));
        Assert.Equal(2, proxy.Requests);
        Assert.Equal(new Dictionary<(string, string), double> { [("GetObject", "bad_answer")] = 1 }, Rise(before, await ErrorsAsync()));
        Assert.Contains("as when its ETag is not the MD5 of the body in hex", Assert.Single(Warnings("GetObject")).Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task A_store_that_always_answers_such_ETags_gives_up_with_a_transient_error_saying_so()
    {
        await _direct.PutAsync("e/b.json", Bytes("b\n"));
        await using var proxy = FaultProxy.Http(new Uri(_options.ServiceUrl!), FaultRates.None, 1, Fault.OpaqueETag, Fault.OpaqueETag, Fault.OpaqueETag);
        using var store = Through(proxy, _options with { MaxAttempts = 3 });
        var before = await ErrorsAsync();

        var e = await Assert.ThrowsAsync<ObjectStoreException>(() => store.GetAsync("e/b.json").AsTask());

        Assert.Equal(ObjectStoreErrorCode.Unavailable, e.Code);
        Assert.Contains("could not read object 'e/b.json'", e.Message, StringComparison.Ordinal);
        Assert.Contains("as when its ETag is not the MD5 of the body in hex", e.Message, StringComparison.Ordinal);
        Assert.Equal(3, proxy.Requests);
        Assert.Equal(new Dictionary<(string, string), double> { [("GetObject", "bad_answer")] = 3 }, Rise(before, await ErrorsAsync()));
    }

    [Fact]
    public async Task A_permanent_failure_is_not_retried()
    {
        await using var proxy = FaultProxy.Http(new Uri(_options.ServiceUrl!), FaultRates.None);
        string missing = "pinpipe-none-" + Guid.NewGuid().ToString("N")[..8];
        using var store = new S3ObjectStore(_options with { ServiceUrl = proxy.Url }, missing, S3ObjectStoreTests.S3rverCredentials, _logs.CreateLogger("store"));
        var before = await ErrorsAsync();

        var e = await Assert.ThrowsAsync<ObjectStoreException>(() => store.GetAsync("a.json").AsTask());

        Assert.Equal(ObjectStoreErrorCode.BucketMissing, e.Code);
        Assert.Equal(1, proxy.Requests);
        Assert.Equal(new Dictionary<(string, string), double> { [("GetObject", "bucket_missing")] = 1 }, Rise(before, await ErrorsAsync()));
        Assert.Empty(Warnings("GetObject"));
    }

    [Fact]
    public async Task A_put_if_absent_whose_answer_was_lost_counts_as_written_only_when_the_object_holds_its_bytes()
    {
        // S3's conditional writes (ConditionalPutProxy answers 412 for an existing key), the faults in front of them.
        var (conditional, through) = await S3ConditionalWriteTests.OpenAsync(_bucket + "-cw");
        await using var _ = conditional;
        through.Dispose();
        await using var proxy = FaultProxy.Http(new Uri(conditional.Url), FaultRates.None);
        using var store = new S3ObjectStore(_options with { ServiceUrl = proxy.Url, ConditionalWrites = ConditionalWrites.True }, _bucket + "-cw",
            S3ObjectStoreTests.S3rverCredentials, _logs.CreateLogger("store"));

        // The first attempt writes the object, its answer never comes; the retry finds the key taken, by these very bytes.
        proxy.Inject(Fault.Stall);
        Assert.True(await store.PutIfAbsentAsync("c/00.json", Bytes("mine\n")));
        // Another writer's bytes under the key: the same lost answer (a 412 this time), then the retry's 412, is a lost race.
        proxy.Inject(Fault.Stall);
        Assert.False(await store.PutIfAbsentAsync("c/00.json", Bytes("theirs\n")));
        // Without a failed attempt, a 412 is a lost race whatever the object holds.
        Assert.False(await store.PutIfAbsentAsync("c/00.json", Bytes("mine\n")));

        Assert.Equal(Bytes("mine\n"), await store.GetAsync("c/00.json"));
        Assert.Equal(2, proxy.Injected(Fault.Stall));
        Assert.Equal(4, conditional.Refused);
    }

    [Fact]
    public void Socket_timeout_and_max_attempts_are_checked_naming_the_key()
    {
        var problems = new ObjectStoreOptions { SocketTimeout = TimeSpan.FromMilliseconds(50), MaxAttempts = 0 }.Validate();
        Assert.Contains(problems, p => p.StartsWith("ObjectStore:SocketTimeout: 50ms must be 100ms to 1h", StringComparison.Ordinal));
        Assert.Contains(problems, p => p.StartsWith("ObjectStore:MaxAttempts: 0 must be 1 to 20", StringComparison.Ordinal));
        Assert.Contains(new ObjectStoreOptions { SocketTimeout = TimeSpan.FromHours(2), MaxAttempts = 21 }.Validate(),
            p => p.StartsWith("ObjectStore:MaxAttempts: 21", StringComparison.Ordinal));
        Assert.Empty(new ObjectStoreOptions().Validate());
        Assert.Equal((TimeSpan.FromSeconds(30), 5), (new ObjectStoreOptions().SocketTimeout, new ObjectStoreOptions().MaxAttempts));
    }

    [Fact]
    public void Retry_waits_double_from_200ms_with_jitter()
    {
        for (int failures = 1; failures <= 6; failures++)
        {
            TimeSpan ceiling = TimeSpan.FromMilliseconds(200 * Math.Pow(2, failures - 1));
            TimeSpan wait = S3ObjectStore.RetryDelay(failures);
            Assert.InRange(wait, ceiling / 2, ceiling);
        }
        Assert.InRange(S3ObjectStore.RetryDelay(30), Retry.MaxDelay / 2, Retry.MaxDelay);
    }
}
