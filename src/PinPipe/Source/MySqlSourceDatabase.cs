using System.Globalization;
using System.Text;
using MySqlConnector;
using PinPipe.Source.Internal;

namespace PinPipe.Source;

/// <summary>
/// The source database in MySQL or MariaDB (MySqlConnector, pooled). Inserts are multi-row
/// parameterized <c>INSERT</c>s of up to 500 rows in one transaction; tables use utf8mb4.
/// </summary>
public sealed class MySqlSourceDatabase : AdoSourceDatabase<MySqlConnection>
{
    private const int RowsPerStatement = 500;

    private static readonly SourceDialect MySqlDialect = new(
        "mysql",
        static name => "`" + name + "`",
        new("BIGINT NOT NULL PRIMARY KEY", "INT", "DOUBLE", "DATETIME", " CHARACTER SET utf8mb4 COLLATE utf8mb4_bin"),
        "SELECT COUNT(*) FROM information_schema.tables WHERE table_schema = DATABASE() AND table_name = @name",
        UtcFromText: false);

    private readonly MySqlDataSource _dataSource;

    /// <summary>Connects (lazily, pooled) with <paramref name="connectionString"/>.</summary>
    public MySqlSourceDatabase(string connectionString)
        : base(MySqlDialect)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(connectionString);
        var builder = new MySqlConnectionStringBuilder(connectionString) { CharacterSet = "utf8mb4" };
        _dataSource = new MySqlDataSource(builder.ConnectionString);
        Endpoint = $"{builder.Server}:{builder.Port}";
    }

    private protected override string Endpoint { get; }

    /// <inheritdoc />
    public override ValueTask DisposeAsync() => _dataSource.DisposeAsync();

    private protected override ValueTask<MySqlConnection> OpenConnectionAsync(CancellationToken cancellationToken) =>
        _dataSource.OpenConnectionAsync(cancellationToken);

    /// <summary>Multi-row <c>INSERT</c>s of up to <see cref="RowsPerStatement"/> rows, in one transaction.</summary>
    private protected override async ValueTask InsertCoreAsync(MySqlConnection connection, IReadOnlyList<SourcePost> posts, CancellationToken cancellationToken)
    {
        await using var transaction = await connection.BeginTransactionAsync(cancellationToken).ConfigureAwait(false);
        await InsertRowsAsync(connection, transaction, SourceSql.PinTable, SourceSql.PinColumns, posts, static p =>
        {
            var r = p.Pin;
            return [r.Index, r.UniqueId, r.Title, r.Description, r.PosterName, r.FollowerCount, r.TagList, r.IsImageOrVideo, r.ImageSrc, r.Downloaded, r.SaveLocation, r.Category];
        }, cancellationToken).ConfigureAwait(false);
        await InsertRowsAsync(connection, transaction, SourceSql.GeoTable, SourceSql.GeoColumns, SourceSql.Geos(posts),
            static g => [g.Ind, g.Timestamp, g.Latitude, g.Longitude, g.Country], cancellationToken).ConfigureAwait(false);
        await InsertRowsAsync(connection, transaction, SourceSql.UserTable, SourceSql.UserColumns, SourceSql.Users(posts),
            static u => [u.Ind, u.FirstName, u.LastName, u.Age, u.DateJoined], cancellationToken).ConfigureAwait(false);
        await transaction.CommitAsync(cancellationToken).ConfigureAwait(false);
    }

    private static async ValueTask InsertRowsAsync<T>(MySqlConnection connection, MySqlTransaction transaction, string table, string[] columns,
        IReadOnlyList<T> rows, Func<T, object?[]> values, CancellationToken cancellationToken)
    {
        MySqlCommand? command = null;
        var commandRows = 0;
        try
        {
            for (var start = 0; start < rows.Count; start += RowsPerStatement)
            {
                var count = Math.Min(RowsPerStatement, rows.Count - start);
                if (command is null || commandRows != count)
                {
                    if (command is not null) await command.DisposeAsync().ConfigureAwait(false);
#pragma warning disable CA2000 // disposed before it is replaced and in the finally below
                    command = CreateInsert(connection, transaction, table, columns, count);
#pragma warning restore CA2000
                    commandRows = count;
                }
                var parameters = command.Parameters;
                for (var i = 0; i < count; i++)
                {
                    var row = values(rows[start + i]);
                    for (var c = 0; c < row.Length; c++) parameters[i * columns.Length + c].Value = row[c] ?? DBNull.Value;
                }
                await command.ExecuteNonQueryAsync(cancellationToken).ConfigureAwait(false);
            }
        }
        finally
        {
            if (command is not null) await command.DisposeAsync().ConfigureAwait(false);
        }
    }

    private static MySqlCommand CreateInsert(MySqlConnection connection, MySqlTransaction transaction, string table, string[] columns, int rows)
    {
        var command = connection.CreateCommand();
        command.Transaction = transaction;
        var sql = new StringBuilder($"INSERT INTO {MySqlDialect.Quote(table)} ({SourceSql.ColumnList(MySqlDialect, columns)}) VALUES ");
        for (var r = 0; r < rows; r++)
        {
            sql.Append(r == 0 ? "(" : ", (");
            for (var c = 0; c < columns.Length; c++)
            {
                var name = "@p" + (r * columns.Length + c).ToString(CultureInfo.InvariantCulture);
                if (c > 0) sql.Append(", ");
                sql.Append(name);
                command.Parameters.Add(new MySqlParameter { ParameterName = name });
            }
            sql.Append(')');
        }
#pragma warning disable CA2100 // identifiers quoted by the dialect, values bound as parameters
        command.CommandText = sql.ToString();
#pragma warning restore CA2100
        return command;
    }
}
