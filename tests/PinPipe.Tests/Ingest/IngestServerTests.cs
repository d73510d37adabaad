using System.Globalization;
using System.Net;
using System.Net.Sockets;
using System.Text;
using System.Text.Json;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.Logging;
using PinPipe.Ingest;
using PinPipe.Tests.Support;

namespace PinPipe.Tests.Ingest;

/// <summary>The server's connection-level behaviour, over raw TCP on loopback: slow bodies and the connection limit.</summary>
public sealed class IngestServerTests
{
    [Fact]
    public void The_web_host_reads_no_settings_file_from_the_working_folder_and_reloads_none()
    {
        var builder = IngestServer.CreateWebBuilder();
        Assert.Equal(Path.TrimEndingDirectorySeparator(AppContext.BaseDirectory), Path.TrimEndingDirectorySeparator(builder.Environment.ContentRootPath));
        var files = ((IConfigurationRoot)builder.Configuration).Providers.OfType<FileConfigurationProvider>().ToList();
        Assert.All(files, f => Assert.False(f.Source.ReloadOnChange, $"{f.Source.Path} is reloaded on change"));
    }

    [Theory]
    [InlineData("http://127.0.0.1:{0}")]
    [InlineData("http://localhost:{0}")]
    [InlineData("http://0.0.0.0:{0}")]
    [InlineData("http://*:{0}")]
    [InlineData("http://127.0.0.1:1;http://127.0.0.1:{0}/")]
    public void An_address_something_listens_on_is_refused_before_anything_is_opened_naming_it(string urls)
    {
        using var taken = new TcpListener(IPAddress.Loopback, 0);
        taken.Start();
        int port = ((IPEndPoint)taken.LocalEndpoint).Port;
        string given = string.Format(CultureInfo.InvariantCulture, urls, port);

        var ex = Assert.Throws<IngestException>(() => IngestServer.CheckAddressesFree(new IngestOptions { Urls = given }));

        Assert.Equal("ingest.address_in_use", ex.ErrorCode);
        Assert.StartsWith($"{new Uri(given.Split(';')[^1].Replace("*", "0.0.0.0", StringComparison.Ordinal)).Host}:{port} is already in use", ex.Message, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("http://127.0.0.1:{0}")]
    [InlineData("http://localhost:{0}")]
    [InlineData("http://127.0.0.1:0")]
    [InlineData("http://pinpipe.invalid:{0}")] // a host name: left to Kestrel
    public void A_free_address_passes_and_stays_free(string urls)
    {
        int port;
        using (var free = new TcpListener(IPAddress.Loopback, 0))
        {
            free.Start();
            port = ((IPEndPoint)free.LocalEndpoint).Port;
        }

        IngestServer.CheckAddressesFree(new IngestOptions { Urls = string.Format(CultureInfo.InvariantCulture, urls, port) });

        using var after = new TcpListener(IPAddress.Loopback, port); // the probe let it go
        after.Start();
    }

    private const string Stream = "streaming-t-pin";

    /// <summary>Connects to the server and sends <paramref name="head"/> (request line and headers, maybe the start of a body).</summary>
    private static async Task<TcpClient> SendAsync(IngestApiHarness api, string head)
    {
        var tcp = new TcpClient();
        await tcp.ConnectAsync(IPAddress.Loopback, api.Server.BaseAddress.Port);
        try
        {
            await tcp.GetStream().WriteAsync(Encoding.ASCII.GetBytes(head));
        }
        catch (IOException)
        {
            // Closed by the server at once: the read says so.
        }
        return tcp;
    }

    private static string Get(IngestApiHarness api) =>
        $"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1:{api.Server.BaseAddress.Port}\r\n\r\n";

    /// <summary>One response (status, body), or null when the server closed the connection without answering.</summary>
    private static async Task<(int Status, string Body)?> ReadResponseAsync(TcpClient tcp)
    {
        var stream = tcp.GetStream();
        var data = new List<byte>();
        var buffer = new byte[4096];
        int headEnd = -1, length = -1;
        while (headEnd < 0 || data.Count < headEnd + length)
        {
            int n;
            try
            {
                n = await stream.ReadAsync(buffer);
            }
            catch (IOException)
            {
                n = 0; // reset by the server
            }
            if (n == 0) break;
            data.AddRange(buffer.AsSpan(0, n));
            if (headEnd < 0)
            {
                var text = Encoding.ASCII.GetString([.. data]);
                int end = text.IndexOf("\r\n\r\n", StringComparison.Ordinal);
                if (end < 0) continue;
                headEnd = end + 4;
                var header = text[..end].Split("\r\n").FirstOrDefault(h => h.StartsWith("Content-Length:", StringComparison.OrdinalIgnoreCase));
                length = header is null ? 0 : int.Parse(header["Content-Length:".Length..].Trim(), CultureInfo.InvariantCulture);
            }
        }
        if (headEnd < 0) return data.Count == 0 ? null : throw new InvalidDataException($"An incomplete response: {Encoding.ASCII.GetString([.. data])}");
        var all = Encoding.UTF8.GetString([.. data]);
        return (int.Parse(all.AsSpan(9, 3), CultureInfo.InvariantCulture), all[headEnd..]);
    }

    [Theory]
    [InlineData("POST", "/topics/t.pin", "application/vnd.kafka.json.v2+json", "\"error_code\":408")]
    [InlineData("PUT", $"/streams/{Stream}/records", "application/json", "\"__type\":\"RequestTimeoutException\"")]
    public async Task A_body_slower_than_the_minimum_rate_is_408_in_the_familys_shape_and_one_information_line_without_stack(string method, string path, string type, string shape)
    {
        using var logs = new CapturedLogs();
        using var factory = logs.Factory();
        await using var api = await IngestApiHarness.StartAsync(null, null, factory, ("t.pin", 1), (Stream, 1));

        // Headers promise 100,000 bytes; one arrives, then nothing: Kestrel gives up after its grace period (5 s).
        using var tcp = await SendAsync(api, $"{method} {path} HTTP/1.1\r\nHost: 127.0.0.1:{api.Server.BaseAddress.Port}\r\nContent-Type: {type}\r\nContent-Length: 100000\r\n\r\n{{");
        var response = await ReadResponseAsync(tcp);

        Assert.NotNull(response);
        Assert.Equal(408, response.Value.Status);
        Assert.Contains(shape, response.Value.Body, StringComparison.Ordinal);
        Assert.Contains("arrived too slowly", JsonDocument.Parse(response.Value.Body).RootElement.GetProperty("message").GetString(), StringComparison.Ordinal);
        Assert.Equal(0, await api.TotalRecordsAsync());
        Assert.DoesNotContain(logs.Entries, e => e.Level >= LogLevel.Warning || e.Exception is not null && e.Level >= LogLevel.Information);
        var line = Assert.Single(logs.Entries, e => e.Category == typeof(IngestServer).FullName);
        Assert.Equal(LogLevel.Information, line.Level);
        Assert.Null(line.Exception);
        Assert.Contains($"408 Request Timeout to 127.0.0.1: the body of {method} {path} arrived more slowly than the minimum data rate", line.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Connections_past_Ingest_MaxConcurrentConnections_are_closed_unanswered_until_one_closes()
    {
        await using var api = await IngestApiHarness.StartAsync(new IngestOptions { MaxConcurrentConnections = 1 });

        using (var first = await SendAsync(api, Get(api)))
        {
            Assert.Equal((200, "ok"), await ReadResponseAsync(first));
            // The first connection stays open (keep-alive): a second one is over the limit.
            using var second = await SendAsync(api, Get(api));
            Assert.Null(await ReadResponseAsync(second));
        }

        // Once the server has seen the first connection close, a new one is served.
        for (int attempt = 1; ; attempt++)
        {
            using var next = await SendAsync(api, Get(api));
            if (await ReadResponseAsync(next) is { } answer)
            {
                Assert.Equal((200, "ok"), answer);
                break;
            }
            Assert.True(attempt < 500, "the server never freed the first connection's slot");
            await Task.Delay(20);
        }
    }
}
