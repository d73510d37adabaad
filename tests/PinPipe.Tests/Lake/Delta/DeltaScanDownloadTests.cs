using PinPipe.Lake;
using PinPipe.Lake.Delta;
using PinPipe.Lake.Directory;
using PinPipe.Tests.Support;
using static PinPipe.Tests.Lake.Delta.DeltaTestKit;

namespace PinPipe.Tests.Lake.Delta;

/// <summary>A scan of a store without local paths (S3) streams each data file into a local file; it never reads one into memory.</summary>
public sealed class DeltaScanDownloadTests : IDisposable
{
    private readonly TempDirectory _temp = new("delta-scan-download");
    private readonly DirectoryObjectStore _store;

    public DeltaScanDownloadTests() => _store = new DirectoryObjectStore(_temp.Path, "bucket");

    public void Dispose() => _temp.Dispose();

    [Fact]
    public async Task Data_files_are_streamed_to_files_not_fetched_as_bytes()
    {
        await new DeltaTable(_store, "t").CommitAsync(new DeltaWrite(DeltaTableWriteTests.EventSchema,
            [DeltaTableWriteTests.EventFile(_temp.Path, "a"), DeltaTableWriteTests.EventFile(_temp.Path, "b")]));
        var remote = new DataAsStreamsOnlyStore(_store);
        var snapshot = (await new DeltaTable(remote, "t").LoadAsync())!;

        using (var scan = await snapshot.OpenScanAsync())
        {
            Assert.Equal(2, scan.Paths.Count);
            using var c = OpenDuckDb();
            Assert.Equal(6L, Query(c, $"SELECT count(*) FROM {scan.Sql} AS t").Single()[0]);
        }
        Assert.Equal(2, remote.Streamed.Count);
        Assert.All(remote.Streamed, k => Assert.EndsWith(".parquet", k, StringComparison.Ordinal));
    }
}

/// <summary>
/// A store without local paths (as S3) whose <see cref="IObjectStore.GetAsync"/> refuses data objects: only the small
/// metadata of the Delta log (<c>_delta_log/</c>) and of the sink (<c>_pinpipe/</c>) may be read into memory whole.
/// </summary>
internal sealed class DataAsStreamsOnlyStore(IObjectStore inner) : RemoteLikeStore(inner)
{
    /// <summary>The keys read through <see cref="OpenReadAsync"/>.</summary>
    public List<string> Streamed { get; } = [];

    public override ValueTask<byte[]?> GetAsync(string key, CancellationToken cancellationToken = default) =>
        key.Contains("_delta_log/", StringComparison.Ordinal) || key.StartsWith("_pinpipe/", StringComparison.Ordinal)
            ? base.GetAsync(key, cancellationToken)
            : throw new InvalidOperationException($"'{key}' is a data object: it must be streamed, not read into memory whole.");

    public override ValueTask<Stream?> OpenReadAsync(string key, CancellationToken cancellationToken = default)
    {
        lock (Streamed) Streamed.Add(key);
        return base.OpenReadAsync(key, cancellationToken);
    }
}
