using System.Globalization;
using MySqlConnector;
using Npgsql;
using PinPipe.Errors;
using YamlDotNet.Core;
using YamlDotNet.RepresentationModel;

namespace PinPipe.Source;

/// <summary>
/// Database credentials in the original project's <c>aws_db_creds.yaml</c> shape: a flat YAML mapping of
/// HOST, USER, PASSWORD, DATABASE and PORT, read with YamlDotNet (values plain, <c>'single'</c> or <c>"double"</c>
/// quoted with YAML's escapes; <c>#</c> comments and blank lines are ignored). Errors name the file, the line and at
/// most a known key (HOST, USER, ...), never a value: a malformed line may hold the password.
/// </summary>
public sealed record DatabaseCredentials(string Host, string User, string Password, string Database, int Port)
{
    private static readonly string[] Required = ["HOST", "USER", "PASSWORD", "DATABASE", "PORT"];

    /// <summary>
    /// Reads and parses the file; errors are <see cref="SourceException"/>s (bad input, exit code 2) naming the file and the
    /// missing or bad key, never a value.
    /// </summary>
    public static DatabaseCredentials Load(string path)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(path);
        const string where = "--credentials-file, Source:CredentialsFile";
        string text;
        try
        {
            text = File.ReadAllText(path);
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
        {
            throw new SourceException("source.credentials_unreadable", ErrorKind.BadInput,
                $"cannot read the database credentials file '{path}': {ex.Message}", ex, where);
        }
        try
        {
            return Parse(text, path);
        }
        catch (FormatException ex)
        {
            throw new SourceException("source.credentials_invalid", ErrorKind.BadInput, ex.Message.TrimEnd('.'), ex, where);
        }
    }

    /// <summary>Parses the text of a credentials file (<paramref name="source"/> names it in errors, which never quote a value).</summary>
    /// <exception cref="FormatException">The text is not a flat mapping of the five keys.</exception>
    public static DatabaseCredentials Parse(string text, string source = "credentials")
    {
        ArgumentNullException.ThrowIfNull(text);
        CheckLines(text, source);
        var values = new Dictionary<string, string>(StringComparer.OrdinalIgnoreCase);
        var yaml = new YamlStream();
        try
        {
            yaml.Load(new StringReader(text));
        }
        catch (YamlException ex)
        {
            // YamlDotNet's own text is left out: it may quote part of the line.
            throw new FormatException($"{source}, line {ex.Start.Line}: not a valid YAML 'KEY: value' line (check its quotes).");
        }
        if (yaml.Documents.Count > 0 && yaml.Documents[0].RootNode is not YamlMappingNode)
            throw new FormatException($"{source}: expected 'KEY: value' lines ({string.Join(", ", Required)}).");
        if (yaml.Documents.Count > 0)
        {
            foreach (var (keyNode, valueNode) in ((YamlMappingNode)yaml.Documents[0].RootNode).Children)
            {
                string key = (keyNode as YamlScalarNode)?.Value ?? "";
                if (valueNode is not YamlScalarNode scalar)
                    throw new FormatException($"{source}, line {keyNode.Start.Line}: {KnownKey(key) ?? "a key"} must have a single value.");
                values[key] = scalar.Value ?? "";
            }
        }
        var missing = Required.Where(k => !values.TryGetValue(k, out var v) || v.Length == 0 && k != "PASSWORD").ToList();
        if (missing.Count > 0)
            throw new FormatException($"{source}: missing {string.Join(", ", missing)} (expected keys: {string.Join(", ", Required)}).");
        if (!int.TryParse(values["PORT"], NumberStyles.None, CultureInfo.InvariantCulture, out var port) || port is <= 0 or > 65535)
            throw new FormatException($"{source}: PORT must be a number from 1 to 65535.");
        return new DatabaseCredentials(values["HOST"], values["USER"], values["PASSWORD"], values["DATABASE"], port);
    }

    /// <summary>
    /// Every line that is not blank, a comment or a document marker must be a <c>KEY: value</c> line: YAML would join an
    /// indented line without ':' to the value above it (a password broken over two lines), which is refused instead.
    /// </summary>
    private static void CheckLines(string text, string source)
    {
        var lineNumber = 0;
        foreach (var rawLine in text.Split('\n'))
        {
            lineNumber++;
            var line = rawLine.TrimEnd('\r').Trim();
            if (line.Length == 0 || line[0] == '#' || line is "---" or "...") continue;
            if (line.IndexOf(':', StringComparison.Ordinal) <= 0)
                throw new FormatException($"{source}, line {lineNumber}: expected 'KEY: value'{KnownKeyHint(line)}.");
        }
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
        return KnownKey(word) is { } known ? $" (the {known} line has no ':')" : "";
    }

    private static string? KnownKey(string word) => Required.FirstOrDefault(k => k.Equals(word, StringComparison.OrdinalIgnoreCase));
}
