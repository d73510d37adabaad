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
        new("BIGINT PRIMARY KEY", "INTEGER", "DOUBLE PRECISION", "TIMESTAMP"),
        "SELECT COUNT(*) FROM information_schema.tables WHERE table_schema = current_schema() AND table_name = @name",
        UtcFromText: false);

    private readonly NpgsqlDataSource _dataSource;

    /// <summary>Connects (lazily, pooled) with <paramref name="connectionString"/>.</summary>
    public PostgresSourceDatabase(string connectionString)
        : base(PostgresDialect)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(connectionString);
        _dataSource = NpgsqlDataSource.Create(connectionString);
        var builder = new NpgsqlConnectionStringBuilder(connectionString);
        Endpoint = $"{builder.Host}:{builder.Port}";
    }

    private protected override string Endpoint { get; }

    /// <inheritdoc />
    public override ValueTask DisposeAsync() => _dataSource.DisposeAsync();

    private protected override ValueTask<NpgsqlConnection> OpenConnectionAsync(CancellationToken cancellationToken) =>
        _dataSource.OpenConnectionAsync(cancellationToken);

    /// <summary>One binary <c>COPY</c> a table, in one transaction.</summary>
    private protected override async ValueTask InsertCoreAsync(NpgsqlConnection connection, IReadOnlyList<SourcePost> posts, CancellationToken cancellationToken)
    {
        await using var transaction = await connection.BeginTransactionAsync(cancellationToken).ConfigureAwait(false);

        await CopyAsync(connection, SourceSql.PinTable, SourceSql.PinColumns, posts.Select(p => p.Pin), static async (w, p, ct) =>
        {
            await w.WriteAsync(p.Index, NpgsqlDbType.Bigint, ct).ConfigureAwait(false);
            await Text(w, p.UniqueId, ct).ConfigureAwait(false);
            await Text(w, p.Title, ct).ConfigureAwait(false);
            await Text(w, p.Description, ct).ConfigureAwait(false);
            await Text(w, p.PosterName, ct).ConfigureAwait(false);
            await Text(w, p.FollowerCount, ct).ConfigureAwait(false);
            await Text(w, p.TagList, ct).ConfigureAwait(false);
            await Text(w, p.IsImageOrVideo, ct).ConfigureAwait(false);
            await Text(w, p.ImageSrc, ct).ConfigureAwait(false);
            await Int(w, p.Downloaded, ct).ConfigureAwait(false);
            await Text(w, p.SaveLocation, ct).ConfigureAwait(false);
            await Text(w, p.Category, ct).ConfigureAwait(false);
        }, cancellationToken).ConfigureAwait(false);
        await CopyAsync(connection, SourceSql.GeoTable, SourceSql.GeoColumns, SourceSql.Geos(posts), static async (w, g, ct) =>
        {
            await w.WriteAsync(g.Ind, NpgsqlDbType.Bigint, ct).ConfigureAwait(false);
            await Time(w, g.Timestamp, ct).ConfigureAwait(false);
            await Double(w, g.Latitude, ct).ConfigureAwait(false);
            await Double(w, g.Longitude, ct).ConfigureAwait(false);
            await Text(w, g.Country, ct).ConfigureAwait(false);
        }, cancellationToken).ConfigureAwait(false);
        await CopyAsync(connection, SourceSql.UserTable, SourceSql.UserColumns, SourceSql.Users(posts), static async (w, u, ct) =>
        {
            await w.WriteAsync(u.Ind, NpgsqlDbType.Bigint, ct).ConfigureAwait(false);
            await Text(w, u.FirstName, ct).ConfigureAwait(false);
            await Text(w, u.LastName, ct).ConfigureAwait(false);
            await Int(w, u.Age, ct).ConfigureAwait(false);
            await Time(w, u.DateJoined, ct).ConfigureAwait(false);
        }, cancellationToken).ConfigureAwait(false);
        await transaction.CommitAsync(cancellationToken).ConfigureAwait(false);
    }

    /// <summary>One array parameter, <c>= ANY(@ids)</c>, rather than a parameter an index.</summary>
    private protected override NpgsqlCommand SelectByIndexes(NpgsqlConnection connection, string table, string[] columns, long[] distinct)
    {
        var command = connection.CreateCommand();
#pragma warning disable CA2100 // identifiers quoted by the dialect, values bound as parameters
        command.CommandText = SourceSql.SelectPrefix(PostgresDialect, table, columns) + " = ANY(@ids)";
#pragma warning restore CA2100
        command.Parameters.Add(new NpgsqlParameter<long[]>("ids", NpgsqlDbType.Array | NpgsqlDbType.Bigint) { TypedValue = distinct });
        return command;
    }

    /// <summary>One binary <c>COPY ... FROM STDIN</c> of <paramref name="rows"/> into <paramref name="table"/>.</summary>
    private static async Task CopyAsync<T>(NpgsqlConnection connection, string table, string[] columns, IEnumerable<T> rows,
        Func<NpgsqlBinaryImporter, T, CancellationToken, Task> writeRow, CancellationToken cancellationToken)
    {
        var sql = $"COPY {PostgresDialect.Quote(table)} ({SourceSql.ColumnList(PostgresDialect, columns)}) FROM STDIN (FORMAT BINARY)";
        await using var importer = await connection.BeginBinaryImportAsync(sql, cancellationToken).ConfigureAwait(false);
        foreach (var row in rows)
        {
            await importer.StartRowAsync(cancellationToken).ConfigureAwait(false);
            await writeRow(importer, row, cancellationToken).ConfigureAwait(false);
        }
        await importer.CompleteAsync(cancellationToken).ConfigureAwait(false);
    }

    private static Task Text(NpgsqlBinaryImporter w, string? value, CancellationToken ct) =>
        value is null ? w.WriteNullAsync(ct) : w.WriteAsync(value, NpgsqlDbType.Text, ct);

    private static Task Int(NpgsqlBinaryImporter w, int? value, CancellationToken ct) =>
        value is { } v ? w.WriteAsync(v, NpgsqlDbType.Integer, ct) : w.WriteNullAsync(ct);

    private static Task Double(NpgsqlBinaryImporter w, double? value, CancellationToken ct) =>
        value is { } v ? w.WriteAsync(v, NpgsqlDbType.Double, ct) : w.WriteNullAsync(ct);

    private static Task Time(NpgsqlBinaryImporter w, DateTime? value, CancellationToken ct) =>
        value is { } v ? w.WriteAsync(DateTime.SpecifyKind(v, DateTimeKind.Unspecified), NpgsqlDbType.Timestamp, ct) : w.WriteNullAsync(ct);
}
