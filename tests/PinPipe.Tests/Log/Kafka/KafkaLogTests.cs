using System.Text;
using Confluent.Kafka;
using PinPipe.Log;
using PinPipe.Log.Kafka;

namespace PinPipe.Tests.Log.Kafka;

/// <summary>The contract tests against <see cref="KafkaLog"/> on librdkafka's mock cluster, plus interop with plain Kafka clients.</summary>
[Collection(KafkaClusterCollection.Name)]
public sealed class KafkaLogTests(KafkaMockClusterFixture cluster) : LogContractTests
{
    protected override async Task<ILog> CreateLogAsync(LogOptions? options = null) => await OpenAsync(options);

    private async Task<KafkaLog> OpenAsync(LogOptions? options = null)
    {
        var o = (options ?? new LogOptions()) with { Kind = LogKind.Kafka, Kafka = new() { ["bootstrap.servers"] = cluster.BootstrapServers } };
        return await KafkaLog.OpenAsync(o, null, _ => cluster.TopicAdmin, default);
    }

    private Dictionary<string, string> Client() => new() { ["bootstrap.servers"] = cluster.BootstrapServers };

    [Fact]
    public async Task It_is_ready_while_the_brokers_answer_and_not_once_closed()
    {
        var log = await OpenAsync();
        await log.CreateTopicAsync(NewTopic("ready"), 1);
        Assert.Null(await ((ILog)log).CheckReadyAsync()); // what /readyz asks: the brokers answer a metadata request
        await log.DisposeAsync();
        await Assert.ThrowsAnyAsync<Exception>(async () => await ((ILog)log).CheckReadyAsync()); // /readyz answers 503 with its message
    }

    [Fact]
    public async Task A_record_from_a_plain_Kafka_producer_reads_back_through_the_log_on_the_partition_of_its_key()
    {
        await using var log = await OpenAsync();
        var topic = NewTopic("interop-in");
        await log.CreateTopicAsync(topic, 7);
        using var producer = new ProducerBuilder<byte[], byte[]>(new ProducerConfig(Client()) { Partitioner = Partitioner.Murmur2Random }).Build();

        var delivered = await producer.ProduceAsync(topic, new Message<byte[], byte[]>
        {
            Key = "user-42"u8.ToArray(),
            Value = "{\"a\":1}"u8.ToArray(),
            Timestamp = new Timestamp(1_650_000_000_123, TimestampType.CreateTime),
        });

        var read = Assert.Single(await log.ReadAsync(topic, delivered.Partition.Value, delivered.Offset.Value, 10));
        Assert.Equal("user-42", Text(read.Key));
        Assert.Equal("{\"a\":1}", Text(read.Value));
        Assert.Equal(1_650_000_000_123, read.TimestampMs);
        Assert.Equal(new Watermarks(0, 1), await log.GetWatermarksAsync(topic, delivered.Partition.Value));
        var ours = Assert.Single(await log.AppendAsync(topic, [Rec("again", key: "user-42")]));
        Assert.Equal(delivered.Partition.Value, ours.Partition);
        Assert.Equal(1, ours.Offset);
    }

    [Fact]
    public async Task A_record_appended_by_the_log_is_read_by_a_plain_Kafka_consumer_with_the_same_bytes()
    {
        await using var log = await OpenAsync();
        var topic = NewTopic("interop-out");
        await log.CreateTopicAsync(topic, 2);
        byte[] key = [0, 1, 2, 255];
        byte[] value = Encoding.UTF8.GetBytes("{\"pin\":\"\u00e9\"}");
        var position = Assert.Single(await log.AppendAsync(topic, [new LogRecord(key, value, 1, 1_700_000_000_000)]));
        await log.AppendAsync(topic, [new LogRecord(key, null, 1)]);

        using var consumer = new ConsumerBuilder<byte[]?, byte[]?>(new ConsumerConfig(Client()) { GroupId = "plain-" + Guid.NewGuid().ToString("N"), EnableAutoCommit = false }).Build();
        consumer.Assign(new Confluent.Kafka.TopicPartitionOffset(topic, 1, 0));
        var first = consumer.Consume(TimeSpan.FromSeconds(10));
        var second = consumer.Consume(TimeSpan.FromSeconds(10));

        Assert.Equal(new RecordPosition(1, 0), position);
        Assert.NotNull(first);
        Assert.Equal(0, first.Offset.Value);
        Assert.Equal(key, first.Message.Key);
        Assert.Equal(value, first.Message.Value);
        Assert.Equal(1_700_000_000_000, first.Message.Timestamp.UnixTimestampMs);
        Assert.NotNull(second);
        Assert.Equal(key, second.Message.Key);
        Assert.Null(second.Message.Value);
    }

