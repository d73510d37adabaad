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

    public static LogException Overloaded(string topic, long bytes, long pendingBytes, long limit, string where) =>
        new(LogErrorCode.Overloaded,
            $"The log cannot keep up: it holds {pendingBytes} bytes of appends not yet durable, and this append of {bytes} bytes to '{topic}' would pass {where}={limit}; nothing of it was written. Retry after a pause.");

    public static LogException QueueFull(string topic, string queue) =>
        new(LogErrorCode.Overloaded, $"The log cannot keep up: {queue} is full; nothing of this append to '{topic}' was written. Retry after a pause.");

    public static LogException DiskFull(string what, string path, Exception inner) =>
        new(LogErrorCode.DiskFull,
            $"The disk under the log is full: the log could not {what} ({inner.Message}); nothing of it was written. Free space on the disk of '{path}': the log takes writes again without a restart.",
            inner, path);
}
