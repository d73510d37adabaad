using System.Globalization;
using MySqlConnector;
using Npgsql;

namespace PinPipe.Source;

/// <summary>
/// Database credentials in the original project's <c>aws_db_creds.yaml</c> shape: flat
/// <c>KEY: value</c> lines with HOST, USER, PASSWORD, DATABASE and PORT (values may be quoted;
/// <c>#</c> comments and blank lines are ignored). Errors name the file, the line and at most a known key
/// (HOST, USER, ...), never a value: a malformed line may hold the password.
/// </summary>
public sealed record DatabaseCredentials(string Host, string User, string Password, string Database, int Port)
{
    private static readonly string[] Required = ["HOST", "USER", "PASSWORD", "DATABASE", "PORT"];

    /// <summary>Reads and parses the file; errors (<see cref="InvalidOperationException"/>) name the file and the missing or bad key, never a value.</summary>
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
        try
        {
            return Parse(text, path);
        }
        catch (FormatException ex)
        {
            throw new InvalidOperationException(ex.Message, ex);
        }
    }

    /// <summary>Parses the text of a credentials file (<paramref name="source"/> names it in errors, which never quote a value).</summary>
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
                throw new FormatException($"{source}, line {lineNumber}: expected 'KEY: value'{KnownKeyHint(line)}.");
            var key = line[..colon].Trim().Trim('"', '\'');
            values[key] = Unquote(line[(colon + 1)..].Trim());
        }
        var missing = Required.Where(k => !values.TryGetValue(k, out var v) || v.Length == 0 && k != "PASSWORD").ToList();
        if (missing.Count > 0)
            throw new FormatException($"{source}: missing {string.Join(", ", missing)} (expected keys: {string.Join(", ", Required)}).");
        if (!int.TryParse(values["PORT"], NumberStyles.None, CultureInfo.InvariantCulture, out var port) || port is <= 0 or > 65535)
            throw new FormatException($"{source}: PORT must be a number from 1 to 65535.");
        return new DatabaseCredentials(values["HOST"], values["USER"], values["PASSWORD"], values["DATABASE"], port);
    }

    /// <summary>An ADO.NET connection string for <c>mysql</c> (MySqlConnector) or <c>postgres</c> (Npgsql).</summary>
    public string ToConnectionString(string provider) => provider switch
    {
        "mysql" => new MySqlConnectionStringBuilder
        {
            Server = Host,
            Port = (uint)Port,
            UserID = User,
            Password = Password,
            Database = Database,
        }.ConnectionString,
        "postgres" => new NpgsqlConnectionStringBuilder
        {
            Host = Host,
            Port = Port,
            Username = User,
            Password = Password,
            Database = Database,
        }.ConnectionString,
        _ => throw new ArgumentException($"Credentials files serve the mysql and postgres providers, not '{provider}'.", nameof(provider)),
    };

    /// <summary>The credentials without the password.</summary>
    public override string ToString() => $"{User}@{Host}:{Port}/{Database}";

    /// <summary>
    /// Names the line's key when it starts with one of the known keys (<c>PASSWORD=...</c>, <c>PORT 3306</c>):
    /// a known name is no secret, while anything else on a malformed line may be one.
    /// </summary>
    private static string KnownKeyHint(string line)
    {
        var end = line.AsSpan().IndexOfAny('=', ' ', '\t');
        var word = (end < 0 ? line : line[..end]).Trim('"', '\'');
        var known = Required.FirstOrDefault(k => k.Equals(word, StringComparison.OrdinalIgnoreCase));
        return known is null ? "" : $" (the {known} line has no ':')";
    }

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
