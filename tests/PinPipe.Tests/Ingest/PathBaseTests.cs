using System.Net;
using System.Text;
using System.Text.Json;
using PinPipe.Ingest;

namespace PinPipe.Tests.Ingest;

/// <summary>With a path base (<c>--path-base /dev</c>), the API answers as an API Gateway stage: under the base only.</summary>
public sealed class PathBaseTests
{
    private const string Pin = "streaming-t-pin";

    private static Task<IngestApiHarness> StartAsync() =>
        IngestApiHarness.StartAsync(new IngestOptions { PathBase = "/dev" }, ("t.pin", 1), (Pin, 1));

    private static async Task<HttpResponseMessage> SendAsync(IngestApiHarness api, HttpMethod method, string absolutePath, string? body, string contentType)
    {
        using var request = new HttpRequestMessage(method, new Uri(api.Server.BaseAddress, absolutePath));
        if (body is not null) request.Content = new StringContent(body, Encoding.UTF8, contentType);
        return await api.Client.SendAsync(request);
    }

    [Theory]
    [InlineData("POST", "/topics/t.pin", """{"records":[{"value":{"a":1}}]}""")]
    [InlineData("GET", "/topics", null)]
    [InlineData("GET", "/topics/t.pin", null)]
    [InlineData("GET", "/healthz", null)]
    public async Task A_kafka_route_without_the_base_is_404_naming_the_base_and_writes_nothing(string method, string path, string? body)
    {
        await using var api = await StartAsync();
        using var response = await SendAsync(api, new HttpMethod(method), path, body, IngestApiHarness.JsonV2);
        var text = await response.Content.ReadAsStringAsync();
        Assert.True(response.StatusCode == HttpStatusCode.NotFound, $"{method} {path}: {response.StatusCode} {text}");
        using var doc = JsonDocument.Parse(text);
        Assert.Equal(404, doc.RootElement.GetProperty("error_code").GetInt32());
        Assert.Equal($"HTTP 404 Not Found: no route for '{method} {path}': the routes are under the path base '/dev' (Ingest:PathBase, --path-base), e.g. '/dev{path}'.",
            doc.RootElement.GetProperty("message").GetString());
        Assert.Equal(0, await api.TotalRecordsAsync());

        using var prefixed = await SendAsync(api, new HttpMethod(method), "/dev" + path, body, IngestApiHarness.JsonV2);
        Assert.True(prefixed.IsSuccessStatusCode, $"{method} /dev{path}: {prefixed.StatusCode} {await prefixed.Content.ReadAsStringAsync()}");
    }

    [Theory]
    [InlineData("PUT", $"/streams/{Pin}/record", """{"Data":{"a":1},"PartitionKey":"p"}""")]
    [InlineData("PUT", $"/streams/{Pin}/records", """{"records":[{"data":{"a":1},"partition-key":"p"}]}""")]
    [InlineData("GET", "/streams", null)]
    [InlineData("GET", $"/streams/{Pin}", null)]
    public async Task A_kinesis_route_without_the_base_is_404_in_the_kinesis_shape_and_writes_nothing(string method, string path, string? body)
    {
        await using var api = await StartAsync();
        using var response = await SendAsync(api, new HttpMethod(method), path, body, "application/json");
        var text = await response.Content.ReadAsStringAsync();
        Assert.True(response.StatusCode == HttpStatusCode.NotFound, $"{method} {path}: {response.StatusCode} {text}");
        using var doc = JsonDocument.Parse(text);
        Assert.Equal("UnknownOperationException", doc.RootElement.GetProperty("__type").GetString());
        Assert.Contains("the routes are under the path base '/dev'", doc.RootElement.GetProperty("message").GetString(), StringComparison.Ordinal);
        Assert.Equal(0, await api.TotalRecordsAsync());

        using var prefixed = await SendAsync(api, new HttpMethod(method), "/dev" + path, body, "application/json");
        Assert.True(prefixed.IsSuccessStatusCode, $"{method} /dev{path}: {prefixed.StatusCode} {await prefixed.Content.ReadAsStringAsync()}");
    }

    [Fact]
    public async Task A_server_without_a_path_base_answers_at_the_root_and_404s_a_prefixed_path()
    {
        await using var api = await IngestApiHarness.StartAsync();
        using var ok = await api.PostAsync("/topics/t.pin", """{"records":[{"value":1}]}""");
        Assert.Equal(HttpStatusCode.OK, ok.StatusCode);
        using var prefixed = await api.PostAsync("/dev/topics/t.pin", """{"records":[{"value":1}]}""");
        Assert.Equal(HttpStatusCode.NotFound, prefixed.StatusCode);
        Assert.Equal(1, await api.TotalRecordsAsync());
    }
}
