using System.Globalization;
using System.Net;
using System.Net.Http.Headers;
using System.Net.Sockets;
using System.Text;
using System.Text.Json;
using CsCheck;

namespace PinPipe.Tests.Ingest;

/// <summary>
/// One generated bad request: what kind of bad it is, where it goes, its headers and body, and the statuses it may get.
/// <see cref="ToString"/> shows it whole enough to send again (the body's first bytes escaped).
/// </summary>
internal sealed record FuzzRequest(string Kind, bool Kinesis, string Method, string Path, string? ContentType, byte[] Body)
{
    /// <summary>Sent without Content-Length, in chunks.</summary>
    public bool Chunked { get; init; }

    /// <summary>Sent with <c>Expect: 100-continue</c>: a body the server refuses unread is never sent.</summary>
    public bool ExpectContinue { get; init; }

    /// <summary>An extra header (a huge one).</summary>
    public (string Name, string Value)? Header { get; init; }

    /// <summary>The statuses this request may get; null: any of <see cref="ApiFuzz.AppStatuses"/>.</summary>
    public int[]? Expect { get; init; }

    public override string ToString()
    {
        var shown = new StringBuilder();
        foreach (byte b in Body.AsSpan(0, Math.Min(Body.Length, 300)))
            shown.Append(b is >= 0x20 and < 0x7F and not (byte)'\\' ? (char)b : $"\\x{b:X2}");
        string length = Chunked ? "chunked" : $"Content-Length: {Body.Length}";
        string header = Header is { } h ? $", {h.Name}: <{h.Value.Length} characters>" : "";
        return $"[{Kind}] {Method} {Path}, Content-Type: {ContentType ?? "(none)"}, {length}{(ExpectContinue ? ", Expect: 100-continue" : "")}{header}, body: {shown}{(Body.Length > 300 ? "…" : "")}";
    }
}

/// <summary>
/// Generators of bad requests for both route families (CsCheck), and the client that sends them. Every request is bad by
/// construction (it names something that does not exist, or its body, headers or content type are wrong), so none may
/// write: a 2xx is a failure as much as a 5xx. The targets are the topics <see cref="Pin"/> (1 partition) and
/// <see cref="Geo"/> (3), and the streams <see cref="StreamPin"/> (1 shard) and <see cref="StreamGeo"/> (3).
/// </summary>
internal static class ApiFuzz
{
    public const string Pin = "fz.pin";
    public const string Geo = "fz.geo";
    public const string StreamPin = "streaming-fz-pin";
    public const string StreamGeo = "streaming-fz-geo";

    /// <summary>The request body limit of the fuzzed server (Ingest:MaxRequestBytes), small so that bodies past it are cheap.</summary>
    public const int MaxRequestBytes = 64 * 1024;

    /// <summary>Ingest:MaxRecordsPerRequest of the fuzzed server.</summary>
    public const int MaxRecordsPerRequest = 50;

    /// <summary>What the routes may answer a bad request: the client errors of both families, each with a JSON message.</summary>
    public static readonly int[] AppStatuses = [400, 404, 408, 413, 415, 422];

    private static readonly string[] KafkaTypes = ["application/vnd.kafka.json.v2+json", "application/json"];
    private const string BinaryType = "application/vnd.kafka.binary.v2+json";
    private const string KinesisType = "application/json";

    private static readonly string[] WrongTypes =
        ["text/plain", "application/xml", "application/x-www-form-urlencoded", "multipart/form-data; boundary=x", "application/vnd.kafka.avro.v2+json",
         "application/octet-stream", "!!not a media type", "application/json-seq", "text/json"];

    /// <summary>JSON texts that are never a valid count, partition or hash key: other types, negatives, fractions, huge numbers.</summary>
    private static readonly Gen<string> HugeNumber = Gen.OneOf(
        Gen.Const("1e400"), Gen.Const("-1e400"), Gen.Const("1E+400"),
        Gen.Int[300, 400].Select(n => "9" + new string('9', n - 1)),
        Gen.Int[300, 400].Select(n => "-" + new string('7', n)),
        Gen.Const("2147483648"), Gen.Const("-2147483649"), Gen.Const("1.5"), Gen.Const("1e3"), Gen.Const("-0.0"));

