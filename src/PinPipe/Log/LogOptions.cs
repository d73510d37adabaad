using PinPipe.Configuration;

namespace PinPipe.Log;

/// <summary>Settings of the log (configuration section <c>Log</c>).</summary>
public sealed record LogOptions
{
    /// <summary><c>sqlite</c> (embedded, default) or <c>kafka</c>.</summary>
    public LogKind Kind { get; init; } = LogKind.Sqlite;

    /// <summary>Embedded log: the SQLite database file; a relative path is under the data folder. Default <c>log.db</c>.</summary>
    public string Path { get; init; } = "log.db";

    /// <summary>
    /// Embedded log: <see cref="LogAccess.Producer"/> (default) for the one process that appends and manages topics,
    /// <see cref="LogAccess.Consumer"/> for other processes that only read and commit group offsets.
    /// </summary>
    public LogAccess Access { get; init; } = LogAccess.Producer;

    /// <summary>Partitions of the topics PinPipe creates. Default 1 (Kafka's <c>num.partitions</c>).</summary>
    public int DefaultPartitions { get; init; } = 1;

    /// <summary>
    /// Most topics (streams included) the log holds; creating one more is refused. Default 200. Each partition costs the
    /// producer about 200 bytes of memory for as long as its topic exists, so this and <see cref="MaxPartitionsPerTopic"/>
    /// bound what clients of the API can make the server hold.
    /// </summary>
    public int MaxTopics { get; init; } = 200;

    /// <summary>Most partitions (a stream's shards) of a topic created from now on. Default 1,000; at most 10,000.</summary>
    public int MaxPartitionsPerTopic { get; init; } = 1_000;

    /// <summary>Largest single record value in bytes. Default 1 MiB (Kafka's <c>message.max.bytes</c>).</summary>
    public int MaxRecordBytes { get; init; } = 1024 * 1024;

    /// <summary>
    /// Most bytes of appends the log holds that are not durable yet: queued for the embedded log's writer or in the commit
    /// under way; for Kafka, in the producer's queue until the brokers acknowledge them. An append that would pass it is
    /// refused whole (<see cref="LogErrorCode.Overloaded"/>, the API's 503 with <c>Retry-After</c>), nothing of it written:
    /// a log that cannot keep up sheds load instead of holding ever more request bodies in memory. With nothing held, an
    /// append of any size is taken. Default 64 MiB.
    /// </summary>
    public long MaxQueuedBytes { get; init; } = 64L * 1024 * 1024;

    /// <summary>Records older than this are deleted (Kafka's <c>retention.ms</c>). Default 7 days; null keeps them forever.</summary>
    public TimeSpan? RetentionTime { get; init; } = TimeSpan.FromDays(7);

    /// <summary>Per partition, the oldest records are deleted once the partition holds more bytes than this (Kafka's <c>retention.bytes</c>). Default null: no size limit.</summary>
    public long? RetentionBytes { get; init; }

    /// <summary>How often retention runs. Default 5 minutes (Kafka's <c>log.retention.check.interval.ms</c>).</summary>
    public TimeSpan RetentionCheckInterval { get; init; } = TimeSpan.FromMinutes(5);

    /// <summary>Kafka log: client settings passed through untouched under their Kafka names (<c>bootstrap.servers</c>, <c>security.protocol</c>, ...).</summary>
    public Dictionary<string, string> Kafka { get; init; } = new();

    public static LogOptions Default { get; } = new();

    /// <summary>Every problem of these settings, each naming its key; empty when all is well.</summary>
    public IReadOnlyList<string> Validate() => new SettingsProblems()
        .OneOf("Log:Kind", Kind)
        .Check(!string.IsNullOrWhiteSpace(Path), "Log:Path: must not be empty.")
        .OneOf("Log:Access", Access)
        .Check(MaxTopics >= 1, $"Log:MaxTopics: {MaxTopics} must be at least 1.")
        .Check(MaxPartitionsPerTopic is >= 1 and <= TopicRules.MaxPartitions, $"Log:MaxPartitionsPerTopic: {MaxPartitionsPerTopic} must be 1 to {TopicRules.MaxPartitions}.")
        .Check(DefaultPartitions >= 1 && DefaultPartitions <= MaxPartitionsPerTopic,
            $"Log:DefaultPartitions: {DefaultPartitions} must be 1 to Log:MaxPartitionsPerTopic ({MaxPartitionsPerTopic}).")
        .Check(MaxRecordBytes >= 1, $"Log:MaxRecordBytes: {MaxRecordBytes} must be at least 1.")
        .Check(MaxQueuedBytes >= 1, $"Log:MaxQueuedBytes: {MaxQueuedBytes} must be at least 1.")
        .Check(RetentionBytes is null or > 0, $"Log:RetentionBytes: {RetentionBytes} must be more than 0 (or unset).")
        .Check(RetentionTime is null || RetentionTime > TimeSpan.Zero, $"Log:RetentionTime: {Durations.Text(RetentionTime, "unset")} must be more than 0 (or unset).")
        .Check(RetentionCheckInterval > TimeSpan.Zero, $"Log:RetentionCheckInterval: {Durations.Text(RetentionCheckInterval)} must be more than 0.")
        .Check(Kind != LogKind.Kafka || Kafka.TryGetValue("bootstrap.servers", out var brokers) && !string.IsNullOrWhiteSpace(brokers),
            "Log:Kafka:bootstrap.servers: the Kafka log needs the brokers' addresses (host:port[,host:port...]): --bootstrap-servers, or Log:Kafka:bootstrap.servers in the settings.")
        .ToList();
}
