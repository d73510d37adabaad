using System.Diagnostics;
using System.Globalization;
using System.Text.Json;
using Confluent.Kafka;
using Microsoft.Extensions.Logging;
using KafkaTopicPartitionOffset = Confluent.Kafka.TopicPartitionOffset;

namespace PinPipe.Log.Kafka;

/// <summary>
/// A member of a Kafka consumer group (<see cref="ILog.JoinGroupAsync"/> on <see cref="KafkaLog"/>): a Confluent.Kafka
/// consumer subscribed with <c>partition.assignment.strategy=cooperative-sticky</c>, used for membership only. Its
/// partitions are paused as they are assigned, so it never fetches a record; the work on them reads through
/// <see cref="ILog.ReadAsync"/> and commits through <see cref="CommitAsync"/>.
/// </summary>
/// <remarks>
/// One dedicated thread polls the consumer; librdkafka runs the rebalance callbacks on it, and they wait for
/// <see cref="GroupMemberOptions.OnAssigned"/> and <see cref="GroupMemberOptions.OnRevoked"/>: with the cooperative protocol
/// a revoked partition goes to another member only after this member's next join, which follows the callback, so the
/// work on it has stopped before another member starts. A callback that throws is logged and the rebalance goes on (the
/// partitions are listed, or released, all the same). Commits go through the member's own consumer: the coordinator
/// checks the member id and generation, so a member that has been replaced cannot move the offsets; it does not check
/// which partitions the member has, so that is checked here first.
/// <see cref="Owns"/> also ends a lease kept from the group coordinator's answers (the statistics' <c>rxidle</c> of the
/// coordinator connection, twice every heartbeat interval): when no answer came for the session timeout less one heartbeat
/// interval, the member stops claiming its partitions, before the coordinator can have given them away. The statistics
/// are served by the poll thread, so a rebalance callback that runs that long makes <see cref="Owns"/> false too, until
/// it returns.
/// </remarks>
internal sealed class KafkaGroupMember : IGroupMember
{
    private static readonly TimeSpan PollTimeout = TimeSpan.FromMilliseconds(100);

    /// <summary>How often librdkafka looks for new topics and partitions of the subscription when the settings do not say.</summary>
    internal static readonly TimeSpan DefaultMetadataRefresh = TimeSpan.FromSeconds(5);

    private readonly IConsumer<byte[]?, byte[]?> _consumer;
    private readonly GroupMemberOptions _options;
    private readonly ILogger _logger;
    private readonly string _clientId;
    private readonly Thread _thread;
    private readonly CancellationTokenSource _lifetime = new();
    private readonly TaskCompletionSource _stopped = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private readonly TaskCompletionSource _joined = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private readonly List<TopicPartition> _toPause = [];
    private readonly Lock _lock = new();
    private readonly long _leaseTicks;
    private volatile State _state = new([], new HashSet<LogPartition>(), 0, NewChange());
    private long _lastContact = Stopwatch.GetTimestamp();
    private long _recordsFetched;
    private long _polls;
    private long _leaseRenewals;
    private volatile string? _joinState;
    private volatile Error? _lastError;
    private int _stopping;
    private volatile bool _closed;

    private sealed record State(IReadOnlyList<LogPartition> Assignment, HashSet<LogPartition> Owned, long Generation, TaskCompletionSource Changed);

    private KafkaGroupMember(string group, IReadOnlyList<string> topics, ConsumerConfig config, GroupMemberOptions options, ILogger logger)
    {
        Group = group;
        Topics = topics;
        _options = options;
        _logger = logger;
        _clientId = config.ClientId;
        _leaseTicks = (long)((options.SessionTimeout - options.HeartbeatInterval).TotalSeconds * Stopwatch.Frequency);
        _consumer = new ConsumerBuilder<byte[]?, byte[]?>(config)
            .SetLogHandler((_, m) => KafkaLog.ClientLog(logger, m))
            .SetErrorHandler((_, e) => OnError(e))
            .SetStatisticsHandler((_, json) => OnStatistics(json))
            .SetPartitionsAssignedHandler((_, partitions) => Assigned(partitions))
            .SetPartitionsRevokedHandler((_, partitions) => Revoked(partitions, lost: false))
            .SetPartitionsLostHandler((_, partitions) => Revoked(partitions, lost: true))
            .Build();
        _thread = new Thread(Run) { IsBackground = true, Name = $"pinpipe-group-{group}" };
    }