    /// <summary>Decimal strings that are no hash key: past 2^128 - 1, or not whole numbers.</summary>
    private static readonly Gen<string> HugeHashKey = Gen.OneOf(
        Gen.Const("340282366920938463463374607431768211456"), Gen.Const("1e400"), Gen.Const("-1"), Gen.Const("1.5"),
        Gen.Int[40, 400].Select(n => "9" + new string('9', n - 1)));

    private static readonly Gen<string> WrongScalar = Gen.OneOf(
        Gen.Const("true"), Gen.Const("false"), Gen.Const("{}"), Gen.Const("[]"), Gen.Const("[1,2]"), Gen.Const("{\"a\":1}"),
        Gen.String[Gen.Char.AlphaNumeric, 0, 12].Select(Quote));

    private static readonly Gen<string> JsonValue = Gen.OneOf(
        Gen.Int.Select(i => i.ToString(CultureInfo.InvariantCulture)),
        Gen.String[Gen.Char.AlphaNumeric, 0, 24].Select(Quote),
        Gen.Const("{\"index\":7,\"title\":\"a \\\"quoted\\\" café\",\"tags\":[1,2,{\"b\":null}]}"),
        Gen.Const("true"), Gen.Const("[1,2,3]"));

    /// <summary>The byte sequences UTF-8 forbids: a stray byte, a lone continuation, an overlong form, a cut sequence, an encoded surrogate, past U+10FFFF.</summary>
    private static readonly Gen<byte[]> InvalidUtf8 = Gen.OneOf<byte[]>(
        Gen.Const(new byte[] { 0xFF }), Gen.Const(new byte[] { 0xFE, 0xFF }), Gen.Const(new byte[] { 0x80 }), Gen.Const(new byte[] { 0xC0, 0x80 }),
        Gen.Const(new byte[] { 0xE2, 0x82 }), Gen.Const(new byte[] { 0xED, 0xA0, 0x80 }), Gen.Const(new byte[] { 0xF4, 0x90, 0x80, 0x80 }),
        Gen.Const(new byte[] { 0xF0, 0x9F, 0x98 }), Gen.Const(new byte[] { 0xC3 }));

    /// <summary>A content type the route does not take, or none.</summary>
    private static readonly Gen<string?> WrongType = Gen.OneOf<string?>([.. WrongTypes, null]);

    private static readonly Gen<string> Topic = Gen.OneOf(Gen.Const(Pin), Gen.Const(Geo));
    private static readonly Gen<string> Stream = Gen.OneOf(Gen.Const(StreamPin), Gen.Const(StreamGeo));

    /// <summary>A produce route of an existing topic: the topic's, or one of its partitions'.</summary>
    private static readonly Gen<string> KafkaPath = Gen.OneOf(
        Topic.Select(t => $"/topics/{t}"),
        Gen.Int[0, 2].Select(p => $"/topics/{Geo}/partitions/{p}"),
        Gen.Const($"/topics/{Pin}/partitions/0"));

    private static readonly Gen<string> KinesisPath = Gen.Select(Stream, Gen.Bool, (s, many) => $"/streams/{s}/{(many ? "records" : "record")}");

    private static string Quote(string s) => JsonSerializer.Serialize(s);

    private static byte[] Utf8(string s) => Encoding.UTF8.GetBytes(s);

    private static string KafkaBody(string[] values) => "{\"records\":[" + string.Join(",", values.Select(v => $"{{\"value\":{v}}}")) + "]}";

    private static readonly Gen<string> ValidKafkaBody = JsonValue.Array[1, 4].Select(KafkaBody);

    private static string PutRecord(string stream, string data) => $"{{\"StreamName\":{Quote(stream)},\"Data\":{data},\"PartitionKey\":\"p\"}}";

    private static string PutRecords(string[] data) =>
        "{\"records\":[" + string.Join(",", data.Select((d, i) => $"{{\"data\":{d},\"partition-key\":\"k{i}\"}}")) + "]}";

