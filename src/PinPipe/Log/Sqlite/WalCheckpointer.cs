using Microsoft.Data.Sqlite;
using Microsoft.Extensions.Logging;

namespace PinPipe.Log.Sqlite;

/// <summary>
/// The producer's checkpoints: its writer copies the WAL into the database file between two groups, after the first
/// group's callers have their answer, not inside the commit.
/// </summary>
/// <remarks>
/// <para>SQLite's automatic checkpoint (every 1,000 pages, 16 MiB here) runs in the connection that commits, after the
/// commit and before the commit returns: every group that crossed it kept its callers waiting for 16 MiB copied into
/// the database file and that file's fsync. The writer's automatic checkpoint is off; instead, once it has committed
/// <see cref="StepBytes"/> since the last checkpoint, it completes the group's callers first and then checkpoints
/// (<see cref="AfterGroup"/>). Appends that arrive meanwhile wait in the queue and go into the next group.</para>
/// <para>The writer checkpoints every frame in the WAL (no other connection of the producer appends), so its next
/// transaction starts the WAL over from its beginning and the file stays near <see cref="StepBytes"/> plus a group.
/// A step smaller than SQLite's 16 MiB makes each pause short: measured with `bench/serve-side-by-side.sh`
/// (BENCHMARKS.md).</para>
/// <para>A checkpoint that fails (a full disk) is logged and tried again after the next group; the WAL keeps every
/// committed frame meanwhile, so no acknowledged record depends on it.</para>
/// </remarks>
internal sealed class WalCheckpointer
{
    /// <summary>WAL bytes the writer commits between two checkpoints.</summary>
    public const long DefaultStepBytes = 4L << 20;

    private readonly ILogger _logger;
    private readonly string _path;
    private long _since, _checkpoints, _failures;
    private long _lastWarning = long.MinValue;

    public WalCheckpointer(string path, ILogger logger, long stepBytes = DefaultStepBytes)
    {
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(stepBytes);
        _path = path;
        _logger = logger;
        StepBytes = stepBytes;
    }

    /// <summary>WAL bytes (pages the commits wrote, as the writer estimates them) between two checkpoints.</summary>
    public long StepBytes { get; }

    /// <summary>Checkpoints run and checkpoints that failed (for tests).</summary>
    public (long Checkpoints, long Failures) Counts => (Interlocked.Read(ref _checkpoints), Interlocked.Read(ref _failures));

    /// <summary>Writer thread, after a commit: counts the bytes of the WAL frames the commit wrote (pages × page size).</summary>
    public void Committed(long bytes) => _since += bytes;

    /// <summary>Writer thread, after a group's callers have their answer: checkpoints once a step is full.</summary>
    public void AfterGroup(SqliteConnection writer)
    {
        if (_since < StepBytes) return;
        long started = System.Diagnostics.Stopwatch.GetTimestamp();
        try
        {
            using var cmd = writer.CreateCommand();
            cmd.CommandText = "PRAGMA wal_checkpoint(PASSIVE);";
            using var r = cmd.ExecuteReader();
            r.Read();
            _since = 0;
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
