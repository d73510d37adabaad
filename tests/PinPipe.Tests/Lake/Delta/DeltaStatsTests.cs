using PinPipe.Lake.Delta;

namespace PinPipe.Tests.Lake.Delta;

/// <summary>String bounds truncated as Spark's StatisticsCollection does.</summary>
public sealed class DeltaStatsTests
{
    [Fact]
    public void Short_strings_are_kept_whole()
    {
        Assert.Equal("abc", DeltaStats.TruncateMin("abc"));
        Assert.Equal("abc", DeltaStats.TruncateMax("abc"));
        string exactly = new('q', 32);
        Assert.Equal(exactly, DeltaStats.TruncateMax(exactly));
    }

    [Fact]
    public void Long_strings_keep_a_prefix_and_the_max_gets_a_tie_breaker()
    {
        string ascii = new string('a', 32) + "bcd";
        Assert.Equal(new string('a', 32), DeltaStats.TruncateMin(ascii));
        Assert.Equal(new string('a', 32) + "\u007F", DeltaStats.TruncateMax(ascii));
        Assert.True(string.CompareOrdinal(DeltaStats.TruncateMax(ascii), ascii) > 0);

        // The character after the prefix is not below U+007F: the tie-breaker is U+10FFFF.
        string accented = new string('é', 40);
        Assert.Equal(new string('é', 32) + "\uDBFF\uDFFF", DeltaStats.TruncateMax(accented));
    }

    [Fact]
    public void A_surrogate_pair_is_never_split()
    {
        string emoji = new string('a', 31) + "\U0001F600" + "zz";
        Assert.Equal(new string('a', 31) + "\U0001F600", DeltaStats.TruncateMin(emoji));
        Assert.Equal(new string('a', 31) + "\U0001F600\u007F", DeltaStats.TruncateMax(emoji));
    }
}
