using System.Diagnostics.CodeAnalysis;

namespace PinPipe.Log;

/// <summary>
/// A durable, partitioned, append-only log of records: the Kafka model. Topics have a fixed number of
/// partitions; each partition is a sequence of records with contiguous offsets starting at the
/// partition's log-start offset. Consumer groups keep one committed offset per partition.
/// </summary>
/// <remarks>
/// Implementations: <c>Sqlite/SqliteLog</c> (embedded, the default) and <c>Kafka/KafkaLog</c>
/// (Apache Kafka/MSK through Confluent.Kafka). Both must pass the same contract tests.
/// Guarantee: when <see cref="AppendAsync"/> completes, every record of the call is durable (fsync'd,
/// or acknowledged by all in-sync replicas) and the call's records are either all in the log, in
/// order, or none is.
/// </remarks>
public interface ILog : IAsyncDisposable
{
    /// <summary>Creates a topic; does nothing when it exists with the same partition count.</summary>
    /// <exception cref="LogException">code <see cref="LogErrorCode.InvalidTopic"/> for a bad name or partition count.</exception>
    ValueTask CreateTopicAsync(string topic, int partitions, CancellationToken cancellationToken = default);

    /// <summary>
    /// Deletes a topic, its records and every consumer group's committed offsets of it (as Kafka does). Returns false,
    /// having done nothing, when the topic does not exist.
    /// </summary>
    ValueTask<bool> DeleteTopicAsync(string topic, CancellationToken cancellationToken = default);

    /// <summary>
    /// As <see cref="DeleteTopicAsync(string, CancellationToken)"/>, but only when each of the consumer groups
    /// <paramref name="consumers"/> has consumed every record the topic holds (its committed offset is the high
    /// watermark of every partition; a group that never committed has consumed nothing). The embedded log checks and
    /// deletes in one step (no append or commit comes between); Kafka has no conditional delete, so an append
    /// between its check and its delete is deleted with the topic.
    /// </summary>
    /// <exception cref="LogException"><see cref="LogErrorCode.NotConsumed"/> when a group has not consumed every record:
    /// nothing was deleted, and the message names the group, the partitions and the records not consumed.</exception>
    ValueTask<bool> DeleteTopicAsync(string topic, IReadOnlyCollection<string> consumers, CancellationToken cancellationToken = default);

    /// <summary>All topics, ordered by name.</summary>
    ValueTask<IReadOnlyList<TopicDescription>> ListTopicsAsync(CancellationToken cancellationToken = default);

    /// <summary>
    /// Whether the log takes writes now: null when it does, else what is wrong, in one line (for <c>/readyz</c>). The
    /// default lists the topics (the brokers answer); an exception means not ready too.
    /// </summary>
    async ValueTask<string?> CheckReadyAsync(CancellationToken cancellationToken = default)
    {
        _ = await ListTopicsAsync(cancellationToken).ConfigureAwait(false);
        return null;
    }

    /// <summary>
    /// Every partition of every topic with its watermarks and, where the log knows it cheaply, the bytes it holds (for
    /// metrics). The default asks each partition's watermarks; a topic deleted meanwhile is left out.
    /// </summary>
    ValueTask<IReadOnlyList<PartitionSummary>> SummarizePartitionsAsync(CancellationToken cancellationToken = default) =>
        PartitionSummary.FromWatermarksAsync(this, cancellationToken);

    /// <summary>One topic, or null when it does not exist.</summary>
    ValueTask<TopicDescription?> DescribeTopicAsync(string topic, CancellationToken cancellationToken = default);

    /// <summary>
    /// Appends the records atomically and durably. A record's partition is its
    /// <see cref="LogRecord.Partition"/> when set, else chosen by the key's hash (Kafka's murmur2
    /// partitioner) or, for records without key, one partition for the whole call (sticky).
    /// Returns one position per record, in the order of <paramref name="records"/>.
    /// </summary>
    /// <exception cref="LogException"><see cref="LogErrorCode.UnknownTopic"/>, <see cref="LogErrorCode.UnknownPartition"/>,
    /// <see cref="LogErrorCode.RecordTooLarge"/>, <see cref="LogErrorCode.Overloaded"/> (retriable after a pause) when the log holds
    /// <see cref="LogOptions.MaxQueuedBytes"/> of appends not yet durable, <see cref="LogErrorCode.DiskFull"/> (retriable once space
    /// is freed), or <see cref="LogErrorCode.Unavailable"/> (retriable) when the write failed; in every case nothing was written.</exception>
    ValueTask<IReadOnlyList<RecordPosition>> AppendAsync(string topic, IReadOnlyList<LogRecord> records, CancellationToken cancellationToken = default);

    /// <summary>
    /// Reads up to <paramref name="maxRecords"/> records of one partition starting at
    /// <paramref name="offset"/> (clamped up to the log-start offset when retention removed it).
    /// Returns an empty list at the end of the partition; never blocks for new data.
    /// </summary>
    ValueTask<IReadOnlyList<ConsumedRecord>> ReadAsync(string topic, int partition, long offset, int maxRecords, CancellationToken cancellationToken = default);

