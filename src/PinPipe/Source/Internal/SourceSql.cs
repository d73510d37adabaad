using System.Data.Common;
using System.Globalization;
using System.Text;

namespace PinPipe.Source.Internal;

/// <summary>
/// What differs between the SQL dialects of the source database. <paramref name="Prelude"/>, when set, runs
/// before the tables are created (SQLite: the WAL journal).
/// </summary>
internal sealed record SourceDialect(
    string Provider,
    Func<string, string> Quote,
    SqlTypes Types,
    string TableExistsSql,
    bool UtcFromText,
    string? Prelude = null)
{
    /// <summary>The statements that create the schema, run in order (each idempotent).</summary>
    public string[] CreateSchema { get; } = Prelude is null ? SourceSql.CreateTables(Quote, Types) : [Prelude, .. SourceSql.CreateTables(Quote, Types)];
}

/// <summary>The column types of a dialect (text is <c>TEXT</c> in all), and what follows a table's column list.</summary>
internal sealed record SqlTypes(string Key, string Integer, string Double, string DateTime, string TableSuffix = "");

/// <summary>SQL shared by the three implementations: names, reads and the assembly of posts.</summary>
internal static class SourceSql
{
    public const string PinTable = "pinterest_data";
    public const string GeoTable = "geolocation_data";
    public const string UserTable = "user_data";
    public static readonly string[] Tables = [PinTable, GeoTable, UserTable];

    public static readonly string[] PinColumns =
        ["index", "unique_id", "title", "description", "poster_name", "follower_count", "tag_list", "is_image_or_video", "image_src", "downloaded", "save_location", "category"];
    public static readonly string[] GeoColumns = ["ind", "timestamp", "latitude", "longitude", "country"];
    public static readonly string[] UserColumns = ["ind", "first_name", "last_name", "age", "date_joined"];

    /// <summary>
    /// The <c>CREATE TABLE IF NOT EXISTS</c> statements of the three tables: the first column is the key,
    /// <c>downloaded</c> and <c>age</c> integers, <c>latitude</c> and <c>longitude</c> doubles,
    /// <c>timestamp</c> and <c>date_joined</c> datetimes, the rest text.
    /// </summary>
    public static string[] CreateTables(Func<string, string> quote, SqlTypes types) =>
        [CreateTable(quote, types, PinTable, PinColumns), CreateTable(quote, types, GeoTable, GeoColumns), CreateTable(quote, types, UserTable, UserColumns)];

    private static string CreateTable(Func<string, string> quote, SqlTypes types, string table, string[] columns)
    {
        var definitions = columns.Select((column, i) => quote(column) + " " + (i == 0 ? types.Key : column switch
        {
            "downloaded" or "age" => types.Integer,
            "latitude" or "longitude" => types.Double,
            "timestamp" or "date_joined" => types.DateTime,
            _ => "TEXT",
        }));
        return $"CREATE TABLE IF NOT EXISTS {quote(table)} ({string.Join(", ", definitions)}){types.TableSuffix}";
    }

    public static string ColumnList(SourceDialect d, string[] columns) => string.Join(", ", columns.Select(d.Quote));

    public static string SelectPrefix(SourceDialect d, string table, string[] columns) =>
        $"SELECT {ColumnList(d, columns)} FROM {d.Quote(table)} WHERE {d.Quote(columns[0])}";

    public static async ValueTask<bool> TableExistsAsync(DbConnection connection, SourceDialect d, string table, CancellationToken cancellationToken)
    {
        await using var command = connection.CreateCommand();
#pragma warning disable CA2100 // the dialect's constant statements; values bound as parameters
        command.CommandText = d.TableExistsSql;
#pragma warning restore CA2100
        AddParameter(command, "@name", table);
        var result = await command.ExecuteScalarAsync(cancellationToken).ConfigureAwait(false);
        return Convert.ToInt64(result, CultureInfo.InvariantCulture) > 0;
    }

    public static async ValueTask CreateAsync(DbConnection connection, SourceDialect d, CancellationToken cancellationToken)
    {
        foreach (var sql in d.CreateSchema) await ExecuteAsync(connection, sql, cancellationToken).ConfigureAwait(false);
    }

