using System.Collections.Concurrent;
using PinPipe.Log;

namespace PinPipe.Tests.Log;

/// <summary>
/// The behaviour every <see cref="ILog.JoinGroupAsync"/> must have: the members of a group share the partitions of their
/// topics, one owner per partition, a partition moving only after its old owner's <see cref="GroupMemberOptions.OnRevoked"/>
/// returned, and commits fenced to the owner. An implementation's test class says how to open the log; each test uses its
/// own group and topics. Conditions are waited for with <see cref="EventuallyAsync"/> (an overall deadline, no fixed sleeps).
/// </summary>
public abstract class GroupMemberContract
{
    /// <summary>
    /// Opens the test's log. Called once for each member of a test (as each member's process would): every call of one
    /// test must open the same log.
    /// </summary>
    protected abstract Task<ILog> OpenLogAsync();

    /// <summary>The members' session timeout: short, so that each test takes seconds.</summary>
    protected virtual TimeSpan SessionTimeout => TimeSpan.FromSeconds(3);

    /// <summary>The members' heartbeat interval, at most a third of <see cref="SessionTimeout"/>.</summary>
    protected virtual TimeSpan HeartbeatInterval => TimeSpan.FromSeconds(1);

    /// <summary>How long a test waits for a condition (a rebalance) before it fails.</summary>
    protected virtual TimeSpan Deadline => TimeSpan.FromSeconds(45);

    protected static string NewTopic(string prefix = "t") => $"{prefix}.{Guid.NewGuid():N}";

    protected static string NewGroup() => $"g.{Guid.NewGuid():N}";

    protected static IReadOnlyList<LogPartition> Partitions(string topic, int count) =>
        Enumerable.Range(0, count).Select(p => new LogPartition(topic, p)).ToList();

    /// <summary>Every partition of the topics, ordered as <see cref="IGroupMember.Assignment"/> is.</summary>
    protected static IReadOnlyList<LogPartition> Ordered(IEnumerable<LogPartition> partitions) =>
        partitions.OrderBy(p => p.Topic, StringComparer.Ordinal).ThenBy(p => p.Partition).ToList();

    /// <summary>Options with the test's timeouts whose callbacks write to <paramref name="events"/> under <paramref name="name"/>.</summary>
    protected GroupMemberOptions Options(string name, Rebalances events, Func<IReadOnlyList<LogPartition>, Task>? whileRevoking = null) => new()
    {
        SessionTimeout = SessionTimeout,
        HeartbeatInterval = HeartbeatInterval,
        ClientId = name,
        OnAssigned = (partitions, _) =>
        {
            events.Add(name, "assigned", partitions);
            return Task.CompletedTask;
        },
        OnRevoked = async (partitions, _) =>
        {
            events.Add(name, "revoking", partitions);
            if (whileRevoking is not null) await whileRevoking(partitions);
            events.Add(name, "revoked", partitions);
        },
    };

    /// <summary>Waits until <paramref name="condition"/> holds, calling <paramref name="each"/> (an invariant's assertions) at every look; fails after <see cref="Deadline"/>.</summary>
    protected async Task EventuallyAsync(Func<bool> condition, Func<string> what, Action? each = null)
    {
        var deadline = DateTime.UtcNow + Deadline;
        while (true)
        {
            each?.Invoke();
            if (condition()) return;
            if (DateTime.UtcNow > deadline) Assert.Fail($"Waited {Deadline.TotalSeconds:0} s for {what()}.");
            await Task.Delay(20);
        }
    }

    private static string Describe(IGroupMember member) => $"{member.MemberId}: [{string.Join(", ", member.Assignment)}] (generation {member.Generation})";

    private static void AssertDisjoint(IGroupMember a, IGroupMember b)
    {
        var both = a.Assignment.Intersect(b.Assignment).ToList();
        Assert.True(both.Count == 0, $"Partitions owned by both members: {string.Join(", ", both)}");
        var ownedByBoth = a.Assignment.Where(p => a.Owns(p.Topic, p.Partition) && b.Owns(p.Topic, p.Partition)).ToList();
        Assert.Empty(ownedByBoth);
    }

