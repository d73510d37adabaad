namespace PinPipe.Log;

/// <summary>Kafka's rules for topic names and partition counts, shared by every log implementation.</summary>
internal static class TopicRules
{
    /// <summary>Kafka's longest topic name.</summary>
    public const int MaxNameLength = 249;

    /// <summary>The most partitions a PinPipe topic may have.</summary>
    public const int MaxPartitions = 10_000;

    /// <summary>Throws <see cref="LogException"/> (<see cref="LogErrorCode.InvalidTopic"/>) when the name or count breaks Kafka's rules.</summary>
    public static void Validate(string topic, int partitions)
    {
        ValidateName(topic);
        if (partitions < 1 || partitions > MaxPartitions)
            throw new LogException(LogErrorCode.InvalidTopic, $"Topic '{topic}': partition count {partitions} is out of range; it must be between 1 and {MaxPartitions}.");
    }

    /// <summary>
    /// Throws <see cref="LogException"/> (<see cref="LogErrorCode.LimitExceeded"/>) when a new topic with
    /// <paramref name="partitions"/> partitions, beside <paramref name="topics"/> existing ones, would pass the log's limits.
    /// </summary>
    public static void CheckLimits(string topic, int partitions, int topics, LogOptions options)
    {
        if (partitions > options.MaxPartitionsPerTopic)
            throw new LogException(LogErrorCode.LimitExceeded, $"Topic '{topic}' would have {partitions} partitions (shards); the limit is {options.MaxPartitionsPerTopic} (Log:MaxPartitionsPerTopic).");
        if (topics >= options.MaxTopics)
            throw new LogException(LogErrorCode.LimitExceeded, $"Topic '{topic}' would be one more than the limit of {options.MaxTopics} topics and streams (Log:MaxTopics); delete one first.");
    }

    /// <summary>Throws <see cref="LogException"/> (<see cref="LogErrorCode.InvalidTopic"/>) when the name breaks Kafka's rules.</summary>
    public static void ValidateName(string? topic)
    {
        if (string.IsNullOrEmpty(topic))
            throw new LogException(LogErrorCode.InvalidTopic, "Topic name is empty; it must have 1 to 249 characters of [a-zA-Z0-9._-].");
        if (topic.Length > MaxNameLength)
            throw new LogException(LogErrorCode.InvalidTopic, $"Topic name is {topic.Length} characters long; the limit is {MaxNameLength}.");
        if (topic is "." or "..")
            throw new LogException(LogErrorCode.InvalidTopic, $"Topic name '{topic}' is not allowed ('.' and '..' are reserved).");
        foreach (var c in topic)
        {
            if (!(char.IsAsciiLetterOrDigit(c) || c is '.' or '_' or '-'))
                throw new LogException(LogErrorCode.InvalidTopic, $"Topic name '{topic}' contains '{c}'; only ASCII letters, digits, '.', '_' and '-' are allowed.");
        }
    }
}
