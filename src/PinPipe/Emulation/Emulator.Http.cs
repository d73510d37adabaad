using System.Diagnostics;
using System.Globalization;
using System.Net;
using System.Net.Http.Headers;
using System.Text;
using System.Text.Json;
using Microsoft.Extensions.Logging;

namespace PinPipe.Emulation;

// The wire side: request bodies, the HTTP exchange and reading the answers of SPEC §6.
public sealed partial class Emulator
{
    internal const string KafkaJsonContentType = "application/vnd.kafka.json.v2+json";
    internal const string KafkaAccept = "application/vnd.kafka.v2+json";
    internal const string OriginalPartitionKey = "partition-1";
    private static readonly MediaTypeHeaderValue KafkaJson = new(KafkaJsonContentType);
    private static readonly MediaTypeHeaderValue PlainJson = new("application/json");
    private static readonly MediaTypeWithQualityHeaderValue KafkaAcceptHeader = new(KafkaAccept);

    private async Task<Outcome> AttemptAsync(HttpClient client, Target target, List<PendingRecord> records, CancellationToken abort)
    {
        using var request = new HttpRequestMessage(target.Method, target.Uri)
        {
            Version = HttpVersion.Version11,
            VersionPolicy = HttpVersionPolicy.RequestVersionExact,
            Content = new ByteArrayContent(target.Body(records)),
        };
        request.Content.Headers.ContentType = target.Kind == TargetKind.Topic ? KafkaJson : PlainJson;
        if (target.Kind == TargetKind.Topic) request.Headers.Accept.Add(KafkaAcceptHeader);
        if (_options.ApiKey is { } apiKey) request.Headers.TryAddWithoutValidation("x-api-key", apiKey);

        Interlocked.Increment(ref _requests);
        Interlocked.Increment(ref _inFlight);
        var start = Stopwatch.GetTimestamp();
        try
        {
            using var response = await client.SendAsync(request, HttpCompletionOption.ResponseContentRead, abort).ConfigureAwait(false);
            var body = await response.Content.ReadAsByteArrayAsync(abort).ConfigureAwait(false);
            _latency.Record((long)Stopwatch.GetElapsedTime(start).TotalMicroseconds);
            var retryAfter = response.Headers.RetryAfter?.Delta;
            return Interpret(target, (int)response.StatusCode, body, records, retryAfter);
        }
        catch (OperationCanceledException) when (abort.IsCancellationRequested)
        {
            return Outcome.Fail(records, retriable: false, "the run was cancelled before the API answered");
        }
        catch (TaskCanceledException ex)
        {
            return Outcome.Fail(records, retriable: true, $"no answer within {RequestTimeout.TotalSeconds:0} s ({ex.Message})");
        }
        catch (Exception ex) when (ex is HttpRequestException or IOException or System.Net.Sockets.SocketException)
        {
            // SocketsHttpHandler wraps most transport failures in HttpRequestException, not all: a connection the server
            // closed just as it was made (a restarting `pinpipe serve`) can surface as a raw SocketException (ENOTCONN).
            return Outcome.Fail(records, retriable: true, $"connection error: {ex.Message}");
        }
#pragma warning disable CA1031 // any other failure is a bug: its records count as lost and the run goes on, rather than a worker dying and the dispatcher waiting for it
        catch (Exception ex)
#pragma warning restore CA1031
        {
            _logger.LogError(ex, "Emulator: sending {Count} record(s) to {Target} failed unexpectedly; they count as lost.", records.Count, target.Name);
            return Outcome.Fail(records, retriable: false, $"unexpected error: {ex.GetType().Name}: {ex.Message}");
        }
        finally
        {
            Interlocked.Decrement(ref _inFlight);
        }
    }

