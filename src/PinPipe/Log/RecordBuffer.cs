namespace PinPipe.Log;

/// <summary>
/// Records read from one partition into memory that is reused from one read to the next
/// (<see cref="ILog.ReadIntoAsync"/>): their keys and values in one array, and where each one is. A consumer that only
/// passes the bytes on (the sink) reads without allocating per record. What <see cref="Key"/> and <see cref="Value"/>
/// return is valid until the next read into the buffer or <see cref="Clear"/>.
/// </summary>
public sealed class RecordBuffer
{
    /// <summary>The capacity kept across reads: a read of larger records than that gives its memory back at the next <see cref="Clear"/>.</summary>
    private const int KeptBytes = 8 << 20;

    private byte[] _bytes = [];
    private Entry[] _entries = [];
    private int _used;

    /// <summary>The records held, in offset order.</summary>
    public int Count { get; private set; }

    /// <summary>The offset of record <paramref name="index"/>.</summary>
    public long Offset(int index) => At(index).Offset;

    /// <summary>The timestamp of record <paramref name="index"/> (ms since the Unix epoch).</summary>
    public long TimestampMs(int index) => At(index).TimestampMs;

    /// <summary>False when record <paramref name="index"/> has a null key.</summary>
    public bool HasKey(int index) => At(index).KeyLength >= 0;

    /// <summary>False when record <paramref name="index"/> has a null value (a tombstone).</summary>
    public bool HasValue(int index) => At(index).ValueLength >= 0;

    /// <summary>The key of record <paramref name="index"/>; empty when it is null (<see cref="HasKey"/>).</summary>
    public ReadOnlySpan<byte> Key(int index)
    {
        ref readonly Entry e = ref At(index);
        return _bytes.AsSpan(e.Start, Math.Max(0, e.KeyLength));
    }

    /// <summary>The value of record <paramref name="index"/>; empty when it is null (<see cref="HasValue"/>).</summary>
    public ReadOnlySpan<byte> Value(int index)
    {
        ref readonly Entry e = ref At(index);
        return _bytes.AsSpan(e.Start + Math.Max(0, e.KeyLength), Math.Max(0, e.ValueLength));
    }

    /// <summary>Empties the buffer, keeping its memory unless the last read needed more than 8 MiB.</summary>
    public void Clear()
    {
        Count = 0;
        _used = 0;
        if (_bytes.Length > KeptBytes) _bytes = [];
    }

    /// <summary>Adds a record after the ones held (its bytes are copied).</summary>
    public void Add(long offset, long timestampMs, byte[]? key, byte[]? value) =>
        Add(offset, timestampMs, key, key is null, value, value is null);

    /// <summary>Adds a record after the ones held (its bytes are copied); a null key or value is flagged, its span ignored.</summary>
    public void Add(long offset, long timestampMs, ReadOnlySpan<byte> key, bool keyIsNull, ReadOnlySpan<byte> value, bool valueIsNull)
    {
        int keyLength = keyIsNull ? -1 : key.Length;
        int valueLength = valueIsNull ? -1 : value.Length;
        int needed = Math.Max(0, keyLength) + Math.Max(0, valueLength);
        if (_used + needed > _bytes.Length)
        {
            var bigger = new byte[Math.Max(_used + needed, Math.Max(64 << 10, 2 * _bytes.Length))];
            _bytes.AsSpan(0, _used).CopyTo(bigger);
            _bytes = bigger;
        }
        if (Count == _entries.Length) Array.Resize(ref _entries, Math.Max(256, 2 * _entries.Length));
        _entries[Count++] = new Entry(offset, timestampMs, _used, keyLength, valueLength);
        if (keyLength > 0) key.CopyTo(_bytes.AsSpan(_used));
        _used += Math.Max(0, keyLength);
        if (valueLength > 0) value.CopyTo(_bytes.AsSpan(_used));
        _used += Math.Max(0, valueLength);
    }

    private ref readonly Entry At(int index)
    {
        if ((uint)index >= (uint)Count) throw new ArgumentOutOfRangeException(nameof(index), index, $"The buffer holds {Count} records.");
        return ref _entries[index];
    }

    /// <summary>Where a record's key and value are: the key at <c>Start</c>, the value right after it; a length of -1 is null.</summary>
    private readonly record struct Entry(long Offset, long TimestampMs, int Start, int KeyLength, int ValueLength);
}
