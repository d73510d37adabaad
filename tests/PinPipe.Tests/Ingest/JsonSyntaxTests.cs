using System.Net;
using System.Text.Json;

namespace PinPipe.Tests.Ingest;

/// <summary>
/// A body that is not JSON is answered in our words, in both route families: where (the byte of a one-line body; line,
/// column and byte of a body spanning lines) and why, never the .NET reader's text nor <c>\u0027</c>-style escapes.
/// </summary>
public sealed class JsonSyntaxTests
{
    private const string Pin = "streaming-t-pin";

    /// <summary>What no error body may hold: the reader's own wording and the strict encoder's escapes.</summary>
    private static readonly string[] Foreign = ["BytePositionInLine", "LineNumber", "reader options", "JsonReaderException", "\\u0027", "\\u0022", "\\u002B", "\\u003C"];

    private static async Task<string> AssertErrorBodyAsync(HttpResponseMessage response, string expectedMessage)
    {
        var body = await response.Content.ReadAsStringAsync();
        Assert.True(response.StatusCode == HttpStatusCode.BadRequest, $"expected 400, got {response.StatusCode}: {body}");
        foreach (var foreign in Foreign) Assert.DoesNotContain(foreign, body, StringComparison.Ordinal);
        using var doc = JsonDocument.Parse(body);
        Assert.Equal(expectedMessage, doc.RootElement.GetProperty("message").GetString());
        return body;
    }

    [Theory]
    [InlineData("""{"records":[{"value":1},]}""", "Malformed JSON at byte 24: trailing comma before ']'.")]
    [InlineData("""{"records":[{"value":{"a":1,}}]}""", "Malformed JSON at byte 28: trailing comma before '}'.")]
    [InlineData("""{"records":[{"value":1}""", "Malformed JSON at byte 23: unexpected end of the body (an object or array is not closed).")]
    [InlineData("""{"records":[{"value":'x'}]}""", "Malformed JSON at byte 21: invalid value starting with \"'\".")]
    [InlineData("""{"records":[{"value":"abc""", "Malformed JSON at byte 25: unterminated string (the body ends inside it).")]
    [InlineData("""{"records":[{"value":"a\qb"}]}""", "Malformed JSON at byte 24: invalid escape '\\q' in a string (valid: \\\" \\\\ \\/ \\b \\f \\n \\r \\t \\uXXXX).")]
    [InlineData("""{"records":[{"value":"\u12G4"}]}""", "Malformed JSON at byte 26: invalid \\u escape in a string: 'G' is not a hex digit.")]
    [InlineData("""{"records":[{value:1}]}""", "Malformed JSON at byte 13: expected a property name in double quotes, found 'v'.")]
    [InlineData("""{"records":[{"value" 1}]}""", "Malformed JSON at byte 21: expected ':' after a property name, found '1'.")]
    [InlineData("""{"records":[{"value":tru}]}""", "Malformed JSON at byte 24: invalid value (expected the literal 'true').")]
    [InlineData("""{"records":[{"value":01}]}""", "Malformed JSON at byte 22: invalid number: a leading zero.")]
    [InlineData("""{"records":[{"value":1 "key":2}]}""", "Malformed JSON at byte 23: expected ',', '}' or ']' after a value, found '\"'.")]
    [InlineData("""{"records":[{"value":[1}]}""", "Malformed JSON at byte 23: '}' closes nothing (no matching opening bracket).")]
    [InlineData("{\"records\":[{\"value\":\"a\tb\"}]}", "Malformed JSON at byte 23: the control character 0x09 in a string must be escaped.")]
    [InlineData("{\n  \"records\": [\n    {\"value\": 1},\n  ]\n}", "Malformed JSON at line 4, column 3 (byte 37): trailing comma before ']'.")]
    [InlineData("{\"records\": [\n  {\"value\": {\"a\": 1}}\n  {\"value\": 2}\n]}", "Malformed JSON at line 3, column 3 (byte 38): expected ',', '}' or ']' after a value, found '{'.")]
    public async Task The_kafka_routes_say_where_and_why_a_body_is_not_json_and_write_nothing(string body, string message)
    {
        await using var api = await IngestApiHarness.StartAsync();
        using var response = await api.PostAsync("/topics/t.pin", body);
        var text = await AssertErrorBodyAsync(response, message);
        using var doc = JsonDocument.Parse(text);
        Assert.Equal(400, doc.RootElement.GetProperty("error_code").GetInt32());
        Assert.Equal(0, await api.TotalRecordsAsync());
    }

