namespace PinPipe.Streaming;

/// <summary>
/// When a table's micro-batch closes, as Spark's processing-time trigger starts them: on a grid of
/// <see cref="StreamOptions.Trigger"/> intervals from the last close. While records keep coming a micro-batch closes one
/// trigger after the one before it closed, so a micro-batch that took longer than the trigger is followed by one that
/// closes as soon as it has read what came meanwhile, and one that took less waits out the rest of the interval. After
/// an idle spell the first record closes its micro-batch at the grid's next tick: at most one trigger after it was read.
/// </summary>
/// <remarks>Timestamps are <see cref="TimeProvider.GetTimestamp"/> values. One micro-batch at a time: not thread-safe.</remarks>
internal sealed class MicroBatchTrigger(TimeSpan trigger, TimeProvider time)
{
    private readonly long _period = Math.Max(1, (long)Math.Round(trigger.TotalSeconds * time.TimestampFrequency));
    private long _closedAt; // the last micro-batch's close; 0 before the first

    /// <summary>
    /// The micro-batch's first records were read at <paramref name="readAt"/>. <paramref name="waiting"/>: they were
    /// there at its first read, so they came after the last close at the earliest, and the micro-batch closes one
    /// trigger after it. Returns the timestamp it closes at (in the past when the last micro-batch took longer than the trigger).
    /// </summary>
    public long CloseAt(long readAt, bool waiting)
    {
        if (_closedAt == 0) return readAt + _period;
        if (waiting) return _closedAt + _period;
        // The first tick of the grid at or after the read; the next interval's when the read came before one interval ran out.
        long intervals = Math.Max(1, (readAt - _closedAt + _period - 1) / _period);
        return _closedAt + (intervals * _period);
    }

    /// <summary>The micro-batch closed at <paramref name="at"/> (its trigger, or full).</summary>
    public void Closed(long at) => _closedAt = at;
}
