using System.Text;
using PinPipe.Lake;
using PinPipe.Log;
using PinPipe.Sink;

namespace PinPipe.Tests.Sink;

/// <summary>A clock the test moves by hand (timers stay real).</summary>
internal sealed class ManualTimeProvider : TimeProvider
{
    private long _ticks = new DateTimeOffset(2024, 1, 1, 0, 0, 0, TimeSpan.Zero).UtcTicks;

    public override DateTimeOffset GetUtcNow() => new(Interlocked.Read(ref _ticks), TimeSpan.Zero);

    public void Advance(TimeSpan by) => Interlocked.Add(ref _ticks, by.Ticks);
}

/// <summary>A real store whose Nth put (1-based, counting all puts) fails before writing anything, or is slowed by <see cref="Delay"/>.</summary>
internal sealed class FailingPutStore(IObjectStore inner, Func<int, bool> failPut) : IObjectStore
{
    private int _puts;

    public List<(int Put, string Key)> Failed { get; } = new();

    public Func<string, ValueTask>? OnFailure { get; init; }

    /// <summary>Runs at the start of each put, given its key, before it waits, fails or writes.</summary>
    public Func<string, ValueTask>? OnPut { get; init; }

    /// <summary>How long a put of this key waits before it fails or writes (default none).</summary>
    public Func<string, TimeSpan>? Delay { get; init; }

    /// <summary>What a failed put throws, given its number and key (default: an <see cref="IOException"/>).</summary>
    public Func<int, string, Exception>? Failure { get; init; }

    public string Location => inner.Location;

    public async ValueTask PutAsync(string key, ReadOnlyMemory<byte> content, CancellationToken cancellationToken = default)
    {
        await FailOrPassAsync(key);
        await inner.PutAsync(key, content, cancellationToken);
    }

    public async ValueTask PutFileAsync(string key, string localPath, CancellationToken cancellationToken = default)
    {
        await FailOrPassAsync(key);
        await inner.PutFileAsync(key, localPath, cancellationToken);
    }

    private async ValueTask FailOrPassAsync(string key)
    {
        int n = Interlocked.Increment(ref _puts);
        if (OnPut is not null) await OnPut(key);
        if (Delay?.Invoke(key) is { } delay && delay > TimeSpan.Zero) await Task.Delay(delay);
        if (failPut(n))
        {
            lock (Failed) Failed.Add((n, key));
            if (OnFailure is not null) await OnFailure(key);
            throw Failure?.Invoke(n, key) ?? new IOException($"injected failure of put #{n} ({key})");
        }
    }

    public ValueTask<bool> PutIfAbsentAsync(string key, ReadOnlyMemory<byte> content, CancellationToken cancellationToken = default) => inner.PutIfAbsentAsync(key, content, cancellationToken);
    public ValueTask<byte[]?> GetAsync(string key, CancellationToken cancellationToken = default) => inner.GetAsync(key, cancellationToken);
    public ValueTask<Stream?> OpenReadAsync(string key, CancellationToken cancellationToken = default) => inner.OpenReadAsync(key, cancellationToken);
    public ValueTask<bool> ExistsAsync(string key, CancellationToken cancellationToken = default) => inner.ExistsAsync(key, cancellationToken);
    public IAsyncEnumerable<ObjectInfo> ListAsync(string prefix, CancellationToken cancellationToken = default) => inner.ListAsync(prefix, cancellationToken);
    public ValueTask DeleteAsync(string key, CancellationToken cancellationToken = default) => inner.DeleteAsync(key, cancellationToken);
}

internal static class SinkTestKit
{
    public const string Group = "connect-pinpipe-s3-sink";

    public static byte[] Json(string topic, int partition, int n) => Encoding.UTF8.GetBytes($"{{\"topic\":\"{topic}\",\"p\":{partition},\"n\":{n}}}");

    public static async Task AppendAsync(ILog log, string topic, int partition, int from, int count)
    {
        var records = Enumerable.Range(from, count).Select(n => new LogRecord(null, Json(topic, partition, n), partition)).ToList();
        await log.AppendAsync(topic, records);
    }

    /// <summary>Runs the connector until <paramref name="done"/> holds, then cancels it and waits for it to stop.</summary>
    public static async Task RunUntilAsync(S3SinkConnector sink, Func<Task<bool>> done, int timeoutSeconds = 30)
    {
        using var cts = new CancellationTokenSource();
        Task run = sink.RunAsync(cts.Token);
        try
        {
            await Eventually(done, timeoutSeconds, () => run.IsFaulted ? run.Exception!.ToString() : "");
        }
        finally
        {
            await cts.CancelAsync();
            await run;
        }
    }

    public static async Task Eventually(Func<Task<bool>> condition, int timeoutSeconds = 30, Func<string>? why = null)
    {
        var deadline = DateTime.UtcNow.AddSeconds(timeoutSeconds);
        while (!await condition())
        {
            if (DateTime.UtcNow > deadline) Assert.Fail("Condition not met in time. " + why?.Invoke());
            await Task.Delay(10);
        }
    }

    public static async Task<bool> CommittedAsync(ILog log, string topic, int partition, long offset) =>
        await log.GetCommittedOffsetAsync(Group, topic, partition) == offset;

    /// <summary>The records' objects under <paramref name="prefix"/> (not the sink's records of topic ids, <c>&lt;topic&gt;+topic-id.json</c>).</summary>
    public static async Task<List<(string Key, byte[] Content)>> ReadAllAsync(IObjectStore store, string prefix = "")
    {
        var all = new List<(string, byte[])>();
        await foreach (ObjectInfo o in store.ListAsync(prefix))
            if (!o.Key.EndsWith("+topic-id.json", StringComparison.Ordinal)) all.Add((o.Key, (await store.GetAsync(o.Key))!));
        return all;
    }
}
