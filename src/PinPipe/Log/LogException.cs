using PinPipe.Errors;

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
    /// <summary>The log's file cannot be used as a log: not a database, another schema version, not in WAL mode.</summary>
    Unreadable,
    /// <summary>A group member acted on a partition it no longer owns (another member took it over); nothing was done.</summary>
    Fenced,
    /// <summary>
    /// The log cannot keep up: the appends it holds that are not durable yet would pass <see cref="LogOptions.MaxQueuedBytes"/>
    /// (or its queue is full). The append was refused whole, nothing of it written; retrying after a pause may succeed.
    /// </summary>
    Overloaded,
    /// <summary>The disk under the log is full: nothing of the write was written; it succeeds again once space is freed.</summary>
    DiskFull,
}

/// <summary>The one exception type of the log: a code, whether retrying may help, and a message.</summary>
public sealed class LogException : PinPipeException
{
    public LogException(LogErrorCode code, string message, Exception? inner = null, string? where = null)
        : base(CodeName(code), KindOf(code), message, inner, where) => Code = code;

    /// <summary>Why the operation failed, as the log's own code.</summary>
    public LogErrorCode Code { get; }

    private static string CodeName(LogErrorCode code) => code switch
    {
        LogErrorCode.UnknownTopic => "log.unknown_topic",
        LogErrorCode.UnknownPartition => "log.unknown_partition",
        LogErrorCode.InvalidTopic => "log.invalid_topic",
        LogErrorCode.RecordTooLarge => "log.record_too_large",
        LogErrorCode.Unavailable => "log.unavailable",
        LogErrorCode.LimitExceeded => "log.limit_exceeded",
        LogErrorCode.NotConsumed => "log.not_consumed",
        LogErrorCode.CheckpointMismatch => "log.checkpoint_mismatch",
        LogErrorCode.Unreadable => "log.unreadable",
        LogErrorCode.Fenced => "log.fenced",
        LogErrorCode.Overloaded => "log.overloaded",
        LogErrorCode.DiskFull => "log.disk_full",
        _ => "log.error",
    };

    private static ErrorKind KindOf(LogErrorCode code) => code switch
    {
        LogErrorCode.Unavailable or LogErrorCode.Overloaded or LogErrorCode.DiskFull => ErrorKind.Unavailable,
        LogErrorCode.InvalidTopic or LogErrorCode.RecordTooLarge or LogErrorCode.LimitExceeded => ErrorKind.BadInput,
        _ => ErrorKind.Failed,
    };
}
