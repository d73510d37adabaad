using System.Buffers;
using System.Text.Json;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Routing;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Options;
using PinPipe.Log;
using PinPipe.Log.Kinesis;

namespace PinPipe.Ingest;

/// <summary>
/// The Kinesis proxy routes of SPEC §6, as API Gateway fronts Kinesis (interop §4): list, describe,
/// create and delete streams, PutRecord and PutRecords. A stream is a topic of the same log whose name
/// starts with <c>streaming-</c>, a shard is a partition. A 200 means the acknowledged records are
/// durable; a rejected request (4xx, Kinesis-shaped <c>{"__type", "message"}</c>) wrote nothing.
/// PutRecords appends per shard: when a shard's append fails, its records carry an <c>ErrorCode</c>
/// and count in <c>FailedRecordCount</c>, and the other shards' records are durable. With <c>Stream:Source=kinesis</c>
/// (a <see cref="KinesisClient"/> among the services) the routes forward to Kinesis instead (<see cref="KinesisForwarding"/>).
/// </summary>
public static class KinesisEndpoints
{
    private const int MaxShards = TopicRules.MaxPartitions;
    private const string ClosedLog = "the log is closed (the server is stopping).";

    /// <summary>Maps <c>GET /streams</c>, <c>GET|POST|DELETE /streams/{stream}</c>, <c>PUT /streams/{stream}/record</c> and <c>PUT /streams/{stream}/records</c>.</summary>
    public static IEndpointRouteBuilder MapKinesisProxy(this IEndpointRouteBuilder app)
    {
        var options = app.ServiceProvider.GetRequiredService<IOptions<IngestOptions>>().Value;
        // Stream:Source=kinesis: the same routes, forwarded to Kinesis instead of the log.
        var routes = app.ServiceProvider.GetService<KinesisClient>() is { } kinesis ? KinesisForwarding.Routes(kinesis, options) : LogRoutes(app, options);
        app.MapGet("/streams", (HttpContext c) => HandleAsync(c, () => routes.ListStreams(c)));
        app.MapGet("/streams/{stream}", (HttpContext c, string stream) => HandleAsync(c, () => routes.DescribeStream(c, stream)));
        app.MapPost("/streams/{stream}", (HttpContext c, string stream) => HandleAsync(c, () => routes.CreateStream(c, stream)));
        app.MapDelete("/streams/{stream}", (HttpContext c, string stream) => HandleAsync(c, () => routes.DeleteStream(c, stream)));
        app.MapPut("/streams/{stream}/record", (HttpContext c, string stream) => HandleAsync(c, () => routes.PutRecord(c, stream)));
        app.MapPut("/streams/{stream}/records", (HttpContext c, string stream) => HandleAsync(c, () => routes.PutRecords(c, stream)));
        return app;
    }

    /// <summary>Where the routes' requests go (Stream:Source=log): the log's <c>streaming-…</c> topics.</summary>
    private static KinesisRouteHandlers LogRoutes(IEndpointRouteBuilder app, IngestOptions options)
    {
        var log = app.ServiceProvider.GetRequiredService<ILog>();
        var consumers = app.ServiceProvider.GetService<TopicConsumers>() ?? TopicConsumers.None;
        return new KinesisRouteHandlers(
            c => ListStreamsAsync(c, log),
            (c, stream) => DescribeStreamAsync(c, log, stream),
            (c, stream) => CreateStreamAsync(c, log, options, stream),
            (c, stream) => DeleteStreamAsync(c, log, consumers, stream),
            (c, stream) => PutRecordAsync(c, log, options, stream),
            (c, stream) => PutRecordsAsync(c, log, options, stream));
    }