    /// <summary>
    /// Subscribes a new member of <paramref name="group"/> to <paramref name="topics"/> and starts its poll thread. When
    /// one of the topics exists (<paramref name="anyTopicExists"/>), returns after the group's first assignment to it
    /// (possibly of no partition); otherwise at once, the member joining when a topic appears.
    /// </summary>
    /// <param name="settings">The log's client settings (<see cref="LogOptions.Kafka"/>), under their Kafka names.</param>
    /// <exception cref="LogException"><see cref="LogErrorCode.Unavailable"/>: the member was not in the group within <paramref name="joinTimeout"/>.</exception>
    public static async ValueTask<KafkaGroupMember> JoinAsync(string group, IReadOnlyList<string> topics, IReadOnlyDictionary<string, string> settings, GroupMemberOptions options,
        bool anyTopicExists, TimeSpan joinTimeout, ILogger logger, CancellationToken cancellationToken)
    {
        var member = new KafkaGroupMember(group, topics, Config(group, settings, options), options, logger);
        try
        {
            member._consumer.Subscribe(topics);
            member._thread.Start();
            if (anyTopicExists)
            {
                try
                {
                    await member._joined.Task.WaitAsync(joinTimeout, cancellationToken).ConfigureAwait(false);
                }
                catch (TimeoutException ex)
                {
                    var last = member._lastError is { } e ? $" (last client error: {e.Code}: {e.Reason})" : "";
                    throw new LogException(LogErrorCode.Unavailable,
                        $"Member '{member._clientId}' did not join consumer group '{group}' within {joinTimeout.TotalSeconds:0} s{last}.", ex, "Log:Kafka:bootstrap.servers");
                }
            }
            logger.LogInformation("Member {ClientId} joined consumer group {Group} for topics {Topics}.", member._clientId, group, string.Join(", ", topics));
            return member;
        }
        catch
        {
            await member.DisposeAsync().ConfigureAwait(false);
            throw;
        }
    }

    /// <summary>The member consumer's settings: the log's client settings, then the group's and the membership's own.</summary>
    internal static ConsumerConfig Config(string group, IReadOnlyDictionary<string, string> settings, GroupMemberOptions options)
    {
        var config = new ConsumerConfig(new Dictionary<string, string>(settings, StringComparer.Ordinal))
        {
            GroupId = group,
            ClientId = options.ClientId ?? $"{Environment.MachineName}-{Environment.ProcessId}",
            PartitionAssignmentStrategy = PartitionAssignmentStrategy.CooperativeSticky,
            EnableAutoCommit = false,
            EnableAutoOffsetStore = false,
            AllowAutoCreateTopics = false,
            SessionTimeoutMs = (int)options.SessionTimeout.TotalMilliseconds,
            HeartbeatIntervalMs = (int)options.HeartbeatInterval.TotalMilliseconds,
            // Twice a heartbeat interval: the last answer is at most 1.5 intervals old when the lease is renewed, well within it.
            StatisticsIntervalMs = (int)Math.Max(50, options.HeartbeatInterval.TotalMilliseconds / 2),
        };
        if (!settings.ContainsKey("topic.metadata.refresh.interval.ms"))
            config.TopicMetadataRefreshIntervalMs = (int)DefaultMetadataRefresh.TotalMilliseconds;
        return config;
    }

    /// <inheritdoc />
    public string Group { get; }

    /// <summary>The topics the member subscribed to.</summary>
    public IReadOnlyList<string> Topics { get; }

    /// <inheritdoc />
    /// <remarks>Kafka's member id once the coordinator gave one (it changes when the member rejoins after losing its session); the client id until then.</remarks>
    public string MemberId
    {
        get
        {
            if (_closed) return _clientId;
            try
            {
                return _consumer.MemberId is { Length: > 0 } id ? id : _clientId;
            }
            catch (ObjectDisposedException)
            {
                return _clientId;
            }
        }
    }

    /// <inheritdoc />
    public IReadOnlyList<LogPartition> Assignment => _state.Assignment;

    /// <inheritdoc />
    public long Generation => _state.Generation;

    /// <summary>Records the member consumer fetched although its partitions are paused (none, unless pausing failed): they are dropped.</summary>
    internal long RecordsFetched => Interlocked.Read(ref _recordsFetched);

    /// <summary>How many times the statistics renewed the lease behind <see cref="Owns"/>.</summary>
    internal long LeaseRenewals => Interlocked.Read(ref _leaseRenewals);

