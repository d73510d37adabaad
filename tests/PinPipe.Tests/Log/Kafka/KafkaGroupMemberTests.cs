using System.Text;
using PinPipe.Log;
using PinPipe.Log.Kafka;

namespace PinPipe.Tests.Log.Kafka;

/// <summary>
/// The group membership contract on <see cref="KafkaLog"/> over librdkafka's mock cluster (its classic group coordinator,
/// the client's cooperative-sticky assignor), plus what only Kafka has: the member never fetches, the coordinator's
/// fencing of a commit, and the Admin API's commit refused while the group has members.
/// </summary>
[Collection(KafkaClusterCollection.Name)]
public sealed class KafkaGroupMemberTests(KafkaMockClusterFixture cluster) : GroupMemberContract
{
    private const short OffsetCommitApi = 8;
    private const int IllegalGeneration = 22;

    protected override async Task<ILog> OpenLogAsync() => await OpenAsync();

    private async Task<KafkaLog> OpenAsync()
    {
        var options = new LogOptions
        {
            Kind = LogKind.Kafka,
            // New topics of a subscription within a second (the member's default is 5 s).
            Kafka = new() { ["bootstrap.servers"] = cluster.BootstrapServers, ["topic.metadata.refresh.interval.ms"] = "1000" },
        };
        return await KafkaLog.OpenAsync(options, null, _ => cluster.TopicAdmin, default);
    }

    [Fact]
    public async Task The_member_fetches_no_record_of_its_partitions_which_the_log_still_reads()
    {
        await using var log = await OpenAsync();
        var topic = NewTopic("quiet");
        await log.CreateTopicAsync(topic, 2);
        await log.AppendAsync(topic, [new LogRecord(null, "before"u8.ToArray(), 0), new LogRecord(null, "before"u8.ToArray(), 1)]);
        var group = NewGroup();
        // Committed offsets with records after them: a fetcher started on assignment would have something to fetch at once.
        await log.CommitOffsetsAsync(group, [new(topic, 0, 0), new(topic, 1, 0)]);
        await using var member = (KafkaGroupMember)await log.JoinGroupAsync(group, [topic], Options("quiet", new Rebalances()));
        await EventuallyAsync(() => member.Assignment.Count == 2, () => $"both partitions ({member.Assignment.Count})");

        await log.AppendAsync(topic, [new LogRecord(null, "after"u8.ToArray(), 0), new LogRecord(null, "other"u8.ToArray(), 1)]);
        var polls = member.Polls;
        await EventuallyAsync(() => member.Polls >= polls + 20, () => $"20 more polls of the member ({member.Polls - polls})");

        Assert.Equal(0, member.RecordsFetched);
        Assert.Equal(["before", "after"], (await log.ReadAsync(topic, 0, 0, 10)).Select(r => Encoding.UTF8.GetString(r.Value!)));
    }

    [Fact]
    public async Task A_commit_the_coordinator_refuses_for_an_old_generation_is_fenced_and_the_member_rejoins()
    {
        await using var log = await OpenAsync();
        var topic = NewTopic("fenced");
        await log.CreateTopicAsync(topic, 1);
        var group = NewGroup();
        var events = new Rebalances();
        await using var member = (KafkaGroupMember)await log.JoinGroupAsync(group, [topic], Options("stale", events));
        await EventuallyAsync(() => member.Assignment.Count == 1, () => "the partition");
        // librdkafka ignores a fenced commit for the rejoin while its rebalance is still completing (the assignment can be
        // ours before that): the refusal must come in the steady state, as it would in a long-running member.
        await EventuallyAsync(() => member.JoinState == "steady", () => $"the steady join state ({member.JoinState})");
        var generation = member.Generation;

        cluster.PushRequestErrors(OffsetCommitApi, IllegalGeneration);
        var ex = await Assert.ThrowsAsync<LogException>(() => member.CommitAsync([new(topic, 0, 3)]).AsTask());

        Assert.Equal(LogErrorCode.Fenced, ex.Code);
        Assert.Contains(group, ex.Message);
        Assert.Contains($"{topic}[0]", ex.Message);
        Assert.Contains("IllegalGeneration", ex.Message);
        Assert.Null(await log.GetCommittedOffsetAsync(group, topic, 0));
        // librdkafka takes the refusal as the assignment lost: the partition is revoked, then given back on the rejoin.
        await EventuallyAsync(() => member.Generation >= generation + 2 && member.Owns(topic, 0), () => $"the partition back (generation {member.Generation})");
        Assert.Equal([new LogPartition(topic, 0)], events.Partitions("stale", "revoked"));
        await member.CommitAsync([new(topic, 0, 3)]);
        Assert.Equal(3, await log.GetCommittedOffsetAsync(group, topic, 0));
    }

