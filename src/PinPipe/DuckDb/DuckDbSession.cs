using System.Diagnostics.CodeAnalysis;
using System.Globalization;
using DuckDB.NET.Data;
using PinPipe.Configuration;

namespace PinPipe.DuckDb;

/// <summary>
/// The one way PinPipe opens and runs DuckDB: an in-memory connection set up from <see cref="DuckDbSettings"/>,
/// statements with positional parameters (<c>$1</c>, <c>$2</c>, ...), a cancellation token that interrupts the
/// running query (<see cref="DuckDBCommand.Cancel"/>), and the Parquet spill statement (<see cref="CopyToParquet"/>).
/// Names and text that cannot be parameters are quoted with <see cref="Sql"/>.
/// </summary>
public static class DuckDbSession
{
    /// <summary>
    /// The compression of every Parquet file PinPipe writes: snappy, Spark's default codec, so Spark, delta-rs and
    /// DuckDB read the files of the Delta tables alike.
    /// </summary>
    public const string ParquetCompression = "snappy";

    /// <summary>DuckDB's refusal for want of memory: in a query (<c>Out of Memory Error</c>) or in an appender (<c>Failed to append:
    /// could not allocate block …</c>, or <c>… failed to allocate data of size …</c>, whichever allocation hit the limit first).</summary>
    public static bool IsOutOfMemory(DuckDBException ex)
    {
        ArgumentNullException.ThrowIfNull(ex);
        return ex.Message.Contains("Out of Memory", StringComparison.OrdinalIgnoreCase)
            || ex.Message.Contains("could not allocate", StringComparison.Ordinal)
            || ex.Message.Contains("failed to allocate", StringComparison.OrdinalIgnoreCase);
    }

    /// <summary>An open in-memory DuckDB connection with <paramref name="settings"/> applied (DuckDB's defaults when null, time zone UTC).</summary>
    /// <exception cref="DuckDBException">DuckDB refused a setting (its message names it); nothing stays open.</exception>
    public static DuckDBConnection Open(DuckDbSettings? settings = null)
    {
        settings ??= new DuckDbSettings();
        ArgumentOutOfRangeException.ThrowIfNegative(settings.Threads, nameof(settings));
        var connection = new DuckDBConnection("DataSource=:memory:");
        try
        {
            connection.Open();
            connection.Execute($"SET TimeZone = {Sql.Literal(settings.TimeZone)}");
            if (settings.Threads > 0) connection.Execute($"SET threads = {settings.Threads.ToString(CultureInfo.InvariantCulture)}");
            if (settings.MemoryLimit is not null) connection.Execute($"SET memory_limit = {Sql.Literal(SettingFormats.ToDuckDbMemoryLimit(settings.MemoryLimit) ?? settings.MemoryLimit)}");
            if (!settings.PreserveInsertionOrder) connection.Execute("SET preserve_insertion_order = false");
            if (settings.AllocatorFlushThreshold is not null) connection.Execute($"SET allocator_flush_threshold = {Sql.Literal(settings.AllocatorFlushThreshold)}");
            if (settings.TempDirectory is not null) connection.Execute($"SET temp_directory = {Sql.Literal(settings.TempDirectory)}");
            if (!settings.ExternalFileCache) connection.Execute("SET enable_external_file_cache = false");
            return connection;
        }
        catch
        {
            connection.Dispose();
            throw;
        }
    }

    /// <summary>The memory limit of the process's shared helper DuckDB (<see cref="OpenShared"/>): 512 MB, beyond which it spills to disk where it can. A limit, not a reservation: the statistics of a 128 MiB data file (row groups of long strings on two threads) need more than 128 MB; a micro-batch's small files need a few MB.</summary>
    public const string SharedMemoryLimit = "512MB";

    /// <summary>The worker threads of the process's shared helper DuckDB (<see cref="OpenShared"/>): 2.</summary>
    public const int SharedThreads = 2;

    /// <summary>
    /// After this many <see cref="OpenShared"/> connections the shared helper DuckDB is replaced by a new instance (the old one
    /// closes once its last connection is disposed). DuckDB keeps an entry in its buffer pool's eviction queues for every
    /// block a query ever unpinned, and purges dead entries only once a queue holds tens of thousands of them: a
    /// long-running job's helper queries (a few per commit) would otherwise hold tens of MB that no query uses.
    /// </summary>
    public const int SharedRecycleEvery = 200;

