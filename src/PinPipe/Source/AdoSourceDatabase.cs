using System.Data.Common;
using PinPipe.Errors;
using PinPipe.Source.Internal;

namespace PinPipe.Source;

/// <summary>
/// What the three ADO.NET providers share: the schema, counts, the index range and reads by
/// primary key. A provider brings its dialect, how it opens a pooled connection, how it bulk
/// inserts, and (optionally) how it selects by a list of indexes. Only this assembly derives from it.
/// </summary>
/// <typeparam name="TConnection">The provider's connection type.</typeparam>
public abstract class AdoSourceDatabase<TConnection> : ISourceDatabase
    where TConnection : DbConnection
{
    private protected AdoSourceDatabase(SourceDialect dialect) => Dialect = dialect;

    private protected SourceDialect Dialect { get; }

    /// <inheritdoc />
    public string Provider => Dialect.Provider;

    /// <inheritdoc />
    public async ValueTask CreateSchemaAsync(CancellationToken cancellationToken = default)
    {
        await using var connection = await ConnectAsync(cancellationToken).ConfigureAwait(false);
        await SourceSql.CreateAsync(connection, Dialect, cancellationToken).ConfigureAwait(false);
    }

    /// <inheritdoc />
    public async ValueTask DropSchemaAsync(CancellationToken cancellationToken = default)
    {
        await using var connection = await ConnectAsync(cancellationToken).ConfigureAwait(false);
        await SourceSql.DropAsync(connection, Dialect, cancellationToken).ConfigureAwait(false);
    }

    /// <inheritdoc />
    public async ValueTask<long> CountPostsAsync(CancellationToken cancellationToken = default)
    {
        await using var connection = await ConnectAsync(cancellationToken).ConfigureAwait(false);
        return await SourceSql.CountAsync(connection, Dialect, cancellationToken).ConfigureAwait(false);
    }

    /// <inheritdoc />
    public async ValueTask<(long Min, long Max)?> GetIndexRangeAsync(CancellationToken cancellationToken = default)
    {
        await using var connection = await ConnectAsync(cancellationToken).ConfigureAwait(false);
        return await SourceSql.RangeAsync(connection, Dialect, cancellationToken).ConfigureAwait(false);
    }

    /// <inheritdoc />
    public async ValueTask InsertAsync(IReadOnlyList<SourcePost> posts, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(posts);
        if (posts.Count == 0) return;
        await using var connection = await ConnectAsync(cancellationToken).ConfigureAwait(false);
        await InsertCoreAsync(connection, posts, cancellationToken).ConfigureAwait(false);
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
        await using var connection = await ConnectAsync(cancellationToken).ConfigureAwait(false);
        await using (var command = SelectByIndexes(connection, SourceSql.PinTable, SourceSql.PinColumns, distinct))
            await SourceSql.ReadPinsAsync(command, pins, cancellationToken).ConfigureAwait(false);
        await using (var command = SelectByIndexes(connection, SourceSql.GeoTable, SourceSql.GeoColumns, distinct))
            await SourceSql.ReadGeosAsync(command, Dialect, geos, cancellationToken).ConfigureAwait(false);
        await using (var command = SelectByIndexes(connection, SourceSql.UserTable, SourceSql.UserColumns, distinct))
            await SourceSql.ReadUsersAsync(command, Dialect, users, cancellationToken).ConfigureAwait(false);
        return SourceSql.Assemble(indexes, pins, geos, users);
    }

    /// <inheritdoc />
    public abstract ValueTask DisposeAsync();

    /// <summary>
    /// Where the connection settings came from, for errors (<c>--credentials-file creds.yaml</c>), and what to say about the
    /// provider; set by <see cref="SourceDatabaseFactory"/>.
    /// </summary>
    internal string? Origin { get; init; }

    /// <summary>A hint appended to a connection failure (e.g. that a credentials file without a provider means MySQL).</summary>
    internal string? Hint { get; init; }

    /// <summary>What the connection string points at: <c>host:port</c> of a server, or the SQLite file.</summary>
    private protected abstract string Endpoint { get; }

    /// <summary>
    /// An open connection; a connection that cannot be made is a <see cref="SourceException"/> (<c>source.unreachable</c>)
    /// naming the provider, <see cref="Endpoint"/> and where the settings came from.
    /// </summary>
    private async ValueTask<TConnection> ConnectAsync(CancellationToken cancellationToken)
    {
        try
        {
            return await OpenConnectionAsync(cancellationToken).ConfigureAwait(false);
        }
        catch (DbException ex)
        {
            string where = Origin is null ? Endpoint : $"{Endpoint}, {Origin}";
            throw new SourceException("source.unreachable", ErrorKind.Unavailable,
                $"cannot connect to the {Provider} source database at {Endpoint}: {ex.GetBaseException().Message.TrimEnd('.')}{Hint}", ex, where);
        }
    }

    /// <summary>An open connection from the provider's pool; the caller disposes it.</summary>
    private protected abstract ValueTask<TConnection> OpenConnectionAsync(CancellationToken cancellationToken);

    /// <summary>Writes the posts (at least one) in one transaction of its own on <paramref name="connection"/>.</summary>
    private protected abstract ValueTask InsertCoreAsync(TConnection connection, IReadOnlyList<SourcePost> posts, CancellationToken cancellationToken);

    /// <summary>
    /// The command selecting <paramref name="columns"/> of the rows of <paramref name="table"/> whose key is in
    /// <paramref name="distinct"/>: by default <c>IN (@p0, @p1, ...)</c>.
    /// </summary>
    private protected virtual DbCommand SelectByIndexes(TConnection connection, string table, string[] columns, long[] distinct)
    {
        var command = connection.CreateCommand();
        SourceSql.AddInList(command, SourceSql.SelectPrefix(Dialect, table, columns), distinct);
        return command;
    }
}
