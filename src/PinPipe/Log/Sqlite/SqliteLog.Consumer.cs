using System.Collections.Concurrent;
using Microsoft.Data.Sqlite;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;

namespace PinPipe.Log.Sqlite;

// Consumer access (LogAccess.Consumer): another process owns the file and appends to it, so nothing is cached.
// Topics and watermarks are read from the database on every call, waits poll the partition's next offset, and
// offset commits take SQLite's write lock between the producer's group commits, in a turn the producer gives way to
// (WriterTurns; busy timeout, bounded retries).
public sealed partial class SqliteLog
{
    /// <summary>How often a consumer's <see cref="WaitForDataAsync"/> looks at the partition's next offset.</summary>
    internal static readonly TimeSpan ConsumerPollInterval = TimeSpan.FromMilliseconds(25);

    private static SqliteLog OpenConsumer(LogOptions options, ILogger? logger, TimeProvider? time, string path)
    {
        if (!File.Exists(path)) throw LogErrors.ConsumerMissingFile(path);
        var connection = new SqliteConnection(new SqliteConnectionStringBuilder
        {
            DataSource = path,
            Mode = SqliteOpenMode.ReadWrite, // never creates the file
            Pooling = false,
            DefaultTimeout = SqliteBusy.CommandTimeoutSeconds,
        }.ToString());
        try
        {
            try
            {
                connection.Open();
                SqliteBusy.Configure(connection);
                SqliteSchema.Check(connection, path);
            }
            catch (SqliteException ex)
            {
                throw new LogException(LogErrorCode.Unreadable, $"The file '{path}' cannot be opened as a log database: {ex.Message}", ex, "--log-path, Log:Path");
            }

            return new SqliteLog(options, logger ?? NullLogger.Instance, time ?? TimeProvider.System, path, connection, null,
                new ConcurrentDictionary<string, TopicState>(StringComparer.Ordinal));
        }
        catch
        {
            connection.Dispose();
            throw;
        }
    }

    private async ValueTask<IReadOnlyList<TopicDescription>> ConsumerListTopicsAsync(CancellationToken cancellationToken)
    {
        var list = new List<TopicDescription>();
        try
        {
            await using var connection = await OpenReadAsync(cancellationToken).ConfigureAwait(false);
            await using var cmd = connection.CreateCommand();
            cmd.CommandText = "SELECT name, partitions, uuid FROM topics";
            await using var r = await cmd.ExecuteReaderAsync(cancellationToken).ConfigureAwait(false);
            while (await r.ReadAsync(cancellationToken).ConfigureAwait(false)) list.Add(new TopicDescription(r.GetString(0), r.GetInt32(1), r.GetString(2)));
        }
        catch (SqliteException ex)
        {
            throw LogErrors.Unavailable("list the topics", ex);
        }

        list.Sort((a, b) => string.CompareOrdinal(a.Name, b.Name));
        return list;
    }

    private async ValueTask<TopicDescription?> ConsumerDescribeTopicAsync(string topic, CancellationToken cancellationToken)
    {
        try
        {
            await using var connection = await OpenReadAsync(cancellationToken).ConfigureAwait(false);
            await using var cmd = connection.CreateCommand();
            cmd.CommandText = "SELECT partitions, uuid FROM topics WHERE name = $n";
            cmd.Parameters.AddWithValue("$n", topic);
            await using var r = await cmd.ExecuteReaderAsync(cancellationToken).ConfigureAwait(false);
            return await r.ReadAsync(cancellationToken).ConfigureAwait(false) ? new TopicDescription(topic, r.GetInt32(0), r.GetString(1)) : null;
        }
        catch (SqliteException ex)
        {
            throw LogErrors.Unavailable($"describe topic '{topic}'", ex);
        }
    }

