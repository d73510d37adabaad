using Microsoft.Playwright;
using PinPipe.Ingest.Keys;
using PinPipe.Tests.Support;

namespace PinPipe.Tests.Hosting.Web;

/// <summary>
/// The dashboard in a real browser: Playwright driving Debian's chromium (<c>/usr/bin/chromium</c>, installed by
/// scripts/services/start.sh; Playwright never downloads a browser here) against the real API on loopback. Screenshots go
/// to <c>TestResults/screenshots</c> beside the test assembly.
/// </summary>
public sealed class DashboardBrowserTests
{
    private const string Chromium = "/usr/bin/chromium";

    /// <summary>How long a web-first assertion waits for the page to show what it should (the page polls every second).</summary>
    private static readonly LocatorAssertionsToHaveTextOptions Wait = new() { Timeout = 60_000 };

    internal static string ScreenshotFolder => Path.Combine(AppContext.BaseDirectory, "TestResults", "screenshots");

    private static async Task<(IPlaywright Playwright, IBrowser Browser)> LaunchAsync()
    {
        Environment.SetEnvironmentVariable("PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD", "1");
        Assert.True(File.Exists(Chromium), $"{Chromium} is missing: scripts/services/start.sh installs Debian's chromium.");
        var playwright = await Playwright.CreateAsync();
        try
        {
            // As root (a container, CI), chromium runs only without its sandbox.
            var browser = await playwright.Chromium.LaunchAsync(new() { ExecutablePath = Chromium, Headless = true, Args = ["--no-sandbox"] });
            return (playwright, browser);
        }
        catch
        {
            playwright.Dispose();
            throw;
        }
    }

    private static async Task ShotAsync(IPage page, string name)
    {
        Directory.CreateDirectory(ScreenshotFolder);
        await page.ScreenshotAsync(new() { Path = Path.Combine(ScreenshotFolder, name + ".png"), FullPage = true });
    }

    [Fact]
    public async Task Signs_in_sees_both_lanes_and_the_counts_change_without_a_reload()
    {
        await using var dash = await DashboardHarness.StartAsync();
        var (playwright, browser) = await LaunchAsync();
        using (playwright)
        await using (browser)
        {
            var page = await browser.NewPageAsync(new() { ViewportSize = new() { Width = 1440, Height = 1000 } });
            // Every request the page makes goes to the API; the page breaks none of its own Content-Security-Policy.
            var elsewhere = new System.Collections.Concurrent.ConcurrentBag<string>();
            var consoleErrors = new System.Collections.Concurrent.ConcurrentBag<string>();
            string origin = dash.Dashboard.GetLeftPart(UriPartial.Authority);
            page.Request += (_, request) => { if (!request.Url.StartsWith(origin + "/", StringComparison.Ordinal)) elsewhere.Add(request.Url); };
            page.Console += (_, message) => { if (message.Type == "error" && !message.Text.Contains("401", StringComparison.Ordinal)) consoleErrors.Add(message.Text + " @ " + message.Location); };
            await page.GotoAsync(dash.Dashboard.ToString());
            // Not signed in: the sign-in form, not the API's JSON 403.
            await Assertions.Expect(page.Locator("#signin-form")).ToBeVisibleAsync();

            // A wrong key: the form again, with its message.
            await page.FillAsync("#key", "ppk_not-a-key-of-this-server");
            await page.ClickAsync("button[type=submit]");
            await Assertions.Expect(page.Locator(".message")).ToContainTextAsync("unknown or revoked");
            await Assertions.Expect(page.Locator("#signin-form")).ToBeVisibleAsync();
            await ShotAsync(page, "signin-wrong-key");

            await page.FillAsync("#key", dash.Key!);
            await page.ClickAsync("button[type=submit]");
            await Assertions.Expect(page.Locator("#batch-pipeline")).ToBeVisibleAsync();
            await Assertions.Expect(page.Locator("#batch-log .count")).ToHaveTextAsync("0", Wait);
            await Assertions.Expect(page.Locator("#stream-log .count")).ToHaveTextAsync("0", Wait);
            foreach (var stage in new[] { "batch-api", "batch-log", "batch-sink", "batch-bucket", "batch-job", "batch-tables", "batch-insights", "stream-api", "stream-log", "stream-job", "stream-tables" })
                await Assertions.Expect(page.Locator($"[data-stage={stage}]")).ToBeVisibleAsync();
            await Assertions.Expect(page.Locator("#signout")).ToBeVisibleAsync();
            // A mark a reload would wipe.
            await page.EvaluateAsync("() => { window.pinpipeMark = 'still here'; }");

            await dash.PostBatchAsync(3);
            await dash.PostStreamAsync(2);

            await Assertions.Expect(page.Locator("#batch-log .count")).ToHaveTextAsync("3", Wait);
            await Assertions.Expect(page.Locator("#stream-log .count")).ToHaveTextAsync("2", Wait);
            await Assertions.Expect(page.Locator("#batch-sink")).ToContainTextAsync("lag 3", new() { Timeout = 60_000 });
            Assert.Equal("still here", await page.EvaluateAsync<string>("() => window.pinpipeMark"));
            await ShotAsync(page, "dashboard-live");
            Assert.Empty(elsewhere);
            Assert.True(consoleErrors.IsEmpty, string.Join("\n", consoleErrors));
        }
    }

