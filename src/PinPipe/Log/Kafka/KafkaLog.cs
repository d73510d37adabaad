using System.Collections.Concurrent;
using System.Globalization;
using Confluent.Kafka;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;
using PinPipe.Configuration;
using KafkaTopicPartitionOffset = Confluent.Kafka.TopicPartitionOffset;

namespace PinPipe.Log.Kafka;

/// <summary>
/// The log on Apache Kafka or Amazon MSK through Confluent.Kafka. Client settings come from
/// <see cref="LogOptions.Kafka"/> under their Kafka names and are passed through untouched; the producer
/// always runs with <c>acks=all</c> and <c>enable.idempotence=true</c>.
/// </summary>
/// <remarks>
/// Atomicity: an append is validated whole before anything is sent (topic exists, partitions in range,
/// sizes within <see cref="LogOptions.MaxRecordBytes"/>), so a bad request writes nothing. The records are then
/// produced by one idempotent producer and every delivery report is awaited. Kafka transactions are not used:
/// their commit markers take offsets, which would break the log's contiguous offsets. So once validation has
/// passed, atomicity is per record: a broker failure in the middle of a call may leave part of its records
/// written (the call then fails with <see cref="LogErrorCode.Unavailable"/>); the idempotent producer still
/// guarantees no duplicates and no reordering. An append that would pass what the producer may hold undelivered
/// (<see cref="LogOptions.MaxQueuedBytes"/>, librdkafka's queue limits) is refused whole before any record is sent
/// (<see cref="LogErrorCode.Overloaded"/>).
/// Retention is the brokers' job: topics are created with <c>retention.ms</c> and <c>retention.bytes</c> from
/// <see cref="LogOptions.RetentionTime"/> and <see cref="LogOptions.RetentionBytes"/>.
/// </remarks>
public sealed class KafkaLog : ILog
{
    private static readonly TimeSpan MetadataTimeout = TimeSpan.FromSeconds(10);
    private static readonly TimeSpan MetadataMaxAge = TimeSpan.FromSeconds(2);
    private static readonly TimeSpan ReadTimeout = TimeSpan.FromSeconds(10);
    private static readonly TimeSpan WaitPollInterval = TimeSpan.FromMilliseconds(25);

    private readonly LogOptions _options;
    private readonly ILogger _logger;
    private readonly IProducer<byte[]?, byte[]?> _producer;
    private readonly IAdminClient _admin;
    private readonly IConsumer<byte[]?, byte[]?> _watermarkConsumer;
    private readonly ConsumerConfig _consumerConfig;
    private readonly ConcurrentBag<IConsumer<byte[]?, byte[]?>> _readers = new();
    private readonly IKafkaTopicAdmin _topicAdmin;
    private readonly short _replicationFactor;
    private readonly ConcurrentDictionary<string, StrongBox> _nextPartition = new(StringComparer.Ordinal);
    private readonly SemaphoreSlim _metadataLock = new(1, 1);
    private readonly WriteBudget _budget;
    private volatile TopicSnapshot _topics = new(new Dictionary<string, int>(StringComparer.Ordinal), DateTime.MinValue);
    private int _disposed;

    private sealed record TopicSnapshot(IReadOnlyDictionary<string, int> Partitions, DateTime TakenUtc);

    private sealed class StrongBox
    {
        public int Value = Random.Shared.Next();
    }

    private KafkaLog(LogOptions options, ILogger logger, IProducer<byte[]?, byte[]?> producer, IAdminClient admin,
        IConsumer<byte[]?, byte[]?> watermarkConsumer, ConsumerConfig consumerConfig, IKafkaTopicAdmin topicAdmin, short replicationFactor)
    {
        _options = options;
        _logger = logger;
        _producer = producer;
        _admin = admin;
        _watermarkConsumer = watermarkConsumer;
        _consumerConfig = consumerConfig;
        _topicAdmin = topicAdmin;
        _replicationFactor = replicationFactor;
        _budget = Budget(options);
    }

