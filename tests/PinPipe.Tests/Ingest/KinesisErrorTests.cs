using System.Net;
using System.Text;
using System.Text.Json;
using PinPipe.Ingest;

namespace PinPipe.Tests.Ingest;

/// <summary>Every error of the Kinesis proxy routes: the status, a Kinesis-shaped body, and nothing written.</summary>
public sealed class KinesisErrorTests
{
    private const string Pin = "streaming-t-pin";
    private const string Geo = "streaming-t-geo";

    internal static async Task AssertKinesisErrorAsync(HttpResponseMessage response, HttpStatusCode status, string type, string messagePart)
    {
        var body = await response.Content.ReadAsStringAsync();
        Assert.True(status == response.StatusCode, $"expected {status}, got {response.StatusCode}: {body}");
        Assert.Equal("application/json", response.Content.Headers.ContentType?.MediaType);
        Assert.Equal(type, Assert.Single(response.Headers.GetValues("x-amzn-ErrorType")));
        using var doc = JsonDocument.Parse(body);
        Assert.Equal(["__type", "message"], doc.RootElement.EnumerateObject().Select(p => p.Name));
        Assert.Equal(type, doc.RootElement.GetProperty("__type").GetString());
        Assert.Contains(messagePart, doc.RootElement.GetProperty("message").GetString(), StringComparison.OrdinalIgnoreCase);
    }

    /// <summary>A server with a Kafka topic and two streams, one record already in <see cref="Pin"/>.</summary>
    private static async Task<IngestApiHarness> StartWithOneRecordAsync(IngestOptions? options = null)
    {
        var api = await IngestApiHarness.StartAsync(options, ("t.pin", 1), (Pin, 1), (Geo, 3));
        using var ok = await api.SendAsync(HttpMethod.Put, $"streams/{Pin}/record", """{"Data":{"before":true},"PartitionKey":"p"}""");
        Assert.Equal(HttpStatusCode.OK, ok.StatusCode);
        return api;
    }

    private static async Task AssertNothingWrittenAsync(IngestApiHarness api)
    {
        Assert.Equal(1, await api.TotalRecordsAsync());
        Assert.Equal(new long[] { 1 }, await api.CountsAsync(Pin));
    }

    private static string Records(int count, Func<int, string>? data = null) =>
        "{\"records\":[" + string.Join(",", Enumerable.Range(0, count).Select(i => $$"""{"data":{{data?.Invoke(i) ?? "{\"i\":" + i + "}"}},"partition-key":"k{{i}}"}""")) + "]}";

    [Theory]
    [InlineData("streaming-nope")]
    [InlineData("t.pin")]
    public async Task An_unknown_stream_is_400_ResourceNotFoundException_on_every_route_and_writes_nothing(string stream)
    {
        await using var api = await StartWithOneRecordAsync();
        using (var put = await api.SendAsync(HttpMethod.Put, $"streams/{stream}/record", """{"Data":1,"PartitionKey":"p"}"""))
            await AssertKinesisErrorAsync(put, HttpStatusCode.BadRequest, "ResourceNotFoundException", $"Stream {stream} under account 000000000000 not found");
        using (var puts = await api.SendAsync(HttpMethod.Put, $"streams/{stream}/records", Records(2)))
            await AssertKinesisErrorAsync(puts, HttpStatusCode.BadRequest, "ResourceNotFoundException", stream);
        using (var describe = await api.Client.GetAsync($"streams/{stream}"))
            await AssertKinesisErrorAsync(describe, HttpStatusCode.BadRequest, "ResourceNotFoundException", stream);
        using (var delete = await api.SendAsync(HttpMethod.Delete, $"streams/{stream}"))
            await AssertKinesisErrorAsync(delete, HttpStatusCode.BadRequest, "ResourceNotFoundException", stream);
        Assert.Equal(3, (await api.Log.ListTopicsAsync()).Count);
        await AssertNothingWrittenAsync(api);
    }

