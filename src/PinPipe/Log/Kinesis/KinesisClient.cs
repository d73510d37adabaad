using System.Buffers;
using System.Globalization;
using System.Net;
using System.Net.Http.Headers;
using System.Text.Json;
using Amazon.Runtime;
using Amazon.Runtime.Credentials;

namespace PinPipe.Log.Kinesis;

/// <summary>
/// A small client of Amazon Kinesis Data Streams over its JSON 1.1 protocol (<c>POST /</c>, <c>X-Amz-Target:
/// Kinesis_20131202.&lt;Operation&gt;</c>, <c>application/x-amz-json-1.1</c>), signed with SigV4 (<see cref="AwsSigV4"/>):
/// the operations the streaming lane needs. Credentials come from the AWS SDK's usual chain unless given; the region from
/// <see cref="KinesisOptions.Region"/> or the SDK's chain. Every failure is a <see cref="KinesisException"/> naming
/// Kinesis's error type and message; throttling, 5xx and a failed connection are transient (the callers back off and
/// retry: this client sends each call once). Thread-safe.
/// </summary>
public sealed class KinesisClient : IDisposable
{
    private const string Service = "kinesis";
    private const string TargetPrefix = "Kinesis_20131202.";
    private static readonly MediaTypeHeaderValue JsonType = new("application/x-amz-json-1.1");

    private readonly HttpClient _http;
    private readonly AwsKeys? _keys;
    private readonly TimeProvider _time;
    private AWSCredentials? _chain;

    /// <summary>A client for the endpoint and region of <paramref name="options"/>.</summary>
    /// <param name="options">The <c>Kinesis</c> settings.</param>
    /// <param name="keys">The keys to sign with; null: the AWS SDK's credential chain, asked at the first call.</param>
    /// <param name="handler">The HTTP handler (tests); null: a pooled <see cref="SocketsHttpHandler"/>.</param>
    /// <param name="time">The clock of the signatures; null: the system's.</param>
    public KinesisClient(KinesisOptions options, AwsKeys? keys = null, HttpMessageHandler? handler = null, TimeProvider? time = null)
    {
        ArgumentNullException.ThrowIfNull(options);
        SettingsCheck(options);
        Options = options;
        Region = options.Region ?? RegionFromChain() ?? "us-east-1";
        Endpoint = string.IsNullOrWhiteSpace(options.ServiceUrl)
            ? new Uri($"https://kinesis.{Region}.amazonaws.com/")
            : new Uri(options.ServiceUrl.TrimEnd('/') + "/");
        _keys = keys;
        _time = time ?? TimeProvider.System;
#pragma warning disable CA2000 // the client owns the handler and disposes it with itself
        _http = new HttpClient(handler ?? new SocketsHttpHandler { PooledConnectionLifetime = TimeSpan.FromMinutes(5) }, disposeHandler: true)
#pragma warning restore CA2000
        {
            Timeout = options.RequestTimeout,
        };
    }

    /// <summary>The settings the client was made with.</summary>
    public KinesisOptions Options { get; }

    /// <summary>The region requests are signed for.</summary>
    public string Region { get; }

    /// <summary>The endpoint requests go to.</summary>
    public Uri Endpoint { get; }

    private static void SettingsCheck(KinesisOptions options) =>
        Configuration.SettingsProblems.ThrowIfAny(options.Validate(), nameof(options));

    private static string? RegionFromChain()
    {
        try
        {
            return FallbackRegionFactory.GetRegionEndpoint()?.SystemName;
        }
#pragma warning disable CA1031 // no region in the environment or profile: the default region is used
        catch (Exception)
#pragma warning restore CA1031
        {
            return null;
        }
    }

    /// <summary>Creates a stream of <paramref name="shardCount"/> shards (it is CREATING for a while on AWS: see <see cref="WaitForActiveAsync"/>).</summary>
    public Task CreateStreamAsync(string stream, int shardCount, CancellationToken cancellationToken = default) =>
        CallAsync("CreateStream", stream, w =>
        {
            w.WriteString("StreamName", stream);
            w.WriteNumber("ShardCount", shardCount);
        }, static _ => 0, cancellationToken);

    /// <summary>Deletes a stream and its records.</summary>
    public Task DeleteStreamAsync(string stream, CancellationToken cancellationToken = default) =>
        CallAsync("DeleteStream", stream, w =>
        {
            w.WriteString("StreamName", stream);
            w.WriteBoolean("EnforceConsumerDeletion", true);
        }, static _ => 0, cancellationToken);

