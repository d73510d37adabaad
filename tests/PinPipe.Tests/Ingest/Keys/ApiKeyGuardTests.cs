using System.Net;
using System.Net.Http.Headers;
using System.Text;
using PinPipe.Ingest;
using PinPipe.Ingest.Keys;
using PinPipe.Log;
using PinPipe.Tests.Support;

namespace PinPipe.Tests.Ingest.Keys;

/// <summary>
/// API keys on the real API over real HTTP: a missing, unknown, revoked or out-of-scope key is 403 in the route family's
/// shape and writes nothing; streams are created and deleted with admin keys only; keys created or revoked while the
/// server runs count at the next request; beyond loopback the server does not start without a key unless told to.
/// </summary>
public sealed class ApiKeyGuardTests : IDisposable
{
    private const string Topic = "t.pin";
    private const string Stream = "streaming-t-pin";
    private const string Produce = """{"records":[{"value":{"a":1}}]}""";
    private const string PutRecord = """{"Data":{"a":1},"PartitionKey":"p"}""";
    private const string PutRecords = """{"records":[{"data":{"a":1},"partition-key":"p"}]}""";

    private readonly TempDirectory _dir = new("keys");
    private readonly KeyStore _store;

    public ApiKeyGuardTests() => _store = new KeyStore(_dir.File("keys.json"));

    public void Dispose() => _dir.Dispose();

    private Task<IngestApiHarness> StartAsync(IngestOptions? options = null) =>
        IngestApiHarness.StartAsync((options ?? new IngestOptions()) with { KeysFile = _store.Path }, (Topic, 1), (Stream, 1));

    private enum Via { XApiKey, Bearer }

    private static async Task<HttpResponseMessage> SendAsync(IngestApiHarness api, HttpMethod method, string path, string? body, string? key, Via via = Via.XApiKey)
    {
        using var request = new HttpRequestMessage(method, path.TrimStart('/'));
        if (body is not null)
        {
            request.Content = new ByteArrayContent(Encoding.UTF8.GetBytes(body));
            request.Content.Headers.ContentType = MediaTypeHeaderValue.Parse(path.StartsWith("topics", StringComparison.Ordinal) ? IngestApiHarness.JsonV2 : "application/json");
        }
        if (key is not null && via == Via.XApiKey) request.Headers.Add("x-api-key", key);
        if (key is not null && via == Via.Bearer) request.Headers.Authorization = new AuthenticationHeaderValue("Bearer", key);
        return await api.Client.SendAsync(request);
    }

    /// <summary>
    /// Waits until a read (<c>GET /topics</c>, which writes nothing) with <paramref name="key"/> (null: none) answers
    /// <paramref name="expected"/>: the server looks at the key file at most every <see cref="ApiKeyGuard.RecheckEvery"/>.
    /// </summary>
    internal static async Task UntilKeysSeenAsync(HttpClient client, string? key, HttpStatusCode expected)
    {
        var deadline = DateTime.UtcNow + ApiKeyGuard.RecheckEvery * 10;
        while (true)
        {
            using var request = new HttpRequestMessage(HttpMethod.Get, "topics");
            if (key is not null) request.Headers.Add("x-api-key", key);
            using var response = await client.SendAsync(request);
            if (response.StatusCode == expected) return;
            Assert.True(DateTime.UtcNow < deadline, $"GET /topics still answers {(int)response.StatusCode}, not {(int)expected}, {ApiKeyGuard.RecheckEvery * 10} after the key file changed");
            await Task.Delay(50);
        }
    }

    /// <summary>Every topic and stream with each partition's end offset: what a refused request must leave as it was.</summary>
    private static async Task<string> LogStateAsync(IngestApiHarness api)
    {
        var state = new StringBuilder();
        foreach (var t in await api.Log.ListTopicsAsync())
            for (int p = 0; p < t.Partitions; p++)
            {
                long high = (await api.Log.GetWatermarksAsync(t.Name, p)).High;
                state.Append(System.Globalization.CultureInfo.InvariantCulture, $"{t.Name}/{p}:{high};");
            }
        return state.ToString();
    }

    private static async Task AssertForbiddenAsync(HttpResponseMessage response, string path, string messagePart)
    {
        if (path.StartsWith("streams", StringComparison.Ordinal))
            await KinesisErrorTests.AssertKinesisErrorAsync(response, HttpStatusCode.Forbidden, "AccessDeniedException", messagePart);
        else
            await KafkaRestErrorTests.AssertRestErrorAsync(response, HttpStatusCode.Forbidden, 40301, messagePart);
    }

