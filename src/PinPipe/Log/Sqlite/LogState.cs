namespace PinPipe.Log.Sqlite;

/// <summary>In-memory state of a topic. Its partitions never change; <see cref="Deleted"/> is set once the topic is gone.</summary>
internal sealed class TopicState(long id, string name, PartitionState[] partitions, string uuid)
{
    private int _roundRobin = -1;
    private volatile bool _deleted;

    public long Id { get; } = id;

    public string Name { get; } = name;

    /// <summary>The incarnation's id (<see cref="TopicDescription.TopicId"/>).</summary>
    public string Uuid { get; } = uuid;

    public TopicDescription Describe() => new(Name, Partitions.Length, Uuid);

    public PartitionState[] Partitions { get; } = partitions;

    public bool Deleted => _deleted;

    public void MarkDeleted()
    {
        _deleted = true;
        foreach (var p in Partitions) p.Wake();
    }

    /// <summary>The partition for a call's records without key: round-robin across calls.</summary>
    public int NextStickyPartition() => (int)((uint)Interlocked.Increment(ref _roundRobin) % (uint)Partitions.Length);
}

/// <summary>
/// In-memory state of a partition. Readers see <see cref="NextOffset"/> and <see cref="LogStartOffset"/> (committed);
/// the writer task alone touches <see cref="PendingNext"/> and <see cref="SizeBytes"/>.
/// </summary>
internal sealed class PartitionState(long topicId, int partition, long nextOffset, long logStartOffset, long sizeBytes)
{
    private long _next = nextOffset;
    private long _logStart = logStartOffset;
    private TaskCompletionSource _signal = new(TaskCreationOptions.RunContinuationsAsynchronously);

    public long TopicId { get; } = topicId;

    public int Partition { get; } = partition;

    /// <summary>The next offset to be written, as committed.</summary>
    public long NextOffset => Volatile.Read(ref _next);

    /// <summary>The first offset still retained.</summary>
    public long LogStartOffset => Volatile.Read(ref _logStart);

    /// <summary>Writer only: the next offset including the current, uncommitted group.</summary>
    public long PendingNext { get; set; } = nextOffset;

    /// <summary>Writer only: the bytes of payload the partition holds.</summary>
    public long SizeBytes { get; set; } = sizeBytes;

    /// <summary>Completes at the next commit that touches the partition.</summary>
    public Task Signal => Volatile.Read(ref _signal).Task;

    /// <summary>Writer only, after a commit: makes the new end offset visible and wakes the waiters.</summary>
    public void Publish()
    {
        Volatile.Write(ref _next, PendingNext);
        Wake();
    }

    /// <summary>Writer only, after a failed group: forgets the uncommitted offsets.</summary>
    public void Revert() => PendingNext = NextOffset;

    public void SetLogStart(long offset) => Volatile.Write(ref _logStart, offset);

    public void Wake() => Interlocked.Exchange(ref _signal, new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously)).TrySetResult();
}
