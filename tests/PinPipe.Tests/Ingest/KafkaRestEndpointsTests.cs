using System.Net;
using System.Net.Http.Headers;
using System.Text;
using System.Text.Json;
using PinPipe.Ingest;

namespace PinPipe.Tests.Ingest;

public sealed class KafkaRestEndpointsTests
{
    private const string PinValue = """{"index": 7528, "unique_id": "fbe53c66", "title": "No Title Data Available", "downloaded": 0}""";

    [Fact]
    public async Task A_single_json_record_is_acknowledged_with_its_offset_and_stored_byte_for_byte()
    {
        await using var api = await IngestApiHarness.StartAsync();
        using var response = await api.PostAsync("/topics/t.pin", $$"""{"records": [{"value": {{PinValue}}}]}""");

        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.Equal("application/vnd.kafka.v2+json", response.Content.Headers.ContentType?.MediaType);
        using var doc = JsonDocument.Parse(await response.Content.ReadAsStringAsync());
        Assert.Equal(JsonValueKind.Null, doc.RootElement.GetProperty("key_schema_id").ValueKind);
        Assert.Equal(JsonValueKind.Null, doc.RootElement.GetProperty("value_schema_id").ValueKind);
        var offset = Assert.Single(doc.RootElement.GetProperty("offsets").EnumerateArray());
        Assert.Equal(0, offset.GetProperty("partition").GetInt32());
        Assert.Equal(0, offset.GetProperty("offset").GetInt64());
        Assert.Equal(JsonValueKind.Null, offset.GetProperty("error_code").ValueKind);
        Assert.Equal(JsonValueKind.Null, offset.GetProperty("error").ValueKind);

        var stored = Assert.Single(await api.ReadAllAsync("t.pin"));
        Assert.Equal(PinValue, Encoding.UTF8.GetString(stored.Value!));
        Assert.Null(stored.Key);
    }

    [Fact]
    public async Task Many_records_get_contiguous_offsets_in_request_order()
    {
        await using var api = await IngestApiHarness.StartAsync();
        var values = Enumerable.Range(0, 50).Select(i => $$"""{"index": {{i}}}""").ToList();
        for (int round = 0; round < 2; round++)
        {
            using var response = await api.PostAsync("/topics/t.pin", $$"""{"records": [{{string.Join(",", values.Select(v => $$"""{"value": {{v}}}"""))}}]}""");
            Assert.Equal(HttpStatusCode.OK, response.StatusCode);
            using var doc = JsonDocument.Parse(await response.Content.ReadAsStringAsync());
            var offsets = doc.RootElement.GetProperty("offsets").EnumerateArray().Select(o => o.GetProperty("offset").GetInt64()).ToList();
            Assert.Equal(Enumerable.Range(round * 50, 50).Select(i => (long)i), offsets);
        }
        var stored = await api.ReadAllAsync("t.pin");
        Assert.Equal(values.Concat(values), stored.Select(r => Encoding.UTF8.GetString(r.Value!)));
    }

    [Theory]
    [InlineData("application/json")]
    [InlineData("application/vnd.kafka.json.v2+json; charset=utf-8")]
    public async Task Plain_json_content_types_are_accepted(string contentType)
    {
        await using var api = await IngestApiHarness.StartAsync();
        using var response = await api.PostAsync("/topics/t.pin", """{"records":[{"value":{"a":1}}]}""", contentType);
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.Equal("""{"a":1}""", Encoding.UTF8.GetString(Assert.Single(await api.ReadAllAsync("t.pin")).Value!));
    }

    [Fact]
    public async Task Binary_format_values_and_keys_are_stored_base64_decoded()
    {
        await using var api = await IngestApiHarness.StartAsync();
        var value = Convert.ToBase64String(Encoding.UTF8.GetBytes("raw bytes \u00e9"));
        var key = Convert.ToBase64String([1, 2, 3]);
        using var response = await api.PostAsync("/topics/t.pin", $$"""{"records":[{"key":"{{key}}","value":"{{value}}"}]}""", IngestApiHarness.BinaryV2);
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        var stored = Assert.Single(await api.ReadAllAsync("t.pin"));
        Assert.Equal("raw bytes \u00e9", Encoding.UTF8.GetString(stored.Value!));
        Assert.Equal(new byte[] { 1, 2, 3 }, stored.Key);
    }

    [Fact]
    public async Task Json_keys_are_stored_as_json_text_and_route_records_to_one_partition()
    {
        await using var api = await IngestApiHarness.StartAsync();
        var records = string.Join(",", Enumerable.Range(0, 20).Select(i => $$"""{"key":"k1","value":{{i}}}"""));
        using var response = await api.PostAsync("/topics/t.geo", $$"""{"records":[{{records}}]}""");
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        using var doc = JsonDocument.Parse(await response.Content.ReadAsStringAsync());
        var partitions = doc.RootElement.GetProperty("offsets").EnumerateArray().Select(o => o.GetProperty("partition").GetInt32()).Distinct().ToList();
        Assert.Single(partitions);
        var stored = await api.ReadAllAsync("t.geo");
        Assert.Equal(20, stored.Count);
        Assert.All(stored, r => Assert.Equal("\"k1\"", Encoding.UTF8.GetString(r.Key!)));
    }

