namespace PinPipe.Log;

/// <summary>The log's error messages, in one place.</summary>
internal static class LogErrors
{
    public static LogException UnknownTopic(string topic) =>
        new(LogErrorCode.UnknownTopic, $"Topic '{topic}' does not exist.");

    public static LogException UnknownPartition(string topic, int partition, int partitions) =>
        new(LogErrorCode.UnknownPartition, $"Partition {partition} does not exist in topic '{topic}', which has partitions 0 to {partitions - 1}.");

    public static LogException RecordTooLarge(string topic, int index, string part, long size, int limit) =>
        new(LogErrorCode.RecordTooLarge, $"Record {index} for topic '{topic}' has a {part} of {size} bytes, larger than the limit of {limit} bytes (Log:MaxRecordBytes).");

    public static InvalidOperationException ConsumerOnly(string what, string path) =>
        new($"This log is open as a consumer (Log:Access=Consumer) and cannot {what}; appends, topic changes and retention go through the process that owns '{path}' (Log:Access=Producer).");

    public static LogException ConsumerMissingFile(string path) =>
        new(LogErrorCode.Unavailable, $"The log '{path}' does not exist. A consumer (Log:Access=Consumer) only opens an existing log: start the process that owns it (Log:Access=Producer, e.g. 'pinpipe serve') first, or check Log:Path.");

    public static LogException Unavailable(string what, Exception inner) =>
        new(LogErrorCode.Unavailable, $"The log could not {what}: {inner.Message}", inner);
}