    /// <summary>
    /// librdkafka's join state of the group from its last statistics (<c>steady</c> once a rebalance is done); null before
    /// the first. librdkafka starts no rejoin on a fenced commit while a rebalance is still under way.
    /// </summary>
    internal string? JoinState => _joinState;

    /// <summary>How many times the poll thread has polled the consumer.</summary>
    internal long Polls => Interlocked.Read(ref _polls);

    /// <inheritdoc />
    public Task WaitForChangeAsync(long generation, CancellationToken cancellationToken = default)
    {
        var state = _state;
        return state.Generation != generation ? Task.CompletedTask : state.Changed.Task.WaitAsync(cancellationToken);
    }

    /// <inheritdoc />
    public bool Owns(string topic, int partition) =>
        !_closed && _state.Owned.Contains(new LogPartition(topic, partition)) && LeaseValid();

    private bool LeaseValid() => Stopwatch.GetTimestamp() - Interlocked.Read(ref _lastContact) < _leaseTicks;

    /// <inheritdoc />
    public async ValueTask CommitAsync(IReadOnlyList<TopicPartitionOffset> offsets, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(offsets);
        ObjectDisposedException.ThrowIf(_closed, this);
        if (offsets.Count == 0) return;
        var notOwned = offsets.Where(o => !Owns(o.Topic, o.Partition)).Select(o => new LogPartition(o.Topic, o.Partition)).Distinct().ToList();
        if (notOwned.Count > 0) throw Fenced(notOwned, "they are not in its assignment now");
        var list = offsets.Select(o => new KafkaTopicPartitionOffset(o.Topic, new Partition(o.Partition), new Offset(o.Offset))).ToList();
        try
        {
            await Task.Run(() => _consumer.Commit(list), cancellationToken).ConfigureAwait(false);
        }
        catch (TopicPartitionOffsetException ex)
        {
            var failed = ex.Results.Where(r => r.Error.IsError).ToList();
            var fenced = failed.Where(r => IsFencing(r.Error.Code)).Select(r => new LogPartition(r.Topic, r.Partition.Value)).ToList();
            if (fenced.Count > 0) throw Fenced(fenced, $"the group coordinator refused the commit ({failed[0].Error.Code}: {failed[0].Error.Reason})", ex);
            throw LogErrors.Unavailable($"commit the offsets of consumer group '{Group}'", ex);
        }
        catch (KafkaException ex) when (IsFencing(ex.Error.Code))
        {
            throw Fenced(offsets.Select(o => new LogPartition(o.Topic, o.Partition)).Distinct().ToList(),
                $"the group coordinator refused the commit ({ex.Error.Code}: {ex.Error.Reason})", ex);
        }
        catch (KafkaException ex)
        {
            throw LogErrors.Unavailable($"commit the offsets of consumer group '{Group}'", ex);
        }
    }

    /// <summary>The coordinator's answers to a member that is no longer the owner (another generation, or no longer a member).</summary>
    private static bool IsFencing(ErrorCode code) =>
        code is ErrorCode.IllegalGeneration or ErrorCode.UnknownMemberId or ErrorCode.RebalanceInProgress or ErrorCode.FencedInstanceId;

    private LogException Fenced(IReadOnlyList<LogPartition> partitions, string why, Exception? inner = null) =>
        new(LogErrorCode.Fenced,
            $"Member '{MemberId}' of consumer group '{Group}' cannot commit the offsets of {string.Join(", ", partitions)}: {why}; another member owns them or will. Nothing was committed.",
            inner);

    /// <inheritdoc />
    /// <remarks>Closes the consumer on its own thread: its partitions are revoked (<see cref="GroupMemberOptions.OnRevoked"/>) and it leaves the group.</remarks>
    public async ValueTask DisposeAsync()
    {
        if (Interlocked.Exchange(ref _stopping, 1) != 0)
        {
            await _stopped.Task.ConfigureAwait(false);
            return;
        }
        await _lifetime.CancelAsync().ConfigureAwait(false);
        if (_thread.ThreadState.HasFlag(System.Threading.ThreadState.Unstarted))
        {
            _closed = true;
            _consumer.Dispose();
            _stopped.TrySetResult();
        }
        await _stopped.Task.ConfigureAwait(false);
        _lifetime.Dispose();
    }

