using Npgsql;
using NpgsqlTypes;
using PinPipe.Source.Internal;

namespace PinPipe.Source;

/// <summary>
/// The source database in PostgreSQL (Npgsql, pooled data source). Inserts use binary
/// <c>COPY</c> in one transaction; datetimes are <c>timestamp</c> (without time zone) holding UTC.
/// </summary>
public sealed class PostgresSourceDatabase : AdoSourceDatabase<NpgsqlConnection>
{
    private static readonly SourceDialect PostgresDialect = new(
        "postgres",
        static name => "\"" + name + "\"",
        [
            """CREATE TABLE IF NOT EXISTS "pinterest_data" ("index" BIGINT PRIMARY KEY, "unique_id" TEXT, "title" TEXT, "description" TEXT, "poster_name" TEXT, "follower_count" TEXT, "tag_list" TEXT, "is_image_or_video" TEXT, "image_src" TEXT, "downloaded" INTEGER, "save_location" TEXT, "category" TEXT)""",
            """CREATE TABLE IF NOT EXISTS "geolocation_data" ("ind" BIGINT PRIMARY KEY, "timestamp" TIMESTAMP, "latitude" DOUBLE PRECISION, "longitude" DOUBLE PRECISION, "country" TEXT)""",
            """CREATE TABLE IF NOT EXISTS "user_data" ("ind" BIGINT PRIMARY KEY, "first_name" TEXT, "last_name" TEXT, "age" INTEGER, "date_joined" TIMESTAMP)""",
        ],
        "SELECT COUNT(*) FROM information_schema.tables WHERE table_schema = current_schema() AND table_name = @name",
        UtcFromText: false);

    private readonly NpgsqlDataSource _dataSource;