    public static TheoryData<string, string, string?> Routes => new()
    {
        { "POST", $"topics/{Topic}", Produce },
        { "POST", $"topics/{Topic}/partitions/0", Produce },
        { "PUT", $"streams/{Stream}/record", PutRecord },
        { "PUT", $"streams/{Stream}/records", PutRecords },
        { "POST", "streams/streaming-new", """{"ShardCount":1}""" },
        { "DELETE", $"streams/{Stream}", null },
        { "GET", "topics", null },
        { "GET", $"topics/{Topic}", null },
        { "GET", "streams", null },
        { "GET", $"streams/{Stream}", null },
    };

    [Theory]
    [MemberData(nameof(Routes))]
    public async Task A_missing_unknown_or_revoked_key_is_403_in_the_route_familys_shape_and_changes_nothing(string method, string path, string? body)
    {
        var (_, revoked) = await _store.CreateAsync("old", KeyScope.Admin, null);
        await _store.RevokeAsync("old");
        await _store.CreateAsync("ops", KeyScope.Admin, null);
        await using var api = await StartAsync();
        string before = await LogStateAsync(api);

        using (var missing = await SendAsync(api, new HttpMethod(method), path, body, null))
            await AssertForbiddenAsync(missing, path, "This API needs an API key: send it in the x-api-key header or as 'Authorization: Bearer <key>'");
        string unknownKey = KeyStore.SecretPrefix + "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA";
        foreach (string key in new[] { unknownKey, revoked })
        {
            using var refused = await SendAsync(api, new HttpMethod(method), path, body, key);
            string text = await refused.Content.ReadAsStringAsync();
            Assert.DoesNotContain(key, text, StringComparison.Ordinal);
            await AssertForbiddenAsync(refused, path, "The API key is unknown or revoked");
        }
        Assert.Equal(before, await LogStateAsync(api));
    }

    [Fact]
    public async Task A_produce_key_writes_only_to_the_topics_and_streams_its_pattern_matches()
    {
        var (_, key) = await _store.CreateAsync("pins", KeyScope.Produce, "t.*");
        await using var api = await StartAsync();

        using (var ok = await SendAsync(api, HttpMethod.Post, $"topics/{Topic}", Produce, key))
            Assert.Equal(HttpStatusCode.OK, ok.StatusCode);
        using (var partition = await SendAsync(api, HttpMethod.Post, $"topics/{Topic}/partitions/0", Produce, key))
            Assert.Equal(HttpStatusCode.OK, partition.StatusCode);
        string before = await LogStateAsync(api);
        foreach (var (method, path, body) in new[] { ("PUT", $"streams/{Stream}/record", PutRecord), ("PUT", $"streams/{Stream}/records", PutRecords), ("POST", "topics/u.pin", Produce) })
        {
            using var refused = await SendAsync(api, new HttpMethod(method), path, body, key);
            string target = path.Split('/')[1];
            await AssertForbiddenAsync(refused, path, $"Key 'pins' may not produce to '{target}' (it may produce to 't.*')");
        }
        Assert.Equal(before, await LogStateAsync(api));
        Assert.Equal(2, await api.TotalRecordsAsync());
    }

    [Fact]
    public async Task Creating_and_deleting_a_stream_needs_an_admin_key()
    {
        var (_, produce) = await _store.CreateAsync("ci", KeyScope.Produce, null);
        var (_, admin) = await _store.CreateAsync("ops", KeyScope.Admin, null);
        await using var api = await StartAsync();

        using (var create = await SendAsync(api, HttpMethod.Post, "streams/streaming-new", """{"ShardCount":1}""", produce))
            await AssertForbiddenAsync(create, "streams", "Creating or deleting the stream 'streaming-new' needs an admin key; key 'ci' has the scope produce");
        Assert.Null(await api.Log.DescribeTopicAsync("streaming-new"));
        using (var delete = await SendAsync(api, HttpMethod.Delete, $"streams/{Stream}", null, produce))
            await AssertForbiddenAsync(delete, "streams", "needs an admin key");
        Assert.NotNull(await api.Log.DescribeTopicAsync(Stream));
        // Produce keys still produce anywhere without a pattern.
        using (var put = await SendAsync(api, HttpMethod.Put, $"streams/{Stream}/record", PutRecord, produce))
            Assert.Equal(HttpStatusCode.OK, put.StatusCode);

        using (var create = await SendAsync(api, HttpMethod.Post, "streams/streaming-new", """{"ShardCount":1}""", admin))
            Assert.True(create.IsSuccessStatusCode, await create.Content.ReadAsStringAsync());
        Assert.NotNull(await api.Log.DescribeTopicAsync("streaming-new"));
        using (var delete = await SendAsync(api, HttpMethod.Delete, "streams/streaming-new", null, admin))
            Assert.True(delete.IsSuccessStatusCode, await delete.Content.ReadAsStringAsync());
        Assert.Null(await api.Log.DescribeTopicAsync("streaming-new"));
    }