    [Fact]
    public async Task A_member_whose_coordinator_stops_answering_stops_claiming_its_partitions_before_it_loses_them_and_gets_them_back()
    {
        await using var log = await OpenAsync();
        var topic = NewTopic("lease");
        await log.CreateTopicAsync(topic, 1);
        var group = NewGroup();
        var coordinator = cluster.BrokerIds[^1];
        cluster.SetGroupCoordinator(group, coordinator);
        var events = new Rebalances();
        var options = Options("leased", events) with { SessionTimeout = TimeSpan.FromSeconds(6), HeartbeatInterval = TimeSpan.FromSeconds(2) };
        await using var member = (KafkaGroupMember)await log.JoinGroupAsync(group, [topic], options);
        await EventuallyAsync(() => member.Owns(topic, 0), () => "the partition");
        var renewals = member.LeaseRenewals;
        await EventuallyAsync(() => member.LeaseRenewals >= renewals + 3, () => $"3 renewals of the lease ({member.LeaseRenewals - renewals})");
        Assert.True(member.Owns(topic, 0));

        // The mock holds every answer of the coordinator (heartbeats too) until the delay is lifted.
        cluster.SetRoundTripTime(coordinator, TimeSpan.FromSeconds(30));
        try
        {
            await EventuallyAsync(() => !member.Owns(topic, 0), () => "the member to stop claiming the partition");
            var stillAssigned = member.Assignment.Contains(new LogPartition(topic, 0)) && events.Partitions("leased", "revoking").Count == 0;
            Assert.True(stillAssigned, "Owns turned false while the partition was still assigned and before OnRevoked");
            await EventuallyAsync(() => events.Partitions("leased", "revoked").Count == 1, () => "the partition lost (OnRevoked) when the session ran out");
            Assert.Empty(member.Assignment);
            Assert.False(member.Owns(topic, 0));
        }
        finally
        {
            cluster.SetRoundTripTime(coordinator, TimeSpan.Zero);
        }

        await EventuallyAsync(() => member.Owns(topic, 0), () => $"the partition back after the rejoin; generation {member.Generation}");
    }

    [Fact]
    public async Task The_logs_own_commit_through_the_Admin_API_is_refused_while_the_group_has_members()
    {
        await using var log = await OpenAsync();
        var topic = NewTopic("admin");
        await log.CreateTopicAsync(topic, 1);
        var group = NewGroup();
        await using var member = await log.JoinGroupAsync(group, [topic], Options("member", new Rebalances()));
        await EventuallyAsync(() => member.Assignment.Count == 1, () => "the partition");

        var ex = await Assert.ThrowsAsync<LogException>(() => log.CommitOffsetsAsync(group, [new(topic, 0, 2)]).AsTask());
        Assert.Equal(LogErrorCode.Unavailable, ex.Code);
        Assert.Null(await log.GetCommittedOffsetAsync(group, topic, 0));
    }

    [Fact]
    public void The_member_consumer_takes_the_logs_client_settings_and_sets_its_own()
    {
        var settings = new Dictionary<string, string> { ["bootstrap.servers"] = "b:9092", ["security.protocol"] = "SSL", ["client.id"] = "log", ["enable.auto.commit"] = "true" };
        var config = KafkaGroupMember.Config("g1", settings,
            new GroupMemberOptions { SessionTimeout = TimeSpan.FromSeconds(6), HeartbeatInterval = TimeSpan.FromSeconds(2), ClientId = "node-1" });

        Assert.Equal("b:9092", config.BootstrapServers);
        Assert.Equal(Confluent.Kafka.SecurityProtocol.Ssl, config.SecurityProtocol);
        Assert.Equal("g1", config.GroupId);
        Assert.Equal("node-1", config.ClientId);
        Assert.Equal(Confluent.Kafka.PartitionAssignmentStrategy.CooperativeSticky, config.PartitionAssignmentStrategy);
        Assert.False(config.EnableAutoCommit);
        Assert.False(config.EnableAutoOffsetStore);
        Assert.Equal(6000, config.SessionTimeoutMs);
        Assert.Equal(2000, config.HeartbeatIntervalMs);
        Assert.Equal((int)KafkaGroupMember.DefaultMetadataRefresh.TotalMilliseconds, config.TopicMetadataRefreshIntervalMs);
        var ownRefresh = KafkaGroupMember.Config("g1", new Dictionary<string, string>(settings) { ["topic.metadata.refresh.interval.ms"] = "700" }, new GroupMemberOptions());
        Assert.Equal(700, ownRefresh.TopicMetadataRefreshIntervalMs);
        Assert.StartsWith(Environment.MachineName, ownRefresh.ClientId, StringComparison.Ordinal);
    }
}
