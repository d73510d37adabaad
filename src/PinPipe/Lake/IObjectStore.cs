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
    /// <see cref="PutAsync"/>. The file is left in place. Stores that keep objects as files can publish it
    /// without copying (the directory store hard-links it); the default reads it and calls <see cref="PutAsync"/>.
    /// </summary>
    async ValueTask PutFileAsync(string key, string localPath, CancellationToken cancellationToken = default) =>
        await PutAsync(key, await File.ReadAllBytesAsync(localPath, cancellationToken).ConfigureAwait(false), cancellationToken).ConfigureAwait(false);

    /// <summary>Writes an object only when no object has the key. Returns false (and writes nothing) when it exists.</summary>
    ValueTask<bool> PutIfAbsentAsync(string key, ReadOnlyMemory<byte> content, CancellationToken cancellationToken = default);

    /// <summary>The object's bytes, or null when there is none.</summary>
    ValueTask<byte[]?> GetAsync(string key, CancellationToken cancellationToken = default);

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