    private static async Task HandleAsync(HttpContext context, Func<Task> handler)
    {
        try
        {
            await handler().ConfigureAwait(false);
        }
        catch (Exception ex) when (ex is KinesisError or LogException or ObjectDisposedException or KinesisException)
        {
            var error = ex as KinesisError ?? (ex is KinesisException k ? KinesisForwarding.ErrorOf(k) : KinesisError.Internal(ex is ObjectDisposedException ? ClosedLog : ex.Message));
            // The rest of an oversized or stalled body is not worth reading: close the connection after answering.
            if (error.Status is StatusCodes.Status413PayloadTooLarge or StatusCodes.Status408RequestTimeout) context.Response.Headers.Connection = "close";
            await error.WriteAsync(context.Response).ConfigureAwait(false);
        }
    }

    private static async Task ListStreamsAsync(HttpContext context, ILog log)
    {
        var topics = await log.ListTopicsAsync(context.RequestAborted).ConfigureAwait(false);
        await WriteJsonAsync(context.Response, w =>
        {
            w.WriteStartObject();
            w.WriteBoolean("HasMoreStreams", false);
            w.WriteStartArray("StreamNames");
            foreach (var t in topics)
                if (KinesisShards.IsStream(t.Name)) w.WriteStringValue(t.Name);
            w.WriteEndArray();
            w.WriteEndObject();
        }).ConfigureAwait(false);
    }

    private static async Task<int> ShardsOfAsync(ILog log, string stream, CancellationToken cancellationToken)
    {
        if (!KinesisShards.IsStream(stream)) throw KinesisError.StreamNotFound(stream);
        var description = await log.DescribeTopicAsync(stream, cancellationToken).ConfigureAwait(false)
            ?? throw KinesisError.StreamNotFound(stream);
        return description.Partitions;
    }

    private static async Task DescribeStreamAsync(HttpContext context, ILog log, string stream)
    {
        int shards = await ShardsOfAsync(log, stream, context.RequestAborted).ConfigureAwait(false);
        var starts = new long[shards];
        for (int p = 0; p < shards; p++)
            starts[p] = (await log.GetWatermarksAsync(stream, p, context.RequestAborted).ConfigureAwait(false)).Low;
        var rows = new List<ShardRow>(shards);
        for (int p = 0; p < shards; p++)
        {
            var (start, end) = KinesisShards.HashKeyRange(p, shards);
            rows.Add(new ShardRow(KinesisShards.ShardId(p), start.ToString(System.Globalization.CultureInfo.InvariantCulture),
                end.ToString(System.Globalization.CultureInfo.InvariantCulture), KinesisShards.SequenceNumber(stream, p, starts[p])));
        }
        await WriteJsonAsync(context.Response, w => WriteStreamDescription(w, stream, KinesisShards.Arn(stream), "ACTIVE", rows, KinesisShards.RetentionPeriodHours)).ConfigureAwait(false);
    }

    /// <summary>What each Kinesis route does: with the log (Stream:Source=log) or forwarded to Kinesis (<see cref="KinesisForwarding"/>).</summary>
    internal sealed record KinesisRouteHandlers(
        Func<HttpContext, Task> ListStreams,
        Func<HttpContext, string, Task> DescribeStream,
        Func<HttpContext, string, Task> CreateStream,
        Func<HttpContext, string, Task> DeleteStream,
        Func<HttpContext, string, Task> PutRecord,
        Func<HttpContext, string, Task> PutRecords);

    /// <summary>One shard of a DescribeStream answer.</summary>
    internal sealed record ShardRow(string ShardId, string StartingHashKey, string EndingHashKey, string StartingSequenceNumber,
        string? EndingSequenceNumber = null, string? ParentShardId = null, string? AdjacentParentShardId = null);

