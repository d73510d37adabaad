using System.Diagnostics;
using System.Globalization;
using Microsoft.Data.Sqlite;
using Microsoft.Extensions.Logging;
using PinPipe.Files;

namespace PinPipe.Log.Sqlite;

/// <summary>
/// A member of a consumer group of the embedded log: leases in the log database. Each heartbeat is one transaction that
/// renews the member's row and its partitions' leases, drops members and leases whose time ran out, computes the
/// group's assignment from the live members and the leases (<see cref="Assign"/>: every member gets its share, and a
/// partition stays with its owner while the owner is within its share), and takes the partitions given to this member
/// that nobody holds. Partitions given to another member are revoked (<see cref="GroupMemberOptions.OnRevoked"/> waits
/// for their work to stop) and only then released; the other member takes them at its next heartbeat. A member that
/// stops heartbeating (killed) loses its leases when <see cref="GroupMemberOptions.SessionTimeout"/> runs out, and it
/// stops claiming them itself (<see cref="Owns"/>) a little before, so two members never both act on one partition.
/// </summary>
/// <remarks>
/// The tables (<c>group_members</c>, <c>partition_leases</c>) are made by the first member that needs them. Lease times
/// are the wall clock of the machine, which every process of one embedded log shares; for the same reason a member
/// whose process has ended (killed) is dropped at the next heartbeat of another, without waiting for its session.
/// </remarks>
internal sealed class SqliteGroupMember : IGroupMember
{
    private const string CreateTables = """
        CREATE TABLE IF NOT EXISTS group_members(
            group_id TEXT NOT NULL,
            member_id TEXT NOT NULL,
            expires_ms INTEGER NOT NULL,
            host TEXT NOT NULL,
            pid INTEGER NOT NULL,
            PRIMARY KEY(group_id, member_id)) WITHOUT ROWID;
        CREATE TABLE IF NOT EXISTS partition_leases(
            group_id TEXT NOT NULL,
            topic TEXT NOT NULL,
            partition INTEGER NOT NULL,
            member_id TEXT NOT NULL,
            expires_ms INTEGER NOT NULL,
            PRIMARY KEY(group_id, topic, partition)) WITHOUT ROWID;
        """;

    private readonly SqliteConnection _connection;
    private readonly string _path; // the log file, whose writer turns the member's writes take
    private readonly string[] _topics;
    private readonly GroupMemberOptions _options;
    private readonly ILogger _logger;
    private readonly TimeProvider _time;
    private readonly CancellationTokenSource _stop = new();
    private readonly Lock _gate = new();
    [System.Diagnostics.CodeAnalysis.SuppressMessage("Usage", "CA2213", Justification = "Never disposed: a commit racing the member's disposal must get the gate and see it disposed; it holds no wait handle.")]
    private readonly SemaphoreSlim _db = new(1, 1); // one statement at a time on the member's connection
    private SortedSet<LogPartition> _owned = new(PartitionOrder.Instance);
    private IReadOnlyList<LogPartition> _assignment = [];
    private TaskCompletionSource _changed = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private long _generation;
    private long _validUntil; // TimeProvider timestamp after which this member no longer claims its partitions
    private Task _loop = Task.CompletedTask;
    private int _disposed;

    private SqliteGroupMember(SqliteConnection connection, string path, string group, IReadOnlyList<string> topics, GroupMemberOptions options, ILogger logger, TimeProvider time)
    {
        _connection = connection;
        _path = path;
        Group = group;
        _topics = [.. topics.Distinct(StringComparer.Ordinal).Order(StringComparer.Ordinal)];
        _options = options;
        _logger = logger;
        _time = time;
        string client = string.IsNullOrWhiteSpace(options.ClientId)
            ? string.Create(CultureInfo.InvariantCulture, $"{Environment.MachineName}-{Environment.ProcessId}")
            : options.ClientId;
        MemberId = $"{client}-{Guid.NewGuid():N}";
    }

    /// <inheritdoc />
    public string Group { get; }

    /// <inheritdoc />
    public string MemberId { get; }

