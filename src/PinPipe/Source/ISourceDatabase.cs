namespace PinPipe.Source;

/// <summary>
/// The source database of SPEC §2: tables <c>pinterest_data</c>, <c>geolocation_data</c> and
/// <c>user_data</c>, row n of each belonging to post n. Implementations: SQLite (default),
/// MySQL/MariaDB (MySqlConnector) and PostgreSQL (Npgsql). All SQL is parameterized and connections
/// are pooled; an instance is safe to use from many tasks at once.
/// </summary>
public interface ISourceDatabase : IAsyncDisposable
{
    /// <summary><c>sqlite</c>, <c>mysql</c> or <c>postgres</c>.</summary>
    string Provider { get; }

    /// <summary>Creates the three tables (and their primary keys) when they do not exist.</summary>
    ValueTask CreateSchemaAsync(CancellationToken cancellationToken = default);

    /// <summary>Drops the three tables when they exist.</summary>
    ValueTask DropSchemaAsync(CancellationToken cancellationToken = default);

    /// <summary>Rows of <c>pinterest_data</c> (0 when the table does not exist).</summary>
    ValueTask<long> CountPostsAsync(CancellationToken cancellationToken = default);

    /// <summary>Smallest and largest <c>pinterest_data.index</c>, or null when the table is empty or missing.</summary>
    ValueTask<(long Min, long Max)?> GetIndexRangeAsync(CancellationToken cancellationToken = default);

    /// <summary>Inserts posts (their pin, geo and user rows) in one transaction.</summary>
    ValueTask InsertAsync(IReadOnlyList<SourcePost> posts, CancellationToken cancellationToken = default);

    /// <summary>
    /// The posts with the given indexes (one query per table, by primary key), in the order of
    /// <paramref name="indexes"/>, repeated indexes repeated; an index with no pin row is left out.
    /// A post whose geo or user row is missing has null there.
    /// </summary>
    ValueTask<IReadOnlyList<SourcePost>> GetPostsAsync(IReadOnlyList<long> indexes, CancellationToken cancellationToken = default);
}

/// <summary>One post: its rows in the three tables (SPEC §2). Geo or User is null when the source lacks that row.</summary>
public sealed record SourcePost(PinRow Pin, GeoRow? Geo, UserRow? User);

/// <summary>A <c>pinterest_data</c> row; every text column may be null.</summary>
public sealed record PinRow(
    long Index, string? UniqueId, string? Title, string? Description, string? PosterName,
    string? FollowerCount, string? TagList, string? IsImageOrVideo, string? ImageSrc,
    int? Downloaded, string? SaveLocation, string? Category);

/// <summary>A <c>geolocation_data</c> row. <see cref="Timestamp"/> is UTC, whole seconds.</summary>
public sealed record GeoRow(long Ind, DateTime? Timestamp, double? Latitude, double? Longitude, string? Country);

/// <summary>A <c>user_data</c> row. <see cref="DateJoined"/> is UTC, whole seconds.</summary>
public sealed record UserRow(long Ind, string? FirstName, string? LastName, int? Age, DateTime? DateJoined);
