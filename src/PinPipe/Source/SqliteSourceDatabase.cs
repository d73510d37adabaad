using Microsoft.Data.Sqlite;
using PinPipe.Files;
using PinPipe.Source.Internal;

namespace PinPipe.Source;

/// <summary>
/// The source database in a SQLite file (Microsoft.Data.Sqlite, pooled connections, WAL journal).
/// Datetimes are stored as <c>YYYY-MM-DD HH:MM:SS</c> text (UTC).
/// </summary>
public sealed class SqliteSourceDatabase : AdoSourceDatabase<SqliteConnection>
{
    private static readonly SourceDialect SqliteDialect = new(
        "sqlite",
        static name => "\"" + name + "\"",
        new("INTEGER PRIMARY KEY", "INTEGER", "DOUBLE", "DATETIME"),
        "SELECT COUNT(*) FROM sqlite_master WHERE type = 'table' AND name = @name",
        UtcFromText: true,
        Prelude: "PRAGMA journal_mode = WAL");

    private readonly string _connectionString;

    /// <summary>Opens (lazily) the database of <paramref name="connectionString"/>; the folder of its file (0700) and
    /// the file (0600, so are SQLite's -wal and -shm files) are created when the mode allows it.</summary>
    public SqliteSourceDatabase(string connectionString)
        : base(SqliteDialect)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(connectionString);
        var builder = new SqliteConnectionStringBuilder(connectionString) { Pooling = true };
        var file = builder.DataSource;
        if (!string.IsNullOrEmpty(file) && file != ":memory:" && !file.StartsWith("file:", StringComparison.OrdinalIgnoreCase)
            && builder.Mode != SqliteOpenMode.Memory)
        {
            OwnerOnly.CreateParentDirectory(file);
            if (builder.Mode == SqliteOpenMode.ReadWriteCreate) OwnerOnly.CreateFileIfMissing(Path.GetFullPath(file));
        }
        _connectionString = builder.ToString();
        Endpoint = string.IsNullOrEmpty(file) ? "an in-memory database" : file;
    }

    private protected override string Endpoint { get; }

    /// <inheritdoc />
    public override ValueTask DisposeAsync() => ValueTask.CompletedTask;

    private protected override async ValueTask<SqliteConnection> OpenConnectionAsync(CancellationToken cancellationToken)
    {
        var connection = new SqliteConnection(_connectionString);
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

    /// <summary>Prepared single-row inserts, reused for every row, in one transaction.</summary>
    private protected override async ValueTask InsertCoreAsync(SqliteConnection connection, IReadOnlyList<SourcePost> posts, CancellationToken cancellationToken)
    {
        await SourceSql.ExecuteAsync(connection, "PRAGMA synchronous = NORMAL", cancellationToken).ConfigureAwait(false);
        await using var transaction = (SqliteTransaction)await connection.BeginTransactionAsync(cancellationToken).ConfigureAwait(false);
        using var pin = Prepare(connection, transaction, SourceSql.PinTable, SourceSql.PinColumns);
        using var geo = Prepare(connection, transaction, SourceSql.GeoTable, SourceSql.GeoColumns);
        using var user = Prepare(connection, transaction, SourceSql.UserTable, SourceSql.UserColumns);
        var pp = pin.Parameters; var gp = geo.Parameters; var up = user.Parameters;
        foreach (var post in posts)
        {
            cancellationToken.ThrowIfCancellationRequested();
            var p = post.Pin;
            pp[0].Value = p.Index; pp[1].Value = Db(p.UniqueId); pp[2].Value = Db(p.Title); pp[3].Value = Db(p.Description);
            pp[4].Value = Db(p.PosterName); pp[5].Value = Db(p.FollowerCount); pp[6].Value = Db(p.TagList);
            pp[7].Value = Db(p.IsImageOrVideo); pp[8].Value = Db(p.ImageSrc); pp[9].Value = Db(p.Downloaded);
            pp[10].Value = Db(p.SaveLocation); pp[11].Value = Db(p.Category);
#pragma warning disable CA1849 // Microsoft.Data.Sqlite has no real async: its *Async methods run synchronously
            pin.ExecuteNonQuery();
#pragma warning restore CA1849
            if (post.Geo is { } g)
            {
                gp[0].Value = g.Ind; gp[1].Value = Db(SourceSql.TimeText(g.Timestamp)); gp[2].Value = Db(g.Latitude);
                gp[3].Value = Db(g.Longitude); gp[4].Value = Db(g.Country);
#pragma warning disable CA1849 // Microsoft.Data.Sqlite has no real async: its *Async methods run synchronously
                geo.ExecuteNonQuery();
#pragma warning restore CA1849
            }
            if (post.User is { } u)
            {
                up[0].Value = u.Ind; up[1].Value = Db(u.FirstName); up[2].Value = Db(u.LastName); up[3].Value = Db(u.Age);
                up[4].Value = Db(SourceSql.TimeText(u.DateJoined));
#pragma warning disable CA1849 // Microsoft.Data.Sqlite has no real async: its *Async methods run synchronously
                user.ExecuteNonQuery();
#pragma warning restore CA1849
            }
        }
        await transaction.CommitAsync(cancellationToken).ConfigureAwait(false);
    }

    private static SqliteCommand Prepare(SqliteConnection connection, SqliteTransaction transaction, string table, string[] columns)
    {
        var command = connection.CreateCommand();
        command.Transaction = transaction;
        var names = columns.Select((_, i) => "$c" + i.ToString(System.Globalization.CultureInfo.InvariantCulture)).ToArray();
#pragma warning disable CA2100 // identifiers quoted by the dialect, values bound as parameters
        command.CommandText = $"INSERT INTO {SqliteDialect.Quote(table)} ({SourceSql.ColumnList(SqliteDialect, columns)}) VALUES ({string.Join(", ", names)})";
#pragma warning restore CA2100
        foreach (var name in names) command.Parameters.Add(new SqliteParameter { ParameterName = name });
        command.Prepare();
        return command;
    }

    private static object Db(object? value) => value ?? DBNull.Value;
}
