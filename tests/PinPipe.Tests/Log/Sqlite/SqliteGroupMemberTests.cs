using Microsoft.Data.Sqlite;
using PinPipe.Log;
using PinPipe.Log.Sqlite;
using PinPipe.Tests.Support;

namespace PinPipe.Tests.Log.Sqlite;

/// <summary>
/// Consumer-group membership of the embedded log (<see cref="SqliteGroupMember"/>): leases in the log database, with
/// several members on one file as several worker processes would be (each with its own connection).
/// </summary>
[System.Diagnostics.CodeAnalysis.SuppressMessage("Design", "CA1001", Justification = "xunit disposes the fields through IAsyncLifetime.DisposeAsync.")]
public sealed class SqliteGroupMemberTests : IAsyncLifetime
{
    private static readonly TimeSpan Deadline = TimeSpan.FromSeconds(30);
    private readonly TempDirectory _dir = new("group-member");
    private SqliteLog _log = null!;
    private readonly List<string> _events = [];

    public async Task InitializeAsync()
    {
        _log = await SqliteLog.OpenAsync(new LogOptions { Path = _dir.File("log.db"), RetentionTime = null });
        await _log.CreateTopicAsync("pins", 3);
        await _log.CreateTopicAsync("geo", 3);
    }

    public async Task DisposeAsync()
    {
        await _log.DisposeAsync();
        SqliteConnection.ClearAllPools();
        _dir.Dispose();
    }

    private GroupMemberOptions Options(string name, TimeSpan? session = null) => new()
    {
        SessionTimeout = session ?? TimeSpan.FromSeconds(3),
        HeartbeatInterval = TimeSpan.FromMilliseconds(200),
        ClientId = name,
        OnAssigned = (partitions, _) => Record(name, "assigned", partitions),
        OnRevoked = (partitions, _) => Record(name, "revoked", partitions),
    };

    private Task Record(string member, string what, IReadOnlyList<LogPartition> partitions)
    {
        lock (_events)
            foreach (var p in partitions) _events.Add($"{member} {what} {p}");
        return Task.CompletedTask;
    }

    private async Task<IGroupMember> JoinAsync(string name, TimeSpan? session = null) =>
        await _log.JoinGroupAsync("sinks", ["geo", "pins"], Options(name, session));

    private static async Task UntilAsync(Func<bool> condition, string what)
    {
        var until = DateTime.UtcNow + Deadline;
        while (!condition())
        {
            if (DateTime.UtcNow > until) Assert.Fail($"Not within {Deadline.TotalSeconds} s: {what}");
            await Task.Delay(20);
        }
    }

    private static readonly LogPartition[] All = [new("geo", 0), new("geo", 1), new("geo", 2), new("pins", 0), new("pins", 1), new("pins", 2)];

    [Fact]
    public async Task One_member_owns_every_partition_of_its_topics()
    {
        await using var a = await JoinAsync("a");
        await UntilAsync(() => a.Assignment.Count == 6, "a owns all six partitions");
        Assert.Equal(All, a.Assignment);
        Assert.All(All, p => Assert.True(a.Owns(p.Topic, p.Partition)));
        Assert.False(a.Owns("pins", 3));
        Assert.False(a.Owns("other", 0));
        Assert.Equal("sinks", a.Group);
        Assert.StartsWith("a-", a.MemberId, StringComparison.Ordinal);
    }

    [Fact]
    public async Task A_second_member_gets_half_and_each_partition_is_revoked_from_the_first_before_the_second_takes_it()
    {
        await using var a = await JoinAsync("a");
        await UntilAsync(() => a.Assignment.Count == 6, "a owns all six partitions");
        bool overlap = false;
        await using var b = await JoinAsync("b");
        var watch = Task.Run(async () =>
        {
            while (b.Assignment.Count < 3)
            {
                overlap |= a.Assignment.Intersect(b.Assignment).Any();
                await Task.Delay(1);
            }
        });
        await UntilAsync(() => a.Assignment.Count == 3 && b.Assignment.Count == 3, "three partitions each");
        await watch;
        Assert.False(overlap, "a partition was in both assignments at once");
        Assert.Empty(a.Assignment.Intersect(b.Assignment));
        Assert.Equal(All, a.Assignment.Concat(b.Assignment).Order(Comparer<LogPartition>.Create((x, y) => (x.Topic, x.Partition).CompareTo((y.Topic, y.Partition)))));
        List<string> events;
        lock (_events) events = [.. _events];
        foreach (var p in b.Assignment)
        {
            int revoked = events.IndexOf($"a revoked {p}");
            int assigned = events.IndexOf($"b assigned {p}");
            Assert.True(revoked >= 0 && assigned > revoked, $"{p}: a's revocation ({revoked}) must come before b's assignment ({assigned})");
        }
        // a kept the partitions it was not asked to give up (sticky): they were never revoked.
        Assert.All(a.Assignment, p => Assert.DoesNotContain($"a revoked {p}", events));
    }

