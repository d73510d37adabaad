using System.Diagnostics.CodeAnalysis;
using System.Security.Cryptography;
using Amazon.Runtime;
using Amazon.S3.Model;
using PinPipe.Lake;
using PinPipe.Lake.Directory;
using PinPipe.Lake.S3;
using PinPipe.Tests.Support;

namespace PinPipe.Tests.Lake;

/// <summary>
/// Objects larger than the memory a put or a get may use: uploads stream from a file (S3: one PutObject up to
/// <see cref="ObjectStoreOptions.MultipartThreshold"/>, a multipart upload above it) and downloads stream to a file.
/// Against a real S3-compatible server (s3rver, TEST_PINPIPE_S3) and the directory store. The memory bound is checked
/// by the bytes the process allocates during the transfer (<see cref="GC.GetTotalAllocatedBytes"/>), which must stay far
/// below the object's size: an object read into an array whole allocates at least its size. The tests run alone
/// (<see cref="LargeObjectCollection"/>) so other tests' allocations do not count.
/// s3rver 3.7 implements neither ListMultipartUploads nor AbortMultipartUpload (it answers NotImplemented and 405), so
/// the tests check that the store sends the abort for the upload it started, not S3's list of pending uploads.
/// </summary>
[Collection(LargeObjectCollection.Name)]
public sealed class LargeObjectTests : IAsyncLifetime, IDisposable
{
    private const long MiB = 1L << 20;
    private static readonly BasicAWSCredentials S3rverCredentials = new("S3RVER", "S3RVER");
    private readonly string _bucket = "pinpipe-large-" + Guid.NewGuid().ToString("N")[..16];
    private readonly TempDirectory _temp = new("large-objects");
    private readonly ObjectStoreOptions _options;
    private readonly S3ObjectStore _s3;
    private readonly List<AmazonWebServiceRequest> _requests = [];

    public LargeObjectTests()
    {
        _options = S3ObjectStoreTests.S3rverOptions();
        _s3 = Open(_options);
    }

    /// <summary>The S3 store as callers see it (the interface's <c>GetFileAsync</c>).</summary>
    private IObjectStore Store => _s3;

    private S3ObjectStore Open(ObjectStoreOptions options)
    {
        var store = new S3ObjectStore(options, _bucket, S3rverCredentials);
        store.Client.BeforeRequestEvent += (_, e) =>
        {
            if (e is WebServiceRequestEventArgs w) lock (_requests) _requests.Add(w.Request);
        };
        return store;
    }

    public async Task InitializeAsync() => await _s3.Client.PutBucketAsync(new PutBucketRequest { BucketName = _bucket });

    public Task DisposeAsync() => Task.CompletedTask;

    public void Dispose()
    {
        _s3.Dispose();
        _temp.Dispose();
    }

    private List<T> Sent<T>() where T : AmazonWebServiceRequest
    {
        lock (_requests) return _requests.OfType<T>().ToList();
    }

    [Fact]
    public async Task A_file_above_the_threshold_goes_up_as_a_multipart_upload_and_both_ways_stream_without_holding_the_object()
    {
        long size = 70 * MiB + 12_345; // above the default 64 MiB: parts of 16 MiB, the last 6 MiB and a bit
        (string local, byte[] hash) = await WriteFileAsync("big.parquet", size);

        long allocated = await AllocatedDuringAsync(() => _s3.PutFileAsync("delta/t/part-big.parquet", local).AsTask());

        Assert.Single(Sent<InitiateMultipartUploadRequest>());
        var parts = Sent<UploadPartRequest>();
        Assert.Equal([1, 2, 3, 4, 5], parts.Select(p => p.PartNumber!.Value).Order());
        Assert.Equal([16 * MiB, 16 * MiB, 16 * MiB, 16 * MiB, 6 * MiB + 12_345], parts.OrderBy(p => p.PartNumber).Select(p => p.PartSize!.Value));
        Assert.Single(Sent<CompleteMultipartUploadRequest>());
        Assert.Empty(Sent<PutObjectRequest>());
        Assert.Empty(Sent<AbortMultipartUploadRequest>());
        Assert.True(allocated < size / 4, $"the upload allocated {allocated:N0} bytes for an object of {size:N0}");
        Assert.Equal(size, Assert.Single(await ListAsync(Store, "delta/t/")).Size);

        string back = _temp.File("back.parquet");
        bool found = false;
        allocated = await AllocatedDuringAsync(async () => found = await Store.GetFileAsync("delta/t/part-big.parquet", back));
        Assert.True(found);
        Assert.True(allocated < size / 4, $"the download allocated {allocated:N0} bytes for an object of {size:N0}");
        Assert.Equal(hash, await HashAsync(back));
    }

