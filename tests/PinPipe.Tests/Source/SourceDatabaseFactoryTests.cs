using PinPipe.Source;
using PinPipe.Tests.Support;

namespace PinPipe.Tests.Source;

public sealed class SourceDatabaseFactoryTests
{
    private const string Good = """
        # creds for the RDS instance
        HOST: "pinterest.example.eu-west-1.rds.amazonaws.com"
        USER: 'project_user'
        PASSWORD: s3cr#t:pass   # trailing comment
        DATABASE: pinterest_data
        PORT: 3306
        """;

    [Fact]
    public void A_credentials_file_with_quotes_and_comments_parses()
    {
        var c = DatabaseCredentials.Parse(Good);
        Assert.Equal(new DatabaseCredentials("pinterest.example.eu-west-1.rds.amazonaws.com", "project_user", "s3cr#t:pass", "pinterest_data", 3306), c);
        Assert.DoesNotContain("s3cr", c.ToString(), StringComparison.Ordinal);
    }

    [Theory]
    // YAML's double quotes with escapes, single quotes with '' for ', and a block without quotes: each gives the same password.
    [InlineData("PASSWORD: \" p\\\"w'd:x #y\"", " p\"w'd:x #y")]
    [InlineData("PASSWORD: ' p\"w''d:x #y'", " p\"w'd:x #y")]
    [InlineData("PASSWORD: p\"w'd:x#y   # a comment", "p\"w'd:x#y")]
    [InlineData("PASSWORD: \"\"", "")]
    public void A_password_with_quotes_colons_hashes_and_a_leading_space_is_read_as_yaml_reads_it(string line, string password)
    {
        var c = DatabaseCredentials.Parse($"HOST: h\nUSER: u\n{line}\nDATABASE: d\nPORT: 5432\n", "creds.yaml");
        Assert.Equal(new DatabaseCredentials("h", "u", password, "d", 5432), c);
        var pg = new Npgsql.NpgsqlConnectionStringBuilder(c.ToConnectionString("postgres"));
        Assert.Equal(password, pg.Password ?? "");
        var mysql = new MySqlConnector.MySqlConnectionStringBuilder(c.ToConnectionString("mysql"));
        Assert.Equal(password, mysql.Password);
    }

    [Fact]
    public void An_unterminated_quote_names_the_line_but_not_the_value()
    {
        var ex = Assert.Throws<FormatException>(() => DatabaseCredentials.Parse("HOST: h\nUSER: u\nPASSWORD: \"SeCrEt123\nDATABASE: d\nPORT: 1\n", "creds.yaml"));
        Assert.StartsWith("creds.yaml, line ", ex.Message, StringComparison.Ordinal);
        Assert.DoesNotContain("SeCrEt123", ex.ToString(), StringComparison.Ordinal);
    }

