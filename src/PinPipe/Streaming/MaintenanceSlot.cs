namespace PinPipe.Streaming;

/// <summary>
/// The stream job's work beside the micro-batches, one piece at a time across its tables: a table's compaction, a table's
/// DuckDB replaced by a new one. The tables fill at the same pace, so without it their compactions and reopens came due
/// together, and three of them at once on two cores delayed every table's micro-batches (BENCHMARKS.md). A table whose
/// work is due while another's runs tries again after its next micro-batch.
/// </summary>
internal sealed class MaintenanceSlot
{
    private int _taken;

    /// <summary>Takes the slot when it is free; the taker releases it once its work has ended.</summary>
    public bool TryTake() => Interlocked.CompareExchange(ref _taken, 1, 0) == 0;

    /// <summary>Whether some table's work holds the slot.</summary>
    public bool Taken => Volatile.Read(ref _taken) == 1;

    /// <summary>Frees the slot taken by <see cref="TryTake"/>.</summary>
    /// <exception cref="InvalidOperationException">The slot was not taken.</exception>
    public void Release()
    {
        if (Interlocked.Exchange(ref _taken, 0) == 0) throw new InvalidOperationException("The maintenance slot was released but not taken.");
    }
}