    /// <summary>A valid body for a Kinesis route path (<c>…/record</c> or <c>…/records</c>).</summary>
    private static Gen<string> ValidKinesisBody(string path) => path.EndsWith("/records", StringComparison.Ordinal)
        ? JsonValue.Array[1, 4].Select(PutRecords)
        : JsonValue.Select(d => PutRecord(path.Split('/')[2], d));

    private static FuzzRequest Kafka(string kind, string path, string? type, byte[] body) => new(kind, false, "POST", path, type, body);

    private static FuzzRequest Kinesis(string kind, string path, byte[] body, string? type = KinesisType, string method = "PUT") => new(kind, true, method, path, type, body);

    /// <summary>Bad requests to the Kafka REST Proxy routes.</summary>
    public static Gen<FuzzRequest> KafkaRest { get; } = Gen.Frequency<FuzzRequest>(
        (3, Gen.Select(KafkaPath, Gen.OneOf(KafkaTypes.Append(BinaryType).Select(Gen.Const).ToArray()), Gen.Byte.Array[0, 2048],
            (p, t, b) => Kafka("random bytes", p, t, b))),
        (3, Gen.Select(KafkaPath, Gen.OneOf(KafkaTypes.Select(Gen.Const).ToArray()), ValidKafkaBody, Gen.Double[0, 1],
            (p, t, body, cut) => Kafka("truncated envelope", p, t, Utf8(body[..((int)(cut * body.Length) % body.Length)])))),
        (2, Gen.Select(KafkaPath, Gen.Int[70, 10_000], Gen.Int[0, 3], (p, depth, shape) => Kafka("deeply nested JSON", p, KafkaTypes[0], Utf8(shape switch
        {
            0 => KafkaBody([new string('[', depth) + new string(']', depth)]),
            1 => "{\"records\":[{\"value\":1,\"extra\":" + string.Concat(Enumerable.Repeat("{\"a\":", depth)) + "1" + new string('}', depth) + "}]}",
            2 => "{\"records\":[{\"value\":" + new string('[', depth),
            _ => new string('{', depth),
        })))),
        (2, Gen.Select(KafkaPath, HugeNumber, Gen.Int[0, 2], (p, n, where) => Kafka("huge number", p, KafkaTypes[0], Utf8(where switch
        {
            0 => $"{{\"records\":[{{\"value\":1,\"partition\":{n}}}]}}",
            1 => $"{{\"records\":{n}}}",
            _ => n,
        })))),
        (2, Gen.Select(KafkaPath, InvalidUtf8, Gen.Int[0, 3], (p, bad, where) => Kafka("invalid UTF-8", p, where == 3 ? BinaryType : KafkaTypes[0], where switch
        {
            0 => [.. Utf8("{\"records\":[{\"value\":\"ab"), .. bad, .. Utf8("cd\"}]}")],
            1 => [.. Utf8("{\"records\":[{\"key\":\"k"), .. bad, .. Utf8("\",\"value\":1}]}")],
            2 => [.. Utf8("{\"records\":[{\"value\":"), .. bad, .. Utf8("}]}")],
            _ => [.. Utf8("{\"records\":[{\"value\":\"QUJD"), .. bad, .. Utf8("\"}]}")],
        }))),
        (4, Gen.Select(KafkaPath, WrongScalar, Gen.Int[0, 6], (p, wrong, field) => field switch
        {
            0 => Kafka("wrong type: records", p, KafkaTypes[0], Utf8($"{{\"records\":{(wrong == "[]" ? "null" : wrong.StartsWith('[') ? "[[1]]" : wrong)}}}")),
            1 => Kafka("wrong type: a record", p, KafkaTypes[0], Utf8($"{{\"records\":[{(wrong.StartsWith('{') ? "null" : wrong)}]}}")),
            2 => Kafka("wrong type: binary value", p, BinaryType, Utf8($"{{\"records\":[{{\"value\":{(wrong.StartsWith('"') ? "\"not base64!\"" : wrong)}}}]}}")),
            3 => Kafka("wrong type: binary key", p, BinaryType, Utf8($"{{\"records\":[{{\"key\":{(wrong.StartsWith('"') ? "\"%%%\"" : wrong)},\"value\":\"QUJD\"}}]}}")),
            4 => Kafka("wrong type: partition", p, KafkaTypes[0], Utf8($"{{\"records\":[{{\"value\":1,\"partition\":{wrong}}}]}}")),
            5 => Kafka("wrong type: envelope", p, KafkaTypes[0], Utf8(wrong.StartsWith('{') ? "{\"records\":[]}" : wrong)),
            _ => Kafka("too many records", p, KafkaTypes[0], Utf8(KafkaBody([.. Enumerable.Repeat("1", MaxRecordsPerRequest + 1 + wrong.Length)]))),
        })),
        (2, Gen.Select(KafkaPath, WrongType, ValidKafkaBody,
            (p, t, body) => Kafka("wrong content type", p, t, Utf8(body)) with { Expect = [415] })),
        (1, Gen.Select(KafkaPath, ValidKafkaBody, Gen.Int[33 * 1024, 96 * 1024],
            (p, body, size) => Kafka("huge header", p, KafkaTypes[0], Utf8(body)) with { Header = ("X-Fuzz", new string('h', size)), Expect = [431] })),
        (1, Gen.Select(KafkaPath, Gen.Int[1, 64 * 1024], Gen.Bool, (p, over, chunked) =>
            Kafka("body over the limit", p, KafkaTypes[0], Utf8("{\"records\":[{\"value\":\"" + new string('x', MaxRequestBytes + (chunked ? over % 4096 : over)) + "\"}]}"))
                with
            { Chunked = chunked, ExpectContinue = !chunked, Expect = [413] })),
        (2, Gen.Select(ValidKafkaBody, Gen.String[Gen.Char.AlphaNumeric, 1, 20], Gen.Int[0, 5], (body, name, where) =>
            Kafka("unknown target", where switch
            {
                0 => $"/topics/fz.none-{name}",
                1 => $"/topics/{Pin}/partitions/{3 + name.Length}",
                2 => $"/topics/{Geo}/partitions/{name}x",
                3 => $"/topics/{StreamPin}",
                4 => $"/topics/{Geo}/partitions/-1",
                _ => $"/topics/{Geo}/partitions/99999999999999999999",
            }, KafkaTypes[0], Utf8(body)) with
            { Expect = [404] })));

    /// <summary>Bad requests to the Kinesis proxy routes.</summary>
    public static Gen<FuzzRequest> KinesisProxy { get; } = Gen.Frequency<FuzzRequest>(
        (3, Gen.Select(KinesisPath, Gen.Byte.Array[0, 2048], (p, b) => Kinesis("random bytes", p, b))),
        (3, KinesisPath.SelectMany(p => Gen.Select(ValidKinesisBody(p), Gen.Double[0, 1],
            (body, cut) => Kinesis("truncated envelope", p, Utf8(body[..((int)(cut * body.Length) % body.Length)]))))),
        (2, Gen.Select(Stream, Gen.Int[70, 10_000], Gen.Int[0, 3], (s, depth, shape) => shape switch
        {
            0 => Kinesis("deeply nested JSON", $"/streams/{s}/record", Utf8(PutRecord(s, new string('[', depth) + new string(']', depth)))),
            1 => Kinesis("deeply nested JSON", $"/streams/{s}/records", Utf8(PutRecords([string.Concat(Enumerable.Repeat("{\"a\":", depth)) + "1" + new string('}', depth)]))),
            2 => Kinesis("deeply nested JSON", $"/streams/{s}/record", Utf8("{\"Data\":" + new string('[', depth))),
            _ => Kinesis("deeply nested JSON", $"/streams/{s}/records", Utf8(new string('{', depth))),
        })),
        (2, Gen.Select(Stream, HugeNumber, HugeHashKey, Gen.Int[0, 5], (s, n, hash, where) => where switch
        {
            0 => Kinesis("huge number", $"/streams/{s}/record", Utf8($"{{\"Data\":1,\"PartitionKey\":\"p\",\"ExplicitHashKey\":{Quote(hash)}}}")),
            1 => Kinesis("huge number", $"/streams/{s}/record", Utf8($"{{\"Data\":1,\"PartitionKey\":{n}}}")),
            2 => Kinesis("huge number", $"/streams/{s}/records", Utf8($"{{\"records\":{n}}}")),
            3 => Kinesis("huge number", $"/streams/{s}/records", Utf8($"{{\"records\":[{{\"data\":1,\"partition-key\":\"k\",\"explicit-hash-key\":{n}}}]}}")),
            4 => Kinesis("huge number", $"/streams/{s}", Utf8($"{{\"ShardCount\":{n}}}"), method: "POST"),
            _ => Kinesis("huge number", $"/streams/{s}/record", Utf8($"{{\"StreamName\":{n},\"Data\":1,\"PartitionKey\":\"p\"}}")),
        })),
        (2, Gen.Select(Stream, InvalidUtf8, Gen.Int[0, 4], (s, bad, where) => where switch
        {
            0 => Kinesis("invalid UTF-8", $"/streams/{s}/record", [.. Utf8("{\"Data\":\"ab"), .. bad, .. Utf8("\",\"PartitionKey\":\"p\"}")]),
            1 => Kinesis("invalid UTF-8", $"/streams/{s}/records", [.. Utf8("{\"records\":[{\"data\":\"ab"), .. bad, .. Utf8("\",\"partition-key\":\"k\"}]}")]),
            2 => Kinesis("invalid UTF-8", $"/streams/{s}/record", [.. Utf8("{\"Data\":1,\"PartitionKey\":\"p"), .. bad, .. Utf8("\"}")]),
            3 => Kinesis("invalid UTF-8", $"/streams/{s}/record", [.. Utf8("{\"StreamName\":\"s"), .. bad, .. Utf8("\",\"Data\":1,\"PartitionKey\":\"p\"}")]),
            _ => Kinesis("invalid UTF-8", $"/streams/{s}/records", [.. Utf8("{\"records\":[{\"data\":1,\"partition-key\":\"k"), .. bad, .. Utf8("\",\"explicit-hash-key\":\"1\"}]}")]),
        })),
        (4, Gen.Select(Stream, WrongScalar, Gen.Int[0, 11], (s, wrong, field) => field switch
        {
            0 => Kinesis("wrong type: Data", $"/streams/{s}/record", Utf8(wrong.Length % 2 == 0 ? "{\"Data\":null,\"PartitionKey\":\"p\"}" : "{\"PartitionKey\":\"p\"}")),
            1 => Kinesis("wrong type: PartitionKey", $"/streams/{s}/record", Utf8($"{{\"Data\":1,\"PartitionKey\":{(wrong.StartsWith('"') ? Quote(new string('k', 257 + wrong.Length)) : wrong)}}}")),
            2 => Kinesis("wrong type: StreamName", $"/streams/{s}/record", Utf8($"{{\"StreamName\":{(wrong.StartsWith('"') ? "\"streaming-other\"" : wrong)},\"Data\":1,\"PartitionKey\":\"p\"}}")),
            3 => Kinesis("wrong type: ExplicitHashKey", $"/streams/{s}/record", Utf8($"{{\"Data\":1,\"PartitionKey\":\"p\",\"ExplicitHashKey\":{(wrong.StartsWith('"') ? "\"-1\"" : wrong)}}}")),
            4 => Kinesis("wrong type: records", $"/streams/{s}/records", Utf8($"{{\"records\":{(wrong == "[]" ? "[]" : wrong.StartsWith('[') ? "[[1]]" : wrong)}}}")),
            5 => Kinesis("wrong type: a record", $"/streams/{s}/records", Utf8($"{{\"records\":[{(wrong.StartsWith('{') ? "null" : wrong)}]}}")),
            6 => Kinesis("wrong type: data", $"/streams/{s}/records", Utf8(wrong.Length % 2 == 0 ? "{\"records\":[{\"data\":null,\"partition-key\":\"k\"}]}" : "{\"records\":[{\"partition-key\":\"k\"}]}")),
            7 => Kinesis("wrong type: partition-key", $"/streams/{s}/records", Utf8($"{{\"records\":[{{\"data\":1,\"partition-key\":{(wrong.StartsWith('"') ? "\"\"" : wrong)}}}]}}")),
            8 => Kinesis("wrong type: envelope", $"/streams/{s}/{(wrong.Length % 2 == 0 ? "record" : "records")}", Utf8(wrong.StartsWith('{') ? "{\"Records\":[{\"data\":1,\"partition-key\":\"k\"}]}" : wrong)),
            9 => Kinesis("too many records", $"/streams/{s}/records", Utf8(PutRecords([.. Enumerable.Repeat("1", 501 + wrong.Length)]))),
            10 => Kinesis("wrong type: ShardCount", $"/streams/{s}", Utf8($"{{\"ShardCount\":{(wrong.StartsWith('"') ? "0" : wrong)}}}"), method: "POST"),
            _ => Kinesis("duplicate field", $"/streams/{s}/record", Utf8("{\"Data\":1,\"Data\":2,\"PartitionKey\":\"p\"}")),
        })),
        (2, Gen.Select(KinesisPath.SelectMany(p => ValidKinesisBody(p).Select(b => (p, b))), WrongType,
            (pb, t) => Kinesis("wrong content type", pb.p, Utf8(pb.b), t) with { Expect = [415] })),
        (1, Gen.Select(Stream, Gen.Bool, (s, force) => force
            ? Kinesis("refused delete", $"/streams/{s}?force=maybe", [], method: "DELETE") with { Expect = [400] }
            : Kinesis("refused delete", $"/streams/{s}", Utf8("{}"), "text/plain", "DELETE") with { Expect = [415] })),
        (1, Gen.Select(KinesisPath.SelectMany(p => ValidKinesisBody(p).Select(b => (p, b))), Gen.Int[33 * 1024, 96 * 1024],
            (pb, size) => Kinesis("huge header", pb.p, Utf8(pb.b)) with { Header = ("X-Amz-Fuzz", new string('h', size)), Expect = [431] })),
        (1, Gen.Select(KinesisPath, Gen.Int[1, 64 * 1024], Gen.Bool, (p, over, chunked) =>
            Kinesis("body over the limit", p, Utf8("{\"Data\":\"" + new string('x', MaxRequestBytes + (chunked ? over % 4096 : over)) + "\",\"PartitionKey\":\"p\"}"))
                with
            { Chunked = chunked, ExpectContinue = !chunked, Expect = [413] })),
        (2, Gen.Select(Gen.String[Gen.Char.AlphaNumeric, 1, 20], Gen.Int[0, 4], (name, where) => where switch
        {
            0 => Kinesis("unknown target", $"/streams/streaming-fz-none{name}/record", Utf8(PutRecord($"streaming-fz-none{name}", "1"))),
            1 => Kinesis("unknown target", $"/streams/{Pin}/records", Utf8(PutRecords(["1"]))),
            2 => Kinesis("unknown target", $"/streams/fz-{name}", [], method: "POST"),
            3 => Kinesis("unknown target", $"/streams/streaming-{new string('n', 129 + name.Length)}", [], method: "POST"),
            _ => Kinesis("unknown target", $"/streams/{StreamPin}", Utf8("{\"ShardCount\":1}"), method: "POST"),
        })));

    /// <summary>Sends <paramref name="request"/> and returns the status, Content-Type and body of the answer.</summary>
    public static async Task<(int Status, string? ContentType, string Body)> SendAsync(HttpClient client, FuzzRequest request)
    {
        using var message = new HttpRequestMessage(new HttpMethod(request.Method), request.Path.TrimStart('/'));
        if (request.Body.Length > 0 || request.ContentType is not null || request.Chunked)
        {
            message.Content = request.Chunked ? new ChunkedContent(request.Body) : new ByteArrayContent(request.Body);
            if (request.ContentType is not null) message.Content.Headers.TryAddWithoutValidation("Content-Type", request.ContentType);
        }
        if (request.ExpectContinue) message.Headers.ExpectContinue = true;
        if (request.Header is { } h) message.Headers.TryAddWithoutValidation(h.Name, h.Value);
        using var response = await client.SendAsync(message);
        return ((int)response.StatusCode, response.Content.Headers.ContentType?.MediaType, await response.Content.ReadAsStringAsync());
    }

    /// <summary>Null when <paramref name="answer"/> is what <paramref name="request"/> may get, else what is wrong with it.</summary>
    public static string? Check(FuzzRequest request, (int Status, string? ContentType, string Body) answer)
    {
        var (status, type, body) = answer;
        if (!(request.Expect ?? AppStatuses).Contains(status)) return $"status {status}, expected {string.Join(" or ", request.Expect ?? AppStatuses)}: {body}";
        if (status == 431) return null; // Kestrel's own answer to headers past its limit, before any route: no body
        string expectedType = request.Kinesis ? "application/json" : "application/vnd.kafka.v2+json";
        if (type != expectedType) return $"Content-Type {type ?? "(none)"}, expected {expectedType}: {body}";
        try
        {
            using var doc = JsonDocument.Parse(body);
            var root = doc.RootElement;
            if (root.ValueKind != JsonValueKind.Object) return $"the body is not a JSON object: {body}";
            if (!root.TryGetProperty("message", out var m) || m.ValueKind != JsonValueKind.String || string.IsNullOrWhiteSpace(m.GetString()))
                return $"the body has no message: {body}";
            bool shaped = request.Kinesis
                ? root.TryGetProperty("__type", out var t) && t.ValueKind == JsonValueKind.String && t.GetString()!.Length > 0
                : root.TryGetProperty("error_code", out var c) && c.ValueKind == JsonValueKind.Number;
            return shaped ? null : $"the body is not in the {(request.Kinesis ? "Kinesis" : "REST Proxy")} error shape: {body}";
        }
        catch (JsonException)
        {
            return $"the body is not JSON: {body}";
        }
    }

    /// <summary>
    /// Sends a request whose headers promise <paramref name="declared"/> bytes and then one byte only, over a raw socket, and
    /// returns the answer (status and body) once the server gives up on the body (Kestrel's minimum data rate, after its
    /// grace period).
    /// </summary>
    public static async Task<(int Status, string Body)> SendSlowBodyAsync(Uri server, string method, string path, string contentType, int declared = 10_000)
    {
        using var tcp = new TcpClient();
        await tcp.ConnectAsync(IPAddress.Loopback, server.Port);
        var stream = tcp.GetStream();
        await stream.WriteAsync(Encoding.ASCII.GetBytes(
            $"{method} {path} HTTP/1.1\r\nHost: {server.Authority}\r\nContent-Type: {contentType}\r\nContent-Length: {declared}\r\n\r\n{{"));
        var data = new List<byte>();
        var buffer = new byte[4096];
        int n;
        while ((n = await stream.ReadAsync(buffer)) > 0)
        {
            data.AddRange(buffer.AsSpan(0, n).ToArray());
            string text = Encoding.ASCII.GetString([.. data]);
            int end = text.IndexOf("\r\n\r\n", StringComparison.Ordinal);
            if (end < 0) continue;
            var lengthHeader = text[..end].Split("\r\n").FirstOrDefault(l => l.StartsWith("Content-Length:", StringComparison.OrdinalIgnoreCase));
            int length = lengthHeader is null ? 0 : int.Parse(lengthHeader["Content-Length:".Length..].Trim(), CultureInfo.InvariantCulture);
            if (data.Count >= end + 4 + length)
                return (int.Parse(text.AsSpan(9, 3), CultureInfo.InvariantCulture), Encoding.UTF8.GetString(data.ToArray(), end + 4, length));
        }
        throw new InvalidDataException($"the connection closed without a whole answer: {Encoding.ASCII.GetString([.. data])}");
    }

    /// <summary>A body sent without Content-Length (chunked).</summary>
    private sealed class ChunkedContent(byte[] body) : HttpContent
    {
        protected override async Task SerializeToStreamAsync(Stream stream, TransportContext? context)
        {
            for (int at = 0; at < body.Length; at += 8192) await stream.WriteAsync(body.AsMemory(at, Math.Min(8192, body.Length - at)));
        }

        protected override bool TryComputeLength(out long length)
        {
            length = 0;
            return false;
        }
    }
}