    private async ValueTask<int> ConsumerReadAsync<T>(string topic, int partition, long offset, int maxRecords, Func<long, long, T> target, CancellationToken cancellationToken)
        where T : IRecordTarget
    {
        ArgumentNullException.ThrowIfNull(topic);
        ArgumentOutOfRangeException.ThrowIfNegative(offset);
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(maxRecords);
        try
        {
            await using var connection = await OpenReadAsync(cancellationToken).ConfigureAwait(false);
            await using var query = PartitionQuery(connection, topic, partition);
            var row = await QueryPartitionAsync(query, topic, partition, cancellationToken).ConfigureAwait(false) ?? throw LogErrors.UnknownTopic(topic);
            var from = Math.Max(offset, row.Low);
            if (from >= row.High) return 0;
            return ReadBatches(connection, row.TopicId, topic, partition, from, maxRecords, target(from, row.High), cancellationToken);
        }
        catch (SqliteException ex)
        {
            throw LogErrors.Unavailable($"read {topic}/{partition} at offset {offset}", ex);
        }
    }

    private async ValueTask<Watermarks> ConsumerGetWatermarksAsync(string topic, int partition, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(topic);
        try
        {
            await using var connection = await OpenReadAsync(cancellationToken).ConfigureAwait(false);
            await using var query = PartitionQuery(connection, topic, partition);
            var row = await QueryPartitionAsync(query, topic, partition, cancellationToken).ConfigureAwait(false) ?? throw LogErrors.UnknownTopic(topic);
            return new Watermarks(row.Low, row.High);
        }
        catch (SqliteException ex)
        {
            throw LogErrors.Unavailable($"read the watermarks of {topic}/{partition}", ex);
        }
    }

    /// <summary>Polls the partition's next offset every <see cref="ConsumerPollInterval"/>; also returns when the topic is deleted.</summary>
    private async Task ConsumerWaitForDataAsync(string topic, int partition, long offset, TimeSpan timeout, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(topic);
        var deadline = _time.GetTimestamp() + (long)(timeout.TotalSeconds * _time.TimestampFrequency);
        long? topicId = null;
        try
        {
            await using var connection = await OpenReadAsync(cancellationToken).ConfigureAwait(false);
            await using var query = PartitionQuery(connection, topic, partition);
            while (true)
            {
                var row = await QueryPartitionAsync(query, topic, partition, cancellationToken).ConfigureAwait(false);
                if (row is null)
                {
                    if (topicId is null) throw LogErrors.UnknownTopic(topic);
                    return; // deleted while we waited
                }

                if (topicId is { } id && id != row.Value.TopicId) return; // deleted and created again
                topicId = row.Value.TopicId;
                if (row.Value.High > offset || Volatile.Read(ref _disposed) != 0) return;
                var remaining = _time.GetElapsedTime(_time.GetTimestamp(), deadline);
                if (remaining <= TimeSpan.Zero) return;
                await Task.Delay(remaining < ConsumerPollInterval ? remaining : ConsumerPollInterval, _time, cancellationToken).ConfigureAwait(false);
            }
        }
        catch (SqliteException ex)
        {
            throw LogErrors.Unavailable($"wait for data in {topic}/{partition}", ex);
        }
    }

    private async ValueTask ConsumerCommitOffsetsAsync(string group, IReadOnlyList<TopicPartitionOffset> offsets, CancellationToken cancellationToken)
    {
        foreach (var o in offsets)
        {
            ArgumentNullException.ThrowIfNull(o.Topic, nameof(offsets));
            if (o.Offset < 0) throw new ArgumentOutOfRangeException(nameof(offsets), $"Offset {o.Offset} for {o.Topic}/{o.Partition} is negative.");
        }

        if (offsets.Count == 0) return;
        await _commitGate.WaitAsync(cancellationToken).ConfigureAwait(false);
        try
        {
            ThrowIfDisposed();
            var nowMs = _time.GetUtcNow().ToUnixTimeMilliseconds();
            for (var attempt = 1; ; attempt++)
            {
                try
                {
                    using (WriterTurns.Take(_path)) CommitOffsetsAsConsumer(group, offsets, nowMs);
                    return;
                }
                catch (SqliteException ex) when (SqliteBusy.IsBusy(ex) && attempt < SqliteBusy.MaxAttempts)
                {
                    _logger.LogWarning("Log {Path}: the database is busy (attempt {Attempt} of {Max}); retrying the offset commit of group {Group}", _path, attempt, SqliteBusy.MaxAttempts, group);
                    await Task.Delay(SqliteBusy.Backoff(attempt), _time, cancellationToken).ConfigureAwait(false);
                }
                catch (SqliteException ex)
                {
                    throw LogErrors.Unavailable($"commit the offsets of group '{group}'", ex);
                }
            }
        }
        finally
        {
            _commitGate.Release();
        }
    }