    internal static Outcome Interpret(Target target, int status, byte[] body, List<PendingRecord> records, TimeSpan? retryAfter = null)
    {
        if (status is < 200 or > 299)
        {
            var error = $"HTTP {status}: {ErrorText(body)}";
            // 429 or 503 with Retry-After: the server sheds load and says when to come back (nothing was written).
            return status == 429 || status >= 500
                ? Outcome.Fail(records, retriable: true, error, retryAfter) with { Shed = status is 429 or 503 && retryAfter is not null }
                : Outcome.Fail(records, retriable: false, error);
        }

        try
        {
            using var doc = JsonDocument.Parse(body);
            var root = doc.RootElement;
            if (root.ValueKind != JsonValueKind.Object) return Unexpected(records, body);
            return target.Kind switch
            {
                TargetKind.Topic => ReadOffsets(root, records, body),
                TargetKind.StreamRecord => ReadPutRecord(root, records, body),
                _ => ReadPutRecords(root, records, body, retryAfter),
            };
        }
        catch (JsonException)
        {
            return Unexpected(records, body);
        }
    }

    /// <summary>REST Proxy: one offset per record, in order; a record whose offset has an error failed (retriably).</summary>
    private static Outcome ReadOffsets(JsonElement root, List<PendingRecord> records, byte[] body)
    {
        if (!root.TryGetProperty("offsets", out var offsets) || offsets.ValueKind != JsonValueKind.Array || offsets.GetArrayLength() != records.Count)
        {
            return Unexpected(records, body);
        }

        List<PendingRecord>? failed = null;
        string? error = null;
        var i = 0;
        foreach (var offset in offsets.EnumerateArray())
        {
            var code = offset.ValueKind == JsonValueKind.Object && offset.TryGetProperty("error_code", out var c) ? c : default;
            var text = offset.ValueKind == JsonValueKind.Object && offset.TryGetProperty("error", out var e) ? e : default;
            if (IsPresent(code) || IsPresent(text) || offset.ValueKind != JsonValueKind.Object)
            {
                (failed ??= []).Add(records[i]);
                error ??= $"record error {Show(code)}: {Show(text)}";
            }

            i++;
        }

        return new Outcome(records.Count - (failed?.Count ?? 0), failed, Retriable: true, error, null);
    }

    /// <summary>Kinesis PutRecord through API Gateway: a sequence number, or (as a 200) a Kinesis error body.</summary>
    private static Outcome ReadPutRecord(JsonElement root, List<PendingRecord> records, byte[] body)
    {
        if (root.TryGetProperty("SequenceNumber", out var seq) && seq.ValueKind == JsonValueKind.String)
        {
            return new Outcome(records.Count, null, false, null, null);
        }

        return KinesisError(root, records, body);
    }

    /// <summary>
    /// Kinesis PutRecords: per record a sequence number or an ErrorCode; failed ones are retried (after
    /// <paramref name="retryAfter"/> when the answer says it, as shed).
    /// </summary>
    private static Outcome ReadPutRecords(JsonElement root, List<PendingRecord> records, byte[] body, TimeSpan? retryAfter)
    {
        if (!root.TryGetProperty("Records", out var results) || results.ValueKind != JsonValueKind.Array)
        {
            return KinesisError(root, records, body);
        }

        if (results.GetArrayLength() != records.Count) return Unexpected(records, body);
        List<PendingRecord>? failed = null;
        string? error = null;
        var i = 0;
        foreach (var result in results.EnumerateArray())
        {
            var code = result.ValueKind == JsonValueKind.Object && result.TryGetProperty("ErrorCode", out var c) ? c : default;
            var ok = result.ValueKind == JsonValueKind.Object && !IsPresent(code)
                && result.TryGetProperty("SequenceNumber", out var s) && s.ValueKind == JsonValueKind.String;
            if (!ok)
            {
                (failed ??= []).Add(records[i]);
                var message = result.ValueKind == JsonValueKind.Object && result.TryGetProperty("ErrorMessage", out var m) ? m : default;
                error ??= $"record error {Show(code)}: {Show(message)}";
            }

            i++;
        }

        var declared = root.TryGetProperty("FailedRecordCount", out var f) && f.TryGetInt32(out var n) ? n : 0;
        if (declared > 0 && failed is null) return Unexpected(records, body);
        return new Outcome(records.Count - (failed?.Count ?? 0), failed, Retriable: true, error, failed is null ? null : retryAfter) { Shed = failed is not null && retryAfter is not null };
    }

