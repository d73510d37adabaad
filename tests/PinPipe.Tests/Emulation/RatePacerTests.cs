using System.Diagnostics;
using PinPipe.Emulation;

namespace PinPipe.Tests.Emulation;

public sealed class RatePacerTests
{
    [Theory]
    [InlineData(10, 4)]            // 4 tokens at 10/s: the first at once, then 3 × 100 ms
    [InlineData(100_000, 20_000)]  // 20,000 tokens at 100k/s: about 200 ms, without a sleep per token
    public async Task The_pacer_never_runs_ahead_of_its_rate(double rate, int tokens)
    {
        var pacer = new RatePacer(rate);
        var watch = Stopwatch.StartNew();
        for (var i = 0; i < tokens; i++) await pacer.WaitAsync();
        watch.Stop();

        // Lower bound: all but the first token paced, less 20 ms of timer slack (the pacer's clock starts when it is
        // built, a little before this watch); a pacer running ahead would finish in about 0 s. The upper bound is
        // generous for a busy machine.
        var minimum = (tokens - 1) / rate - 0.02;
        Assert.InRange(watch.Elapsed.TotalSeconds, minimum, minimum * 4 + 1);
    }

    [Fact]
    public async Task A_cancelled_wait_throws()
    {
        var pacer = new RatePacer(1);
        await pacer.WaitAsync();
        using var cts = new CancellationTokenSource(TimeSpan.FromMilliseconds(50));
        await Assert.ThrowsAnyAsync<OperationCanceledException>(async () => await pacer.WaitAsync(cts.Token));
    }

    [Theory]
    [InlineData(0)]
    [InlineData(-1)]
    [InlineData(double.NaN)]
    [InlineData(double.PositiveInfinity)]
    public void A_rate_must_be_positive(double rate) =>
        Assert.Throws<ArgumentOutOfRangeException>(() => new RatePacer(rate));
}
