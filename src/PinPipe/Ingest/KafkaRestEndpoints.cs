using System.Buffers;
using System.IO.Pipelines;
using System.Text.Json;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Routing;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Options;
using Microsoft.Net.Http.Headers;
using PinPipe.Log;

namespace PinPipe.Ingest;

/// <summary>
/// The Kafka REST Proxy v2 routes of SPEC §6: produce to a topic or a partition, list and describe
/// topics. A 200 to a produce request means every record is durable in the log, in order; any
/// error means nothing of the request was written. Streams (<c>streaming-…</c>) are not topics here:
/// they have the Kinesis routes and their limits.
/// </summary>
public static class KafkaRestEndpoints
{
    private static readonly string[] SupportedProduceTypes =
        ["application/vnd.kafka.json.v2+json", "application/vnd.kafka.binary.v2+json", "application/json"];

    /// <summary>Maps <c>POST /topics/{topic}</c>, <c>POST /topics/{topic}/partitions/{partition}</c>, <c>GET /topics</c>, <c>GET /topics/{topic}</c>.</summary>
    public static IEndpointRouteBuilder MapKafkaRest(this IEndpointRouteBuilder app)
    {
        var log = app.ServiceProvider.GetRequiredService<ILog>();
        var options = app.ServiceProvider.GetRequiredService<IOptions<IngestOptions>>().Value;
        app.MapPost("/topics/{topic}", (HttpContext context, string topic) => ProduceAsync(context, log, options, topic, null));
        app.MapPost("/topics/{topic}/partitions/{partition}", (HttpContext context, string topic, string partition) =>
            int.TryParse(partition, out int p) && p >= 0
                ? ProduceAsync(context, log, options, topic, p)
                : RestError.PartitionNotFound(topic, -1).WriteAsync(context.Response));
        app.MapGet("/topics", ListTopicsAsync);
        app.MapGet("/topics/{topic}", DescribeTopicAsync);
        return app;
    }

    private static async Task ProduceAsync(HttpContext context, ILog log, IngestOptions options, string topic, int? pathPartition)
    {
        byte[]? rented = null;
        try
        {
            // Streams have their own routes and limits: the Kafka routes do not reach them.
            if (IsStreamName(topic)) throw RestError.StreamNotTopic(topic);
            var format = NegotiateFormat(context.Request.ContentType);
            (rented, int length) = await ReadBodyAsync(context.Request, options.MaxRequestBytes).ConfigureAwait(false);
            var measure = IngestMeasure.Of(context);
            if (measure is not null) measure.Bytes = length;
            var records = ProduceRequest.Parse(rented.AsMemory(0, length), format, options.MaxRecordsPerRequest, pathPartition);
            if (measure is not null) measure.Records = records.Count;
            IReadOnlyList<RecordPosition> positions;
            try
            {
                // Not the request's abort token: once the log has the batch it must complete, and the
                // records' bytes live in the rented buffer until it does.
                positions = await log.AppendAsync(topic, records, CancellationToken.None).ConfigureAwait(false);
            }
            catch (LogException ex)
            {
                if (measure is not null && ex.Code is not (LogErrorCode.UnknownTopic or LogErrorCode.InvalidTopic)) measure.Topic = topic;
                throw ex.Code switch
                {
                    LogErrorCode.UnknownTopic => RestError.TopicNotFound(topic),
                    LogErrorCode.UnknownPartition => RestError.PartitionNotFound(topic, FirstBadPartition(records) ?? -1),
                    LogErrorCode.RecordTooLarge => RestError.RecordTooLarge(ex.Message),
                    LogErrorCode.InvalidTopic => new RestError(400, 40002, ex.Message),
                    LogErrorCode.Overloaded => RestError.Overloaded(ex.Message),
                    LogErrorCode.DiskFull => RestError.DiskFull(),
                    LogErrorCode.Unavailable => RestError.LogUnavailable(ex.Message),
                    _ => RestError.LogFailed(ex.Message),
                };
            }
            catch (ObjectDisposedException)
            {
                throw RestError.LogUnavailable("the log is closed (the server is stopping).");
            }
            if (measure is not null) measure.Topic = topic;
            await WriteOffsetsAsync(context.Response, positions).ConfigureAwait(false);
        }
        catch (RestError error)
        {
            // The rest of an oversized or stalled body is not worth reading: close the connection after answering.
            if (error.Status is StatusCodes.Status413PayloadTooLarge or StatusCodes.Status408RequestTimeout) context.Response.Headers.Connection = "close";
            await error.WriteAsync(context.Response).ConfigureAwait(false);
        }
        finally
        {
            if (rented is not null) ArrayPool<byte>.Shared.Return(rented);
        }
    }

