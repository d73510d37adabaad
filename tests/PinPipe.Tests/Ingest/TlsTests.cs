using System.Net;
using System.Net.Security;
using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using System.Text;
using PinPipe.Ingest;
using PinPipe.Log;
using PinPipe.Tests.Support;

namespace PinPipe.Tests.Ingest;

/// <summary><c>Ingest:Certificate</c>: the API over TLS, HTTP/1.1 and HTTP/2, with a certificate the test makes itself.</summary>
public sealed class TlsTests
{
    /// <summary>A self-signed certificate for 127.0.0.1 written as PEM files; returns the certificate (public part) too.</summary>
    internal static (string Cert, string Key, X509Certificate2 Public) MakeCertificate(TempDirectory dir)
    {
        using var key = ECDsa.Create(ECCurve.NamedCurves.nistP256);
        var request = new CertificateRequest("CN=pinpipe-test", key, HashAlgorithmName.SHA256);
        var san = new SubjectAlternativeNameBuilder();
        san.AddIpAddress(IPAddress.Loopback);
        request.CertificateExtensions.Add(san.Build());
        request.CertificateExtensions.Add(new X509BasicConstraintsExtension(false, false, 0, true));
        using var cert = request.CreateSelfSigned(DateTimeOffset.UtcNow.AddMinutes(-5), DateTimeOffset.UtcNow.AddDays(1));
        string certPath = dir.File("server.crt"), keyPath = dir.File("server.key");
        File.WriteAllText(certPath, cert.ExportCertificatePem());
        File.WriteAllText(keyPath, key.ExportPkcs8PrivateKeyPem());
        return (certPath, keyPath, X509CertificateLoader.LoadCertificate(cert.RawData));
    }

    /// <summary>A client that trusts only <paramref name="root"/> (as the emulator's CA file would); optionally one that follows no redirect and keeps no cookie.</summary>
#pragma warning disable CA2000 // the client owns and disposes the handler
    internal static HttpClient TrustingClient(X509Certificate2 root, Uri baseAddress, bool plain = false) => new(new SocketsHttpHandler
    {
        AllowAutoRedirect = !plain,
        UseCookies = !plain,
        SslOptions = new SslClientAuthenticationOptions
        {
            CertificateChainPolicy = new X509ChainPolicy
            {
                TrustMode = X509ChainTrustMode.CustomRootTrust,
                CustomTrustStore = { root },
                RevocationMode = X509RevocationMode.NoCheck,
            },
        },
    }, disposeHandler: true)
    { BaseAddress = baseAddress };
#pragma warning restore CA2000

    [Theory]
    [InlineData(1)]
    [InlineData(2)]
    public async Task Records_posted_over_TLS_are_acknowledged_and_stored(int httpVersion)
    {
        using var dir = new TempDirectory("tls");
        var (certPath, keyPath, root) = MakeCertificate(dir);
        using var _ = root;
        await using var log = await LogFactory.OpenAsync(new LogOptions { Path = dir.File("log.db") });
        await log.CreateTopicAsync("t.pin", 1);
        await using var api = await IngestServer.StartAsync(
            new IngestOptions { Urls = "https://127.0.0.1:0", Certificate = certPath, CertificateKey = keyPath }, log);
        Assert.Equal("https", api.BaseAddress.Scheme);
        using var client = TrustingClient(root, api.BaseAddress);

        using var request = new HttpRequestMessage(HttpMethod.Post, "topics/t.pin")
        {
            Version = new Version(httpVersion, 0),
            VersionPolicy = HttpVersionPolicy.RequestVersionExact,
            Content = new StringContent("""{"records": [{"value": {"index": 1}}]}""", Encoding.UTF8, "application/vnd.kafka.json.v2+json"),
        };
        request.Content.Headers.ContentType!.CharSet = null;
        using var response = await client.SendAsync(request);

        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.Equal(httpVersion, response.Version.Major);
        var stored = Assert.Single(await log.ReadAsync("t.pin", 0, 0, 10));
        Assert.Equal("""{"index": 1}""", Encoding.UTF8.GetString(stored.Value!));
    }

    [Fact]
    public async Task A_client_that_does_not_trust_the_certificate_is_refused_by_its_own_TLS_check()
    {
        using var dir = new TempDirectory("tls");
        var (certPath, keyPath, root) = MakeCertificate(dir);
        using var _ = root;
        await using var log = await LogFactory.OpenAsync(new LogOptions { Path = dir.File("log.db") });
        await using var api = await IngestServer.StartAsync(
            new IngestOptions { Urls = "https://127.0.0.1:0", Certificate = certPath, CertificateKey = keyPath }, log);
        using var client = new HttpClient { BaseAddress = api.BaseAddress };

        await Assert.ThrowsAsync<HttpRequestException>(() => client.GetAsync("healthz"));
    }

    [Fact]
    public async Task A_file_that_is_not_a_PEM_certificate_stops_the_start_naming_the_setting()
    {
        using var dir = new TempDirectory("tls");
        var (_, keyPath, root) = MakeCertificate(dir);
        using var _ = root;
        string bogus = dir.File("bogus.crt");
        await File.WriteAllTextAsync(bogus, "not a certificate");
        await using var log = await LogFactory.OpenAsync(new LogOptions { Path = dir.File("log.db") });

        var ex = await Assert.ThrowsAsync<IngestException>(() =>
            IngestServer.StartAsync(new IngestOptions { Urls = "https://127.0.0.1:0", Certificate = bogus, CertificateKey = keyPath }, log));

        Assert.Equal("ingest.bad_certificate", ex.ErrorCode);
        Assert.Contains(bogus, ex.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Https_needs_both_files_and_a_certificate_needs_an_https_address()
    {
        Assert.Contains(new IngestOptions { Urls = "https://127.0.0.1:8443" }.Validate(8),
            e => e.StartsWith("Ingest:Urls: an https:// address needs Ingest:Certificate", StringComparison.Ordinal));
        Assert.Contains(new IngestOptions { Urls = "https://127.0.0.1:8443", Certificate = "a.crt" }.Validate(8),
            e => e.StartsWith("Ingest:Certificate and Ingest:CertificateKey: give both", StringComparison.Ordinal));
        Assert.Contains(new IngestOptions { Certificate = "a.crt", CertificateKey = "a.key" }.Validate(8),
            e => e.StartsWith("Ingest:Certificate: no https:// address", StringComparison.Ordinal));
        Assert.Empty(new IngestOptions { Urls = "https://127.0.0.1:8443", Certificate = "a.crt", CertificateKey = "a.key" }.Validate(8));
    }
}