    /// <summary>The stream's status, open shards and creation time.</summary>
    public Task<KinesisStreamSummary> DescribeStreamSummaryAsync(string stream, CancellationToken cancellationToken = default) =>
        CallAsync("DescribeStreamSummary", stream, w => w.WriteString("StreamName", stream), static root =>
        {
            var d = root.GetProperty("StreamDescriptionSummary");
            return new KinesisStreamSummary(d.GetProperty("StreamName").GetString()!, d.GetProperty("StreamARN").GetString()!,
                d.GetProperty("StreamStatus").GetString()!, d.TryGetProperty("OpenShardCount", out var open) ? open.GetInt32() : 0,
                Timestamp(d.GetProperty("StreamCreationTimestamp")) ?? DateTimeOffset.UnixEpoch,
                d.TryGetProperty("RetentionPeriodHours", out var hours) ? hours.GetInt32() : 24);
        }, cancellationToken);

    /// <summary>The names of every stream of the account in the region, all pages.</summary>
    public async Task<IReadOnlyList<string>> ListStreamsAsync(CancellationToken cancellationToken = default)
    {
        var names = new List<string>();
        while (true)
        {
            string? after = names.Count > 0 ? names[^1] : null;
            var (page, more) = await CallAsync("ListStreams", null, w =>
            {
                if (after is not null) w.WriteString("ExclusiveStartStreamName", after);
            }, static root => (root.GetProperty("StreamNames").EnumerateArray().Select(n => n.GetString()!).ToList(),
                root.TryGetProperty("HasMoreStreams", out var m) && m.GetBoolean()), cancellationToken).ConfigureAwait(false);
            names.AddRange(page);
            if (!more || page.Count == 0) return names;
        }
    }

    /// <summary>Every shard of the stream, open and closed (those still within its retention), all pages (<c>NextToken</c>).</summary>
    public async Task<IReadOnlyList<KinesisShard>> ListShardsAsync(string stream, CancellationToken cancellationToken = default)
    {
        var shards = new List<KinesisShard>();
        string? next = null;
        do
        {
            string? token = next;
            (var page, next) = await CallAsync("ListShards", stream, w =>
            {
                // Kinesis takes either the stream's name or the token of the page before.
                if (token is null) w.WriteString("StreamName", stream);
                else w.WriteString("NextToken", token);
            }, static root => (root.GetProperty("Shards").EnumerateArray().Select(ReadShard).ToList(),
                root.TryGetProperty("NextToken", out var t) && t.ValueKind == JsonValueKind.String ? t.GetString() : null), cancellationToken).ConfigureAwait(false);
            shards.AddRange(page);
        }
        while (next is not null);
        return shards;
    }

    /// <summary>A shard iterator: where GetRecords starts. <paramref name="sequenceNumber"/> is needed for the AT/AFTER types only.</summary>
    public Task<string> GetShardIteratorAsync(string stream, string shardId, ShardIteratorType type, string? sequenceNumber = null, CancellationToken cancellationToken = default)
    {
        if (type is ShardIteratorType.AtSequenceNumber or ShardIteratorType.AfterSequenceNumber && string.IsNullOrEmpty(sequenceNumber))
            throw new ArgumentException($"{type} needs a sequence number.", nameof(sequenceNumber));
        return CallAsync("GetShardIterator", stream, w =>
        {
            w.WriteString("StreamName", stream);
            w.WriteString("ShardId", shardId);
            w.WriteString("ShardIteratorType", IteratorTypeName(type));
            if (type is ShardIteratorType.AtSequenceNumber or ShardIteratorType.AfterSequenceNumber) w.WriteString("StartingSequenceNumber", sequenceNumber);
        }, static root => root.GetProperty("ShardIterator").GetString()!, cancellationToken);
    }

    /// <summary>Up to <paramref name="limit"/> records from <paramref name="iterator"/> on; <paramref name="shardId"/> labels them and the errors.</summary>
    public Task<KinesisReadResult> GetRecordsAsync(string iterator, string shardId, int limit, CancellationToken cancellationToken = default) =>
        CallAsync("GetRecords", shardId, w =>
        {
            w.WriteString("ShardIterator", iterator);
            w.WriteNumber("Limit", limit);
        }, root =>
        {
            var records = new List<KinesisRecord>();
            foreach (var r in root.GetProperty("Records").EnumerateArray())
                records.Add(new KinesisRecord(shardId, r.GetProperty("SequenceNumber").GetString()!, r.GetProperty("PartitionKey").GetString()!,
                    r.GetProperty("Data").GetBytesFromBase64(), r.TryGetProperty("ApproximateArrivalTimestamp", out var t) ? Timestamp(t) : null));
            string? next = root.TryGetProperty("NextShardIterator", out var n) && n.ValueKind == JsonValueKind.String ? n.GetString() : null;
            long behind = root.TryGetProperty("MillisBehindLatest", out var b) && b.ValueKind == JsonValueKind.Number ? b.GetInt64() : 0;
            return new KinesisReadResult(records, next, behind);
        }, cancellationToken);