    private static readonly Lock SharedGate = new();
    private static DuckDBConnection? _sharedRoot;
    private static int _sharedOpens;
    private static long _sharedGeneration;

    /// <summary>How many times the shared helper DuckDB was (re)created in this process; for tests and diagnostics.</summary>
    public static long SharedGeneration
    {
        get
        {
            lock (SharedGate) return _sharedGeneration;
        }
    }

    private static DuckDBConnection OpenSharedRoot() => Open(new DuckDbSettings
    {
        MemoryLimit = SharedMemoryLimit,
        Threads = SharedThreads,
        AllocatorFlushThreshold = "16MB",
        ExternalFileCache = false,
        TempDirectory = Path.Combine(Path.GetTempPath(), $"pinpipe-duckdb-{Environment.ProcessId}"),
    });

    /// <summary>
    /// A new connection to the process's one shared, small in-memory DuckDB (<see cref="SharedMemoryLimit"/>,
    /// <see cref="SharedThreads"/> threads, time zone UTC), for short helper queries such as a Delta commit's file
    /// stats, a checkpoint or a scan's file schemas. Opening and closing DuckDB instances at every commit does not hand
    /// their memory back to the system, so a long-running job must not open one per commit; connections are cheap, and
    /// the instance itself is replaced every <see cref="SharedRecycleEvery"/> connections. Use a connection on one thread
    /// at a time and dispose it; create no tables in it (other connections share the database, and a later connection
    /// may be to a new instance), only temporary ones.
    /// </summary>
    public static DuckDBConnection OpenShared()
    {
        DuckDBConnection connection;
        lock (SharedGate)
        {
            if (_sharedRoot is null || _sharedOpens >= SharedRecycleEvery)
            {
                var root = OpenSharedRoot();
                _sharedRoot?.Dispose(); // the instance closes when its last open connection is disposed
                _sharedRoot = root;
                _sharedOpens = 0;
                _sharedGeneration++;
            }
            _sharedOpens++;
            connection = _sharedRoot.Duplicate();
            try
            {
                // Opening takes the reference to the instance: under the lock, so that the root is not replaced in between.
                connection.Open();
            }
            catch
            {
                connection.Dispose();
                throw;
            }
        }
        try
        {
            connection.Execute("SET TimeZone = 'UTC'"); // a connection's own setting, not the database's
            return connection;
        }
        catch
        {
            connection.Dispose();
            throw;
        }
    }

    /// <summary>A command with positional parameters (<c>$1</c>, <c>$2</c>, ...; null as SQL NULL); the caller disposes it.</summary>
    public static DuckDBCommand Command(this DuckDBConnection connection, string sql, params object?[] parameters)
    {
        ArgumentNullException.ThrowIfNull(connection);
        ArgumentNullException.ThrowIfNull(parameters);
        var command = connection.CreateCommand();
#pragma warning disable CA2100 // the one place PinPipe's DuckDB SQL reaches DuckDB: identifiers quoted by Sql.Identifier, values by Sql.Literal or bound as parameters
        command.CommandText = sql;
#pragma warning restore CA2100
        foreach (object? p in parameters) command.Parameters.Add(new DuckDBParameter(p ?? DBNull.Value));
        return command;
    }

    /// <summary>
    /// Runs a statement. A token cancelled before or while it runs interrupts it and throws
    /// <see cref="OperationCanceledException"/>; <see cref="CancellationToken.None"/> runs it to the end (clean-up).
    /// </summary>
    public static void Execute(this DuckDBConnection connection, string sql, CancellationToken cancellationToken = default) =>
        connection.Execute(sql, [], cancellationToken);

    /// <summary>Runs an <c>INSERT</c>, <c>UPDATE</c> or <c>DELETE</c> (or the <c>EXECUTE</c> of one) and returns the rows it changed; cancelled as <see cref="Execute(DuckDBConnection, string, CancellationToken)"/>.</summary>
    public static long ExecuteChanged(this DuckDBConnection connection, string sql, CancellationToken cancellationToken = default) =>
        Run(connection, sql, [], static cmd => cmd.ExecuteNonQuery(), cancellationToken);

    /// <summary>Runs a statement with positional parameters (<c>$1</c>, <c>$2</c>, ...); cancelled as <see cref="Execute(DuckDBConnection, string, CancellationToken)"/>.</summary>
    public static void Execute(this DuckDBConnection connection, string sql, object?[] parameters, CancellationToken cancellationToken = default) =>
        Run(connection, sql, parameters, static cmd => cmd.ExecuteNonQuery(), cancellationToken);