    /// <summary>A name of the streams' namespace (<c>streaming-…</c>), which the Kafka routes neither list nor address.</summary>
    private static bool IsStreamName(string topic) => topic.StartsWith(KinesisShards.StreamPrefix, StringComparison.Ordinal);

    private static int? FirstBadPartition(List<LogRecord> records)
    {
        foreach (var r in records) if (r.Partition is int p) return p;
        return null;
    }

    internal static EmbeddedFormat NegotiateFormat(string? contentType)
    {
        if (contentType is not null && MediaTypeHeaderValue.TryParse(contentType, out var media))
        {
            var type = media.MediaType.Value;
            if (string.Equals(type, "application/vnd.kafka.json.v2+json", StringComparison.OrdinalIgnoreCase)
                || string.Equals(type, "application/json", StringComparison.OrdinalIgnoreCase))
                return EmbeddedFormat.Json;
            if (string.Equals(type, "application/vnd.kafka.binary.v2+json", StringComparison.OrdinalIgnoreCase))
                return EmbeddedFormat.Binary;
        }
        throw RestError.UnsupportedMediaType(contentType, SupportedProduceTypes);
    }

    /// <summary>Reads the whole body into a pooled array, refusing more than <paramref name="limit"/> bytes with 413.</summary>
    internal static async Task<(byte[] Buffer, int Length)> ReadBodyAsync(HttpRequest request, long limit)
    {
        if (request.ContentLength is long declared && declared > limit) throw RestError.BodyTooLarge(limit);
        var reader = request.BodyReader;
        byte[] buffer = ArrayPool<byte>.Shared.Rent((int)Math.Min(request.ContentLength ?? 4096, limit) + 1);
        int length = 0;
        try
        {
            while (true)
            {
                ReadResult result;
                try
                {
                    result = await reader.ReadAsync(request.HttpContext.RequestAborted).ConfigureAwait(false);
                }
                catch (Microsoft.AspNetCore.Http.BadHttpRequestException ex) when (ex.StatusCode == StatusCodes.Status413PayloadTooLarge)
                {
                    throw RestError.BodyTooLarge(limit);
                }
                catch (Microsoft.AspNetCore.Http.BadHttpRequestException ex) when (ex.StatusCode == StatusCodes.Status408RequestTimeout)
                {
                    // Kestrel's minimum data rate: a slow client, not a failure of the server. One line, rate-limited.
                    request.HttpContext.RequestServices.GetService<SlowBodyLog>()?.Report(request);
                    throw RestError.RequestTimeout();
                }
                var data = result.Buffer;
                if (length + data.Length > limit)
                {
                    // Consumed, so the body reader is not left mid-read: Kestrel then closes the connection quietly
                    // instead of logging an error for every body without Content-Length that passes the limit.
                    reader.AdvanceTo(data.End);
                    throw RestError.BodyTooLarge(limit);
                }
                if (length + data.Length > buffer.Length)
                {
                    var bigger = ArrayPool<byte>.Shared.Rent((int)Math.Min(Math.Max(buffer.Length * 2L, length + data.Length), limit + 1));
                    buffer.AsSpan(0, length).CopyTo(bigger);
                    ArrayPool<byte>.Shared.Return(buffer);
                    buffer = bigger;
                }
                data.CopyTo(buffer.AsSpan(length));
                length += (int)data.Length;
                reader.AdvanceTo(data.End);
                if (result.IsCompleted) break;
            }
            return (buffer, length);
        }
        catch
        {
            ArrayPool<byte>.Shared.Return(buffer);
            throw;
        }
    }

    private static ReadOnlySpan<byte> OffsetsHead => "{\"key_schema_id\":null,\"value_schema_id\":null,\"offsets\":["u8;
    private static ReadOnlySpan<byte> PartitionField => "{\"partition\":"u8;
    private static ReadOnlySpan<byte> OffsetField => ",\"offset\":"u8;
    private static ReadOnlySpan<byte> ErrorFields => ",\"error_code\":null,\"error\":null}"u8;

