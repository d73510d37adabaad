using Microsoft.Data.Sqlite;

namespace PinPipe.Log.Sqlite;

/// <summary>
/// Waiting for SQLite's write lock, which the producer and the consumers of one file share. Every writing
/// connection has a busy timeout (SQLite itself waits for the lock); a write that still finds the database busy
/// is retried a bounded number of times with a growing pause; other errors are not retried.
/// </summary>
internal static class SqliteBusy
{
    /// <summary>How long SQLite waits for a lock inside one statement.</summary>
    public const int TimeoutMs = 5000;

    /// <summary>Attempts of a write before the busy error is reported.</summary>
    public const int MaxAttempts = 4;

    /// <summary>Connection-string timeout (seconds) of Microsoft.Data.Sqlite's own busy retries: the same bound as SQLite's.</summary>
    public const int CommandTimeoutSeconds = TimeoutMs / 1000;

    /// <summary>SQLITE_BUSY or SQLITE_LOCKED: another connection holds the lock; the same write may succeed later.</summary>
    public static bool IsBusy(Exception ex) => ex is SqliteException { SqliteErrorCode: 5 or 6 };

    /// <summary>The pause after the given failed attempt (1-based): 20, 80, 320 ms.</summary>
    public static TimeSpan Backoff(int attempt) => TimeSpan.FromMilliseconds(20 << (2 * Math.Min(attempt - 1, 4)));

    /// <summary>
    /// The automatic checkpoint of the connections that write beside the producer's writer (consumers' offset commits,
    /// group members' heartbeats): 16,384 pages, past the WAL's usual size. The producer's writer checkpoints between its
    /// groups (<see cref="WalCheckpointer"/>); a small offset commit should not copy the producer's WAL into the file inside its
    /// own commit, as it would at SQLite's default of 1,000 pages. With no producer running, the WAL still has a bound.
    /// </summary>
    public const int SideWriterAutocheckpointPages = 16_384;

    /// <summary>Sets the busy timeout, full sync and the automatic checkpoint (pages; 0 turns it off) on a connection that writes.</summary>
    public static void Configure(SqliteConnection connection, int autocheckpointPages = SideWriterAutocheckpointPages)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(autocheckpointPages);
        using var cmd = connection.CreateCommand();
#pragma warning disable CA2100 // constant statements and an integer
        cmd.CommandText = $"PRAGMA busy_timeout = {TimeoutMs}; PRAGMA synchronous = FULL; PRAGMA wal_autocheckpoint = {autocheckpointPages.ToString(System.Globalization.CultureInfo.InvariantCulture)};";
#pragma warning restore CA2100
        cmd.ExecuteNonQuery();
    }

    /// <summary>Runs a write (its own transaction) on the calling thread, again while the database is busy.</summary>
    public static T Run<T>(Func<T> write)
    {
        for (var attempt = 1; ; attempt++)
        {
            try
            {
                return write();
            }
            catch (Exception ex) when (IsBusy(ex) && attempt < MaxAttempts)
            {
                Thread.Sleep(Backoff(attempt));
            }
        }
    }
}
