using PinPipe.Configuration;
using PinPipe.Emulation;
using PinPipe.Ingest;
using PinPipe.Tests.Ingest;
using PinPipe.Tests.Support;

namespace PinPipe.Tests.Emulation;

/// <summary><c>Emulator:CaFile</c>: the emulator posts to an https:// API whose certificate no public CA signed.</summary>
public sealed class EmulatorTlsTests
{
    private static readonly PipelineNames Names = new("u1");

    [Theory]
    [InlineData(EmulatorLane.Batch)]
    [InlineData(EmulatorLane.Stream)]
    public async Task Trusting_the_servers_CA_file_every_record_is_acknowledged_and_without_it_none_is_written(EmulatorLane lane)
    {
        using var dir = new TempDirectory("tls-emulator");
        var (cert, key, root) = TlsTests.MakeCertificate(dir);
        using var _ = root;
        await using var api = await IngestApiHarness.StartAsync(
            new IngestOptions { Urls = "https://127.0.0.1:0", Certificate = cert, CertificateKey = key },
            [.. Names.Topics.Concat(Names.Streams).Select(t => (t, 1))]);
        await using var source = InMemorySourceDatabase.Generate(50);
        EmulatorOptions Options(string? caFile) => EmulatorApiKeyTests.TenPosts(api, lane) with { CaFile = caFile };
        Assert.Empty(Options(cert).Validate());
        Assert.Contains(Options(dir.File("missing.crt")).Validate(), e => e.StartsWith("Emulator:CaFile: ", StringComparison.Ordinal));
        // A file that is there but holds no certificate (a key, a typo'd path to some other file) is a settings problem too.
        await File.WriteAllTextAsync(dir.File("not-a-cert.pem"), "-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n");
        Assert.Contains(Options(dir.File("not-a-cert.pem")).Validate(), e => e.StartsWith("Emulator:CaFile: ", StringComparison.Ordinal) && e.Contains("holds no PEM certificate", StringComparison.Ordinal));

        var untrusted = await new Emulator(Options(null), source, Names).RunAsync();
        Assert.Equal(0, untrusted.RecordsAcknowledged);
        Assert.Equal(0, await api.TotalRecordsAsync());

        var result = await new Emulator(Options(cert), source, Names).RunAsync(); // the self-signed certificate is its own CA
        Assert.Equal(30, result.RecordsAcknowledged);
        Assert.Equal(0, result.RecordsLost);
        Assert.Equal(30, await api.TotalRecordsAsync());
    }
}
