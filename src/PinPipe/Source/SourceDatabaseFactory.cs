using PinPipe.Configuration;

namespace PinPipe.Source;

/// <summary>Creates the <see cref="ISourceDatabase"/> that <see cref="SourceOptions"/> describe.</summary>
public static class SourceDatabaseFactory
{
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
        var provider = options.Provider;
        if (!Enum.IsDefined(provider))
            throw new ArgumentException(SettingChoices.NotOneOf<SourceProvider>("Source:Provider", provider.ToString()), nameof(options));

        var connectionString = options.ConnectionString;
        if (!string.IsNullOrWhiteSpace(options.CredentialsFile))
        {
            if (provider == SourceProvider.Sqlite) provider = SourceProvider.MySql;
            connectionString = DatabaseCredentials.Load(options.CredentialsFile).ToConnectionString(SettingChoices.Name(provider));
        }

        return provider switch
        {
            SourceProvider.Sqlite => new SqliteSourceDatabase(string.IsNullOrWhiteSpace(connectionString) ? DefaultSqliteConnectionString : connectionString),
            SourceProvider.MySql => new MySqlSourceDatabase(RequireConnectionString(connectionString, provider)),
            _ => new PostgresSourceDatabase(RequireConnectionString(connectionString, provider)),
        };
    }

    private static string RequireConnectionString(string? connectionString, SourceProvider provider) =>
        string.IsNullOrWhiteSpace(connectionString)
            ? throw new ArgumentException($"The {SettingChoices.Name(provider)} source database needs Source:ConnectionString or Source:CredentialsFile.")
            : connectionString;
}