    /// <summary>Writes one record; its shard and sequence number.</summary>
    public Task<KinesisPutOutcome> PutRecordAsync(string stream, KinesisPutEntry entry, CancellationToken cancellationToken = default) =>
        CallAsync("PutRecord", stream, w =>
        {
            w.WriteString("StreamName", stream);
            w.WriteBase64String("Data", entry.Data.Span);
            w.WriteString("PartitionKey", entry.PartitionKey);
            if (entry.ExplicitHashKey is not null) w.WriteString("ExplicitHashKey", entry.ExplicitHashKey);
        }, static root => new KinesisPutOutcome(root.GetProperty("SequenceNumber").GetString(), root.GetProperty("ShardId").GetString()), cancellationToken);

    /// <summary>
    /// Writes up to 500 records in one call; each entry's outcome in order. Kinesis may write some and refuse others
    /// (throttled): those carry an <see cref="KinesisPutOutcome.ErrorCode"/> and were not written.
    /// </summary>
    public Task<IReadOnlyList<KinesisPutOutcome>> PutRecordsAsync(string stream, IReadOnlyList<KinesisPutEntry> entries, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(entries);
        return CallAsync<IReadOnlyList<KinesisPutOutcome>>("PutRecords", stream, w =>
        {
            w.WriteString("StreamName", stream);
            w.WriteStartArray("Records");
            foreach (var e in entries)
            {
                w.WriteStartObject();
                w.WriteBase64String("Data", e.Data.Span);
                w.WriteString("PartitionKey", e.PartitionKey);
                if (e.ExplicitHashKey is not null) w.WriteString("ExplicitHashKey", e.ExplicitHashKey);
                w.WriteEndObject();
            }
            w.WriteEndArray();
        }, root =>
        {
            var outcomes = new List<KinesisPutOutcome>(entries.Count);
            foreach (var r in root.GetProperty("Records").EnumerateArray())
                outcomes.Add(new KinesisPutOutcome(Text(r, "SequenceNumber"), Text(r, "ShardId"), Text(r, "ErrorCode"), Text(r, "ErrorMessage")));
            if (outcomes.Count != entries.Count)
                throw new KinesisException(KinesisException.BadResponse, $"PutRecords answered {outcomes.Count} outcomes for {entries.Count} records.", 200, "PutRecords", Where(stream));
            return outcomes;
        }, cancellationToken);
    }

    /// <summary>Splits a shard at <paramref name="newStartingHashKey"/> (decimal) into two children; the parent closes.</summary>
    public Task SplitShardAsync(string stream, string shardId, string newStartingHashKey, CancellationToken cancellationToken = default) =>
        CallAsync("SplitShard", stream, w =>
        {
            w.WriteString("StreamName", stream);
            w.WriteString("ShardToSplit", shardId);
            w.WriteString("NewStartingHashKey", newStartingHashKey);
        }, static _ => 0, cancellationToken);

    /// <summary>Merges two adjacent shards into one child; both close.</summary>
    public Task MergeShardsAsync(string stream, string shardId, string adjacentShardId, CancellationToken cancellationToken = default) =>
        CallAsync("MergeShards", stream, w =>
        {
            w.WriteString("StreamName", stream);
            w.WriteString("ShardToMerge", shardId);
            w.WriteString("AdjacentShardToMerge", adjacentShardId);
        }, static _ => 0, cancellationToken);

    /// <summary>Waits until the stream is ACTIVE (after a create, split or merge), polling its summary; throws when <paramref name="timeout"/> passes.</summary>
    public async Task<KinesisStreamSummary> WaitForActiveAsync(string stream, TimeSpan timeout, CancellationToken cancellationToken = default)
    {
        var deadline = _time.GetUtcNow() + timeout;
        while (true)
        {
            var summary = await DescribeStreamSummaryAsync(stream, cancellationToken).ConfigureAwait(false);
            if (summary.StreamStatus == "ACTIVE") return summary;
            if (_time.GetUtcNow() >= deadline)
                throw new KinesisException("StreamNotActive", $"stream {stream} is still {summary.StreamStatus} after {Configuration.Durations.Text(timeout)}.", 0, "DescribeStreamSummary", Where(stream));
            await Task.Delay(TimeSpan.FromMilliseconds(250), _time, cancellationToken).ConfigureAwait(false);
        }
    }

