using Microsoft.Data.Sqlite;
using Microsoft.Extensions.Logging;

namespace PinPipe.Log.Sqlite;

// Retention: whole batches are deleted from the start of each partition, by age and by size; the
// partition's next offset never moves back.
public sealed partial class SqliteLog
{
    private void OnRetentionTimer()
    {
        if (Volatile.Read(ref _disposed) != 0 || Interlocked.Exchange(ref _retentionQueued, 1) != 0) return;
        _ = RunScheduledRetentionAsync();
    }

    private async Task RunScheduledRetentionAsync()
    {
        try
        {
            var removed = await RunExclusiveAsync(ApplyRetention, CancellationToken.None).ConfigureAwait(false);
            if (removed > 0) _logger.LogInformation("Log {Path}: retention removed {Records} records", _path, removed);
        }
        catch (ObjectDisposedException)
        {
            // Closed while the check was queued.
        }
#pragma warning disable CA1031 // a background check: any failure is logged and retried at the next check, never lost in an unobserved task
        catch (Exception ex)
#pragma warning restore CA1031
        {
            _logger.LogWarning(ex, "Log {Path}: retention failed; it will be retried at the next check", _path);
        }
        finally
        {
            Volatile.Write(ref _retentionQueued, 0);
        }
    }

    private long ApplyRetention()
    {
        long? cutoff = _options.RetentionTime is { } age ? (_time.GetUtcNow() - age).ToUnixTimeMilliseconds() : null;
        var maxBytes = _options.RetentionBytes;
        if (cutoff is null && maxBytes is null) return 0;

        var plan = new List<(TopicState Topic, PartitionState Partition, long LastBase, long NewStart, long Size, long Records)>();
        try
        {
            using var scan = _writer.CreateCommand();
            scan.CommandText = """
                SELECT base_offset, last_offset, record_count, max_timestamp, size_bytes FROM batches
                WHERE topic_id = $t AND partition = $p ORDER BY base_offset
                """;
            var topicParam = scan.Parameters.Add("$t", SqliteType.Integer);
            var partitionParam = scan.Parameters.Add("$p", SqliteType.Integer);
            foreach (var t in _topics.Values)
            {
                foreach (var p in t.Partitions)
                {
                    if (p.LogStartOffset >= p.NextOffset) continue;
                    topicParam.Value = t.Id;
                    partitionParam.Value = p.Partition;
                    long size = p.SizeBytes, lastBase = -1, newStart = 0, records = 0;
                    using (var r = scan.ExecuteReader())
                    {
                        while (r.Read())
                        {
                            var expired = cutoff is { } c && r.GetInt64(3) < c;
                            var oversized = maxBytes is { } m && size > m;
                            if (!expired && !oversized) break;
                            lastBase = r.GetInt64(0);
                            newStart = r.GetInt64(1) + 1;
                            records += r.GetInt64(2);
                            size -= r.GetInt64(4);
                        }
                    }

                    if (lastBase >= 0) plan.Add((t, p, lastBase, newStart, size, records));
                }
            }

            if (plan.Count == 0) return 0;
            SqliteBusy.Run(() =>
            {
                using var tx = _writer.BeginTransaction();
                using var delete = _writer.CreateCommand();
                delete.Transaction = tx;
                delete.CommandText = """
                    DELETE FROM batches WHERE topic_id = $t AND partition = $p AND base_offset <= $b;
                    UPDATE partitions SET log_start_offset = $s WHERE topic_id = $t AND partition = $p;
                    """;
                var dt = delete.Parameters.Add("$t", SqliteType.Integer);
                var dp = delete.Parameters.Add("$p", SqliteType.Integer);
                var db = delete.Parameters.Add("$b", SqliteType.Integer);
                var ds = delete.Parameters.Add("$s", SqliteType.Integer);
                foreach (var step in plan)
                {
                    dt.Value = step.Topic.Id;
                    dp.Value = step.Partition.Partition;
                    db.Value = step.LastBase;
                    ds.Value = step.NewStart;
                    delete.ExecuteNonQuery();
                }

                tx.Commit();
                return true;
            });
        }
        catch (SqliteException ex)
        {
            throw WriteFailed("apply retention", ex);
        }

        long removed = 0;
        foreach (var step in plan)
        {
            step.Partition.SizeBytes = step.Size;
            step.Partition.SetLogStart(step.NewStart);
            removed += step.Records;
        }

        _checkpointer?.Due(); // freed pages are written too: checkpoint them after the next group
        return removed;
    }
}
