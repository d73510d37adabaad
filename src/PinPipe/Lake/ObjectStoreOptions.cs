using PinPipe.Configuration;

namespace PinPipe.Lake;

/// <summary>Settings of the bucket (configuration section <c>ObjectStore</c>).</summary>
public sealed record ObjectStoreOptions
{
    /// <summary><c>directory</c> (default) or <c>s3</c>.</summary>
    public ObjectStoreKind Kind { get; init; } = ObjectStoreKind.Directory;

    /// <summary>Directory store: the folder that holds the buckets. A relative path is under the data folder. Default <c>buckets</c>; the bucket is a sub-folder.</summary>
    public string Root { get; init; } = "buckets";

    /// <summary>The bucket. Default null: <c>user-&lt;UserId&gt;-bucket</c> (SPEC §1).</summary>
    public string? Bucket { get; init; }

    /// <summary>S3: endpoint URL for S3-compatible servers (null = AWS). Credentials come from the AWS SDK's usual chain (environment, profile).</summary>
    public string? ServiceUrl { get; init; }

    /// <summary>S3: region. Default us-east-1.</summary>
    public string Region { get; init; } = "us-east-1";

    /// <summary>S3: path-style addressing (needed by most S3-compatible servers).</summary>
    public bool ForcePathStyle { get; init; }

    /// <summary>
    /// S3: whether the server enforces <c>If-None-Match: *</c> on PUT, so that several processes may commit to one Delta
    /// table (<see cref="IObjectStore.AtomicPutIfAbsent"/>). <c>auto</c> (default): true for AWS S3 (no
    /// <see cref="ServiceUrl"/>; conditional writes since 2024), false for a custom endpoint, since s3rver 3.7 and several
    /// S3-compatible servers ignore the header and overwrite. <c>true</c> only for a server that answers 412 when the key exists.
    /// </summary>
    public ConditionalWrites ConditionalWrites { get; init; } = ConditionalWrites.Auto;

    /// <summary>S3: what <see cref="ConditionalWrites"/> means for this endpoint: true when put-if-absent is atomic.</summary>
    internal bool HasConditionalWrites => ConditionalWrites switch
    {
        ConditionalWrites.True => true,
        ConditionalWrites.False => false,
        _ => string.IsNullOrWhiteSpace(ServiceUrl),
    };

    /// <summary>
    /// S3: create the bucket when it is missing, at start (<c>--create-bucket</c>). Default false: a missing bucket stops the
    /// sink, the stream job and the batch job at once, naming it (as Kafka Connect's S3 sink, which never creates one).
    /// <c>pinpipe up</c> always creates it.
    /// </summary>
    public bool CreateBucket { get; init; }

    /// <summary>The smallest part S3 accepts (every part but the last): 5 MiB.</summary>
    public const long MinPartSize = 5L << 20;

    /// <summary>The largest object one PutObject (and one part) may carry in S3: 5 GiB.</summary>
    public const long MaxSinglePutSize = 5L << 30;

    /// <summary>
    /// S3: a file larger than this many bytes is uploaded as a multipart upload (parts of <see cref="MultipartPartSize"/>,
    /// streamed from the file); up to it, as one PutObject streamed from the file. Default 64 MiB; 5 MiB to 5 GiB.
    /// </summary>
    public long MultipartThreshold { get; init; } = 64L << 20;

    /// <summary>
    /// S3: the size of each part of a multipart upload (the last may be smaller). Default 16 MiB; 5 MiB to 5 GiB. A file
    /// of more than 10,000 parts gets larger parts (S3 takes at most 10,000).
    /// </summary>
    public long MultipartPartSize { get; init; } = 16L << 20;

    /// <summary>
    /// S3: how long a connection may go without a byte moving either way (connecting, sending a request, waiting for the
    /// answer, reading its body) before the request is abandoned as timed out and retried. It bounds a stalled request,
    /// not a slow one: a large upload that keeps moving is never cut. Default 30 s; 100 ms to 1 hour.
    /// </summary>
    public TimeSpan SocketTimeout { get; init; } = TimeSpan.FromSeconds(30);

    /// <summary>
    /// S3: attempts of each request when it fails transiently (5xx, <c>SlowDown</c>, a timeout, a reset connection), the
    /// first included; waits of 200 ms doubled after each failure, with jitter, between them. Each failed attempt is one
    /// warning line and counts in <c>pinpipe_object_store_errors_total</c>. Default 5; 1 to 20. The AWS SDK's own retries
    /// are off, so this is the whole count.
    /// </summary>
    public int MaxAttempts { get; init; } = 5;

    /// <summary>The longest <see cref="SocketTimeout"/>: 1 hour.</summary>
    private static readonly TimeSpan MaxSocketTimeout = TimeSpan.FromHours(1);

    public static ObjectStoreOptions Default { get; } = new();

    /// <summary>Every problem of these settings, each naming its key; empty when all is well.</summary>
    public IReadOnlyList<string> Validate() => new SettingsProblems()
        .OneOf("ObjectStore:Kind", Kind)
        .Check(Bucket is null || SettingFormats.IsBucketName(Bucket, Kind == ObjectStoreKind.S3), Kind == ObjectStoreKind.S3
            ? $"ObjectStore:Bucket: '{Bucket}' is not an S3 bucket name: 3-63 lower-case letters, digits, '.' and '-', starting and ending with a letter or digit."
            : $"ObjectStore:Bucket: '{Bucket}' must be one folder name: letters, digits, '.', '_' and '-', not '.' or '..'.")
        .Check(!string.IsNullOrWhiteSpace(Root), "ObjectStore:Root: must not be empty.")
        .Check(ServiceUrl is null or "" || Uri.TryCreate(ServiceUrl, UriKind.Absolute, out var url) && url.Scheme is "http" or "https",
            $"ObjectStore:ServiceUrl: '{ServiceUrl}' must be an absolute http(s) URL (e.g. http://127.0.0.1:9000).")
        .OneOf("ObjectStore:ConditionalWrites", ConditionalWrites)
        .Check(!string.IsNullOrWhiteSpace(Region), "ObjectStore:Region: must not be empty (e.g. us-east-1).")
        .Check(MultipartThreshold is >= MinPartSize and <= MaxSinglePutSize,
            $"ObjectStore:MultipartThreshold: {MultipartThreshold} bytes must be 5 MiB ({MinPartSize}) to 5 GiB ({MaxSinglePutSize}), the sizes S3 allows for one PutObject.")
        .Check(MultipartPartSize is >= MinPartSize and <= MaxSinglePutSize,
            $"ObjectStore:MultipartPartSize: {MultipartPartSize} bytes must be 5 MiB ({MinPartSize}) to 5 GiB ({MaxSinglePutSize}), the part sizes S3 allows.")
        .Check(SocketTimeout >= TimeSpan.FromMilliseconds(100) && SocketTimeout <= MaxSocketTimeout,
            $"ObjectStore:SocketTimeout: {Durations.Text(SocketTimeout)} must be 100ms to 1h: how long a connection to S3 may go without a byte moving before the request is retried.")
        .Check(MaxAttempts is >= 1 and <= 20, $"ObjectStore:MaxAttempts: {MaxAttempts} must be 1 to 20 (attempts of each S3 request, the first included).")
        .ToList();
}