    /// <summary>The first row of a query, every column as a long (null as 0); cancelled as <see cref="Execute(DuckDBConnection, string, CancellationToken)"/>.</summary>
    /// <exception cref="InvalidOperationException">The query returned no row.</exception>
    public static long[] QueryLongs(this DuckDBConnection connection, string sql, CancellationToken cancellationToken = default) =>
        Run(connection, sql, [], static cmd =>
        {
            using var reader = cmd.ExecuteReader();
            if (!reader.Read()) throw new InvalidOperationException("The query returned no row.");
            var values = new long[reader.FieldCount];
            for (int i = 0; i < values.Length; i++) values[i] = reader.IsDBNull(i) ? 0 : Convert.ToInt64(reader.GetValue(i), CultureInfo.InvariantCulture);
            return values;
        }, cancellationToken);

    /// <summary>Every row of a query, each mapped by <paramref name="map"/>; cancelled as <see cref="Execute(DuckDBConnection, string, CancellationToken)"/>.</summary>
    [SuppressMessage("Design", "CA1002:Do not expose generic lists", Justification = "A fresh list the caller owns (and may add to or sort); not a collection of an object's state.")]
    public static List<T> Query<T>(this DuckDBConnection connection, string sql, Func<DuckDBDataReader, T> map, CancellationToken cancellationToken = default) =>
        connection.Query(sql, [], map, cancellationToken);

    /// <summary>Every row of a query with positional parameters (<c>$1</c>, ...), each mapped by <paramref name="map"/>.</summary>
    [SuppressMessage("Design", "CA1002:Do not expose generic lists", Justification = "A fresh list the caller owns (and may add to or sort); not a collection of an object's state.")]
    public static List<T> Query<T>(this DuckDBConnection connection, string sql, object?[] parameters, Func<DuckDBDataReader, T> map, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(map);
        return Run(connection, sql, parameters, cmd =>
        {
            using var reader = (DuckDBDataReader)cmd.ExecuteReader();
            var rows = new List<T>();
            while (reader.Read()) rows.Add(map(reader));
            return rows;
        }, cancellationToken);
    }

    /// <summary>
    /// Throws <see cref="ArgumentException"/> naming the relation when it cannot be read or lacks one of
    /// <paramref name="columns"/> (compared case-insensitively, as DuckDB does).
    /// </summary>
    /// <param name="connection">The connection.</param>
    /// <param name="relationSql">The relation as quoted SQL (<see cref="Sql.Relation"/>).</param>
    /// <param name="relationName">The relation as the caller named it, for the message.</param>
    /// <param name="columns">The columns it must have.</param>
    /// <param name="cancellationToken">Interrupts the query.</param>
    public static void RequireColumns(this DuckDBConnection connection, string relationSql, string relationName, IReadOnlyCollection<string> columns,
        CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(columns);
        string[] present;
        try
        {
            present = Run(connection, $"SELECT * FROM {relationSql} LIMIT 0", [], static cmd =>
            {
                using var reader = cmd.ExecuteReader();
                return Enumerable.Range(0, reader.FieldCount).Select(reader.GetName).ToArray();
            }, cancellationToken);
        }
        catch (DuckDBException e)
        {
            throw new ArgumentException($"Cannot read relation '{relationName}': {e.Message}", nameof(relationName), e);
        }
        string[] missing = columns.Where(c => !present.Contains(c, StringComparer.OrdinalIgnoreCase)).ToArray();
        if (missing.Length > 0)
            throw new ArgumentException(
                $"Relation '{relationName}' lacks column(s) {string.Join(", ", missing)}; it has: {string.Join(", ", present)}.", nameof(relationName));
    }