    private void Run()
    {
        try
        {
            while (Volatile.Read(ref _stopping) == 0)
            {
                Poll();
                PauseAssigned();
            }

            try
            {
                _consumer.Close(); // runs the revoke callback of the whole assignment on this thread, then leaves the group
            }
            catch (KafkaException ex)
            {
                _logger.LogWarning(ex, "Member {ClientId} of consumer group {Group} did not leave the group cleanly: {Reason}", _clientId, Group, ex.Error.Reason);
            }
        }
        catch (Exception ex) when (ex is not OutOfMemoryException)
        {
            _logger.LogError(ex, "The poll thread of member {ClientId} of consumer group {Group} failed; the member owns no partition now.", _clientId, Group);
        }
        finally
        {
            // After Close the revoke callback has emptied the assignment; after a failure the work is told here.
            var remaining = _state.Assignment;
            _closed = true;
            Change(_ => [], "closed");
            if (remaining.Count > 0) Callback(_options.OnRevoked, remaining, "lost", CancellationToken.None);
            _consumer.Dispose();
            _stopped.TrySetResult();
        }
    }

    private void Poll()
    {
        try
        {
            var result = _consumer.Consume(PollTimeout);
            if (result is { IsPartitionEOF: false, Message: not null })
            {
                Interlocked.Increment(ref _recordsFetched);
                lock (_lock) _toPause.Add(result.TopicPartition);
            }
        }
        catch (ConsumeException ex)
        {
            // E.g. a subscribed topic that does not exist yet: librdkafka keeps looking for it.
            _logger.LogDebug("Member {ClientId} of consumer group {Group}: {Code}: {Reason}", _clientId, Group, ex.Error.Code, ex.Error.Reason);
        }
        catch (KafkaException ex) when (!ex.Error.IsFatal)
        {
            _logger.LogWarning(ex, "Member {ClientId} of consumer group {Group}: {Reason}", _clientId, Group, ex.Error.Reason);
        }
        finally
        {
            Interlocked.Increment(ref _polls);
        }
    }

    /// <summary>Pauses what the assigned callback could not (librdkafka skips a partition it has no state for yet).</summary>
    private void PauseAssigned()
    {
        List<TopicPartition> pause;
        lock (_lock)
        {
            if (_toPause.Count == 0) return;
            pause = [.. _toPause];
            _toPause.Clear();
        }
        try
        {
            _consumer.Pause(pause);
        }
        catch (KafkaException ex)
        {
            _logger.LogDebug("Member {ClientId} of consumer group {Group} could not pause {Partitions}: {Reason}", _clientId, Group, string.Join(", ", pause), ex.Error.Reason);
        }
    }

    private IEnumerable<KafkaTopicPartitionOffset> Assigned(List<TopicPartition> partitions)
    {
        Interlocked.Exchange(ref _lastContact, Stopwatch.GetTimestamp());
        try
        {
            // librdkafka pauses only partitions it keeps state for, which it creates on assignment (after this handler
            // returns) or when asked for the position: ask first, so that the pause holds when the fetcher would start.
            foreach (var p in partitions) _consumer.Position(p);
            _consumer.Pause(partitions);
        }
        catch (KafkaException ex)
        {
            _logger.LogDebug("Member {ClientId} of consumer group {Group} will pause {Count} partitions after the assignment: {Reason}", _clientId, Group, partitions.Count, ex.Error.Reason);
        }
        lock (_lock) _toPause.AddRange(partitions);

        var given = Sorted(partitions.Select(p => new LogPartition(p.Topic, p.Partition.Value)));
        if (given.Count > 0)
        {
            _logger.LogInformation("Member {ClientId} of consumer group {Group} is given {Partitions}.", _clientId, Group, string.Join(", ", given));
            Callback(_options.OnAssigned, given, "assigned", _lifetime.Token);
            Change(owned => owned.Concat(given), "assigned");
        }
        _joined.TrySetResult();
        return partitions.Select(p => new KafkaTopicPartitionOffset(p, Offset.Unset));
    }

    private void Revoked(List<KafkaTopicPartitionOffset> partitions, bool lost)
    {
        var taken = Sorted(partitions.Select(p => new LogPartition(p.Topic, p.Partition.Value)));
        if (taken.Count == 0) return;
        if (lost)
        {
            // Another member may own them already: stop claiming them before the work is told.
            _logger.LogWarning("Member {ClientId} of consumer group {Group} lost {Partitions} (its session ended).", _clientId, Group, string.Join(", ", taken));
            Change(owned => owned.Except(taken), "lost");
            Callback(_options.OnRevoked, taken, "lost", CancellationToken.None);
        }
        else
        {
            _logger.LogInformation("Member {ClientId} of consumer group {Group} gives up {Partitions}.", _clientId, Group, string.Join(", ", taken));
            Callback(_options.OnRevoked, taken, "revoked", CancellationToken.None);
            Change(owned => owned.Except(taken), "revoked");
        }
    }

