namespace PinPipe.Log;

/// <summary>Why a log operation failed. The ingest API maps these to REST Proxy error codes.</summary>
public enum LogErrorCode
{
    /// <summary>The topic does not exist.</summary>
    UnknownTopic,
    /// <summary>The partition does not exist in the topic.</summary>
    UnknownPartition,
    /// <summary>The topic name or partition count is not valid.</summary>
    InvalidTopic,
    /// <summary>A record or the whole append is larger than the log accepts.</summary>
    RecordTooLarge,
    /// <summary>The log could not take the write now (disk, lock, broker); retrying may succeed.</summary>
    Unavailable,
    /// <summary>Creating the topic would pass <see cref="LogOptions.MaxTopics"/> or <see cref="LogOptions.MaxPartitionsPerTopic"/>.</summary>
    LimitExceeded,
    /// <summary>A topic was not deleted because a consumer group has not consumed all of its records.</summary>
    NotConsumed,
    /// <summary>
    /// A consumer's checkpoint is for another incarnation of the topic, or past its end: the topic was deleted, created
    /// again (another topic id) or truncated. The consumer stops rather than skip records; the message names the way forward.
    /// </summary>
    CheckpointMismatch,
}

/// <summary>The one exception type of the log: a code, whether retrying may help, and a message.</summary>
public sealed class LogException : Exception
{
    public LogException(LogErrorCode code, string message, Exception? inner = null) : base(message, inner) => Code = code;

    public LogErrorCode Code { get; }

    /// <summary>True when the same call may succeed later.</summary>
    public bool IsRetriable => Code == LogErrorCode.Unavailable;
}
