namespace PinPipe.Log;

/// <summary>How a process opens the embedded log (<see cref="LogOptions.Access"/>); Kafka clients ignore it.</summary>
public enum LogAccess
{
    /// <summary>
    /// The one process that appends, creates and deletes topics and runs retention (e.g. <c>pinpipe serve</c>).
    /// It holds the log's <c>.lock</c> file, creates the file when it is missing, and keeps the next offsets in memory.
    /// </summary>
    Producer,

    /// <summary>
    /// Any number of other processes that read records, watermarks and topics and commit consumer-group offsets
    /// (e.g. <c>pinpipe sink</c>). It takes no lock, never creates the file, reads watermarks and topics from the
    /// database on every call (so it sees what the producer writes after it opened), polls for new data, and
    /// refuses appends, topic changes and retention.
    /// </summary>
    Consumer,
}
