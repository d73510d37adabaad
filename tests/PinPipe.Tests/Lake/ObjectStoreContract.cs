using System.Text;
using PinPipe.Lake;

namespace PinPipe.Tests.Lake;

/// <summary>What every <see cref="IObjectStore"/> must do; run against each implementation.</summary>
public abstract class ObjectStoreContract
{
    protected abstract IObjectStore Store { get; }

    protected static byte[] Bytes(string s) => Encoding.UTF8.GetBytes(s);

    [Fact]
    public async Task A_put_object_reads_back_byte_for_byte()
    {
        byte[] content = Enumerable.Range(0, 70_000).Select(i => (byte)(i * 31)).ToArray();
        await Store.PutAsync("topics/t/partition=0/t+0+0000000000.json", content);
        Assert.Equal(content, await Store.GetAsync("topics/t/partition=0/t+0+0000000000.json"));
        Assert.True(await Store.ExistsAsync("topics/t/partition=0/t+0+0000000000.json"));
    }

    [Fact]
    public async Task An_empty_object_is_an_object()
    {
        await Store.PutAsync("empty.json", ReadOnlyMemory<byte>.Empty);
        byte[]? empty = await Store.GetAsync("empty.json");
        Assert.NotNull(empty);
        Assert.Empty(empty);
        Assert.True(await Store.ExistsAsync("empty.json"));
    }

    [Fact]
    public async Task A_missing_object_reads_as_null_and_does_not_exist()
    {
        Assert.Null(await Store.GetAsync("no/such/key.json"));
        Assert.False(await Store.ExistsAsync("no/such/key.json"));
    }

    [Fact]
    public async Task Put_replaces_an_existing_object_whole()
    {
        await Store.PutAsync("a/b.json", Bytes("first version, longer than the second\n"));
        await Store.PutAsync("a/b.json", Bytes("second\n"));
        Assert.Equal(Bytes("second\n"), await Store.GetAsync("a/b.json"));
        var listed = await ListAsync("a/");
        Assert.Equal(["a/b.json"], listed.Select(o => o.Key));
        Assert.Equal(7, listed[0].Size);
    }

    [Fact]
    public async Task A_read_racing_overwrites_and_a_listing_racing_new_puts_see_only_whole_objects()
    {
        // S3 puts are atomic: a reader gets the old or the new object whole, and a listing never shows one half-written.
        byte[] a = Enumerable.Repeat((byte)'a', 300_000).ToArray(), b = Enumerable.Repeat((byte)'b', 200_000).ToArray();
        await Store.PutAsync("race/same.json", a);
        using var done = new CancellationTokenSource();
        var writing = Task.Run(async () =>
        {
            try
            {
                for (int i = 0; i < 40; i++)
                {
                    await Store.PutAsync("race/same.json", i % 2 == 0 ? b : a);
                    await Store.PutAsync($"race/new/{i:D3}.json", a);
                }
            }
            finally
            {
                await done.CancelAsync();
            }
        });
        int reads = 0;
        while (!done.IsCancellationRequested || reads < 10)
        {
            byte[]? read = await Store.GetAsync("race/same.json");
            Assert.NotNull(read);
            Assert.True(read.AsSpan().SequenceEqual(a) || read.AsSpan().SequenceEqual(b), $"read {reads} got {read.Length} bytes, neither object whole");
            var listed = await ListAsync("race/new/");
            Assert.All(listed, o => Assert.Equal(a.Length, o.Size));
            if (listed.Count > 0) Assert.Equal(a, await Store.GetAsync(listed[^1].Key)); // the newest, the likeliest to be half-written
            reads++;
        }
        await writing;
        Assert.Equal(40, (await ListAsync("race/new/")).Count);
    }

    [Fact]
    public async Task Put_file_publishes_a_local_file_that_stays_and_replaces_an_existing_object()
    {
        string local = Path.Combine(Path.GetTempPath(), $"pinpipe-putfile-{Guid.NewGuid():N}");
        try
        {
            await Store.PutAsync("f/file.bin", Bytes("old contents"));
            await File.WriteAllBytesAsync(local, Bytes("from a file\n"));
            await Store.PutFileAsync("f/file.bin", local);
            Assert.Equal("from a file\n", Encoding.UTF8.GetString((await Store.GetAsync("f/file.bin"))!));
            Assert.True(File.Exists(local));
            File.Delete(local); // the object does not depend on the local file
            Assert.Equal("from a file\n", Encoding.UTF8.GetString((await Store.GetAsync("f/file.bin"))!));
            Assert.Equal(12, Assert.Single(await ListAsync("f/")).Size);
            await Assert.ThrowsAsync<FileNotFoundException>(async () => await Store.PutFileAsync("f/none.bin", local));
            Assert.False(await Store.ExistsAsync("f/none.bin"));
        }
        finally
        {
            File.Delete(local);
        }
    }