    /// <summary>Creates the stream with <paramref name="shardCount"/> shards when it does not exist (one of another shard count is used as it is) and waits until it is ACTIVE.</summary>
    public async Task<KinesisStreamSummary> EnsureStreamAsync(string stream, int shardCount, TimeSpan timeout, CancellationToken cancellationToken = default)
    {
        try
        {
            await CreateStreamAsync(stream, shardCount, cancellationToken).ConfigureAwait(false);
        }
        catch (KinesisException e) when (e.ErrorType == "ResourceInUseException")
        {
            // It exists (or is being created by someone else).
        }
        return await WaitForActiveAsync(stream, timeout, cancellationToken).ConfigureAwait(false);
    }

    /// <summary>What an error is about: the stream (or shard) and the endpoint.</summary>
    private string Where(string? what) => what is null ? $"Kinesis at {Endpoint}" : $"{what} at {Endpoint}";

    private async Task<T> CallAsync<T>(string operation, string? what, Action<Utf8JsonWriter> writeBody, Func<JsonElement, T> read, CancellationToken cancellationToken)
    {
        var body = new ArrayBufferWriter<byte>(256);
        using (var w = new Utf8JsonWriter(body))
        {
            w.WriteStartObject();
            writeBody(w);
            w.WriteEndObject();
        }
        var keys = await KeysAsync(operation, what).ConfigureAwait(false);
        using var request = Sign(operation, body.WrittenMemory, keys);
        HttpResponseMessage response;
        byte[] answer;
        try
        {
            response = await _http.SendAsync(request, HttpCompletionOption.ResponseContentRead, cancellationToken).ConfigureAwait(false);
            answer = await response.Content.ReadAsByteArrayAsync(cancellationToken).ConfigureAwait(false);
        }
        catch (Exception e) when (e is HttpRequestException or IOException || (e is OperationCanceledException && !cancellationToken.IsCancellationRequested))
        {
            string why = e is OperationCanceledException ? $"no answer within {Configuration.Durations.Text(Options.RequestTimeout)} (Kinesis:RequestTimeout)" : e.Message;
            throw new KinesisException(KinesisException.Unreachable, $"cannot reach {Endpoint}: {why}", 0, operation, Where(what), e);
        }
        using (response)
        {
            int status = (int)response.StatusCode;
            if (response.StatusCode != HttpStatusCode.OK) throw Error(operation, what, status, answer, response);
            try
            {
                using var doc = JsonDocument.Parse(answer.Length == 0 ? "{}"u8.ToArray() : answer);
                return read(doc.RootElement);
            }
            catch (Exception e) when (e is JsonException or KeyNotFoundException or InvalidOperationException or FormatException)
            {
                throw new KinesisException(KinesisException.BadResponse, $"the answer is not the JSON Kinesis sends: {e.Message}", status, operation, Where(what), e);
            }
        }
    }

    /// <summary>The request, signed: <c>POST /</c> with the JSON body and the headers Kinesis wants.</summary>
    private HttpRequestMessage Sign(string operation, ReadOnlyMemory<byte> body, AwsKeys keys)
    {
        var now = _time.GetUtcNow();
        string date = now.UtcDateTime.ToString(AwsSigV4.DateFormat, CultureInfo.InvariantCulture);
        string host = Endpoint.IsDefaultPort ? Endpoint.IdnHost : $"{Endpoint.IdnHost}:{Endpoint.Port.ToString(CultureInfo.InvariantCulture)}";
        var signed = new List<KeyValuePair<string, string>>
        {
            new("Content-Type", JsonType.MediaType!),
            new("Host", host),
            new("X-Amz-Date", date),
            new("X-Amz-Target", TargetPrefix + operation),
        };
        if (keys.SessionToken is not null) signed.Add(new("X-Amz-Security-Token", keys.SessionToken));
        string path = Endpoint.AbsolutePath;
        string authorization = AwsSigV4.Authorization("POST", Uri.UnescapeDataString(path), [], signed, body.Span, keys, Region, Service, now);

        var request = new HttpRequestMessage(HttpMethod.Post, Endpoint) { Content = new ReadOnlyMemoryContent(body) };
        request.Content.Headers.ContentType = JsonType;
        request.Headers.Host = host;
        request.Headers.TryAddWithoutValidation("X-Amz-Date", date);
        request.Headers.TryAddWithoutValidation("X-Amz-Target", TargetPrefix + operation);
        if (keys.SessionToken is not null) request.Headers.TryAddWithoutValidation("X-Amz-Security-Token", keys.SessionToken);
        request.Headers.TryAddWithoutValidation("Authorization", authorization);
        return request;
    }