    /// <summary>Connects (lazily, pooled) with <paramref name="connectionString"/>.</summary>
    public PostgresSourceDatabase(string connectionString)
        : base(PostgresDialect)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(connectionString);
        _dataSource = NpgsqlDataSource.Create(connectionString);
    }

    /// <inheritdoc />
    public override ValueTask DisposeAsync() => _dataSource.DisposeAsync();

    private protected override ValueTask<NpgsqlConnection> OpenConnectionAsync(CancellationToken cancellationToken) =>
        _dataSource.OpenConnectionAsync(cancellationToken);

    /// <summary>One binary <c>COPY</c> a table, in one transaction.</summary>
    private protected override async ValueTask InsertCoreAsync(NpgsqlConnection connection, IReadOnlyList<SourcePost> posts, CancellationToken cancellationToken)
    {
        await using var transaction = await connection.BeginTransactionAsync(cancellationToken).ConfigureAwait(false);

        await using (var pin = await connection.BeginBinaryImportAsync(CopySql(SourceSql.PinTable, SourceSql.PinColumns), cancellationToken).ConfigureAwait(false))
        {
            foreach (var post in posts)
            {
                var p = post.Pin;
                await pin.StartRowAsync(cancellationToken).ConfigureAwait(false);
                await pin.WriteAsync(p.Index, NpgsqlDbType.Bigint, cancellationToken).ConfigureAwait(false);
                await Text(pin, p.UniqueId, cancellationToken).ConfigureAwait(false);
                await Text(pin, p.Title, cancellationToken).ConfigureAwait(false);
                await Text(pin, p.Description, cancellationToken).ConfigureAwait(false);
                await Text(pin, p.PosterName, cancellationToken).ConfigureAwait(false);
                await Text(pin, p.FollowerCount, cancellationToken).ConfigureAwait(false);
                await Text(pin, p.TagList, cancellationToken).ConfigureAwait(false);
                await Text(pin, p.IsImageOrVideo, cancellationToken).ConfigureAwait(false);
                await Text(pin, p.ImageSrc, cancellationToken).ConfigureAwait(false);
                await Int(pin, p.Downloaded, cancellationToken).ConfigureAwait(false);
                await Text(pin, p.SaveLocation, cancellationToken).ConfigureAwait(false);
                await Text(pin, p.Category, cancellationToken).ConfigureAwait(false);
            }
            await pin.CompleteAsync(cancellationToken).ConfigureAwait(false);
        }
        await using (var geo = await connection.BeginBinaryImportAsync(CopySql(SourceSql.GeoTable, SourceSql.GeoColumns), cancellationToken).ConfigureAwait(false))
        {
            foreach (var post in posts)
            {
                if (post.Geo is not { } g) continue;
                await geo.StartRowAsync(cancellationToken).ConfigureAwait(false);
                await geo.WriteAsync(g.Ind, NpgsqlDbType.Bigint, cancellationToken).ConfigureAwait(false);
                await Time(geo, g.Timestamp, cancellationToken).ConfigureAwait(false);
                await Double(geo, g.Latitude, cancellationToken).ConfigureAwait(false);
                await Double(geo, g.Longitude, cancellationToken).ConfigureAwait(false);
                await Text(geo, g.Country, cancellationToken).ConfigureAwait(false);
            }
            await geo.CompleteAsync(cancellationToken).ConfigureAwait(false);
        }
        await using (var user = await connection.BeginBinaryImportAsync(CopySql(SourceSql.UserTable, SourceSql.UserColumns), cancellationToken).ConfigureAwait(false))
        {
            foreach (var post in posts)
            {
                if (post.User is not { } u) continue;
                await user.StartRowAsync(cancellationToken).ConfigureAwait(false);
                await user.WriteAsync(u.Ind, NpgsqlDbType.Bigint, cancellationToken).ConfigureAwait(false);
                await Text(user, u.FirstName, cancellationToken).ConfigureAwait(false);
                await Text(user, u.LastName, cancellationToken).ConfigureAwait(false);
                await Int(user, u.Age, cancellationToken).ConfigureAwait(false);
                await Time(user, u.DateJoined, cancellationToken).ConfigureAwait(false);
            }
            await user.CompleteAsync(cancellationToken).ConfigureAwait(false);
        }
        await transaction.CommitAsync(cancellationToken).ConfigureAwait(false);
    }

    /// <summary>One array parameter, <c>= ANY(@ids)</c>, rather than a parameter an index.</summary>
    private protected override NpgsqlCommand SelectByIndexes(NpgsqlConnection connection, string table, string[] columns, long[] distinct)
    {
        var command = connection.CreateCommand();
        command.CommandText = SourceSql.SelectPrefix(PostgresDialect, table, columns) + " = ANY(@ids)";
        command.Parameters.Add(new NpgsqlParameter<long[]>("ids", NpgsqlDbType.Array | NpgsqlDbType.Bigint) { TypedValue = distinct });
        return command;
    }

    private static string CopySql(string table, string[] columns) =>
        $"COPY {PostgresDialect.Quote(table)} ({SourceSql.ColumnList(PostgresDialect, columns)}) FROM STDIN (FORMAT BINARY)";

    private static Task Text(NpgsqlBinaryImporter w, string? value, CancellationToken ct) =>
        value is null ? w.WriteNullAsync(ct) : w.WriteAsync(value, NpgsqlDbType.Text, ct);

    private static Task Int(NpgsqlBinaryImporter w, int? value, CancellationToken ct) =>
        value is { } v ? w.WriteAsync(v, NpgsqlDbType.Integer, ct) : w.WriteNullAsync(ct);

    private static Task Double(NpgsqlBinaryImporter w, double? value, CancellationToken ct) =>
        value is { } v ? w.WriteAsync(v, NpgsqlDbType.Double, ct) : w.WriteNullAsync(ct);

    private static Task Time(NpgsqlBinaryImporter w, DateTime? value, CancellationToken ct) =>
        value is { } v ? w.WriteAsync(DateTime.SpecifyKind(v, DateTimeKind.Unspecified), NpgsqlDbType.Timestamp, ct) : w.WriteNullAsync(ct);
}
