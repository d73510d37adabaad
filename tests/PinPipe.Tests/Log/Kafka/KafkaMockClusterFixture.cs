using System.Collections.Concurrent;
using System.Diagnostics.CodeAnalysis;
using System.Reflection;
using System.Runtime.InteropServices;
using Confluent.Kafka;
using PinPipe.Log.Kafka;

namespace PinPipe.Tests.Log.Kafka;

/// <summary>
/// librdkafka's in-process mock Kafka cluster (3 brokers on 127.0.0.1), started by a client configured with
/// <c>test.mock.num.brokers</c> and alive as long as that owner client. Real Kafka protocol on real sockets:
/// produce, fetch, list offsets, metadata, offset commit/fetch, idempotent and transactional producers.
/// It has no CreateTopics/DeleteTopics (librdkafka's rdkafka_mock.h: "The Topic Admin API (CreateTopics) is not
/// supported by the mock broker"), so topics are created and deleted through its control API instead; its controller
/// is set (it reports none by default), so that the Admin API's DescribeTopics, which asks the controller, answers.
/// </summary>
public sealed class KafkaMockClusterFixture : IDisposable
{
    private readonly IAdminClient _owner;
    private readonly IntPtr _cluster;

    public KafkaMockClusterFixture()
    {
        _owner = new AdminClientBuilder(new AdminClientConfig(new Dictionary<string, string>
        {
            ["bootstrap.servers"] = "127.0.0.1:9",
            ["test.mock.num.brokers"] = "3",
            ["log_level"] = "3",
        })).Build();
        var brokers = _owner.GetMetadata(TimeSpan.FromSeconds(10)).Brokers;
        BootstrapServers = string.Join(",", brokers.Select(b => $"{b.Host}:{b.Port}"));
        BrokerCount = brokers.Count;
        BrokerIds = brokers.Select(b => b.BrokerId).ToList();

        var handle = _owner.Handle;
        var member = handle.GetType().GetProperty("LibrdkafkaHandle", BindingFlags.Instance | BindingFlags.NonPublic | BindingFlags.Public)?.GetValue(handle)
            ?? handle.GetType().GetField("LibrdkafkaHandle", BindingFlags.Instance | BindingFlags.NonPublic | BindingFlags.Public)?.GetValue(handle)
            ?? throw new InvalidOperationException("Confluent.Kafka's Handle has no LibrdkafkaHandle; the mock cluster cannot be reached.");
        _cluster = Native.rd_kafka_handle_mock_cluster(((SafeHandle)member).DangerousGetHandle());
        if (_cluster == IntPtr.Zero) throw new InvalidOperationException("The owner client has no mock cluster.");
        Native.rd_kafka_mock_set_controller_id(_cluster, brokers[0].BrokerId);
    }

    /// <summary>The mock brokers, <c>host:port,...</c>.</summary>
    public string BootstrapServers { get; }

    public int BrokerCount { get; }

    /// <summary>The mock brokers' ids.</summary>
    public IReadOnlyList<int> BrokerIds { get; }

    /// <summary>Every topic creation asked of the cluster through <see cref="TopicAdmin"/>, with its settings.</summary>
    public ConcurrentDictionary<string, (int Partitions, short ReplicationFactor, IReadOnlyDictionary<string, string> Configs)> Created { get; } = new();

    internal IKafkaTopicAdmin TopicAdmin => new MockTopicAdmin(this);

    /// <summary>Makes the cluster answer the next <paramref name="count"/> requests of <paramref name="apiKey"/> with Kafka error <paramref name="error"/>.</summary>
    public void PushRequestErrors(short apiKey, int error, int count = 1) =>
        Native.rd_kafka_mock_push_request_errors_array(_cluster, apiKey, (nuint)count, Enumerable.Repeat(error, count).ToArray());

    /// <summary>Makes broker <paramref name="brokerId"/> the coordinator of consumer group <paramref name="group"/>.</summary>
    public void SetGroupCoordinator(string group, int brokerId) => Native.rd_kafka_mock_coordinator_set(_cluster, "group", group, brokerId);

    /// <summary>Delays every answer of broker <paramref name="brokerId"/> by <paramref name="rtt"/> (zero: no delay).</summary>
    public void SetRoundTripTime(int brokerId, TimeSpan rtt) => Native.rd_kafka_mock_broker_set_rtt(_cluster, brokerId, (int)rtt.TotalMilliseconds);

    public void Dispose() => _owner.Dispose();

