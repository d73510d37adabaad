using System.Collections.Concurrent;
using System.Text.Encodings.Web;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Routing;
using Microsoft.Extensions.DependencyInjection;
using PinPipe.Ingest.Keys;

namespace PinPipe.Hosting.Web;

/// <summary>
/// The live dashboard the API serves at <c>/ui/</c>: a page drawing both lanes (its script polls <c>/ui/api/state</c>
/// every second), the runs' HTML reports under <c>/ui/runs/</c>, and the sign-in form that keeps the API key in an HttpOnly
/// cookie. <see cref="ApiKeyGuard"/> checks that cookie on these paths only; every file is embedded in the assembly and
/// served with a strict Content-Security-Policy (nothing from elsewhere).
/// </summary>
internal static class Dashboard
{
    /// <summary>The page's policy: its own script, style, data and forms only; no inline script, no framing.</summary>
    internal const string PagePolicy = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'";

    /// <summary>A run's report: its inline style sheet only, nothing else (no script, no request anywhere), sandboxed.</summary>
    internal const string ReportPolicy = "default-src 'none'; style-src 'unsafe-inline'; img-src data:; frame-ancestors 'none'; base-uri 'none'; form-action 'none'; sandbox";

    private const int MaxKeyLength = 256;
    private static readonly ConcurrentDictionary<string, byte[]> Assets = new(StringComparer.Ordinal);

    /// <summary>Maps the dashboard's routes over <paramref name="state"/>.</summary>
    public static void Map(IEndpointRouteBuilder endpoints, DashboardState state)
    {
        // One route for /ui and /ui/ (routing does not tell them apart): the page is at /ui/, so that its links are relative.
        endpoints.MapGet("/ui", (HttpContext c) => c.Request.Path.Value!.EndsWith('/') ? WriteAssetAsync(c, "index.html") : Redirect(c, "/ui/"));
        endpoints.MapGet("/ui/assets/{name}", (HttpContext c, string name) => WriteAssetAsync(c, name));
        endpoints.MapGet("/ui/api/state", async (HttpContext c) =>
        {
            byte[] json = await state.GetJsonAsync(c.RequestAborted).ConfigureAwait(false);
            Harden(c.Response, PagePolicy);
            // Whether the API checks keys: the page offers to sign out only then.
            c.Response.Headers["X-PinPipe-Keys"] = Guard(c).KeysRequired ? "on" : "off";
            c.Response.ContentType = "application/json; charset=utf-8";
            await c.Response.Body.WriteAsync(json, c.RequestAborted).ConfigureAwait(false);
        });
        endpoints.MapGet("/ui/runs/{runId}/report.html", (HttpContext c, string runId) => WriteReportAsync(c, state, runId));
        endpoints.MapGet("/ui/signin", (HttpContext c) => Guard(c).KeysRequired ? WriteSignInAsync(c, 200, null) : Redirect(c, "/ui/"));
        endpoints.MapPost("/ui/signin", SignInAsync);
        endpoints.MapPost("/ui/signout", (HttpContext c) =>
        {
            c.Response.Cookies.Delete(ApiKeyGuard.UiCookie, CookieOptions(c));
            return Redirect(c, "/ui/signin");
        });
    }

    private static ApiKeyGuard Guard(HttpContext context) => context.RequestServices.GetRequiredService<ApiKeyGuard>();

    /// <summary>
    /// Checks the posted key (constant time, by <see cref="ApiKeyGuard"/>): a valid one is kept in the cookie and the
    /// dashboard opens; a missing, unknown or revoked one gets the form again (401) saying so.
    /// </summary>
    private static async Task SignInAsync(HttpContext context)
    {
        var guard = Guard(context);
        if (!guard.KeysRequired)
        {
            await Redirect(context, "/ui/").ConfigureAwait(false);
            return;
        }
        string? secret = null;
        if (context.Request.HasFormContentType)
        {
            var form = await context.Request.ReadFormAsync(context.RequestAborted).ConfigureAwait(false);
            secret = form["key"].ToString().Trim();
        }
        if (string.IsNullOrEmpty(secret))
        {
            await WriteSignInAsync(context, 401, "Enter an API key.").ConfigureAwait(false);
            return;
        }
        if (secret.Length > MaxKeyLength || guard.Authenticate(secret) is null)
        {
            await WriteSignInAsync(context, 401, "That key is unknown or revoked. Check it (`pinpipe keys list`) or create one (`pinpipe keys create NAME`).").ConfigureAwait(false);
            return;
        }
        context.Response.Cookies.Append(ApiKeyGuard.UiCookie, secret, CookieOptions(context));
        await Redirect(context, "/ui/").ConfigureAwait(false);
    }