    [Fact]
    public async Task Get_file_streams_the_object_into_a_local_file_replacing_one_there_and_leaves_no_temporary_file()
    {
        string folder = Path.Combine(Path.GetTempPath(), $"pinpipe-getfile-{Guid.NewGuid():N}");
        Directory.CreateDirectory(folder);
        try
        {
            byte[] content = Enumerable.Range(0, 300_000).Select(i => (byte)(i * 7)).ToArray();
            await Store.PutAsync("g/data.parquet", content);
            string local = Path.Combine(folder, "data.parquet");
            await File.WriteAllBytesAsync(local, Bytes("an older download, longer than nothing"));
            Assert.True(await Store.GetFileAsync("g/data.parquet", local));
            Assert.Equal(content, await File.ReadAllBytesAsync(local));
            Assert.Equal([local], Directory.GetFiles(folder));

            await Store.PutAsync("g/empty.json", ReadOnlyMemory<byte>.Empty);
            Assert.True(await Store.GetFileAsync("g/empty.json", Path.Combine(folder, "empty.json")));
            Assert.Equal(0, new FileInfo(Path.Combine(folder, "empty.json")).Length);
        }
        finally
        {
            Directory.Delete(folder, recursive: true);
        }
    }

    [Fact]
    public async Task A_missing_object_gets_no_file_and_opens_as_null()
    {
        string folder = Path.Combine(Path.GetTempPath(), $"pinpipe-getfile-{Guid.NewGuid():N}");
        Directory.CreateDirectory(folder);
        try
        {
            Assert.False(await Store.GetFileAsync("no/such/object.parquet", Path.Combine(folder, "x.parquet")));
            Assert.Empty(Directory.GetFileSystemEntries(folder));
            Assert.Null(await Store.OpenReadAsync("no/such/object.parquet"));
        }
        finally
        {
            Directory.Delete(folder, recursive: true);
        }
    }

    [Fact]
    public async Task Open_read_streams_the_object()
    {
        byte[] content = Enumerable.Range(0, 200_000).Select(i => (byte)(i * 13)).ToArray();
        await Store.PutAsync("o/data.bin", content);
        Stream? stream = await Store.OpenReadAsync("o/data.bin");
        Assert.NotNull(stream);
        await using (stream)
        {
            using var copy = new MemoryStream();
            await stream.CopyToAsync(copy);
            Assert.Equal(content, copy.ToArray());
        }
    }

    [Fact]
    public async Task Put_if_absent_writes_a_new_object_and_returns_true()
    {
        Assert.True(await Store.PutIfAbsentAsync("fresh/x.json", Bytes("x\n")));
        Assert.Equal(Bytes("x\n"), await Store.GetAsync("fresh/x.json"));
    }

    [Fact]
    public async Task List_returns_only_the_prefix_in_ordinal_key_order_with_sizes()
    {
        string[] keys = ["p/b.json", "p/a+10.json", "p/a+2.json", "p/A.json", "p/sub/z.json", "p/a/deeper.json", "p/ab/c/d.json", "p/x/a.json", "q/other.json", "pother.json"];
        foreach (string k in keys) await Store.PutAsync(k, Bytes(k));
        var listed = await ListAsync("p/");
        string[] expected = keys.Where(k => k.StartsWith("p/", StringComparison.Ordinal)).Order(StringComparer.Ordinal).ToArray();
        Assert.Equal(expected, listed.Select(o => o.Key));
        Assert.All(listed, o => Assert.Equal(Encoding.UTF8.GetByteCount(o.Key), o.Size));
        Assert.All(listed, o => Assert.True(o.LastModified > DateTimeOffset.UtcNow.AddMinutes(-10)));

        // A name prefix: the folder's own entries that start with it, and everything below its subfolders that do.
        Assert.Equal(["p/a+10.json", "p/a+2.json", "p/a/deeper.json", "p/ab/c/d.json"], (await ListAsync("p/a")).Select(o => o.Key));
        Assert.Equal(["p/ab/c/d.json"], (await ListAsync("p/ab/")).Select(o => o.Key));
        Assert.Equal(keys.Where(k => k.StartsWith('p')).Order(StringComparer.Ordinal), (await ListAsync("p")).Select(o => o.Key));
        Assert.Empty(await ListAsync("nothing-here/"));
        Assert.Equal(keys.Order(StringComparer.Ordinal), (await ListAsync("")).Select(o => o.Key));
    }

