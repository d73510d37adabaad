using System.Net;
using System.Net.Http.Headers;
using System.Text;
using System.Text.Json;
using PinPipe.Ingest;

namespace PinPipe.Tests.Ingest;

/// <summary>Every error of SPEC §6: the right status, a REST-Proxy-shaped body, and nothing written.</summary>
public sealed class KafkaRestErrorTests
{
    internal static async Task AssertRestErrorAsync(HttpResponseMessage response, HttpStatusCode status, int errorCode, string messagePart)
    {
        var body = await response.Content.ReadAsStringAsync();
        Assert.True(status == response.StatusCode, $"expected {status}, got {response.StatusCode}: {body}");
        Assert.Equal("application/vnd.kafka.v2+json", response.Content.Headers.ContentType?.MediaType);
        using var doc = JsonDocument.Parse(body);
        Assert.Equal(2, doc.RootElement.EnumerateObject().Count());
        Assert.Equal(errorCode, doc.RootElement.GetProperty("error_code").GetInt32());
        Assert.Contains(messagePart, doc.RootElement.GetProperty("message").GetString(), StringComparison.OrdinalIgnoreCase);
    }

    private static async Task<IngestApiHarness> StartWithOneRecordAsync()
    {
        var api = await IngestApiHarness.StartAsync();
        using var ok = await api.PostAsync("/topics/t.pin", """{"records":[{"value":{"before":true}}]}""");
        Assert.Equal(HttpStatusCode.OK, ok.StatusCode);
        return api;
    }

    [Fact]
    public async Task An_unknown_topic_is_404_40401_and_writes_nothing()
    {
        await using var api = await StartWithOneRecordAsync();
        using var response = await api.PostAsync("/topics/nope", """{"records":[{"value":1}]}""");
        await AssertRestErrorAsync(response, HttpStatusCode.NotFound, 40401, "topic not found");
        Assert.Equal(1, await api.TotalRecordsAsync());
        using var describe = await api.Client.GetAsync("topics/nope");
        await AssertRestErrorAsync(describe, HttpStatusCode.NotFound, 40401, "nope");
    }

    [Theory]
    [InlineData("text/plain")]
    [InlineData("application/vnd.kafka.avro.v2+json")]
    [InlineData("application/x-www-form-urlencoded")]
    [InlineData(null)]
    public async Task An_unsupported_content_type_is_415_and_writes_nothing(string? contentType)
    {
        await using var api = await StartWithOneRecordAsync();
        using var response = await api.PostAsync("/topics/t.pin", """{"records":[{"value":1}]}""", contentType);
        await AssertRestErrorAsync(response, HttpStatusCode.UnsupportedMediaType, 415, "application/vnd.kafka.json.v2+json");
        Assert.Equal(1, await api.TotalRecordsAsync());
    }

    [Theory]
    [InlineData("{\"records\": [{\"value\": 1}", "Malformed JSON at byte 25: unexpected end of the body (an object or array is not closed).")]
    [InlineData("not json", "Malformed JSON at byte 1: invalid value (expected the literal 'null').")]
    [InlineData("", "empty")]
    [InlineData("{\"records\":[{\"value\":1}]} trailing", "Malformed JSON at byte 26: data after the end of the JSON value, starting with 't'.")]
    public async Task A_body_that_is_not_json_is_400(string body, string message)
    {
        await using var api = await StartWithOneRecordAsync();
        using var response = await api.PostAsync("/topics/t.pin", body);
        await AssertRestErrorAsync(response, HttpStatusCode.BadRequest, 400, message);
        Assert.Equal(1, await api.TotalRecordsAsync());
    }

