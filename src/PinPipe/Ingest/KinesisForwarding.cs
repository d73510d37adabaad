using System.Buffers;
using System.Text;
using Microsoft.AspNetCore.Http;
using PinPipe.Log.Kinesis;

namespace PinPipe.Ingest;

/// <summary>
/// The Kinesis proxy routes with <c>Stream:Source=kinesis</c>: the same paths, bodies, limits and answers as
/// <see cref="KinesisEndpoints"/>, but the records go to Amazon Kinesis (<see cref="KinesisClient"/>) instead of the log.
/// PutRecord and PutRecords are parsed as on the log (what is stored of a record is the same bytes) and forwarded; the
/// answer carries Kinesis's <c>SequenceNumber</c> and <c>ShardId</c>, and a PutRecords entry Kinesis refused its
/// <c>ErrorCode</c>. A Kinesis error is answered in the same shape (<c>{"__type", "message"}</c>, Kinesis's status);
/// Kinesis unreachable is 503 <c>ServiceUnavailable</c>: nothing was acknowledged. Listing, describing and creating streams
/// go to Kinesis too; deleting one only with <c>?force=true</c> (the API cannot see whether the stream job has read it).
/// </summary>
internal static class KinesisForwarding
{
    /// <summary>The six Kinesis proxy routes' work, done with <paramref name="kinesis"/>.</summary>
    public static KinesisEndpoints.KinesisRouteHandlers Routes(KinesisClient kinesis, IngestOptions options) => new(
        c => ListStreamsAsync(c, kinesis),
        (c, stream) => DescribeStreamAsync(c, kinesis, stream),
        (c, stream) => CreateStreamAsync(c, kinesis, options, stream),
        (c, stream) => DeleteStreamAsync(c, kinesis, stream),
        (c, stream) => PutRecordAsync(c, kinesis, options, stream),
        (c, stream) => PutRecordsAsync(c, kinesis, options, stream));

    /// <summary>Kinesis's error as the route's answer: its status and type for what Kinesis answered, 503 when it did not answer, 500 for an answer we cannot read.</summary>
    internal static KinesisError ErrorOf(KinesisException e) => e.StatusCode switch
    {
        0 => KinesisError.Of(StatusCodes.Status503ServiceUnavailable, "ServiceUnavailable",
            $"Kinesis cannot be reached, nothing was written; retry: {e.ServiceMessage} ({e.Where})"),
        >= 400 and < 500 => KinesisError.Of(e.StatusCode, e.ErrorType, e.ServiceMessage),
        _ => KinesisError.Of(StatusCodes.Status500InternalServerError, "InternalFailure", $"Kinesis failed ({e.ErrorType}), nothing was written; retry: {e.ServiceMessage}"),
    };

    private static async Task ListStreamsAsync(HttpContext context, KinesisClient kinesis)
    {
        var names = await kinesis.ListStreamsAsync(context.RequestAborted).ConfigureAwait(false);
        await KinesisEndpoints.WriteJsonAsync(context.Response, w =>
        {
            w.WriteStartObject();
            w.WriteBoolean("HasMoreStreams", false);
            w.WriteStartArray("StreamNames");
            foreach (var name in names) w.WriteStringValue(name);
            w.WriteEndArray();
            w.WriteEndObject();
        }).ConfigureAwait(false);
    }

    private static async Task DescribeStreamAsync(HttpContext context, KinesisClient kinesis, string stream)
    {
        var summary = await kinesis.DescribeStreamSummaryAsync(stream, context.RequestAborted).ConfigureAwait(false);
        var shards = await kinesis.ListShardsAsync(stream, context.RequestAborted).ConfigureAwait(false);
        var rows = shards.Select(s => new KinesisEndpoints.ShardRow(s.ShardId, s.StartingHashKey, s.EndingHashKey, s.StartingSequenceNumber,
            s.EndingSequenceNumber, s.ParentShardId, s.AdjacentParentShardId));
        await KinesisEndpoints.WriteJsonAsync(context.Response,
            w => KinesisEndpoints.WriteStreamDescription(w, summary.StreamName, summary.StreamArn, summary.StreamStatus, rows, summary.RetentionPeriodHours)).ConfigureAwait(false);
    }

