using System.Net;
using System.Runtime.CompilerServices;
using System.Runtime.ExceptionServices;
using System.Runtime.InteropServices;
using Amazon;
using Amazon.Runtime;
using Amazon.S3;
using Amazon.S3.Model;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;
using PinPipe.Errors;
using PinPipe.Files;
using PinPipe.Observability;

namespace PinPipe.Lake.S3;

/// <summary>A bucket in Amazon S3 or an S3-compatible server, through AWSSDK.S3.</summary>
/// <remarks>
/// <para>A single PutObject is atomic in S3: readers see the old or the new object. Credentials come from the
/// SDK's default chain (environment, profile, instance role).</para>
/// <para><see cref="PutIfAbsentAsync"/> sends <c>If-None-Match: *</c> (S3 conditional writes): S3 answers
/// 412 Precondition Failed when the key exists, and of two concurrent writers exactly one succeeds (a 409
/// ConditionalRequestConflict is retried). The guarantee is the server's: servers that ignore the header
/// (s3rver 3.7 does) overwrite instead, so <see cref="AtomicPutIfAbsent"/> is true only for AWS or when
/// <see cref="ObjectStoreOptions.ConditionalWrites"/> says the server enforces it.</para>
/// <para>With a custom <see cref="ObjectStoreOptions.ServiceUrl"/> request checksums are sent only when the
/// operation requires them and bodies are signed whole rather than aws-chunked, because many S3-compatible
/// servers (s3rver among them) do not understand the SDK's default streaming encodings.</para>
/// <para><b>Failures.</b> Each request that fails transiently (5xx, <c>SlowDown</c> and other throttling, a connection
/// refused or reset, no byte moving for <see cref="ObjectStoreOptions.SocketTimeout"/>) is sent again, up to
/// <see cref="ObjectStoreOptions.MaxAttempts"/> attempts in all, after 200 ms doubled each time, with jitter; the AWS SDK's
/// own retries (of errors, and of connections reset, which it takes for stale pooled ones) are off, so that every failed
/// attempt is seen: one warning line (the stack trace at Debug) and a count in
/// <c>pinpipe_object_store_errors_total{operation,kind}</c> (<c>pinpipe_object_store_retries_total{operation}</c> for the
/// retries). Then the failure is an <see cref="ObjectStoreException"/>, transient or permanent, for the caller's own
/// retry loop. A request whose answer was lost may have taken effect: puts are idempotent (the same key, the same
/// bytes); a put-if-absent whose retry finds the key taken counts as written when the object holds exactly its bytes
/// (its own earlier attempt); a multipart completion whose retry finds the upload gone counts as completed.</para>
/// </remarks>
public sealed class S3ObjectStore : IObjectStore, IDisposable
{
    private readonly AmazonS3Client _client;
    private readonly string _bucket;
    private readonly bool _useChunkEncoding;
    private readonly string _endpoint;
    private readonly long _multipartThreshold;
    private readonly long _partSize;
    private readonly bool _atomicPutIfAbsent;
    private readonly int _maxAttempts;
    private readonly ILogger _logger;

    /// <summary>Connects to <paramref name="bucket"/> with the SDK's default credentials; retries are logged to <paramref name="logger"/>.</summary>
    public S3ObjectStore(ObjectStoreOptions options, string bucket, ILogger? logger = null) : this(options, bucket, credentials: null, logger) { }

    /// <summary>Connects to <paramref name="bucket"/> with explicit credentials (null: the SDK's default chain).</summary>
    internal S3ObjectStore(ObjectStoreOptions options, string bucket, AWSCredentials? credentials, ILogger? logger = null)
    {
        ArgumentNullException.ThrowIfNull(options);
        ArgumentException.ThrowIfNullOrWhiteSpace(bucket);
        _bucket = bucket;
        _maxAttempts = options.MaxAttempts;
        _logger = logger ?? NullLogger.Instance;
        _multipartThreshold = options.MultipartThreshold;
        _partSize = options.MultipartPartSize;
        _atomicPutIfAbsent = options.HasConditionalWrites;
        _useChunkEncoding = string.IsNullOrWhiteSpace(options.ServiceUrl);
        _endpoint = string.IsNullOrWhiteSpace(options.ServiceUrl) ? $"AWS S3 ({options.Region})" : options.ServiceUrl;
        _createCommand = string.IsNullOrWhiteSpace(options.ServiceUrl)
            ? $"aws s3 mb s3://{bucket} --region {options.Region}"
            : $"aws s3 mb s3://{bucket} --endpoint-url {options.ServiceUrl}";
        _client = credentials is null ? new AmazonS3Client(CreateConfig(options)) : new AmazonS3Client(credentials, CreateConfig(options));
    }