    /// <inheritdoc />
    public IReadOnlyList<LogPartition> Assignment => Volatile.Read(ref _assignment);

    /// <inheritdoc />
    public long Generation => Interlocked.Read(ref _generation);

    /// <summary>How much before its session timeout runs out without a heartbeat a member stops claiming its partitions.</summary>
    private TimeSpan Margin => TimeSpan.FromTicks(Math.Min(_options.HeartbeatInterval.Ticks, _options.SessionTimeout.Ticks / 4));

    /// <summary>Opens the member's own connection to the log file, joins the group with a first heartbeat and starts its loop.</summary>
    public static async Task<SqliteGroupMember> JoinAsync(string path, string group, IReadOnlyList<string> topics, GroupMemberOptions options, ILogger logger, TimeProvider time, CancellationToken cancellationToken)
    {
        var connection = new SqliteConnection(new SqliteConnectionStringBuilder
        {
            DataSource = path,
            Mode = SqliteOpenMode.ReadWrite,
            Pooling = false,
            DefaultTimeout = SqliteBusy.CommandTimeoutSeconds,
        }.ToString());
        SqliteGroupMember? member = null;
        try
        {
            await connection.OpenAsync(cancellationToken).ConfigureAwait(false);
            SqliteBusy.Configure(connection);
            member = new SqliteGroupMember(connection, path, group, topics, options, logger, time);
            WriterTurns.Run(path, () =>
            {
                using var cmd = connection.CreateCommand();
                cmd.CommandText = CreateTables;
                return cmd.ExecuteNonQuery();
            });
            await member.HeartbeatAsync(cancellationToken).ConfigureAwait(false);
            member._loop = Task.Run(member.LoopAsync, CancellationToken.None);
            logger.LogInformation("Joined consumer group {Group} as {Member} (topics {Topics})", group, member.MemberId, string.Join(", ", member._topics));
            return member;
        }
        catch (SqliteException ex)
        {
            await DisposeQuietlyAsync(member, connection).ConfigureAwait(false);
            throw LogErrors.Unavailable($"join consumer group '{group}'", ex);
        }
        catch
        {
            await DisposeQuietlyAsync(member, connection).ConfigureAwait(false);
            throw;
        }
    }

    private static async Task DisposeQuietlyAsync(SqliteGroupMember? member, SqliteConnection connection)
    {
        if (member is not null) await member.DisposeAsync().ConfigureAwait(false);
        else await connection.DisposeAsync().ConfigureAwait(false);
    }

    /// <inheritdoc />
    public Task WaitForChangeAsync(long generation, CancellationToken cancellationToken = default)
    {
        Task changed;
        lock (_gate)
        {
            if (_generation != generation) return Task.CompletedTask;
            changed = _changed.Task;
        }
        return changed.WaitAsync(cancellationToken);
    }

    /// <inheritdoc />
    public bool Owns(string topic, int partition)
    {
        if (Volatile.Read(ref _disposed) != 0 || _time.GetTimestamp() >= Interlocked.Read(ref _validUntil)) return false;
        lock (_gate) return _owned.Contains(new LogPartition(topic, partition));
    }