    [Theory]
    [InlineData("record", """{"Data":{"a":1,},"PartitionKey":"p"}""", "Malformed JSON at byte 15: trailing comma before '}'.")]
    [InlineData("record", """{"Data":nul,"PartitionKey":"p"}""", "Malformed JSON at byte 11: invalid value (expected the literal 'null').")]
    [InlineData("record", """{"Data":"\u12G4","PartitionKey":"p"}""", "Malformed JSON at byte 13: invalid \\u escape in a string: 'G' is not a hex digit.")]
    [InlineData("record", """{"Data":{"it's":'x'},"PartitionKey":"p"}""", "Malformed JSON at byte 16: invalid value starting with \"'\".")]
    [InlineData("record", """{"Data":"abc""", "Malformed JSON at byte 12: unterminated string (the body ends inside it).")]
    [InlineData("records", """{"records":[{"data":1,"partition-key":"p"},]}""", "Malformed JSON at byte 43: trailing comma before ']'.")]
    [InlineData("records", """{"records":[{data:1}]}""", "Malformed JSON at byte 13: expected a property name in double quotes, found 'd'.")]
    [InlineData("record", "{\n  \"Data\": {\"a\": 1}\n  \"PartitionKey\": \"p\"\n}", "Malformed JSON at line 3, column 3 (byte 23): expected ',', '}' or ']' after a value, found '\"'.")]
    public async Task The_kinesis_routes_say_where_and_why_a_body_is_not_json_and_write_nothing(string route, string body, string message)
    {
        await using var api = await IngestApiHarness.StartAsync(null, ("t.pin", 1), (Pin, 1));
        using var response = await api.SendAsync(HttpMethod.Put, $"streams/{Pin}/{route}", body);
        var text = await AssertErrorBodyAsync(response, message);
        using var doc = JsonDocument.Parse(text);
        Assert.Equal("SerializationException", doc.RootElement.GetProperty("__type").GetString());
        Assert.Equal(0, await api.TotalRecordsAsync());
    }

    [Fact]
    public async Task A_value_nested_deeper_than_the_limit_is_named_as_such()
    {
        await using var api = await IngestApiHarness.StartAsync();
        string body = "{\"records\":[{\"value\":" + new string('[', 70) + new string(']', 70) + "}]}";
        using var response = await api.PostAsync("/topics/t.pin", body);
        var text = await response.Content.ReadAsStringAsync();
        Assert.Equal(HttpStatusCode.BadRequest, response.StatusCode);
        foreach (var foreign in Foreign) Assert.DoesNotContain(foreign, text, StringComparison.Ordinal);
        using var doc = JsonDocument.Parse(text);
        Assert.Matches("^Malformed JSON at byte [0-9]+: nested more than 64 levels deep\\.$", doc.RootElement.GetProperty("message").GetString());
        Assert.Equal(0, await api.TotalRecordsAsync());
    }

    [Fact]
    public async Task Creating_a_stream_with_a_body_that_is_not_json_says_where_and_why()
    {
        await using var api = await IngestApiHarness.StartAsync(null, ("t.pin", 1));
        using var response = await api.SendAsync(HttpMethod.Post, "streams/streaming-new", """{"ShardCount":}""");
        await AssertErrorBodyAsync(response, "Malformed JSON at byte 14: invalid value starting with '}'.");
        Assert.Null(await api.Log.DescribeTopicAsync("streaming-new"));
    }

    [Fact]
    public async Task A_lone_surrogate_escape_in_a_records_data_is_named_in_our_words()
    {
        await using var api = await IngestApiHarness.StartAsync(null, ("t.pin", 1), (Pin, 1));
        using var response = await api.SendAsync(HttpMethod.Put, $"streams/{Pin}/records", """{"records":[{"data":"\ud800","partition-key":"p"}]}""");
        var body = await response.Content.ReadAsStringAsync();
        Assert.Equal(HttpStatusCode.BadRequest, response.StatusCode);
        Assert.DoesNotContain("transcode", body, StringComparison.OrdinalIgnoreCase);
        Assert.Contains("records[0].data is a string with an escaped lone surrogate", body, StringComparison.Ordinal);
        Assert.Equal(0, await api.TotalRecordsAsync());
    }
}