    [Fact]
    public async Task Offsets_committed_by_the_log_are_the_committed_offsets_of_a_plain_consumer_in_the_group_and_back()
    {
        await using var log = await OpenAsync();
        var topic = NewTopic("groups");
        await log.CreateTopicAsync(topic, 2);
        var group = "g-" + Guid.NewGuid().ToString("N");
        await log.CommitOffsetsAsync(group, [new(topic, 0, 12), new(topic, 1, 3)]);

        using var consumer = new ConsumerBuilder<byte[]?, byte[]?>(new ConsumerConfig(Client()) { GroupId = group, EnableAutoCommit = false }).Build();
        var committed = consumer.Committed([new TopicPartition(topic, 0), new TopicPartition(topic, 1)], TimeSpan.FromSeconds(10));
        Assert.Equal([12L, 3L], committed.OrderBy(c => c.Partition.Value).Select(c => c.Offset.Value));

        consumer.Commit([new Confluent.Kafka.TopicPartitionOffset(topic, 1, 40)]);
        Assert.Equal(40, await log.GetCommittedOffsetAsync(group, topic, 1));
        Assert.Equal(12, await log.GetCommittedOffsetAsync(group, topic, 0));
    }

    [Fact]
    public async Task Topics_are_created_with_the_retention_settings_and_a_replication_factor_of_up_to_3_and_retention_is_left_to_the_brokers()
    {
        await using var log = await OpenAsync(new LogOptions { RetentionTime = TimeSpan.FromHours(2), RetentionBytes = 5_000_000 });
        var topic = NewTopic("retention");
        await log.CreateTopicAsync(topic, 1);
        await log.AppendAsync(topic, [Rec("v", timestampMs: 1)]);

        var (partitions, replication, configs) = cluster.Created[topic];
        Assert.Equal(1, partitions);
        Assert.Equal(Math.Min(3, cluster.BrokerCount), replication);
        Assert.Equal("7200000", configs["retention.ms"]);
        Assert.Equal("5000000", configs["retention.bytes"]);
        Assert.Equal(0, await log.EnforceRetentionAsync());
        Assert.Equal(new Watermarks(0, 1), await log.GetWatermarksAsync(topic, 0));

        await using var forever = await OpenAsync(new LogOptions { RetentionTime = null });
        var kept = NewTopic("forever");
        await forever.CreateTopicAsync(kept, 1);
        Assert.Equal("-1", cluster.Created[kept].Configs["retention.ms"]);
        Assert.Equal("-1", cluster.Created[kept].Configs["retention.bytes"]);
    }

    [Fact]
    public async Task LogFactory_opens_the_Kafka_log_and_names_the_missing_bootstrap_servers_setting()
    {
        await using (var log = await LogFactory.OpenAsync(new LogOptions { Kind = LogKind.Kafka, Kafka = Client() }))
            Assert.IsType<KafkaLog>(log);

        var ex = await Assert.ThrowsAsync<ArgumentException>(() => LogFactory.OpenAsync(new LogOptions { Kind = LogKind.Kafka }).AsTask());
        Assert.Contains("Log:Kafka:bootstrap.servers", ex.Message);
        var blank = await Assert.ThrowsAsync<ArgumentException>(() => LogFactory.OpenAsync(new LogOptions { Kind = LogKind.Kafka, Kafka = new() { ["bootstrap.servers"] = " " } }).AsTask());
        Assert.Contains("Log:Kafka:bootstrap.servers", blank.Message);
    }

