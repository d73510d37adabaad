namespace PinPipe.Source;

/// <summary>Creates the <see cref="ISourceDatabase"/> that <see cref="SourceOptions"/> describe.</summary>
public static class SourceDatabaseFactory
{
    /// <summary>The providers <see cref="Create"/> knows.</summary>
    public static IReadOnlyList<string> Providers { get; } = ["sqlite", "mysql", "postgres"];

    /// <summary>The default SQLite connection string.</summary>
    public const string DefaultSqliteConnectionString = "Data Source=.pinpipe/source.db";

    /// <summary>
    /// The database for <paramref name="options"/>. With a <see cref="SourceOptions.CredentialsFile"/> the
    /// connection comes from that file, for MySQL unless the provider is <c>postgres</c>.
    /// </summary>
    /// <exception cref="ArgumentException">The provider is unknown, or a server provider has no connection string.</exception>
    public static ISourceDatabase Create(SourceOptions options)
    {
        ArgumentNullException.ThrowIfNull(options);
        var provider = (options.Provider ?? "sqlite").Trim().ToLowerInvariant();
        if (provider is "mariadb") provider = "mysql";
        if (provider is "postgresql" or "npgsql") provider = "postgres";
        if (!Providers.Contains(provider))
            throw new ArgumentException($"Unknown source database provider '{options.Provider}'; use one of: {string.Join(", ", Providers)}.", nameof(options));

        var connectionString = options.ConnectionString;
        if (!string.IsNullOrWhiteSpace(options.CredentialsFile))
        {
            if (provider == "sqlite") provider = "mysql";
            connectionString = DatabaseCredentials.Load(options.CredentialsFile).ToConnectionString(provider);
        }

        return provider switch
        {
            "sqlite" => new SqliteSourceDatabase(string.IsNullOrWhiteSpace(connectionString) ? DefaultSqliteConnectionString : connectionString),
            "mysql" => new MySqlSourceDatabase(RequireConnectionString(connectionString, provider)),
            _ => new PostgresSourceDatabase(RequireConnectionString(connectionString, provider)),
        };
    }

    private static string RequireConnectionString(string? connectionString, string provider) =>
        string.IsNullOrWhiteSpace(connectionString)
            ? throw new ArgumentException($"The {provider} source database needs Source:ConnectionString or Source:CredentialsFile.", nameof(connectionString))
            : connectionString;
}
