using System.Diagnostics;
using System.Globalization;
using System.Text;
using System.Text.Json;

namespace PinPipe.Tests.Support;

/// <summary>
/// A real Prometheus (Debian's <c>prometheus</c>, which the test command installs) on a private loopback port, scraping
/// the given targets every second, optionally with a bearer key read from a file; queried through its HTTP API.
/// </summary>
internal sealed class PrometheusServer : IAsyncDisposable
{
    private readonly Process _process;
    private readonly TempDirectory _dir;
    private readonly StringBuilder _output = new();

    private PrometheusServer(Process process, TempDirectory dir, Uri address)
    {
        _process = process;
        _dir = dir;
        Address = address;
        Client = new HttpClient { BaseAddress = address };
    }

    public Uri Address { get; }

    public HttpClient Client { get; }

    private string Output { get { lock (_output) return _output.ToString(); } }

    /// <summary>The binary: $TEST_PROMETHEUS, else prometheus on PATH, else /usr/bin/prometheus.</summary>
    public static string Binary()
    {
        if (Environment.GetEnvironmentVariable("TEST_PROMETHEUS") is { Length: > 0 } set) return set;
        foreach (string dir in (Environment.GetEnvironmentVariable("PATH") ?? "").Split(':', StringSplitOptions.RemoveEmptyEntries))
            if (File.Exists(Path.Combine(dir, "prometheus"))) return Path.Combine(dir, "prometheus");
        return "/usr/bin/prometheus";
    }

    /// <summary>Starts Prometheus scraping each target (<c>host:port</c>) at <c>/metrics</c> every second, with <c>Authorization: Bearer</c> the key when given.</summary>
    public static async Task<PrometheusServer> StartAsync(IReadOnlyList<string> targets, string? bearerKey)
    {
        string binary = Binary();
        Assert.True(File.Exists(binary), $"Prometheus is not installed at {binary}: scripts/test.sh installs Debian's prometheus package (or set TEST_PROMETHEUS).");
        var dir = new TempDirectory("prometheus");
        var config = new StringBuilder();
        config.AppendLine("global:\n  scrape_interval: 1s\n  evaluation_interval: 1s\nscrape_configs:\n  - job_name: pinpipe\n    scrape_interval: 1s\n    scrape_timeout: 1s\n    metrics_path: /metrics");
        if (bearerKey is not null)
        {
            string keyFile = dir.File("key");
            await File.WriteAllTextAsync(keyFile, bearerKey);
            config.AppendLine(CultureInfo.InvariantCulture, $"    authorization:\n      type: Bearer\n      credentials_file: {keyFile}");
        }
        config.AppendLine("    static_configs:\n      - targets: [" + string.Join(", ", targets.Select(t => $"'{t}'")) + "]");
        string configFile = dir.File("prometheus.yml");
        await File.WriteAllTextAsync(configFile, config.ToString());

        int port = CliProcess.FreePort();
        var info = new ProcessStartInfo(binary)
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
        };
        foreach (string arg in new[]
        {
            $"--config.file={configFile}", $"--storage.tsdb.path={dir.File("data")}", $"--web.listen-address=127.0.0.1:{port}",
            "--storage.tsdb.retention.time=1h", "--log.level=warn",
        }) info.ArgumentList.Add(arg);
        var process = new Process { StartInfo = info };
        var server = new PrometheusServer(process, dir, new Uri($"http://127.0.0.1:{port}/"));
        try
        {
            process.OutputDataReceived += (_, e) => { if (e.Data is not null) lock (server._output) server._output.AppendLine(e.Data); };
            process.ErrorDataReceived += (_, e) => { if (e.Data is not null) lock (server._output) server._output.AppendLine(e.Data); };
            process.Start();
            process.BeginOutputReadLine();
            process.BeginErrorReadLine();
            await server.WaitReadyAsync();
            return server;
        }
        catch
        {
            await server.DisposeAsync();
            throw;
        }
    }

    private async Task WaitReadyAsync()
    {
        var deadline = DateTime.UtcNow + TimeSpan.FromSeconds(30);
        while (true)
        {
            Assert.False(_process.HasExited, $"Prometheus exited at start: {Output}");
            try
            {
                using var ready = await Client.GetAsync("-/ready");
                if (ready.IsSuccessStatusCode) return;
            }
            catch (HttpRequestException) { }
            Assert.True(DateTime.UtcNow < deadline, $"Prometheus not ready in 30 s: {Output}");
            await Task.Delay(100);
        }
    }

    /// <summary>The values of an instant query (<c>/api/v1/query</c>), by the series' labels joined as text.</summary>
    public async Task<List<(IReadOnlyDictionary<string, string> Labels, double Value)>> QueryAsync(string promql)
    {
        using var response = await Client.GetAsync("api/v1/query?query=" + Uri.EscapeDataString(promql));
        string body = await response.Content.ReadAsStringAsync();
        Assert.True(response.IsSuccessStatusCode, $"query {promql}: {(int)response.StatusCode} {body}");
        using var doc = JsonDocument.Parse(body);
        Assert.Equal("success", doc.RootElement.GetProperty("status").GetString());
        var data = doc.RootElement.GetProperty("data");
        Assert.Equal("vector", data.GetProperty("resultType").GetString());
        return data.GetProperty("result").EnumerateArray().Select(r =>
        (
            (IReadOnlyDictionary<string, string>)r.GetProperty("metric").EnumerateObject().ToDictionary(p => p.Name, p => p.Value.GetString()!),
            double.Parse(r.GetProperty("value")[1].GetString()!, CultureInfo.InvariantCulture)
        )).ToList();
    }

    /// <summary>Queries until the single series of <paramref name="promql"/> has <paramref name="expected"/> (Prometheus scrapes every second); fails after 60 s with what it last saw and the targets' health.</summary>
    public async Task WaitForValueAsync(string promql, double expected)
    {
        var deadline = DateTime.UtcNow + TimeSpan.FromSeconds(60);
        string seen = "nothing";
        while (DateTime.UtcNow < deadline)
        {
            var result = await QueryAsync(promql);
            if (result.Count == 1 && result[0].Value == expected) return;
            seen = string.Join("; ", result.Select(r => $"{string.Join(",", r.Labels.Select(l => $"{l.Key}={l.Value}"))} = {r.Value}"));
            await Task.Delay(250);
        }
        using var targets = await Client.GetAsync("api/v1/targets");
        Assert.Fail($"{promql}: expected one series = {expected}, saw {seen}. Targets: {await targets.Content.ReadAsStringAsync()} Prometheus: {Output}");
    }

    /// <summary>The health of every scrape target (<c>up</c>), by instance.</summary>
    public async Task<Dictionary<string, double>> TargetsUpAsync() =>
        (await QueryAsync("up")).ToDictionary(r => r.Labels["instance"], r => r.Value);

    public async ValueTask DisposeAsync()
    {
        Client.Dispose();
        try
        {
            if (!_process.HasExited)
            {
                _process.Kill(entireProcessTree: true);
                await _process.WaitForExitAsync();
            }
        }
        catch (InvalidOperationException) { }
        _process.Dispose();
        _dir.Dispose();
    }
}