    [Fact]
    public async Task A_StreamName_in_the_body_that_differs_from_the_path_is_400_InvalidArgumentException()
    {
        await using var api = await StartWithOneRecordAsync();
        using var response = await api.SendAsync(HttpMethod.Put, $"streams/{Pin}/record", $$"""{"StreamName":"{{Geo}}","Data":{"a":1},"PartitionKey":"p"}""");
        await AssertKinesisErrorAsync(response, HttpStatusCode.BadRequest, "InvalidArgumentException", $"StreamName '{Geo}' does not match the stream of the path, '{Pin}'");
        await AssertNothingWrittenAsync(api);
        Assert.Equal(new long[] { 0, 0, 0 }, await api.CountsAsync(Geo));
    }

    [Fact]
    public async Task More_than_500_records_is_400_ValidationException_and_500_are_taken()
    {
        await using var api = await StartWithOneRecordAsync();
        using (var tooMany = await api.SendAsync(HttpMethod.Put, $"streams/{Pin}/records", Records(501)))
            await AssertKinesisErrorAsync(tooMany, HttpStatusCode.BadRequest, "ValidationException", "more than 500");
        await AssertNothingWrittenAsync(api);
        using var ok = await api.SendAsync(HttpMethod.Put, $"streams/{Pin}/records", Records(500));
        Assert.Equal(HttpStatusCode.OK, ok.StatusCode);
        Assert.Equal(new long[] { 501 }, await api.CountsAsync(Pin));
    }

    [Fact]
    public async Task A_record_over_1_MiB_of_data_and_key_is_400_ValidationException_and_one_of_exactly_1_MiB_is_taken()
    {
        await using var api = await StartWithOneRecordAsync();
        const int MiB = 1024 * 1024;
        // PutRecords stores a string bare: data of MiB - 1 bytes plus the key "k" is exactly 1 MiB.
        string Bare(int length) => $$"""{"records":[{"data":{"i":0},"partition-key":"a"},{"data":"{{new string('x', length)}}","partition-key":"k"}]}""";
        using (var over = await api.SendAsync(HttpMethod.Put, $"streams/{Pin}/records", Bare(MiB)))
            await AssertKinesisErrorAsync(over, HttpStatusCode.BadRequest, "ValidationException", $"records[1]: data and partition key are {MiB + 1} bytes");
        // PutRecord stores the JSON text: the quotes count.
        using (var single = await api.SendAsync(HttpMethod.Put, $"streams/{Pin}/record", $$"""{"Data":"{{new string('x', MiB - 2)}}","PartitionKey":"k"}"""))
            await AssertKinesisErrorAsync(single, HttpStatusCode.BadRequest, "ValidationException", $"{MiB + 1} bytes; the limit is {MiB} bytes");
        await AssertNothingWrittenAsync(api);

        using var exact = await api.SendAsync(HttpMethod.Put, $"streams/{Pin}/records", Bare(MiB - 1));
        Assert.Equal(HttpStatusCode.OK, exact.StatusCode);
        var stored = await api.Log.ReadAsync(Pin, 0, 2, 1);
        Assert.Equal(MiB - 1, Assert.Single(stored).Value!.Length);
    }

    [Fact]
    public async Task A_request_over_5_MiB_of_records_is_400_ValidationException_and_writes_nothing()
    {
        await using var api = await StartWithOneRecordAsync();
        var body = Records(6, _ => "\"" + new string('y', 900 * 1024) + "\"");
        using var response = await api.SendAsync(HttpMethod.Put, $"streams/{Geo}/records", body);
        await AssertKinesisErrorAsync(response, HttpStatusCode.BadRequest, "ValidationException", "5 MiB");
        await AssertNothingWrittenAsync(api);
    }

    [Fact]
    public async Task A_body_over_the_servers_request_limit_is_413_and_writes_nothing()
    {
        await using var api = await StartWithOneRecordAsync(new IngestOptions { MaxRequestBytes = 4096 });
        using var response = await api.SendAsync(HttpMethod.Put, $"streams/{Pin}/records", Records(1, _ => "\"" + new string('z', 10_000) + "\""));
        await AssertKinesisErrorAsync(response, HttpStatusCode.RequestEntityTooLarge, "ValidationException", "4096 bytes");
        await AssertNothingWrittenAsync(api);
    }