    [Fact]
    public async Task A_file_up_to_the_threshold_is_one_streamed_put_object()
    {
        long size = 40 * MiB;
        (string local, byte[] hash) = await WriteFileAsync("medium.json", size);

        long allocated = await AllocatedDuringAsync(() => _s3.PutFileAsync("topics/t/partition=0/t+0+0000000000.json", local).AsTask());

        Assert.Single(Sent<PutObjectRequest>());
        Assert.Empty(Sent<InitiateMultipartUploadRequest>());
        Assert.True(allocated < size / 4, $"the upload allocated {allocated:N0} bytes for an object of {size:N0}");
        string back = _temp.File("medium-back.json");
        Assert.True(await Store.GetFileAsync("topics/t/partition=0/t+0+0000000000.json", back));
        Assert.Equal(hash, await HashAsync(back));
    }

    [Fact]
    public async Task The_threshold_and_the_part_size_are_settings()
    {
        using var store = Open(_options with { MultipartThreshold = 5 * MiB, MultipartPartSize = 5 * MiB });
        long size = 12 * MiB + 1;
        (string local, byte[] hash) = await WriteFileAsync("small-parts.bin", size);

        await store.PutFileAsync("x/small-parts.bin", local);

        Assert.Equal([5 * MiB, 5 * MiB, 2 * MiB + 1], Sent<UploadPartRequest>().OrderBy(p => p.PartNumber).Select(p => p.PartSize!.Value));
        string back = _temp.File("small-parts-back.bin");
        Assert.True(await ((IObjectStore)store).GetFileAsync("x/small-parts.bin", back));
        Assert.Equal(hash, await HashAsync(back));

        // A file of exactly the threshold is still one PutObject.
        (string exact, _) = await WriteFileAsync("exact.bin", 5 * MiB);
        await store.PutFileAsync("x/exact.bin", exact);
        Assert.Single(Sent<PutObjectRequest>());
    }

    [Fact]
    public void A_file_of_more_than_ten_thousand_parts_gets_larger_parts()
    {
        Assert.Equal(16 * MiB, S3ObjectStore.PartSizeFor(100 * MiB, 16 * MiB));
        Assert.Equal(16 * MiB, S3ObjectStore.PartSizeFor(10_000 * 16 * MiB, 16 * MiB));
        long huge = 10_000 * 16 * MiB + 1;
        long part = S3ObjectStore.PartSizeFor(huge, 16 * MiB);
        Assert.True(part * 10_000 >= huge && part > 16 * MiB);
    }

    [Fact]
    public async Task A_cancelled_multipart_upload_is_aborted_and_leaves_no_object()
    {
        using var cancel = new CancellationTokenSource();
        _s3.Client.BeforeRequestEvent += (_, e) =>
        {
            if (e is WebServiceRequestEventArgs { Request: UploadPartRequest { PartNumber: 2 } }) cancel.Cancel();
        };
        (string local, _) = await WriteFileAsync("cancelled.parquet", 70 * MiB);

        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => _s3.PutFileAsync("delta/t/cancelled.parquet", local, cancel.Token).AsTask());