    /// <summary>A DescribeStream answer: <c>{"StreamDescription": {...}}</c> as Kinesis writes it.</summary>
    internal static void WriteStreamDescription(Utf8JsonWriter w, string stream, string arn, string status, IEnumerable<ShardRow> shards, int retentionHours)
    {
        w.WriteStartObject();
        w.WriteStartObject("StreamDescription");
        w.WriteString("StreamName", stream);
        w.WriteString("StreamARN", arn);
        w.WriteString("StreamStatus", status);
        w.WriteStartObject("StreamModeDetails");
        w.WriteString("StreamMode", "PROVISIONED");
        w.WriteEndObject();
        w.WriteStartArray("Shards");
        foreach (var shard in shards)
        {
            w.WriteStartObject();
            w.WriteString("ShardId", shard.ShardId);
            if (shard.ParentShardId is not null) w.WriteString("ParentShardId", shard.ParentShardId);
            if (shard.AdjacentParentShardId is not null) w.WriteString("AdjacentParentShardId", shard.AdjacentParentShardId);
            w.WriteStartObject("HashKeyRange");
            w.WriteString("StartingHashKey", shard.StartingHashKey);
            w.WriteString("EndingHashKey", shard.EndingHashKey);
            w.WriteEndObject();
            w.WriteStartObject("SequenceNumberRange");
            w.WriteString("StartingSequenceNumber", shard.StartingSequenceNumber);
            if (shard.EndingSequenceNumber is not null) w.WriteString("EndingSequenceNumber", shard.EndingSequenceNumber);
            w.WriteEndObject();
            w.WriteEndObject();
        }
        w.WriteEndArray();
        w.WriteBoolean("HasMoreShards", false);
        w.WriteNumber("RetentionPeriodHours", retentionHours);
        w.WriteStartArray("EnhancedMonitoring");
        w.WriteStartObject();
        w.WriteStartArray("ShardLevelMetrics");
        w.WriteEndArray();
        w.WriteEndObject();
        w.WriteEndArray();
        w.WriteString("EncryptionType", "NONE");
        w.WriteEndObject();
        w.WriteEndObject();
    }

    private static async Task CreateStreamAsync(HttpContext context, ILog log, IngestOptions options, string stream)
    {
        if (!KinesisShards.IsStream(stream))
            throw KinesisError.InvalidArgument($"Stream name '{stream}' must start with '{KinesisShards.StreamPrefix}': streams share the log with the Kafka topics, and only those topics are streams.");
        if (stream.Length > KinesisShards.MaxNameLength)
            throw KinesisError.Validation($"Stream name is {stream.Length} characters long; the limit is {KinesisShards.MaxNameLength}.");
        int? asked;
        var (buffer, length) = await ReadBodyAsync(context.Request, options).ConfigureAwait(false);
        try
        {
            asked = KinesisRequest.ParseShardCount(buffer.AsMemory(0, length), MaxShards);
        }
        finally
        {
            ArrayPool<byte>.Shared.Return(buffer);
        }
        if (await log.DescribeTopicAsync(stream, context.RequestAborted).ConfigureAwait(false) is not null)
            throw KinesisError.StreamExists(stream);
        await WithLogErrorsAsync(stream, () => log.CreateTopicAsync(stream, asked ?? options.DefaultShardCount, CancellationToken.None).AsTask()).ConfigureAwait(false);
        WriteEmpty(context.Response);
    }

    /// <summary>
    /// Deletes the stream unless its consumer groups (the stream job's) have not read all of its records:
    /// 400 <c>ResourceInUseException</c> naming them, unless <c>?force=true</c>.
    /// </summary>
    private static async Task DeleteStreamAsync(HttpContext context, ILog log, TopicConsumers consumers, string stream)
    {
        RequireJsonBody(context.Request);
        bool force = context.Request.Query["force"] is { Count: > 0 } values
            ? values.ToString().ToLowerInvariant() switch
            {
                "true" => true,
                "false" => false,
                _ => throw KinesisError.Validation($"The query parameter force is '{values}'; it must be true or false."),
            }
            : false;
        await ShardsOfAsync(log, stream, context.RequestAborted).ConfigureAwait(false);
        bool deleted = false;
        await WithLogErrorsAsync(stream, async () =>
            deleted = await log.DeleteTopicAsync(stream, force ? [] : consumers.Of(stream), CancellationToken.None).ConfigureAwait(false)).ConfigureAwait(false);
        if (!deleted) throw KinesisError.StreamNotFound(stream); // deleted by someone else meanwhile
        WriteEmpty(context.Response);
    }