    /// <summary>
    /// As <see cref="ReadAsync"/>, into <paramref name="into"/> (emptied first) instead of a new list: memory reused from
    /// one read to the next, for a consumer that only passes the bytes on. Returns the number of records read, 0 at the end
    /// of the partition. A log that cannot read into the buffer directly copies what <see cref="ReadAsync"/> returns.
    /// </summary>
    async ValueTask<int> ReadIntoAsync(string topic, int partition, long offset, int maxRecords, RecordBuffer into, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(into);
        into.Clear();
        IReadOnlyList<ConsumedRecord> records = await ReadAsync(topic, partition, offset, maxRecords, cancellationToken).ConfigureAwait(false);
        foreach (ConsumedRecord r in records) into.Add(r.Offset, r.TimestampMs, r.Key, r.Value);
        return into.Count;
    }

    /// <summary>Completes when the partition's end offset passes <paramref name="offset"/>, the timeout elapses or the token is cancelled.</summary>
    ValueTask WaitForDataAsync(string topic, int partition, long offset, TimeSpan timeout, CancellationToken cancellationToken = default);

    /// <summary>Low (log-start) and high (next offset to be written) watermarks of a partition.</summary>
    ValueTask<Watermarks> GetWatermarksAsync(string topic, int partition, CancellationToken cancellationToken = default);

    /// <summary>Commits consumer-group offsets (the next offset to read, as in Kafka) atomically.</summary>
    ValueTask CommitOffsetsAsync(string group, IReadOnlyList<TopicPartitionOffset> offsets, CancellationToken cancellationToken = default);

    /// <summary>The group's committed offset of a partition, or null when it never committed.</summary>
    ValueTask<long?> GetCommittedOffsetAsync(string group, string topic, int partition, CancellationToken cancellationToken = default);

    /// <summary>
    /// Joins consumer group <paramref name="group"/> as a new member subscribed to <paramref name="topics"/>: the group's
    /// members share the topics' partitions, one owner per partition (<see cref="IGroupMember"/>). Topics that do not exist
    /// yet are taken when they appear, as are new partitions. Returns once the member is in the group; its assignments
    /// follow on its own loop.
    /// </summary>
    /// <exception cref="ArgumentException">The options are not valid; the message lists every problem.</exception>
    ValueTask<IGroupMember> JoinGroupAsync(string group, IReadOnlyList<string> topics, GroupMemberOptions options, CancellationToken cancellationToken = default);

    /// <summary>Applies the retention settings now (they are also applied periodically). Returns the records removed.</summary>
    ValueTask<long> EnforceRetentionAsync(CancellationToken cancellationToken = default);
}

/// <summary>A record to append. <see cref="Key"/> and <see cref="Value"/> are opaque bytes (null = Kafka null).</summary>
public readonly record struct LogRecord(ReadOnlyMemory<byte>? Key, ReadOnlyMemory<byte>? Value, int? Partition = null, long? TimestampMs = null);

/// <summary>Where an appended record landed.</summary>
public readonly record struct RecordPosition(int Partition, long Offset);

/// <summary>A record read back from the log.</summary>
[SuppressMessage("Performance", "CA1819:Properties should not return arrays", Justification = "The bytes read from the log, owned by the consumer and passed on without a copy (the consume path is hot).")]
public sealed record ConsumedRecord(string Topic, int Partition, long Offset, long TimestampMs, byte[]? Key, byte[]? Value);

/// <summary>A topic, its partition count and the id of its incarnation.</summary>
/// <param name="TopicId">
/// The id given to the topic when it was created, as Kafka's topic id (a random UUID written in URL-safe base64 without
/// padding, as Kafka prints it): a topic deleted and created again under the same name has another id, so a consumer
/// that keeps the id with its checkpoint can tell. Null when the log cannot tell (a Kafka cluster older than 2.8).
/// </param>
public sealed record TopicDescription(string Name, int Partitions, string? TopicId = null);

/// <summary>A partition's watermarks and size (<see cref="ILog.SummarizePartitionsAsync"/>).</summary>
/// <param name="Bytes">Bytes of keys and values the partition holds; null when the log cannot tell cheaply (Kafka).</param>
public readonly record struct PartitionSummary(string Topic, int Partition, long Low, long High, long? Bytes)
{
    /// <summary>Every partition of every topic of <paramref name="log"/> from its watermarks; a topic deleted meanwhile is left out.</summary>
    public static async ValueTask<IReadOnlyList<PartitionSummary>> FromWatermarksAsync(ILog log, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(log);
        var list = new List<PartitionSummary>();
        foreach (var topic in await log.ListTopicsAsync(cancellationToken).ConfigureAwait(false))
        {
            try
            {
                for (int p = 0; p < topic.Partitions; p++)
                {
                    var w = await log.GetWatermarksAsync(topic.Name, p, cancellationToken).ConfigureAwait(false);
                    list.Add(new PartitionSummary(topic.Name, p, w.Low, w.High, null));
                }
            }
            catch (LogException ex) when (ex.Code == LogErrorCode.UnknownTopic)
            {
                list.RemoveAll(s => s.Topic == topic.Name);
            }
        }
        return list;
    }
}

/// <summary>Low (first retained) and high (next to be written) offsets of a partition.</summary>
public readonly record struct Watermarks(long Low, long High)
{
    /// <summary>
    /// Records a reader whose next offset is <paramref name="next"/> has still to read (null: it never committed, so it
    /// starts at <see cref="Low"/>); offsets retention removed before it read them are not counted.
    /// </summary>
    public long Lag(long? next) => Math.Max(0, High - Math.Max(next ?? Low, Low));
}

/// <summary>A consumer position: the next offset the group will read.</summary>
public readonly record struct TopicPartitionOffset(string Topic, int Partition, long Offset);
