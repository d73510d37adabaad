using System.Net;
using System.Text;
using PinPipe.Hosting.Web;
using PinPipe.Ingest.Keys;
using PinPipe.Tests.Ingest;

namespace PinPipe.Tests.Hosting.Web;

/// <summary>
/// The dashboard's sign-in over real HTTP: a valid key is kept in an HttpOnly, SameSite=Strict cookie for <c>/ui</c>; no
/// cookie, a wrong key and a revoked key get the sign-in form (pages) or 401 (its data), never the API's JSON 403; the
/// cookie opens nothing but the dashboard; with no keys on loopback the dashboard opens without sign-in.
/// </summary>
public sealed class DashboardAuthTests
{
    private const string Cookie = "pinpipe_ui_key";

    private static async Task<HttpResponseMessage> GetAsync(HttpClient client, string path, string? cookie = null)
    {
        using var request = new HttpRequestMessage(HttpMethod.Get, path);
        if (cookie is not null) request.Headers.Add("Cookie", $"{Cookie}={cookie}");
        return await client.SendAsync(request);
    }

    private static async Task<HttpResponseMessage> SignInAsync(HttpClient client, string key)
    {
        using var content = new FormUrlEncodedContent([KeyValuePair.Create("key", key)]);
        return await client.PostAsync("ui/signin", content);
    }

    private static async Task AssertSignInFormAsync(HttpResponseMessage response, HttpStatusCode status, string? message)
    {
        string body = await response.Content.ReadAsStringAsync();
        Assert.Equal(status, response.StatusCode);
        Assert.Equal("text/html", response.Content.Headers.ContentType?.MediaType);
        Assert.Contains("id=\"signin-form\"", body, StringComparison.Ordinal);
        if (message is not null) Assert.Contains(message, body, StringComparison.Ordinal);
        Assert.False(response.Headers.Contains("Set-Cookie"), "a refused sign-in sets no cookie");
    }

    [Fact]
    public async Task Without_a_cookie_the_page_sends_to_the_sign_in_form_and_the_data_is_401()
    {
        await using var dash = await DashboardHarness.StartAsync();
        using var client = dash.NewClient();

        foreach (string path in new[] { "ui", "ui/", "ui/runs/x/report.html" })
        {
            using var page = await GetAsync(client, path);
            Assert.Equal(HttpStatusCode.SeeOther, page.StatusCode);
            Assert.Equal("/ui/signin", page.Headers.Location?.OriginalString);
        }
        using var data = await GetAsync(client, "ui/api/state");
        Assert.Equal(HttpStatusCode.Unauthorized, data.StatusCode);
        Assert.Contains("Sign in", await data.Content.ReadAsStringAsync(), StringComparison.Ordinal);
        Assert.DoesNotContain("40301", await data.Content.ReadAsStringAsync(), StringComparison.Ordinal);

        using var form = await GetAsync(client, "ui/signin");
        await AssertSignInFormAsync(form, HttpStatusCode.OK, null);
        Assert.Contains("script-src 'self'", form.Headers.GetValues("Content-Security-Policy").Single(), StringComparison.Ordinal);
    }

    [Fact]
    public async Task A_wrong_or_missing_key_gets_the_form_again_with_a_message_and_no_cookie()
    {
        await using var dash = await DashboardHarness.StartAsync();
        using var client = dash.NewClient();

        using var wrong = await SignInAsync(client, "ppk_not-a-key-of-this-server");
        await AssertSignInFormAsync(wrong, HttpStatusCode.Unauthorized, "unknown or revoked");
        using var empty = await SignInAsync(client, "");
        await AssertSignInFormAsync(empty, HttpStatusCode.Unauthorized, "Enter an API key");

        // A forged cookie opens nothing either.
        using var data = await GetAsync(client, "ui/api/state", "ppk_not-a-key-of-this-server");
        Assert.Equal(HttpStatusCode.Unauthorized, data.StatusCode);
    }