    /// <inheritdoc />
    public async ValueTask CommitAsync(IReadOnlyList<TopicPartitionOffset> offsets, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(offsets);
        foreach (var o in offsets)
        {
            ArgumentNullException.ThrowIfNull(o.Topic, nameof(offsets));
            if (o.Offset < 0) throw new ArgumentOutOfRangeException(nameof(offsets), $"Offset {o.Offset} for {o.Topic}/{o.Partition} is negative.");
        }
        if (offsets.Count == 0) return;
        var notOwned = offsets.Where(o => !Owns(o.Topic, o.Partition)).Select(o => new LogPartition(o.Topic, o.Partition)).ToList();
        if (notOwned.Count > 0) throw Fenced(notOwned, null);
        await _db.WaitAsync(cancellationToken).ConfigureAwait(false);
        try
        {
            ObjectDisposedException.ThrowIf(Volatile.Read(ref _disposed) != 0, this);
            long nowMs = _time.GetUtcNow().ToUnixTimeMilliseconds();
            WriterTurns.Run(_path, () =>
            {
                using var tx = _connection.BeginTransaction();
                var holders = new List<string>();
                using (var check = _connection.CreateCommand())
                {
                    check.Transaction = tx;
                    check.CommandText = "SELECT member_id, expires_ms FROM partition_leases WHERE group_id = $g AND topic = $t AND partition = $p";
                    check.Parameters.AddWithValue("$g", Group);
                    var topic = check.Parameters.Add("$t", SqliteType.Text);
                    var partition = check.Parameters.Add("$p", SqliteType.Integer);
                    foreach (var o in offsets)
                    {
                        topic.Value = o.Topic;
                        partition.Value = o.Partition;
                        using var r = check.ExecuteReader();
                        string? holder = r.Read() ? r.GetString(0) : null;
                        bool live = holder is not null && r.GetInt64(1) > nowMs;
                        if (holder != MemberId || !live) holders.Add($"{o.Topic}[{o.Partition}] ({(holder is null || !live ? "no live lease" : "leased to " + holder)})");
                    }
                }
                if (holders.Count > 0) throw Fenced(offsets.Select(o => new LogPartition(o.Topic, o.Partition)).ToList(), string.Join(", ", holders));
                SqliteLog.WriteOffsets(_connection, tx, Group, offsets, nowMs);
                tx.Commit();
                return 0;
            });
        }
        catch (SqliteException ex)
        {
            throw LogErrors.Unavailable($"commit the offsets of group '{Group}'", ex);
        }
        finally
        {
            _db.Release();
        }
    }

    private LogException Fenced(List<LogPartition> partitions, string? detail) =>
        new(LogErrorCode.Fenced,
            $"Member {MemberId} of consumer group '{Group}' does not own {string.Join(", ", partitions)} now{(detail is null ? "" : ": " + detail)}; another member has taken them over (or will), so nothing was committed.");

    private async Task LoopAsync()
    {
        int failures = 0;
        while (!_stop.IsCancellationRequested)
        {
            try
            {
                await Task.Delay(_options.HeartbeatInterval, _time, _stop.Token).ConfigureAwait(false);
                await HeartbeatAsync(_stop.Token).ConfigureAwait(false);
                failures = 0;
            }
            catch (OperationCanceledException) when (_stop.IsCancellationRequested)
            {
                return;
            }
#pragma warning disable CA1031 // a failed heartbeat is logged and tried again; the leases run out if it keeps failing
            catch (Exception ex)
#pragma warning restore CA1031
            {
                failures++;
                _logger.LogWarning("Consumer group {Group}, member {Member}: heartbeat {Failures} in a row failed: {Error}", Group, MemberId, failures, ex.Message);
                if (_time.GetTimestamp() >= Interlocked.Read(ref _validUntil)) await RevokeAsync(Snapshot(), "its leases ran out", release: false).ConfigureAwait(false);
            }
        }
    }

    private List<LogPartition> Snapshot()
    {
        lock (_gate) return [.. _owned];
    }

    /// <summary>One heartbeat: renew, look at the group, release what went to others, take what came to this member.</summary>
    private async Task HeartbeatAsync(CancellationToken cancellationToken)
    {
        long started = _time.GetTimestamp();
        long nowMs = _time.GetUtcNow().ToUnixTimeMilliseconds();
        (List<LogPartition> Lost, List<LogPartition> GiveUp, List<LogPartition> Taken) plan;
        await _db.WaitAsync(cancellationToken).ConfigureAwait(false);
        try
        {
            plan = WriterTurns.Run(_path, () => Beat(nowMs));
        }
        finally
        {
            _db.Release();
        }
        if (plan.Lost.Count > 0) await RevokeAsync(plan.Lost, "they were taken over after its leases ran out", release: false).ConfigureAwait(false);
        Interlocked.Exchange(ref _validUntil, started + (long)((_options.SessionTimeout - Margin).TotalSeconds * _time.TimestampFrequency));
        if (plan.GiveUp.Count > 0) await RevokeAsync(plan.GiveUp, "the group was rebalanced", release: true).ConfigureAwait(false);
        if (plan.Taken.Count > 0)
        {
            if (_options.OnAssigned is { } assigned) await assigned(plan.Taken, cancellationToken).ConfigureAwait(false);
            Change(owned => owned.UnionWith(plan.Taken));
            _logger.LogInformation("Consumer group {Group}, member {Member}: assigned {Partitions}", Group, MemberId, string.Join(", ", plan.Taken));
        }
    }

