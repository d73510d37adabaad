using System.Runtime.Versioning;
using PinPipe.Files;
using PinPipe.Lake;
using PinPipe.Lake.Directory;
using PinPipe.Tests.Support;

namespace PinPipe.Tests.Lake;

public sealed class DirectoryObjectStoreTests : ConditionalWriteObjectStoreContract, IDisposable
{
    private readonly TempDirectory _root = new("dirstore");
    private readonly DirectoryObjectStore _store;

    public DirectoryObjectStoreTests() => _store = new DirectoryObjectStore(_root.Path, "user-test-bucket");

    protected override IObjectStore Store => _store;

    public void Dispose() => _root.Dispose();

    [Fact]
    public async Task An_object_is_the_file_root_bucket_key()
    {
        await _store.PutAsync("topics/t/partition=1/t+1+0000000005.json", Bytes("{}\n"));
        string file = Path.Combine(_root.Path, "user-test-bucket", "topics", "t", "partition=1", "t+1+0000000005.json");
        Assert.Equal(Bytes("{}\n"), await File.ReadAllBytesAsync(file));
        Assert.Equal(new Uri(Path.Combine(_root.Path, "user-test-bucket")).AbsoluteUri, _store.Location);
    }

    [Fact]
    [UnsupportedOSPlatform("windows")]
    public async Task Objects_are_0600_and_folders_0700_also_a_file_put_from_a_world_readable_local_file()
    {
        string local = Path.Combine(_root.Path, "local.parquet");
        await File.WriteAllBytesAsync(local, Bytes("PAR1"));
        File.SetUnixFileMode(local, (UnixFileMode)Convert.ToInt32("666", 8)); // as DuckDB writes under umask 000

        await _store.PutFileAsync("delta/pin/part-0.parquet", local);
        await _store.PutAsync("topics/t/partition=0/t+0+0000000000.json", Bytes("{}\n"));
        Assert.True(await _store.PutIfAbsentAsync("delta/pin/_delta_log/00000000000000000000.json", Bytes("{}\n")));

        string bucket = Path.Combine(_root.Path, "user-test-bucket");
        var options = new EnumerationOptions { RecurseSubdirectories = true, AttributesToSkip = 0 };
        Assert.All(Directory.GetDirectories(bucket, "*", options).Append(bucket), d => Assert.Equal(OwnerOnly.FolderMode, File.GetUnixFileMode(d)));
        var files = Directory.GetFiles(bucket, "*", options);
        Assert.Equal(3, files.Length);
        Assert.All(files, f => Assert.Equal(OwnerOnly.FileMode, File.GetUnixFileMode(f)));
    }

    [Fact]
    public async Task Temporary_files_are_never_listed_and_none_remain_after_puts()
    {
        await _store.PutAsync("k/a.json", Bytes("a"));
        await _store.PutIfAbsentAsync("k/b.json", Bytes("b"));
        Assert.False(await _store.PutIfAbsentAsync("k/b.json", Bytes("c")));
        string folder = Path.Combine(_root.Path, "user-test-bucket", "k");
        Assert.Equal(["a.json", "b.json"], Directory.GetFiles(folder).Select(Path.GetFileName).Order(StringComparer.Ordinal));

        // A temporary file left by a crash stays invisible.
        await File.WriteAllTextAsync(Path.Combine(folder, ".pinpipe-tmp-crashed"), "half");
        Assert.Equal(["k/a.json", "k/b.json"], (await ListAsync("k/")).Select(o => o.Key));
    }

    [Fact]
    public async Task A_cancelled_put_leaves_neither_object_nor_temporary_file()
    {
        using var cts = new CancellationTokenSource();
        await cts.CancelAsync();
        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => _store.PutAsync("z/x.json", new byte[1 << 20], cts.Token).AsTask());
        Assert.False(await _store.ExistsAsync("z/x.json"));
        string folder = Path.Combine(_root.Path, "user-test-bucket", "z");
        Assert.Empty(Directory.Exists(folder) ? Directory.GetFiles(folder) : []);
    }

    [Fact]
    public void Bucket_names_that_are_not_one_folder_are_rejected()
    {
        Assert.Throws<ArgumentException>(() => new DirectoryObjectStore(_root.Path, "../escape"));
        Assert.Throws<ArgumentException>(() => new DirectoryObjectStore(_root.Path, ".."));
        Assert.Throws<ArgumentException>(() => new DirectoryObjectStore(_root.Path, " "));
    }

    [Fact]
    public void The_factory_builds_the_configured_store_and_rejects_unknown_kinds()
    {
        var store = ObjectStoreFactory.Create(new ObjectStoreOptions { Root = _root.Path }, "user-abc-bucket");
        Assert.IsType<DirectoryObjectStore>(store);
        Assert.EndsWith("/user-abc-bucket", store.Location, StringComparison.Ordinal);
        var named = ObjectStoreFactory.Create(new ObjectStoreOptions { Root = _root.Path, Bucket = "other" }, "user-abc-bucket");
        Assert.EndsWith("/other", named.Location, StringComparison.Ordinal);
        var s3 = ObjectStoreFactory.Create(new ObjectStoreOptions { Kind = ObjectStoreKind.S3, ServiceUrl = "http://127.0.0.1:1", ForcePathStyle = true }, "b");
        Assert.Equal("s3://b", s3.Location);
        var e = Assert.Throws<ArgumentException>(() => ObjectStoreFactory.Create(new ObjectStoreOptions { Kind = (ObjectStoreKind)7 }, "b"));
        Assert.Contains("ObjectStore:Kind: '7' is not one of: directory, s3.", e.Message, StringComparison.Ordinal);
        Assert.Throws<ArgumentException>(() => ObjectStoreFactory.Create(new ObjectStoreOptions { Root = _root.Path }, ""));
    }
}