    public static async ValueTask DropAsync(DbConnection connection, SourceDialect d, CancellationToken cancellationToken)
    {
        foreach (var table in Tables) await ExecuteAsync(connection, $"DROP TABLE IF EXISTS {d.Quote(table)}", cancellationToken).ConfigureAwait(false);
    }

    public static async ValueTask<long> CountAsync(DbConnection connection, SourceDialect d, CancellationToken cancellationToken)
    {
        if (!await TableExistsAsync(connection, d, PinTable, cancellationToken).ConfigureAwait(false)) return 0;
        await using var command = connection.CreateCommand();
#pragma warning disable CA2100 // identifiers quoted by the dialect, values bound as parameters
        command.CommandText = $"SELECT COUNT(*) FROM {d.Quote(PinTable)}";
#pragma warning restore CA2100
        return Convert.ToInt64(await command.ExecuteScalarAsync(cancellationToken).ConfigureAwait(false), CultureInfo.InvariantCulture);
    }

    public static async ValueTask<(long Min, long Max)?> RangeAsync(DbConnection connection, SourceDialect d, CancellationToken cancellationToken)
    {
        if (!await TableExistsAsync(connection, d, PinTable, cancellationToken).ConfigureAwait(false)) return null;
        await using var command = connection.CreateCommand();
        var index = d.Quote("index");
#pragma warning disable CA2100 // identifiers quoted by the dialect, values bound as parameters
        command.CommandText = $"SELECT MIN({index}), MAX({index}) FROM {d.Quote(PinTable)}";
#pragma warning restore CA2100
        await using var reader = await command.ExecuteReaderAsync(cancellationToken).ConfigureAwait(false);
#pragma warning disable CA1849 // the row is already read (non-sequential reader): the async overload would only add a Task per column
        if (!await reader.ReadAsync(cancellationToken).ConfigureAwait(false) || reader.IsDBNull(0)) return null;
#pragma warning restore CA1849
        return (Convert.ToInt64(reader.GetValue(0), CultureInfo.InvariantCulture), Convert.ToInt64(reader.GetValue(1), CultureInfo.InvariantCulture));
    }

    public static async ValueTask ExecuteAsync(DbConnection connection, string sql, CancellationToken cancellationToken)
    {
        await using var command = connection.CreateCommand();
#pragma warning disable CA2100 // callers pass the dialect's constant DDL or identifiers quoted by the dialect
        command.CommandText = sql;
#pragma warning restore CA2100
        await command.ExecuteNonQueryAsync(cancellationToken).ConfigureAwait(false);
    }

    public static DbParameter AddParameter(DbCommand command, string name, object? value)
    {
        var p = command.CreateParameter();
        p.ParameterName = name;
        p.Value = value ?? DBNull.Value;
        command.Parameters.Add(p);
        return p;
    }

    /// <summary>Appends <c>IN (@p0, @p1, ...)</c> for the distinct indexes and binds them.</summary>
    public static void AddInList(DbCommand command, string prefix, IReadOnlyList<long> distinct)
    {
        var sql = new StringBuilder(prefix.Length + distinct.Count * 7 + 8).Append(prefix).Append(" IN (");
        for (var i = 0; i < distinct.Count; i++)
        {
            if (i > 0) sql.Append(", ");
            var name = "@p" + i.ToString(CultureInfo.InvariantCulture);
            sql.Append(name);
            AddParameter(command, name, distinct[i]);
        }
#pragma warning disable CA2100 // the caller's prefix has identifiers quoted by the dialect; values bound as parameters
        command.CommandText = sql.Append(')').ToString();
#pragma warning restore CA2100
    }

    public static async ValueTask ReadPinsAsync(DbCommand command, Dictionary<long, PinRow> into, CancellationToken cancellationToken)
    {
        await using var r = await command.ExecuteReaderAsync(cancellationToken).ConfigureAwait(false);
        while (await r.ReadAsync(cancellationToken).ConfigureAwait(false))
        {
            var row = new PinRow(r.GetInt64(0), Str(r, 1), Str(r, 2), Str(r, 3), Str(r, 4), Str(r, 5), Str(r, 6), Str(r, 7), Str(r, 8),
#pragma warning disable CA1849 // the row is already read (non-sequential reader): the async overload would only add a Task per column
                r.IsDBNull(9) ? null : Convert.ToInt32(r.GetValue(9), CultureInfo.InvariantCulture), Str(r, 10), Str(r, 11));
#pragma warning restore CA1849
            into[row.Index] = row;
        }
    }