        string uploadId = Assert.Single(Sent<UploadPartRequest>().Select(p => p.UploadId).Distinct())!;
        Assert.Equal(uploadId, Assert.Single(Sent<AbortMultipartUploadRequest>()).UploadId);
        Assert.Empty(Sent<CompleteMultipartUploadRequest>());
        Assert.False(await _s3.ExistsAsync("delta/t/cancelled.parquet"));
        Assert.True(File.Exists(local));
    }

    [Fact]
    public async Task A_failed_multipart_upload_is_an_object_store_error_and_is_aborted()
    {
        // The bucket disappears before the upload completes: S3 answers NoSuchBucket, a permanent failure.
        _s3.Client.BeforeRequestEvent += (_, e) =>
        {
            if (e is WebServiceRequestEventArgs { Request: CompleteMultipartUploadRequest })
                _s3.Client.DeleteBucketAsync(_bucket).GetAwaiter().GetResult();
        };
        (string local, _) = await WriteFileAsync("failed.parquet", 70 * MiB);

        var error = await Assert.ThrowsAsync<ObjectStoreException>(() => _s3.PutFileAsync("delta/t/failed.parquet", local).AsTask());

        Assert.Equal(ObjectStoreErrorCode.BucketMissing, error.Code);
        Assert.Equal($"bucket '{_bucket}' at {_options.ServiceUrl}", error.Where);
        Assert.Single(Sent<AbortMultipartUploadRequest>());
    }

    [Fact]
    public async Task A_missing_local_file_is_not_uploaded()
    {
        await Assert.ThrowsAsync<FileNotFoundException>(() => _s3.PutFileAsync("x/none.bin", _temp.File("none.bin")).AsTask());
        Assert.Empty(Sent<PutObjectRequest>());
        Assert.Empty(Sent<InitiateMultipartUploadRequest>());
    }

    [Fact]
    public async Task The_directory_store_streams_both_ways_too()
    {
        IObjectStore store = new DirectoryObjectStore(_temp.File("buckets"), "b");
        long size = 70 * MiB;
        (string local, byte[] hash) = await WriteFileAsync("dir.parquet", size);
        await store.PutFileAsync("delta/t/part-0.parquet", local);

        string back = _temp.File("dir-back.parquet");
        bool found = false;
        long allocated = await AllocatedDuringAsync(async () => found = await store.GetFileAsync("delta/t/part-0.parquet", back));
        Assert.True(found);
        Assert.True(allocated < size / 4, $"the download allocated {allocated:N0} bytes for an object of {size:N0}");
        Assert.Equal(hash, await HashAsync(back));

        // Through the fetching view (no local paths), as readers of S3 see it.
        IObjectStore fetching = new FetchingObjectStore(store);
        string again = _temp.File("dir-again.parquet");
        allocated = await AllocatedDuringAsync(async () => found = await fetching.GetFileAsync("delta/t/part-0.parquet", again));
        Assert.True(found && allocated < size / 4, $"the download allocated {allocated:N0} bytes for an object of {size:N0}");
        Assert.Equal(hash, await HashAsync(again));
    }

    [Fact]
    public void The_multipart_settings_are_validated()
    {
        Assert.Empty(new ObjectStoreOptions().Validate());
        var problems = new ObjectStoreOptions { MultipartThreshold = 1024, MultipartPartSize = 6L << 30 }.Validate();
        Assert.Contains(problems, p => p.StartsWith("ObjectStore:MultipartThreshold: 1024 bytes must be 5 MiB", StringComparison.Ordinal));
        Assert.Contains(problems, p => p.StartsWith("ObjectStore:MultipartPartSize: 6442450944 bytes must be 5 MiB", StringComparison.Ordinal));

        // They are settings: read from the environment (and the file, and flags), checked with the others.
        var env = new Dictionary<string, string?> { ["PINPIPE_ObjectStore__MultipartThreshold"] = "134217728", ["PINPIPE_ObjectStore__MultipartPartSize"] = "33554432" };
        var settings = PinPipe.Hosting.SettingsLoader.Load(null, new Dictionary<string, string?>(), env);
        Assert.Equal((128 * MiB, 32 * MiB), (settings.ObjectStore.MultipartThreshold, settings.ObjectStore.MultipartPartSize));
        env["PINPIPE_ObjectStore__MultipartThreshold"] = "1024";
        var e = Assert.ThrowsAny<Exception>(() => PinPipe.Hosting.SettingsLoader.Load(null, new Dictionary<string, string?>(), env));
        Assert.Contains("ObjectStore:MultipartThreshold: 1024 bytes must be 5 MiB", e.Message, StringComparison.Ordinal);
    }

    /// <summary>Writes <paramref name="size"/> pseudo-random bytes, 1 MiB at a time; returns the path and their SHA-256.</summary>
    private async Task<(string Path, byte[] Hash)> WriteFileAsync(string name, long size)
    {
        string path = _temp.File(name);
        var random = new Random(name.Length);
        byte[] chunk = new byte[MiB];
        using var hash = IncrementalHash.CreateHash(HashAlgorithmName.SHA256);
        await using (var file = File.Create(path))
        {
            for (long left = size; left > 0; left -= chunk.Length)
            {
                random.NextBytes(chunk);
                int n = (int)Math.Min(chunk.Length, left);
                hash.AppendData(chunk, 0, n);
                await file.WriteAsync(chunk.AsMemory(0, n));
            }
        }
        return (path, hash.GetHashAndReset());
    }

    private static async Task<byte[]> HashAsync(string path)
    {
        await using var file = File.OpenRead(path);
        return await SHA256.HashDataAsync(file);
    }

    private static async Task<long> AllocatedDuringAsync(Func<Task> transfer)
    {
        long before = GC.GetTotalAllocatedBytes(precise: true);
        await transfer();
        return GC.GetTotalAllocatedBytes(precise: true) - before;
    }

    private static async Task<List<ObjectInfo>> ListAsync(IObjectStore store, string prefix)
    {
        var list = new List<ObjectInfo>();
        await foreach (ObjectInfo o in store.ListAsync(prefix)) list.Add(o);
        return list;
    }
}

/// <summary>The large-object tests measure the process's allocations: they run alone.</summary>
[CollectionDefinition(Name, DisableParallelization = true)]
[SuppressMessage("Naming", "CA1711:Identifiers should not have incorrect suffix", Justification = "xUnit's convention for a collection definition.")]
public sealed class LargeObjectCollection
{
    public const string Name = "large objects";
}
