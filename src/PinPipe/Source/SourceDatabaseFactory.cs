using PinPipe.Configuration;

namespace PinPipe.Source;

/// <summary>Creates the <see cref="ISourceDatabase"/> that <see cref="SourceOptions"/> describe.</summary>
public static class SourceDatabaseFactory
{
    /// <summary>The default SQLite connection string.</summary>
    public const string DefaultSqliteConnectionString = "Data Source=.pinpipe/source.db";

    /// <summary>
    /// The database for <paramref name="options"/>. With a <see cref="SourceOptions.CredentialsFile"/> the
    /// connection comes from that file, for MySQL unless the provider is <c>postgres</c> (no provider means MySQL).
    /// A connection that cannot be made later is a <see cref="SourceException"/> naming the provider, host:port and this origin.
    /// </summary>
    /// <exception cref="ArgumentException">The provider is unknown, or a server provider has no connection string.</exception>
    public static ISourceDatabase Create(SourceOptions options)
    {
        ArgumentNullException.ThrowIfNull(options);
        var provider = options.Provider;
        if (!Enum.IsDefined(provider))
            throw new ArgumentException(SettingChoices.NotOneOf<SourceProvider>("Source:Provider", provider.ToString()), nameof(options));

        var connectionString = options.ConnectionString;
        string origin = "--connection-string, Source:ConnectionString";
        string? hint = null;
        if (!string.IsNullOrWhiteSpace(options.CredentialsFile))
        {
            if (provider == SourceProvider.Sqlite)
            {
                // No provider with a credentials file means MySQL (the original project's RDS); say so when it fails.
                provider = SourceProvider.MySql;
                hint = "; a credentials file without --provider (Source:Provider) means mysql: add --provider postgres for PostgreSQL";
            }
            connectionString = DatabaseCredentials.Load(options.CredentialsFile).ToConnectionString(SettingChoices.Name(provider));
            origin = $"--credentials-file {options.CredentialsFile}";
        }

        return provider switch
        {
            SourceProvider.Sqlite => new SqliteSourceDatabase(string.IsNullOrWhiteSpace(connectionString) ? DefaultSqliteConnectionString : connectionString) { Origin = origin },
            SourceProvider.MySql => new MySqlSourceDatabase(RequireConnectionString(connectionString, provider)) { Origin = origin, Hint = hint },
            _ => new PostgresSourceDatabase(RequireConnectionString(connectionString, provider)) { Origin = origin },
        };
    }

    private static string RequireConnectionString(string? connectionString, SourceProvider provider) =>
        string.IsNullOrWhiteSpace(connectionString)
            ? throw new ArgumentException($"The {SettingChoices.Name(provider)} source database needs Source:ConnectionString or Source:CredentialsFile.")
            : connectionString;
}