    /// <summary>One transaction: checks the topics and partitions exist (the producer may have deleted them), then upserts.</summary>
    private void CommitOffsetsAsConsumer(string group, IReadOnlyList<TopicPartitionOffset> offsets, long nowMs)
    {
        using var tx = _writer.BeginTransaction(); // BEGIN IMMEDIATE: waits (busy timeout) while the producer commits
        var partitionCounts = new Dictionary<string, int>(StringComparer.Ordinal);
        using (var check = _writer.CreateCommand())
        {
            check.Transaction = tx;
            check.CommandText = "SELECT partitions FROM topics WHERE name = $n";
            var name = check.Parameters.Add("$n", SqliteType.Text);
            foreach (var o in offsets)
            {
                if (!partitionCounts.TryGetValue(o.Topic, out var count))
                {
                    name.Value = o.Topic;
                    var value = check.ExecuteScalar();
                    if (value is null or DBNull) throw LogErrors.UnknownTopic(o.Topic);
                    partitionCounts[o.Topic] = count = Convert.ToInt32(value);
                }

                if (o.Partition < 0 || o.Partition >= count) throw LogErrors.UnknownPartition(o.Topic, o.Partition, count);
            }
        }

        WriteOffsets(_writer, tx, group, offsets, nowMs);
        tx.Commit();
    }

    private async Task<SqliteConnection> OpenReadAsync(CancellationToken cancellationToken)
    {
        var connection = new SqliteConnection(_readConnectionString);
        try
        {
            await connection.OpenAsync(cancellationToken).ConfigureAwait(false);
            return connection;
        }
        catch
        {
            await connection.DisposeAsync().ConfigureAwait(false);
            throw;
        }
    }

    private static SqliteCommand PartitionQuery(SqliteConnection connection, string topic, int partition)
    {
        var cmd = connection.CreateCommand();
        cmd.CommandText = """
            SELECT t.topic_id, t.partitions, p.log_start_offset, p.next_offset
            FROM topics t LEFT JOIN partitions p ON p.topic_id = t.topic_id AND p.partition = $p
            WHERE t.name = $n
            """;
        cmd.Parameters.AddWithValue("$n", topic);
        cmd.Parameters.AddWithValue("$p", partition);
        return cmd;
    }

    /// <summary>The partition as committed now, or null when the topic does not exist.</summary>
    /// <exception cref="LogException"><see cref="LogErrorCode.UnknownPartition"/>.</exception>
    private static async Task<PartitionRow?> QueryPartitionAsync(SqliteCommand query, string topic, int partition, CancellationToken cancellationToken)
    {
        await using var r = await query.ExecuteReaderAsync(cancellationToken).ConfigureAwait(false);
        if (!await r.ReadAsync(cancellationToken).ConfigureAwait(false)) return null;
        var count = r.GetInt32(1);
#pragma warning disable CA1849 // the row is already read (non-sequential reader): the async overload would only add a Task per column
        if (partition < 0 || partition >= count || r.IsDBNull(3)) throw LogErrors.UnknownPartition(topic, partition, count);
#pragma warning restore CA1849
        var high = r.GetInt64(3);
        return new PartitionRow(r.GetInt64(0), Math.Min(r.GetInt64(2), high), high);
    }

    private readonly record struct PartitionRow(long TopicId, long Low, long High);
}
