using System.Net;
using System.Net.Http.Headers;
using System.Text;
using PinPipe.Ingest;

namespace PinPipe.Tests.Ingest;

/// <summary>
/// What a web page can no longer do to the API on loopback: change it from another origin, reach it through its own
/// DNS name (DNS rebinding), or post a body of a form's or text's Content-Type. Each refusal writes nothing; the
/// clients of the original system (no Origin, Host 127.0.0.1:port or localhost, JSON Content-Types) are served.
/// </summary>
public sealed class RequestGuardTests
{
    private const string Stream = "streaming-t-pin";
    private const string Topic = "t.pin";
    private const string Evil = "http://evil.example";
    private const string Produce = """{"records":[{"value":{"a":1}}]}""";
    private const string PutRecord = """{"Data":{"a":1},"PartitionKey":"p"}""";
    private const string PutRecords = """{"records":[{"data":{"a":1},"partition-key":"p"}]}""";

    private static Task<IngestApiHarness> StartAsync(IngestOptions? options = null) =>
        IngestApiHarness.StartAsync(options, (Topic, 1), (Stream, 1));

    /// <summary>A request as a browser or a careless client would send it: any method, body type, Origin and Host.</summary>
    private static async Task<HttpResponseMessage> SendAsync(IngestApiHarness api, HttpMethod method, string path, string? body = null,
        string? contentType = null, string? origin = null, string? host = null)
    {
        using var request = new HttpRequestMessage(method, path.TrimStart('/'));
        if (body is not null)
        {
            request.Content = new ByteArrayContent(Encoding.UTF8.GetBytes(body));
            if (contentType is not null) request.Content.Headers.ContentType = MediaTypeHeaderValue.Parse(contentType);
        }
        if (origin is not null) request.Headers.TryAddWithoutValidation("Origin", origin);
        if (host is not null) request.Headers.Host = host;
        return await api.Client.SendAsync(request);
    }

    private static string Port(IngestApiHarness api) => api.Server.BaseAddress.Port.ToString(System.Globalization.CultureInfo.InvariantCulture);

    private static async Task AssertNothingWrittenAsync(IngestApiHarness api)
    {
        Assert.Equal(0, await api.TotalRecordsAsync());
        Assert.Equal([Stream, Topic], (await api.Log.ListTopicsAsync()).Select(t => t.Name));
    }

    [Fact]
    public async Task A_text_plain_create_stream_from_a_foreign_origin_is_403_and_creates_nothing()
    {
        await using var api = await StartAsync();
        using var response = await SendAsync(api, HttpMethod.Post, "streams/streaming-evil", """{"ShardCount":1}""", "text/plain", Evil);
        await KinesisErrorTests.AssertKinesisErrorAsync(response, HttpStatusCode.Forbidden, "AccessDeniedException", $"Origin '{Evil}' is not allowed");
        Assert.Null(await api.Log.DescribeTopicAsync("streaming-evil"));
    }

    public static TheoryData<string, string, string> StateChangingRoutes => new()
    {
        { "POST", $"topics/{Topic}", Produce },
        { "POST", $"topics/{Topic}/partitions/0", Produce },
        { "POST", "streams/streaming-new", """{"ShardCount":1}""" },
        { "PUT", $"streams/{Stream}/record", PutRecord },
        { "PUT", $"streams/{Stream}/records", PutRecords },
        { "DELETE", $"streams/{Stream}", "" },
    };

