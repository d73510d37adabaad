using PinPipe.Configuration;

namespace PinPipe.Source;

/// <summary>Settings of the source database (configuration section <c>Source</c>).</summary>
public sealed record SourceOptions
{
    /// <summary><c>sqlite</c> (default), <c>mysql</c> (also MariaDB) or <c>postgres</c>.</summary>
    public SourceProvider Provider { get; init; } = SourceProvider.Sqlite;

    /// <summary>
    /// ADO.NET connection string. Default for SQLite: <c>Data Source=.pinpipe/source.db</c>.
    /// Keep passwords out of the repository: give it through the environment
    /// (<c>PINPIPE_Source__ConnectionString</c>) or <see cref="CredentialsFile"/>.
    /// </summary>
    public string? ConnectionString { get; init; }

    /// <summary>
    /// A YAML file in the original project's <c>aws_db_creds.yaml</c> shape (HOST, USER, PASSWORD,
    /// DATABASE, PORT). When set it gives the connection (with <see cref="Provider"/> mysql by default).
    /// </summary>
    public string? CredentialsFile { get; init; }

    /// <summary>Rows <c>pinpipe seed</c> writes. Default 11,000 (the original data set's size).</summary>
    public long Rows { get; init; } = 11_000;

    /// <summary>Random seed of the synthetic data; the same seed and row count give identical data. Default 42.</summary>
    public int Seed { get; init; } = 42;

    public static SourceOptions Default { get; } = new();

    /// <summary>Every problem of these settings, each naming its key; empty when all is well.</summary>
    public IReadOnlyList<string> Validate() => new SettingsProblems()
        .OneOf("Source:Provider", Provider)
        .Check(Rows >= 0, $"Source:Rows: {Rows} must be zero or more.")
        .Check(Provider == SourceProvider.Sqlite || !string.IsNullOrWhiteSpace(ConnectionString) || !string.IsNullOrWhiteSpace(CredentialsFile),
            $"Source:ConnectionString: the {SettingChoices.Name(Provider)} source database needs Source:ConnectionString (--connection-string, or PINPIPE_Source__ConnectionString for a password) or Source:CredentialsFile (--credentials-file).")
        .Add(ConnectionStringProblems())
        .ToList();

    /// <summary>
    /// The problem of a <see cref="ConnectionString"/> the provider's driver cannot read (a misspelt keyword, a missing '='),
    /// in the driver's words without the string itself: it may hold a password.
    /// </summary>
    private IEnumerable<string> ConnectionStringProblems()
    {
        if (string.IsNullOrWhiteSpace(ConnectionString) || !string.IsNullOrWhiteSpace(CredentialsFile) || !Enum.IsDefined(Provider)) yield break;
        string? problem = null;
        try
        {
            _ = Provider switch
            {
                SourceProvider.MySql => new MySqlConnector.MySqlConnectionStringBuilder(ConnectionString).ConnectionString,
                SourceProvider.Postgres => new Npgsql.NpgsqlConnectionStringBuilder(ConnectionString).ConnectionString,
                _ => new Microsoft.Data.Sqlite.SqliteConnectionStringBuilder(ConnectionString).ConnectionString,
            };
        }
        catch (Exception ex) when (ex is ArgumentException or FormatException or InvalidOperationException or KeyNotFoundException)
        {
            problem = ex is ArgumentException { ParamName: { } name } && ex.Message.EndsWith($" (Parameter '{name}')", StringComparison.Ordinal)
                ? ex.Message[..^$" (Parameter '{name}')".Length]
                : ex.Message;
        }
        if (problem is not null)
            yield return $"Source:ConnectionString: not a {SettingChoices.Name(Provider)} connection string (key=value;...): {problem}";
    }
}
