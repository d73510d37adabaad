namespace PinPipe.Hosting.Web;

/// <summary>
/// Counters sampled over time (records appended, committed, ...), kept for a window, giving each counter's rate over it:
/// (newest - oldest) / (their time apart), per second. A sample is added per dashboard snapshot (at most one a second),
/// so nothing is sampled while nobody watches. Not thread-safe: the dashboard makes one snapshot at a time.
/// </summary>
internal sealed class RateRing(TimeSpan window)
{
    private readonly Queue<(DateTimeOffset At, IReadOnlyDictionary<string, long> Values)> _samples = new();

    /// <summary>How far back the rates look (a minute for the dashboard).</summary>
    public TimeSpan Window { get; } = window;

    /// <summary>Adds the counters at <paramref name="at"/> and forgets the samples older than the window.</summary>
    public void Add(DateTimeOffset at, IReadOnlyDictionary<string, long> values)
    {
        _samples.Enqueue((at, values));
        while (_samples.Count > 1 && _samples.Peek().At < at - Window) _samples.Dequeue();
    }

    /// <summary>How far apart the oldest and the newest sample are: the span the rates cover (the window once it is full).</summary>
    public TimeSpan Span => _samples.Count < 2 ? TimeSpan.Zero : _samples.Last().At - _samples.Peek().At;

    /// <summary>
    /// <paramref name="counter"/>'s rate per second between the oldest sample in the window and the newest; null with fewer
    /// than two samples holding it. A counter that went down (a topic deleted and made again) counts from zero, never negative.
    /// </summary>
    public double? Rate(string counter)
    {
        if (_samples.Count < 2) return null;
        var (firstAt, first) = _samples.Peek();
        var (lastAt, last) = _samples.Last();
        if (!first.TryGetValue(counter, out long from) || !last.TryGetValue(counter, out long to)) return null;
        double seconds = (lastAt - firstAt).TotalSeconds;
        if (seconds <= 0) return null;
        return Math.Max(0, to - from) / seconds;
    }
}