    [Theory]
    [InlineData("record", "not json", "Malformed JSON at byte 1: invalid value (expected the literal 'null')")]
    [InlineData("record", "{\"Data\":1,", "Malformed JSON at byte 10: unexpected end of the body")]
    [InlineData("record", "", "empty")]
    [InlineData("record", "{\"Data\":1,\"PartitionKey\":\"p\"} trailing", "Malformed JSON at byte 30: data after the end of the JSON value, starting with 't'")]
    [InlineData("records", "{\"records\":[{\"data\":1,\"partition-key\":\"p\"}", "Malformed JSON at byte 42: unexpected end of the body (an object or array is not closed)")]
    [InlineData("records", "   ", "empty")]
    public async Task A_body_that_is_not_json_is_400_SerializationException_and_writes_nothing(string route, string body, string message)
    {
        await using var api = await StartWithOneRecordAsync();
        using var response = await api.SendAsync(HttpMethod.Put, $"streams/{Pin}/{route}", body);
        await AssertKinesisErrorAsync(response, HttpStatusCode.BadRequest, "SerializationException", message);
        await AssertNothingWrittenAsync(api);
    }

    [Theory]
    [InlineData("record", "[1]", "must be a JSON object")]
    [InlineData("record", "{\"PartitionKey\":\"p\"}", "no \"Data\" field")]
    [InlineData("record", "{\"Data\":{\"a\":1}}", "no \"PartitionKey\" field")]
    [InlineData("record", "{\"Data\":null,\"PartitionKey\":\"p\"}", "Data must not be null")]
    [InlineData("record", "{\"Data\":1,\"PartitionKey\":\"\"}", "PartitionKey must be a string of 1 to 256 characters (it has 0)")]
    [InlineData("record", "{\"Data\":1,\"PartitionKey\":7}", "PartitionKey must be a string")]
    [InlineData("record", "{\"Data\":1,\"Data\":2,\"PartitionKey\":\"p\"}", "\"Data\" appears twice")]
    [InlineData("record", "{\"Data\":1,\"PartitionKey\":\"p\",\"StreamName\":5}", "StreamName\" must be a string")]
    [InlineData("records", "{\"records\":[]}", "\"records\" is empty")]
    [InlineData("records", "{\"Records\":[{\"Data\":\"eA==\",\"PartitionKey\":\"p\"}]}", "lower-case")]
    [InlineData("records", "{\"data\":1}", "no \"records\" field")]
    [InlineData("records", "{\"records\":{\"data\":1}}", "must be an array")]
    [InlineData("records", "{\"records\":[{\"data\":1,\"partition-key\":\"p\"},5]}", "records[1] must be an object")]
    [InlineData("records", "{\"records\":[{\"data\":1,\"partition-key\":\"p\"},{\"partition-key\":\"p\"}]}", "records[1] has no \"data\"")]
    [InlineData("records", "{\"records\":[{\"data\":1}]}", "records[0] has no \"partition-key\"")]
    [InlineData("records", "{\"records\":[{\"data\":null,\"partition-key\":\"p\"}]}", "records[0].data must not be null")]
    public async Task A_body_that_is_not_the_routes_envelope_is_400_ValidationException_naming_the_problem(string route, string body, string message)
    {
        await using var api = await StartWithOneRecordAsync();
        using var response = await api.SendAsync(HttpMethod.Put, $"streams/{Pin}/{route}", body);
        await AssertKinesisErrorAsync(response, HttpStatusCode.BadRequest, "ValidationException", message);
        await AssertNothingWrittenAsync(api);
    }

    [Fact]
    public async Task A_partition_key_of_more_than_256_characters_is_400_and_one_of_256_is_taken()
    {
        await using var api = await StartWithOneRecordAsync();
        var long257 = string.Concat(Enumerable.Repeat("é", 257));
        using (var response = await api.SendAsync(HttpMethod.Put, $"streams/{Pin}/records", $$"""{"records":[{"data":1,"partition-key":"a"},{"data":1,"partition-key":"{{long257}}"}]}"""))
            await AssertKinesisErrorAsync(response, HttpStatusCode.BadRequest, "ValidationException", "records[1].partition-key must be a string of 1 to 256 characters (it has 257)");
        await AssertNothingWrittenAsync(api);
        using var ok = await api.SendAsync(HttpMethod.Put, $"streams/{Pin}/record", $$"""{"Data":1,"PartitionKey":"{{long257[..256]}}"}""");
        Assert.Equal(HttpStatusCode.OK, ok.StatusCode);
        Assert.Equal(long257[..256], Encoding.UTF8.GetString((await api.Log.ReadAsync(Pin, 0, 1, 1))[0].Key!));
    }