    [Fact]
    public async Task The_partition_route_and_a_record_partition_choose_the_partition()
    {
        await using var api = await IngestApiHarness.StartAsync();
        using (var response = await api.PostAsync("/topics/t.geo/partitions/2", """{"records":[{"value":1},{"value":2,"partition":1}]}"""))
        {
            Assert.Equal(HttpStatusCode.OK, response.StatusCode);
            using var doc = JsonDocument.Parse(await response.Content.ReadAsStringAsync());
            Assert.Equal([2, 1], doc.RootElement.GetProperty("offsets").EnumerateArray().Select(o => o.GetProperty("partition").GetInt32()));
        }
        Assert.Equal("1", Encoding.UTF8.GetString(Assert.Single(await api.Log.ReadAsync("t.geo", 2, 0, 10)).Value!));
        Assert.Equal("2", Encoding.UTF8.GetString(Assert.Single(await api.Log.ReadAsync("t.geo", 1, 0, 10)).Value!));
    }

    [Fact]
    public async Task A_value_spanning_lines_is_stored_on_one_line()
    {
        await using var api = await IngestApiHarness.StartAsync();
        using var response = await api.PostAsync("/topics/t.pin", "{\"records\":[{\"value\":{\n  \"a\": \"x\\ny\",\n  \"b\": [1,\n 2]\n}}]}");
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.Equal("{\"a\":\"x\\ny\",\"b\":[1,2]}", Encoding.UTF8.GetString(Assert.Single(await api.ReadAllAsync("t.pin")).Value!));
    }

    [Fact]
    public async Task Topics_are_listed_and_described_as_the_rest_proxy_does()
    {
        await using var api = await IngestApiHarness.StartAsync();
        using (var list = await api.Client.GetAsync("topics"))
        {
            Assert.Equal(HttpStatusCode.OK, list.StatusCode);
            Assert.Equal(["t.geo", "t.pin"], JsonSerializer.Deserialize<string[]>(await list.Content.ReadAsStringAsync())!);
        }
        using var describe = await api.Client.GetAsync("topics/t.geo");
        Assert.Equal(HttpStatusCode.OK, describe.StatusCode);
        using var doc = JsonDocument.Parse(await describe.Content.ReadAsStringAsync());
        Assert.Equal("t.geo", doc.RootElement.GetProperty("name").GetString());
        Assert.Equal([0, 1, 2], doc.RootElement.GetProperty("partitions").EnumerateArray().Select(p => p.GetProperty("partition").GetInt32()));
        Assert.True(doc.RootElement.GetProperty("partitions")[0].GetProperty("replicas")[0].GetProperty("in_sync").GetBoolean());
    }

    [Fact]
    public async Task A_path_base_prefixes_every_route_like_an_api_gateway_stage()
    {
        await using var api = await IngestApiHarness.StartAsync(new IngestOptions { PathBase = "/dev" });
        Assert.EndsWith("/dev/", api.Server.BaseAddress.ToString());
        using var response = await api.PostAsync("topics/t.pin", """{"records":[{"value":{"a":1}}]}""");
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        using var health = await api.Client.GetAsync("healthz");
        Assert.Equal(HttpStatusCode.OK, health.StatusCode);
        Assert.Single(await api.ReadAllAsync("t.pin"));
    }

    [Fact]
    public async Task Concurrent_producers_all_get_distinct_durable_offsets()
    {
        await using var api = await IngestApiHarness.StartAsync();
        var tasks = Enumerable.Range(0, 200).Select(async i =>
        {
            using var response = await api.PostAsync("/topics/t.pin", $$$"""{"records":[{"value":{"i":{{{i}}}}},{"value":{"i":{{{i}}}}}]}""");
            Assert.Equal(HttpStatusCode.OK, response.StatusCode);
            using var doc = JsonDocument.Parse(await response.Content.ReadAsStringAsync());
            var offsets = doc.RootElement.GetProperty("offsets").EnumerateArray().Select(o => o.GetProperty("offset").GetInt64()).ToArray();
            Assert.Equal(offsets[0] + 1, offsets[1]);
            return offsets;
        });
        var all = (await Task.WhenAll(tasks)).SelectMany(o => o).ToList();
        Assert.Equal(400, all.Distinct().Count());
        var stored = await api.ReadAllAsync("t.pin");
        Assert.Equal(400, stored.Count);
        // Each request's two records are adjacent in the log: a request is never interleaved.
        for (int i = 0; i < stored.Count; i += 2) Assert.Equal(stored[i].Value, stored[i + 1].Value);
    }
}
