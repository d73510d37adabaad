using System.Text.RegularExpressions;
using PinPipe.Log;

namespace PinPipe.Tests.Support;

/// <summary>The log the sink tests run against. Swap the body of <see cref="CreateAsync"/> for the real log.</summary>
public static class TestLogs
{
    public static ValueTask<ILog> CreateAsync() => ValueTask.FromResult<ILog>(new InMemoryLog());
}

/// <summary>
/// A thread-safe in-memory <see cref="ILog"/> with Kafka's semantics: fixed partitions, contiguous offsets,
/// atomic appends, key partitioning by murmur2, sticky partition for keyless calls, committed group offsets.
/// No retention (records are kept until the topic is deleted).
/// </summary>
public sealed partial class InMemoryLog : ILog
{
    private readonly Lock _lock = new();
    private readonly Dictionary<string, Partition[]> _topics = new(StringComparer.Ordinal);
    private readonly Dictionary<(string Group, string Topic, int Partition), long> _committed = new();
    private readonly int _maxRecordBytes;
    private int _sticky;

    public InMemoryLog(int maxRecordBytes = 1024 * 1024) => _maxRecordBytes = maxRecordBytes;

    private sealed class Partition
    {
        internal readonly List<ConsumedRecord> Records = new();
        internal TaskCompletionSource Appended = new(TaskCreationOptions.RunContinuationsAsynchronously);
    }

    [GeneratedRegex("^[a-zA-Z0-9._-]{1,249}$")]
    private static partial Regex TopicName();

    public ValueTask CreateTopicAsync(string topic, int partitions, CancellationToken cancellationToken = default)
    {
        if (topic is null || !TopicName().IsMatch(topic) || topic is "." or "..")
            throw new LogException(LogErrorCode.InvalidTopic, $"Invalid topic name '{topic}'.");
        if (partitions < 1) throw new LogException(LogErrorCode.InvalidTopic, $"Topic '{topic}' needs at least one partition (got {partitions}).");
        lock (_lock)
        {
            if (_topics.TryGetValue(topic, out Partition[]? existing))
            {
                if (existing.Length != partitions)
                    throw new LogException(LogErrorCode.InvalidTopic, $"Topic '{topic}' exists with {existing.Length} partitions, not {partitions}.");
                return ValueTask.CompletedTask;
            }
            _topics[topic] = Enumerable.Range(0, partitions).Select(_ => new Partition()).ToArray();
        }
        return ValueTask.CompletedTask;
    }

    public ValueTask DeleteTopicAsync(string topic, CancellationToken cancellationToken = default)
    {
        lock (_lock)
        {
            if (_topics.Remove(topic, out Partition[]? parts))
                foreach (Partition p in parts) p.Appended.TrySetResult();
            foreach (var k in _committed.Keys.Where(k => k.Topic == topic).ToList()) _committed.Remove(k);
        }
        return ValueTask.CompletedTask;
    }

    public ValueTask<IReadOnlyList<TopicDescription>> ListTopicsAsync(CancellationToken cancellationToken = default)
    {
        lock (_lock)
            return ValueTask.FromResult<IReadOnlyList<TopicDescription>>(
                _topics.OrderBy(t => t.Key, StringComparer.Ordinal).Select(t => new TopicDescription(t.Key, t.Value.Length)).ToList());
    }

    public ValueTask<TopicDescription?> DescribeTopicAsync(string topic, CancellationToken cancellationToken = default)
    {
        lock (_lock)
            return ValueTask.FromResult(_topics.TryGetValue(topic, out Partition[]? p) ? new TopicDescription(topic, p.Length) : null);
    }

    public ValueTask<IReadOnlyList<RecordPosition>> AppendAsync(string topic, IReadOnlyList<LogRecord> records, CancellationToken cancellationToken = default)
    {
        cancellationToken.ThrowIfCancellationRequested();
        long now = DateTimeOffset.UtcNow.ToUnixTimeMilliseconds();
        lock (_lock)
        {
            Partition[] parts = Get(topic);
            int sticky = (int)((uint)Interlocked.Increment(ref _sticky) % (uint)parts.Length);
            var targets = new int[records.Count];
            for (int i = 0; i < records.Count; i++)
            {
                LogRecord r = records[i];
                if ((r.Value?.Length ?? 0) + (r.Key?.Length ?? 0) > _maxRecordBytes)
                    throw new LogException(LogErrorCode.RecordTooLarge, $"Record {i} is larger than {_maxRecordBytes} bytes.");
                if (r.Partition is { } explicitPartition)
                {
                    if (explicitPartition < 0 || explicitPartition >= parts.Length)
                        throw new LogException(LogErrorCode.UnknownPartition, $"Topic '{topic}' has no partition {explicitPartition}.");
                    targets[i] = explicitPartition;
                }
                else
                {
                    targets[i] = r.Key is { } key ? (Murmur2(key.Span) & 0x7fffffff) % parts.Length : sticky;
                }
            }
            var positions = new RecordPosition[records.Count];
            var touched = new HashSet<int>();
            for (int i = 0; i < records.Count; i++)
            {
                LogRecord r = records[i];
                Partition p = parts[targets[i]];
                long offset = p.Records.Count;
                p.Records.Add(new ConsumedRecord(topic, targets[i], offset, r.TimestampMs ?? now, r.Key?.ToArray(), r.Value?.ToArray()));
                positions[i] = new RecordPosition(targets[i], offset);
                touched.Add(targets[i]);
            }
            foreach (int t in touched)
            {
                TaskCompletionSource signal = parts[t].Appended;
                parts[t].Appended = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
                signal.TrySetResult();
            }
            return ValueTask.FromResult<IReadOnlyList<RecordPosition>>(positions);
        }
    }

