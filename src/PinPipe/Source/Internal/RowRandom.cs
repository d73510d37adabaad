namespace PinPipe.Source.Internal;

/// <summary>
/// SplitMix64: a tiny, fast generator whose output is fixed by this code alone (not by the .NET
/// version), so synthetic data stays byte-identical across runtimes. One instance per row.
/// </summary>
internal struct RowRandom
{
    private ulong _state;

    public RowRandom(int seed, long index)
    {
        _state = Mix(((ulong)(uint)seed << 32) ^ 0x5EED_0000_0000_0000UL) ^ Mix((ulong)index + 0x632B_E59B_D9B4_E019UL);
    }

    public RowRandom(ulong state) => _state = state;

    public ulong NextULong()
    {
        _state += 0x9E37_79B9_7F4A_7C15UL;
        return Mix(_state);
    }

    /// <summary>Uniform in [0, 1).</summary>
    public double NextDouble() => (NextULong() >> 11) * (1.0 / (1UL << 53));

    /// <summary>Uniform in [0, n).</summary>
    public int Next(int n) => (int)(((NextULong() >> 32) * (ulong)n) >> 32);

    /// <summary>Uniform in [min, max] (inclusive).</summary>
    public int Between(int min, int max) => min + Next(max - min + 1);

    public long NextLong(long n) => (long)(NextULong() % (ulong)n);

    public bool Chance(double p) => NextDouble() < p;

    private static ulong Mix(ulong z)
    {
        z = (z ^ (z >> 30)) * 0xBF58_476D_1CE4_E5B9UL;
        z = (z ^ (z >> 27)) * 0x94D0_49BB_1331_11EBUL;
        return z ^ (z >> 31);
    }
}

/// <summary>Zipf-like (weight 1/rank^s) choice among n items by binary search on the cumulative weights.</summary>
internal sealed class ZipfTable
{
    private readonly double[] _cumulative;

    public ZipfTable(int n, double exponent)
    {
        _cumulative = new double[n];
        double sum = 0;
        for (var i = 0; i < n; i++)
        {
            sum += 1.0 / Math.Pow(i + 1, exponent);
            _cumulative[i] = sum;
        }
        for (var i = 0; i < n; i++) _cumulative[i] /= sum;
    }

    public int Count => _cumulative.Length;

    public int Sample(ref RowRandom random)
    {
        var u = random.NextDouble();
        var i = Array.BinarySearch(_cumulative, u);
        if (i < 0) i = ~i;
        return Math.Min(i, _cumulative.Length - 1);
    }
}