    [Fact]
    public async Task Delete_removes_an_object_and_ignores_a_missing_one()
    {
        await Store.PutAsync("d/1.json", Bytes("1"));
        await Store.PutAsync("d/2.json", Bytes("2"));
        await Store.DeleteAsync("d/1.json");
        await Store.DeleteAsync("d/1.json");
        await Store.DeleteAsync("never/there.json");
        Assert.False(await Store.ExistsAsync("d/1.json"));
        Assert.Equal(["d/2.json"], (await ListAsync("d/")).Select(o => o.Key));
    }

    [Theory]
    [InlineData("")]
    [InlineData("/absolute.json")]
    [InlineData("a/../b.json")]
    [InlineData("..")]
    [InlineData("a/./b.json")]
    [InlineData("a\\b.json")]
    [InlineData("a//b.json")]
    [InlineData("a/")]
    [InlineData("a/.pinpipe-tmp-x")]
    public async Task Bad_keys_are_rejected_with_a_clear_message(string key)
    {
        var put = await Assert.ThrowsAsync<ArgumentException>(() => Store.PutAsync(key, Bytes("x")).AsTask());
        Assert.Contains("Invalid object key", put.Message, StringComparison.Ordinal);
        await Assert.ThrowsAsync<ArgumentException>(() => Store.PutIfAbsentAsync(key, Bytes("x")).AsTask());
        await Assert.ThrowsAsync<ArgumentException>(() => Store.GetAsync(key).AsTask());
        await Assert.ThrowsAsync<ArgumentException>(() => Store.OpenReadAsync(key).AsTask());
        await Assert.ThrowsAsync<ArgumentException>(() => Store.GetFileAsync(key, Path.Combine(Path.GetTempPath(), "pinpipe-never-written")).AsTask());
        await Assert.ThrowsAsync<ArgumentException>(() => Store.ExistsAsync(key).AsTask());
        await Assert.ThrowsAsync<ArgumentException>(() => Store.DeleteAsync(key).AsTask());
    }

    protected async Task<List<ObjectInfo>> ListAsync(string prefix)
    {
        var list = new List<ObjectInfo>();
        await foreach (ObjectInfo o in Store.ListAsync(prefix)) list.Add(o);
        return list;
    }
}

/// <summary>The contract for stores whose server enforces conditional writes.</summary>
public abstract class ConditionalWriteObjectStoreContract : ObjectStoreContract
{
    [Fact]
    public void The_store_reports_put_if_absent_atomic_so_several_writers_may_share_a_delta_table()
    {
        Assert.True(Store.AtomicPutIfAbsent);
        Assert.Null(ObjectStoreFactory.SeveralWritersProblem(Store));
    }

    [Fact]
    public async Task Put_if_absent_leaves_an_existing_object_untouched_and_returns_false()
    {
        await Store.PutAsync("c/x.json", Bytes("original\n"));
        Assert.False(await Store.PutIfAbsentAsync("c/x.json", Bytes("intruder\n")));
        Assert.Equal(Bytes("original\n"), await Store.GetAsync("c/x.json"));
    }

    [Fact]
    public async Task Of_many_concurrent_put_if_absent_calls_exactly_one_wins()
    {
        for (int round = 0; round < 20; round++)
        {
            string key = $"race/{round}.json";
            using var start = new ManualResetEventSlim();
            var writers = Enumerable.Range(0, 8).Select(i => Task.Run(async () =>
            {
                start.Wait();
                return (Writer: i, Won: await Store.PutIfAbsentAsync(key, Bytes($"writer {i}\n")));
            })).ToArray();
            start.Set();
            var results = await Task.WhenAll(writers);
            var winners = results.Where(r => r.Won).ToList();
            Assert.Single(winners);
            Assert.Equal(Bytes($"writer {winners[0].Writer}\n"), await Store.GetAsync(key));
        }
        Assert.Equal(20, (await ListAsync("race/")).Count);
    }
}
