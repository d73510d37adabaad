using System.Text;
using PinPipe.Log;

namespace PinPipe.Tests.Log;

public sealed class RecordBufferTests
{
    private static string Text(ReadOnlySpan<byte> bytes) => Encoding.UTF8.GetString(bytes);

    [Fact]
    public void Records_keep_their_offsets_timestamps_keys_and_values_and_null_differs_from_empty()
    {
        var buffer = new RecordBuffer();
        buffer.Add(7, 100, "k"u8.ToArray(), "value"u8.ToArray());
        buffer.Add(8, 101, null, null);
        buffer.Add(9, 102, [], []);

        Assert.Equal(3, buffer.Count);
        Assert.Equal([7L, 8, 9], Enumerable.Range(0, 3).Select(buffer.Offset));
        Assert.Equal([100L, 101, 102], Enumerable.Range(0, 3).Select(buffer.TimestampMs));
        Assert.Equal("k", Text(buffer.Key(0)));
        Assert.Equal("value", Text(buffer.Value(0)));
        Assert.Equal([true, false, true], Enumerable.Range(0, 3).Select(buffer.HasKey));
        Assert.Equal([true, false, true], Enumerable.Range(0, 3).Select(buffer.HasValue));
        Assert.Equal(0, buffer.Value(1).Length);
        Assert.Equal(0, buffer.Key(2).Length);
    }

    [Fact]
    public void Records_added_after_the_memory_grew_leave_the_earlier_ones_intact()
    {
        var buffer = new RecordBuffer();
        var values = Enumerable.Range(0, 5_000).Select(i => Encoding.UTF8.GetBytes($"{{\"n\":{i},\"pad\":\"{new string('x', i % 97)}\"}}")).ToList();
        for (int i = 0; i < values.Count; i++) buffer.Add(i, i, i % 3 == 0 ? null : Encoding.UTF8.GetBytes($"key{i}"), values[i]);

        Assert.Equal(values.Count, buffer.Count);
        for (int i = 0; i < values.Count; i++)
        {
            Assert.Equal(values[i], buffer.Value(i).ToArray());
            Assert.Equal(i % 3 == 0 ? null : $"key{i}", buffer.HasKey(i) ? Text(buffer.Key(i)) : null);
        }
    }

    [Fact]
    public void Clear_empties_it_for_the_next_read_even_after_records_larger_than_the_memory_it_keeps()
    {
        var buffer = new RecordBuffer();
        var large = new byte[9 << 20];
        large[^1] = 42;
        buffer.Add(0, 0, null, large);
        Assert.Equal(42, buffer.Value(0)[^1]);

        buffer.Clear();
        Assert.Equal(0, buffer.Count);
        buffer.Add(1, 0, null, "small"u8.ToArray());
        Assert.Equal(1, buffer.Count);
        Assert.Equal(1, buffer.Offset(0));
        Assert.Equal("small", Text(buffer.Value(0)));
    }

    [Theory]
    [InlineData(-1)]
    [InlineData(1)]
    public void An_index_outside_the_records_held_is_refused_naming_how_many_there_are(int index)
    {
        var buffer = new RecordBuffer();
        buffer.Add(0, 0, null, "a"u8.ToArray());
        var ex = Assert.Throws<ArgumentOutOfRangeException>(() => buffer.Value(index).Length);
        Assert.Contains("holds 1 records", ex.Message, StringComparison.Ordinal);
        buffer.Clear();
        Assert.Throws<ArgumentOutOfRangeException>(() => buffer.Offset(0));
    }
}