    [Fact]
    public async Task After_pinpipe_up_shows_the_run_its_quality_counts_the_nine_insights_as_charts_and_its_report()
    {
        using var dir = new TempDirectory("up-browser");
        await new KeyStore(Path.Combine(dir.Path, ".pinpipe", KeyStore.DefaultFileName)).CreateAsync("someone", KeyScope.Produce, null);
        int port = CliProcess.FreePort();
        await using var up = CliProcess.Start(dir.Path, "up", "--records", "300", "--rows", "2000", "--urls", $"http://127.0.0.1:{port}", "--keep-open");
        var deadline = DateTime.UtcNow + TimeSpan.FromSeconds(240);
        while (!up.Output.Contains("(--keep-open). Ctrl-C to stop.", StringComparison.Ordinal))
        {
            Assert.False(up.HasExited, up.Output);
            Assert.True(DateTime.UtcNow < deadline, "up did not finish its run in time:\n" + up.Output);
            await Task.Delay(200);
        }
        string secret = (await File.ReadAllTextAsync(Path.Combine(dir.Path, ".pinpipe", "up.key"))).Trim();

        var (playwright, browser) = await LaunchAsync();
        using (playwright)
        await using (browser)
        {
            await using var context = await browser.NewContextAsync(new() { ViewportSize = new() { Width = 1440, Height = 1000 } });
            var page = await context.NewPageAsync();
            await page.GotoAsync($"http://127.0.0.1:{port}/ui/");
            await page.FillAsync("#key", secret);
            await page.ClickAsync("button[type=submit]");

            await Assertions.Expect(page.Locator("#runs .outcome").First).ToHaveTextAsync("succeeded", Wait);
            await Assertions.Expect(page.Locator("#insights .chart")).ToHaveCountAsync(9, new() { Timeout = 60_000 });
            await Assertions.Expect(page.Locator("#insights .chart svg rect.bar").First).ToBeVisibleAsync();
            Assert.True(await page.Locator("#quality tbody tr").CountAsync() > 1);
            await Assertions.Expect(page.Locator("#stream-tables .count")).Not.ToHaveTextAsync("0", Wait);
            await ShotAsync(page, "dashboard-after-up");

            // The run's report opens from its link, served under /ui too.
            string href = (await page.Locator("#runs a").First.GetAttributeAsync("href"))!;
            var report = await context.NewPageAsync();
            var response = await report.GotoAsync(new Uri(new Uri($"http://127.0.0.1:{port}/ui/"), href).ToString());
            Assert.Equal(200, response!.Status);
            await Assertions.Expect(report).ToHaveTitleAsync(new System.Text.RegularExpressions.Regex("^PinPipe run "));
        }
        Assert.Equal(0, await up.InterruptAsync(TimeSpan.FromSeconds(60)));
    }
}