    private (List<LogPartition> Lost, List<LogPartition> GiveUp, List<LogPartition> Taken) Beat(long nowMs)
    {
        using var tx = _connection.BeginTransaction();
        using var cmd = _connection.CreateCommand();
        cmd.Transaction = tx;
        cmd.Parameters.AddWithValue("$g", Group);
        cmd.Parameters.AddWithValue("$m", MemberId);
        cmd.Parameters.AddWithValue("$now", nowMs);
        cmd.Parameters.AddWithValue("$until", nowMs + (long)_options.SessionTimeout.TotalMilliseconds);
        cmd.Parameters.AddWithValue("$host", Environment.MachineName);
        cmd.Parameters.AddWithValue("$pid", Environment.ProcessId);
        cmd.CommandText = """
            INSERT INTO group_members(group_id, member_id, expires_ms, host, pid) VALUES ($g, $m, $until, $host, $pid)
                ON CONFLICT(group_id, member_id) DO UPDATE SET expires_ms = excluded.expires_ms;
            UPDATE partition_leases SET expires_ms = $until WHERE group_id = $g AND member_id = $m;
            DELETE FROM group_members WHERE group_id = $g AND expires_ms <= $now;
            DELETE FROM partition_leases WHERE group_id = $g AND expires_ms <= $now;
            """;
        // A lease of this member that ran out (its heartbeat came late) but that no other member took is still its own: it
        // is renewed, not lost. One another member took is lost (below).
        cmd.ExecuteNonQuery();

        var members = new List<string>();
        var dead = new List<string>();
        cmd.CommandText = "SELECT member_id, host, pid FROM group_members WHERE group_id = $g ORDER BY member_id";
        using (var r = cmd.ExecuteReader())
        {
            while (r.Read())
            {
                // The embedded log lives on one machine: a member whose process is gone (killed) is out at once, without
                // waiting for its session to run out. A reused process id only falls back to the session timeout.
                if (r.GetString(1) == Environment.MachineName && r.GetInt32(2) != Environment.ProcessId && !LocalProcesses.IsRunning(r.GetInt32(2))) dead.Add(r.GetString(0));
                else members.Add(r.GetString(0));
            }
        }
        if (dead.Count > 0)
        {
            cmd.CommandText = "DELETE FROM group_members WHERE group_id = $g AND member_id = $dead; DELETE FROM partition_leases WHERE group_id = $g AND member_id = $dead";
            var gone = cmd.Parameters.Add("$dead", SqliteType.Text);
            foreach (string member in dead)
            {
                gone.Value = member;
                cmd.ExecuteNonQuery();
                _logger.LogInformation("Consumer group {Group}: member {Dead} is gone (its process ended); its partitions go to the others.", Group, member);
            }
        }

        var leases = new Dictionary<LogPartition, string>();
        cmd.CommandText = "SELECT topic, partition, member_id FROM partition_leases WHERE group_id = $g";
        using (var r = cmd.ExecuteReader())
            while (r.Read()) leases[new LogPartition(r.GetString(0), r.GetInt32(1))] = r.GetString(2);

        var partitions = new List<LogPartition>();
        cmd.CommandText = "SELECT partitions FROM topics WHERE name = $t";
        var topicName = cmd.Parameters.Add("$t", SqliteType.Text);
        foreach (string topic in _topics)
        {
            topicName.Value = topic;
            if (cmd.ExecuteScalar() is long count)
                for (int p = 0; p < count; p++) partitions.Add(new LogPartition(topic, p));
        }

        var target = Assign(partitions, members, leases);
        var owned = Snapshot();
        var lost = owned.Where(p => !leases.TryGetValue(p, out var holder) || holder != MemberId).ToList();
        var giveUp = owned.Except(lost).Where(p => !target.TryGetValue(p, out var to) || to != MemberId).ToList();
        var taken = new List<LogPartition>();
        cmd.CommandText = "INSERT INTO partition_leases(group_id, topic, partition, member_id, expires_ms) VALUES ($g, $t, $p, $m, $until)";
        var partitionNumber = cmd.Parameters.Add("$p", SqliteType.Integer);
        foreach (var (partition, to) in target)
        {
            if (to != MemberId) continue;
            if (leases.TryGetValue(partition, out var holder))
            {
                // Its own lease (renewed above) of a partition it no longer claims, revoked when its heartbeats failed
                // past the session: nobody took it over, so it is this member's again.
                if (holder != MemberId || owned.Contains(partition)) continue;
            }
            else
            {
                topicName.Value = partition.Topic;
                partitionNumber.Value = partition.Partition;
                cmd.ExecuteNonQuery();
            }
            taken.Add(partition);
        }
        tx.Commit();
        taken.Sort(PartitionOrder.Instance);
        return (lost, giveUp, taken);
    }

