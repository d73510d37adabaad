using PinPipe.Files;

namespace PinPipe.Lake;

/// <summary>
/// A bucket of objects addressed by key (<c>a/b/c.json</c>), the S3 model. Implementations:
/// <c>Directory/DirectoryObjectStore</c> (a folder, the default) and <c>S3/S3ObjectStore</c> (AWSSDK.S3).
/// </summary>
/// <remarks>
/// When <see cref="PutAsync"/> completes, the object is durable and whole: readers see either the old
/// object or the new one, never a part. Keys use '/' as separator and never start with '/'.
/// </remarks>
public interface IObjectStore
{
    /// <summary>A name for messages: <c>file:///path</c> or <c>s3://bucket</c>.</summary>
    string Location { get; }

    /// <summary>Writes (or replaces) an object durably and atomically.</summary>
    ValueTask PutAsync(string key, ReadOnlyMemory<byte> content, CancellationToken cancellationToken = default);

    /// <summary>
    /// Writes (or replaces) an object with the contents of a local file, durably and atomically, as
    /// <see cref="PutAsync"/>, streaming it: the file is never read into memory whole, so an object can be larger than
    /// the memory (the directory store hard-links the file; S3 sends one PutObject up to
    /// <see cref="ObjectStoreOptions.MultipartThreshold"/>, a multipart upload above it). The file is left in place;
    /// a missing file throws <see cref="FileNotFoundException"/> and writes nothing.
    /// </summary>
    ValueTask PutFileAsync(string key, string localPath, CancellationToken cancellationToken = default);

    /// <summary>
    /// Writes an object only when no object has the key. Returns false (and writes nothing) when it exists. Atomic
    /// between processes only where <see cref="AtomicPutIfAbsent"/> says so.
    /// </summary>
    ValueTask<bool> PutIfAbsentAsync(string key, ReadOnlyMemory<byte> content, CancellationToken cancellationToken = default);

    /// <summary>
    /// True when <see cref="PutIfAbsentAsync"/> is atomic across processes and machines: of concurrent calls on one key
    /// exactly one writes and returns true, and none replaces an object that exists. Several processes may then commit to
    /// one Delta table (each commit is a put-if-absent of the next version). The directory store: true (<c>link(2)</c> on a
    /// local file system). S3: true for AWS (conditional writes, since 2024) and when <c>ObjectStore:ConditionalWrites</c>
    /// says the server enforces <c>If-None-Match</c> on PUT; false for other S3-compatible servers, which may ignore it
    /// and overwrite. Default false.
    /// </summary>
    bool AtomicPutIfAbsent => false;

    /// <summary>
    /// The object's bytes, or null when there is none. For small objects only (Delta commits, pointers): the whole
    /// object is in memory; read data objects with <see cref="GetFileAsync"/> or <see cref="OpenReadAsync"/>.
    /// </summary>
    ValueTask<byte[]?> GetAsync(string key, CancellationToken cancellationToken = default);

    /// <summary>
    /// The object's content as a stream read from the store as it is consumed (never buffered whole), or null when
    /// there is none. Dispose it when done.
    /// </summary>
    ValueTask<Stream?> OpenReadAsync(string key, CancellationToken cancellationToken = default);

    /// <summary>
    /// Streams the object into the local file <paramref name="localPath"/> (created or replaced; its folder must
    /// exist): written under a temporary name beside it and renamed when whole, so the path never holds a part of
    /// the object. Returns false, and writes nothing, when there is no object. The object is never held in memory whole.
    /// </summary>
    async ValueTask<bool> GetFileAsync(string key, string localPath, CancellationToken cancellationToken = default)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(localPath);
        Stream? content = await OpenReadAsync(key, cancellationToken).ConfigureAwait(false);
        if (content is null) return false;
        await using (content.ConfigureAwait(false))
            await OwnerOnly.WriteStreamAsync(localPath, content, cancellationToken).ConfigureAwait(false);
        return true;
    }

    /// <summary>True when an object has the key.</summary>
    ValueTask<bool> ExistsAsync(string key, CancellationToken cancellationToken = default);

    /// <summary>Objects whose key starts with <paramref name="prefix"/>, in ordinal key order.</summary>
    IAsyncEnumerable<ObjectInfo> ListAsync(string prefix, CancellationToken cancellationToken = default);

    /// <summary>Deletes an object; does nothing when it does not exist.</summary>
    ValueTask DeleteAsync(string key, CancellationToken cancellationToken = default);

    /// <summary>
    /// Checks once that the bucket exists and can be listed, before any work: a missing bucket, denied access or bad
    /// credentials throw a permanent <see cref="ObjectStoreException"/> at once, naming the bucket and the endpoint;
    /// an unreachable endpoint throws a transient one. With <paramref name="create"/> a missing bucket is created.
    /// Returns true when it created the bucket. The default (a folder, made when the store opens) does nothing.
    /// </summary>
    ValueTask<bool> CheckBucketAsync(bool create, CancellationToken cancellationToken = default) => ValueTask.FromResult(false);

    /// <summary>
    /// The object's path on the local file system when the store keeps objects as files (so DuckDB can scan
    /// them in place), or null when it does not (S3: download first). The object need not exist.
    /// </summary>
    string? LocalPath(string key) => null;
}

/// <summary>An object's key, size and last modification time.</summary>
public sealed record ObjectInfo(string Key, long Size, DateTimeOffset LastModified);