    /// <summary>
    /// What the producer may hold undelivered: <see cref="LogOptions.MaxQueuedBytes"/>, within librdkafka's own queue limits
    /// (<c>queue.buffering.max.messages</c>, default 100,000; <c>queue.buffering.max.kbytes</c>, default 1 GiB). An append is
    /// refused whole before any of its records reaches the producer, so librdkafka's queue is never found full in the
    /// middle of a call (which would leave part of it written).
    /// </summary>
    internal static WriteBudget Budget(LogOptions options)
    {
        long messages = options.Kafka.TryGetValue("queue.buffering.max.messages", out var m) && long.TryParse(m, CultureInfo.InvariantCulture, out var mv) && mv > 0 ? mv : 100_000;
        long kbytes = options.Kafka.TryGetValue("queue.buffering.max.kbytes", out var k) && long.TryParse(k, CultureInfo.InvariantCulture, out var kv) && kv > 0 ? kv : 1_048_576;
        return new WriteBudget(Math.Min(options.MaxQueuedBytes, kbytes * 1024), messages);
    }

    /// <summary>Connects to the cluster named by <c>Log:Kafka:bootstrap.servers</c> and checks that it answers.</summary>
    /// <exception cref="ArgumentException"><c>bootstrap.servers</c> is missing.</exception>
    /// <exception cref="LogException"><see cref="LogErrorCode.Unavailable"/> when the cluster does not answer.</exception>
    public static ValueTask<KafkaLog> OpenAsync(LogOptions options, ILogger<KafkaLog>? logger = null, CancellationToken cancellationToken = default) =>
        OpenAsync(options, logger, null, cancellationToken);

    /// <summary>As the public overload; <paramref name="topicAdmin"/> replaces the Admin API for topic creation and deletion (the test cluster has none).</summary>
    internal static async ValueTask<KafkaLog> OpenAsync(LogOptions options, ILogger? logger, Func<IAdminClient, IKafkaTopicAdmin>? topicAdmin, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(options);
        if (!options.Kafka.TryGetValue("bootstrap.servers", out var servers) || string.IsNullOrWhiteSpace(servers))
            throw new ArgumentException("The Kafka log needs the brokers' addresses in Log:Kafka:bootstrap.servers (host:port[,host:port...]).", nameof(options));
        SettingsProblems.ThrowIfAny(options.Validate(), nameof(options));

        var settings = new Dictionary<string, string>(options.Kafka, StringComparer.Ordinal);
        var producerConfig = new ProducerConfig(new Dictionary<string, string>(settings)) { Acks = Acks.All, EnableIdempotence = true };
        if (!settings.ContainsKey("message.max.bytes"))
            producerConfig.MessageMaxBytes = (int)Math.Min(1_000_000_000L, Math.Max(1_000_000L, 2L * options.MaxRecordBytes + 65_536));
        var consumerConfig = new ConsumerConfig(new Dictionary<string, string>(settings))
        {
            GroupId = $"pinpipe-log-reader-{Guid.NewGuid():N}",
            EnableAutoCommit = false,
            EnablePartitionEof = true,
            AllowAutoCreateTopics = false,
        };
        if (!settings.ContainsKey("fetch.wait.max.ms")) consumerConfig.FetchWaitMaxMs = 10;

        IProducer<byte[]?, byte[]?>? producer = null;
        IAdminClient? admin = null;
        IConsumer<byte[]?, byte[]?>? watermarks = null;
        try
        {
            var log = logger ?? NullLogger.Instance;
            producer = new ProducerBuilder<byte[]?, byte[]?>(producerConfig).SetLogHandler((_, m) => ClientLog(log, m)).SetErrorHandler((_, e) => ClientError(log, e)).Build();
            admin = new AdminClientBuilder(new AdminClientConfig(new Dictionary<string, string>(settings))).SetLogHandler((_, m) => ClientLog(log, m)).SetErrorHandler((_, e) => ClientError(log, e)).Build();
            watermarks = NewConsumer(consumerConfig, log);
            var client = admin;
            var metadata = await Task.Run(() => client.GetMetadata(MetadataTimeout), cancellationToken).ConfigureAwait(false);
            var brokers = Math.Max(1, metadata.Brokers.Count);
            var kafkaLog = new KafkaLog(options, log, producer, admin, watermarks, consumerConfig,
                topicAdmin?.Invoke(admin) ?? new AdminClientTopicAdmin(admin, MetadataTimeout), (short)Math.Min(3, brokers));
            log.LogInformation("Kafka log connected to {Servers}: {Brokers} brokers.", servers, brokers);
            return kafkaLog;
        }
        catch (Exception ex)
        {
            watermarks?.Dispose();
            admin?.Dispose();
            producer?.Dispose();
            if (ex is KafkaException kafka)
            {
                throw new LogException(LogErrorCode.Unavailable,
                    $"no Kafka broker answered at {servers} within {MetadataTimeout.TotalSeconds:0} s ({kafka.Message}); start the brokers or give their addresses with --bootstrap-servers",
                    kafka, "Log:Kafka:bootstrap.servers");
            }
            throw;
        }
    }