    /// <summary>
    /// The group's assignment: each live member gets its share of the partitions (an equal share, one more for the first
    /// members, those holding most first); a partition stays with the live member holding it while that member is within
    /// its share; the rest go, in order, to the members below their share. Every member computes the same answer from the
    /// same rows.
    /// </summary>
    internal static Dictionary<LogPartition, string> Assign(IReadOnlyList<LogPartition> partitions, IReadOnlyList<string> members, IReadOnlyDictionary<LogPartition, string> leases)
    {
        var target = new Dictionary<LogPartition, string>();
        if (members.Count == 0) return target;
        var live = new HashSet<string>(members, StringComparer.Ordinal);
        var sorted = partitions.Order(PartitionOrder.Instance).ToList();
        var holding = sorted.Where(leases.ContainsKey).Select(p => leases[p]).Where(live.Contains)
            .GroupBy(m => m, StringComparer.Ordinal).ToDictionary(g => g.Key, g => g.Count(), StringComparer.Ordinal);
        var ordered = members.Order(StringComparer.Ordinal).OrderByDescending(m => holding.GetValueOrDefault(m)).ToList();
        int share = sorted.Count / ordered.Count, extra = sorted.Count % ordered.Count;
        var quota = ordered.Select((m, i) => (m, q: share + (i < extra ? 1 : 0))).ToDictionary(x => x.m, x => x.q, StringComparer.Ordinal);
        var count = ordered.ToDictionary(m => m, _ => 0, StringComparer.Ordinal);
        foreach (var p in sorted)
        {
            if (leases.TryGetValue(p, out var holder) && live.Contains(holder) && count[holder] < quota[holder])
            {
                target[p] = holder;
                count[holder]++;
            }
        }
        foreach (var p in sorted)
        {
            if (target.ContainsKey(p)) continue;
            string to = ordered.First(m => count[m] < quota[m]);
            target[p] = to;
            count[to]++;
        }
        return target;
    }