    [Fact]
    public async Task Authorization_Bearer_works_as_x_api_key_does_and_another_scheme_is_no_key()
    {
        var (_, key) = await _store.CreateAsync("ci", KeyScope.Produce, null);
        await using var api = await StartAsync();

        using (var bearer = await SendAsync(api, HttpMethod.Post, $"topics/{Topic}", Produce, key, Via.Bearer))
            Assert.Equal(HttpStatusCode.OK, bearer.StatusCode);
        using (var put = await SendAsync(api, HttpMethod.Put, $"streams/{Stream}/record", PutRecord, key, Via.Bearer))
            Assert.Equal(HttpStatusCode.OK, put.StatusCode);
        using (var request = new HttpRequestMessage(HttpMethod.Get, "topics"))
        {
            request.Headers.Authorization = new AuthenticationHeaderValue("Basic", Convert.ToBase64String(Encoding.UTF8.GetBytes("u:" + key)));
            using var basic = await api.Client.SendAsync(request);
            await AssertForbiddenAsync(basic, "topics", "needs an API key");
        }
        Assert.Equal(2, await api.TotalRecordsAsync());
    }

    [Fact]
    public async Task Reads_need_a_valid_key_of_any_scope_and_the_health_probes_none()
    {
        var (_, key) = await _store.CreateAsync("narrow", KeyScope.Produce, "nothing-matches");
        await using var api = await StartAsync();

        foreach (string path in new[] { "topics", $"topics/{Topic}", "streams", $"streams/{Stream}" })
        {
            using (var refused = await SendAsync(api, HttpMethod.Get, path, null, null))
                await AssertForbiddenAsync(refused, path, "needs an API key");
            using var ok = await SendAsync(api, HttpMethod.Get, path, null, key);
            Assert.True(ok.StatusCode == HttpStatusCode.OK, $"{path}: {ok.StatusCode}");
        }
        using var health = await api.Client.GetAsync("healthz");
        Assert.Equal(HttpStatusCode.OK, health.StatusCode);
        using var ready = await api.Client.GetAsync("readyz");
        Assert.Equal(HttpStatusCode.OK, ready.StatusCode);
    }

    [Fact]
    public async Task A_key_revoked_while_the_server_runs_is_refused_once_the_server_looked_at_the_key_file()
    {
        var (_, key) = await _store.CreateAsync("ci", KeyScope.Produce, null);
        await _store.CreateAsync("other", KeyScope.Produce, null);
        await using var api = await StartAsync();
        using (var ok = await SendAsync(api, HttpMethod.Post, $"topics/{Topic}", Produce, key))
            Assert.Equal(HttpStatusCode.OK, ok.StatusCode);

        await new KeyStore(_store.Path).RevokeAsync("ci");
        await UntilKeysSeenAsync(api.Client, key, HttpStatusCode.Forbidden);

        using (var refused = await SendAsync(api, HttpMethod.Post, $"topics/{Topic}", Produce, key))
            await AssertForbiddenAsync(refused, "topics", "unknown or revoked");
        using (var refused = await SendAsync(api, HttpMethod.Put, $"streams/{Stream}/record", PutRecord, key))
            await AssertForbiddenAsync(refused, "streams", "unknown or revoked");
        Assert.Equal(1, await api.TotalRecordsAsync());
    }

    [Fact]
    public async Task On_loopback_keys_are_off_until_one_is_created_while_the_server_runs_and_revoking_it_keeps_them_on()
    {
        await using var api = await StartAsync();
        using (var open = await SendAsync(api, HttpMethod.Post, $"topics/{Topic}", Produce, null))
            Assert.Equal(HttpStatusCode.OK, open.StatusCode);

        var (_, key) = await _store.CreateAsync("ci", KeyScope.Produce, null);
        await UntilKeysSeenAsync(api.Client, null, HttpStatusCode.Forbidden);

        using (var refused = await SendAsync(api, HttpMethod.Post, $"topics/{Topic}", Produce, null))
            await AssertForbiddenAsync(refused, "topics", "needs an API key");
        using (var ok = await SendAsync(api, HttpMethod.Post, $"topics/{Topic}", Produce, key))
            Assert.Equal(HttpStatusCode.OK, ok.StatusCode);
        await _store.RevokeAsync("ci");
        await UntilKeysSeenAsync(api.Client, key, HttpStatusCode.Forbidden);
        using (var still = await SendAsync(api, HttpMethod.Post, $"topics/{Topic}", Produce, null))
            await AssertForbiddenAsync(still, "topics", "needs an API key");
        Assert.Equal(2, await api.TotalRecordsAsync());
    }