    private static IConsumer<byte[]?, byte[]?> NewConsumer(ConsumerConfig config, ILogger logger) =>
        new ConsumerBuilder<byte[]?, byte[]?>(config).SetLogHandler((_, m) => ClientLog(logger, m)).SetErrorHandler((_, e) => ClientError(logger, e)).Build();

    /// <summary>librdkafka's own log lines (one per failed connection attempt, and more) are details: Debug only (<c>--verbose</c>).</summary>
    internal static void ClientLog(ILogger logger, LogMessage message) =>
        logger.LogDebug("librdkafka {Facility} {Name}: {Message}", message.Facility, message.Name, message.Message);

    /// <summary>Client errors (a broker down, retried by librdkafka) surface through the operations that fail; Debug only.</summary>
    internal static void ClientError(ILogger logger, Error error) =>
        logger.LogDebug("librdkafka error {Code}: {Reason}", error.Code, error.Reason);

    /// <inheritdoc />
    public async ValueTask CreateTopicAsync(string topic, int partitions, CancellationToken cancellationToken = default)
    {
        ThrowIfDisposed();
        TopicRules.Validate(topic, partitions);
        if (await ExistingAsync(topic, partitions, cancellationToken).ConfigureAwait(false)) return;
        TopicRules.CheckLimits(topic, partitions, _topics.Partitions.Count, _options);

        var configs = new Dictionary<string, string>(StringComparer.Ordinal)
        {
            ["retention.ms"] = _options.RetentionTime is { } time ? ((long)time.TotalMilliseconds).ToString(CultureInfo.InvariantCulture) : "-1",
            ["retention.bytes"] = _options.RetentionBytes is { } bytes ? bytes.ToString(CultureInfo.InvariantCulture) : "-1",
        };
        await _topicAdmin.CreateAsync(topic, partitions, _replicationFactor, configs, cancellationToken).ConfigureAwait(false);

        // Kafka creates topics asynchronously: wait until the metadata shows it, and check a concurrent creator's count.
        var deadline = DateTime.UtcNow + MetadataTimeout;
        while (true)
        {
            _topics = _topics with { TakenUtc = DateTime.MinValue };
            if (await ExistingAsync(topic, partitions, cancellationToken).ConfigureAwait(false)) return;
            if (DateTime.UtcNow > deadline)
                throw new LogException(LogErrorCode.Unavailable, $"Topic '{topic}' was created but did not appear in the cluster metadata within {MetadataTimeout.TotalSeconds:0} s.");
            await Task.Delay(WaitPollInterval, cancellationToken).ConfigureAwait(false);
        }
    }

    /// <summary>True when the topic exists with this count; throws when it exists with another.</summary>
    private async Task<bool> ExistingAsync(string topic, int partitions, CancellationToken cancellationToken)
    {
        var existing = await PartitionCountAsync(topic, cancellationToken).ConfigureAwait(false);
        if (existing is null) return false;
        if (existing != partitions)
            throw new LogException(LogErrorCode.InvalidTopic, $"Topic '{topic}' already exists with {existing} partitions, not {partitions}.");
        return true;
    }

    /// <inheritdoc />
    public ValueTask<bool> DeleteTopicAsync(string topic, CancellationToken cancellationToken = default) =>
        DeleteTopicAsync(topic, [], cancellationToken);

