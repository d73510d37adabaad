using System.Diagnostics.CodeAnalysis;
using System.Text.Json;
using Microsoft.AspNetCore.Http;

namespace PinPipe.Ingest;

/// <summary>
/// A Kinesis-shaped error of the Kinesis proxy routes: HTTP status plus <c>{"__type": "...", "message": "..."}</c>
/// (and the <c>x-amzn-ErrorType</c> header), which AWS SDK parsers and the emulator read. Built in one place.
/// </summary>
[SuppressMessage("Design", "CA1064:Exceptions should be public", Justification = "Never leaves the Kinesis routes: they catch it and write it as the HTTP answer.")]
internal sealed class KinesisError : Exception
{
    private KinesisError(int status, string type, string message) : base(message)
    {
        Status = status;
        Type = type;
    }

    /// <summary>The HTTP status.</summary>
    public int Status { get; }

    /// <summary>The Kinesis error name, e.g. <c>ValidationException</c>.</summary>
    public string Type { get; }

    /// <summary>The seconds a client should wait before retrying, sent as <c>Retry-After</c>; null sends none.</summary>
    public int? RetryAfterSeconds { get; private init; }

    /// <summary>The media type of every Kinesis proxy answer (what API Gateway passes back).</summary>
    public const string ResponseContentType = "application/json";

    /// <summary>
    /// How the API writes JSON (the Kinesis routes' answers and every error body): quotes as <c>\"</c>, apostrophes, <c>+</c>,
    /// <c>&lt;</c> and non-ASCII as they are, no <c>\u0027</c>-style escapes. The answers are JSON, never HTML, and error
    /// answers carry <c>X-Content-Type-Options: nosniff</c>.
    /// </summary>
    internal static readonly JsonWriterOptions WriterOptions = new() { Encoder = System.Text.Encodings.Web.JavaScriptEncoder.UnsafeRelaxedJsonEscaping };

    /// <summary>An error of any status and type (the request guards').</summary>
    internal static KinesisError Of(int status, string type, string message) => new(status, type, message);

    public static KinesisError Validation(string detail) => new(400, "ValidationException", detail);
    public static KinesisError InvalidArgument(string detail) => new(400, "InvalidArgumentException", detail);
    public static KinesisError Serialization(string detail) => new(400, "SerializationException", $"The body is not valid JSON: {detail}");
    /// <summary>The body is not JSON: where and why, in our words (<see cref="JsonSyntax"/>).</summary>
    public static KinesisError MalformedJson(JsonException error, ReadOnlySpan<byte> body) => new(400, "SerializationException", JsonSyntax.Describe(error, body));
    public static KinesisError StreamNotFound(string stream) =>
        new(400, "ResourceNotFoundException", $"Stream {stream} under account {KinesisShards.Account} not found.");
    public static KinesisError StreamExists(string stream) =>
        new(400, "ResourceInUseException", $"Stream {stream} under account {KinesisShards.Account} already exists.");
    public static KinesisError StreamInUse(string detail) => new(400, "ResourceInUseException", detail);
    public static KinesisError BodyTooLarge(long limit) => new(413, "ValidationException", $"The request body is larger than the limit of {limit} bytes (Ingest:MaxRequestBytes).");
    public static KinesisError UnsupportedMediaType(string? contentType, IEnumerable<string> supported) =>
        new(415, "UnsupportedMediaTypeException", $"Content-Type '{contentType ?? "(none)"}' is not accepted here; use one of {string.Join(", ", supported)}.");
    public static KinesisError LimitExceeded(string detail) => new(400, "LimitExceededException", detail);
    public static KinesisError RequestTimeout() => new(408, "RequestTimeoutException", "The request body arrived too slowly and was not read; nothing was written.");
    /// <summary>503 <c>ServiceUnavailable</c> (AWS's answer when it cannot take the request now) with <c>Retry-After</c>.</summary>
    public static KinesisError ServiceUnavailable(string message, int retryAfterSeconds) =>
        new(503, "ServiceUnavailable", message) { RetryAfterSeconds = retryAfterSeconds };
    /// <summary>The log cannot keep up: 503 <c>ServiceUnavailable</c>, retry after a second.</summary>
    public static KinesisError Overloaded(string detail) => ServiceUnavailable(
        $"The server cannot keep up, nothing was written; retry after {RestError.OverloadedRetryAfterSeconds} s (Retry-After): {detail}", RestError.OverloadedRetryAfterSeconds);
    /// <summary>The disk under the log is full: 503 <c>ServiceUnavailable</c>.</summary>
    public static KinesisError DiskFull() => ServiceUnavailable(
        $"The disk under the log is full, nothing was written; retry once space is freed (Retry-After {RestError.DiskFullRetryAfterSeconds} s).", RestError.DiskFullRetryAfterSeconds);
    public static KinesisError Internal(string detail) => new(500, "InternalFailure", $"The log failed, nothing was written; retry: {detail}");

    /// <summary>Writes this error as the response.</summary>
    public Task WriteAsync(HttpResponse response)
    {
        response.StatusCode = Status;
        response.ContentType = ResponseContentType;
        response.Headers["x-amzn-ErrorType"] = Type;
        response.Headers.XContentTypeOptions = "nosniff";
        if (RetryAfterSeconds is int seconds) response.Headers.RetryAfter = seconds.ToString(System.Globalization.CultureInfo.InvariantCulture);
        var buffer = new System.Buffers.ArrayBufferWriter<byte>(128 + Message.Length);
        using (var writer = new Utf8JsonWriter(buffer, WriterOptions))
        {
            writer.WriteStartObject();
            writer.WriteString("__type", Type);
            writer.WriteString("message", Message);
            writer.WriteEndObject();
        }
        response.ContentLength = buffer.WrittenCount;
        return response.Body.WriteAsync(buffer.WrittenMemory).AsTask();
    }
}
