namespace PinPipe.Lake;

/// <summary>
/// A view of a store that hides its local files (<see cref="IObjectStore.LocalPath"/> is null), so readers
/// fetch every object (<see cref="IObjectStore.GetFileAsync"/>, <see cref="IObjectStore.GetAsync"/>) as they would from S3. Tests and the bench
/// use it to run the fetch path of readers that prefer local files.
/// </summary>
internal sealed class FetchingObjectStore(IObjectStore inner) : IObjectStore
{
    public string Location => inner.Location;

    public ValueTask PutAsync(string key, ReadOnlyMemory<byte> content, CancellationToken cancellationToken = default) =>
        inner.PutAsync(key, content, cancellationToken);

    public ValueTask<bool> PutIfAbsentAsync(string key, ReadOnlyMemory<byte> content, CancellationToken cancellationToken = default) =>
        inner.PutIfAbsentAsync(key, content, cancellationToken);

    public bool AtomicPutIfAbsent => inner.AtomicPutIfAbsent;

    public ValueTask PutFileAsync(string key, string localPath, CancellationToken cancellationToken = default) => inner.PutFileAsync(key, localPath, cancellationToken);

    public ValueTask<byte[]?> GetAsync(string key, CancellationToken cancellationToken = default) => inner.GetAsync(key, cancellationToken);

    public ValueTask<Stream?> OpenReadAsync(string key, CancellationToken cancellationToken = default) => inner.OpenReadAsync(key, cancellationToken);

    public ValueTask<bool> GetFileAsync(string key, string localPath, CancellationToken cancellationToken = default) => inner.GetFileAsync(key, localPath, cancellationToken);

    public ValueTask<bool> ExistsAsync(string key, CancellationToken cancellationToken = default) => inner.ExistsAsync(key, cancellationToken);

    public IAsyncEnumerable<ObjectInfo> ListAsync(string prefix, CancellationToken cancellationToken = default) => inner.ListAsync(prefix, cancellationToken);

    public ValueTask<bool> CheckBucketAsync(bool create, CancellationToken cancellationToken = default) => inner.CheckBucketAsync(create, cancellationToken);

    public ValueTask DeleteAsync(string key, CancellationToken cancellationToken = default) => inner.DeleteAsync(key, cancellationToken);
}