    public ValueTask<IReadOnlyList<ConsumedRecord>> ReadAsync(string topic, int partition, long offset, int maxRecords, CancellationToken cancellationToken = default)
    {
        cancellationToken.ThrowIfCancellationRequested();
        lock (_lock)
        {
            Partition p = Get(topic, partition);
            long start = Math.Max(offset, 0);
            if (start >= p.Records.Count || maxRecords <= 0) return ValueTask.FromResult<IReadOnlyList<ConsumedRecord>>([]);
            int count = (int)Math.Min(maxRecords, p.Records.Count - start);
            return ValueTask.FromResult<IReadOnlyList<ConsumedRecord>>(p.Records.GetRange((int)start, count));
        }
    }

    public async ValueTask WaitForDataAsync(string topic, int partition, long offset, TimeSpan timeout, CancellationToken cancellationToken = default)
    {
        Task signal;
        lock (_lock)
        {
            Partition p = Get(topic, partition);
            if (p.Records.Count > offset) return;
            signal = p.Appended.Task;
        }
        try
        {
            await signal.WaitAsync(timeout, cancellationToken).ConfigureAwait(false);
        }
        catch (TimeoutException) { }
        catch (OperationCanceledException) when (cancellationToken.IsCancellationRequested) { }
    }

    public ValueTask<Watermarks> GetWatermarksAsync(string topic, int partition, CancellationToken cancellationToken = default)
    {
        lock (_lock) return ValueTask.FromResult(new Watermarks(0, Get(topic, partition).Records.Count));
    }

    public ValueTask CommitOffsetsAsync(string group, IReadOnlyList<TopicPartitionOffset> offsets, CancellationToken cancellationToken = default)
    {
        cancellationToken.ThrowIfCancellationRequested();
        lock (_lock)
        {
            foreach (TopicPartitionOffset o in offsets) Get(o.Topic, o.Partition);
            foreach (TopicPartitionOffset o in offsets) _committed[(group, o.Topic, o.Partition)] = o.Offset;
        }
        return ValueTask.CompletedTask;
    }

    public ValueTask<long?> GetCommittedOffsetAsync(string group, string topic, int partition, CancellationToken cancellationToken = default)
    {
        lock (_lock)
        {
            Get(topic, partition);
            return ValueTask.FromResult(_committed.TryGetValue((group, topic, partition), out long o) ? o : (long?)null);
        }
    }

    public ValueTask<long> EnforceRetentionAsync(CancellationToken cancellationToken = default) => ValueTask.FromResult(0L);

    public ValueTask DisposeAsync() => ValueTask.CompletedTask;

    private Partition[] Get(string topic) =>
        _topics.TryGetValue(topic, out Partition[]? parts) ? parts : throw new LogException(LogErrorCode.UnknownTopic, $"Topic '{topic}' does not exist.");

    private Partition Get(string topic, int partition)
    {
        Partition[] parts = Get(topic);
        return partition >= 0 && partition < parts.Length ? parts[partition]
            : throw new LogException(LogErrorCode.UnknownPartition, $"Topic '{topic}' has no partition {partition}.");
    }

    /// <summary>Kafka's <c>Utils.murmur2</c>, used by its default partitioner for keyed records.</summary>
    internal static int Murmur2(ReadOnlySpan<byte> data)
    {
        unchecked
        {
            const int m = 0x5bd1e995;
            const int r = 24;
            int length = data.Length;
            int h = (int)0x9747b28c ^ length;
            int length4 = length / 4;
            for (int i = 0; i < length4; i++)
            {
                int i4 = i * 4;
                int k = data[i4] + (data[i4 + 1] << 8) + (data[i4 + 2] << 16) + (data[i4 + 3] << 24);
                k *= m;
                k ^= (int)((uint)k >> r);
                k *= m;
                h *= m;
                h ^= k;
            }
            int tail = length & ~3;
            switch (length % 4)
            {
                case 3:
                    h ^= data[tail + 2] << 16;
                    goto case 2;
                case 2:
                    h ^= data[tail + 1] << 8;
                    goto case 1;
                case 1:
                    h ^= data[tail];
                    h *= m;
                    break;
            }
            h ^= (int)((uint)h >> 13);
            h *= m;
            h ^= (int)((uint)h >> 15);
            return h;
        }
    }
}
