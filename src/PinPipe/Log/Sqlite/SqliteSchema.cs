using Microsoft.Data.Sqlite;

namespace PinPipe.Log.Sqlite;

/// <summary>The on-disk schema of the embedded log, versioned with <c>PRAGMA user_version</c>.</summary>
internal static class SqliteSchema
{
    /// <summary>The schema version this code writes and reads.</summary>
    public const int Version = 1;

    private const string CreateV1 = """
        CREATE TABLE topics(
            topic_id INTEGER PRIMARY KEY AUTOINCREMENT,
            name TEXT NOT NULL UNIQUE,
            partitions INTEGER NOT NULL,
            created_ms INTEGER NOT NULL);
        CREATE TABLE partitions(
            topic_id INTEGER NOT NULL,
            partition INTEGER NOT NULL,
            next_offset INTEGER NOT NULL,
            log_start_offset INTEGER NOT NULL,
            PRIMARY KEY(topic_id, partition)) WITHOUT ROWID;
        CREATE TABLE batches(
            topic_id INTEGER NOT NULL,
            partition INTEGER NOT NULL,
            base_offset INTEGER NOT NULL,
            last_offset INTEGER NOT NULL,
            record_count INTEGER NOT NULL,
            max_timestamp INTEGER NOT NULL,
            size_bytes INTEGER NOT NULL,
            payload BLOB NOT NULL,
            PRIMARY KEY(topic_id, partition, base_offset)) WITHOUT ROWID;
        CREATE TABLE group_offsets(
            group_id TEXT NOT NULL,
            topic TEXT NOT NULL,
            partition INTEGER NOT NULL,
            next_offset INTEGER NOT NULL,
            committed_ms INTEGER NOT NULL,
            PRIMARY KEY(group_id, topic, partition)) WITHOUT ROWID;
        PRAGMA user_version = 1;
        """;

    /// <summary>Sets WAL and full sync, then creates the schema or checks its version.</summary>
    /// <exception cref="InvalidOperationException">The file has a newer schema or is not in WAL mode.</exception>
    public static void Prepare(SqliteConnection connection, string path)
    {
        // 16 KiB pages suit batches of many records (fewer overflow pages per row); it only takes effect on a new file.
        Scalar(connection, "PRAGMA page_size=16384;");
        var mode = Scalar(connection, "PRAGMA journal_mode=WAL;") as string;
        if (!string.Equals(mode, "wal", StringComparison.OrdinalIgnoreCase))
            throw new InvalidOperationException($"The log database '{path}' could not be switched to WAL mode (journal_mode is '{mode}').");
        Scalar(connection, "PRAGMA synchronous=FULL;");

        var version = Convert.ToInt32(Scalar(connection, "PRAGMA user_version;"));
        if (version > Version) throw Newer(path, version);
        if (version == Version) return;

        using var tx = connection.BeginTransaction();
        using var cmd = connection.CreateCommand();
        cmd.Transaction = tx;
        cmd.CommandText = CreateV1;
        cmd.ExecuteNonQuery();
        tx.Commit();
    }

    /// <summary>A consumer's check of a log someone else prepared: WAL and this schema version; it changes nothing.</summary>
    /// <exception cref="InvalidOperationException">The file has another schema version or is not in WAL mode.</exception>
    public static void Check(SqliteConnection connection, string path)
    {
        var version = Convert.ToInt32(Scalar(connection, "PRAGMA user_version;"));
        if (version > Version) throw Newer(path, version);
        if (version < Version)
            throw new InvalidOperationException($"The file '{path}' is not a PinPipe log database (schema version {version}); a consumer (Log:Access=Consumer) never creates or upgrades a log: open it as the producer first.");
        var mode = Scalar(connection, "PRAGMA journal_mode;") as string;
        if (!string.Equals(mode, "wal", StringComparison.OrdinalIgnoreCase))
            throw new InvalidOperationException($"The log database '{path}' is not in WAL mode (journal_mode is '{mode}'); open it as the producer first.");
    }

    private static InvalidOperationException Newer(string path, int version) =>
        new($"The log database '{path}' has schema version {version}, newer than the version {Version} this PinPipe understands; use a newer PinPipe or another Log:Path.");

    private static object? Scalar(SqliteConnection connection, string sql)
    {
        using var cmd = connection.CreateCommand();
        cmd.CommandText = sql;
        return cmd.ExecuteScalar();
    }
}
