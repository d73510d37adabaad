using PinPipe.Configuration;

namespace PinPipe.Tests.Configuration;

/// <summary>Durations as logs and messages show them: in the forms the duration flags take, not .NET's <c>00:00:00.1000000</c>.</summary>
public sealed class DurationsTextTests
{
    [Theory]
    [InlineData(100, "100ms")]
    [InlineData(1_000, "1s")]
    [InlineData(1_500, "1.5s")]
    [InlineData(10_000, "10s")]
    [InlineData(90_000, "1.5m")]
    [InlineData(120_000, "2m")]
    [InlineData(3_600_000, "1h")]
    [InlineData(90_000_000, "25h")]
    [InlineData(86_400_000, "1d")]
    [InlineData(0, "0s")]
    [InlineData(-250, "-250ms")]
    public void Formats_in_the_largest_unit_that_reads_exactly(long milliseconds, string expected) =>
        Assert.Equal(expected, Durations.Text(TimeSpan.FromMilliseconds(milliseconds)));

    [Fact]
    public void Below_a_millisecond_it_shows_fractional_milliseconds_and_null_shows_the_fallback()
    {
        Assert.Equal("0.5ms", Durations.Text(TimeSpan.FromTicks(5_000)));
        Assert.Equal("none", Durations.Text(null, "none"));
    }
}
