using System.Net;
using System.Net.Sockets;
using PinPipe.Tests.Support;

namespace PinPipe.Tests.Cli;

/// <summary><c>pinpipe seed</c> with a malformed credentials file: a clear error, exit 2, no value echoed, no connection tried.</summary>
public sealed class SeedCommandTests
{
    private const string Secret = "SeCrEt123";
    private static readonly TimeSpan Timeout = TimeSpan.FromSeconds(60);

    [Theory]
    [InlineData("mysql", "HOST: 127.0.0.1\nUSER: u\nPASSWORD SeCrEt123\nDATABASE: d\nPORT: {port}\n", ", line 3: expected 'KEY: value' (the PASSWORD line has no ':')")]
    [InlineData("postgres", "HOST: 127.0.0.1\nUSER: u\nPASSWORD: x\nSeCrEt123\nDATABASE: d\nPORT: {port}\n", ", line 4: expected 'KEY: value'")]
    [InlineData("mysql", "HOST: 127.0.0.1\nUSER: u\nPASSWORD: p\nDATABASE: d\nPORT: SeCrEt123\n", ": PORT must be a number from 1 to 65535")]
    public async Task A_malformed_credentials_file_is_reported_by_file_and_line_without_its_values_before_connecting(string provider, string text, string expected)
    {
        using var dir = new TempDirectory("cli");
        // A listening "database": the CLI must not even connect to it.
        using var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        try
        {
            int port = ((IPEndPoint)listener.LocalEndpoint).Port;
            var path = dir.File("aws_db_creds.yaml");
            await File.WriteAllTextAsync(path, text.Replace("{port}", port.ToString(System.Globalization.CultureInfo.InvariantCulture), StringComparison.Ordinal));

            var (code, output) = await CliProcess.RunAsync(dir.Path, Timeout,
                "seed", "--provider", provider, "--credentials-file", path, "--verbose");

            Assert.True(code == 2, output);
            Assert.Contains($"error: {path}{expected} (--credentials-file, Source:CredentialsFile)", output, StringComparison.Ordinal);
            Assert.DoesNotContain(Secret, output, StringComparison.OrdinalIgnoreCase);
            Assert.DoesNotContain("Unhandled exception", output, StringComparison.Ordinal);
            Assert.False(listener.Pending(), "the CLI connected to the database");
        }
        finally
        {
            listener.Stop();
        }
    }
}
