using System.Text;
using PinPipe.Lake;
using PinPipe.Lake.Directory;
using PinPipe.Log;
using PinPipe.Sink;
using PinPipe.Tests.Lake.Delta;
using PinPipe.Tests.Support;
using static PinPipe.Tests.Sink.SinkTestKit;

namespace PinPipe.Tests.Sink;

/// <summary>
/// The sink spools an object's lines to a local file and uploads the file (<see cref="IObjectStore.PutFileAsync"/>,
/// streamed; S3 multipart above the threshold); an uncommitted object it rebuilds is downloaded to a file and compared
/// as the lines are written. No object is held in memory whole.
/// </summary>
public sealed class SinkSpoolTests : IDisposable
{
    private readonly TempDirectory _dir = new("sink-spool");
    private readonly DirectoryObjectStore _store;

    public SinkSpoolTests() => _store = new DirectoryObjectStore(_dir.Path, "user-test-bucket");

    public void Dispose() => _dir.Dispose();

    private static string Lines(int from, int count) =>
        string.Concat(Enumerable.Range(from, count).Select(n => Encoding.UTF8.GetString(Json("t", 0, n)) + "\n"));

    [Fact]
    public async Task Objects_are_uploaded_from_files_and_an_uncommitted_one_is_rebuilt_from_a_streamed_copy()
    {
        ILog log = await TestLogs.CreateAsync();
        await log.CreateTopicAsync("t", 1);
        await AppendAsync(log, "t", 0, 0, 7);
        // A rotation wrote offsets 0-1 and the process died before committing.
        string crashed = "topics/t/partition=0/t+0+0000000000.json";
        await _store.PutAsync(crashed, Encoding.UTF8.GetBytes(Lines(0, 2)));
        var store = new WholeObjectsRefusedStore(_store);

        var options = new SinkOptions { Topics = ["t"], FlushSize = 3, RotateScheduleInterval = null, PollInterval = TimeSpan.FromMilliseconds(20) };
        await RunUntilAsync(new S3SinkConnector(log, store, options), () => CommittedAsync(log, "t", 0, 5));

        var all = await ReadAllAsync(_store);
        Assert.Equal([crashed, "topics/t/partition=0/t+0+0000000002.json"], all.Select(o => o.Key));
        Assert.Equal([Lines(0, 2), Lines(2, 3)], all.Select(o => Encoding.UTF8.GetString(o.Content)));
        Assert.Equal([crashed, "topics/t/partition=0/t+0+0000000002.json"], store.FilesPut);
        Assert.Equal([crashed], store.Streamed);
    }

    /// <summary>A store without local paths that refuses to put or get a raw object as bytes: only files and streams.</summary>
    private sealed class WholeObjectsRefusedStore(IObjectStore inner) : RemoteLikeStore(inner)
    {
        public List<string> FilesPut { get; } = [];

        public List<string> Streamed { get; } = [];

        private static bool IsRawObject(string key) => key.Contains("/partition=", StringComparison.Ordinal);

        public override ValueTask PutAsync(string key, ReadOnlyMemory<byte> content, CancellationToken cancellationToken = default) =>
            IsRawObject(key) ? throw new InvalidOperationException($"'{key}' was put from memory whole.") : base.PutAsync(key, content, cancellationToken);

        public override ValueTask PutFileAsync(string key, string localPath, CancellationToken cancellationToken = default)
        {
            lock (FilesPut) FilesPut.Add(key);
            return base.PutFileAsync(key, localPath, cancellationToken);
        }

        public override ValueTask<byte[]?> GetAsync(string key, CancellationToken cancellationToken = default) =>
            IsRawObject(key) ? throw new InvalidOperationException($"'{key}' was read into memory whole.") : base.GetAsync(key, cancellationToken);

        public override ValueTask<Stream?> OpenReadAsync(string key, CancellationToken cancellationToken = default)
        {
            lock (Streamed) Streamed.Add(key);
            return base.OpenReadAsync(key, cancellationToken);
        }
    }
}
