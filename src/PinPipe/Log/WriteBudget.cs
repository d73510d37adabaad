namespace PinPipe.Log;

/// <summary>
/// What a log holds of appends that are not durable yet (queued for the embedded log's writer, or in Kafka's producer
/// queue): their bytes and records, against limits. An append reserves its share before anything of it is queued, and
/// an append that would pass a limit is refused whole, so a log that cannot keep up sheds load instead of holding ever
/// more request bodies in memory. When nothing is held, any append is taken, however large (it may still be refused
/// for its size by <see cref="LogOptions.MaxRecordBytes"/>).
/// </summary>
internal sealed class WriteBudget(long maxBytes, long maxRecords)
{
    private readonly Lock _lock = new();
    private long _bytes;
    private long _records;

    /// <summary>The most bytes held at once.</summary>
    public long MaxBytes { get; } = maxBytes;

    /// <summary>The most records held at once.</summary>
    public long MaxRecords { get; } = maxRecords;

    /// <summary>Bytes held right now.</summary>
    public long Bytes { get { lock (_lock) return _bytes; } }

    /// <summary>Reserves <paramref name="bytes"/> and <paramref name="records"/>; false (nothing reserved) when that would pass a limit.</summary>
    public bool TryReserve(long bytes, long records, out long heldBytes)
    {
        lock (_lock)
        {
            heldBytes = _bytes;
            bool empty = _bytes == 0 && _records == 0;
            if (!empty && (_bytes + bytes > MaxBytes || _records + records > MaxRecords)) return false;
            _bytes += bytes;
            _records += records;
            return true;
        }
    }

    /// <summary>Gives back what <see cref="TryReserve"/> reserved, once the append is durable or failed.</summary>
    public void Release(long bytes, long records)
    {
        lock (_lock)
        {
            _bytes -= bytes;
            _records -= records;
        }
    }
}