    [Theory]
    [InlineData(10, LogErrorCode.RecordTooLarge)] // MESSAGE_TOO_LARGE
    [InlineData(29, LogErrorCode.Unavailable)] // TOPIC_AUTHORIZATION_FAILED
    public async Task A_broker_refusing_a_produce_request_fails_the_append_with_the_mapped_code(int kafkaError, LogErrorCode expected)
    {
        await using var log = await OpenAsync();
        var topic = NewTopic("refused");
        await log.CreateTopicAsync(topic, 1);
        await log.AppendAsync(topic, [Rec("before")]);

        cluster.PushRequestErrors(apiKey: 0, kafkaError);
        var ex = await Assert.ThrowsAsync<LogException>(() => log.AppendAsync(topic, [Rec("refused")]).AsTask());

        Assert.Equal(expected, ex.Code);
        Assert.Contains(topic, ex.Message);
        Assert.Equal(["before"], (await log.ReadAsync(topic, 0, 0, 10)).Select(r => Text(r.Value)));
    }

    [Fact]
    public async Task An_append_past_the_producers_queue_limits_is_refused_whole_as_Overloaded_before_any_record_is_sent()
    {
        // librdkafka's own message limit of 3, bytes of Log:MaxQueuedBytes: the first append, held by slow brokers, leaves room for neither.
        var options = new LogOptions
        {
            Kind = LogKind.Kafka,
            MaxQueuedBytes = 1000,
            Kafka = new() { ["bootstrap.servers"] = cluster.BootstrapServers, ["queue.buffering.max.messages"] = "3" },
        };
        await using var log = await KafkaLog.OpenAsync(options, null, _ => cluster.TopicAdmin, default);
        var topic = NewTopic("overloaded");
        await log.CreateTopicAsync(topic, 1);
        await log.AppendAsync(topic, [Rec("warm")]); // metadata known: the next append is queued at once
        try
        {
            foreach (var id in cluster.BrokerIds) cluster.SetRoundTripTime(id, TimeSpan.FromSeconds(2));
            var first = log.AppendAsync(topic, [Rec("a"), Rec("b")]).AsTask();

            var byCount = await Assert.ThrowsAsync<LogException>(() => log.AppendAsync(topic, [Rec("c"), Rec("d")]).AsTask());
            Assert.Equal(LogErrorCode.Overloaded, byCount.Code);
            Assert.Contains("queue.buffering.max.messages=3", byCount.Message, StringComparison.Ordinal);
            var byBytes = await Assert.ThrowsAsync<LogException>(() => log.AppendAsync(topic, [Rec(new string('e', 999))]).AsTask());
            Assert.Equal(LogErrorCode.Overloaded, byBytes.Code);
            Assert.Contains("Log:MaxQueuedBytes", byBytes.Message, StringComparison.Ordinal);
            Assert.True(byBytes.IsRetriable);

            Assert.Equal(2, (await first).Count);
        }
        finally
        {
            foreach (var id in cluster.BrokerIds) cluster.SetRoundTripTime(id, TimeSpan.Zero);
        }

        await log.AppendAsync(topic, [Rec("after")]);
        Assert.Equal(["warm", "a", "b", "after"], (await log.ReadAsync(topic, 0, 0, 10)).Select(r => Text(r.Value)));
    }

    [Fact]
    public async Task Calls_after_dispose_throw_ObjectDisposedException()
    {
        var log = await OpenAsync();
        var topic = NewTopic();
        await log.CreateTopicAsync(topic, 1);
        await log.DisposeAsync();
        await log.DisposeAsync();
        await Assert.ThrowsAsync<ObjectDisposedException>(() => log.AppendAsync(topic, [Rec("v")]).AsTask());
        await Assert.ThrowsAsync<ObjectDisposedException>(() => log.ReadAsync(topic, 0, 0, 1).AsTask());
    }
}