    [Theory]
    [MemberData(nameof(StateChangingRoutes))]
    public async Task A_request_from_a_foreign_origin_is_403_in_the_route_familys_shape_and_writes_nothing(string method, string path, string body)
    {
        await using var api = await StartAsync();
        foreach (var origin in new[] { Evil, "null", $"http://127.0.0.1:{(Port(api) == "1" ? 2 : 1)}", $"https://127.0.0.1:{Port(api)}" })
        {
            using var response = await SendAsync(api, new HttpMethod(method), path, body, path.StartsWith("topics", StringComparison.Ordinal) ? IngestApiHarness.JsonV2 : "application/json", origin);
            if (path.StartsWith("streams", StringComparison.Ordinal))
                await KinesisErrorTests.AssertKinesisErrorAsync(response, HttpStatusCode.Forbidden, "AccessDeniedException", "Ingest:AllowedOrigins");
            else
                await KafkaRestErrorTests.AssertRestErrorAsync(response, HttpStatusCode.Forbidden, 40301, $"Origin '{origin}' is not allowed");
        }
        await AssertNothingWrittenAsync(api);
    }

    [Theory]
    [InlineData("POST", "streams/streaming-new", """{"ShardCount":1}""", "text/plain")]
    [InlineData("POST", "streams/streaming-new", """{"ShardCount":1}""", "application/x-www-form-urlencoded")]
    [InlineData("POST", "streams/streaming-new", """{"ShardCount":1}""", null)]
    [InlineData("PUT", $"streams/{Stream}/record", PutRecord, "text/plain")]
    [InlineData("PUT", $"streams/{Stream}/record", PutRecord, "multipart/form-data; boundary=x")]
    [InlineData("PUT", $"streams/{Stream}/records", PutRecords, "text/plain; charset=utf-8")]
    [InlineData("PUT", $"streams/{Stream}/records", PutRecords, null)]
    [InlineData("DELETE", $"streams/{Stream}", "{}", "text/plain")]
    public async Task A_body_that_is_not_JSON_typed_to_the_stream_routes_is_415_UnsupportedMediaTypeException_and_writes_nothing(string method, string path, string body, string? contentType)
    {
        await using var api = await StartAsync();
        using var response = await SendAsync(api, new HttpMethod(method), path, body, contentType);
        await KinesisErrorTests.AssertKinesisErrorAsync(response, HttpStatusCode.UnsupportedMediaType, "UnsupportedMediaTypeException",
            $"Content-Type '{contentType ?? "(none)"}' is not accepted here; use one of application/json, application/x-amz-json-1.1");
        await AssertNothingWrittenAsync(api);
    }

    [Fact]
    public async Task A_produce_of_a_form_or_text_type_is_415_in_the_REST_Proxys_shape_and_writes_nothing()
    {
        await using var api = await StartAsync();
        foreach (var type in new[] { "text/plain", "application/x-www-form-urlencoded" })
        {
            using var response = await SendAsync(api, HttpMethod.Post, $"topics/{Topic}", Produce, type);
            await KafkaRestErrorTests.AssertRestErrorAsync(response, HttpStatusCode.UnsupportedMediaType, 415, $"Content-Type '{type}'");
        }
        await AssertNothingWrittenAsync(api);
    }

    [Fact]
    public async Task The_stream_routes_take_application_json_and_x_amz_json_1_1_and_bodyless_requests_without_a_type()
    {
        await using var api = await StartAsync();
        foreach (var type in new[] { "application/json", "application/json; charset=utf-8", "application/x-amz-json-1.1" })
        {
            using (var one = await SendAsync(api, HttpMethod.Put, $"streams/{Stream}/record", PutRecord, type))
                Assert.Equal(HttpStatusCode.OK, one.StatusCode);
            using (var many = await SendAsync(api, HttpMethod.Put, $"streams/{Stream}/records", PutRecords, type))
                Assert.Equal(HttpStatusCode.OK, many.StatusCode);
        }
        Assert.Equal(new long[] { 6 }, await api.CountsAsync(Stream));

        using (var created = await SendAsync(api, HttpMethod.Post, "streams/streaming-bare"))
            Assert.Equal(HttpStatusCode.OK, created.StatusCode);
        using (var typed = await SendAsync(api, HttpMethod.Post, "streams/streaming-typed", """{"ShardCount":2}""", "application/x-amz-json-1.1"))
            Assert.Equal(HttpStatusCode.OK, typed.StatusCode);
        Assert.Equal(2, (await api.Log.DescribeTopicAsync("streaming-typed"))?.Partitions);
        using (var deleted = await SendAsync(api, HttpMethod.Delete, "streams/streaming-bare"))
            Assert.Equal(HttpStatusCode.OK, deleted.StatusCode);
        Assert.Null(await api.Log.DescribeTopicAsync("streaming-bare"));
    }

