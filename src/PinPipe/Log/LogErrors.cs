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

    public static LogException Unavailable(string what, Exception inner) =>
        new(LogErrorCode.Unavailable, $"The log could not {what}: {inner.Message}", inner);
}
