using PinPipe.Emulation;

namespace PinPipe.Tests.Emulation;

public sealed class LatencyHistogramTests
{
    [Fact]
    public void Percentiles_of_known_data_are_within_one_percent()
    {
        var h = new LatencyHistogram();
        for (var v = 1; v <= 100_000; v++) h.Record(v);

        Assert.Equal(100_000, h.Count);
        Assert.Equal(100_000, h.Max);
        Assert.Equal(1, h.Min);
        Assert.Equal(50_000.5, h.Mean);
        foreach (var (p, exact) in new[] { (50.0, 50_000L), (90.0, 90_000L), (99.0, 99_000L), (99.9, 99_900L) })
        {
            var got = h.ValueAtPercentile(p);
            Assert.InRange(got, exact, exact * 1.01);
        }

        Assert.Equal(100_000, h.ValueAtPercentile(100));
        Assert.Equal(1, h.ValueAtPercentile(0));
    }

    [Fact]
    public void Small_values_are_counted_exactly()
    {
        var h = new LatencyHistogram();
        foreach (var v in new long[] { 3, 3, 7, 200, 255 }) h.Record(v);

        Assert.Equal(3, h.ValueAtPercentile(40));
        Assert.Equal(7, h.ValueAtPercentile(60));
        Assert.Equal(200, h.ValueAtPercentile(80));
        Assert.Equal(255, h.ValueAtPercentile(100));
    }

    [Fact]
    public void A_skewed_distribution_has_its_tail_where_it_belongs()
    {
        var h = new LatencyHistogram();
        for (var i = 0; i < 990; i++) h.Record(1_000);
        for (var i = 0; i < 10; i++) h.Record(5_000_000);

        Assert.InRange(h.ValueAtPercentile(50), 1_000, 1_010);
        Assert.InRange(h.ValueAtPercentile(99), 1_000, 1_010);
        Assert.InRange(h.ValueAtPercentile(99.5), 5_000_000, 5_000_000);
        Assert.Equal(5_000_000, h.Max);
    }

    [Fact]
    public void Huge_and_negative_values_are_clamped_and_an_empty_histogram_answers_zero()
    {
        var h = new LatencyHistogram();
        Assert.Equal(0, h.ValueAtPercentile(99));
        Assert.Equal(0, h.Max);
        Assert.Equal(0, h.Min);
        Assert.Equal(0, h.Mean);

        h.Record(-5);
        h.Record(long.MaxValue);
        Assert.Equal(0, h.Min);
        Assert.Equal((1L << 41) - 1, h.Max);
        Assert.Throws<ArgumentOutOfRangeException>(() => h.ValueAtPercentile(101));
        Assert.Throws<ArgumentOutOfRangeException>(() => h.ValueAtPercentile(-1));
    }

    [Fact]
    public void Recording_from_many_threads_loses_nothing_and_histograms_add_up()
    {
        var h = new LatencyHistogram();
        Parallel.For(0, 8, t =>
        {
            for (var i = 1; i <= 10_000; i++) h.Record(i);
        });
        Assert.Equal(80_000, h.Count);
        Assert.InRange(h.ValueAtPercentile(50), 5_000, 5_050);

        var other = new LatencyHistogram();
        other.Record(1_000_000);
        h.Add(other);
        Assert.Equal(80_001, h.Count);
        Assert.Equal(1_000_000, h.Max);

        h.Reset();
        Assert.Equal(0, h.Count);
        Assert.Equal(0, h.ValueAtPercentile(50));
    }
}