    [Fact]
    public async Task An_explicit_hash_key_that_is_not_a_128_bit_number_is_400_InvalidArgumentException()
    {
        await using var api = await StartWithOneRecordAsync();
        using var response = await api.SendAsync(HttpMethod.Put, $"streams/{Pin}/record", """{"Data":1,"PartitionKey":"p","ExplicitHashKey":"340282366920938463463374607431768211456"}""");
        await AssertKinesisErrorAsync(response, HttpStatusCode.BadRequest, "InvalidArgumentException", "ExplicitHashKey must be a decimal string");
        await AssertNothingWrittenAsync(api);
    }

    [Fact]
    public async Task Creating_a_stream_that_exists_is_400_ResourceInUseException_and_keeps_its_records()
    {
        await using var api = await StartWithOneRecordAsync();
        using var response = await api.SendAsync(HttpMethod.Post, $"streams/{Pin}", """{"ShardCount":3}""");
        await AssertKinesisErrorAsync(response, HttpStatusCode.BadRequest, "ResourceInUseException", $"Stream {Pin} under account 000000000000 already exists");
        await AssertNothingWrittenAsync(api);
    }

    [Theory]
    [InlineData("t.other", "{}", "InvalidArgumentException", "must start with 'streaming-'")]
    [InlineData("streaming-x", "{\"ShardCount\":0}", "InvalidArgumentException", "ShardCount must be a whole number from 1 to 10000")]
    [InlineData("streaming-x", "{\"ShardCount\":\"two\"}", "InvalidArgumentException", "ShardCount")]
    [InlineData("streaming-x", "{\"ShardCount\":", "SerializationException", "Malformed JSON at byte 14: unexpected end of the body")]
    [InlineData("streaming-a+b", "{}", "ValidationException", "contains '+'")]
    public async Task A_bad_create_request_is_400_and_creates_nothing(string stream, string body, string type, string message)
    {
        await using var api = await StartWithOneRecordAsync();
        using var response = await api.SendAsync(HttpMethod.Post, $"streams/{Uri.EscapeDataString(stream)}", body);
        await AssertKinesisErrorAsync(response, HttpStatusCode.BadRequest, type, message);
        Assert.Equal(3, (await api.Log.ListTopicsAsync()).Count);
    }

    [Fact]
    public async Task A_stream_name_longer_than_128_characters_is_400_ValidationException()
    {
        await using var api = await StartWithOneRecordAsync();
        var name = "streaming-" + new string('n', 119);
        using var response = await api.SendAsync(HttpMethod.Post, $"streams/{name}");
        await AssertKinesisErrorAsync(response, HttpStatusCode.BadRequest, "ValidationException", "129 characters long; the limit is 128");
        Assert.Null(await api.Log.DescribeTopicAsync(name));
    }

    [Fact]
    public async Task A_record_larger_than_the_log_accepts_is_400_ValidationException_and_writes_nothing()
    {
        await using var api = await IngestApiHarness.StartAsync(o => o with { MaxRecordBytes = 50 }, null, (Pin, 1));
        using var response = await api.SendAsync(HttpMethod.Put, $"streams/{Pin}/record", $$"""{"Data":"{{new string('x', 80)}}","PartitionKey":"p"}""");
        await AssertKinesisErrorAsync(response, HttpStatusCode.BadRequest, "ValidationException", "larger than the limit of 50 bytes");
        Assert.Equal(0, await api.TotalRecordsAsync());
    }

    [Fact]
    public async Task When_the_log_is_closed_the_routes_answer_500_InternalFailure()
    {
        await using var api = await StartWithOneRecordAsync();
        await api.Log.DisposeAsync();
        using (var single = await api.SendAsync(HttpMethod.Put, $"streams/{Pin}/record", """{"Data":1,"PartitionKey":"p"}"""))
            await AssertKinesisErrorAsync(single, HttpStatusCode.InternalServerError, "InternalFailure", "nothing was written; retry: the log is closed");
        using (var many = await api.SendAsync(HttpMethod.Put, $"streams/{Pin}/records", Records(3)))
            await AssertKinesisErrorAsync(many, HttpStatusCode.InternalServerError, "InternalFailure", "the log is closed");
        using (var list = await api.Client.GetAsync("streams"))
            await AssertKinesisErrorAsync(list, HttpStatusCode.InternalServerError, "InternalFailure", "the log is closed");
    }