    /// <summary>The SDK client, for tests that watch requests.</summary>
    internal AmazonS3Client Client => _client;

    private readonly string _createCommand;

    /// <inheritdoc />
    public string Location => $"s3://{_bucket}";

    /// <summary>What the store's errors are about: <c>bucket 'b' at http://127.0.0.1:4568</c> (or <c>at AWS S3 (us-east-1)</c>).</summary>
    public string Where => $"bucket '{_bucket}' at {_endpoint}";

    internal static AmazonS3Config CreateConfig(ObjectStoreOptions options)
    {
        var config = new AmazonS3Config
        {
            ForcePathStyle = options.ForcePathStyle,
            // The store retries each request itself (MaxAttempts), so that every failed attempt is logged and counted, and a
            // put-if-absent knows when an earlier attempt may have written: none of the SDK's own retries, of errors or of
            // connections reset (which it takes for stale pooled ones).
            MaxErrorRetry = 0,
            MaxStaleConnectionRetries = 0,
            HttpClientFactory = new S3Connections(options.SocketTimeout),
        };
        if (string.IsNullOrWhiteSpace(options.ServiceUrl))
        {
            config.RegionEndpoint = RegionEndpoint.GetBySystemName(options.Region);
        }
        else
        {
            config.ServiceURL = options.ServiceUrl;
            config.AuthenticationRegion = options.Region;
            config.RequestChecksumCalculation = RequestChecksumCalculation.WHEN_REQUIRED;
            config.ResponseChecksumValidation = ResponseChecksumValidation.WHEN_REQUIRED;
        }
        return config;
    }

    /// <inheritdoc />
    public async ValueTask PutAsync(string key, ReadOnlyMemory<byte> content, CancellationToken cancellationToken = default)
    {
        ObjectKeys.Validate(key);
        await RequestAsync("PutObject", $"could not write object '{key}'", async token =>
        {
            using var body = AsStream(content);
            await _client.PutObjectAsync(new PutObjectRequest { BucketName = _bucket, Key = key, InputStream = body, AutoCloseStream = false, UseChunkEncoding = _useChunkEncoding }, token).ConfigureAwait(false);
            return true;
        }, cancellationToken).ConfigureAwait(false);
    }

    /// <inheritdoc />
    /// <remarks>
    /// Up to <see cref="ObjectStoreOptions.MultipartThreshold"/> bytes, one PutObject whose body is read from the file as
    /// it is sent (atomic, as <see cref="PutAsync"/>); above it a multipart upload, one part of
    /// <see cref="ObjectStoreOptions.MultipartPartSize"/> at a time, each read from its range of the file as it is sent.
    /// S3 publishes the object whole when the upload completes. When a part, the completion or the caller's cancellation
    /// stops the upload, it is aborted, so S3 frees (and bills no longer) the parts already sent; a server that cannot
    /// abort keeps them until the bucket's lifecycle rule for incomplete multipart uploads removes them.
    /// </remarks>
    public async ValueTask PutFileAsync(string key, string localPath, CancellationToken cancellationToken = default)
    {
        ObjectKeys.Validate(key);
        ArgumentException.ThrowIfNullOrWhiteSpace(localPath);
        var file = new FileInfo(localPath);
        if (!file.Exists) throw new FileNotFoundException($"No file '{localPath}' to put.", localPath);
        if (file.Length > _multipartThreshold)
        {
            await PutMultipartAsync(key, localPath, file.Length, cancellationToken).ConfigureAwait(false);
            return;
        }
        await RequestAsync("PutObject", $"could not write object '{key}'", async token =>
        {
            var body = new FileStream(localPath, FileMode.Open, FileAccess.Read, FileShare.Read, 1 << 16, FileOptions.Asynchronous | FileOptions.SequentialScan);
            await using (body.ConfigureAwait(false))
                await _client.PutObjectAsync(new PutObjectRequest { BucketName = _bucket, Key = key, InputStream = body, AutoCloseStream = false, UseChunkEncoding = _useChunkEncoding }, token).ConfigureAwait(false);
            return true;
        }, cancellationToken).ConfigureAwait(false);
    }

    /// <summary>The part size for a file of <paramref name="length"/> bytes: the configured one, larger when the file would need more than 10,000 parts.</summary>
    internal static long PartSizeFor(long length, long partSize) => Math.Max(partSize, (length + MaxParts - 1) / MaxParts);