    /// <summary>HttpOnly, SameSite=Strict, Secure over https, for the dashboard's paths only; a session cookie.</summary>
    private static CookieOptions CookieOptions(HttpContext context) => new()
    {
        HttpOnly = true,
        SameSite = SameSiteMode.Strict,
        Secure = context.Request.IsHttps,
        Path = context.Request.PathBase + ApiKeyGuard.UiPath,
        IsEssential = true,
    };

    private static Task Redirect(HttpContext context, string path)
    {
        Harden(context.Response, PagePolicy);
        context.Response.StatusCode = StatusCodes.Status303SeeOther;
        context.Response.Headers.Location = context.Request.PathBase + path;
        return Task.CompletedTask;
    }

    private static Task WriteSignInAsync(HttpContext context, int status, string? message)
    {
        string page = Text("signin.html")
            .Replace("{{message}}", message is null ? "" : $"<p class=\"message\" role=\"alert\">{HtmlEncoder.Default.Encode(message)}</p>", StringComparison.Ordinal);
        Harden(context.Response, PagePolicy);
        context.Response.StatusCode = status;
        context.Response.ContentType = "text/html; charset=utf-8";
        return context.Response.WriteAsync(page, context.RequestAborted);
    }

    private static async Task WriteReportAsync(HttpContext context, DashboardState state, string runId)
    {
        string? folder = state.RunFolder(runId);
        string? path = folder is null ? null : Path.Combine(folder, "report.html");
        Harden(context.Response, ReportPolicy);
        if (path is null || !File.Exists(path))
        {
            context.Response.StatusCode = StatusCodes.Status404NotFound;
            context.Response.ContentType = "text/plain; charset=utf-8";
            await context.Response.WriteAsync($"No report for run '{runId}'.", context.RequestAborted).ConfigureAwait(false);
            return;
        }
        context.Response.ContentType = "text/html; charset=utf-8";
        await context.Response.SendFileAsync(path, context.RequestAborted).ConfigureAwait(false);
    }

    private static Task WriteAssetAsync(HttpContext context, string name)
    {
        Harden(context.Response, PagePolicy);
        if (Bytes(name) is not { } bytes)
        {
            context.Response.StatusCode = StatusCodes.Status404NotFound;
            return Task.CompletedTask;
        }
        context.Response.ContentType = Path.GetExtension(name) switch
        {
            ".html" => "text/html; charset=utf-8",
            ".js" => "text/javascript; charset=utf-8",
            ".css" => "text/css; charset=utf-8",
            ".svg" => "image/svg+xml",
            _ => "application/octet-stream",
        };
        return context.Response.Body.WriteAsync(bytes, context.RequestAborted).AsTask();
    }

    /// <summary>Headers of every dashboard response: the policy, no sniffing, no referrer beyond this site, no caching (the page holds live data).</summary>
    private static void Harden(HttpResponse response, string policy)
    {
        response.Headers.ContentSecurityPolicy = policy;
        response.Headers.XContentTypeOptions = "nosniff";
        // same-origin, not no-referrer: with no-referrer a form post carries "Origin: null", which RequestGuard refuses.
        response.Headers["Referrer-Policy"] = "same-origin";
        response.Headers.XFrameOptions = "DENY";
        response.Headers.CacheControl = "no-store";
    }

    /// <summary>An embedded file of <c>Hosting/Web/Assets</c> (only names made of letters, digits, '-' and one '.'), or null.</summary>
    internal static byte[]? Bytes(string name)
    {
        if (name.Length is 0 or > 64 || !name.All(c => char.IsAsciiLetterOrDigit(c) || c is '-' or '.') || name.Count(c => c == '.') != 1) return null;
        if (Assets.TryGetValue(name, out var known)) return known;
        using var stream = typeof(Dashboard).Assembly.GetManifestResourceStream($"PinPipe.Hosting.Web.Assets.{name}");
        if (stream is null) return null;
        using var copy = new MemoryStream();
        stream.CopyTo(copy);
        return Assets[name] = copy.ToArray();
    }

    private static string Text(string name) => System.Text.Encoding.UTF8.GetString(Bytes(name) ?? throw new InvalidOperationException($"The dashboard's file {name} is not embedded."));
}
