using Prometheus;

namespace PinPipe.Observability;

/// <summary>
/// Work that brings gauges up to date when <c>/metrics</c> is scraped (a log's end offsets, a sink's lag), registered
/// by the component that owns the figures for as long as it runs. A collector that fails leaves its gauges as they
/// were: a scrape never fails because one part of the process cannot answer.
/// </summary>
public static class MetricCollectors
{
    private static readonly Lock Gate = new();
    private static readonly List<Registration> All = [];

    /// <summary>
    /// Runs <paramref name="collect"/> before each scrape until the result is disposed; then <paramref name="removed"/>
    /// runs once (to remove the series the collector owned, so that a stopped component leaves no stale gauges).
    /// </summary>
    public static IDisposable Register(Func<CancellationToken, Task> collect, Action? removed = null)
    {
        ArgumentNullException.ThrowIfNull(collect);
        var registration = new Registration(collect, removed);
        lock (Gate) All.Add(registration);
        return registration;
    }

    /// <summary>Runs every registered collector (the registry calls it before each export; see <see cref="PinPipeMetrics"/>).</summary>
    internal static async Task CollectAsync(CancellationToken cancellationToken)
    {
        Registration[] now;
        lock (Gate) now = [.. All];
        foreach (var registration in now)
        {
            try
            {
                await registration.CollectAsync(cancellationToken).ConfigureAwait(false);
            }
#pragma warning disable CA1031 // a part that cannot answer keeps its last figures; the scrape goes on
            catch (Exception) when (!cancellationToken.IsCancellationRequested)
#pragma warning restore CA1031
            {
            }
        }
    }

    private sealed class Registration(Func<CancellationToken, Task> collect, Action? removed) : IDisposable
    {
        private readonly SemaphoreSlim _one = new(1, 1);
        private bool _disposed;

        public async Task CollectAsync(CancellationToken cancellationToken)
        {
            // One collection at a time per collector, and none after Dispose (which would bring back removed series).
            await _one.WaitAsync(cancellationToken).ConfigureAwait(false);
            try
            {
                if (!_disposed) await collect(cancellationToken).ConfigureAwait(false);
            }
            finally
            {
                _one.Release();
            }
        }

        public void Dispose()
        {
            lock (Gate)
            {
                if (!All.Remove(this)) return;
            }
            _one.Wait();
            try
            {
                _disposed = true;
                removed?.Invoke();
            }
            finally
            {
                _one.Release();
            }
            // A scrape waiting on it meanwhile fails on the disposed semaphore, which the caller ignores.
            _one.Dispose();
        }
    }
}

/// <summary>
/// Feeds Prometheus counters from a component's own running totals (snapshots taken at scrape time): each label set
/// grows by what its total grew since the last report, so that a component restarted in the same process (its totals
/// back at zero) keeps the counter monotonic.
/// </summary>
public sealed class CounterFeed
{
    private readonly Dictionary<(Counter Counter, string Labels), double> _last = [];

    /// <summary>Adds to <paramref name="counter"/>{<paramref name="labels"/>} what <paramref name="total"/> grew since the last report of that label set.</summary>
    public void Report(Counter counter, double total, params string[] labels)
    {
        ArgumentNullException.ThrowIfNull(counter);
        var key = (counter, string.Join('\u001f', labels));
        lock (_last)
        {
            double last = _last.GetValueOrDefault(key);
            var child = counter.WithLabels(labels); // exported from the first report on, at 0 until it grows
            if (total > last) child.Inc(total - last);
            _last[key] = Math.Max(last, total);
        }
    }
}
