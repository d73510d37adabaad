namespace PinPipe.Log;

/// <summary>A partition of a topic.</summary>
public readonly record struct LogPartition(string Topic, int Partition)
{
    /// <inheritdoc />
    public override string ToString() => $"{Topic}[{Partition}]";
}

/// <summary>
/// How a member of a consumer group takes part (<see cref="ILog.JoinGroupAsync"/>): its timeouts and what it does
/// when partitions are given to it or taken from it, as Kafka's <c>ConsumerRebalanceListener</c>.
/// </summary>
public sealed record GroupMemberOptions
{
    /// <summary>
    /// A member that has not heartbeated for this long is out of the group and its partitions go to the others (Kafka's
    /// <c>session.timeout.ms</c>). The member itself stops claiming a partition (<see cref="IGroupMember.Owns"/> turns false)
    /// a little before this runs out without a heartbeat, so two members never both own one. Default 10 s.
    /// </summary>
    public TimeSpan SessionTimeout { get; init; } = TimeSpan.FromSeconds(10);

    /// <summary>How often the member heartbeats and looks for a new assignment (Kafka's <c>heartbeat.interval.ms</c>). Default 1 s; less than a third of <see cref="SessionTimeout"/>.</summary>
    public TimeSpan HeartbeatInterval { get; init; } = TimeSpan.FromSeconds(1);

    /// <summary>
    /// Called with partitions given to this member, before <see cref="IGroupMember.Assignment"/> lists them as owned. Work
    /// on them starts from the group's committed offsets. Runs on the member's own loop: heartbeats wait for it.
    /// </summary>
    public Func<IReadOnlyList<LogPartition>, CancellationToken, Task>? OnAssigned { get; init; }

    /// <summary>
    /// Called with partitions taken from this member (another member joined or left, or the member lost them by missing
    /// its heartbeats): the work on them must stop, without committing, before the task completes; only then are they
    /// released to the other members. Runs on the member's own loop.
    /// </summary>
    public Func<IReadOnlyList<LogPartition>, CancellationToken, Task>? OnRevoked { get; init; }

    /// <summary>A name for the member in logs and in its id (a host name and process id by default).</summary>
    public string? ClientId { get; init; }

    /// <summary>Every problem of these options; empty when all is well.</summary>
    public IReadOnlyList<string> Validate()
    {
        var problems = new List<string>();
        if (SessionTimeout < TimeSpan.FromMilliseconds(100) || SessionTimeout > TimeSpan.FromMinutes(30))
            problems.Add($"The session timeout {SessionTimeout} must be 100 ms to 30 minutes.");
        if (HeartbeatInterval <= TimeSpan.Zero || HeartbeatInterval * 3 > SessionTimeout)
            problems.Add($"The heartbeat interval {HeartbeatInterval} must be more than 0 and at most a third of the session timeout ({SessionTimeout}).");
        return problems;
    }
}

/// <summary>
/// One member of a consumer group: the group's members share the partitions of the topics they subscribe to, each
/// partition owned by one member at a time. On Kafka, the group protocol with cooperative-sticky assignment; on the
/// embedded log, leases in the log database (heartbeat, expiry, rebalance when a member joins or leaves). Dispose to leave
/// the group: its partitions are revoked (<see cref="GroupMemberOptions.OnRevoked"/>) and released at once.
/// </summary>
public interface IGroupMember : IAsyncDisposable
{
    /// <summary>The group's name.</summary>
    string Group { get; }

    /// <summary>This member's id in the group.</summary>
    string MemberId { get; }

    /// <summary>The partitions this member owns now, ordered by topic and partition.</summary>
    IReadOnlyList<LogPartition> Assignment { get; }

    /// <summary>Increases each time <see cref="Assignment"/> changes.</summary>
    long Generation { get; }

    /// <summary>Completes when <see cref="Generation"/> is no longer <paramref name="generation"/>, or the token is cancelled.</summary>
    Task WaitForChangeAsync(long generation, CancellationToken cancellationToken = default);

    /// <summary>
    /// Whether this member owns the partition now and can be sure no other member does: false once its ownership may have
    /// run out (heartbeats failed for nearly a session timeout), even before <see cref="GroupMemberOptions.OnRevoked"/> is
    /// called. Check it right before a side effect that another owner would repeat.
    /// </summary>
    bool Owns(string topic, int partition);

    /// <summary>
    /// Commits the group's offsets (the next offset to read) of partitions this member owns, atomically with the check
    /// that it still owns them: a fenced member (one whose partitions went to another) cannot move them.
    /// </summary>
    /// <exception cref="LogException"><see cref="LogErrorCode.Fenced"/>: a partition is not this member's now; nothing was committed.</exception>
    ValueTask CommitAsync(IReadOnlyList<TopicPartitionOffset> offsets, CancellationToken cancellationToken = default);
}