    [Fact]
    public async Task A_single_member_gets_every_partition_of_its_two_topics_and_is_told_of_them_first()
    {
        await using var log = await OpenLogAsync();
        var (a, b) = (NewTopic("a"), NewTopic("b"));
        await log.CreateTopicAsync(a, 4);
        await log.CreateTopicAsync(b, 2);
        var other = NewTopic("other");
        await log.CreateTopicAsync(other, 1);
        var events = new Rebalances();
        var all = Ordered(Partitions(a, 4).Concat(Partitions(b, 2)));

        await using var member = await log.JoinGroupAsync(NewGroup(), [b, a], Options("one", events));
        await EventuallyAsync(() => member.Assignment.Count == 6, () => $"all 6 partitions; {Describe(member)}");

        Assert.Equal(all, member.Assignment);
        Assert.All(all, p => Assert.True(member.Owns(p.Topic, p.Partition), $"owns {p}"));
        Assert.False(member.Owns(other, 0));
        Assert.False(member.Owns(a, 4));
        Assert.Equal(all, Ordered(events.Partitions("one", "assigned")));
        Assert.Empty(events.Partitions("one", "revoking"));
        Assert.True(member.Generation > 0);
        Assert.False(string.IsNullOrEmpty(member.MemberId));

        // WaitForChangeAsync: done at once for a past generation, waits for the current one.
        await member.WaitForChangeAsync(member.Generation - 1);
        using var cts = new CancellationTokenSource();
        var waiting = member.WaitForChangeAsync(member.Generation, cts.Token);
        Assert.False(waiting.IsCompleted);
        await cts.CancelAsync();
        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => waiting);
    }

    [Fact]
    public async Task A_second_member_takes_half_of_the_partitions_only_after_the_first_has_revoked_them_and_gets_all_when_the_first_leaves()
    {
        await using var log = await OpenLogAsync();
        await using var log2 = await OpenLogAsync();
        var (a, b) = (NewTopic("a"), NewTopic("b"));
        await log.CreateTopicAsync(a, 3);
        await log.CreateTopicAsync(b, 3);
        var all = Ordered(Partitions(a, 3).Concat(Partitions(b, 3)));
        var group = NewGroup();
        var events = new Rebalances();
        IGroupMember? second = null;
        var overlapsWhileRevoking = new ConcurrentQueue<LogPartition>();

        var first = await log.JoinGroupAsync(group, [a, b], Options("first", events, whileRevoking: async partitions =>
        {
            // The work on them stops here; the other member must not have them yet.
            await Task.Delay(300);
            foreach (var p in partitions.Where(p => second?.Assignment.Contains(p) == true)) overlapsWhileRevoking.Enqueue(p);
        }));
        try
        {
            await EventuallyAsync(() => first.Assignment.Count == 6, () => $"all 6 partitions with the first member; {Describe(first)}");
            var firstGeneration = first.Generation;

            second = await log2.JoinGroupAsync(group, [a, b], Options("second", events));
            await EventuallyAsync(() => first.Assignment.Count == 3 && second.Assignment.Count == 3,
                () => $"a 3/3 split; {Describe(first)}; {Describe(second)}", each: () => AssertDisjoint(first, second));

            Assert.Equal(all, Ordered(first.Assignment.Concat(second.Assignment)));
            Assert.Empty(overlapsWhileRevoking);
            Assert.True(first.Generation > firstGeneration);
            Assert.NotEqual(first.MemberId, second.MemberId);
            var moved = second.Assignment;
            Assert.Equal(moved, Ordered(events.Partitions("first", "revoked")));
            foreach (var p in moved)
                Assert.True(events.Last("first", "revoked", p) < events.First("second", "assigned", p), $"{p} was revoked from the first member before the second got it");
            Assert.All(moved, p => Assert.False(first.Owns(p.Topic, p.Partition), $"the first member no longer owns {p}"));
            Assert.All(moved, p => Assert.True(second.Owns(p.Topic, p.Partition), $"the second member owns {p}"));

            var kept = first.Assignment;
            await first.DisposeAsync();
            Assert.Equal(kept, Ordered(events.Partitions("first", "revoked").Except(moved)));
            Assert.Empty(first.Assignment);
            Assert.All(all, p => Assert.False(first.Owns(p.Topic, p.Partition)));

            await EventuallyAsync(() => second.Assignment.Count == 6, () => $"all 6 partitions with the second member; {Describe(second)}");
            Assert.Equal(all, second.Assignment);
            Assert.All(kept, p => Assert.True(events.Last("first", "revoked", p) < events.Last("second", "assigned", p)));
            Assert.Empty(events.Partitions("second", "revoking"));
        }
        finally
        {
            await first.DisposeAsync();
            if (second is not null) await second.DisposeAsync();
        }
    }

    [Fact]
    public async Task A_member_commits_the_offsets_of_its_own_partitions_and_is_fenced_from_any_other()
    {
        await using var log = await OpenLogAsync();
        var (a, notSubscribed) = (NewTopic("a"), NewTopic("n"));
        await log.CreateTopicAsync(a, 2);
        await log.CreateTopicAsync(notSubscribed, 1);
        var group = NewGroup();
        await using var member = await log.JoinGroupAsync(group, [a], Options("committer", new Rebalances()));
        await EventuallyAsync(() => member.Assignment.Count == 2, () => $"both partitions; {Describe(member)}");

        await member.CommitAsync([new(a, 0, 5), new(a, 1, 7)]);
        Assert.Equal(5, await log.GetCommittedOffsetAsync(group, a, 0));
        Assert.Equal(7, await log.GetCommittedOffsetAsync(group, a, 1));
        await member.CommitAsync([]);

        var ex = await Assert.ThrowsAsync<LogException>(() => member.CommitAsync([new(a, 0, 9), new(notSubscribed, 0, 3)]).AsTask());
        Assert.Equal(LogErrorCode.Fenced, ex.Code);
        Assert.Contains(group, ex.Message);
        Assert.Contains(member.MemberId, ex.Message);
        Assert.Contains($"{notSubscribed}[0]", ex.Message);
        Assert.Equal(5, await log.GetCommittedOffsetAsync(group, a, 0));
        Assert.Null(await log.GetCommittedOffsetAsync(group, notSubscribed, 0));

        var outOfRange = await Assert.ThrowsAsync<LogException>(() => member.CommitAsync([new(a, 2, 1)]).AsTask());
        Assert.Equal(LogErrorCode.Fenced, outOfRange.Code);
    }

    [Fact]
    public async Task A_member_is_fenced_from_the_partitions_that_moved_to_another_member()
    {
        await using var log = await OpenLogAsync();
        await using var log2 = await OpenLogAsync();
        var a = NewTopic("a");
        await log.CreateTopicAsync(a, 2);
        var group = NewGroup();
        await using var first = await log.JoinGroupAsync(group, [a], Options("first", new Rebalances()));
        await EventuallyAsync(() => first.Assignment.Count == 2, () => $"both partitions; {Describe(first)}");
        await using var second = await log2.JoinGroupAsync(group, [a], Options("second", new Rebalances()));
        await EventuallyAsync(() => first.Assignment.Count == 1 && second.Assignment.Count == 1, () => $"a 1/1 split; {Describe(first)}; {Describe(second)}");

        var lost = second.Assignment[0];
        var ex = await Assert.ThrowsAsync<LogException>(() => first.CommitAsync([new(lost.Topic, lost.Partition, 4)]).AsTask());
        Assert.Equal(LogErrorCode.Fenced, ex.Code);
        Assert.Contains(lost.ToString(), ex.Message);
        Assert.Null(await log.GetCommittedOffsetAsync(group, lost.Topic, lost.Partition));

        await second.CommitAsync([new(lost.Topic, lost.Partition, 4)]);
        Assert.Equal(4, await log.GetCommittedOffsetAsync(group, lost.Topic, lost.Partition));
    }

    [Fact]
    public async Task A_topic_created_after_joining_is_assigned()
    {
        await using var log = await OpenLogAsync();
        var (early, late) = (NewTopic("early"), NewTopic("late"));
        await log.CreateTopicAsync(early, 1);
        var events = new Rebalances();
        await using var member = await log.JoinGroupAsync(NewGroup(), [early, late], Options("m", events));
        await EventuallyAsync(() => member.Assignment.Count == 1, () => $"the existing topic's partition; {Describe(member)}");

        await log.CreateTopicAsync(late, 2);
        await EventuallyAsync(() => member.Assignment.Count == 3, () => $"the new topic's partitions too; {Describe(member)}");
        Assert.Equal(Ordered(Partitions(early, 1).Concat(Partitions(late, 2))), member.Assignment);
        Assert.True(member.Owns(late, 1));
        Assert.Equal(Partitions(late, 2), Ordered(events.Partitions("m", "assigned").Where(p => p.Topic == late)));
    }

    [Fact]
    public async Task A_member_of_topics_that_do_not_exist_yet_joins_and_gets_them_when_they_appear()
    {
        await using var log = await OpenLogAsync();
        var late = NewTopic("late");
        await using var member = await log.JoinGroupAsync(NewGroup(), [late], Options("m", new Rebalances()));
        Assert.Empty(member.Assignment);
        Assert.False(member.Owns(late, 0));

        await log.CreateTopicAsync(late, 2);
        await EventuallyAsync(() => member.Assignment.Count == 2, () => $"the new topic's partitions; {Describe(member)}");
        Assert.Equal(Partitions(late, 2), member.Assignment);
    }

    [Fact]
    public async Task Invalid_options_are_refused_with_every_problem_named()
    {
        await using var log = await OpenLogAsync();
        var topic = NewTopic();
        await log.CreateTopicAsync(topic, 1);

        var slowHeartbeat = await Assert.ThrowsAsync<ArgumentException>(() => log.JoinGroupAsync(NewGroup(), [topic],
            new GroupMemberOptions { SessionTimeout = TimeSpan.FromSeconds(3), HeartbeatInterval = TimeSpan.FromSeconds(2) }).AsTask());
        Assert.Contains("heartbeat interval", slowHeartbeat.Message, StringComparison.Ordinal);

        var both = await Assert.ThrowsAsync<ArgumentException>(() => log.JoinGroupAsync(NewGroup(), [topic],
            new GroupMemberOptions { SessionTimeout = TimeSpan.FromMilliseconds(10), HeartbeatInterval = TimeSpan.Zero }).AsTask());
        Assert.Contains("session timeout", both.Message, StringComparison.Ordinal);
        Assert.Contains("heartbeat interval", both.Message, StringComparison.Ordinal);

        var noTopics = await Assert.ThrowsAsync<ArgumentException>(() => log.JoinGroupAsync(NewGroup(), [], new GroupMemberOptions()).AsTask());
        Assert.Contains("topic", noTopics.Message, StringComparison.Ordinal);
    }

    /// <summary>The rebalance callbacks' calls, in one order across the members of a test.</summary>
    protected sealed class Rebalances
    {
        private long _sequence;
        private readonly ConcurrentQueue<(long Sequence, string Member, string Kind, LogPartition Partition)> _events = new();

        public void Add(string member, string kind, IReadOnlyList<LogPartition> partitions)
        {
            var sequence = Interlocked.Increment(ref _sequence);
            foreach (var p in partitions) _events.Enqueue((sequence, member, kind, p));
        }

        /// <summary>Every partition of the member's calls of that kind, in call order.</summary>
        public IReadOnlyList<LogPartition> Partitions(string member, string kind) =>
            _events.Where(e => e.Member == member && e.Kind == kind).Select(e => e.Partition).ToList();

        public long First(string member, string kind, LogPartition partition) =>
            _events.Where(e => e.Member == member && e.Kind == kind && e.Partition == partition).Select(e => e.Sequence).DefaultIfEmpty(long.MaxValue).Min();

        public long Last(string member, string kind, LogPartition partition) =>
            _events.Where(e => e.Member == member && e.Kind == kind && e.Partition == partition).Select(e => e.Sequence).DefaultIfEmpty(long.MinValue).Max();
    }
}