    private static async Task PutRecordAsync(HttpContext context, ILog log, IngestOptions options, string stream)
    {
        var (buffer, length) = await ReadBodyAsync(context.Request, options).ConfigureAwait(false);
        try
        {
            var measure = IngestMeasure.Of(context);
            if (measure is not null) measure.Bytes = length;
            var entry = KinesisRequest.ParsePutRecord(buffer.AsMemory(0, length), stream);
            if (measure is not null) measure.Records = 1;
            int shards = await ShardsOfAsync(log, stream, context.RequestAborted).ConfigureAwait(false);
            if (measure is not null) measure.Topic = stream; // the log knows it: its refusals (503) count under it too
            int shard = entry.ShardOf(shards);
            IReadOnlyList<RecordPosition> positions = [];
            // Not the request's abort token: once the log has the record it must complete, and its bytes
            // live in the rented buffer until it does.
            await WithLogErrorsAsync(stream, async () =>
                positions = await log.AppendAsync(stream, [new LogRecord(entry.Key, entry.Data, shard)], CancellationToken.None).ConfigureAwait(false)).ConfigureAwait(false);
            var position = positions[0];
            await WriteJsonAsync(context.Response, w =>
            {
                w.WriteStartObject();
                w.WriteString("SequenceNumber", KinesisShards.SequenceNumber(stream, position.Partition, position.Offset));
                w.WriteString("ShardId", KinesisShards.ShardId(position.Partition));
                w.WriteEndObject();
            }).ConfigureAwait(false);
        }
        finally
        {
            ArrayPool<byte>.Shared.Return(buffer);
        }
    }