    /// <summary>Runs a rebalance callback to its end on the poll thread; a failure is logged, the rebalance goes on.</summary>
    private void Callback(Func<IReadOnlyList<LogPartition>, CancellationToken, Task>? callback, IReadOnlyList<LogPartition> partitions, string what, CancellationToken token)
    {
        if (callback is null) return;
        try
        {
            callback(partitions, token).GetAwaiter().GetResult();
        }
        catch (OperationCanceledException) when (token.IsCancellationRequested)
        {
            _logger.LogDebug("The {What} callback of member {ClientId} of consumer group {Group} stopped: the member is closing.", what, _clientId, Group);
        }
        catch (Exception ex) when (ex is not OutOfMemoryException)
        {
            _logger.LogError(ex, "The {What} callback of member {ClientId} of consumer group {Group} failed for {Partitions}; the rebalance goes on.",
                what, _clientId, Group, string.Join(", ", partitions));
        }
    }

    private void Change(Func<IEnumerable<LogPartition>, IEnumerable<LogPartition>> update, string why)
    {
        State before;
        lock (_lock)
        {
            before = _state;
            var owned = Sorted(update(before.Assignment));
            if (owned.SequenceEqual(before.Assignment)) return;
            _state = new State(owned, [.. owned], before.Generation + 1, NewChange());
        }
        _logger.LogDebug("Member {ClientId} of consumer group {Group}: generation {Generation} ({Why}), {Count} partitions.", _clientId, Group, before.Generation + 1, why, _state.Assignment.Count);
        before.Changed.TrySetResult();
    }

    private static List<LogPartition> Sorted(IEnumerable<LogPartition> partitions) =>
        partitions.Distinct().OrderBy(p => p.Topic, StringComparer.Ordinal).ThenBy(p => p.Partition).ToList();

    private static TaskCompletionSource NewChange() => new(TaskCreationOptions.RunContinuationsAsynchronously);

    private void OnError(Error error)
    {
        _lastError = error;
        KafkaLog.ClientError(_logger, error);
    }

    /// <summary>
    /// Renews the lease from librdkafka's statistics: the time of the last answer on the group coordinator connection
    /// (the logical broker <c>GroupCoordinator</c>: heartbeats, joins, commits) while the group is up.
    /// </summary>
    private void OnStatistics(string json)
    {
        var now = Stopwatch.GetTimestamp();
        try
        {
            using var doc = JsonDocument.Parse(json);
            var root = doc.RootElement;
            if (!root.TryGetProperty("cgrp", out var cgrp)) return;
            if (cgrp.TryGetProperty("join_state", out var joinState)) _joinState = joinState.GetString();
            if (cgrp.GetProperty("state").GetString() != "up") return;
            if (LastCoordinatorAnswer(root, now) is { } answered && answered > Interlocked.Read(ref _lastContact))
            {
                Interlocked.Exchange(ref _lastContact, answered);
                Interlocked.Increment(ref _leaseRenewals);
            }
        }
        catch (Exception ex) when (ex is JsonException or KeyNotFoundException or InvalidOperationException or FormatException)
        {
            _logger.LogDebug("Member {ClientId} of consumer group {Group}: unreadable client statistics: {Error}", _clientId, Group, ex.Message);
        }
    }

    private static long? LastCoordinatorAnswer(JsonElement root, long now)
    {
        if (!root.TryGetProperty("brokers", out var brokers)) return null;
        foreach (var broker in brokers.EnumerateObject())
        {
            var b = broker.Value;
            if (b.TryGetProperty("source", out var source) && source.GetString() == "logical"
                && b.TryGetProperty("name", out var name) && name.GetString()?.StartsWith("GroupCoordinator", StringComparison.Ordinal) == true
                && b.TryGetProperty("state", out var state) && state.GetString() == "UP"
                && b.TryGetProperty("rxidle", out var rxidle) && rxidle.GetInt64() is var idleMicros && idleMicros >= 0)
                return now - (long)(idleMicros / 1_000_000.0 * Stopwatch.Frequency);
        }
        return null;
    }

    /// <inheritdoc />
    public override string ToString() => string.Create(CultureInfo.InvariantCulture, $"{MemberId} in {Group} (generation {Generation})");
}
