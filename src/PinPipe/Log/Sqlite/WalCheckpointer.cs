using Microsoft.Data.Sqlite;
using Microsoft.Extensions.Logging;

namespace PinPipe.Log.Sqlite;

/// <summary>
/// The producer's checkpoints: its writer copies the WAL into the database file between two groups, after the first
/// group's callers have their answer, not inside the commit.
/// </summary>
/// <remarks>
/// <para>SQLite's automatic checkpoint (every 1,000 pages) runs in the connection that commits, after the commit and
/// before the commit returns: every group that crossed it kept its callers waiting for the copy into the database file
/// and that file's fsync. The writer's automatic checkpoint is off; instead, once it has committed a step
/// (<see cref="CheckpointSteps"/>), it completes the group's callers first and then checkpoints (<see cref="AfterGroup"/>).
/// Appends that arrive meanwhile wait in the queue and go into the next group. The step in records is small (1 MiB)
/// so that each pause is short: at 500 records a request the p99 went from 51–75 ms to 40–47 ms, and a step of 4 MiB
/// gave 53–54 ms (BENCHMARKS.md, issue #14).</para>
/// <para>The writer checkpoints every frame in the WAL (no other connection of the producer appends), so its next
/// transaction starts the WAL over from its beginning and the file stays near a step plus a group.</para>
/// <para>A checkpoint that fails (a full disk) is logged and tried again after the next group; the WAL keeps every
/// committed frame meanwhile, so no acknowledged record depends on it.</para>
/// </remarks>
internal sealed class WalCheckpointer
{
    private readonly ILogger _logger;
    private readonly string _path;
    private long _records, _frames, _checkpoints, _failures;
    private long _lastWarning = long.MinValue;

    public WalCheckpointer(string path, ILogger logger, CheckpointSteps steps)
    {
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(steps.RecordBytes);
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(steps.WalBytes);
        _path = path;
        _logger = logger;
        Steps = steps;
    }

    /// <summary>How much the writer commits between two checkpoints.</summary>
    public CheckpointSteps Steps { get; }

    /// <summary>Checkpoints run and checkpoints that failed (for tests).</summary>
    public (long Checkpoints, long Failures) Counts => (Interlocked.Read(ref _checkpoints), Interlocked.Read(ref _failures));

    /// <summary>
    /// Writer thread, after a commit: counts the bytes of records it wrote (new pages, each copied once by the next
    /// checkpoint) and of the WAL frames it took (pages × page size, as the writer estimates them: small commits rewrite
    /// the same few pages, which a checkpoint copies once).
    /// </summary>
    public void Committed(long recordBytes, long walBytes)
    {
        _records += recordBytes;
        _frames += walBytes;
    }

    /// <summary>Writer thread: the next <see cref="AfterGroup"/> checkpoints (pages were freed or rewritten outside appends).</summary>
    public void Due() => _records = Math.Max(_records, Steps.RecordBytes);

    /// <summary>Writer thread, after a group's callers have their answer: checkpoints once a step is full.</summary>
    public void AfterGroup(SqliteConnection writer)
    {
        if (_records < Steps.RecordBytes && _frames < Steps.WalBytes) return;
        long started = System.Diagnostics.Stopwatch.GetTimestamp();
        try
        {
            using var cmd = writer.CreateCommand();
            cmd.CommandText = "PRAGMA wal_checkpoint(PASSIVE);";
            using var r = cmd.ExecuteReader();
            r.Read();
            _records = _frames = 0;
            Interlocked.Increment(ref _checkpoints);
            _logger.LogTrace("Log {Path}: checkpointed {Done} of the WAL's {Frames} frames in {Ms:0.0} ms", _path, r.GetInt64(2), r.GetInt64(1),
                System.Diagnostics.Stopwatch.GetElapsedTime(started).TotalMilliseconds);
        }
        catch (SqliteException ex)
        {
            Interlocked.Increment(ref _failures);
            long now = Environment.TickCount64;
            if (_lastWarning != long.MinValue && now - _lastWarning < 10_000) return; // one line at most every 10 s
            _lastWarning = now;
            _logger.LogWarning("Log {Path}: a checkpoint of the WAL failed ({Error}); the WAL keeps every committed record and the checkpoint is tried again after the next group", _path, ex.Message);
        }
    }
}

/// <summary>
/// When the producer's writer checkpoints: once it has committed <paramref name="RecordBytes"/> of records (what the
/// checkpoint copies and its fsync flushes; each pause stays short) or <paramref name="WalBytes"/> of WAL frames (the
/// WAL's size between two restarts, when small commits rewrite the same pages).
/// </summary>
internal readonly record struct CheckpointSteps(long RecordBytes, long WalBytes)
{
    /// <summary>1 MiB of records or 64 MiB of frames.</summary>
    public static CheckpointSteps Default { get; } = new(1L << 20, 64L << 20);
}