    private static async Task PutRecordsAsync(HttpContext context, ILog log, IngestOptions options, string stream)
    {
        var (buffer, length) = await ReadBodyAsync(context.Request, options).ConfigureAwait(false);
        try
        {
            var measure = IngestMeasure.Of(context);
            if (measure is not null) measure.Bytes = length;
            var entries = KinesisRequest.ParsePutRecords(buffer.AsMemory(0, length));
            if (measure is not null) measure.Records = entries.Count;
            int shards = await ShardsOfAsync(log, stream, context.RequestAborted).ConfigureAwait(false);

            // Group the records by shard, in order of first appearance, keeping request order within a shard.
            var groups = new Dictionary<int, List<int>>();
            var order = new List<int>();
            var shardOf = new int[entries.Count];
            for (int i = 0; i < entries.Count; i++)
            {
                int shard = shardOf[i] = entries[i].ShardOf(shards);
                if (!groups.TryGetValue(shard, out var members))
                {
                    groups[shard] = members = [];
                    order.Add(shard);
                }
                members.Add(i);
            }

            // One append per shard, all at once (the log commits concurrent appends together). Not the
            // request's abort token (see PutRecordAsync).
            var appends = new Task<IReadOnlyList<RecordPosition>>[order.Count];
            for (int g = 0; g < order.Count; g++)
            {
                var members = groups[order[g]];
                var records = new LogRecord[members.Count];
                for (int j = 0; j < members.Count; j++)
                    records[j] = new LogRecord(entries[members[j]].Key, entries[members[j]].Data, order[g]);
                appends[g] = AppendAsync(log, stream, records);
            }

            try
            {
                // Every append completes before the rented body buffer that holds the records goes back.
                await Task.WhenAll(appends).ConfigureAwait(false);
            }
#pragma warning disable CA1031 // each append's own outcome (result or error) is read from its task below
            catch (Exception)
#pragma warning restore CA1031
            {
                // Each shard's outcome is read below.
            }

            string prefix = KinesisShards.SequencePrefix(KinesisShards.StreamTag(stream));
            var sequences = new string?[entries.Count];
            var errors = new string?[entries.Count];
            var codes = new string?[entries.Count];
            int failed = 0, unknownStream = 0, overloaded = 0, diskFull = 0;
            LogException? shed = null;
            for (int g = 0; g < order.Count; g++)
            {
                var members = groups[order[g]];
                try
                {
                    var positions = await appends[g].ConfigureAwait(false);
                    for (int j = 0; j < members.Count; j++)
                        sequences[members[j]] = KinesisShards.SequenceNumberWithPrefix(prefix, positions[j].Partition, positions[j].Offset);
                }
                catch (Exception ex) when (ex is LogException or ObjectDisposedException)
                {
                    var code = ex is LogException l ? l.Code : LogErrorCode.Unavailable;
                    if (code == LogErrorCode.UnknownTopic) unknownStream++;
                    if (code == LogErrorCode.Overloaded) (overloaded, shed) = (overloaded + 1, (LogException)ex);
                    if (code == LogErrorCode.DiskFull) diskFull++;
                    // Kinesis's own per-record code for a shard that takes no more now; the emulator and SDKs retry it.
                    string errorCode = code == LogErrorCode.Overloaded ? "ProvisionedThroughputExceededException" : "InternalFailure";
                    var message = ex is ObjectDisposedException ? ClosedLog : code == LogErrorCode.DiskFull ? "the disk under the log is full" : ex.Message;
                    foreach (int i in members) (codes[i], errors[i]) = (errorCode, $"The log could not take the records of {KinesisShards.ShardId(order[g])}; retry: {message}");
                    failed += members.Count;
                }
            }
            // The stream was deleted while the request ran: nothing was written.
            if (unknownStream == order.Count) throw KinesisError.StreamNotFound(stream);
            if (measure is not null) (measure.Topic, measure.Records) = (stream, entries.Count - failed);
            // No shard took anything because the log cannot keep up or its disk is full: one 503 with Retry-After, as for PutRecord.
            if (diskFull + overloaded == order.Count) throw diskFull > 0 ? KinesisError.DiskFull() : KinesisError.Overloaded(shed!.Message);
            if (diskFull + overloaded > 0)
                context.Response.Headers.RetryAfter = (diskFull > 0 ? RestError.DiskFullRetryAfterSeconds : RestError.OverloadedRetryAfterSeconds).ToString(System.Globalization.CultureInfo.InvariantCulture);

            var outcomes = new KinesisPutOutcome[entries.Count];
            for (int i = 0; i < entries.Count; i++)
                outcomes[i] = sequences[i] is { } sequence
                    ? new KinesisPutOutcome(sequence, KinesisShards.ShardId(shardOf[i]))
                    : new KinesisPutOutcome(null, null, codes[i], errors[i]);
            await WritePutRecordsAnswerAsync(context.Response, outcomes).ConfigureAwait(false);
        }
        finally
        {
            ArrayPool<byte>.Shared.Return(buffer);
        }
    }

    /// <summary>
    /// PutRecords' answer, as Kinesis writes it: <c>FailedRecordCount</c> and, per record in the request's order, its
    /// <c>SequenceNumber</c> and <c>ShardId</c> or its <c>ErrorCode</c> and <c>ErrorMessage</c>.
    /// </summary>
    internal static Task WritePutRecordsAnswerAsync(HttpResponse response, IReadOnlyList<KinesisPutOutcome> outcomes) =>
        WriteJsonAsync(response, w =>
        {
            w.WriteStartObject();
            w.WriteNumber("FailedRecordCount", outcomes.Count(o => !o.Succeeded));
            w.WriteStartArray("Records");
            foreach (var o in outcomes)
            {
                w.WriteStartObject();
                if (o.Succeeded)
                {
                    w.WriteString("SequenceNumber", o.SequenceNumber);
                    w.WriteString("ShardId", o.ShardId);
                }
                else
                {
                    w.WriteString("ErrorCode", o.ErrorCode ?? "InternalFailure");
                    w.WriteString("ErrorMessage", o.ErrorMessage ?? "The record was not written; retry.");
                }
                w.WriteEndObject();
            }
            w.WriteEndArray();
            w.WriteEndObject();
        });