    [Theory]
    [InlineData("[1,2]", "must be a JSON object")]
    [InlineData("{\"value\": 1}", "no \\\"records\\\"")]
    [InlineData("{\"records\": {\"value\": 1}}", "must be an array")]
    [InlineData("{\"records\": []}", "may not be empty")]
    [InlineData("{\"records\": [{\"value\": 1}, 5]}", "records[1] must be an object")]
    [InlineData("{\"records\": [{\"value\": 1, \"partition\": \"zero\"}]}", "records[0].partition")]
    [InlineData("{\"records\": [{\"value\": 1, \"partition\": -1}]}", "records[0].partition")]
    public async Task A_body_that_is_not_the_records_envelope_is_422_and_writes_nothing(string body, string message)
    {
        await using var api = await StartWithOneRecordAsync();
        using var response = await api.PostAsync("/topics/t.pin", body);
        await AssertRestErrorAsync(response, HttpStatusCode.UnprocessableEntity, 42206, message.Replace("\\\"", "\"", StringComparison.Ordinal));
        Assert.Equal(1, await api.TotalRecordsAsync());
    }

    [Fact]
    public async Task A_bad_base64_value_in_binary_format_is_400_and_writes_nothing()
    {
        await using var api = await StartWithOneRecordAsync();
        using var response = await api.PostAsync("/topics/t.pin", """{"records":[{"value":"aGVsbG8="},{"value":"!!not base64!!"}]}""", IngestApiHarness.BinaryV2);
        await AssertRestErrorAsync(response, HttpStatusCode.BadRequest, 400, "records[1]");
        Assert.Equal(1, await api.TotalRecordsAsync());
    }

    [Fact]
    public async Task A_partition_that_does_not_exist_is_404_40402_and_no_record_of_the_request_is_written()
    {
        await using var api = await StartWithOneRecordAsync();
        using var response = await api.PostAsync("/topics/t.geo", """{"records":[{"value":1,"partition":0},{"value":2,"partition":7}]}""");
        await AssertRestErrorAsync(response, HttpStatusCode.NotFound, 40402, "partition");
        using var route = await api.PostAsync("/topics/t.geo/partitions/9", """{"records":[{"value":1}]}""");
        await AssertRestErrorAsync(route, HttpStatusCode.NotFound, 40402, "partition");
        Assert.Equal(1, await api.TotalRecordsAsync());
    }

    [Fact]
    public async Task An_oversized_body_is_413_whether_its_length_is_declared_or_chunked_and_logs_no_error()
    {
        using var logs = new PinPipe.Tests.Support.CapturedLogs();
        using var factory = logs.Factory();
        await using var api = await IngestApiHarness.StartAsync(null, new IngestOptions { MaxRequestBytes = 4096 }, factory);
        var big = $$"""{"records":[{"value":"{{new string('x', 10_000)}}"}]}""";
        using (var declared = await api.PostAsync("/topics/t.pin", big))
            await AssertRestErrorAsync(declared, HttpStatusCode.RequestEntityTooLarge, 413, "4096 bytes");

        var chunked = new StreamContent(new MemoryStream(Encoding.UTF8.GetBytes(big)));
        chunked.Headers.ContentType = MediaTypeHeaderValue.Parse(IngestApiHarness.JsonV2);
        using var request = new HttpRequestMessage(HttpMethod.Post, "topics/t.pin") { Content = chunked };
        request.Headers.TransferEncodingChunked = true;
        using (var response = await api.Client.SendAsync(request))
            await AssertRestErrorAsync(response, HttpStatusCode.RequestEntityTooLarge, 413, "4096 bytes");
        Assert.Equal(0, await api.TotalRecordsAsync());

        // Found by the fuzz (ApiFuzzTests): the chunked body left Kestrel's body reader mid-read, and Kestrel logged an
        // error ("automatic draining of the request body failed") for each such request. Stopped, every request is done.
        await api.DisposeAsync();
        Assert.DoesNotContain(logs.Entries, e => e.Level >= Microsoft.Extensions.Logging.LogLevel.Warning);
    }

    [Fact]
    public async Task A_record_larger_than_the_log_accepts_is_413_and_writes_nothing()
    {
        await using var api = await StartWithOneRecordAsync();
        var huge = new string('x', 1024 * 1024 + 10);
        using var response = await api.PostAsync("/topics/t.pin", $$"""{"records":[{"value":1},{"value":"{{huge}}"}]}""");
        await AssertRestErrorAsync(response, HttpStatusCode.RequestEntityTooLarge, 413, "too large");
        Assert.Equal(1, await api.TotalRecordsAsync());
    }

