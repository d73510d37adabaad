using System.Text;
using PinPipe.Lake.Directory;
using PinPipe.Log;
using PinPipe.Sink;
using PinPipe.Tests.Support;
using static PinPipe.Tests.Sink.SinkTestKit;

namespace PinPipe.Tests.Sink;

public sealed class S3SinkCrashTests : IDisposable
{
    private readonly TempDirectory _dir = new("sink-crash");

    public void Dispose() => _dir.Dispose();

    [Fact]
    public async Task Killing_and_restarting_at_random_points_under_continuous_appends_writes_every_record_exactly_once()
    {
        const int partitions = 2;
        ILog log = await TestLogs.CreateAsync();
        await log.CreateTopicAsync("t", partitions);
        var store = new DirectoryObjectStore(_dir.Path, "bucket");
        // One put in eight "crashes" after the object is durable but before the sink can commit it.
        var crashy = new CrashAfterPutStore(store, new Random(99), oneIn: 8);
        var clock = new ManualTimeProvider();
        var options = new SinkOptions
        {
            Topics = ["t"],
            FlushSize = 7,
            RotateScheduleInterval = TimeSpan.FromSeconds(10),
            PollInterval = TimeSpan.FromMilliseconds(5),
        };
        var random = new Random(20240601);
        int[] appended = new int[partitions];

        using var stopAppending = new CancellationTokenSource();
        Task producer = Task.Run(async () =>
        {
            var r = new Random(7);
            while (!stopAppending.IsCancellationRequested)
            {
                int p = r.Next(partitions), n = r.Next(1, 6);
                await AppendAsync(log, "t", p, appended[p], n);
                appended[p] += n;
                // Wall clock jumps at random, so scheduled rotations cut objects at unpredictable places.
                if (r.Next(4) == 0) clock.Advance(TimeSpan.FromSeconds(r.Next(0, 12)));
                await Task.Delay(r.Next(0, 2));
            }
        });

        for (int run = 0; run < 40; run++)
        {
            using var kill = new CancellationTokenSource();
            var sink = new S3SinkConnector(log, crashy, options, timeProvider: clock) { RetryBackoff = TimeSpan.FromMilliseconds(1), MaxConsecutiveFailures = 1000 };
            Task running = sink.RunAsync(kill.Token);
            await Task.Delay(random.Next(0, 25));
            await kill.CancelAsync();
            await running;
        }
        await stopAppending.CancelAsync();
        await producer;

        // Drain: rotation every time the clock moves, until everything is committed.
        var final = new S3SinkConnector(log, crashy, options, timeProvider: clock);
        using (var cts = new CancellationTokenSource())
        {
            Task running = final.RunAsync(cts.Token);
            await Eventually(async () =>
            {
                clock.Advance(TimeSpan.FromSeconds(11));
                for (int p = 0; p < partitions; p++)
                    if (!await CommittedAsync(log, "t", p, appended[p])) return false;
                return true;
            }, 60);
            await cts.CancelAsync();
            await running;
        }

        var objects = await ReadAllAsync(store);
        for (int p = 0; p < partitions; p++)
        {
            string prefix = $"topics/t/partition={p}/";
            var mine = objects.Where(o => o.Key.StartsWith(prefix, StringComparison.Ordinal)).ToList();
            long expectedStart = 0;
            foreach (var (key, content) in mine.OrderBy(o => long.Parse(o.Key[(o.Key.LastIndexOf('+') + 1)..^5])))
            {
                Assert.Equal(S3SinkConnector.ObjectKey("topics", "t", p, expectedStart), key);
                string[] lines = Encoding.UTF8.GetString(content).Split('\n');
                Assert.Equal("", lines[^1]);
                Assert.InRange(lines.Length - 1, 1, options.FlushSize);
                for (int i = 0; i < lines.Length - 1; i++)
                    Assert.Equal(Encoding.UTF8.GetString(Json("t", p, (int)expectedStart + i)), lines[i]);
                expectedStart += lines.Length - 1;
            }
            Assert.Equal(appended[p], expectedStart);
        }
        Assert.True(appended.Sum() > 100, $"only {appended.Sum()} records were appended");
        Assert.True(crashy.Crashes > 5, $"only {crashy.Crashes} crashes after a put");
        Assert.True(crashy.Rewrites >= crashy.Crashes, $"{crashy.Rewrites} rewrites for {crashy.Crashes} crashes");
        // A rebuilt object is byte-identical to the uncommitted one it replaces, even when a scheduled rotation cut it.
        Assert.Empty(crashy.Changed);
    }
}

/// <summary>A real store that, at random, fails right after an object became durable: a crash between put and commit.</summary>
internal sealed class CrashAfterPutStore(PinPipe.Lake.IObjectStore inner, Random random, int oneIn) : PinPipe.Lake.IObjectStore
{
    private int _crashes;

    public int Crashes => Volatile.Read(ref _crashes);

    public string Location => inner.Location;

    private readonly Dictionary<string, byte[]> _firstContent = new(StringComparer.Ordinal);

    /// <summary>Keys written again with different bytes than the first time (must stay empty: objects never change).</summary>
    public List<string> Changed { get; } = new();

    /// <summary>Puts of a key that existed already (rebuilt after a crash).</summary>
    public int Rewrites { get; private set; }

    public async ValueTask PutAsync(string key, ReadOnlyMemory<byte> content, CancellationToken cancellationToken = default)
    {
        await inner.PutAsync(key, content, cancellationToken);
        AfterPut(key, content);
    }

    public async ValueTask PutFileAsync(string key, string localPath, CancellationToken cancellationToken = default)
    {
        await inner.PutFileAsync(key, localPath, cancellationToken);
        AfterPut(key, await File.ReadAllBytesAsync(localPath, cancellationToken)); // the test's objects are small
    }

    private void AfterPut(string key, ReadOnlyMemory<byte> content)
    {
        lock (_firstContent)
        {
            if (_firstContent.TryGetValue(key, out byte[]? first))
            {
                Rewrites++;
                if (!first.AsSpan().SequenceEqual(content.Span)) Changed.Add(key);
            }
            else
            {
                _firstContent[key] = content.ToArray();
            }
        }
        bool crash;
        lock (random) crash = random.Next(oneIn) == 0;
        if (crash)
        {
            Interlocked.Increment(ref _crashes);
            throw new IOException($"simulated crash after writing {key}");
        }
    }

    public ValueTask<bool> PutIfAbsentAsync(string key, ReadOnlyMemory<byte> content, CancellationToken cancellationToken = default) => inner.PutIfAbsentAsync(key, content, cancellationToken);
    public ValueTask<byte[]?> GetAsync(string key, CancellationToken cancellationToken = default) => inner.GetAsync(key, cancellationToken);
    public ValueTask<Stream?> OpenReadAsync(string key, CancellationToken cancellationToken = default) => inner.OpenReadAsync(key, cancellationToken);
    public ValueTask<bool> ExistsAsync(string key, CancellationToken cancellationToken = default) => inner.ExistsAsync(key, cancellationToken);
    public IAsyncEnumerable<PinPipe.Lake.ObjectInfo> ListAsync(string prefix, CancellationToken cancellationToken = default) => inner.ListAsync(prefix, cancellationToken);
    public ValueTask DeleteAsync(string key, CancellationToken cancellationToken = default) => inner.DeleteAsync(key, cancellationToken);
}