    /// <summary>
    /// Writes the rows of <paramref name="source"/> to the Parquet file <paramref name="file"/> (created or replaced),
    /// compressed with <see cref="ParquetCompression"/>: <c>COPY source TO 'file' (FORMAT parquet, COMPRESSION snappy)</c>.
    /// </summary>
    /// <param name="connection">The connection.</param>
    /// <param name="source">A table or view as SQL (a plain name or <see cref="Sql.Relation"/>), or a query in parentheses,
    /// <c>(SELECT …)</c>; the caller builds it with <see cref="Sql"/>.</param>
    /// <param name="file">The local path of the file.</param>
    /// <param name="cancellationToken">Interrupts the copy (a partly written file may remain).</param>
    public static void CopyToParquet(this DuckDBConnection connection, string source, string file, CancellationToken cancellationToken = default)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(source);
        ArgumentException.ThrowIfNullOrWhiteSpace(file);
        connection.Execute($"COPY {source} TO {Sql.Literal(file)} (FORMAT parquet, COMPRESSION {ParquetCompression})", cancellationToken);
    }

    /// <summary>The rows of a Parquet row group that <see cref="CopyToParquet"/> writes: DuckDB's default <c>ROW_GROUP_SIZE</c>.</summary>
    public const long RowGroupRows = 122_880;

    /// <summary>
    /// The size a Parquet file PinPipe writes for a Delta table stays near (Delta's OPTIMIZE target, 128 MiB): below .NET's
    /// 2 GB array limit and S3's 5 GB single-PUT limit, large enough to keep the file count low.
    /// </summary>
    public const long TargetFileBytes = 128L << 20;

    /// <summary>
    /// Writes the rows of <paramref name="source"/> to Parquet files of about <paramref name="maxFileBytes"/> each (DuckDB
    /// starts a new file once one reaches the size, at a row-group boundary) in the new folder <paramref name="folder"/>,
    /// compressed with <see cref="ParquetCompression"/>. Returns the files, each with its row count and the statistics its
    /// writer kept (<see cref="WrittenParquetFile"/>); one file (possibly without rows) when the rows fit in one. DuckDB's threads write row groups in parallel: with several files, a file holds runs of the source's order,
    /// not one contiguous range of it.
    /// </summary>
    /// <param name="connection">The connection.</param>
    /// <param name="source">A table or view as SQL, or a query in parentheses (see <see cref="CopyToParquet"/>).</param>
    /// <param name="folder">A folder that does not exist yet (or is empty); created.</param>
    /// <param name="maxFileBytes">About the largest a file gets (<see cref="TargetFileBytes"/> by default).</param>
    /// <param name="rowGroupBytes">
    /// About the largest a row group gets in memory before it is written (DuckDB's <c>ROW_GROUP_SIZE_BYTES</c>); 0 (default):
    /// DuckDB's row groups of <see cref="RowGroupRows"/> (122,880) rows, which the writer holds in memory whole (about 90 MB of pins). A copy under a
    /// tight memory limit needs it; DuckDB takes it only on a connection that does not preserve insertion order
    /// (<see cref="DuckDbSettings.PreserveInsertionOrder"/>).
    /// </param>
    /// <param name="cancellationToken">Interrupts the copy.</param>
    [SuppressMessage("Design", "CA1002:Do not expose generic lists", Justification = "A fresh list the caller owns.")]
    public static List<WrittenParquetFile> CopyToParquetFiles(this DuckDBConnection connection, string source, string folder, long maxFileBytes = TargetFileBytes,
        long rowGroupBytes = 0, CancellationToken cancellationToken = default)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(source);
        ArgumentException.ThrowIfNullOrWhiteSpace(folder);
        ArgumentOutOfRangeException.ThrowIfLessThan(maxFileBytes, 1);
        ArgumentOutOfRangeException.ThrowIfNegative(rowGroupBytes);
        if (Directory.Exists(folder) && Directory.EnumerateFileSystemEntries(folder).Any())
            throw new ArgumentException($"Folder '{folder}' is not empty.", nameof(folder));
        Directory.CreateDirectory(folder);
        string size = maxFileBytes.ToString(CultureInfo.InvariantCulture);
        string rowGroups = rowGroupBytes > 0 ? $", ROW_GROUP_SIZE_BYTES {rowGroupBytes.ToString(CultureInfo.InvariantCulture)}" : "";
        // RETURN_STATS: a row a file, with the statistics the writer kept for its footer, so that nobody reads the file back for them.
        var files = connection.Query(
                $"COPY {source} TO {Sql.Literal(folder)} (FORMAT parquet, COMPRESSION {ParquetCompression}, FILE_SIZE_BYTES {size}{rowGroups}, FILENAME_PATTERN 'part_{{i}}', OVERWRITE_OR_IGNORE, RETURN_STATS)",
                r => new WrittenParquetFile(Path.GetFullPath(r.GetString(0)), r.GetInt64(1), ColumnStatistics(r.GetValue(4))), cancellationToken)
            .OrderBy(f => int.Parse(Path.GetFileNameWithoutExtension(f.Path).AsSpan("part_".Length), CultureInfo.InvariantCulture))
            .ToList();
        if (files.Any(f => f.Rows > 0))
        {
            // Without insertion order, a writer thread that got no rows may still write a file, empty: not a file of the rows.
            foreach (var empty in files.Where(f => f.Rows == 0)) File.Delete(empty.Path);
            files.RemoveAll(f => f.Rows == 0);
        }
        if (files.Count == 0)
        {
            // No rows: DuckDB writes no file to a folder; one empty file keeps the schema.
            string empty = Path.Combine(folder, "part_0.parquet");
            connection.CopyToParquet($"(SELECT * FROM {source} LIMIT 0)", empty, cancellationToken);
            files.Add(new WrittenParquetFile(Path.GetFullPath(empty), 0, null));
        }
        return files;
    }

    /// <summary>The <c>column_statistics</c> of a <c>RETURN_STATS</c> row: by column path, the writer's statistics as text.</summary>
    private static Dictionary<string, IReadOnlyDictionary<string, string>>? ColumnStatistics(object value)
    {
        if (value is not System.Collections.IDictionary columns) return null;
        var result = new Dictionary<string, IReadOnlyDictionary<string, string>>(StringComparer.Ordinal);
        foreach (System.Collections.DictionaryEntry column in columns)
        {
            if (column.Key is not string path || column.Value is not System.Collections.IDictionary stats) continue;
            var texts = new Dictionary<string, string>(StringComparer.Ordinal);
            foreach (System.Collections.DictionaryEntry stat in stats)
                if (stat.Key is string name && stat.Value is string text) texts[name] = text;
            result[path] = texts;
        }
        return result;
    }

    private static T Run<T>(DuckDBConnection connection, string sql, object?[] parameters, Func<DuckDBCommand, T> run, CancellationToken cancellationToken)
    {
        cancellationToken.ThrowIfCancellationRequested();
        using var command = connection.Command(sql, parameters);
        using var interrupter = new Interrupter(command);
        T result;
        using (cancellationToken.Register(static i => ((Interrupter)i!).Start(), interrupter))
        {
            try
            {
                result = run(command);
            }
            catch (Exception e) when (e is DuckDBException or OperationCanceledException && cancellationToken.IsCancellationRequested)
            {
                // DuckDB.NET reports the interrupt as its own OperationCanceledException (no token): name the caller's.
                throw new OperationCanceledException("The DuckDB query was interrupted.", e, cancellationToken);
            }
            finally
            {
                interrupter.Stop();
            }
        }
        // Cancelled as the statement ended: the caller asked to stop, so it does not go on as if it had not.
        cancellationToken.ThrowIfCancellationRequested();
        return result;
    }

    /// <summary>
    /// Interrupts a command once its token is cancelled, and again every <see cref="RetryPeriod"/> until it returns:
    /// DuckDB clears a connection's interrupt when it starts preparing or running a statement, so an interrupt that
    /// lands just before would be lost and the statement would run to its end.
    /// </summary>
    private sealed class Interrupter(DuckDBCommand command) : IDisposable
    {
        private static readonly TimeSpan RetryPeriod = TimeSpan.FromMilliseconds(50);
        private readonly Lock _gate = new();
        private bool _stopped;
        private Timer? _timer;

        public void Start()
        {
            lock (_gate)
            {
                if (_stopped) return;
                command.Cancel();
                _timer = new Timer(static i => ((Interrupter)i!).Interrupt(), this, RetryPeriod, RetryPeriod);
            }
        }

        /// <summary>The command returned: no interrupt after this one, which would hit the connection's next statement.</summary>
        public void Stop()
        {
            lock (_gate)
            {
                _stopped = true;
                _timer?.Dispose();
                _timer = null;
            }
        }

        public void Dispose() => Stop();

        private void Interrupt()
        {
            lock (_gate)
            {
                if (!_stopped) command.Cancel();
            }
        }
    }
}

/// <summary>
/// A Parquet file <see cref="DuckDbSession.CopyToParquetFiles"/> wrote: its full path, its rows and, by column path as DuckDB
/// names it (<c>"a"."b"</c>), the statistics its writer kept for the footer, as text (<c>min</c>, <c>max</c>,
/// <c>null_count</c>, <c>has_nan</c>, …; DuckDB's <c>COPY … RETURN_STATS</c>); null when there are none.
/// </summary>
public sealed record WrittenParquetFile(string Path, long Rows, IReadOnlyDictionary<string, IReadOnlyDictionary<string, string>>? Columns);