    [Fact]
    public void A_missing_key_is_named_in_the_error()
    {
        var ex = Assert.Throws<FormatException>(() => DatabaseCredentials.Parse("HOST: h\nUSER: u\nPASSWORD: p\nPORT: 1", "creds.yaml"));
        Assert.Contains("creds.yaml", ex.Message, StringComparison.Ordinal);
        Assert.Contains("missing DATABASE", ex.Message, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("HOST: h\nUSER: u\nPASSWORD: p\nDATABASE: d\nPORT: abc", "PORT must be a number")]
    [InlineData("HOST: h\nUSER u\n", "line 2")]
    public void Bad_lines_and_bad_ports_are_reported(string text, string expected)
    {
        var ex = Assert.Throws<FormatException>(() => DatabaseCredentials.Parse(text));
        Assert.Contains(expected, ex.Message, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("HOST: h\nUSER: u\nPASSWORD SeCrEt123\nDATABASE: d\nPORT: 1", "creds.yaml, line 3: expected 'KEY: value' (the PASSWORD line has no ':').")]
    [InlineData("HOST: h\nUSER: u\npassword=SeCrEt123\nDATABASE: d\nPORT: 1", "creds.yaml, line 3: expected 'KEY: value' (the PASSWORD line has no ':').")]
    [InlineData("HOST: h\nUSER: u\nPASSWORD: x\n\n  SeCrEt123\nDATABASE: d\nPORT: 1", "creds.yaml, line 5: expected 'KEY: value'.")]
    [InlineData("HOST: h\nUSER: u\nPASSWORD: p\nDATABASE: d\nPORT: SeCrEt123", "creds.yaml: PORT must be a number from 1 to 65535.")]
    public void Errors_name_the_file_line_and_key_but_never_a_value(string text, string expected)
    {
        var ex = Assert.Throws<FormatException>(() => DatabaseCredentials.Parse(text, "creds.yaml"));
        Assert.Equal(expected, ex.Message);
        Assert.DoesNotContain("SeCrEt123", ex.ToString(), StringComparison.OrdinalIgnoreCase);
    }

    [Fact]
    public async Task Loading_a_malformed_file_names_the_file_and_line_without_its_values()
    {
        using var dir = new TempDirectory("creds");
        var path = dir.File("aws_db_creds.yaml");
        await File.WriteAllTextAsync(path, "HOST: h\nUSER: u\nPASSWORD SeCrEt123\n");
        var ex = Assert.Throws<SourceException>(() => DatabaseCredentials.Load(path));
        Assert.Equal($"{path}, line 3: expected 'KEY: value' (the PASSWORD line has no ':')", ex.Message);
        Assert.DoesNotContain("SeCrEt123", ex.ToString(), StringComparison.OrdinalIgnoreCase);
    }

    [Fact]
    public void An_unreadable_file_is_reported_with_its_path()
    {
        using var dir = new TempDirectory("creds");
        var path = dir.File("nope.yaml");
        var ex = Assert.Throws<SourceException>(() => DatabaseCredentials.Load(path));
        Assert.Contains(path, ex.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Credentials_become_mysql_and_postgres_connection_strings()
    {
        var c = DatabaseCredentials.Parse(Good);
        var mysql = new MySqlConnector.MySqlConnectionStringBuilder(c.ToConnectionString("mysql"));
        Assert.Equal(("pinterest.example.eu-west-1.rds.amazonaws.com", 3306u, "project_user", "s3cr#t:pass", "pinterest_data"),
            (mysql.Server, mysql.Port, mysql.UserID, mysql.Password, mysql.Database));
        var pg = new Npgsql.NpgsqlConnectionStringBuilder(c.ToConnectionString("postgres"));
        Assert.Equal(("pinterest.example.eu-west-1.rds.amazonaws.com", 3306, "project_user", "s3cr#t:pass", "pinterest_data"),
            (pg.Host, pg.Port, pg.Username, pg.Password, pg.Database));
    }

    [Fact]
    public async Task A_credentials_file_selects_mysql_unless_postgres_is_asked_for()
    {
        using var dir = new TempDirectory("creds");
        var path = dir.File("aws_db_creds.yaml");
        await File.WriteAllTextAsync(path, Good);
        await using (var db = SourceDatabaseFactory.Create(new SourceOptions { CredentialsFile = path }))
            Assert.IsType<MySqlSourceDatabase>(db);
        await using (var db = SourceDatabaseFactory.Create(new SourceOptions { Provider = SourceProvider.Postgres, CredentialsFile = path }))
            Assert.IsType<PostgresSourceDatabase>(db);
    }

    [Fact]
    public async Task Sqlite_is_the_default_and_creates_the_folder_of_its_file()
    {
        using var dir = new TempDirectory("factory");
        var file = Path.Combine(dir.Path, "nested", "source.db");
        await using var db = SourceDatabaseFactory.Create(new SourceOptions { ConnectionString = $"Data Source={file}" });
        Assert.Equal("sqlite", db.Provider);
        Assert.True(Directory.Exists(Path.GetDirectoryName(file)));
        Assert.Equal(0, await db.CountPostsAsync());
        Assert.Null(await db.GetIndexRangeAsync());
    }

    [Fact]
    public void An_unknown_provider_lists_the_valid_ones()
    {
        var ex = Assert.Throws<ArgumentException>(() => SourceDatabaseFactory.Create(new SourceOptions { Provider = (SourceProvider)7 }));
        Assert.Contains("Source:Provider: '7' is not one of: sqlite, mysql, postgres.", ex.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void A_server_provider_without_a_connection_string_is_rejected()
    {
        var ex = Assert.Throws<ArgumentException>(() => SourceDatabaseFactory.Create(new SourceOptions { Provider = SourceProvider.MySql }));
        Assert.Contains("ConnectionString", ex.Message, StringComparison.Ordinal);
    }
}