    /// <inheritdoc />
    /// <remarks>Kafka has no conditional delete: the groups' offsets are checked first, then the topic is deleted.</remarks>
    public async ValueTask<bool> DeleteTopicAsync(string topic, IReadOnlyCollection<string> consumers, CancellationToken cancellationToken = default)
    {
        ThrowIfDisposed();
        ArgumentNullException.ThrowIfNull(consumers);
        _topics = _topics with { TakenUtc = DateTime.MinValue };
        if (await PartitionCountAsync(topic, cancellationToken).ConfigureAwait(false) is not { } partitions) return false;
        if (consumers.Count > 0)
        {
            var marks = new List<Watermarks>(partitions);
            var committed = new Dictionary<(string Group, int Partition), long?>();
            for (int p = 0; p < partitions; p++)
            {
                marks.Add(await GetWatermarksAsync(topic, p, cancellationToken).ConfigureAwait(false));
                foreach (string group in consumers)
                    committed[(group, p)] = await GetCommittedOffsetAsync(group, topic, p, cancellationToken).ConfigureAwait(false);
            }
            if (TopicConsumers.Unconsumed(topic, consumers, marks, (g, p) => committed[(g, p)]) is { } refused) throw refused;
        }
        await _topicAdmin.DeleteAsync(topic, cancellationToken).ConfigureAwait(false);
        _nextPartition.TryRemove(topic, out _);
        var deadline = DateTime.UtcNow + MetadataTimeout;
        while (true)
        {
            _topics = _topics with { TakenUtc = DateTime.MinValue };
            if (await PartitionCountAsync(topic, cancellationToken).ConfigureAwait(false) is null) return true;
            if (DateTime.UtcNow > deadline)
                throw new LogException(LogErrorCode.Unavailable, $"Topic '{topic}' was deleted but still shows in the cluster metadata after {MetadataTimeout.TotalSeconds:0} s.");
            await Task.Delay(WaitPollInterval, cancellationToken).ConfigureAwait(false);
        }
    }

    /// <inheritdoc />
    public async ValueTask<IReadOnlyList<TopicDescription>> ListTopicsAsync(CancellationToken cancellationToken = default)
    {
        ThrowIfDisposed();
        var snapshot = await RefreshAsync(DateTime.UtcNow, cancellationToken).ConfigureAwait(false);
        var ids = await TopicIdsAsync(snapshot.Partitions.Keys, cancellationToken).ConfigureAwait(false);
        return snapshot.Partitions.OrderBy(t => t.Key, StringComparer.Ordinal).Select(t => new TopicDescription(t.Key, t.Value, ids.GetValueOrDefault(t.Key))).ToList();
    }

    /// <inheritdoc />
    public async ValueTask<TopicDescription?> DescribeTopicAsync(string topic, CancellationToken cancellationToken = default)
    {
        ThrowIfDisposed();
        var snapshot = await RefreshAsync(DateTime.UtcNow, cancellationToken).ConfigureAwait(false);
        if (!snapshot.Partitions.TryGetValue(topic, out var count)) return null;
        var ids = await TopicIdsAsync([topic], cancellationToken).ConfigureAwait(false);
        // Deleted between the two requests: gone.
        return ids.TryGetValue(topic, out var id) ? new TopicDescription(topic, count, id) : null;
    }

    /// <summary>
    /// The topic ids of existing topics (Admin API DescribeTopics, which never creates a topic); a topic missing from
    /// the answer no longer exists, one mapped to null has no id (a cluster older than Kafka 2.8).
    /// </summary>
    private async Task<Dictionary<string, string?>> TopicIdsAsync(IEnumerable<string> topics, CancellationToken cancellationToken)
    {
        var names = topics.ToList();
        var ids = new Dictionary<string, string?>(StringComparer.Ordinal);
        if (names.Count == 0) return ids;
        IEnumerable<Confluent.Kafka.Admin.TopicDescription> described;
        try
        {
            var result = await _admin.DescribeTopicsAsync(TopicCollection.OfTopicNames(names), new Confluent.Kafka.Admin.DescribeTopicsOptions { RequestTimeout = MetadataTimeout })
                .WaitAsync(cancellationToken).ConfigureAwait(false);
            described = result.TopicDescriptions;
        }
        catch (Confluent.Kafka.Admin.DescribeTopicsException ex)
        {
            if (ex.Results.TopicDescriptions.FirstOrDefault(d => d.Error.IsError && d.Error.Code != ErrorCode.UnknownTopicOrPart) is { } failed)
                throw LogErrors.Unavailable($"describe topic '{failed.Name}'", new KafkaException(failed.Error));
            described = ex.Results.TopicDescriptions;
        }
        catch (KafkaException ex)
        {
            throw LogErrors.Unavailable("describe the topics", ex);
        }
        foreach (var d in described)
            if (!d.Error.IsError) ids[d.Name] = d.TopicId is { } u ? TopicIds.FromHalves(u.MostSignificantBits, u.LeastSignificantBits) : null;
        return ids;
    }

