namespace PinPipe.Emulation;

/// <summary>
/// A log-linear histogram of non-negative values (the emulator records microseconds), in the spirit of
/// HdrHistogram: values below 256 are counted exactly, larger ones in buckets 1/128 of their power of
/// two wide, so any percentile is within 1% of the true value. Recording is lock-free and allocates
/// nothing; it is safe from many threads at once. Values above 2^40 are clamped.
/// </summary>
public sealed class LatencyHistogram
{
    private const int SubBucketBits = 7;                       // 128 buckets per power of two
    private const int SubBuckets = 1 << SubBucketBits;
    private const int LinearLimit = SubBuckets * 2;            // 0..255 counted exactly
    private const int MaxExponent = 40;
    private const long MaxValue = (1L << (MaxExponent + 1)) - 1;
    private const int BucketCount = LinearLimit + (MaxExponent - SubBucketBits) * SubBuckets;

    private readonly long[] _counts = new long[BucketCount];
    private long _count;
    private long _sum;
    private long _max = -1;
    private long _min = long.MaxValue;

    /// <summary>Values recorded.</summary>
    public long Count => Interlocked.Read(ref _count);

    /// <summary>The largest value recorded (exact), or 0 when empty.</summary>
    public long Max => Math.Max(Interlocked.Read(ref _max), 0);

    /// <summary>The smallest value recorded (exact), or 0 when empty.</summary>
    public long Min => Count == 0 ? 0 : Interlocked.Read(ref _min);

    /// <summary>The mean of the values recorded (exact), or 0 when empty.</summary>
    public double Mean => Count == 0 ? 0 : (double)Interlocked.Read(ref _sum) / Count;

    /// <summary>Counts one value; negative values count as 0.</summary>
    public void Record(long value)
    {
        value = Math.Clamp(value, 0, MaxValue);
        Interlocked.Increment(ref _counts[IndexOf(value)]);
        Interlocked.Increment(ref _count);
        Interlocked.Add(ref _sum, value);
        long seen;
        while (value > (seen = Interlocked.Read(ref _max)) && Interlocked.CompareExchange(ref _max, value, seen) != seen)
        {
        }

        while (value < (seen = Interlocked.Read(ref _min)) && Interlocked.CompareExchange(ref _min, value, seen) != seen)
        {
        }
    }

    /// <summary>
    /// The value at <paramref name="percentile"/> (0–100): the smallest recorded value v, up to bucket
    /// precision, with at least that share of values ≤ v; never above <see cref="Max"/>. 0 when empty.
    /// </summary>
    public long ValueAtPercentile(double percentile)
    {
        if (double.IsNaN(percentile) || percentile < 0 || percentile > 100)
        {
            throw new ArgumentOutOfRangeException(nameof(percentile), percentile, "A percentile is between 0 and 100.");
        }

        var total = Count;
        if (total == 0) return 0;
        var rank = Math.Max(1, (long)Math.Ceiling(percentile / 100 * total));
        long seen = 0;
        for (var i = 0; i < BucketCount; i++)
        {
            seen += Interlocked.Read(ref _counts[i]);
            if (seen >= rank)
            {
                return Math.Clamp(HighestValueIn(i), Min, Max);
            }
        }

        return Max;
    }

    /// <summary>Adds every value of <paramref name="other"/> to this histogram.</summary>
    public void Add(LatencyHistogram other)
    {
        ArgumentNullException.ThrowIfNull(other);
        for (var i = 0; i < BucketCount; i++)
        {
            var c = Interlocked.Read(ref other._counts[i]);
            if (c != 0) Interlocked.Add(ref _counts[i], c);
        }

        Interlocked.Add(ref _count, other.Count);
        Interlocked.Add(ref _sum, Interlocked.Read(ref other._sum));
        if (other.Count > 0)
        {
            long seen;
            var max = other.Max;
            var min = other.Min;
            while (max > (seen = Interlocked.Read(ref _max)) && Interlocked.CompareExchange(ref _max, max, seen) != seen)
            {
            }

            while (min < (seen = Interlocked.Read(ref _min)) && Interlocked.CompareExchange(ref _min, min, seen) != seen)
            {
            }
        }
    }

    /// <summary>Forgets every value (not atomic with concurrent <see cref="Record"/> calls).</summary>
    public void Reset()
    {
        Array.Clear(_counts);
        Interlocked.Exchange(ref _count, 0);
        Interlocked.Exchange(ref _sum, 0);
        Interlocked.Exchange(ref _max, -1);
        Interlocked.Exchange(ref _min, long.MaxValue);
    }

    private static int IndexOf(long value)
    {
        if (value < LinearLimit) return (int)value;
        var exponent = 63 - System.Numerics.BitOperations.LeadingZeroCount((ulong)value); // ≥ 8
        var shift = exponent - SubBucketBits;
        var sub = (int)(value >> shift) - SubBuckets;                                    // 0..127
        return LinearLimit + (exponent - SubBucketBits - 1) * SubBuckets + sub;
    }

    private static long HighestValueIn(int index)
    {
        if (index < LinearLimit) return index;
        var rel = index - LinearLimit;
        var exponent = rel / SubBuckets + SubBucketBits + 1;
        var sub = rel % SubBuckets + SubBuckets;
        var shift = exponent - SubBucketBits;
        return ((long)(sub + 1) << shift) - 1;
    }
}
