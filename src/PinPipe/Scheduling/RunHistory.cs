using System.Globalization;
using Microsoft.Data.Sqlite;
using PinPipe.Errors;
using PinPipe.Files;

namespace PinPipe.Scheduling;

/// <summary>
/// The history of scheduled batch runs, one row per attempt, in a SQLite file (WAL, so <c>pinpipe runs</c> reads
/// while <c>pinpipe schedule</c> writes). An attempt is written as <see cref="RunOutcome.Running"/> when it starts
/// and updated when it ends; one whose process was killed stays <see cref="RunOutcome.Running"/> until the next
/// attempt to take the <see cref="BatchRunLock"/> marks it <see cref="RunOutcome.Interrupted"/>.
/// Thread-safe; times are stored as UTC ISO 8601 text.
/// </summary>
public sealed class RunHistory : IDisposable
{
    private const int Version = 1;
    private const int MaxErrorLength = 4000;

    private const string CreateV1 = """
        CREATE TABLE runs(
            id INTEGER PRIMARY KEY AUTOINCREMENT,
            run_id TEXT NOT NULL,
            scheduled_at TEXT NOT NULL,
            attempt INTEGER NOT NULL,
            started_at TEXT NOT NULL,
            ended_at TEXT,
            outcome TEXT NOT NULL CHECK(outcome IN ('running', 'succeeded', 'failed', 'cancelled', 'interrupted')),
            error TEXT);
        PRAGMA user_version = 1;
        """;

    private readonly SqliteConnection _connection;
    private readonly Lock _gate = new();

    private RunHistory(SqliteConnection connection, string path)
    {
        _connection = connection;
        Path = path;
    }

    /// <summary>The database file's full path.</summary>
    public string Path { get; }