    private static async Task<IReadOnlyList<RecordPosition>> AppendAsync(ILog log, string stream, LogRecord[] records) =>
        await log.AppendAsync(stream, records, CancellationToken.None).ConfigureAwait(false);

    /// <summary>Runs a log call, turning its failures into Kinesis errors (nothing was written in every case).</summary>
    private static async Task WithLogErrorsAsync(string stream, Func<Task> call)
    {
        try
        {
            await call().ConfigureAwait(false);
        }
        catch (LogException ex)
        {
            throw ex.Code switch
            {
                LogErrorCode.UnknownTopic or LogErrorCode.UnknownPartition => KinesisError.StreamNotFound(stream),
                LogErrorCode.InvalidTopic or LogErrorCode.RecordTooLarge => KinesisError.Validation(ex.Message),
                LogErrorCode.LimitExceeded => KinesisError.LimitExceeded(ex.Message),
                LogErrorCode.NotConsumed => KinesisError.StreamInUse($"{ex.Message} Add ?force=true to delete it anyway: those records are lost."),
                LogErrorCode.Overloaded => KinesisError.Overloaded(ex.Message),
                LogErrorCode.DiskFull => KinesisError.DiskFull(),
                _ => KinesisError.Internal(ex.Message),
            };
        }
        catch (ObjectDisposedException)
        {
            throw KinesisError.Internal(ClosedLog);
        }
    }

    /// <summary>
    /// The Content-Types of a body to the state-changing routes: the API Gateway tutorial's <c>application/json</c>, and
    /// <c>application/x-amz-json-1.1</c>, which Kinesis itself takes. A request without body may have none.
    /// </summary>
    private static readonly string[] JsonContentTypes = ["application/json", "application/x-amz-json-1.1"];

    /// <summary>Refuses (415) a body whose Content-Type is not JSON, so a web form or a text/plain post cannot change a stream.</summary>
    internal static void RequireJsonBody(HttpRequest request)
    {
        if (request.ContentType is null && (request.ContentLength == 0
            || request.HttpContext.Features.Get<Microsoft.AspNetCore.Http.Features.IHttpRequestBodyDetectionFeature>()?.CanHaveBody == false))
            return;
        if (request.ContentType is { } type && Microsoft.Net.Http.Headers.MediaTypeHeaderValue.TryParse(type, out var media)
            && JsonContentTypes.Contains(media.MediaType.Value, StringComparer.OrdinalIgnoreCase))
            return;
        throw KinesisError.UnsupportedMediaType(request.ContentType, JsonContentTypes);
    }

    internal static async Task<(byte[] Buffer, int Length)> ReadBodyAsync(HttpRequest request, IngestOptions options)
    {
        RequireJsonBody(request);
        try
        {
            return await KafkaRestEndpoints.ReadBodyAsync(request, options.MaxRequestBytes).ConfigureAwait(false);
        }
        catch (RestError error) when (error.Status == StatusCodes.Status413PayloadTooLarge)
        {
            throw KinesisError.BodyTooLarge(options.MaxRequestBytes);
        }
        catch (RestError error) when (error.Status == StatusCodes.Status408RequestTimeout)
        {
            throw KinesisError.RequestTimeout();
        }
    }

    internal static void WriteEmpty(HttpResponse response)
    {
        response.StatusCode = StatusCodes.Status200OK;
        response.ContentType = KinesisError.ResponseContentType;
        response.ContentLength = 0;
    }

    internal static Task WriteJsonAsync(HttpResponse response, Action<Utf8JsonWriter> write)
    {
        var buffer = new ArrayBufferWriter<byte>(256);
        using (var writer = new Utf8JsonWriter(buffer, KinesisError.WriterOptions))
            write(writer);
        response.StatusCode = StatusCodes.Status200OK;
        response.ContentType = KinesisError.ResponseContentType;
        response.ContentLength = buffer.WrittenCount;
        return response.Body.WriteAsync(buffer.WrittenMemory).AsTask();
    }
}