    [Fact]
    public async Task A_valid_key_sets_an_HttpOnly_SameSite_Strict_cookie_for_ui_that_opens_the_dashboard()
    {
        await using var dash = await DashboardHarness.StartAsync();
        using var client = dash.NewClient();

        using var signedIn = await SignInAsync(client, dash.Key!);

        Assert.Equal(HttpStatusCode.SeeOther, signedIn.StatusCode);
        Assert.Equal("/ui/", signedIn.Headers.Location?.OriginalString);
        string cookie = signedIn.Headers.GetValues("Set-Cookie").Single();
        Assert.StartsWith($"{Cookie}={dash.Key};", cookie, StringComparison.Ordinal);
        Assert.Contains("path=/ui", cookie, StringComparison.OrdinalIgnoreCase);
        Assert.Contains("samesite=strict", cookie, StringComparison.OrdinalIgnoreCase);
        Assert.Contains("httponly", cookie, StringComparison.OrdinalIgnoreCase);
        Assert.DoesNotContain("secure", cookie, StringComparison.OrdinalIgnoreCase); // plain http: a Secure cookie would never come back

        using var page = await GetAsync(client, "ui/", dash.Key);
        Assert.Equal(HttpStatusCode.OK, page.StatusCode);
        Assert.Contains("batch-pipeline", await page.Content.ReadAsStringAsync(), StringComparison.Ordinal);
        Assert.Equal(Dashboard.PagePolicy, page.Headers.GetValues("Content-Security-Policy").Single());
        using var data = await GetAsync(client, "ui/api/state", dash.Key);
        Assert.Equal(HttpStatusCode.OK, data.StatusCode);
        Assert.Equal("application/json", data.Content.Headers.ContentType?.MediaType);
        Assert.Equal("on", data.Headers.GetValues("X-PinPipe-Keys").Single());
        Assert.Contains("\"batch\"", await data.Content.ReadAsStringAsync(), StringComparison.Ordinal);
    }

    [Fact]
    public async Task Under_a_path_base_the_redirects_and_the_cookie_stay_under_it()
    {
        await using var dash = await DashboardHarness.StartAsync(configure: s => s with { Ingest = s.Ingest with { PathBase = "/dev" } });
        using var client = dash.NewClient();

        Assert.EndsWith("/dev/ui/", dash.Dashboard.AbsolutePath, StringComparison.Ordinal);
        using var page = await GetAsync(client, "ui/");
        Assert.Equal(HttpStatusCode.SeeOther, page.StatusCode);
        Assert.Equal("/dev/ui/signin", page.Headers.Location?.OriginalString);
        using var signedIn = await SignInAsync(client, dash.Key!);
        Assert.Equal("/dev/ui/", signedIn.Headers.Location?.OriginalString);
        Assert.Contains("path=/dev/ui", signedIn.Headers.GetValues("Set-Cookie").Single(), StringComparison.OrdinalIgnoreCase);
    }

    [Fact]
    public async Task Over_https_the_cookie_is_Secure()
    {
        using var certs = new Support.TempDirectory("dashboard-tls");
        var (cert, key, root) = TlsTests.MakeCertificate(certs);
        using (root)
        {
            await using var dash = await DashboardHarness.StartAsync(configure: s => s with
            {
                Ingest = s.Ingest with { Urls = "https://127.0.0.1:0", Certificate = cert, CertificateKey = key },
            });
            using var client = TlsTests.TrustingClient(root, dash.Host.Api!.BaseAddress, plain: true);

            using var signedIn = await SignInAsync(client, dash.Key!);

            Assert.Equal(HttpStatusCode.SeeOther, signedIn.StatusCode);
            string cookie = signedIn.Headers.GetValues("Set-Cookie").Single();
            Assert.Contains("; secure", cookie, StringComparison.OrdinalIgnoreCase);
            Assert.Contains("httponly", cookie, StringComparison.OrdinalIgnoreCase);
        }
    }

    [Fact]
    public async Task A_revoked_key_neither_signs_in_nor_keeps_a_signed_in_cookie_working()
    {
        await using var dash = await DashboardHarness.StartAsync();
        using var client = dash.NewClient();
        var (_, other) = await dash.Keys.CreateAsync("leaving", KeyScope.Produce, null);
        using (var before = await GetAsync(client, "ui/api/state", other))
            Assert.Equal(HttpStatusCode.OK, before.StatusCode);

        await dash.Keys.RevokeAsync("leaving");
        await PinPipe.Tests.Ingest.Keys.ApiKeyGuardTests.UntilKeysSeenAsync(client, other, HttpStatusCode.Forbidden);

        using var data = await GetAsync(client, "ui/api/state", other);
        Assert.Equal(HttpStatusCode.Unauthorized, data.StatusCode);
        using var page = await GetAsync(client, "ui/", other);
        Assert.Equal(HttpStatusCode.SeeOther, page.StatusCode);
        using var again = await SignInAsync(client, other);
        await AssertSignInFormAsync(again, HttpStatusCode.Unauthorized, "unknown or revoked");
    }