    [Fact]
    public async Task Beyond_loopback_the_server_does_not_start_without_a_key_unless_anonymous_is_allowed()
    {
        var beyond = new IngestOptions { Urls = "http://0.0.0.0:0" };
        await using (var log = await LogFactory.OpenAsync(new LogOptions { Path = _dir.File("log.db") }))
        {
            var refused = await Assert.ThrowsAsync<IngestException>(() => IngestServer.StartAsync(beyond with { KeysFile = _store.Path }, log));
            Assert.Equal("ingest.no_keys", refused.ErrorCode);
            Assert.Equal(PinPipe.Errors.ErrorKind.BadInput, refused.Kind);
            Assert.Contains("http://0.0.0.0:0", refused.Message, StringComparison.Ordinal);
            Assert.Contains("`pinpipe keys create NAME`", refused.Message, StringComparison.Ordinal);
            Assert.Contains("--allow-anonymous (Ingest:AllowAnonymous)", refused.Message, StringComparison.Ordinal);
            Assert.Equal(_store.Path, refused.Where);
            // A server built without a key file at all is refused too.
            await Assert.ThrowsAsync<IngestException>(() => IngestServer.StartAsync(beyond, log));
        }

        await using (var anonymous = await StartAsync(beyond with { AllowAnonymous = true }))
        using (var open = await SendAsync(anonymous, HttpMethod.Post, $"topics/{Topic}", Produce, null))
            Assert.Equal(HttpStatusCode.OK, open.StatusCode);

        // With a key, it starts, and every request needs one.
        var (_, key) = await _store.CreateAsync("ci", KeyScope.Produce, null);
        await using var keyed = await StartAsync(beyond);
        using (var missing = await SendAsync(keyed, HttpMethod.Post, $"topics/{Topic}", Produce, null))
            await AssertForbiddenAsync(missing, "topics", "needs an API key");
        using (var ok = await SendAsync(keyed, HttpMethod.Post, $"topics/{Topic}", Produce, key))
            Assert.Equal(HttpStatusCode.OK, ok.StatusCode);
    }

    [Fact]
    public async Task A_key_over_its_rate_limit_gets_429_with_Retry_After_in_each_familys_shape_and_writes_nothing()
    {
        var (_, topicKey) = await _store.CreateAsync("slow", KeyScope.Produce, null, rateLimit: 2);
        var (_, streamKey) = await _store.CreateAsync("slow-too", KeyScope.Produce, null, rateLimit: 2);
        var (_, free) = await _store.CreateAsync("free", KeyScope.Produce, null);
        await using var api = await StartAsync();

        foreach (var (method, path, body, key, name) in new[] { ("POST", $"topics/{Topic}", Produce, topicKey, "slow"), ("PUT", $"streams/{Stream}/record", PutRecord, streamKey, "slow-too") })
        {
            // Requests until one is refused: a bucket of 2 per second refills at most by 2 between two of them.
            int accepted = 0;
            HttpResponseMessage? throttled = null;
            for (int i = 0; i < 100 && throttled is null; i++)
            {
                var response = await SendAsync(api, new HttpMethod(method), path, body, key);
                if (response.StatusCode == HttpStatusCode.OK)
                {
                    accepted++;
                    response.Dispose();
                }
                else
                {
                    throttled = response;
                }
            }
            Assert.NotNull(throttled);
            using (throttled)
            {
                int seconds = (int)Assert.NotNull(throttled.Headers.RetryAfter?.Delta).TotalSeconds;
                Assert.InRange(seconds, 1, 2);
                if (path.StartsWith("streams", StringComparison.Ordinal))
                    await KinesisErrorTests.AssertKinesisErrorAsync(throttled, (HttpStatusCode)429, "ThrottlingException", $"Key '{name}' may make at most 2 requests per second; retry after");
                else
                    await KafkaRestErrorTests.AssertRestErrorAsync(throttled, (HttpStatusCode)429, 42901, $"Key '{name}' may make at most 2 requests per second");
            }
            // Every accepted request wrote its record; the refused one wrote nothing.
            long high = (await api.Log.GetWatermarksAsync(path.Split('/')[1], 0)).High;
            Assert.Equal(accepted, high);
            Assert.InRange(accepted, 2, 99);
        }

        // Another key is not limited by it.
        for (int i = 0; i < 10; i++)
        {
            using var ok = await SendAsync(api, HttpMethod.Post, $"topics/{Topic}", Produce, free);
            Assert.Equal(HttpStatusCode.OK, ok.StatusCode);
        }
    }
}