    private sealed class MockTopicAdmin(KafkaMockClusterFixture fixture) : IKafkaTopicAdmin
    {
        public Task CreateAsync(string topic, int partitions, short replicationFactor, IReadOnlyDictionary<string, string> configs, CancellationToken cancellationToken)
        {
            var err = Native.rd_kafka_mock_topic_create(fixture._cluster, topic, partitions, replicationFactor);
            if (err != 0) throw new InvalidOperationException($"The mock cluster refused topic '{topic}': error {err}.");
            fixture.Created[topic] = (partitions, replicationFactor, configs);
            return Task.CompletedTask;
        }

        // As a broker does: the topic, its records and the groups' committed offsets of it are gone.
        public Task DeleteAsync(string topic, CancellationToken cancellationToken)
        {
            Native.rd_kafka_mock_topic_delete(fixture._cluster, topic);
            return Task.CompletedTask;
        }
    }

    /// <summary>
    /// The mock control functions of the very librdkafka that Confluent.Kafka loaded (it picks one of several
    /// builds at run time, so the library is found among the process's mapped files, not by name).
    /// </summary>
    private static class Native
    {
        private static readonly IntPtr Library = NativeLibrary.Load(
            File.ReadLines("/proc/self/maps").Select(l => l.Split(' ', StringSplitOptions.RemoveEmptyEntries)).Where(f => f.Length >= 6)
                .Select(f => f[5]).FirstOrDefault(path => Path.GetFileName(path).Contains("rdkafka", StringComparison.Ordinal))
            ?? throw new InvalidOperationException("librdkafka is not loaded in this process."));

        private delegate IntPtr HandleMockCluster(IntPtr rk);
        private delegate int TopicCreate(IntPtr mcluster, [MarshalAs(UnmanagedType.LPUTF8Str)] string topic, int partitionCount, int replicationFactor);
        private delegate int TopicDelete(IntPtr mcluster, [MarshalAs(UnmanagedType.LPUTF8Str)] string topic);
        private delegate int SetControllerId(IntPtr mcluster, int brokerId);

        private delegate int CoordinatorSet(IntPtr mcluster, [MarshalAs(UnmanagedType.LPUTF8Str)] string keyType, [MarshalAs(UnmanagedType.LPUTF8Str)] string key, int brokerId);
        private delegate int BrokerSetRtt(IntPtr mcluster, int brokerId, int rttMs);

        private delegate void PushErrors(IntPtr mcluster, short apiKey, nuint count, int[] errors);

        private static T Export<T>(string name) where T : Delegate => Marshal.GetDelegateForFunctionPointer<T>(NativeLibrary.GetExport(Library, name));

        public static IntPtr rd_kafka_handle_mock_cluster(IntPtr rk) => Export<HandleMockCluster>(nameof(rd_kafka_handle_mock_cluster))(rk);

        public static int rd_kafka_mock_topic_create(IntPtr mcluster, string topic, int partitionCount, int replicationFactor) =>
            Export<TopicCreate>(nameof(rd_kafka_mock_topic_create))(mcluster, topic, partitionCount, replicationFactor);

        public static void rd_kafka_mock_push_request_errors_array(IntPtr mcluster, short apiKey, nuint count, int[] errors) =>
            Export<PushErrors>(nameof(rd_kafka_mock_push_request_errors_array))(mcluster, apiKey, count, errors);

        public static int rd_kafka_mock_topic_delete(IntPtr mcluster, string topic) =>
            Export<TopicDelete>(nameof(rd_kafka_mock_topic_delete))(mcluster, topic);

        public static void rd_kafka_mock_coordinator_set(IntPtr mcluster, string keyType, string key, int brokerId) =>
            Export<CoordinatorSet>(nameof(rd_kafka_mock_coordinator_set))(mcluster, keyType, key, brokerId);

        public static void rd_kafka_mock_broker_set_rtt(IntPtr mcluster, int brokerId, int rttMs) =>
            Export<BrokerSetRtt>(nameof(rd_kafka_mock_broker_set_rtt))(mcluster, brokerId, rttMs);

        // Not in rdkafka_mock.h (an internal test hook), but exported by the librdkafka that Confluent.Kafka ships.
        public static void rd_kafka_mock_set_controller_id(IntPtr mcluster, int brokerId) =>
            Export<SetControllerId>(nameof(rd_kafka_mock_set_controller_id))(mcluster, brokerId);
    }
}

/// <summary>The Kafka tests share one mock cluster.</summary>
[CollectionDefinition(Name)]
[SuppressMessage("Naming", "CA1711:Identifiers should not have incorrect suffix", Justification = "xUnit's convention for a collection definition.")]
public sealed class KafkaClusterCollection : ICollectionFixture<KafkaMockClusterFixture>
{
    public const string Name = "kafka-mock-cluster";
}