    /// <summary>A Kinesis error passed back as a 200 (<c>__type</c> and <c>message</c>); throttling and internal failures are retried.</summary>
    private static Outcome KinesisError(JsonElement root, List<PendingRecord> records, byte[] body)
    {
        var type = root.TryGetProperty("__type", out var t) && t.ValueKind == JsonValueKind.String ? t.GetString()! : null;
        if (type is null) return Unexpected(records, body);
        var name = type[(type.LastIndexOf('#') + 1)..];
        var retriable = name.Contains("ProvisionedThroughputExceeded", StringComparison.Ordinal)
            || name.Contains("InternalFailure", StringComparison.Ordinal)
            || name.Contains("LimitExceeded", StringComparison.Ordinal)
            || name.Contains("Throttl", StringComparison.Ordinal)
            || name.Contains("ServiceUnavailable", StringComparison.Ordinal);
        return Outcome.Fail(records, retriable, $"{name}: {ErrorText(body)}");
    }

    private static Outcome Unexpected(List<PendingRecord> records, byte[] body) =>
        Outcome.Fail(records, retriable: false, $"unexpected answer: {Truncate(Encoding.UTF8.GetString(body))}");

    /// <summary>The <c>message</c> of a REST-Proxy or AWS error body, or the body's text.</summary>
    private static string ErrorText(byte[] body)
    {
        try
        {
            using var doc = JsonDocument.Parse(body);
            if (doc.RootElement.ValueKind == JsonValueKind.Object)
            {
                foreach (var key in (string[])["message", "Message"])
                {
                    if (doc.RootElement.TryGetProperty(key, out var m) && m.ValueKind == JsonValueKind.String)
                    {
                        var code = doc.RootElement.TryGetProperty("error_code", out var c) ? $" (error_code {c.GetRawText()})" : "";
                        return m.GetString() + code;
                    }
                }
            }
        }
        catch (JsonException)
        {
            // Not JSON: show the text.
        }

        return body.Length == 0 ? "(empty body)" : Truncate(Encoding.UTF8.GetString(body));
    }

    private static bool IsPresent(JsonElement e) => e.ValueKind is not (JsonValueKind.Undefined or JsonValueKind.Null);

    private static string Show(JsonElement e) => e.ValueKind switch
    {
        JsonValueKind.Undefined or JsonValueKind.Null => "null",
        JsonValueKind.String => e.GetString()!,
        _ => e.GetRawText(),
    };

    private static string Truncate(string text) => text.Length <= 300 ? text : text[..300] + "…";

    internal enum TargetKind
    {
        /// <summary>Kafka REST <c>POST /topics/{topic}</c>.</summary>
        Topic,

        /// <summary>Kinesis proxy <c>PUT /streams/{stream}/record</c>, one record.</summary>
        StreamRecord,

        /// <summary>Kinesis proxy <c>PUT /streams/{stream}/records</c>.</summary>
        StreamRecords,
    }

    /// <summary>What a request's records went to, the work's answer, and the body it builds.</summary>
    internal sealed class Target
    {
        private static readonly byte[] RecordsOpen = "{\"records\":["u8.ToArray();
        private static readonly byte[] RecordsClose = "]}"u8.ToArray();
        private static readonly byte[] ValueOpen = "{\"value\":"u8.ToArray();
        private static readonly byte[] DataOpen = "{\"data\":"u8.ToArray();
        private static readonly byte[] KeyOpen = ",\"partition-key\":\""u8.ToArray();
        private static readonly byte[] KeyClose = "\"}"u8.ToArray();

