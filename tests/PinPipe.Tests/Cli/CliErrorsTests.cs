using System.Net;
using System.Net.Sockets;
using PinPipe.Tests.Support;

namespace PinPipe.Tests.Cli;

/// <summary>
/// Every expected failure as a user meets it through the real <c>pinpipe</c> process: one line
/// <c>error: what went wrong (where)</c>, no stack trace unless <c>--verbose</c>, and the documented exit code
/// (0 done, 1 failed, 2 bad usage or settings, 3 a dependency unavailable, 130 interrupted).
/// </summary>
public sealed class CliErrorsTests
{
    private static readonly TimeSpan Timeout = TimeSpan.FromSeconds(90);

    /// <summary>The one <c>error:</c> line of <paramref name="output"/>, asserting there is exactly one and no stack trace.</summary>
    private static string OneErrorLine(string output)
    {
        var errors = output.ReplaceLineEndings("\n").Split('\n').Where(l => l.StartsWith("error: ", StringComparison.Ordinal)).ToList();
        Assert.True(errors.Count == 1, $"expected one error line:\n{output}");
        Assert.DoesNotContain("   at ", output, StringComparison.Ordinal);
        Assert.DoesNotContain("Exception", output, StringComparison.Ordinal);
        return errors[0];
    }

    private static int ClosedPort() => CliProcess.FreePort();

    private static async Task<string> VerboseOutputAsync(string dir, IReadOnlyDictionary<string, string?>? environment, int expectedCode, params string[] args)
    {
        var (code, output) = await CliProcess.RunWithEnvironmentAsync(environment ?? new Dictionary<string, string?>(), dir, Timeout, [.. args, "--verbose"]);
        Assert.True(code == expectedCode, output);
        Assert.Contains("   at ", output, StringComparison.Ordinal);
        return output;
    }

