namespace PinPipe.Log.Kinesis;

/// <summary>Where a shard iterator starts (GetShardIterator's <c>ShardIteratorType</c>).</summary>
public enum ShardIteratorType
{
    /// <summary>The oldest record the shard still holds (<c>TRIM_HORIZON</c>).</summary>
    TrimHorizon,
    /// <summary>After the newest record: only records written from now on (<c>LATEST</c>).</summary>
    Latest,
    /// <summary>At the record with the given sequence number (<c>AT_SEQUENCE_NUMBER</c>).</summary>
    AtSequenceNumber,
    /// <summary>Just after the record with the given sequence number (<c>AFTER_SEQUENCE_NUMBER</c>): a checkpoint's next record.</summary>
    AfterSequenceNumber,
}

/// <summary>One shard of a stream as ListShards describes it.</summary>
/// <param name="ShardId">The shard's id (<c>shardId-000000000000</c>).</param>
/// <param name="ParentShardId">The shard this one was split from, or the first of two merged into it; null for a shard of the stream's creation.</param>
/// <param name="AdjacentParentShardId">The second shard merged into this one; null otherwise.</param>
/// <param name="StartingHashKey">The first hash key of the shard's range (decimal).</param>
/// <param name="EndingHashKey">The last hash key of the shard's range (decimal).</param>
/// <param name="StartingSequenceNumber">The sequence number of the shard's start.</param>
/// <param name="EndingSequenceNumber">Set once the shard is closed (split or merged): nothing is written to it any more.</param>
public sealed record KinesisShard(string ShardId, string? ParentShardId, string? AdjacentParentShardId, string StartingHashKey, string EndingHashKey,
    string StartingSequenceNumber, string? EndingSequenceNumber)
{
    /// <summary>The shard was split or merged: it takes no records, and its children are read after it.</summary>
    public bool IsClosed => EndingSequenceNumber is not null;

    /// <summary>The shards this one descends from (zero, one or two).</summary>
    public IEnumerable<string> Parents()
    {
        if (ParentShardId is not null) yield return ParentShardId;
        if (AdjacentParentShardId is not null) yield return AdjacentParentShardId;
    }
}

/// <summary>One record read from a shard.</summary>
/// <param name="ShardId">The shard it was read from.</param>
/// <param name="SequenceNumber">Its sequence number: unique in the shard and increasing with the order of writes (decimal, up to 128 digits).</param>
/// <param name="PartitionKey">The partition key it was written with.</param>
/// <param name="Data">Its bytes.</param>
/// <param name="ApproximateArrivalTimestamp">When Kinesis took it, to the millisecond; null when the answer had none.</param>
public sealed record KinesisRecord(string ShardId, string SequenceNumber, string PartitionKey, ReadOnlyMemory<byte> Data, DateTimeOffset? ApproximateArrivalTimestamp);

/// <summary>What one GetRecords returned.</summary>
/// <param name="Records">The records, in the shard's order.</param>
/// <param name="NextShardIterator">Where the next read goes on; null once a closed shard is read to its end (SHARD_END).</param>
/// <param name="MillisBehindLatest">How far behind the shard's newest record the read is, in milliseconds (0 at the tip).</param>
public sealed record KinesisReadResult(IReadOnlyList<KinesisRecord> Records, string? NextShardIterator, long MillisBehindLatest);

/// <summary>A stream as DescribeStreamSummary describes it.</summary>
/// <param name="StreamName">Its name.</param>
/// <param name="StreamArn">Its ARN.</param>
/// <param name="StreamStatus"><c>CREATING</c>, <c>ACTIVE</c>, <c>UPDATING</c> or <c>DELETING</c>.</param>
/// <param name="OpenShardCount">Its open shards.</param>
/// <param name="CreationTimestamp">When it was created: tells one incarnation of a name from the next.</param>
/// <param name="RetentionPeriodHours">How long it keeps records.</param>
public sealed record KinesisStreamSummary(string StreamName, string StreamArn, string StreamStatus, int OpenShardCount, DateTimeOffset CreationTimestamp,
    int RetentionPeriodHours);

/// <summary>One record to write with PutRecords.</summary>
/// <param name="Data">Its bytes.</param>
/// <param name="PartitionKey">Its partition key: the MD5 of it picks the shard.</param>
/// <param name="ExplicitHashKey">A decimal hash key that picks the shard instead; null to use the partition key's.</param>
public readonly record struct KinesisPutEntry(ReadOnlyMemory<byte> Data, string PartitionKey, string? ExplicitHashKey = null);

/// <summary>Where a written record went, or why it was not written (one PutRecords entry's outcome).</summary>
/// <param name="SequenceNumber">Its sequence number; null when it failed.</param>
/// <param name="ShardId">Its shard; null when it failed.</param>
/// <param name="ErrorCode">Why it failed (<c>ProvisionedThroughputExceededException</c>, <c>InternalFailure</c>); null when written.</param>
/// <param name="ErrorMessage">Kinesis's words for the failure.</param>
public readonly record struct KinesisPutOutcome(string? SequenceNumber, string? ShardId, string? ErrorCode = null, string? ErrorMessage = null)
{
    /// <summary>The record was written.</summary>
    public bool Succeeded => ErrorCode is null && SequenceNumber is not null;
}