    /// <summary>The 200 answer, written straight into the response with its exact Content-Length.</summary>
    internal static Task WriteOffsetsAsync(HttpResponse response, IReadOnlyList<RecordPosition> positions)
    {
        response.StatusCode = 200;
        response.ContentType = RestError.ResponseContentType;
        long length = OffsetsHead.Length + 2 + Math.Max(0, positions.Count - 1);
        foreach (var p in positions)
            length += PartitionField.Length + OffsetField.Length + ErrorFields.Length + Digits(p.Partition) + Digits(p.Offset);
        response.ContentLength = length;

        var writer = response.BodyWriter;
        var span = writer.GetSpan((int)length);
        int at = 0;
        void Put(ReadOnlySpan<byte> bytes, Span<byte> into) { bytes.CopyTo(into[at..]); at += bytes.Length; }
        Put(OffsetsHead, span);
        for (int i = 0; i < positions.Count; i++)
        {
            if (i > 0) span[at++] = (byte)',';
            Put(PartitionField, span);
            System.Buffers.Text.Utf8Formatter.TryFormat(positions[i].Partition, span[at..], out int w);
            at += w;
            Put(OffsetField, span);
            System.Buffers.Text.Utf8Formatter.TryFormat(positions[i].Offset, span[at..], out w);
            at += w;
            Put(ErrorFields, span);
        }
        span[at++] = (byte)']';
        span[at++] = (byte)'}';
        writer.Advance(at);
        return Task.CompletedTask;
    }

    private static int Digits(long value)
    {
        int n = value < 0 ? 2 : 1;
        for (value = Math.Abs(value); value >= 10; value /= 10) n++;
        return n;
    }

    /// <summary>Runs a read of the log, answering 500/50003 in the REST Proxy's shape when the log fails or is closed.</summary>
    private static async Task ReadingAsync(HttpContext context, Func<Task> read)
    {
        try
        {
            await read().ConfigureAwait(false);
        }
        catch (Exception ex) when ((ex is LogException or ObjectDisposedException) && !context.Response.HasStarted)
        {
            await RestError.LogUnreadable(ex is ObjectDisposedException ? "the log is closed (the server is stopping)." : ex.Message).WriteAsync(context.Response).ConfigureAwait(false);
        }
    }

    private static Task ListTopicsAsync(HttpContext context) => ReadingAsync(context, () => ListTopicsCoreAsync(context));

    private static Task DescribeTopicAsync(HttpContext context, string topic) => ReadingAsync(context, () => DescribeTopicCoreAsync(context, topic));

    private static async Task ListTopicsCoreAsync(HttpContext context)
    {
        var log = context.RequestServices.GetRequiredService<ILog>();
        var topics = await log.ListTopicsAsync(context.RequestAborted).ConfigureAwait(false);
        context.Response.ContentType = RestError.ResponseContentType;
        await JsonSerializer.SerializeAsync(context.Response.Body, topics.Select(t => t.Name).Where(n => !IsStreamName(n)).ToArray(), (JsonSerializerOptions?)null, context.RequestAborted).ConfigureAwait(false);
    }

    private static async Task DescribeTopicCoreAsync(HttpContext context, string topic)
    {
        var log = context.RequestServices.GetRequiredService<ILog>();
        var description = IsStreamName(topic) ? null : await log.DescribeTopicAsync(topic, context.RequestAborted).ConfigureAwait(false);
        if (description is null)
        {
            await (IsStreamName(topic) ? RestError.StreamNotTopic(topic) : RestError.TopicNotFound(topic)).WriteAsync(context.Response).ConfigureAwait(false);
            return;
        }
        context.Response.ContentType = RestError.ResponseContentType;
        var body = new
        {
            name = description.Name,
            configs = new Dictionary<string, string>(),
            partitions = Enumerable.Range(0, description.Partitions).Select(p => new
            {
                partition = p,
                leader = 1,
                replicas = new[] { new { broker = 1, leader = true, in_sync = true } },
            }).ToArray(),
        };
        await JsonSerializer.SerializeAsync(context.Response.Body, body, (JsonSerializerOptions?)null, context.RequestAborted).ConfigureAwait(false);
    }
}
