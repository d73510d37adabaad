using System.Net;
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using Amazon;
using Amazon.Runtime;
using Amazon.S3;
using Amazon.S3.Model;

namespace PinPipe.Lake.S3;

/// <summary>A bucket in Amazon S3 or an S3-compatible server, through AWSSDK.S3.</summary>
/// <remarks>
/// <para>A single PutObject is atomic in S3: readers see the old or the new object. Credentials come from the
/// SDK's default chain (environment, profile, instance role).</para>
/// <para><see cref="PutIfAbsentAsync"/> sends <c>If-None-Match: *</c> (S3 conditional writes): S3 answers
/// 412 Precondition Failed when the key exists, and of two concurrent writers exactly one succeeds (a 409
/// ConditionalRequestConflict is retried). The guarantee is the server's: servers that ignore the header
/// (s3rver 3.7 does) overwrite instead.</para>
/// <para>With a custom <see cref="ObjectStoreOptions.ServiceUrl"/> request checksums are sent only when the
/// operation requires them and bodies are signed whole rather than aws-chunked, because many S3-compatible
/// servers (s3rver among them) do not understand the SDK's default streaming encodings.</para>
/// </remarks>
public sealed class S3ObjectStore : IObjectStore, IDisposable
{
    private readonly AmazonS3Client _client;
    private readonly string _bucket;
    private readonly bool _useChunkEncoding;

    /// <summary>Connects to <paramref name="bucket"/> with the SDK's default credentials.</summary>
    public S3ObjectStore(ObjectStoreOptions options, string bucket) : this(options, bucket, credentials: null) { }

    /// <summary>Connects to <paramref name="bucket"/> with explicit credentials (null: the SDK's default chain).</summary>
    internal S3ObjectStore(ObjectStoreOptions options, string bucket, AWSCredentials? credentials)
    {
        ArgumentNullException.ThrowIfNull(options);
        ArgumentException.ThrowIfNullOrWhiteSpace(bucket);
        _bucket = bucket;
        _useChunkEncoding = string.IsNullOrWhiteSpace(options.ServiceUrl);
        _client = credentials is null ? new AmazonS3Client(CreateConfig(options)) : new AmazonS3Client(credentials, CreateConfig(options));
    }

    /// <summary>The SDK client, for tests that watch requests.</summary>
    internal AmazonS3Client Client => _client;

    /// <inheritdoc />
    public string Location => $"s3://{_bucket}";

    internal static AmazonS3Config CreateConfig(ObjectStoreOptions options)
    {
        var config = new AmazonS3Config { ForcePathStyle = options.ForcePathStyle };
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
        using var body = AsStream(content);
        await _client.PutObjectAsync(new PutObjectRequest { BucketName = _bucket, Key = key, InputStream = body, AutoCloseStream = false, UseChunkEncoding = _useChunkEncoding }, cancellationToken).ConfigureAwait(false);
    }

    /// <inheritdoc />
    public async ValueTask<bool> PutIfAbsentAsync(string key, ReadOnlyMemory<byte> content, CancellationToken cancellationToken = default)
    {
        ObjectKeys.Validate(key);
        for (int attempt = 1; ; attempt++)
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
                }, cancellationToken).ConfigureAwait(false);
                return true;
            }
            catch (AmazonS3Exception e) when (IsPreconditionFailed(e))
            {
                return false;
            }
            catch (AmazonS3Exception e) when (IsConditionalConflict(e) && attempt < 5)
            {
                // Another conditional write to the key was in flight; S3 asks to retry.
                await Task.Delay(TimeSpan.FromMilliseconds(50 * attempt), cancellationToken).ConfigureAwait(false);
            }
        }
    }

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
        try
        {
            using GetObjectResponse response = await _client.GetObjectAsync(_bucket, key, cancellationToken).ConfigureAwait(false);
            long length = response.ContentLength;
            using var buffer = length > 0 && length <= int.MaxValue ? new MemoryStream((int)length) : new MemoryStream();
            await response.ResponseStream.CopyToAsync(buffer, cancellationToken).ConfigureAwait(false);
            return buffer.ToArray();
        }
        catch (AmazonS3Exception e) when (e.StatusCode == HttpStatusCode.NotFound)
        {
            return null;
        }
    }

    /// <inheritdoc />
    public async ValueTask<bool> ExistsAsync(string key, CancellationToken cancellationToken = default)
    {
        ObjectKeys.Validate(key);
        try
        {
            await _client.GetObjectMetadataAsync(_bucket, key, cancellationToken).ConfigureAwait(false);
            return true;
        }
        catch (AmazonS3Exception e) when (e.StatusCode == HttpStatusCode.NotFound)
        {
            return false;
        }
    }

    /// <inheritdoc />
    public async IAsyncEnumerable<ObjectInfo> ListAsync(string prefix, [EnumeratorCancellation] CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(prefix);
        var request = new ListObjectsV2Request { BucketName = _bucket, Prefix = prefix.Length == 0 ? null : prefix };
        while (true)
        {
            ListObjectsV2Response response = await _client.ListObjectsV2Async(request, cancellationToken).ConfigureAwait(false);
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
        await _client.DeleteObjectAsync(_bucket, key, cancellationToken).ConfigureAwait(false);
    }

    /// <inheritdoc />
    public void Dispose() => _client.Dispose();

    private static MemoryStream AsStream(ReadOnlyMemory<byte> content) =>
        MemoryMarshal.TryGetArray(content, out ArraySegment<byte> segment)
            ? new MemoryStream(segment.Array!, segment.Offset, segment.Count, writable: false)
            : new MemoryStream(content.ToArray(), writable: false);
}
