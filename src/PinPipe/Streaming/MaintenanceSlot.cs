namespace PinPipe.Streaming;

/// <summary>
/// The stream job's work beside the micro-batches, a bounded number of pieces at a time across its tables: a table's
/// compaction, a table's DuckDB replaced by a new one. The tables fill at the same pace, so without it their compactions and
/// reopens came due together, and three of them at once on two cores delayed every table's micro-batches (BENCHMARKS.md). A
/// table whose work is due while the slots are taken tries again after its next micro-batch.
/// </summary>
internal sealed class MaintenanceSlot
{
    private readonly int _slots;
    private int _free;

    /// <param name="slots">How many pieces of work may run at once (at least 1).</param>
    public MaintenanceSlot(int slots = 1)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(slots, 1);
        _slots = _free = slots;
    }

    /// <summary>
    /// The slots of a job of <paramref name="tables"/> tables on <paramref name="cores"/> cores: one per two cores (a piece of
    /// work runs on one DuckDB thread, beside the micro-batches and, in <c>pinpipe up</c>, the other services), at least one
    /// and at most one per table.
    /// </summary>
    public static int For(int tables, int cores) => Math.Clamp(cores / 2, 1, Math.Max(1, tables));

    /// <summary>Takes a slot when one is free; the taker releases it once its work has ended.</summary>
    public bool TryTake()
    {
        while (true)
        {
            int free = Volatile.Read(ref _free);
            if (free == 0) return false;
            if (Interlocked.CompareExchange(ref _free, free - 1, free) == free) return true;
        }
    }

    /// <summary>Whether every slot is taken.</summary>
    public bool Taken => Volatile.Read(ref _free) == 0;

    /// <summary>Frees a slot taken by <see cref="TryTake"/>.</summary>
    /// <exception cref="InvalidOperationException">No slot was taken.</exception>
    public void Release()
    {
        if (Interlocked.Increment(ref _free) > _slots)
        {
            Interlocked.Decrement(ref _free);
            throw new InvalidOperationException("The maintenance slot was released but not taken.");
        }
    }
}
