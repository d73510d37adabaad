using PinPipe.Hosting.Web;

namespace PinPipe.Tests.Hosting.Web;

/// <summary>The dashboard's rates: records per second between the oldest and the newest sample of the last minute.</summary>
public sealed class RateRingTests
{
    private static readonly DateTimeOffset T0 = new(2026, 12, 1, 9, 0, 0, TimeSpan.Zero);

    private static Dictionary<string, long> Counter(long value) => new(StringComparer.Ordinal) { ["c"] = value };

    [Fact]
    public void One_sample_gives_no_rate_yet()
    {
        var ring = new RateRing(TimeSpan.FromMinutes(1));
        ring.Add(T0, Counter(100));

        Assert.Null(ring.Rate("c"));
        Assert.Null(ring.Rate("unknown"));
    }

    [Fact]
    public void The_rate_spans_the_oldest_to_the_newest_sample()
    {
        var ring = new RateRing(TimeSpan.FromMinutes(1));
        ring.Add(T0, Counter(100));
        ring.Add(T0.AddSeconds(4), Counter(120));
        ring.Add(T0.AddSeconds(10), Counter(150));

        Assert.Equal(5.0, ring.Rate("c"));
        Assert.Equal(TimeSpan.FromSeconds(10), ring.Span);
    }

    [Fact]
    public void Samples_older_than_the_window_are_forgotten()
    {
        var ring = new RateRing(TimeSpan.FromMinutes(1));
        ring.Add(T0, Counter(0));
        ring.Add(T0.AddSeconds(30), Counter(3000));
        ring.Add(T0.AddSeconds(90), Counter(3060));

        // T0 is 90 s old: the rate is that of the last minute (30 s to 90 s), not of the burst before it.
        Assert.Equal(1.0, ring.Rate("c"));
        Assert.Equal(TimeSpan.FromMinutes(1), ring.Span);
    }

    [Fact]
    public void After_a_pause_longer_than_the_window_there_is_no_rate_until_a_second_sample()
    {
        var ring = new RateRing(TimeSpan.FromMinutes(1));
        ring.Add(T0, Counter(0));
        ring.Add(T0.AddMinutes(10), Counter(600));

        Assert.Null(ring.Rate("c"));
        ring.Add(T0.AddMinutes(10).AddSeconds(2), Counter(610));
        Assert.Equal(5.0, ring.Rate("c"));
    }

    [Fact]
    public void A_counter_that_went_down_counts_as_zero_not_negative()
    {
        var ring = new RateRing(TimeSpan.FromMinutes(1));
        ring.Add(T0, Counter(500));
        ring.Add(T0.AddSeconds(5), Counter(20)); // the topic was deleted and made again

        Assert.Equal(0.0, ring.Rate("c"));
    }
}