    /// <inheritdoc />
    public async ValueTask<IReadOnlyList<RecordPosition>> AppendAsync(string topic, IReadOnlyList<LogRecord> records, CancellationToken cancellationToken = default)
    {
        ThrowIfDisposed();
        ArgumentNullException.ThrowIfNull(records);
        var partitions = await RequirePartitionCountAsync(topic, cancellationToken).ConfigureAwait(false);
        var max = _options.MaxRecordBytes;
        for (var i = 0; i < records.Count; i++)
        {
            var r = records[i];
            if (r.Value is { Length: var vl } && vl > max) throw LogErrors.RecordTooLarge(topic, i, "value", vl, max);
            if (r.Key is { Length: var kl } && kl > max) throw LogErrors.RecordTooLarge(topic, i, "key", kl, max);
            if (r.Partition is { } p && (p < 0 || p >= partitions)) throw LogErrors.UnknownPartition(topic, p, partitions);
        }

        if (records.Count == 0) return [];
        cancellationToken.ThrowIfCancellationRequested();

        long bytes = 0;
        foreach (var r in records) bytes += (r.Key?.Length ?? 0) + (r.Value?.Length ?? 0);
        if (!_budget.TryReserve(bytes, records.Count, out long held))
        {
            throw held + bytes > _budget.MaxBytes
                ? LogErrors.Overloaded(topic, bytes, held, _budget.MaxBytes, "Log:MaxQueuedBytes (within Log:Kafka:queue.buffering.max.kbytes)")
                : LogErrors.QueueFull(topic, $"Kafka's producer queue (Log:Kafka:queue.buffering.max.messages={_budget.MaxRecords} records)");
        }
        try
        {
            return await ProduceAllAsync(topic, records, partitions).ConfigureAwait(false);
        }
        finally
        {
            _budget.Release(bytes, records.Count);
        }
    }

    /// <summary>Hands every record to the producer and waits for every delivery report.</summary>
    private async Task<IReadOnlyList<RecordPosition>> ProduceAllAsync(string topic, IReadOnlyList<LogRecord> records, int partitions)
    {
        int? sticky = null;
        var deliveries = new Task<DeliveryResult<byte[]?, byte[]?>>[records.Count];
        try
        {
            for (var i = 0; i < records.Count; i++)
            {
                var r = records[i];
                var partition = r.Partition
                    ?? (r.Key is { } key ? KafkaPartitioner.Partition(key.Span, partitions) : sticky ??= NextPartition(topic, partitions));
                var message = new Message<byte[]?, byte[]?>
                {
                    Key = r.Key?.ToArray(),
                    Value = r.Value?.ToArray(),
                    Timestamp = r.TimestampMs is { } ms ? new Timestamp(ms, TimestampType.CreateTime) : Timestamp.Default,
                };
                // No token: once handed to the producer a record is delivered or fails; the call waits for every report.
                deliveries[i] = _producer.ProduceAsync(new TopicPartition(topic, new Partition(partition)), message, CancellationToken.None);
            }

            var results = await Task.WhenAll(deliveries).ConfigureAwait(false);
            return results.Select(d => new RecordPosition(d.Partition.Value, d.Offset.Value)).ToList();
        }
        catch (KafkaException ex)
        {
            // Wait for the reports already in flight so that no record of this call is still pending when it fails.
            await Task.WhenAll(deliveries.Where(d => d is not null)).ContinueWith(_ => { }, TaskScheduler.Default).ConfigureAwait(false);
            throw Map(ex, topic, $"append to topic '{topic}'");
        }
    }

    private int NextPartition(string topic, int partitions)
    {
        var box = _nextPartition.GetOrAdd(topic, _ => new StrongBox());
        var next = Interlocked.Increment(ref box.Value);
        return (int)((uint)next % (uint)partitions);
    }

    /// <inheritdoc />
    public async ValueTask<IReadOnlyList<ConsumedRecord>> ReadAsync(string topic, int partition, long offset, int maxRecords, CancellationToken cancellationToken = default)
    {
        ThrowIfDisposed();
        await RequirePartitionAsync(topic, partition, cancellationToken).ConfigureAwait(false);
        if (maxRecords <= 0) return [];
        return await Task.Run(() => Read(topic, partition, offset, maxRecords, cancellationToken), cancellationToken).ConfigureAwait(false);
    }