    [Fact]
    public async Task The_cookie_is_not_accepted_by_the_ingest_routes()
    {
        await using var dash = await DashboardHarness.StartAsync();
        using var client = dash.NewClient();

        // A browser sends the cookie with any request to the server (a cross-site form post too): it must not produce.
        using var produce = new HttpRequestMessage(HttpMethod.Post, $"topics/{dash.Settings.Names.PinTopic}")
        {
            Content = new StringContent("""{"records":[{"value":{"a":1}}]}""", Encoding.UTF8),
        };
        produce.Content.Headers.ContentType = new("application/vnd.kafka.json.v2+json");
        produce.Headers.Add("Cookie", $"{Cookie}={dash.Key}");
        using var refused = await client.SendAsync(produce);
        await KafkaRestErrorTests.AssertRestErrorAsync(refused, HttpStatusCode.Forbidden, 40301, "needs an API key");
        using var list = await GetAsync(client, "streams", dash.Key);
        Assert.Equal(HttpStatusCode.Forbidden, list.StatusCode);

        Assert.Equal(0, (await dash.Host.Log.GetWatermarksAsync(dash.Settings.Names.PinTopic, 0)).High);
    }

    [Fact]
    public async Task Sign_out_clears_the_cookie()
    {
        await using var dash = await DashboardHarness.StartAsync();
        using var client = dash.NewClient();
        using var request = new HttpRequestMessage(HttpMethod.Post, "ui/signout");
        request.Headers.Add("Cookie", $"{Cookie}={dash.Key}");

        using var response = await client.SendAsync(request);

        Assert.Equal(HttpStatusCode.SeeOther, response.StatusCode);
        Assert.Equal("/ui/signin", response.Headers.Location?.OriginalString);
        string cookie = response.Headers.GetValues("Set-Cookie").Single();
        Assert.StartsWith($"{Cookie}=;", cookie, StringComparison.Ordinal);
        Assert.Contains("expires=Thu, 01 Jan 1970", cookie, StringComparison.OrdinalIgnoreCase);
        Assert.Contains("path=/ui", cookie, StringComparison.OrdinalIgnoreCase);
    }

    [Fact]
    public async Task With_no_keys_on_loopback_the_dashboard_opens_without_sign_in()
    {
        await using var dash = await DashboardHarness.StartAsync(withKey: false);
        using var client = dash.NewClient();

        using var page = await GetAsync(client, "ui/");
        Assert.Equal(HttpStatusCode.OK, page.StatusCode);
        using var data = await GetAsync(client, "ui/api/state");
        Assert.Equal(HttpStatusCode.OK, data.StatusCode);
        Assert.Equal("off", data.Headers.GetValues("X-PinPipe-Keys").Single());
        using var signIn = await GetAsync(client, "ui/signin");
        Assert.Equal(HttpStatusCode.SeeOther, signIn.StatusCode);
        Assert.Equal("/ui/", signIn.Headers.Location?.OriginalString);
    }

    [Fact]
    public async Task The_static_files_are_embedded_and_anything_else_under_assets_is_404()
    {
        await using var dash = await DashboardHarness.StartAsync();
        using var client = dash.NewClient();

        using var script = await GetAsync(client, "ui/assets/app.js");
        Assert.Equal(HttpStatusCode.OK, script.StatusCode);
        Assert.Equal("text/javascript", script.Content.Headers.ContentType?.MediaType);
        using var style = await GetAsync(client, "ui/assets/app.css");
        Assert.Equal(HttpStatusCode.OK, style.StatusCode);
        using var icon = await GetAsync(client, "ui/assets/icon.svg");
        Assert.Equal("image/svg+xml", icon.Content.Headers.ContentType?.MediaType);
        using var other = await GetAsync(client, "ui/assets/keys.json");
        Assert.Equal(HttpStatusCode.NotFound, other.StatusCode);
        using var escape = await GetAsync(client, "ui/assets/..%2F..%2Fkeys.json");
        Assert.Equal(HttpStatusCode.NotFound, escape.StatusCode);
    }

    [Fact]
    public async Task With_the_dashboard_disabled_ui_is_not_served()
    {
        await using var dash = await DashboardHarness.StartAsync(withKey: false, configure: s => s with { Dashboard = new DashboardOptions { Enabled = false } });
        using var client = dash.NewClient();

        Assert.Null(dash.Host.DashboardAddress);
        using var page = await GetAsync(client, "ui/");
        Assert.Equal(HttpStatusCode.NotFound, page.StatusCode);
    }

    [Fact]
    public async Task With_the_dashboard_disabled_and_keys_on_ui_is_refused_as_any_route_not_sent_to_a_sign_in_form()
    {
        await using var dash = await DashboardHarness.StartAsync(withKey: true, configure: s => s with { Dashboard = new DashboardOptions { Enabled = false } });
        using var client = dash.NewClient();

        using var page = await GetAsync(client, "ui/");

        Assert.Equal(HttpStatusCode.Forbidden, page.StatusCode);
        Assert.Contains("40301", await page.Content.ReadAsStringAsync(), StringComparison.Ordinal);
        using var signIn = await GetAsync(client, "ui/sign-in");
        Assert.Equal(HttpStatusCode.Forbidden, signIn.StatusCode);
    }
}