    [Fact]
    public async Task A_member_that_leaves_hands_its_partitions_over_at_once()
    {
        var a = await JoinAsync("a", TimeSpan.FromMinutes(5));
        await using var b = await JoinAsync("b", TimeSpan.FromMinutes(5));
        await UntilAsync(() => a.Assignment.Count == 3 && b.Assignment.Count == 3, "three partitions each");
        long generation = b.Generation;
        await a.DisposeAsync();
        Assert.Empty(a.Assignment);
        // The session is five minutes: b takes them because a released them, not because a lease ran out.
        await UntilAsync(() => b.Assignment.Count == 6, "b owns all six partitions");
        Assert.True(b.Generation > generation);
    }

    [Fact]
    public async Task A_killed_member_stops_claiming_its_partitions_and_they_move_when_its_session_runs_out()
    {
        var a = (SqliteGroupMember)await JoinAsync("a", TimeSpan.FromSeconds(2));
        await using var b = await JoinAsync("b", TimeSpan.FromSeconds(2));
        await UntilAsync(() => a.Assignment.Count == 3 && b.Assignment.Count == 3, "three partitions each");
        var aPartitions = a.Assignment.ToList();
        int before;
        lock (_events) before = _events.Count;
        await a.AbandonAsync(); // as SIGKILL: no revocation, no release
        Assert.All(aPartitions, p => Assert.False(a.Owns(p.Topic, p.Partition)));
        await UntilAsync(() => b.Assignment.Count == 6, "b owns all six partitions once a's session ran out");
        lock (_events) Assert.DoesNotContain(_events.Skip(before), e => e.StartsWith("a revoked", StringComparison.Ordinal));
        Assert.All(aPartitions, p => Assert.True(b.Owns(p.Topic, p.Partition)));
    }

    [Fact]
    public async Task A_member_whose_heartbeats_failed_past_its_session_takes_its_partitions_back_when_nobody_else_did()
    {
        await using var a = await JoinAsync("a", TimeSpan.FromSeconds(2));
        await UntilAsync(() => a.Assignment.Count == 6, "a owns all six partitions");
        await using var other = new SqliteConnection($"Data Source={_dir.File("log.db")}");
        await other.OpenAsync();
        await using var hide = other.CreateCommand();
        hide.CommandText = "ALTER TABLE group_members RENAME TO group_members_away";
        await using var restore = other.CreateCommand();
        restore.CommandText = "ALTER TABLE group_members_away RENAME TO group_members";

        // Every heartbeat fails (its first statement finds no table) until the member revokes its partitions.
        await hide.ExecuteNonQueryAsync();
        await UntilAsync(() => { lock (_events) return _events.Count(e => e.StartsWith("a revoked", StringComparison.Ordinal)) == 6; }, "a revokes its six partitions");
        Assert.Empty(a.Assignment);
        Assert.All(All, p => Assert.False(a.Owns(p.Topic, p.Partition)));

        // Its leases stayed in the log, its own: once the heartbeats work again it owns the six again.
        await restore.ExecuteNonQueryAsync();
        await UntilAsync(() => a.Assignment.Count == 6, "a owns its six partitions again");
        Assert.All(All, p => Assert.True(a.Owns(p.Topic, p.Partition)));
        lock (_events) Assert.Equal(12, _events.Count(e => e.StartsWith("a assigned", StringComparison.Ordinal)));
        await a.CommitAsync([new TopicPartitionOffset("pins", 0, 5)]);
    }

    [Fact]
    public async Task A_member_commits_offsets_of_its_partitions_and_is_fenced_from_the_others()
    {
        await using var a = await JoinAsync("a");
        await UntilAsync(() => a.Assignment.Count == 6, "a owns all six partitions");
        await a.CommitAsync([new TopicPartitionOffset("pins", 1, 42)]);
        Assert.Equal(42, await _log.GetCommittedOffsetAsync("sinks", "pins", 1));

        await using var b = await JoinAsync("b");
        await UntilAsync(() => a.Assignment.Count == 3 && b.Assignment.Count == 3, "three partitions each");
        var moved = b.Assignment[0];
        var error = await Assert.ThrowsAsync<LogException>(async () =>
            await a.CommitAsync([new TopicPartitionOffset(moved.Topic, moved.Partition, 7)]));
        Assert.Equal(LogErrorCode.Fenced, error.Code);
        Assert.Contains(moved.ToString(), error.Message, StringComparison.Ordinal);
        Assert.Contains("nothing was committed", error.Message, StringComparison.Ordinal);
        Assert.NotEqual(7, await _log.GetCommittedOffsetAsync("sinks", moved.Topic, moved.Partition));

        // One partition not owned refuses the whole commit.
        var kept = a.Assignment[0];
        await Assert.ThrowsAsync<LogException>(async () =>
            await a.CommitAsync([new TopicPartitionOffset(kept.Topic, kept.Partition, 9), new TopicPartitionOffset(moved.Topic, moved.Partition, 9)]));
        Assert.NotEqual(9, await _log.GetCommittedOffsetAsync("sinks", kept.Topic, kept.Partition));
        await b.CommitAsync([new TopicPartitionOffset(moved.Topic, moved.Partition, 5)]);
        Assert.Equal(5, await _log.GetCommittedOffsetAsync("sinks", moved.Topic, moved.Partition));
    }