    private const int MaxParts = 10_000;

    private async Task PutMultipartAsync(string key, string localPath, long length, CancellationToken cancellationToken)
    {
        string doing = $"could not write object '{key}' (multipart upload)";
        string uploadId = await RequestAsync("CreateMultipartUpload", doing, async token =>
            (await _client.InitiateMultipartUploadAsync(new InitiateMultipartUploadRequest { BucketName = _bucket, Key = key }, token).ConfigureAwait(false)).UploadId,
            cancellationToken).ConfigureAwait(false);
        try
        {
            long partSize = PartSizeFor(length, _partSize);
            var parts = new List<PartETag>();
            for (long position = 0; position < length; position += partSize)
            {
                long size = Math.Min(partSize, length - position);
                int number = parts.Count + 1;
                long from = position;
                UploadPartResponse part = await RequestAsync("UploadPart", doing, token => _client.UploadPartAsync(new UploadPartRequest
                {
                    BucketName = _bucket,
                    Key = key,
                    UploadId = uploadId,
                    PartNumber = number,
                    FilePath = localPath,
                    FilePosition = from,
                    PartSize = size,
                    IsLastPart = from + size >= length,
                    UseChunkEncoding = _useChunkEncoding,
                }, token), cancellationToken).ConfigureAwait(false);
                parts.Add(new PartETag(number, part.ETag));
            }
            var complete = new CompleteMultipartUploadRequest { BucketName = _bucket, Key = key, UploadId = uploadId };
            complete.AddPartETags(parts);
            bool tried = false;
            await RequestAsync("CompleteMultipartUpload", doing, async token =>
            {
                try
                {
                    await _client.CompleteMultipartUploadAsync(complete, token).ConfigureAwait(false);
                }
                catch (AmazonS3Exception e) when (tried && e.ErrorCode == "NoSuchUpload")
                {
                    // An earlier attempt completed it and its answer was lost: only completing (or aborting, which this
                    // store does only after a failure) ends an upload, and its id is this call's own.
                }
                catch (Exception e) when (IsStoreFailure(e, token))
                {
                    tried = true;
                    throw;
                }
                return true;
            }, cancellationToken).ConfigureAwait(false);
        }
        catch (Exception)
        {
            await AbortQuietlyAsync(key, uploadId).ConfigureAwait(false);
            throw;
        }
    }