    [Fact]
    public async Task More_records_than_the_request_limit_is_422_and_writes_nothing()
    {
        await using var api = await IngestApiHarness.StartAsync(new IngestOptions { MaxRecordsPerRequest = 3 });
        using var response = await api.PostAsync("/topics/t.pin", """{"records":[{"value":1},{"value":2},{"value":3},{"value":4}]}""");
        await AssertRestErrorAsync(response, HttpStatusCode.UnprocessableEntity, 42206, "4 records");
        Assert.Equal(0, await api.TotalRecordsAsync());
    }

    [Fact]
    public async Task An_unknown_route_is_a_404_in_the_same_shape()
    {
        await using var api = await IngestApiHarness.StartAsync();
        using var response = await api.Client.GetAsync("consumers/x");
        await AssertRestErrorAsync(response, HttpStatusCode.NotFound, 404, "consumers/x");
    }

    [Fact]
    public async Task When_the_log_cannot_take_the_write_the_answer_is_500_50003_and_nothing_is_acknowledged()
    {
        await using var api = await StartWithOneRecordAsync();
        await api.Log.DisposeAsync();
        using var response = await api.PostAsync("/topics/t.pin", """{"records":[{"value":1}]}""");
        Assert.Equal(HttpStatusCode.InternalServerError, response.StatusCode);
        using var doc = JsonDocument.Parse(await response.Content.ReadAsStringAsync());
        Assert.Equal(50003, doc.RootElement.GetProperty("error_code").GetInt32());
    }

    /// <summary>Posts raw bytes: <paramref name="head"/>, then <paramref name="poison"/>, then <paramref name="tail"/>.</summary>
    private static async Task<HttpResponseMessage> PostBytesAsync(IngestApiHarness api, string path, string head, byte[] poison, string tail, string contentType)
    {
        using var content = new ByteArrayContent([.. Encoding.UTF8.GetBytes(head), .. poison, .. Encoding.UTF8.GetBytes(tail)]);
        content.Headers.ContentType = MediaTypeHeaderValue.Parse(contentType);
        return await api.Client.PostAsync(path, content);
    }

    [Theory]
    [InlineData(IngestApiHarness.JsonV2)]
    [InlineData("application/json")]
    public async Task A_JSON_value_holding_bytes_that_are_not_UTF8_is_400_naming_the_record_and_writes_nothing(string contentType)
    {
        await using var api = await StartWithOneRecordAsync();
        // Raw 0xFF 0xFE inside a JSON string of the second record (the JSON reader alone accepts it).
        using var value = await PostBytesAsync(api, "topics/t.pin", "{\"records\":[{\"value\":{\"ok\":1}},{\"value\":{\"index\":7,\"title\":\"a", [0xFF, 0xFE], "\"}}]}", contentType);
        await AssertRestErrorAsync(value, HttpStatusCode.BadRequest, 400, "records[1].value is not valid UTF-8 JSON (an invalid UTF-8 sequence at byte 21 of the value)");
        using var key = await PostBytesAsync(api, "topics/t.pin", "{\"records\":[{\"key\":\"k", [0xC3], "\",\"value\":1}]}", contentType);
        await AssertRestErrorAsync(key, HttpStatusCode.BadRequest, 400, "records[0].key is not valid UTF-8 JSON");
        Assert.Equal(1, await api.TotalRecordsAsync());
    }

    [Fact]
    public async Task A_binary_value_of_any_bytes_is_200_and_stored_decoded()
    {
        await using var api = await StartWithOneRecordAsync();
        byte[] bytes = [0xFF, 0xFE, (byte)'{', (byte)'\n', 0x00];
        using var response = await api.PostAsync("/topics/t.pin", $$"""{"records":[{"value":"{{Convert.ToBase64String(bytes)}}"}]}""", IngestApiHarness.BinaryV2);
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        var all = await api.ReadAllAsync("t.pin");
        Assert.Equal(bytes, all[^1].Value);
    }
}
