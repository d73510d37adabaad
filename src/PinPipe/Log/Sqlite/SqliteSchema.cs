using Microsoft.Data.Sqlite;

namespace PinPipe.Log.Sqlite;

/// <summary>The on-disk schema of the embedded log, versioned with <c>PRAGMA user_version</c>.</summary>
internal static class SqliteSchema
{
    /// <summary>The schema version this code writes and reads.</summary>
    public const int Version = 2;

    // Version 2 added topics.uuid: the id of the topic's incarnation (Kafka's topic id), given at creation.
    // batches is a rowid table with its key in a separate index (files created before 2026-12-03 have it WITHOUT ROWID; the
    // statements are the same for both, so both shapes are version 2). WITHOUT ROWID keeps whole rows in the key's b-tree,
    // and SQLite compares a sought key with a row that overflows its page by reading the whole row: with batch rows of up
    // to 256 KiB, every insert read several rows back (12x the bytes it wrote) and every read of a partition twice its bytes.
    // In the rowid shape the seeks go through the small index and a row is read only for its payload.
    private const string Create = """
        CREATE TABLE topics(
            topic_id INTEGER PRIMARY KEY AUTOINCREMENT,
            name TEXT NOT NULL UNIQUE,
            partitions INTEGER NOT NULL,
            created_ms INTEGER NOT NULL,
            uuid TEXT NOT NULL);
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
            PRIMARY KEY(topic_id, partition, base_offset));
        CREATE TABLE group_offsets(
            group_id TEXT NOT NULL,
            topic TEXT NOT NULL,
            partition INTEGER NOT NULL,
            next_offset INTEGER NOT NULL,
            committed_ms INTEGER NOT NULL,
            PRIMARY KEY(group_id, topic, partition)) WITHOUT ROWID;
        PRAGMA user_version = 2;
        """;

    /// <summary>Sets WAL and full sync, then creates the schema, upgrades a version 1 file or checks its version.</summary>
    /// <exception cref="LogException">The file has a newer schema or is not in WAL mode.</exception>
    public static void Prepare(SqliteConnection connection, string path)
    {
        // 16 KiB pages suit batches of many records (fewer overflow pages per row); it only takes effect on a new file.
        // 64 KiB pages measured no better at 500 records a request (BENCHMARKS.md, issue #14) and make every small
        // commit (an offset, a heartbeat) write 64 KiB frames.
        Scalar(connection, "PRAGMA page_size=16384;");
        var mode = Scalar(connection, "PRAGMA journal_mode=WAL;") as string;
        if (!string.Equals(mode, "wal", StringComparison.OrdinalIgnoreCase))
            throw new LogException(LogErrorCode.Unreadable, $"The log database '{path}' could not be switched to WAL mode (journal_mode is '{mode}').");
        Scalar(connection, "PRAGMA synchronous=FULL;");

        var version = Convert.ToInt32(Scalar(connection, "PRAGMA user_version;"));
        if (version > Version) throw Newer(path, version);
        if (version == Version) return;

        using var tx = connection.BeginTransaction();
        using var cmd = connection.CreateCommand();
        cmd.Transaction = tx;
#pragma warning disable CA2100 // constant statements
        cmd.CommandText = version == 0 ? Create : "ALTER TABLE topics ADD COLUMN uuid TEXT NOT NULL DEFAULT ''";
#pragma warning restore CA2100
        cmd.ExecuteNonQuery();
        if (version == 1)
        {
            // The topics of a version 1 file get their ids now, as Kafka gave ids to the topics of a cluster upgraded to 2.8.
            var ids = new List<long>();
            cmd.CommandText = "SELECT topic_id FROM topics";
            using (var r = cmd.ExecuteReader())
                while (r.Read()) ids.Add(r.GetInt64(0));
            cmd.CommandText = "UPDATE topics SET uuid = $u WHERE topic_id = $t";
            var uuid = cmd.Parameters.Add("$u", SqliteType.Text);
            var topic = cmd.Parameters.Add("$t", SqliteType.Integer);
            foreach (long id in ids)
            {
                uuid.Value = TopicIds.New();
                topic.Value = id;
                cmd.ExecuteNonQuery();
            }
            cmd.Parameters.Clear();
            cmd.CommandText = "PRAGMA user_version = 2";
            cmd.ExecuteNonQuery();
        }
        tx.Commit();
    }

    /// <summary>A consumer's check of a log someone else prepared: WAL and this schema version; it changes nothing.</summary>
    /// <exception cref="LogException">The file has another schema version or is not in WAL mode.</exception>
    public static void Check(SqliteConnection connection, string path)
    {
        var version = Convert.ToInt32(Scalar(connection, "PRAGMA user_version;"));
        if (version > Version) throw Newer(path, version);
        if (version < Version)
            throw new LogException(LogErrorCode.Unreadable, $"The file '{path}' is not a PinPipe log database (schema version {version}); a consumer (Log:Access=Consumer) never creates or upgrades a log: open it as the producer first.");
        var mode = Scalar(connection, "PRAGMA journal_mode;") as string;
        if (!string.Equals(mode, "wal", StringComparison.OrdinalIgnoreCase))
            throw new LogException(LogErrorCode.Unreadable, $"The log database '{path}' is not in WAL mode (journal_mode is '{mode}'); open it as the producer first.");
    }

    private static LogException Newer(string path, int version) =>
        new(LogErrorCode.Unreadable, $"The log database '{path}' has schema version {version}, newer than the version {Version} this PinPipe understands; use a newer PinPipe or another Log:Path.");

    private static object? Scalar(SqliteConnection connection, string sql)
    {
        using var cmd = connection.CreateCommand();
#pragma warning disable CA2100 // only called with constant PRAGMA statements
        cmd.CommandText = sql;
#pragma warning restore CA2100
        return cmd.ExecuteScalar();
    }
}
