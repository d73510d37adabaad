using PinPipe.Lake.Delta;

namespace PinPipe.Tests.Lake.Delta;

/// <summary>Each operation against LINQ's answer over random ascending lists (duplicates where the operation allows them).</summary>
public sealed class SortedKeysTests
{
    private static long[] Ascending(Random random, int maxCount, int low, int high, bool distinct) =>
        (distinct
            ? Enumerable.Range(0, random.Next(0, maxCount)).Select(_ => (long)random.Next(low, high)).Distinct()
            : Enumerable.Range(0, random.Next(0, maxCount)).Select(_ => (long)random.Next(low, high)))
        .Order().ToArray();

    [Fact]
    public void Intersect_finds_exactly_the_keys_a_file_holds()
    {
        var random = new Random(20261206);
        for (int round = 0; round < 500; round++)
        {
            long[] file = Ascending(random, 200, -50, 400, distinct: true);
            long[] keys = Ascending(random, 100, -100, 500, distinct: false);
            var held = new HashSet<long> { 10_000 }; // found earlier, in another file: kept
            SortedKeys.Intersect(keys, file, held);
            var expected = keys.Intersect(file).Append(10_000).ToHashSet();
            Assert.True(expected.SetEquals(held), $"round {round}");
        }
    }

    [Fact]
    public void Union_of_ascending_distinct_arrays_is_their_ascending_distinct_keys()
    {
        var random = new Random(20261207);
        for (int round = 0; round < 300; round++)
        {
            var parts = Enumerable.Range(0, random.Next(0, 9)).Select(_ => Ascending(random, 60, -200, 200, distinct: true)).ToArray();
            Assert.Equal(parts.SelectMany(p => p).Distinct().Order().ToArray(), SortedKeys.Union(parts));
        }
    }

    [Fact]
    public void AnyInRange_is_true_exactly_when_a_key_lies_between_the_bounds_inclusive()
    {
        var random = new Random(20261208);
        for (int round = 0; round < 1000; round++)
        {
            long[] keys = Ascending(random, 40, -100, 100, distinct: false);
            long min = random.Next(-120, 120), max = min + random.Next(-5, 40); // an empty range too, max < min
            Assert.True(keys.Any(k => k >= min && k <= max) == SortedKeys.AnyInRange(keys, min, max), $"round {round}: [{min}, {max}]");
        }
        Assert.False(SortedKeys.AnyInRange([], long.MinValue, long.MaxValue));
        Assert.True(SortedKeys.AnyInRange([long.MaxValue], long.MaxValue, long.MaxValue));
    }

    [Fact]
    public void Except_keeps_the_keys_not_held_and_counts_the_held_keys_it_found()
    {
        var random = new Random(20261209);
        for (int round = 0; round < 500; round++)
        {
            long[] keys = Ascending(random, 80, -100, 100, distinct: true);
            // Mostly a subset of the keys, as the micro-batch's check gives; sometimes a held key the keys lack.
            long[] held = keys.Where(_ => random.Next(3) == 0).Concat(random.Next(4) == 0 ? [random.Next(-100, 100)] : []).Distinct().Order().ToArray();
            long[] rest = SortedKeys.Except(keys, held, out int matched);
            Assert.Equal(keys.Except(held).ToArray(), rest);
            Assert.Equal(held.Count(keys.Contains), matched);
        }
    }
}
