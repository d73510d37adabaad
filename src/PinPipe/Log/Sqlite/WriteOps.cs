namespace PinPipe.Log.Sqlite;

/// <summary>A unit of work for the log's writer thread.</summary>
internal abstract class WriteOp;

/// <summary>An append, validated by the caller: each record's partition is already chosen.</summary>
internal sealed class AppendOp(TopicState topic, IReadOnlyList<LogRecord> records, int[] partitionOf, int singlePartition, long bytes) : WriteOp
{
    public TopicState Topic { get; } = topic;

    public IReadOnlyList<LogRecord> Records { get; } = records;

    /// <summary>Each record's partition; ignored when <see cref="SinglePartition"/> is set.</summary>
    public int[] PartitionOf { get; } = partitionOf;

    /// <summary>The partition of all records, or -1 when they go to several.</summary>
    public int SinglePartition { get; } = singlePartition;

    public long Bytes { get; } = bytes;

    public TaskCompletionSource<IReadOnlyList<RecordPosition>> Completion { get; } = new(TaskCreationOptions.RunContinuationsAsynchronously);
}

/// <summary>Work that runs alone (its own transaction) on the writer connection: topic changes, offset commits, retention.</summary>
internal abstract class ExclusiveOp : WriteOp
{
    public abstract void Execute();
}

internal sealed class ExclusiveOp<T>(Func<T> work) : ExclusiveOp
{
    public TaskCompletionSource<T> Completion { get; } = new(TaskCreationOptions.RunContinuationsAsynchronously);

    public override void Execute()
    {
        try
        {
            Completion.TrySetResult(work());
        }
#pragma warning disable CA1031 // the error is handed to the caller awaiting Completion
        catch (Exception ex)
#pragma warning restore CA1031
        {
            Completion.TrySetException(ex);
        }
    }
}