    private static async Task CreateStreamAsync(HttpContext context, KinesisClient kinesis, IngestOptions options, string stream)
    {
        if (stream.Length > KinesisShards.MaxNameLength)
            throw KinesisError.Validation($"Stream name is {stream.Length} characters long; the limit is {KinesisShards.MaxNameLength}.");
        var (buffer, length) = await KinesisEndpoints.ReadBodyAsync(context.Request, options).ConfigureAwait(false);
        int? asked;
        try
        {
            asked = KinesisRequest.ParseShardCount(buffer.AsMemory(0, length), 10_000);
        }
        finally
        {
            ArrayPool<byte>.Shared.Return(buffer);
        }
        await kinesis.CreateStreamAsync(stream, asked ?? options.DefaultShardCount, CancellationToken.None).ConfigureAwait(false);
        KinesisEndpoints.WriteEmpty(context.Response);
    }

    private static async Task DeleteStreamAsync(HttpContext context, KinesisClient kinesis, string stream)
    {
        KinesisEndpoints.RequireJsonBody(context.Request);
        if (!string.Equals(context.Request.Query["force"].ToString(), "true", StringComparison.OrdinalIgnoreCase))
            throw KinesisError.StreamInUse(
                $"Stream {stream} is in Kinesis, and the stream job's position in it is in its Delta tables, which the API does not read: " +
                "it cannot tell whether every record was read. Add ?force=true to delete it anyway: the records it holds are lost.");
        await kinesis.DeleteStreamAsync(stream, CancellationToken.None).ConfigureAwait(false);
        KinesisEndpoints.WriteEmpty(context.Response);
    }

    private static async Task PutRecordAsync(HttpContext context, KinesisClient kinesis, IngestOptions options, string stream)
    {
        var (buffer, length) = await KinesisEndpoints.ReadBodyAsync(context.Request, options).ConfigureAwait(false);
        try
        {
            var measure = IngestMeasure.Of(context);
            if (measure is not null) measure.Bytes = length;
            var entry = KinesisRequest.ParsePutRecord(buffer.AsMemory(0, length), stream);
            if (measure is not null) measure.Records = 1;
            // Not the request's abort token: once sent, the record may be written; the answer says where.
            var outcome = await kinesis.PutRecordAsync(stream, Forwarded(entry), CancellationToken.None).ConfigureAwait(false);
            if (measure is not null) measure.Topic = stream;
            await KinesisEndpoints.WriteJsonAsync(context.Response, w =>
            {
                w.WriteStartObject();
                w.WriteString("SequenceNumber", outcome.SequenceNumber);
                w.WriteString("ShardId", outcome.ShardId);
                w.WriteEndObject();
            }).ConfigureAwait(false);
        }
        finally
        {
            ArrayPool<byte>.Shared.Return(buffer);
        }
    }

    private static async Task PutRecordsAsync(HttpContext context, KinesisClient kinesis, IngestOptions options, string stream)
    {
        var (buffer, length) = await KinesisEndpoints.ReadBodyAsync(context.Request, options).ConfigureAwait(false);
        try
        {
            var measure = IngestMeasure.Of(context);
            if (measure is not null) measure.Bytes = length;
            var entries = KinesisRequest.ParsePutRecords(buffer.AsMemory(0, length));
            if (measure is not null) measure.Records = entries.Count;
            var outcomes = await kinesis.PutRecordsAsync(stream, entries.Select(Forwarded).ToList(), CancellationToken.None).ConfigureAwait(false);
            int failed = outcomes.Count(o => !o.Succeeded);
            if (measure is not null) (measure.Topic, measure.Records) = (stream, entries.Count - failed);
            await KinesisEndpoints.WritePutRecordsAnswerAsync(context.Response, outcomes).ConfigureAwait(false);
        }
        finally
        {
            ArrayPool<byte>.Shared.Return(buffer);
        }
    }

    /// <summary>A parsed record as Kinesis takes it: its bytes, its partition key, and an explicit hash key only when the request gave one.</summary>
    private static KinesisPutEntry Forwarded(KinesisEntry entry)
    {
        string? explicitHash = entry.ExplicitHashKey?.ToString(System.Globalization.CultureInfo.InvariantCulture);
        return new KinesisPutEntry(entry.Data, Encoding.UTF8.GetString(entry.Key), explicitHash);
    }
}