    [Theory]
    [InlineData("record", "{\"PartitionKey\":\"p\",\"Data\":{\"title\":\"a", "\"}}", "Data is not valid UTF-8 JSON (an invalid UTF-8 sequence at byte 11 of the value)")]
    [InlineData("records", "{\"records\":[{\"data\":1,\"partition-key\":\"p\"},{\"partition-key\":\"p\",\"data\":{\"title\":\"a", "\"}}]}", "records[1].data is not valid UTF-8 JSON")]
    [InlineData("records", "{\"records\":[{\"partition-key\":\"p\",\"data\":\"bare ", "\"}]}", "records[0].data is not valid UTF-8 JSON")]
    public async Task Data_holding_bytes_that_are_not_UTF8_is_400_SerializationException_naming_the_record_and_writes_nothing(string route, string head, string tail, string message)
    {
        await using var api = await StartWithOneRecordAsync();
        using var content = new ByteArrayContent([.. Encoding.UTF8.GetBytes(head), 0xFF, 0xFE, .. Encoding.UTF8.GetBytes(tail)]);
        content.Headers.ContentType = new System.Net.Http.Headers.MediaTypeHeaderValue("application/json");
        using var response = await api.Client.PutAsync($"streams/{Pin}/{route}", content);
        await AssertKinesisErrorAsync(response, HttpStatusCode.BadRequest, "SerializationException", message);
        await AssertNothingWrittenAsync(api);
    }

    /// <summary>Found by the fuzz (<see cref="ApiFuzzTests"/>): these strings were read as .NET strings, which threw, and the answer was 500.</summary>
    [Theory]
    [InlineData("record", "{\"Data\":1,\"PartitionKey\":\"p", "\"}", "PartitionKey is not valid UTF-8 JSON text")]
    [InlineData("record", "{\"StreamName\":\"s", "\",\"Data\":1,\"PartitionKey\":\"p\"}", "StreamName is not valid UTF-8 JSON text")]
    [InlineData("record", "{\"Data\":1,\"PartitionKey\":\"p\",\"ExplicitHashKey\":\"1", "\"}", "ExplicitHashKey is not valid UTF-8 JSON text")]
    [InlineData("records", "{\"records\":[{\"data\":1,\"partition-key\":\"k", "\"}]}", "records[0].partition-key is not valid UTF-8 JSON text")]
    [InlineData("records", "{\"records\":[{\"data\":1,\"partition-key\":\"k\",\"explicit-hash-key\":\"1", "\"}]}", "records[0].explicit-hash-key is not valid UTF-8 JSON text")]
    public async Task A_key_or_name_holding_bytes_that_are_not_UTF8_is_400_SerializationException_not_500_and_writes_nothing(string route, string head, string tail, string message)
    {
        await using var api = await StartWithOneRecordAsync();
        foreach (byte[] bad in (byte[][])[[0xFF], [0xC3], [0xED, 0xA0, 0x80]])
        {
            using var content = new ByteArrayContent([.. Encoding.UTF8.GetBytes(head), .. bad, .. Encoding.UTF8.GetBytes(tail)]);
            content.Headers.ContentType = new System.Net.Http.Headers.MediaTypeHeaderValue("application/json");
            using var response = await api.Client.PutAsync($"streams/{Pin}/{route}", content);
            await AssertKinesisErrorAsync(response, HttpStatusCode.BadRequest, "SerializationException", message);
        }
        // An escaped lone surrogate has no UTF-8 form either.
        using (var escaped = await api.SendAsync(HttpMethod.Put, $"streams/{Pin}/{route}", head + "\\ud800" + tail))
            await AssertKinesisErrorAsync(escaped, HttpStatusCode.BadRequest, "SerializationException", message);
        await AssertNothingWrittenAsync(api);
    }
}