    /// <summary>Takes partitions out of the assignment (so <see cref="Owns"/> is false at once), waits for their work to stop, then, when asked, releases their leases.</summary>
    private async Task RevokeAsync(List<LogPartition> partitions, string why, bool release)
    {
        if (partitions.Count == 0) return;
        Change(owned => owned.ExceptWith(partitions));
        _logger.LogInformation("Consumer group {Group}, member {Member}: revoking {Partitions} ({Why})", Group, MemberId, string.Join(", ", partitions), why);
        if (_options.OnRevoked is { } revoked) await revoked(partitions, CancellationToken.None).ConfigureAwait(false);
        if (!release) return;
        await _db.WaitAsync().ConfigureAwait(false);
        try
        {
            WriterTurns.Run(_path, () =>
            {
                using var tx = _connection.BeginTransaction();
                using var cmd = _connection.CreateCommand();
                cmd.Transaction = tx;
                cmd.CommandText = "DELETE FROM partition_leases WHERE group_id = $g AND topic = $t AND partition = $p AND member_id = $m";
                cmd.Parameters.AddWithValue("$g", Group);
                cmd.Parameters.AddWithValue("$m", MemberId);
                var topic = cmd.Parameters.Add("$t", SqliteType.Text);
                var partition = cmd.Parameters.Add("$p", SqliteType.Integer);
                foreach (var p in partitions)
                {
                    topic.Value = p.Topic;
                    partition.Value = p.Partition;
                    cmd.ExecuteNonQuery();
                }
                tx.Commit();
                return 0;
            });
        }
        catch (SqliteException ex)
        {
            // Not released: the leases run out after the session timeout instead.
            _logger.LogWarning("Consumer group {Group}, member {Member}: could not release {Partitions}: {Error}", Group, MemberId, string.Join(", ", partitions), ex.Message);
        }
        finally
        {
            _db.Release();
        }
    }

    private void Change(Action<SortedSet<LogPartition>> change)
    {
        TaskCompletionSource changed;
        lock (_gate)
        {
            var owned = new SortedSet<LogPartition>(_owned, PartitionOrder.Instance);
            change(owned);
            if (owned.SetEquals(_owned)) return;
            _owned = owned;
            Volatile.Write(ref _assignment, owned.ToList());
            _generation++;
            changed = _changed;
            _changed = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        }
        changed.TrySetResult();
    }

    /// <summary>Test hook: stops heartbeating and drops the connection without revoking or releasing anything, as a killed process does.</summary>
    internal async Task AbandonAsync()
    {
        if (!await StopLoopAsync().ConfigureAwait(false)) return;
        await _connection.DisposeAsync().ConfigureAwait(false);
    }

    /// <summary>Marks the member disposed and stops its heartbeat loop; false when it already was.</summary>
    private async Task<bool> StopLoopAsync()
    {
        if (Interlocked.Exchange(ref _disposed, 1) != 0) return false;
        await _stop.CancelAsync().ConfigureAwait(false);
        try
        {
            await _loop.ConfigureAwait(false);
        }
        catch (OperationCanceledException)
        {
        }
        return true;
    }

    /// <summary>Leaves the group: stops heartbeating, revokes and releases every partition, removes the member's row.</summary>
    public async ValueTask DisposeAsync()
    {
        if (!await StopLoopAsync().ConfigureAwait(false)) return;
        try
        {
            await RevokeAsync(Snapshot(), "it left the group", release: true).ConfigureAwait(false);
            await _db.WaitAsync().ConfigureAwait(false);
            try
            {
                WriterTurns.Run(_path, () =>
                {
                    using var cmd = _connection.CreateCommand();
                    cmd.CommandText = "DELETE FROM group_members WHERE group_id = $g AND member_id = $m";
                    cmd.Parameters.AddWithValue("$g", Group);
                    cmd.Parameters.AddWithValue("$m", MemberId);
                    return cmd.ExecuteNonQuery();
                });
            }
            finally
            {
                _db.Release();
            }
        }
        catch (SqliteException ex)
        {
            _logger.LogWarning("Consumer group {Group}, member {Member}: could not leave cleanly ({Error}); its leases run out after the session timeout", Group, MemberId, ex.Message);
        }
        finally
        {
            await _connection.DisposeAsync().ConfigureAwait(false);
            _stop.Dispose();
        }
        Debug.Assert(Assignment.Count == 0);
    }

    private sealed class PartitionOrder : IComparer<LogPartition>
    {
        public static readonly PartitionOrder Instance = new();

        public int Compare(LogPartition x, LogPartition y)
        {
            int c = string.CompareOrdinal(x.Topic, y.Topic);
            return c != 0 ? c : x.Partition.CompareTo(y.Partition);
        }
    }
}
