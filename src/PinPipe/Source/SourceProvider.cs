namespace PinPipe.Source;

/// <summary>The source database (<c>Source:Provider</c>; settings and flags name it in any case: <c>sqlite</c>, <c>mysql</c>, <c>postgres</c>).</summary>
public enum SourceProvider
{
    /// <summary>A SQLite file (default).</summary>
    Sqlite,

    /// <summary>MySQL or MariaDB (MySqlConnector).</summary>
    MySql,

    /// <summary>PostgreSQL (Npgsql).</summary>
    Postgres,
}
