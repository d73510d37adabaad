using System.Net;
using System.Text.Json;

namespace PinPipe.Tests.Ingest;

/// <summary>
/// Every error body of the API is written with relaxed escaping (apostrophes, <c>+</c> and quotes as <c>'</c>, <c>+</c>
/// and <c>\"</c>, never <c>\u0027</c>, <c>\u002B</c>, <c>\u0022</c>) and in the route family's shape, also the answers
/// of no route.
/// </summary>
public sealed class ErrorBodyTests
{
    private const string Pin = "streaming-t-pin";
    private static readonly string[] StrictEscapes = ["\\u0027", "\\u0022", "\\u002B", "\\u003C", "\\u003E", "\\u0026"];

    private static async Task<JsonElement> AssertRelaxedAsync(HttpResponseMessage response, HttpStatusCode status, params string[] rawParts)
    {
        var body = await response.Content.ReadAsStringAsync();
        Assert.True(status == response.StatusCode, $"expected {status}, got {response.StatusCode}: {body}");
        foreach (var escape in StrictEscapes) Assert.DoesNotContain(escape, body, StringComparison.Ordinal);
        foreach (var part in rawParts) Assert.Contains(part, body, StringComparison.Ordinal);
        Assert.Equal("nosniff", Assert.Single(response.Headers.GetValues("X-Content-Type-Options")));
        using var doc = JsonDocument.Parse(body);
        return doc.RootElement.Clone();
    }

    [Fact]
    public async Task Kafka_error_bodies_keep_apostrophes_plus_signs_and_quotes_readable()
    {
        await using var api = await IngestApiHarness.StartAsync();

        using (var unsupported = await api.PostAsync("/topics/t.pin", """{"records":[{"value":1}]}""", "text/plain"))
        {
            var e = await AssertRelaxedAsync(unsupported, HttpStatusCode.UnsupportedMediaType, "'text/plain'", "application/vnd.kafka.json.v2+json");
            Assert.Equal(415, e.GetProperty("error_code").GetInt32());
        }
        using (var unknown = await api.Client.GetAsync("topics/it's"))
        {
            var e = await AssertRelaxedAsync(unknown, HttpStatusCode.NotFound, "Topic not found: 'it's'.");
            Assert.Equal(40401, e.GetProperty("error_code").GetInt32());
        }
        using (var envelope = await api.PostAsync("/topics/t.pin", """{"rows":[]}"""))
        {
            var e = await AssertRelaxedAsync(envelope, HttpStatusCode.UnprocessableEntity, "the body has no \\\"records\\\" field.");
            Assert.Equal(42206, e.GetProperty("error_code").GetInt32());
        }
        Assert.Equal(0, await api.TotalRecordsAsync());
    }

    [Fact]
    public async Task Kinesis_error_bodies_keep_apostrophes_plus_signs_and_quotes_readable()
    {
        await using var api = await IngestApiHarness.StartAsync(null, ("t.pin", 1), (Pin, 1));
        using var response = await api.SendAsync(HttpMethod.Put, $"streams/{Pin}/record", """{"StreamName":"it's+1","Data":1,"PartitionKey":"p"}""");
        var e = await AssertRelaxedAsync(response, HttpStatusCode.BadRequest, "StreamName 'it's+1'");
        Assert.Equal("InvalidArgumentException", e.GetProperty("__type").GetString());
    }

    [Theory]
    [InlineData("topics")]
    [InlineData("topics/t.pin")]
    public async Task A_kafka_read_route_over_a_closed_log_is_500_50003_in_the_rest_proxys_shape(string path)
    {
        await using var api = await IngestApiHarness.StartAsync();
        await api.Log.DisposeAsync();
        using var response = await api.Client.GetAsync(path);
        var e = await AssertRelaxedAsync(response, HttpStatusCode.InternalServerError, "The log could not be read; retry: the log is closed");
        Assert.Equal(50003, e.GetProperty("error_code").GetInt32());
    }

    [Theory]
    [InlineData("GET", "/nosuch/file.json")]
    [InlineData("GET", "/topics/t.pin/offsets")]
    [InlineData("PUT", "/topics/t.pin/records")]
    [InlineData("DELETE", "/topics/t.pin")]
    public async Task A_path_no_route_serves_is_404_in_the_rest_proxys_shape(string method, string path)
    {
        await using var api = await IngestApiHarness.StartAsync();
        using var request = new HttpRequestMessage(new HttpMethod(method), path);
        using var response = await api.Client.SendAsync(request);
        var e = await AssertRelaxedAsync(response, HttpStatusCode.NotFound, $"no route for '{method} {path}'");
        Assert.Equal(404, e.GetProperty("error_code").GetInt32());
    }

    [Fact]
    public async Task A_path_under_streams_no_route_serves_is_404_in_the_kinesis_shape()
    {
        await using var api = await IngestApiHarness.StartAsync(null, ("t.pin", 1), (Pin, 1));
        using var response = await api.Client.GetAsync($"streams/{Pin}/shards.json");
        var e = await AssertRelaxedAsync(response, HttpStatusCode.NotFound, $"no route for 'GET /streams/{Pin}/shards.json'");
        Assert.Equal("UnknownOperationException", e.GetProperty("__type").GetString());
        Assert.Equal("UnknownOperationException", Assert.Single(response.Headers.GetValues("x-amzn-ErrorType")));
    }
}