    public static async ValueTask ReadGeosAsync(DbCommand command, SourceDialect d, Dictionary<long, GeoRow> into, CancellationToken cancellationToken)
    {
        await using var r = await command.ExecuteReaderAsync(cancellationToken).ConfigureAwait(false);
        while (await r.ReadAsync(cancellationToken).ConfigureAwait(false))
        {
#pragma warning disable CA1849 // the row is already read (non-sequential reader): the async overload would only add a Task per column
            var row = new GeoRow(r.GetInt64(0), Time(r, 1, d), r.IsDBNull(2) ? null : r.GetDouble(2), r.IsDBNull(3) ? null : r.GetDouble(3), Str(r, 4));
#pragma warning restore CA1849
            into[row.Ind] = row;
        }
    }

    public static async ValueTask ReadUsersAsync(DbCommand command, SourceDialect d, Dictionary<long, UserRow> into, CancellationToken cancellationToken)
    {
        await using var r = await command.ExecuteReaderAsync(cancellationToken).ConfigureAwait(false);
        while (await r.ReadAsync(cancellationToken).ConfigureAwait(false))
        {
            var row = new UserRow(r.GetInt64(0), Str(r, 1), Str(r, 2),
#pragma warning disable CA1849 // the row is already read (non-sequential reader): the async overload would only add a Task per column
                r.IsDBNull(3) ? null : Convert.ToInt32(r.GetValue(3), CultureInfo.InvariantCulture), Time(r, 4, d));
#pragma warning restore CA1849
            into[row.Ind] = row;
        }
    }

    /// <summary>The posts in the order asked, repeated indexes repeated, indexes without a pin left out.</summary>
    public static IReadOnlyList<SourcePost> Assemble(IReadOnlyList<long> indexes, Dictionary<long, PinRow> pins, Dictionary<long, GeoRow> geos, Dictionary<long, UserRow> users)
    {
        var posts = new List<SourcePost>(indexes.Count);
        foreach (var index in indexes)
        {
            if (!pins.TryGetValue(index, out var pin)) continue;
            posts.Add(new SourcePost(pin, geos.GetValueOrDefault(index), users.GetValueOrDefault(index)));
        }
        return posts;
    }

    /// <summary>The geo rows of the posts that have one, in order.</summary>
    public static List<GeoRow> Geos(IReadOnlyList<SourcePost> posts)
    {
        var rows = new List<GeoRow>(posts.Count);
        foreach (var post in posts) if (post.Geo is { } geo) rows.Add(geo);
        return rows;
    }

    /// <summary>The user rows of the posts that have one, in order.</summary>
    public static List<UserRow> Users(IReadOnlyList<SourcePost> posts)
    {
        var rows = new List<UserRow>(posts.Count);
        foreach (var post in posts) if (post.User is { } user) rows.Add(user);
        return rows;
    }

    public static long[] Distinct(IReadOnlyList<long> indexes)
    {
        var set = new HashSet<long>(indexes);
        var array = new long[set.Count];
        set.CopyTo(array);
        return array;
    }

    /// <summary>A datetime as stored in SQLite text: <c>YYYY-MM-DD HH:MM:SS</c>.</summary>
    public static string? TimeText(DateTime? value) => value?.ToString("yyyy-MM-dd HH:mm:ss", CultureInfo.InvariantCulture);

    private static string? Str(DbDataReader r, int i) => r.IsDBNull(i) ? null : r.GetString(i);

    private static DateTime? Time(DbDataReader r, int i, SourceDialect d)
    {
        if (r.IsDBNull(i)) return null;
        if (d.UtcFromText)
        {
            var text = r.GetString(i);
            return DateTime.ParseExact(text, ["yyyy-MM-dd HH:mm:ss", "yyyy-MM-dd HH:mm:ss.FFFFFFF", "yyyy-MM-ddTHH:mm:ss.FFFFFFFK"],
                CultureInfo.InvariantCulture, DateTimeStyles.AdjustToUniversal | DateTimeStyles.AssumeUniversal);
        }
        return DateTime.SpecifyKind(r.GetDateTime(i), DateTimeKind.Utc);
    }
}