    [Fact]
    public async Task The_servers_own_origin_is_served_and_a_listed_origin_is_served_with_CORS()
    {
        await using var api = await StartAsync(new IngestOptions { AllowedOrigins = "https://dash.example; http://localhost:3000" });
        using (var same = await SendAsync(api, HttpMethod.Post, $"topics/{Topic}", Produce, IngestApiHarness.JsonV2, $"http://127.0.0.1:{Port(api)}"))
            Assert.Equal(HttpStatusCode.OK, same.StatusCode);
        using (var listed = await SendAsync(api, HttpMethod.Put, $"streams/{Stream}/record", PutRecord, "application/json", "https://DASH.example"))
        {
            Assert.Equal(HttpStatusCode.OK, listed.StatusCode);
            Assert.Equal("https://DASH.example", Assert.Single(listed.Headers.GetValues("Access-Control-Allow-Origin")));
        }

        // A browser asks before a PUT of JSON from another origin: a listed one is told yes, any other is refused.
        using var preflight = new HttpRequestMessage(HttpMethod.Options, $"streams/{Stream}/record");
        preflight.Headers.TryAddWithoutValidation("Origin", "http://localhost:3000");
        preflight.Headers.TryAddWithoutValidation("Access-Control-Request-Method", "PUT");
        preflight.Headers.TryAddWithoutValidation("Access-Control-Request-Headers", "content-type");
        using (var yes = await api.Client.SendAsync(preflight))
        {
            Assert.Equal(HttpStatusCode.NoContent, yes.StatusCode);
            Assert.Equal("http://localhost:3000", Assert.Single(yes.Headers.GetValues("Access-Control-Allow-Origin")));
            Assert.Contains("PUT", yes.Headers.GetValues("Access-Control-Allow-Methods").Single(), StringComparison.Ordinal);
        }
        using (var no = await SendAsync(api, HttpMethod.Put, $"streams/{Stream}/record", PutRecord, "application/json", "https://dash.example.evil.example"))
            await KinesisErrorTests.AssertKinesisErrorAsync(no, HttpStatusCode.Forbidden, "AccessDeniedException", "is not allowed");
        Assert.Equal(2, await api.TotalRecordsAsync());
    }

    [Theory]
    [InlineData("topics/t.pin")]
    [InlineData("streams/streaming-t-pin/record")]
    public async Task A_request_through_another_host_name_is_400_and_writes_nothing(string path)
    {
        await using var api = await StartAsync();
        foreach (var host in new[] { $"evil.example:{Port(api)}", "evil.example", $"127.0.0.1.nip.io:{Port(api)}", $"localhost:{(Port(api) == "1" ? 2 : 1)}", "10.0.0.1:" + Port(api) })
        {
            bool kinesis = path.StartsWith("streams", StringComparison.Ordinal);
            using var response = await SendAsync(api, kinesis ? HttpMethod.Put : HttpMethod.Post, path, kinesis ? PutRecord : Produce,
                kinesis ? "application/json" : IngestApiHarness.JsonV2, host: host);
            var message = $"Host '{host}' is not a name this server listens as (127.0.0.1:{Port(api)}";
            if (kinesis) await KinesisErrorTests.AssertKinesisErrorAsync(response, HttpStatusCode.BadRequest, "ValidationException", message);
            else await KafkaRestErrorTests.AssertRestErrorAsync(response, HttpStatusCode.BadRequest, 400, message);
        }
        using (var read = await SendAsync(api, HttpMethod.Get, "topics", host: "evil.example"))
            await KafkaRestErrorTests.AssertRestErrorAsync(read, HttpStatusCode.BadRequest, 400, "DNS rebinding");
        await AssertNothingWrittenAsync(api);
    }

