using System.Globalization;
using System.Text;
using MySqlConnector;
using PinPipe.Source.Internal;

namespace PinPipe.Source;

/// <summary>
/// The source database in MySQL or MariaDB (MySqlConnector, pooled). Inserts are multi-row
/// parameterized <c>INSERT</c>s of up to 500 rows in one transaction; tables use utf8mb4.
/// </summary>
public sealed class MySqlSourceDatabase : ISourceDatabase
{
    private const int RowsPerStatement = 500;

    private static readonly SourceDialect Dialect = new(
        "mysql",
        static name => "`" + name + "`",
        [
            "CREATE TABLE IF NOT EXISTS `pinterest_data` (`index` BIGINT NOT NULL PRIMARY KEY, `unique_id` TEXT, `title` TEXT, `description` TEXT, `poster_name` TEXT, `follower_count` TEXT, `tag_list` TEXT, `is_image_or_video` TEXT, `image_src` TEXT, `downloaded` INT, `save_location` TEXT, `category` TEXT) CHARACTER SET utf8mb4 COLLATE utf8mb4_bin",
            "CREATE TABLE IF NOT EXISTS `geolocation_data` (`ind` BIGINT NOT NULL PRIMARY KEY, `timestamp` DATETIME, `latitude` DOUBLE, `longitude` DOUBLE, `country` TEXT) CHARACTER SET utf8mb4 COLLATE utf8mb4_bin",
            "CREATE TABLE IF NOT EXISTS `user_data` (`ind` BIGINT NOT NULL PRIMARY KEY, `first_name` TEXT, `last_name` TEXT, `age` INT, `date_joined` DATETIME) CHARACTER SET utf8mb4 COLLATE utf8mb4_bin",
        ],
        "SELECT COUNT(*) FROM information_schema.tables WHERE table_schema = DATABASE() AND table_name = @name",
        UtcFromText: false);

    private readonly MySqlDataSource _dataSource;

    /// <summary>Connects (lazily, pooled) with <paramref name="connectionString"/>.</summary>
    public MySqlSourceDatabase(string connectionString)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(connectionString);
        var builder = new MySqlConnectionStringBuilder(connectionString) { CharacterSet = "utf8mb4" };
        _dataSource = new MySqlDataSource(builder.ConnectionString);
    }

    /// <inheritdoc />
    public string Provider => "mysql";

    /// <inheritdoc />
    public async ValueTask CreateSchemaAsync(CancellationToken cancellationToken = default)
    {
        await using var connection = await _dataSource.OpenConnectionAsync(cancellationToken).ConfigureAwait(false);
        await SourceSql.CreateAsync(connection, Dialect, cancellationToken).ConfigureAwait(false);
    }

    /// <inheritdoc />
    public async ValueTask DropSchemaAsync(CancellationToken cancellationToken = default)
    {
        await using var connection = await _dataSource.OpenConnectionAsync(cancellationToken).ConfigureAwait(false);
        await SourceSql.DropAsync(connection, Dialect, cancellationToken).ConfigureAwait(false);
    }

    /// <inheritdoc />
    public async ValueTask<long> CountPostsAsync(CancellationToken cancellationToken = default)
    {
        await using var connection = await _dataSource.OpenConnectionAsync(cancellationToken).ConfigureAwait(false);
        return await SourceSql.CountAsync(connection, Dialect, cancellationToken).ConfigureAwait(false);
    }

    /// <inheritdoc />
    public async ValueTask<(long Min, long Max)?> GetIndexRangeAsync(CancellationToken cancellationToken = default)
    {
        await using var connection = await _dataSource.OpenConnectionAsync(cancellationToken).ConfigureAwait(false);
        return await SourceSql.RangeAsync(connection, Dialect, cancellationToken).ConfigureAwait(false);
    }

    /// <inheritdoc />
    public async ValueTask InsertAsync(IReadOnlyList<SourcePost> posts, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(posts);
        if (posts.Count == 0) return;
        await using var connection = await _dataSource.OpenConnectionAsync(cancellationToken).ConfigureAwait(false);
        await using var transaction = await connection.BeginTransactionAsync(cancellationToken).ConfigureAwait(false);
        var geos = posts.Where(p => p.Geo is not null).Select(p => p.Geo!).ToList();
        var users = posts.Where(p => p.User is not null).Select(p => p.User!).ToList();
        await InsertRowsAsync(connection, transaction, SourceSql.PinTable, SourceSql.PinColumns, posts, static p =>
        {
            var r = p.Pin;
            return [r.Index, r.UniqueId, r.Title, r.Description, r.PosterName, r.FollowerCount, r.TagList, r.IsImageOrVideo, r.ImageSrc, r.Downloaded, r.SaveLocation, r.Category];
        }, cancellationToken).ConfigureAwait(false);
        await InsertRowsAsync(connection, transaction, SourceSql.GeoTable, SourceSql.GeoColumns, geos,
            static g => [g.Ind, g.Timestamp, g.Latitude, g.Longitude, g.Country], cancellationToken).ConfigureAwait(false);
        await InsertRowsAsync(connection, transaction, SourceSql.UserTable, SourceSql.UserColumns, users,
            static u => [u.Ind, u.FirstName, u.LastName, u.Age, u.DateJoined], cancellationToken).ConfigureAwait(false);
        await transaction.CommitAsync(cancellationToken).ConfigureAwait(false);
    }

    /// <inheritdoc />
    public async ValueTask<IReadOnlyList<SourcePost>> GetPostsAsync(IReadOnlyList<long> indexes, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(indexes);
        if (indexes.Count == 0) return [];
        var distinct = SourceSql.Distinct(indexes);
        var pins = new Dictionary<long, PinRow>(distinct.Length);
        var geos = new Dictionary<long, GeoRow>(distinct.Length);
        var users = new Dictionary<long, UserRow>(distinct.Length);
        await using var connection = await _dataSource.OpenConnectionAsync(cancellationToken).ConfigureAwait(false);
        await using (var command = connection.CreateCommand())
        {
            SourceSql.AddInList(command, SourceSql.SelectPrefix(Dialect, SourceSql.PinTable, SourceSql.PinColumns), distinct);
            await SourceSql.ReadPinsAsync(command, pins, cancellationToken).ConfigureAwait(false);
        }
        await using (var command = connection.CreateCommand())
        {
            SourceSql.AddInList(command, SourceSql.SelectPrefix(Dialect, SourceSql.GeoTable, SourceSql.GeoColumns), distinct);
            await SourceSql.ReadGeosAsync(command, Dialect, geos, cancellationToken).ConfigureAwait(false);
        }
        await using (var command = connection.CreateCommand())
        {
            SourceSql.AddInList(command, SourceSql.SelectPrefix(Dialect, SourceSql.UserTable, SourceSql.UserColumns), distinct);
            await SourceSql.ReadUsersAsync(command, Dialect, users, cancellationToken).ConfigureAwait(false);
        }
        return SourceSql.Assemble(indexes, pins, geos, users);
    }

    /// <inheritdoc />
    public ValueTask DisposeAsync() => _dataSource.DisposeAsync();

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
                    command = CreateInsert(connection, transaction, table, columns, count);
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
        var sql = new StringBuilder($"INSERT INTO {Dialect.Quote(table)} ({SourceSql.ColumnList(Dialect, columns)}) VALUES ");
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
        command.CommandText = sql.ToString();
        return command;
    }
}