    private List<ConsumedRecord> Read(string topic, int partition, long offset, int maxRecords, CancellationToken cancellationToken)
    {
        var tp = new TopicPartition(topic, new Partition(partition));
        var consumer = _readers.TryTake(out var pooled) ? pooled : NewConsumer(_consumerConfig, _logger);
        var records = new List<ConsumedRecord>();
        try
        {
            var marks = consumer.QueryWatermarkOffsets(tp, MetadataTimeout);
            var start = Math.Max(offset, marks.Low.Value);
            if (start >= marks.High.Value) return records;
            var end = Math.Min(marks.High.Value, start + maxRecords);
            consumer.Assign(new KafkaTopicPartitionOffset(tp, new Offset(start)));
            try
            {
                var deadline = DateTime.UtcNow + ReadTimeout;
                while (records.Count < maxRecords)
                {
                    cancellationToken.ThrowIfCancellationRequested();
                    var left = deadline - DateTime.UtcNow;
                    if (left <= TimeSpan.Zero) break;
                    var result = consumer.Consume(left < TimeSpan.FromMilliseconds(100) ? left : TimeSpan.FromMilliseconds(100));
                    if (result is null) continue;
                    if (result.IsPartitionEOF) break;
                    if (result.Offset.Value < start) continue;
                    var m = result.Message;
                    records.Add(new ConsumedRecord(topic, partition, result.Offset.Value, m.Timestamp.UnixTimestampMs, m.Key, m.Value));
                    if (result.Offset.Value >= end - 1) break;
                }
            }
            finally
            {
                consumer.Unassign();
            }

            if (Volatile.Read(ref _disposed) == 0)
            {
                _readers.Add(consumer);
                consumer = null;
            }

            return records;
        }
        catch (KafkaException ex)
        {
            throw Map(ex, topic, $"read topic '{topic}' partition {partition}");
        }
        finally
        {
            // Still set only when the read failed: a consumer in an unknown state is not pooled.
            consumer?.Dispose();
        }
    }

    /// <inheritdoc />
    public async ValueTask WaitForDataAsync(string topic, int partition, long offset, TimeSpan timeout, CancellationToken cancellationToken = default)
    {
        ThrowIfDisposed();
        var deadline = DateTime.UtcNow + timeout;
        while (true)
        {
            cancellationToken.ThrowIfCancellationRequested();
            if (await PartitionCountAsync(topic, cancellationToken).ConfigureAwait(false) is not { } count || partition < 0 || partition >= count) return;
            var marks = await GetWatermarksAsync(topic, partition, cancellationToken).ConfigureAwait(false);
            if (marks.High > offset) return;
            var left = deadline - DateTime.UtcNow;
            if (left <= TimeSpan.Zero) return;
            await Task.Delay(left < WaitPollInterval ? left : WaitPollInterval, cancellationToken).ConfigureAwait(false);
        }
    }

    /// <inheritdoc />
    public async ValueTask<Watermarks> GetWatermarksAsync(string topic, int partition, CancellationToken cancellationToken = default)
    {
        ThrowIfDisposed();
        await RequirePartitionAsync(topic, partition, cancellationToken).ConfigureAwait(false);
        try
        {
            var marks = await Task.Run(() => _watermarkConsumer.QueryWatermarkOffsets(new TopicPartition(topic, new Partition(partition)), MetadataTimeout), cancellationToken).ConfigureAwait(false);
            return new Watermarks(marks.Low.Value, marks.High.Value);
        }
        catch (KafkaException ex)
        {
            throw Map(ex, topic, $"read the watermarks of topic '{topic}' partition {partition}");
        }
    }

    /// <inheritdoc />
    /// <remarks>
    /// Through the Admin API (<c>AlterConsumerGroupOffsets</c>), outside any group membership: for tools and for readers
    /// that keep their own positions. Kafka refuses it (<see cref="LogErrorCode.Unavailable"/>, Kafka's <c>UNKNOWN_MEMBER_ID</c>)
    /// while the group has active members; a member of the group (<see cref="JoinGroupAsync"/>) commits through
    /// <see cref="IGroupMember.CommitAsync"/> instead.
    /// </remarks>
    public async ValueTask CommitOffsetsAsync(string group, IReadOnlyList<TopicPartitionOffset> offsets, CancellationToken cancellationToken = default)
    {
        ThrowIfDisposed();
        ArgumentException.ThrowIfNullOrWhiteSpace(group);
        ArgumentNullException.ThrowIfNull(offsets);
        foreach (var o in offsets) await RequirePartitionAsync(o.Topic, o.Partition, cancellationToken).ConfigureAwait(false);
        if (offsets.Count == 0) return;
        var list = offsets.Select(o => new KafkaTopicPartitionOffset(o.Topic, new Partition(o.Partition), new Offset(o.Offset))).ToList();
        try
        {
            await _admin.AlterConsumerGroupOffsetsAsync([new ConsumerGroupTopicPartitionOffsets(group, list)]).WaitAsync(cancellationToken).ConfigureAwait(false);
        }
        catch (KafkaException ex)
        {
            throw Map(ex, offsets[0].Topic, $"commit the offsets of group '{group}'");
        }
    }