    [Fact]
    public async Task Exit_0_when_the_command_succeeds()
    {
        using var dir = new TempDirectory("cli-errors");
        var (code, output) = await CliProcess.RunAsync(dir.Path, Timeout, "runs");
        Assert.True(code == 0, output);
        Assert.DoesNotContain("error:", output, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Exit_1_when_the_work_fails_in_one_line()
    {
        using var dir = new TempDirectory("cli-errors");
        var (code, output) = await CliProcess.RunAsync(dir.Path, Timeout, "batch");
        Assert.True(code == 1, output);
        Assert.StartsWith("error: No raw objects under topics/<topic>/", OneErrorLine(output), StringComparison.Ordinal);
        await VerboseOutputAsync(dir.Path, null, 1, "batch");
    }

    [Fact]
    public async Task Exit_2_for_a_command_line_that_does_not_parse()
    {
        using var dir = new TempDirectory("cli-errors");
        var (code, output) = await CliProcess.RunAsync(dir.Path, Timeout, "seed", "--bogus-flag");
        Assert.True(code == 2, output);
        Assert.Contains("--bogus-flag", output, StringComparison.Ordinal);
        Assert.False(Directory.Exists(Path.Combine(dir.Path, ".pinpipe")));
    }

    [Fact]
    public async Task Exit_2_for_a_credentials_file_missing_a_field_naming_the_file_and_the_field()
    {
        using var dir = new TempDirectory("cli-errors");
        string creds = dir.File("aws_db_creds.yaml");
        await File.WriteAllTextAsync(creds, "HOST: 127.0.0.1\nUSER: u\nPASSWORD: SeCrEt123\nPORT: 3306\n");

        var (code, output) = await CliProcess.RunAsync(dir.Path, Timeout, "seed", "--credentials-file", creds);

        Assert.True(code == 2, output);
        Assert.Equal($"error: {creds}: missing DATABASE (expected keys: HOST, USER, PASSWORD, DATABASE, PORT) (--credentials-file, Source:CredentialsFile)", OneErrorLine(output));
        Assert.DoesNotContain("SeCrEt123", output, StringComparison.Ordinal);
        Assert.DoesNotContain("SeCrEt123", await VerboseOutputAsync(dir.Path, null, 2, "seed", "--credentials-file", creds), StringComparison.Ordinal);
    }

    [Fact]
    public async Task Exit_3_when_the_port_is_taken_in_one_line_naming_the_address_and_the_flag()
    {
        using var dir = new TempDirectory("cli-errors");
        using var taken = new TcpListener(IPAddress.Loopback, 0);
        taken.Start();
        int port = ((IPEndPoint)taken.LocalEndpoint).Port;

        var (code, output) = await CliProcess.RunAsync(dir.Path, Timeout, "serve", "--urls", $"http://127.0.0.1:{port}");

        Assert.True(code == 3, output);
        Assert.Equal($"error: 127.0.0.1:{port} is already in use; stop what listens there or choose another address with --urls (Ingest:Urls)", OneErrorLine(output));
        Assert.DoesNotContain("fail:", output, StringComparison.Ordinal);
        // Found before anything was opened: no data folder, no log, no topics left behind.
        Assert.False(Directory.Exists(Path.Combine(dir.Path, ".pinpipe")), string.Join(", ", Directory.EnumerateFileSystemEntries(dir.Path, "*", SearchOption.AllDirectories)));
        await VerboseOutputAsync(dir.Path, null, 3, "serve", "--urls", $"http://127.0.0.1:{port}");
    }

    [Fact]
    public async Task Up_with_the_port_taken_exits_3_in_one_line()
    {
        using var dir = new TempDirectory("cli-errors");
        using var taken = new TcpListener(IPAddress.Loopback, 0);
        taken.Start();
        int port = ((IPEndPoint)taken.LocalEndpoint).Port;

        var (code, output) = await CliProcess.RunAsync(dir.Path, Timeout, "up", "--records", "1", "--rows", "10", "--urls", $"http://127.0.0.1:{port}");

        Assert.True(code == 3, output);
        Assert.Contains($"127.0.0.1:{port} is already in use", OneErrorLine(output), StringComparison.Ordinal);
    }

    [Fact]
    public async Task Exit_3_when_no_kafka_broker_answers_in_one_line_naming_the_servers_and_the_flag()
    {
        using var dir = new TempDirectory("cli-errors");
        int port = ClosedPort();

        var (code, output) = await CliProcess.RunAsync(dir.Path, Timeout, "topics", "--log", "kafka", "--bootstrap-servers", $"127.0.0.1:{port}");

        Assert.True(code == 3, output);
        string line = OneErrorLine(output);
        Assert.StartsWith($"error: no Kafka broker answered at 127.0.0.1:{port} within 10 s", line, StringComparison.Ordinal);
        Assert.Contains("--bootstrap-servers", line, StringComparison.Ordinal);
        // librdkafka's own lines ("%3|...|FAIL|...") stay out of a run without --verbose.
        Assert.DoesNotContain("%3|", output, StringComparison.Ordinal);
        Assert.DoesNotContain("rdkafka", output, StringComparison.Ordinal);
        Assert.Single(output.ReplaceLineEndings("\n").Trim().Split('\n'));
        // With --verbose, librdkafka's lines are there as debug lines, and the trace follows the error line.
        Assert.Contains("librdkafka", await VerboseOutputAsync(dir.Path, null, 3, "topics", "--log", "kafka", "--bootstrap-servers", $"127.0.0.1:{port}"), StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("mysql")]
    [InlineData("postgres")]
    public async Task Exit_3_when_the_database_does_not_answer_naming_provider_host_port_and_flag(string provider)
    {
        using var dir = new TempDirectory("cli-errors");
        int port = ClosedPort();
        string cs = provider == "mysql" ? $"Server=127.0.0.1;Port={port};User=u;Password=SeCrEt123;Database=d" : $"Host=127.0.0.1;Port={port};Username=u;Password=SeCrEt123;Database=d";

        var (code, output) = await CliProcess.RunAsync(dir.Path, Timeout, "seed", "--provider", provider, "--connection-string", cs);

        Assert.True(code == 3, output);
        string line = OneErrorLine(output);
        Assert.StartsWith($"error: cannot connect to the {provider} source database at 127.0.0.1:{port}: ", line, StringComparison.Ordinal);
        Assert.EndsWith($"(127.0.0.1:{port}, --connection-string, Source:ConnectionString)", line, StringComparison.Ordinal);
        Assert.DoesNotContain("SeCrEt123", output, StringComparison.Ordinal);
        await VerboseOutputAsync(dir.Path, null, 3, "seed", "--provider", provider, "--connection-string", cs);
    }

    [Fact]
    public async Task A_credentials_file_without_a_provider_is_mysql_and_the_error_says_so()
    {
        using var dir = new TempDirectory("cli-errors");
        int port = ClosedPort();
        string creds = dir.File("aws_db_creds.yaml");
        await File.WriteAllTextAsync(creds, $"HOST: 127.0.0.1\nUSER: u\nPASSWORD: SeCrEt123\nDATABASE: d\nPORT: {port}\n");

        var (code, output) = await CliProcess.RunAsync(dir.Path, Timeout, "seed", "--credentials-file", creds);

        Assert.True(code == 3, output);
        string line = OneErrorLine(output);
        Assert.StartsWith($"error: cannot connect to the mysql source database at 127.0.0.1:{port}: ", line, StringComparison.Ordinal);
        Assert.Contains("a credentials file without --provider (Source:Provider) means mysql: add --provider postgres for PostgreSQL", line, StringComparison.Ordinal);
        Assert.EndsWith($"(127.0.0.1:{port}, --credentials-file {creds})", line, StringComparison.Ordinal);
        Assert.DoesNotContain("SeCrEt123", output, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Batch_on_s3_without_aws_credentials_says_where_credentials_are_looked_for()
    {
        using var dir = new TempDirectory("cli-errors");
        using var home = new TempDirectory("cli-errors-home");
        var environment = new Dictionary<string, string?>
        {
            ["HOME"] = home.Path,
            ["AWS_ACCESS_KEY_ID"] = null,
            ["AWS_SECRET_ACCESS_KEY"] = null,
            ["AWS_SESSION_TOKEN"] = null,
            ["AWS_PROFILE"] = null,
            ["AWS_SHARED_CREDENTIALS_FILE"] = null,
            ["AWS_CONFIG_FILE"] = null,
            ["AWS_WEB_IDENTITY_TOKEN_FILE"] = null,
            ["AWS_EC2_METADATA_DISABLED"] = "true",
        };
        int port = ClosedPort();
        string[] args = ["batch", "--object-store", "s3", "--s3-endpoint", $"http://127.0.0.1:{port}", "--bucket", "pinpipe-b"];

        var (code, output) = await CliProcess.RunWithEnvironmentAsync(environment, dir.Path, Timeout, args);

        Assert.True(code == 2, output);
        string line = OneErrorLine(output);
        Assert.StartsWith("error: no AWS credentials found for the S3 object store: they are looked for in the environment (AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY)", line, StringComparison.Ordinal);
        Assert.Contains($"the profile 'default' (AWS_PROFILE) of {Path.Combine(home.Path, ".aws", "credentials")}", line, StringComparison.Ordinal);
        Assert.EndsWith($"(bucket 'pinpipe-b' at http://127.0.0.1:{port})", line, StringComparison.Ordinal);
        await VerboseOutputAsync(dir.Path, environment, 2, args);
    }

    [Fact]
    public async Task Exit_130_when_interrupted_by_ctrl_c()
    {
        using var dir = new TempDirectory("cli-errors");
        int port = CliProcess.FreePort();
        await using var up = CliProcess.Start(dir.Path, "up", "--records", "0", "--rows", "100", "--urls", $"http://127.0.0.1:{port}");
        await up.WaitHealthyAsync(new Uri($"http://127.0.0.1:{port}/healthz"), Timeout);

        int code = await up.InterruptAsync(Timeout);

        Assert.True(code == 130, up.Output);
        Assert.Contains("Cancelled.", up.Output, StringComparison.Ordinal);
        // What was logged landed; the batch job was not started only to be cancelled (no cancelled run in the history).
        Assert.Contains("What landed where", up.Output, StringComparison.Ordinal);
        Assert.Contains("Stopped by Ctrl-C before the batch job: `pinpipe batch` cleans what landed", up.Output, StringComparison.Ordinal);
        var (runsCode, runs) = await CliProcess.RunAsync(dir.Path, Timeout, "runs");
        Assert.True(runsCode == 0, runs);
        Assert.Contains("No runs recorded yet", runs, StringComparison.Ordinal);
    }
}
