using System.Globalization;
using MySqlConnector;
using Npgsql;

namespace PinPipe.Source;

/// <summary>
/// Database credentials in the original project's <c>aws_db_creds.yaml</c> shape: flat
/// <c>KEY: value</c> lines with HOST, USER, PASSWORD, DATABASE and PORT (values may be quoted;
/// <c>#</c> comments and blank lines are ignored).
/// </summary>
public sealed record DatabaseCredentials(string Host, string User, string Password, string Database, int Port)
{
    private static readonly string[] Required = ["HOST", "USER", "PASSWORD", "DATABASE", "PORT"];

    /// <summary>Reads and parses the file; errors name the file and the missing or bad key.</summary>
    public static DatabaseCredentials Load(string path)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(path);
        string text;
        try
        {
            text = File.ReadAllText(path);
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
        {
            throw new InvalidOperationException($"Cannot read the database credentials file '{path}': {ex.Message}", ex);
        }
        return Parse(text, path);
    }

    /// <summary>Parses the text of a credentials file (<paramref name="source"/> names it in errors).</summary>
    public static DatabaseCredentials Parse(string text, string source = "credentials")
    {
        ArgumentNullException.ThrowIfNull(text);
        var values = new Dictionary<string, string>(StringComparer.OrdinalIgnoreCase);
        var lineNumber = 0;
        foreach (var rawLine in text.Split('\n'))
        {
            lineNumber++;
            var line = rawLine.TrimEnd('\r').Trim();
            if (line.Length == 0 || line[0] == '#' || line == "---") continue;
            var colon = line.IndexOf(':', StringComparison.Ordinal);
            if (colon <= 0)
                throw new FormatException($"{source}, line {lineNumber}: expected 'KEY: value', found '{line}'.");
            var key = line[..colon].Trim().Trim('"', '\'');
            values[key] = Unquote(line[(colon + 1)..].Trim());
        }
        var missing = Required.Where(k => !values.TryGetValue(k, out var v) || v.Length == 0 && k != "PASSWORD").ToList();
        if (missing.Count > 0)
            throw new FormatException($"{source}: missing {string.Join(", ", missing)} (expected keys: {string.Join(", ", Required)}).");
        if (!int.TryParse(values["PORT"], NumberStyles.None, CultureInfo.InvariantCulture, out var port) || port is <= 0 or > 65535)
            throw new FormatException($"{source}: PORT must be a number from 1 to 65535, found '{values["PORT"]}'.");
        return new DatabaseCredentials(values["HOST"], values["USER"], values["PASSWORD"], values["DATABASE"], port);
    }

    /// <summary>An ADO.NET connection string for <c>mysql</c> (MySqlConnector) or <c>postgres</c> (Npgsql).</summary>
    public string ToConnectionString(string provider) => provider switch
    {
        "mysql" => new MySqlConnectionStringBuilder
        {
            Server = Host, Port = (uint)Port, UserID = User, Password = Password, Database = Database,
        }.ConnectionString,
        "postgres" => new NpgsqlConnectionStringBuilder
        {
            Host = Host, Port = Port, Username = User, Password = Password, Database = Database,
        }.ConnectionString,
        _ => throw new ArgumentException($"Credentials files serve the mysql and postgres providers, not '{provider}'.", nameof(provider)),
    };

    /// <summary>The credentials without the password.</summary>
    public override string ToString() => $"{User}@{Host}:{Port}/{Database}";

    private static string Unquote(string value)
    {
        if (value.Length >= 2 && (value[0] == '"' || value[0] == '\''))
        {
            var end = value.IndexOf(value[0], 1);
            if (end > 0) return value[1..end];
        }
        var comment = value.IndexOf(" #", StringComparison.Ordinal);
        return (comment >= 0 ? value[..comment] : value).Trim();
    }
}