    /// <inheritdoc />
    public async ValueTask<long?> GetCommittedOffsetAsync(string group, string topic, int partition, CancellationToken cancellationToken = default)
    {
        ThrowIfDisposed();
        ArgumentException.ThrowIfNullOrWhiteSpace(group);
        await RequirePartitionAsync(topic, partition, cancellationToken).ConfigureAwait(false);
        try
        {
            var results = await _admin.ListConsumerGroupOffsetsAsync([new ConsumerGroupTopicPartitions(group, [new TopicPartition(topic, new Partition(partition))])])
                .WaitAsync(cancellationToken).ConfigureAwait(false);
            var found = results.SelectMany(r => r.Partitions).FirstOrDefault(p => p.Topic == topic && p.Partition.Value == partition);
            return found is null || found.Offset.Value < 0 ? null : found.Offset.Value;
        }
        catch (KafkaException ex)
        {
            throw Map(ex, topic, $"read the committed offset of group '{group}'");
        }
    }

    /// <inheritdoc />
    /// <remarks>
    /// A Kafka consumer group member with the cooperative-sticky assignor, used for membership only (<see cref="KafkaGroupMember"/>).
    /// When one of <paramref name="topics"/> exists, returns after the member's first assignment (Kafka waits
    /// <c>group.initial.rebalance.delay.ms</c>, 3 s by default, before the first one of a new group). Topics created later are
    /// found by librdkafka's metadata refresh (<c>topic.metadata.refresh.interval.ms</c>, 5 s unless set in <c>Log:Kafka</c>).
    /// The brokers refuse a session timeout outside their <c>group.min.session.timeout.ms</c> to
    /// <c>group.max.session.timeout.ms</c> (6 s to 30 minutes by default): the join then fails with the broker's error.
    /// </remarks>
    /// <exception cref="LogException"><see cref="LogErrorCode.Unavailable"/>: the member was not in the group within the join timeout.</exception>
    public async ValueTask<IGroupMember> JoinGroupAsync(string group, IReadOnlyList<string> topics, GroupMemberOptions options, CancellationToken cancellationToken = default)
    {
        ThrowIfDisposed();
        ArgumentNullException.ThrowIfNull(topics);
        ArgumentNullException.ThrowIfNull(options);
        var problems = new List<string>(options.Validate());
        if (string.IsNullOrWhiteSpace(group)) problems.Add("The consumer group name must not be empty.");
        if (topics.Count == 0) problems.Add($"Consumer group '{group}' needs at least one topic to subscribe to.");
        foreach (var topic in topics)
        {
            try
            {
                TopicRules.ValidateName(topic);
            }
            catch (LogException ex)
            {
                problems.Add(ex.Message);
            }
        }
        SettingsProblems.ThrowIfAny(problems, nameof(options));

        var existing = await ListTopicsAsync(cancellationToken).ConfigureAwait(false);
        var anyExists = existing.Any(t => topics.Contains(t.Name, StringComparer.Ordinal));
        return await KafkaGroupMember.JoinAsync(group, topics.Distinct(StringComparer.Ordinal).ToList(), _options.Kafka, options, anyExists,
            JoinTimeout(options), _logger, cancellationToken).ConfigureAwait(false);
    }

    /// <summary>How long a join may take: the existing members must rejoin first (each within a heartbeat interval, plus its revocations).</summary>
    private static TimeSpan JoinTimeout(GroupMemberOptions options) =>
        TimeSpan.FromTicks(Math.Max(TimeSpan.FromSeconds(60).Ticks, 3 * options.SessionTimeout.Ticks));

    /// <summary>Returns 0: Kafka brokers apply <c>retention.ms</c> and <c>retention.bytes</c> themselves (set on the topics this log creates).</summary>
    public ValueTask<long> EnforceRetentionAsync(CancellationToken cancellationToken = default)
    {
        ThrowIfDisposed();
        return ValueTask.FromResult(0L);
    }