        private readonly byte[] _singleOpen;
        private readonly byte[] _singleClose;

        private Target(string name, Uri uri, TargetKind kind, HttpMethod method, byte[] singleOpen, byte[] singleClose)
        {
            Name = name;
            Uri = uri;
            Kind = kind;
            Method = method;
            _singleOpen = singleOpen;
            _singleClose = singleClose;
        }

        public string Name { get; }

        public Uri Uri { get; }

        public TargetKind Kind { get; }

        public HttpMethod Method { get; }

        public static Target ForTopic(string baseUrl, string topic) =>
            new(topic, new Uri($"{baseUrl}/topics/{Uri.EscapeDataString(topic)}"), TargetKind.Topic, HttpMethod.Post, [], []);

        public static Target ForStream(string baseUrl, string stream, bool single) => single
            ? new(stream, new Uri($"{baseUrl}/streams/{Uri.EscapeDataString(stream)}/record"), TargetKind.StreamRecord, HttpMethod.Put,
                Encoding.UTF8.GetBytes($"{{\"StreamName\":{System.Text.Json.JsonSerializer.Serialize(stream)},\"Data\":"),
                Encoding.UTF8.GetBytes($",\"PartitionKey\":\"{OriginalPartitionKey}\"}}"))
            : new(stream, new Uri($"{baseUrl}/streams/{Uri.EscapeDataString(stream)}/records"), TargetKind.StreamRecords, HttpMethod.Put, [], []);

        /// <summary>The request body for <paramref name="records"/>.</summary>
        public byte[] Body(List<PendingRecord> records)
        {
            if (Kind == TargetKind.StreamRecord)
            {
                // PutRecord carries one record; a retry of one failed record is the same shape.
                var raw = records[0].Raw;
                return [.. _singleOpen, .. raw, .. _singleClose];
            }

            Span<byte> number = stackalloc byte[20];
            var length = RecordsOpen.Length + RecordsClose.Length + records.Count - 1;
            foreach (var r in records)
            {
                length += r.Raw.Length + 1 + (Kind == TargetKind.Topic
                    ? ValueOpen.Length
                    : DataOpen.Length + KeyOpen.Length + KeyClose.Length - 1 + Digits(r.Index, number));
            }

            var body = new byte[length];
            var at = 0;
            Put(RecordsOpen);
            for (var i = 0; i < records.Count; i++)
            {
                if (i > 0) body[at++] = (byte)',';
                var r = records[i];
                if (Kind == TargetKind.Topic)
                {
                    Put(ValueOpen);
                    Put(r.Raw);
                    body[at++] = (byte)'}';
                }
                else
                {
                    Put(DataOpen);
                    Put(r.Raw);
                    Put(KeyOpen);
                    var n = Digits(r.Index, number);
                    number[..n].CopyTo(body.AsSpan(at));
                    at += n;
                    Put(KeyClose);
                }
            }

            Put(RecordsClose);
            Debug.Assert(at == body.Length, "body length computed wrongly");
            return body;

            void Put(ReadOnlySpan<byte> bytes)
            {
                bytes.CopyTo(body.AsSpan(at));
                at += bytes.Length;
            }
        }

        private static int Digits(long value, Span<byte> into)
        {
            value.TryFormat(into, out var written, default, CultureInfo.InvariantCulture);
            return written;
        }
    }

    /// <summary>How one attempt went: records acknowledged, records that failed, and whether those may be retried.</summary>
    internal readonly record struct Outcome(int Acknowledged, List<PendingRecord>? Failed, bool Retriable, string? Error, TimeSpan? RetryAfter)
    {
        /// <summary>The server shed the request (429 or 503 with <c>Retry-After</c>): retried after that wait without using up an attempt.</summary>
        public bool Shed { get; init; }

        public static Outcome Fail(List<PendingRecord> records, bool retriable, string error, TimeSpan? retryAfter = null) =>
            new(0, records, retriable, error, retryAfter);
    }
}