    /// <summary>The keys of this call: the given ones, or the SDK chain's current ones (it refreshes temporary keys itself).</summary>
    private async Task<AwsKeys> KeysAsync(string operation, string? what)
    {
        if (_keys is not null) return _keys;
        try
        {
            var chain = _chain ??= await DefaultAWSCredentialsIdentityResolver.GetCredentialsAsync().ConfigureAwait(false);
            var c = await chain.GetCredentialsAsync().ConfigureAwait(false);
            return new AwsKeys(c.AccessKey, c.SecretKey, string.IsNullOrEmpty(c.Token) ? null : c.Token);
        }
        catch (AmazonClientException e)
        {
            throw new KinesisException("MissingCredentials",
                "no AWS credentials found: set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, or AWS_PROFILE with a profile in ~/.aws/credentials, " +
                $"or run with a role ({e.Message})", 0, operation, Where(what), e);
        }
    }

    private KinesisException Error(string operation, string? what, int status, byte[] body, HttpResponseMessage response)
    {
        string? type = null, message = null;
        try
        {
            using var doc = JsonDocument.Parse(body);
            if (doc.RootElement.ValueKind == JsonValueKind.Object)
            {
                type = Text(doc.RootElement, "__type");
                message = Text(doc.RootElement, "message") ?? Text(doc.RootElement, "Message");
            }
        }
        catch (JsonException)
        {
            // Not JSON (a proxy's page): the status and header say what they can.
        }
        type ??= response.Headers.TryGetValues("x-amzn-ErrorType", out var values) ? values.FirstOrDefault() : null;
        // "com.amazonaws.kinesis.v20131202#ResourceNotFoundException" and "ResourceNotFoundException:http://..." name the same error.
        if (type is not null)
        {
            type = type[(type.LastIndexOf('#') + 1)..];
            if (type.IndexOf(':', StringComparison.Ordinal) is var colon and > 0) type = type[..colon];
        }
        type = string.IsNullOrEmpty(type) ? (status >= 500 ? "InternalFailure" : $"HTTP{status.ToString(CultureInfo.InvariantCulture)}") : type;
        message ??= body.Length == 0 ? $"HTTP {status.ToString(CultureInfo.InvariantCulture)} {response.ReasonPhrase}" : System.Text.Encoding.UTF8.GetString(body, 0, Math.Min(body.Length, 300));
        return new KinesisException(type, message, status, operation, Where(what));
    }

    private static KinesisShard ReadShard(JsonElement s)
    {
        var range = s.GetProperty("HashKeyRange");
        var sequence = s.GetProperty("SequenceNumberRange");
        return new KinesisShard(s.GetProperty("ShardId").GetString()!, Text(s, "ParentShardId"), Text(s, "AdjacentParentShardId"),
            range.GetProperty("StartingHashKey").GetString()!, range.GetProperty("EndingHashKey").GetString()!,
            sequence.GetProperty("StartingSequenceNumber").GetString()!, Text(sequence, "EndingSequenceNumber"));
    }

    private static string? Text(JsonElement e, string name) =>
        e.TryGetProperty(name, out var v) && v.ValueKind == JsonValueKind.String ? v.GetString() : null;

    /// <summary>A JSON 1.1 timestamp: seconds since the epoch as a number (with fractions), or an ISO 8601 string.</summary>
    private static DateTimeOffset? Timestamp(JsonElement e) => e.ValueKind switch
    {
        JsonValueKind.Number => DateTimeOffset.FromUnixTimeMilliseconds((long)Math.Round(e.GetDouble() * 1000)),
        JsonValueKind.String when DateTimeOffset.TryParse(e.GetString(), CultureInfo.InvariantCulture, DateTimeStyles.AssumeUniversal, out var t) => t,
        _ => null,
    };

    private static string IteratorTypeName(ShardIteratorType type) => type switch
    {
        ShardIteratorType.TrimHorizon => "TRIM_HORIZON",
        ShardIteratorType.Latest => "LATEST",
        ShardIteratorType.AtSequenceNumber => "AT_SEQUENCE_NUMBER",
        ShardIteratorType.AfterSequenceNumber => "AFTER_SEQUENCE_NUMBER",
        _ => throw new ArgumentOutOfRangeException(nameof(type), type, "not an iterator type"),
    };

    /// <summary>Closes the HTTP connections.</summary>
    public void Dispose() => _http.Dispose();
}