    /// <inheritdoc />
    public ValueTask DisposeAsync()
    {
        if (Interlocked.Exchange(ref _disposed, 1) != 0) return ValueTask.CompletedTask;
        try
        {
            _producer.Flush(TimeSpan.FromSeconds(10));
        }
        catch (KafkaException ex)
        {
            _logger.LogWarning(ex, "Flushing the Kafka producer on close failed.");
        }

        _producer.Dispose();
        while (_readers.TryTake(out var reader)) reader.Dispose();
        _watermarkConsumer.Dispose();
        _admin.Dispose();
        _metadataLock.Dispose();
        return ValueTask.CompletedTask;
    }

    private async Task<int> RequirePartitionCountAsync(string topic, CancellationToken cancellationToken) =>
        await PartitionCountAsync(topic, cancellationToken).ConfigureAwait(false) ?? throw LogErrors.UnknownTopic(topic);

    private async Task RequirePartitionAsync(string topic, int partition, CancellationToken cancellationToken)
    {
        var count = await RequirePartitionCountAsync(topic, cancellationToken).ConfigureAwait(false);
        if (partition < 0 || partition >= count) throw LogErrors.UnknownPartition(topic, partition, count);
    }

    /// <summary>The topic's partition count, or null when it does not exist; a miss always asks the cluster again.</summary>
    private async Task<int?> PartitionCountAsync(string topic, CancellationToken cancellationToken)
    {
        var snapshot = _topics;
        if (DateTime.UtcNow - snapshot.TakenUtc < MetadataMaxAge && snapshot.Partitions.TryGetValue(topic, out var cached)) return cached;
        snapshot = await RefreshAsync(DateTime.UtcNow, cancellationToken).ConfigureAwait(false);
        return snapshot.Partitions.TryGetValue(topic, out var count) ? count : null;
    }

    /// <summary>
    /// All topics' partition counts from a metadata request for every topic. Never asks for one topic by name:
    /// a broker with <c>auto.create.topics.enable</c> (and the test cluster) would create it.
    /// Concurrent callers share one request taken after <paramref name="notBefore"/>.
    /// </summary>
    private async Task<TopicSnapshot> RefreshAsync(DateTime notBefore, CancellationToken cancellationToken)
    {
        await _metadataLock.WaitAsync(cancellationToken).ConfigureAwait(false);
        try
        {
            if (_topics.TakenUtc >= notBefore) return _topics;
            var taken = DateTime.UtcNow;
            var metadata = await Task.Run(() => _admin.GetMetadata(MetadataTimeout), cancellationToken).ConfigureAwait(false);
            var partitions = metadata.Topics
                .Where(t => t.Error.Code == ErrorCode.NoError && !t.Topic.StartsWith("__", StringComparison.Ordinal))
                .ToDictionary(t => t.Topic, t => t.Partitions.Count, StringComparer.Ordinal);
            return _topics = new TopicSnapshot(partitions, taken);
        }
        catch (KafkaException ex)
        {
            throw LogErrors.Unavailable("read the cluster metadata", ex);
        }
        finally
        {
            _metadataLock.Release();
        }
    }

    private static LogException Map(KafkaException ex, string topic, string what) => ex.Error.Code switch
    {
        ErrorCode.UnknownTopicOrPart or ErrorCode.Local_UnknownTopic => new LogException(LogErrorCode.UnknownTopic, $"Topic '{topic}' does not exist (Kafka: {ex.Error.Reason}).", ex),
        ErrorCode.Local_UnknownPartition => new LogException(LogErrorCode.UnknownPartition, $"A partition of topic '{topic}' does not exist (Kafka: {ex.Error.Reason}).", ex),
        // Not expected: the write budget refuses an append before the queue can fill (another producer of the process?).
        ErrorCode.Local_QueueFull => new LogException(LogErrorCode.Overloaded,
            $"The log cannot keep up: Kafka's producer queue is full (Kafka: {ex.Error.Reason}); records of this append to '{topic}' handed to the producer before it filled may be written. Retry after a pause.", ex),
        ErrorCode.MsgSizeTooLarge or ErrorCode.RecordListTooLarge =>
            new LogException(LogErrorCode.RecordTooLarge, $"Kafka refused a record for topic '{topic}' as too large: {ex.Error.Reason}.", ex),
        _ => LogErrors.Unavailable(what, ex),
    };

    private void ThrowIfDisposed() => ObjectDisposedException.ThrowIf(Volatile.Read(ref _disposed) != 0, this);
}
