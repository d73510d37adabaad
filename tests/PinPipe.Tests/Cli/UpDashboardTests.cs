using System.Net;
using System.Text.Json;
using PinPipe.Ingest.Keys;
using PinPipe.Tests.Support;

namespace PinPipe.Tests.Cli;

/// <summary>
/// <c>pinpipe up --keep-open</c> as a real process: it prints the dashboard's address and how to sign in (the key file,
/// never the key), keeps serving after the batch run until Ctrl-C, and the dashboard shows that run with its report.
/// </summary>
public sealed class UpDashboardTests
{
    private static readonly TimeSpan Timeout = TimeSpan.FromSeconds(240);

    [Fact]
    public async Task Up_prints_the_dashboard_and_keeps_serving_it_until_Ctrl_C()
    {
        using var dir = new TempDirectory("up-dashboard");
        // A key exists: the API needs keys, so up makes its own (up.key) and the dashboard needs a sign-in.
        await new KeyStore(Path.Combine(dir.Path, ".pinpipe", KeyStore.DefaultFileName)).CreateAsync("someone", KeyScope.Produce, null);
        int port = CliProcess.FreePort();
        await using var up = CliProcess.Start(dir.Path, "up", "--records", "5", "--rows", "300", "--urls", $"http://127.0.0.1:{port}", "--keep-open");

        var deadline = DateTime.UtcNow + Timeout;
        while (!up.Output.Contains("(--keep-open). Ctrl-C to stop.", StringComparison.Ordinal))
        {
            Assert.False(up.HasExited, up.Output);
            Assert.True(DateTime.UtcNow < deadline, "up did not finish its run in time:\n" + up.Output);
            await Task.Delay(200);
        }

        string keyFile = Path.Combine(dir.Path, ".pinpipe", "up.key");
        string secret = (await File.ReadAllTextAsync(keyFile)).Trim();
        string output = up.Output;
        Assert.Contains($"the dashboard at http://127.0.0.1:{port}/ui/ (sign in with the key in {keyFile})", output, StringComparison.Ordinal);
        Assert.Contains("(--keep-open)", output, StringComparison.Ordinal);
        Assert.DoesNotContain(secret, output, StringComparison.Ordinal);

        // Still serving after the run: the dashboard shows it, with its report.
        using var client = new HttpClient { BaseAddress = new Uri($"http://127.0.0.1:{port}/") };
        using var request = new HttpRequestMessage(HttpMethod.Get, "ui/api/state");
        request.Headers.Add("Cookie", "pinpipe_ui_key=" + secret);
        using var response = await client.SendAsync(request);
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        using var state = JsonDocument.Parse(await response.Content.ReadAsStringAsync());
        var run = state.RootElement.GetProperty("batch").GetProperty("runs")[0];
        Assert.Equal("succeeded", run.GetProperty("outcome").GetString());
        Assert.Equal(9, state.RootElement.GetProperty("batch").GetProperty("latestRun").GetProperty("insights").GetArrayLength());
        using var report = new HttpRequestMessage(HttpMethod.Get, "ui/" + run.GetProperty("report").GetString());
        report.Headers.Add("Cookie", "pinpipe_ui_key=" + secret);
        using var reportResponse = await client.SendAsync(report);
        Assert.Equal(HttpStatusCode.OK, reportResponse.StatusCode);
        Assert.Contains("<title>PinPipe run", await reportResponse.Content.ReadAsStringAsync(), StringComparison.Ordinal);

        Assert.Equal(0, await up.InterruptAsync(TimeSpan.FromSeconds(60)));
    }
}
