namespace PinPipe.Sink;

/// <summary>A snapshot of an <see cref="S3SinkConnector"/>'s counters, for progress displays.</summary>
/// <param name="RecordsRead">Records read from the log (a record re-read after a retry counts again).</param>
/// <param name="RecordsWritten">Records in objects that were written and committed.</param>
/// <param name="NullValuesSkipped">Records with a null value, skipped (<c>behavior.on.null.values=ignore</c>).</param>
/// <param name="ObjectsWritten">Objects written and committed.</param>
/// <param name="BytesWritten">Bytes of those objects.</param>
/// <param name="Failures">Failed attempts (store or log errors) that made a partition restart from its committed offset.</param>
/// <param name="Topics">The same counters per topic.</param>
public sealed record SinkStats(
    long RecordsRead,
    long RecordsWritten,
    long NullValuesSkipped,
    long ObjectsWritten,
    long BytesWritten,
    long Failures,
    IReadOnlyDictionary<string, SinkTopicStats> Topics);

/// <summary>One topic's counters in a <see cref="SinkStats"/> snapshot.</summary>
public sealed record SinkTopicStats(string Topic, long RecordsRead, long RecordsWritten, long NullValuesSkipped, long ObjectsWritten, long BytesWritten, long Failures);

/// <summary>Live counters of one topic, updated by its partition writers.</summary>
internal sealed class TopicCounters(string topic)
{
    internal long RecordsRead;
    internal long RecordsWritten;
    internal long NullValuesSkipped;
    internal long ObjectsWritten;
    internal long BytesWritten;
    internal long Failures;

    internal SinkTopicStats Snapshot() => new(
        topic,
        Interlocked.Read(ref RecordsRead),
        Interlocked.Read(ref RecordsWritten),
        Interlocked.Read(ref NullValuesSkipped),
        Interlocked.Read(ref ObjectsWritten),
        Interlocked.Read(ref BytesWritten),
        Interlocked.Read(ref Failures));
}
