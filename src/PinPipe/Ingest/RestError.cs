using System.Diagnostics.CodeAnalysis;
using System.Text.Json;
using Microsoft.AspNetCore.Http;

namespace PinPipe.Ingest;

/// <summary>
/// A REST-Proxy-shaped error: HTTP status plus <c>{"error_code": &lt;int&gt;, "message": "..."}</c>.
/// Every error the ingest API returns is one of these, built in one place.
/// </summary>
[SuppressMessage("Naming", "CA1710:Identifiers should have correct suffix", Justification = "Named after what it is on the wire: the REST Proxy's error answer (status, error_code, message).")]
public sealed class RestError : Exception
{
    public RestError(int status, int errorCode, string message, Exception? inner = null) : base(message, inner)
    {
        Status = status;
        ErrorCode = errorCode;
    }

    /// <summary>The HTTP status.</summary>
    public int Status { get; }

    /// <summary>The REST Proxy error code (HTTP status × 100 + sub-code, or the bare status).</summary>
    public int ErrorCode { get; }

    /// <summary>The seconds a client should wait before retrying, sent as <c>Retry-After</c>; null sends none.</summary>
    public int? RetryAfterSeconds { get; init; }

    /// <summary><c>Retry-After</c> of a request shed because the log or the server cannot keep up.</summary>
    internal const int OverloadedRetryAfterSeconds = 1;

    /// <summary><c>Retry-After</c> of a write refused because the disk under the log is full: space comes back slowly.</summary>
    internal const int DiskFullRetryAfterSeconds = 5;

    public static RestError MalformedJson(string detail) => new(400, 400, $"Malformed JSON: {detail}");
    /// <summary>The body is not JSON: where and why, in our words (<see cref="JsonSyntax"/>).</summary>
    public static RestError MalformedJson(JsonException error, ReadOnlySpan<byte> body) => new(400, 400, JsonSyntax.Describe(error, body));
    public static RestError BadBase64(int index) => new(400, 400, $"Bad Request: records[{index}]: data is not a base64 string.");
    public static RestError InvalidUtf8(int index, string field, int at) =>
        new(400, 400, $"Malformed JSON: records[{index}].{field} is not valid UTF-8 JSON (an invalid UTF-8 sequence at byte {at} of the {field}); nothing was written.");
    public static RestError InvalidPayload(string detail) => new(422, 42206, $"Invalid payload: {detail}");
    public static RestError TopicNotFound(string topic) => new(404, 40401, $"Topic not found: '{topic}'.");
    public static RestError PartitionNotFound(string topic, int partition) => new(404, 40402, $"Partition not found: topic '{topic}' has no partition {partition}.");
    public static RestError UnsupportedMediaType(string? contentType, IEnumerable<string> supported) =>
        new(415, 415, $"HTTP 415 Unsupported Media Type: Content-Type '{contentType ?? "(none)"}' is not accepted here; use one of {string.Join(", ", supported)}.");
    public static RestError BodyTooLarge(long limit) => new(413, 413, $"Request body is larger than the limit of {limit} bytes.");
    public static RestError RecordTooLarge(string detail) => new(413, 413, $"Record too large: {detail}");
    public static RestError TooManyRecords(int count, int limit) => new(422, 42206, $"Invalid payload: {count} records in one request; the limit is {limit}.");
    public static RestError LogUnavailable(string detail) => new(500, 50003, $"The log could not take the write, nothing was written; retry: {detail}");
    public static RestError Overloaded(string detail) => new(503, 50301,
        $"Service Unavailable: the server cannot keep up, nothing was written; retry after {OverloadedRetryAfterSeconds} s (Retry-After): {detail}")
    { RetryAfterSeconds = OverloadedRetryAfterSeconds };
    public static RestError DiskFull() => new(503, 50302,
        $"Service Unavailable: the disk under the log is full, nothing was written; retry once space is freed (Retry-After {DiskFullRetryAfterSeconds} s).")
    { RetryAfterSeconds = DiskFullRetryAfterSeconds };
    public static RestError LogUnreadable(string detail) => new(500, 50003, $"The log could not be read; retry: {detail}");
    public static RestError LogFailed(string detail) => new(500, 50002, $"The log failed, nothing was written: {detail}");
    public static RestError StreamNotTopic(string topic) =>
        new(404, 40401, $"Topic not found: '{topic}' is a stream (its name starts with '{KinesisShards.StreamPrefix}'); put its records through PUT /streams/{topic}/record or /records.");
    public static RestError RequestTimeout() => new(408, 408, "Request Timeout: the request body arrived too slowly and was not read; nothing was written.");

    /// <summary>The media type of every REST Proxy v2 answer.</summary>
    public const string ResponseContentType = "application/vnd.kafka.v2+json";

    /// <summary>Writes this error as the response.</summary>
    public Task WriteAsync(HttpResponse response)
    {
        response.StatusCode = Status;
        response.ContentType = ResponseContentType;
        response.Headers.XContentTypeOptions = "nosniff";
        if (RetryAfterSeconds is int seconds) response.Headers.RetryAfter = seconds.ToString(System.Globalization.CultureInfo.InvariantCulture);
        var buffer = new System.Buffers.ArrayBufferWriter<byte>(128 + Message.Length);
        // As the Kinesis routes write: quotes as \", apostrophes, '+' and non-ASCII as they are (no \u0027-style escapes).
        using (var writer = new Utf8JsonWriter(buffer, KinesisError.WriterOptions))
        {
            writer.WriteStartObject();
            writer.WriteNumber("error_code", ErrorCode);
            writer.WriteString("message", Message);
            writer.WriteEndObject();
        }
        response.ContentLength = buffer.WrittenCount;
        return response.Body.WriteAsync(buffer.WrittenMemory).AsTask();
    }
}