    /// <summary>Aborts a multipart upload that failed or was cancelled, so its parts do not stay behind; a failure to abort is not the caller's error.</summary>
    private async Task AbortQuietlyAsync(string key, string uploadId)
    {
        try
        {
            using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(30));
            await _client.AbortMultipartUploadAsync(new AbortMultipartUploadRequest { BucketName = _bucket, Key = key, UploadId = uploadId }, timeout.Token).ConfigureAwait(false);
        }
        catch (Exception e) when (IsStoreFailure(e, CancellationToken.None) || e is OperationCanceledException)
        {
            // The original failure is what the caller needs; S3's lifecycle rule for incomplete uploads clears what stays.
        }
    }

    /// <inheritdoc />
    /// <remarks>From <see cref="ObjectStoreOptions.ConditionalWrites"/>: true for AWS S3 or when set to <c>true</c>.</remarks>
    public bool AtomicPutIfAbsent => _atomicPutIfAbsent;

    /// <inheritdoc />
    public async ValueTask<bool> PutIfAbsentAsync(string key, ReadOnlyMemory<byte> content, CancellationToken cancellationToken = default)
    {
        ObjectKeys.Validate(key);
        bool mayHaveWritten = false; // an attempt failed after which the object may exist, written by it
        for (int conflicts = 0; ; conflicts++)
        {
            bool? written = await RequestAsync<bool?>("PutObject", $"could not write object '{key}'", async token =>
            {
                using var body = AsStream(content);
                try
                {
                    await _client.PutObjectAsync(new PutObjectRequest
                    {
                        BucketName = _bucket,
                        Key = key,
                        InputStream = body,
                        AutoCloseStream = false,
                        UseChunkEncoding = _useChunkEncoding,
                        IfNoneMatch = "*",
                    }, token).ConfigureAwait(false);
                    return true;
                }
                catch (AmazonS3Exception e) when (IsPreconditionFailed(e))
                {
                    return false;
                }
                catch (AmazonS3Exception e) when (IsConditionalConflict(e) && conflicts < 4)
                {
                    return null; // another conditional write to the key was in flight; S3 asks to retry
                }
                catch (Exception e) when (IsStoreFailure(e, token))
                {
                    mayHaveWritten = true;
                    throw;
                }
            }, cancellationToken).ConfigureAwait(false);
            if (written == true) return true;
            // The key is taken: by this call's own earlier attempt whose answer was lost when the object holds exactly its bytes.
            if (written == false) return mayHaveWritten && await HoldsAsync(key, content, cancellationToken).ConfigureAwait(false);
            await Task.Delay(TimeSpan.FromMilliseconds(50 * (conflicts + 1)), cancellationToken).ConfigureAwait(false);
        }
    }

    /// <summary>True when the object exists and holds exactly <paramref name="content"/>.</summary>
    private async Task<bool> HoldsAsync(string key, ReadOnlyMemory<byte> content, CancellationToken cancellationToken) =>
        await GetAsync(key, cancellationToken).ConfigureAwait(false) is { } existing && content.Span.SequenceEqual(existing);

    /// <summary>True for S3's answer to a conditional write whose key exists.</summary>
    internal static bool IsPreconditionFailed(AmazonS3Exception e) =>
        e.StatusCode == HttpStatusCode.PreconditionFailed || e.ErrorCode == "PreconditionFailed";

    /// <summary>True for S3's answer to two concurrent conditional writes of a key (retry).</summary>
    internal static bool IsConditionalConflict(AmazonS3Exception e) =>
        e.StatusCode == HttpStatusCode.Conflict && e.ErrorCode == "ConditionalRequestConflict";

    /// <inheritdoc />
    public async ValueTask<byte[]?> GetAsync(string key, CancellationToken cancellationToken = default)
    {
        ObjectKeys.Validate(key);
        return await RequestAsync("GetObject", $"could not read object '{key}'", async token =>
        {
            try
            {
                using GetObjectResponse response = await _client.GetObjectAsync(_bucket, key, token).ConfigureAwait(false);
                long length = response.ContentLength;
                using var buffer = length > 0 && length <= int.MaxValue ? new MemoryStream((int)length) : new MemoryStream();
                await response.ResponseStream.CopyToAsync(buffer, token).ConfigureAwait(false);
                return buffer.ToArray();
            }
            catch (AmazonS3Exception e) when (IsNoSuchKey(e))
            {
                return null;
            }
        }, cancellationToken).ConfigureAwait(false);
    }

    /// <summary>S3's answer for a key that does not exist (not a missing bucket).</summary>
    private static bool IsNoSuchKey(AmazonS3Exception e) => e.StatusCode == HttpStatusCode.NotFound && e.ErrorCode != "NoSuchBucket";

    /// <inheritdoc />
    /// <remarks>
    /// The whole download is one attempt: a failure while the body streams in (a reset connection, a stall) downloads
    /// the object again, up to <see cref="ObjectStoreOptions.MaxAttempts"/> attempts. A failure to write the local file
    /// is not retried and is thrown as it is.
    /// </remarks>
    public async ValueTask<bool> GetFileAsync(string key, string localPath, CancellationToken cancellationToken = default)
    {
        ObjectKeys.Validate(key);
        ArgumentException.ThrowIfNullOrWhiteSpace(localPath);
        ExceptionDispatchInfo? localFailure = null; // the local file's failure: not the store's, not retried
        bool? found = await RequestAsync<bool?>("GetObject", $"could not read object '{key}'", async token =>
        {
            GetObjectResponse response;
            try
            {
                response = await _client.GetObjectAsync(_bucket, key, token).ConfigureAwait(false);
            }
            catch (AmazonS3Exception e) when (IsNoSuchKey(e))
            {
                return false;
            }
            // The body's read failures come out as ObjectStoreExceptions (retried); anything else is the local file's.
            var content = new ResponseStream(response, this, key, counted: false);
            await using (content.ConfigureAwait(false))
            {
                try
                {
                    await OwnerOnly.WriteStreamAsync(localPath, content, token).ConfigureAwait(false);
                }
                catch (Exception e) when (e is not ObjectStoreException and not OperationCanceledException)
                {
                    localFailure = ExceptionDispatchInfo.Capture(e);
                    return null;
                }
            }
            return true;
        }, cancellationToken).ConfigureAwait(false);
        localFailure?.Throw();
        return found == true;
    }

    /// <inheritdoc />
    /// <remarks>The stream is the HTTP response's body, read from the network as it is consumed.</remarks>
    public async ValueTask<Stream?> OpenReadAsync(string key, CancellationToken cancellationToken = default)
    {
        ObjectKeys.Validate(key);
        GetObjectResponse? response = await RequestAsync("GetObject", $"could not read object '{key}'", async token =>
        {
            try
            {
                return await _client.GetObjectAsync(_bucket, key, token).ConfigureAwait(false);
            }
            catch (AmazonS3Exception e) when (IsNoSuchKey(e))
            {
                return null;
            }
        }, cancellationToken).ConfigureAwait(false);
        return response is null ? null : new ResponseStream(response, this, key, counted: true);
    }

    /// <summary>
    /// A GetObject response's body that disposes the response with it and reports a failure while reading
    /// (a connection reset mid-object) as an <see cref="ObjectStoreException"/>, as the other operations do; counted in
    /// the errors metric unless <paramref name="counted"/> is false (the caller's retry counts it).
    /// </summary>
    private sealed class ResponseStream(GetObjectResponse response, S3ObjectStore store, string key, bool counted) : Stream
    {
        private readonly Stream _body = response.ResponseStream;

        public override bool CanRead => true;
        public override bool CanSeek => false;
        public override bool CanWrite => false;
        public override long Length => response.ContentLength;
        public override long Position { get => throw new NotSupportedException(); set => throw new NotSupportedException(); }

        public override int Read(byte[] buffer, int offset, int count) => Read(buffer.AsSpan(offset, count));

        public override int Read(Span<byte> buffer)
        {
            try
            {
                return _body.Read(buffer);
            }
            catch (Exception e) when (IsStoreFailure(e, CancellationToken.None))
            {
                throw Failed(e);
            }
        }

        public override Task<int> ReadAsync(byte[] buffer, int offset, int count, CancellationToken cancellationToken) =>
            ReadAsync(buffer.AsMemory(offset, count), cancellationToken).AsTask();

        public override async ValueTask<int> ReadAsync(Memory<byte> buffer, CancellationToken cancellationToken = default)
        {
            try
            {
                return await _body.ReadAsync(buffer, cancellationToken).ConfigureAwait(false);
            }
            catch (Exception e) when (IsStoreFailure(e, cancellationToken))
            {
                throw Failed(e);
            }
        }

        private ObjectStoreException Failed(Exception e)
        {
            if (counted) CountFailure("GetObject", e);
            return store.Translate(e, $"could not read object '{key}'");
        }

        public override void Flush() { }
        public override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException();
        public override void SetLength(long value) => throw new NotSupportedException();
        public override void Write(byte[] buffer, int offset, int count) => throw new NotSupportedException();

        protected override void Dispose(bool disposing)
        {
            if (disposing)
            {
                _body.Dispose();
                response.Dispose();
            }
            base.Dispose(disposing);
        }
    }

    /// <inheritdoc />
    public async ValueTask<bool> ExistsAsync(string key, CancellationToken cancellationToken = default)
    {
        ObjectKeys.Validate(key);
        return await RequestAsync("HeadObject", $"could not look up object '{key}'", async token =>
        {
            try
            {
                await _client.GetObjectMetadataAsync(_bucket, key, token).ConfigureAwait(false);
                return true;
            }
            catch (AmazonS3Exception e) when (IsNoSuchKey(e))
            {
                return false;
            }
        }, cancellationToken).ConfigureAwait(false);
    }

    /// <inheritdoc />
    public async IAsyncEnumerable<ObjectInfo> ListAsync(string prefix, [EnumeratorCancellation] CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(prefix);
        var request = new ListObjectsV2Request { BucketName = _bucket, Prefix = prefix.Length == 0 ? null : prefix };
        while (true)
        {
            ListObjectsV2Response response = await ListPageAsync(request, cancellationToken).ConfigureAwait(false);
            // S3 lists keys in ascending UTF-8 byte order, which is ordinal order for keys without surrogate pairs;
            // sort each page anyway so servers that do not keep the order still meet the contract within a page.
            var page = (response.S3Objects ?? []).Select(o => new ObjectInfo(
                o.Key, o.Size ?? 0, o.LastModified is { } m ? new DateTimeOffset(DateTime.SpecifyKind(m, DateTimeKind.Utc).ToUniversalTime()) : DateTimeOffset.MinValue)).ToList();
            page.Sort(static (a, b) => string.CompareOrdinal(a.Key, b.Key));
            foreach (ObjectInfo info in page) yield return info;
            if (response.IsTruncated != true || string.IsNullOrEmpty(response.NextContinuationToken)) yield break;
            request.ContinuationToken = response.NextContinuationToken;
        }
    }

    /// <inheritdoc />
    public async ValueTask DeleteAsync(string key, CancellationToken cancellationToken = default)
    {
        ObjectKeys.Validate(key);
        await RequestAsync("DeleteObject", $"could not delete object '{key}'", async token =>
        {
            await _client.DeleteObjectAsync(_bucket, key, token).ConfigureAwait(false);
            return true;
        }, cancellationToken).ConfigureAwait(false);
    }

    /// <inheritdoc />
    /// <remarks>
    /// One cheap request (a listing of at most one key), then, when asked and the bucket is missing, PutBucket in the
    /// client's region. Each is tried once: the callers (the start check, <c>/readyz</c>) decide about retrying.
    /// </remarks>
    public async ValueTask<bool> CheckBucketAsync(bool create, CancellationToken cancellationToken = default)
    {
        try
        {
            await RequestAsync("ListObjectsV2", "could not list the bucket",
                async token => await _client.ListObjectsV2Async(new ListObjectsV2Request { BucketName = _bucket, MaxKeys = 1 }, token).ConfigureAwait(false),
                cancellationToken, attempts: 1).ConfigureAwait(false);
            return false;
        }
        catch (ObjectStoreException error) when (create && error.Code == ObjectStoreErrorCode.BucketMissing)
        {
        }
        return await RequestAsync("CreateBucket", "could not create the bucket", async token =>
        {
            try
            {
                await _client.PutBucketAsync(new PutBucketRequest { BucketName = _bucket }, token).ConfigureAwait(false);
                return true;
            }
            catch (AmazonS3Exception e) when (e.ErrorCode is "BucketAlreadyOwnedByYou")
            {
                return false; // created meanwhile by another process of ours
            }
        }, cancellationToken, attempts: 1).ConfigureAwait(false);
    }

    /// <summary>One page of a listing; a failed page is asked for again with the same continuation token.</summary>
    private Task<ListObjectsV2Response> ListPageAsync(ListObjectsV2Request request, CancellationToken cancellationToken) =>
        RequestAsync("ListObjectsV2", $"could not list '{request.Prefix}'", token => _client.ListObjectsV2Async(request, token), cancellationToken);

    /// <summary>
    /// Runs one request (<paramref name="send"/>, which handles the answers that are not failures: a missing key, a
    /// precondition), sending it again after a transient failure, up to <paramref name="attempts"/> attempts in all
    /// (default <see cref="ObjectStoreOptions.MaxAttempts"/>): each failure is counted, each retry logged as one warning
    /// line. The last failure, or a permanent one, is thrown as an <see cref="ObjectStoreException"/>.
    /// </summary>
    /// <param name="operation">The S3 operation (<c>PutObject</c>), for logs and metrics.</param>
    /// <param name="doing">What the store was doing, for messages: <c>could not write object 'k'</c>.</param>
    private async Task<T> RequestAsync<T>(string operation, string doing, Func<CancellationToken, Task<T>> send, CancellationToken cancellationToken, int? attempts = null)
    {
        int most = attempts ?? _maxAttempts;
        for (int attempt = 1; ; attempt++)
        {
            try
            {
                return await send(cancellationToken).ConfigureAwait(false);
            }
            catch (Exception e) when (e is ObjectStoreException || IsStoreFailure(e, cancellationToken))
            {
                CountFailure(operation, e);
                ObjectStoreException error = e as ObjectStoreException ?? Translate(e, doing);
                if (!error.IsRetriable || attempt >= most || cancellationToken.IsCancellationRequested) throw error;
                PinPipeMetrics.ObjectStoreRetries.WithLabels(operation).Inc();
                TimeSpan delay = RetryDelay(attempt);
                Retry.LogRetry(_logger, $"S3 {operation}", error, attempt, delay);
                await Task.Delay(delay, cancellationToken).ConfigureAwait(false);
            }
        }
    }

    /// <summary>The first wait between two attempts of a request: 200 ms.</summary>
    internal static readonly TimeSpan FirstRetryDelay = TimeSpan.FromMilliseconds(200);

    /// <summary>The wait after the <paramref name="failures"/>-th failure in a row: <see cref="FirstRetryDelay"/> doubled each time (at most 30 s), between half and all of it (jitter, so that clients failed together do not come back together).</summary>
    internal static TimeSpan RetryDelay(int failures)
    {
        TimeSpan ceiling = Retry.Delay(failures, FirstRetryDelay);
        return ceiling * (0.5 + Random.Shared.NextDouble() / 2);
    }

    /// <summary>Counts a failed request in <c>pinpipe_object_store_errors_total</c>.</summary>
    private static void CountFailure(string operation, Exception e) => PinPipeMetrics.ObjectStoreErrors.WithLabels(operation, FailureKind(e)).Inc();

    /// <summary>
    /// The kind of a failure, for the errors metric: <c>throttled</c> (503, 429, <c>SlowDown</c> and the like),
    /// <c>server_error</c> (other 5xx), <c>timeout</c>, <c>connection</c> (refused, reset, closed, an answer broken off), <c>bucket_missing</c>,
    /// <c>access_denied</c>, <c>credentials</c>, <c>refused</c> (another 4xx), or <c>bad_answer</c> (an answer the AWS SDK
    /// cannot check: an ETag that is not an MD5 in hex).
    /// </summary>
    internal static string FailureKind(Exception e)
    {
        if (IsUncheckableETag(e)) return "bad_answer";
        for (Exception? x = e; x is not null; x = x.InnerException)
        {
            if (x is AmazonUnmarshallingException) return "connection"; // an answer broken off
            if (x is AmazonServiceException service && (int)service.StatusCode != 0)
            {
                int status = (int)service.StatusCode;
                string? code = service.ErrorCode;
                if (status is 503 or 429 || code is "SlowDown" or "Throttling" or "ThrottlingException" or "TooManyRequests" or "RequestLimitExceeded") return "throttled";
                if (status >= 500) return "server_error";
                if (status == 408 || code == "RequestTimeout") return "timeout";
                if (code == "NoSuchBucket") return "bucket_missing";
                if (code is not null && CredentialCodes.Contains(code)) return "credentials";
                if (status == 403) return "access_denied";
                return "refused";
            }
            if (x is TimeoutException || x is OperationCanceledException) return "timeout";
        }
        return e is AmazonClientException && e.InnerException is null && e.Message.Contains("credentials", StringComparison.OrdinalIgnoreCase) ? "credentials" : "connection";
    }

    /// <summary>True for what the SDK throws when a request fails (not a cancellation the caller asked for).</summary>
    private static bool IsStoreFailure(Exception e, CancellationToken cancellationToken) =>
        e is AmazonServiceException or AmazonClientException or HttpRequestException or IOException or TimeoutException
        || (e is OperationCanceledException && !cancellationToken.IsCancellationRequested) // the HTTP client's timeout
        || IsUncheckableETag(e);

    /// <summary>
    /// The AWS SDK checks a GET's body against the answer's ETag when it looks like a single-part upload's (an MD5 in hex)
    /// and fails with a <see cref="FormatException"/> or <see cref="ArgumentOutOfRangeException"/> of its hex decoding when
    /// the ETag is not hex: an S3-compatible store or gateway with ETags of its own, or a read racing a rewrite of the
    /// object on a store that is not atomic (s3rver). A failed answer like any other, not a bug of the caller. Told by the
    /// S3 response handler's frame in the trace: the decoding's own frames are inlined away once the JIT optimizes.
    /// </summary>
    private static bool IsUncheckableETag(Exception e) =>
        e is FormatException or ArgumentException
        && e.StackTrace?.Contains("Amazon.S3.Internal.AmazonS3ResponseHandler.", StringComparison.Ordinal) == true;

    private static readonly HashSet<string> CredentialCodes = new(StringComparer.Ordinal)
    {
        "InvalidAccessKeyId", "SignatureDoesNotMatch", "ExpiredToken", "InvalidToken", "TokenRefreshRequired", "InvalidSecurity",
    };

    private static readonly HashSet<string> TransientCodes = new(StringComparer.Ordinal)
    {
        "SlowDown", "ServiceUnavailable", "InternalError", "RequestTimeout", "OperationAborted", "TooManyRequests", "Throttling",
    };

    /// <summary>
    /// The failure as an <see cref="ObjectStoreException"/> naming the bucket and the endpoint: a missing bucket, denied
    /// access and rejected or missing credentials are permanent; 5xx answers, throttling, timeouts and connection
    /// failures are transient (<see cref="ObjectStoreErrorCode.Unavailable"/>); any other refusal is permanent.
    /// </summary>
    /// <param name="e">What the SDK threw.</param>
    /// <param name="doing">What the store was doing, for messages: <c>could not write object 'k'</c>.</param>
    internal ObjectStoreException Translate(Exception e, string doing)
    {
        if (e is AmazonUnmarshallingException unreadable)
        {
            // The answer could not be read whole (it broke off, as a connection reset mid-answer leaves it), so whatever its
            // status said is not known for sure: as a broken connection, transient.
            return new(ObjectStoreErrorCode.Unavailable, $"cannot read the object store's answer ({doing}): HTTP {(int)unreadable.StatusCode}, {Innermost(e).Message}", Where, e);
        }
        if (e is AmazonServiceException service)
        {
            string? code = service.ErrorCode;
            int status = (int)service.StatusCode;
            if (code == "NoSuchBucket")
                return new(ObjectStoreErrorCode.BucketMissing,
                    $"the bucket does not exist: create it with `{_createCommand}` (`pinpipe up`, and `pinpipe sink` or `stream` with --create-bucket, create it), or name another with --bucket",
                    Where, e);
            if (code is not null && CredentialCodes.Contains(code))
                return new(ObjectStoreErrorCode.BadCredentials,
                    $"the endpoint rejects the AWS credentials ({code}): check AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY (or the profile in AWS_PROFILE) and the region (ObjectStore:Region)",
                    Where, e);
            if (code is "AccessDenied" or "AllAccessDisabled" || service.StatusCode == HttpStatusCode.Forbidden)
                return new(ObjectStoreErrorCode.AccessDenied,
                    $"access denied ({doing}): the AWS credentials in use may not use this bucket; grant them s3:ListBucket, s3:GetObject, s3:PutObject and s3:DeleteObject on it",
                    Where, e);
            if (status >= 500 || status is 408 or 429 || (code is not null && TransientCodes.Contains(code)))
                return new(ObjectStoreErrorCode.Unavailable, $"the object store cannot serve the request now ({doing}): HTTP {status}{(string.IsNullOrEmpty(code) ? "" : " " + code)}", Where, e);
            return new(ObjectStoreErrorCode.Failed, $"the object store refused the request ({doing}): HTTP {status}{(string.IsNullOrEmpty(code) ? "" : " " + code)}: {service.Message}", Where, e);
        }
        if (e is AmazonClientException && e.InnerException is null && e.Message.Contains("credentials", StringComparison.OrdinalIgnoreCase))
            return new(ObjectStoreErrorCode.BadCredentials,
                NoCredentialsMessage(), Where, e);
        if (IsUncheckableETag(e))
            return new(ObjectStoreErrorCode.Unavailable,
                $"the object store's answer cannot be checked ({doing}): the AWS SDK failed to read it ({Innermost(e).Message}), as when its ETag is not the " +
                "MD5 of the body in hex, which the SDK checks a GET's body against (an S3-compatible store must answer S3's ETags; a read racing a " +
                "rewrite of the object on a store whose writes are not atomic sees this too)",
                Where, e);
        return new(ObjectStoreErrorCode.Unavailable, $"cannot reach the object store ({doing}): {Innermost(e).Message}", Where, e);
    }

    /// <summary>"No AWS credentials", naming where the AWS SDK looks for them, in its order, with this process's profile and file.</summary>
    public static string NoCredentialsMessage()
    {
        string profile = Environment.GetEnvironmentVariable("AWS_PROFILE") is { Length: > 0 } p ? p : "default";
        string file = Environment.GetEnvironmentVariable("AWS_SHARED_CREDENTIALS_FILE") is { Length: > 0 } f ? f
            : Path.Combine(Environment.GetFolderPath(Environment.SpecialFolder.UserProfile), ".aws", "credentials");
        return "no AWS credentials found for the S3 object store: they are looked for in the environment (AWS_ACCESS_KEY_ID and "
            + $"AWS_SECRET_ACCESS_KEY), then in the profile '{profile}' (AWS_PROFILE) of {file} (AWS_SHARED_CREDENTIALS_FILE) and "
            + "~/.aws/config, then from the EC2 instance or task role; set one of them";
    }

    private static Exception Innermost(Exception e)
    {
        while (e.InnerException is not null) e = e.InnerException;
        return e;
    }

    /// <inheritdoc />
    public void Dispose() => _client.Dispose();

    private static MemoryStream AsStream(ReadOnlyMemory<byte> content) =>
        MemoryMarshal.TryGetArray(content, out ArraySegment<byte> segment)
            ? new MemoryStream(segment.Array!, segment.Offset, segment.Count, writable: false)
            : new MemoryStream(content.ToArray(), writable: false);
}