    /// <summary>Opens the history at <paramref name="path"/>, creating the file (and its folder) and the table when missing.</summary>
    /// <exception cref="ScheduleException">The file is not a run history this PinPipe understands.</exception>
    public static RunHistory Open(string path)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(path);
        path = System.IO.Path.GetFullPath(path);
        OwnerOnly.CreateParentDirectory(path);
        OwnerOnly.CreateFileIfMissing(path); // 0600; SQLite gives its journal files the same mode
        var connection = new SqliteConnection(new SqliteConnectionStringBuilder
        {
            DataSource = path,
            Mode = SqliteOpenMode.ReadWriteCreate,
            Pooling = false,
            DefaultTimeout = 5,
        }.ToString());
        try
        {
            connection.Open();
            Prepare(connection, path);
            return new RunHistory(connection, path);
        }
        catch (SqliteException ex)
        {
            connection.Dispose();
            throw new ScheduleException("schedule.history_unreadable", ErrorKind.Failed, $"The file '{path}' cannot be opened as a run history (Schedule:HistoryPath): {ex.Message}", ex);
        }
        catch
        {
            connection.Dispose();
            throw;
        }
    }

    private static void Prepare(SqliteConnection connection, string path)
    {
        Execute(connection, "PRAGMA busy_timeout = 5000;");
        var mode = Scalar(connection, "PRAGMA journal_mode=WAL;") as string;
        if (!string.Equals(mode, "wal", StringComparison.OrdinalIgnoreCase))
            throw new ScheduleException("schedule.history_unreadable", ErrorKind.Failed, $"The run history '{path}' could not be switched to WAL mode (journal_mode is '{mode}').");
        Execute(connection, "PRAGMA synchronous = FULL;");
        var version = Convert.ToInt32(Scalar(connection, "PRAGMA user_version;"), CultureInfo.InvariantCulture);
        if (version == Version) return;
        if (version != 0)
            throw new ScheduleException("schedule.history_unreadable", ErrorKind.Failed, $"The run history '{path}' has schema version {version}, not the version {Version} this PinPipe understands; use another Schedule:HistoryPath.");
        using var tx = connection.BeginTransaction();
        using var cmd = connection.CreateCommand();
        cmd.Transaction = tx;
        // Another process may have created it between the version check and this transaction.
        cmd.CommandText = "PRAGMA user_version;";
        if (Convert.ToInt32(cmd.ExecuteScalar(), CultureInfo.InvariantCulture) == 0)
        {
            cmd.CommandText = CreateV1;
            cmd.ExecuteNonQuery();
        }
        tx.Commit();
    }

    /// <summary>Records that an attempt started; returns its row id for <see cref="Finish"/>.</summary>
    public long Start(ScheduledRun run, DateTimeOffset startedAt)
    {
        ArgumentNullException.ThrowIfNull(run);
        lock (_gate)
        {
            using var cmd = _connection.CreateCommand();
            cmd.CommandText = """
                INSERT INTO runs(run_id, scheduled_at, attempt, started_at, outcome) VALUES ($run, $scheduled, $attempt, $started, 'running');
                SELECT last_insert_rowid();
                """;
            cmd.Parameters.AddWithValue("$run", run.RunId);
            cmd.Parameters.AddWithValue("$scheduled", Text(run.ScheduledAt));
            cmd.Parameters.AddWithValue("$attempt", run.Attempt);
            cmd.Parameters.AddWithValue("$started", Text(startedAt));
            return (long)cmd.ExecuteScalar()!;
        }
    }

    /// <summary>Records how the attempt <paramref name="id"/> (from <see cref="Start"/>) ended.</summary>
    public void Finish(long id, RunOutcome outcome, DateTimeOffset endedAt, string? error)
    {
        if (outcome == RunOutcome.Running) throw new ArgumentException("An attempt cannot finish as running.", nameof(outcome));
        lock (_gate)
        {
            using var cmd = _connection.CreateCommand();
            cmd.CommandText = "UPDATE runs SET outcome = $outcome, ended_at = $ended, error = $error WHERE id = $id;";
            cmd.Parameters.AddWithValue("$outcome", Name(outcome));
            cmd.Parameters.AddWithValue("$ended", Text(endedAt));
            cmd.Parameters.AddWithValue("$error", error is null ? DBNull.Value : error.Length > MaxErrorLength ? error[..MaxErrorLength] : error);
            cmd.Parameters.AddWithValue("$id", id);
            if (cmd.ExecuteNonQuery() != 1) throw new ArgumentException($"No attempt with id {id} in the run history '{Path}'.", nameof(id));
        }
    }

    /// <summary>
    /// Marks every attempt still <see cref="RunOutcome.Running"/> as <see cref="RunOutcome.Interrupted"/> (ended at
    /// <paramref name="at"/>); returns how many. Call only while holding the <see cref="BatchRunLock"/>: then no such
    /// attempt can be alive.
    /// </summary>
    public int MarkInterrupted(DateTimeOffset at)
    {
        lock (_gate)
        {
            using var cmd = _connection.CreateCommand();
            cmd.CommandText = "UPDATE runs SET outcome = 'interrupted', ended_at = $at, error = 'the process running this attempt stopped before it ended' WHERE outcome = 'running';";
            cmd.Parameters.AddWithValue("$at", Text(at));
            return cmd.ExecuteNonQuery();
        }
    }

    /// <summary>The latest <paramref name="count"/> attempts, newest first.</summary>
    public IReadOnlyList<RunRecord> Latest(int count)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(count);
        lock (_gate)
        {
            using var cmd = _connection.CreateCommand();
            cmd.CommandText = "SELECT run_id, scheduled_at, attempt, started_at, ended_at, outcome, error FROM runs ORDER BY id DESC LIMIT $count;";
            cmd.Parameters.AddWithValue("$count", count);
            using var reader = cmd.ExecuteReader();
            var records = new List<RunRecord>();
            while (reader.Read())
                records.Add(new RunRecord(
                    reader.GetString(0),
                    Parse(reader.GetString(1)),
                    reader.GetInt32(2),
                    Parse(reader.GetString(3)),
                    reader.IsDBNull(4) ? null : Parse(reader.GetString(4)),
                    Enum.Parse<RunOutcome>(reader.GetString(5), ignoreCase: true),
                    reader.IsDBNull(6) ? null : reader.GetString(6)));
            return records;
        }
    }

    /// <summary>Closes the file.</summary>
    public void Dispose()
    {
        lock (_gate) _connection.Dispose();
    }

    private static string Name(RunOutcome outcome) => outcome.ToString().ToLowerInvariant();

    private static string Text(DateTimeOffset t) => t.UtcDateTime.ToString("O", CultureInfo.InvariantCulture);

    private static DateTimeOffset Parse(string text) =>
        DateTimeOffset.ParseExact(text, "O", CultureInfo.InvariantCulture, DateTimeStyles.None).ToUniversalTime();

    private static object? Scalar(SqliteConnection connection, string sql)
    {
        using var cmd = connection.CreateCommand();
#pragma warning disable CA2100 // only called with constant PRAGMA statements
        cmd.CommandText = sql;
#pragma warning restore CA2100
        return cmd.ExecuteScalar();
    }

    private static void Execute(SqliteConnection connection, string sql)
    {
        using var cmd = connection.CreateCommand();
#pragma warning disable CA2100 // only called with constant PRAGMA statements
        cmd.CommandText = sql;
#pragma warning restore CA2100
        cmd.ExecuteNonQuery();
    }
}