    [Fact]
    public async Task The_listen_address_and_localhost_are_hosts_of_the_server_and_Ingest_AllowedHosts_names_others()
    {
        await using (var api = await StartAsync())
        {
            foreach (var host in new[] { $"127.0.0.1:{Port(api)}", $"localhost:{Port(api)}", $"LOCALHOST:{Port(api)}", $"[::1]:{Port(api)}" })
            {
                using var response = await SendAsync(api, HttpMethod.Post, $"topics/{Topic}", Produce, IngestApiHarness.JsonV2, host: host);
                Assert.True(response.StatusCode == HttpStatusCode.OK, $"{host}: {response.StatusCode}");
            }
            Assert.Equal(4, await api.TotalRecordsAsync());
        }

        await using (var api = await StartAsync(new IngestOptions { AllowedHosts = "pinpipe.internal; api.example:443" }))
        {
            using (var named = await SendAsync(api, HttpMethod.Post, $"topics/{Topic}", Produce, IngestApiHarness.JsonV2, host: $"pinpipe.internal:{Port(api)}"))
                Assert.Equal(HttpStatusCode.OK, named.StatusCode);
            using (var port = await SendAsync(api, HttpMethod.Post, $"topics/{Topic}", Produce, IngestApiHarness.JsonV2, host: "api.example:443"))
                Assert.Equal(HttpStatusCode.OK, port.StatusCode);
            using (var other = await SendAsync(api, HttpMethod.Post, $"topics/{Topic}", Produce, IngestApiHarness.JsonV2, host: $"127.0.0.1:{Port(api)}"))
                await KafkaRestErrorTests.AssertRestErrorAsync(other, HttpStatusCode.BadRequest, 400, "(pinpipe.internal, api.example:443)");
            Assert.Equal(2, await api.TotalRecordsAsync());
        }

        await using (var api = await StartAsync(new IngestOptions { AllowedHosts = "*" }))
        {
            using var any = await SendAsync(api, HttpMethod.Post, $"topics/{Topic}", Produce, IngestApiHarness.JsonV2, host: "whatever.example");
            Assert.Equal(HttpStatusCode.OK, any.StatusCode);
        }
    }

    [Fact]
    public async Task Listening_on_all_interfaces_accepts_any_IP_address_as_host_but_no_other_name()
    {
        await using var api = await StartAsync(new IngestOptions { Urls = "http://0.0.0.0:0", AllowAnonymous = true });
        // Logged as bound (all interfaces), posted to on loopback.
        Assert.Equal([$"http://0.0.0.0:{Port(api)}/"], api.Server.Listening);
        Assert.Equal(new Uri($"http://127.0.0.1:{Port(api)}/"), api.Server.BaseAddress);
        foreach (var host in new[] { $"127.0.0.1:{Port(api)}", $"192.168.1.20:{Port(api)}", $"localhost:{Port(api)}" })
        {
            using var response = await SendAsync(api, HttpMethod.Post, $"topics/{Topic}", Produce, IngestApiHarness.JsonV2, host: host);
            Assert.True(response.StatusCode == HttpStatusCode.OK, $"{host}: {response.StatusCode}");
        }
        using (var named = await SendAsync(api, HttpMethod.Post, $"topics/{Topic}", Produce, IngestApiHarness.JsonV2, host: $"evil.example:{Port(api)}"))
            await KafkaRestErrorTests.AssertRestErrorAsync(named, HttpStatusCode.BadRequest, 400, "(any IP address):");
        Assert.Equal(3, await api.TotalRecordsAsync());
    }
}
