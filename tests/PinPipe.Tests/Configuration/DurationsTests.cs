using PinPipe.Configuration;

namespace PinPipe.Tests.Configuration;

public sealed class DurationsTests
{
    [Theory]
    [InlineData("500ms", 500)]
    [InlineData("30s", 30_000)]
    [InlineData("1.5s", 1_500)]
    [InlineData("5m", 300_000)]
    [InlineData("2h", 7_200_000)]
    [InlineData("1d", 86_400_000)]
    [InlineData("00:01:30", 90_000)]
    [InlineData("0", 0)]
    [InlineData("0s", 0)]
    public void Human_durations_parse(string text, long milliseconds)
    {
        Assert.True(Durations.TryParse(text, out var value));
        Assert.Equal(TimeSpan.FromMilliseconds(milliseconds), value);
    }

    [Theory]
    [InlineData("")]
    [InlineData("soon")]
    [InlineData("-5s")]
    [InlineData("5 parsecs")]
    [InlineData("10")]
    public void Anything_else_is_refused(string text) => Assert.False(Durations.TryParse(text, out _));
}