    [Fact]
    public async Task A_member_fenced_in_the_database_cannot_commit_even_while_it_still_believes_it_owns_the_partition()
    {
        await using var a = await JoinAsync("a", TimeSpan.FromMinutes(5));
        await UntilAsync(() => a.Assignment.Count == 6, "a owns all six partitions");
        // Another process took the lease over behind a's back (as after a pause longer than the session).
        await using (var connection = new SqliteConnection($"Data Source={_dir.File("log.db")}"))
        {
            await connection.OpenAsync();
            await using var cmd = connection.CreateCommand();
            cmd.CommandText = "UPDATE partition_leases SET member_id = 'intruder' WHERE topic = 'geo' AND partition = 2";
            Assert.Equal(1, await cmd.ExecuteNonQueryAsync());
        }
        var error = await Assert.ThrowsAsync<LogException>(async () => await a.CommitAsync([new TopicPartitionOffset("geo", 2, 3)]));
        Assert.Equal(LogErrorCode.Fenced, error.Code);
        Assert.Contains("leased to intruder", error.Message, StringComparison.Ordinal);
        Assert.Null(await _log.GetCommittedOffsetAsync("sinks", "geo", 2));
        // Its next heartbeat sees the partition gone and revokes it.
        await UntilAsync(() => !a.Assignment.Contains(new LogPartition("geo", 2)), "a lets geo[2] go");
        lock (_events) Assert.Contains("a revoked geo[2]", _events);
    }

    [Fact]
    public async Task A_topic_created_after_joining_is_shared_too()
    {
        await using var a = await _log.JoinGroupAsync("sinks", ["pins", "later"], Options("a"));
        await UntilAsync(() => a.Assignment.Count == 3, "a owns pins' three partitions");
        await _log.CreateTopicAsync("later", 2);
        await UntilAsync(() => a.Assignment.Count == 5, "a owns later's two partitions too");
        Assert.True(a.Owns("later", 1));
    }

    [Fact]
    public async Task Consumers_of_the_file_join_the_same_group_as_the_producer()
    {
        await using var consumer = await SqliteLog.OpenAsync(new LogOptions { Path = _dir.File("log.db"), Access = LogAccess.Consumer });
        await using var a = await JoinAsync("a");
        await using var b = await consumer.JoinGroupAsync("sinks", ["geo", "pins"], Options("b"));
        await UntilAsync(() => a.Assignment.Count == 3 && b.Assignment.Count == 3, "three partitions each");
        // Another group shares nothing with this one.
        await using var other = await consumer.JoinGroupAsync("streams", ["pins"], Options("c"));
        await UntilAsync(() => other.Assignment.Count == 3, "the other group's member owns pins");
    }

    [Fact]
    public async Task Bad_options_are_refused_naming_the_problem()
    {
        var error = await Assert.ThrowsAsync<ArgumentException>(async () =>
            await _log.JoinGroupAsync("sinks", ["pins"], new GroupMemberOptions { SessionTimeout = TimeSpan.FromSeconds(3), HeartbeatInterval = TimeSpan.FromSeconds(2) }));
        Assert.Contains("at most a third of the session timeout", error.Message, StringComparison.Ordinal);
        await Assert.ThrowsAsync<ArgumentException>(async () => await _log.JoinGroupAsync("sinks", [], new GroupMemberOptions()));
        await Assert.ThrowsAsync<ArgumentException>(async () => await _log.JoinGroupAsync("", ["pins"], new GroupMemberOptions()));
    }

    [Fact]
    public void The_assignment_is_balanced_keeps_partitions_with_their_owners_and_is_the_same_for_every_member()
    {
        var partitions = Enumerable.Range(0, 7).Select(p => new LogPartition("t", p)).ToList();
        var none = new Dictionary<LogPartition, string>();
        var fresh = SqliteGroupMember.Assign(partitions, ["x", "y", "z"], none);
        Assert.Equal([3, 2, 2], fresh.Values.GroupBy(m => m).Select(g => g.Count()).OrderDescending());
        Assert.Equal(fresh, SqliteGroupMember.Assign([.. partitions.AsEnumerable().Reverse()], ["z", "x", "y"], none));

        // x held everything: it keeps its share (the first partitions), the rest go to the newcomers.
        var held = partitions.ToDictionary(p => p, _ => "x");
        var after = SqliteGroupMember.Assign(partitions, ["x", "y", "z"], held);
        Assert.Equal(3, after.Count(kv => kv.Value == "x"));
        Assert.All(after.Where(kv => kv.Value == "x"), kv => Assert.Equal("x", held[kv.Key]));
        Assert.Equal(7, after.Count);

        // A member gone from the group (not live) keeps nothing; no members, no assignment.
        var gone = SqliteGroupMember.Assign(partitions, ["y"], held);
        Assert.All(gone.Values, m => Assert.Equal("y", m));
        Assert.Empty(SqliteGroupMember.Assign(partitions, [], held));
    }
}
