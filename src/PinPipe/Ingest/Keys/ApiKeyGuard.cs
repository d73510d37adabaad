using System.Net;
using System.Threading.RateLimiting;
using Microsoft.AspNetCore.Http;
using PinPipe.Errors;

namespace PinPipe.Ingest.Keys;

/// <summary>
/// Checks the API key of every request, after <see cref="RequestGuard"/> and before any route runs (so a refused request
/// writes nothing). The key comes in <c>x-api-key</c> (API Gateway's header) or <c>Authorization: Bearer &lt;key&gt;</c>.
/// Creating and deleting streams needs an admin key; producing (<c>POST /topics/{t}[/partitions/{p}]</c>,
/// <c>PUT /streams/{s}/record(s)</c>) a produce or admin key whose pattern matches the topic or stream; reading (lists,
/// descriptions) any valid key; <c>/healthz</c> and <c>/readyz</c> none. A missing, unknown, revoked or out-of-scope key gets 403 in the
/// route family's shape, saying what is wrong and never echoing the key. The dashboard's paths (<c>/ui</c>) also take the key
/// from the dashboard's cookie and send a request without a valid one to its sign-in form (<see cref="UiAsync"/>).
/// </summary>
/// <remarks>
/// Keys are needed whenever the key file holds a key (revoked ones included: revoking the last key does not open the
/// API), and always when the API listens beyond loopback without <see cref="IngestOptions.AllowAnonymous"/>. The file
/// is looked at on every request (one <c>stat</c>) and read again when its time or size changed, so keys created or
/// revoked while the server runs count from the next request. A key file that cannot be read refuses every request
/// until it can. A key with a rate limit that makes more requests per second gets 429 with <c>Retry-After</c>.
/// </remarks>
public sealed class ApiKeyGuard : IDisposable
{
    private readonly KeyStore? _store;
    private readonly bool _alwaysOn;
    private Snapshot _current;

    /// <summary>
    /// The rate limits of the keys that have one (<see cref="ApiKey.RateLimit"/>): a token bucket per key name and limit, of
    /// as many tokens as requests per second, refilled every second; a request finding it empty is answered 429 at once
    /// (no queue), with Retry-After.
    /// </summary>
    private readonly PartitionedRateLimiter<ApiKey> _limits = PartitionedRateLimiter.Create<ApiKey, string>(key =>
        key.RateLimit is int limit
            ? RateLimitPartition.GetTokenBucketLimiter(key.Name + "/" + limit.ToString(System.Globalization.CultureInfo.InvariantCulture), _ => new TokenBucketRateLimiterOptions
            {
                TokenLimit = limit,
                TokensPerPeriod = limit,
                ReplenishmentPeriod = TimeSpan.FromSeconds(1),
                QueueLimit = 0,
                AutoReplenishment = true,
            })
            : RateLimitPartition.GetNoLimiter(key.Name), StringComparer.Ordinal);

    private ApiKeyGuard(KeyStore? store, bool alwaysOn, Snapshot first)
    {
        _store = store;
        _alwaysOn = alwaysOn;
        _current = first;
    }

    /// <summary>
    /// The guard of <paramref name="options"/>. Refuses (<c>ingest.no_keys</c>, bad input) to guard an API listening beyond
    /// loopback with no valid key unless <see cref="IngestOptions.AllowAnonymous"/>, naming both ways out.
    /// </summary>
    /// <exception cref="IngestException">No key beyond loopback, or the key file cannot be read.</exception>
    public static ApiKeyGuard Create(IngestOptions options) => Create(options, servesUi: false);

    /// <summary>As <see cref="Create(IngestOptions)"/>; <paramref name="servesUi"/>: the server maps the dashboard under <c>/ui</c>, whose paths then take the sign-in cookie (else they are refused as any other).</summary>
    public static ApiKeyGuard Create(IngestOptions options, bool servesUi)
    {
        var (store, first, alwaysOn) = Prepare(options);
        return new ApiKeyGuard(store, alwaysOn, first) { ServesUi = servesUi };
    }

    /// <summary>Whether the dashboard is served under <c>/ui</c>: only then do its paths take the cookie and send a refused page to the sign-in form.</summary>
    private bool ServesUi { get; init; }

    /// <summary>What <see cref="Create"/> checks, without making a guard: throws when an API of <paramref name="options"/> may not start.</summary>
    /// <exception cref="IngestException">No key beyond loopback, or the key file cannot be read.</exception>
    public static void CheckCanStart(IngestOptions options) => Prepare(options);

    private static (KeyStore? Store, Snapshot First, bool AlwaysOn) Prepare(IngestOptions options)
    {
        var store = options.KeysFile is { Length: > 0 } path ? new KeyStore(path) : null;
        var first = Snapshot.Load(store);
        if (first.Error is { } error) throw error;
        string? beyond = BeyondLoopback(options.Urls);
        if (beyond is not null && !options.AllowAnonymous && !first.Keys.AnyValid)
            throw new IngestException("ingest.no_keys", ErrorKind.BadInput,
                $"The API would listen on {beyond}, beyond loopback, with no API key defined: anyone who reaches it could write to it and delete streams. " +
                "Create a key first (`pinpipe keys create NAME`, then send it in x-api-key), or serve without keys with --allow-anonymous (Ingest:AllowAnonymous)",
                where: store?.Path ?? "Ingest:KeysFile");
        return (store, first, beyond is not null && !options.AllowAnonymous);
    }

    /// <summary>
    /// Whether an API of <paramref name="options"/> would need keys now: beyond loopback unless anonymous is allowed, else
    /// once the key file holds a key (what <c>pinpipe up</c> asks before it gives its emulators a key of their own).
    /// </summary>
    /// <exception cref="IngestException">The key file cannot be read.</exception>
    public static bool KeysNeeded(IngestOptions options) =>
        BeyondLoopback(options.Urls) is not null && !options.AllowAnonymous
        || options.KeysFile is { Length: > 0 } path && new KeyStore(path).List().Count > 0;

    /// <summary>
    /// The first of <paramref name="urls"/> (<c>;</c>-separated) that listens beyond loopback (all interfaces, a name other than
    /// <c>localhost</c>, another address), or null when all listen on <c>localhost</c>, <c>127.x.x.x</c> or <c>[::1]</c>.
    /// </summary>
    private static string? BeyondLoopback(string urls)
    {
        foreach (string url in RequestGuard.Split(urls))
        {
            string normalized = url.Replace("://+", "://0.0.0.0", StringComparison.Ordinal).Replace("://*", "://0.0.0.0", StringComparison.Ordinal);
            if (!Uri.TryCreate(normalized, UriKind.Absolute, out var uri)) return url;
            string host = uri.Host.Trim('[', ']');
            bool loopback = string.Equals(host, "localhost", StringComparison.OrdinalIgnoreCase) || IPAddress.TryParse(host, out var ip) && IPAddress.IsLoopback(ip);
            if (!loopback) return url;
        }
        return null;
    }

    public Task InvokeAsync(HttpContext context, RequestDelegate next)
    {
        var request = context.Request;
        // The health probes stay open: a load balancer or orchestrator carries no key.
        if (request.Path.Equals("/healthz", StringComparison.OrdinalIgnoreCase) || request.Path.Equals("/readyz", StringComparison.OrdinalIgnoreCase)) return next(context);
        var now = Current();
        if (!_alwaysOn && now.Error is null && now.Keys.Keys.Count == 0) return next(context);
        if (now.Error is not null)
            return Deny(context, next, "The server cannot read its key file, so no key can be checked; its operator must repair it. Nothing was done.");

        string? secret = Presented(request);
        if (secret is null)
            return Deny(context, next, "This API needs an API key: send it in the x-api-key header or as 'Authorization: Bearer <key>' " +
                "(`pinpipe keys create NAME` makes one). Nothing was done.");
        var key = now.Keys.Find(secret);
        if (key is null || key.Revoked)
            return Deny(context, next, "The API key is unknown or revoked. Nothing was done.");

        var (need, target) = Classify(request);
        if (need == Need.Admin && key.Scope != KeyScope.Admin)
            return Deny(context, next, $"{(target is null ? "This request" : $"Creating or deleting the stream '{target}'")} needs an admin key; " +
                $"key '{key.Name}' has the scope produce. Nothing was done.");
        if (need == Need.Produce && !key.MayProduceTo(target!))
            return Deny(context, next, $"Key '{key.Name}' may not produce to '{target}' (it may produce to '{key.Topics}'). Nothing was written.");
        if (key.RateLimit is not null)
        {
            using var lease = _limits.AttemptAcquire(key);
            if (!lease.IsAcquired)
            {
                var after = lease.TryGetMetadata(MetadataName.RetryAfter, out var wait) ? wait : TimeSpan.FromSeconds(1);
                int seconds = Math.Max(1, (int)Math.Ceiling(after.TotalSeconds));
                return Throttle(context, seconds, $"Key '{key.Name}' may make at most {key.RateLimit} requests per second; retry after {seconds} s (Retry-After). Nothing was written.");
            }
        }
        return next(context);
    }

    /// <summary>The dashboard's path (<c>/ui</c>, under the path base): its pages and its API.</summary>
    internal const string UiPath = "/ui";

    /// <summary>The dashboard's sign-in page (GET: the form; POST: checks the key and sets the cookie) and sign-out (POST).</summary>
    internal const string UiSignInPath = "/ui/signin";

    /// <summary>The dashboard's sign-out (POST): clears the cookie.</summary>
    internal const string UiSignOutPath = "/ui/signout";

    /// <summary>The cookie holding the dashboard's key (HttpOnly, SameSite=Strict, Path=/ui): read on the dashboard's paths only.</summary>
    internal const string UiCookie = "pinpipe_ui_key";

    /// <summary>The dashboard's static files (its script and style sheet: no data), open to all so that the sign-in page has its style.</summary>
    internal const string UiAssetsPath = "/ui/assets";

    /// <summary>The dashboard's data (<c>/ui/api/…</c>): refused with 401 and a small JSON body rather than sent to the sign-in page.</summary>
    internal const string UiApiPath = "/ui/api";

    /// <summary>Whether <paramref name="request"/> is for the dashboard (<c>/ui</c> or below).</summary>
    internal static bool IsUiPath(HttpRequest request) => request.Path.StartsWithSegments(UiPath, StringComparison.OrdinalIgnoreCase);

    /// <summary>
    /// Whether the API checks keys now (the key file holds a key, or it listens beyond loopback without
    /// <see cref="IngestOptions.AllowAnonymous"/>, or its key file cannot be read): then the dashboard needs a sign-in.
    /// </summary>
    internal bool KeysRequired
    {
        get
        {
            var now = Current();
            return _alwaysOn || now.Error is not null || now.Keys.Keys.Count > 0;
        }
    }

    /// <summary>
    /// The valid (known, not revoked) key whose secret is <paramref name="secret"/>, compared in constant time; null for an
    /// unknown or revoked key, or when the key file cannot be read. Any valid key, whatever its scope, may watch the dashboard.
    /// </summary>
    internal ApiKey? Authenticate(string? secret)
    {
        if (string.IsNullOrWhiteSpace(secret)) return null;
        var now = Current();
        if (now.Error is not null) return null;
        return now.Keys.Find(secret.Trim()) is { Revoked: false } key ? key : null;
    }

    /// <summary>
    /// The dashboard's paths: open when keys are off; else the sign-in and sign-out pages (they check the key themselves)
    /// and the static files pass, and every other path needs a valid key in the dashboard's cookie (or a header, as on the API). Without
    /// one, a page is sent to the sign-in form (303) and the dashboard's data answers 401: never the API's JSON 403.
    /// The cookie counts on these paths only: on the ingest routes a browser would send it with cross-site requests.
    /// </summary>
    private Task UiAsync(HttpContext context, RequestDelegate next)
    {
        var request = context.Request;
        if (!KeysRequired) return next(context);
        if (request.Path.Equals(UiSignInPath, StringComparison.OrdinalIgnoreCase) || request.Path.Equals(UiSignOutPath, StringComparison.OrdinalIgnoreCase)
            || request.Path.StartsWithSegments(UiAssetsPath, StringComparison.OrdinalIgnoreCase))
            return next(context);
        var key = Authenticate(request.Cookies[UiCookie]) ?? Authenticate(Presented(request));
        if (key is not null)
        {
            return next(context);
        }
        context.Response.Headers.CacheControl = "no-store";
        if (request.Path.StartsWithSegments(UiApiPath, StringComparison.OrdinalIgnoreCase))
        {
            context.Response.StatusCode = StatusCodes.Status401Unauthorized;
            context.Response.ContentType = "application/json";
            return context.Response.WriteAsync("""{"message":"Sign in to the dashboard first."}""");
        }
        context.Response.StatusCode = StatusCodes.Status303SeeOther;
        context.Response.Headers.Location = request.PathBase + UiSignInPath;
        return Task.CompletedTask;
    }

    /// <summary>429 with <c>Retry-After</c>, in the route family's shape (API Gateway throttles with 429 too).</summary>
    private static Task Throttle(HttpContext context, int seconds, string message)
    {
        context.Response.Headers.RetryAfter = seconds.ToString(System.Globalization.CultureInfo.InvariantCulture);
        return RequestGuard.IsKinesisRoute(context.Request)
            ? KinesisError.Of(429, "ThrottlingException", message).WriteAsync(context.Response)
            : new RestError(429, 42901, message).WriteAsync(context.Response);
    }

    /// <summary>Stops the rate limits' timers.</summary>
    public void Dispose() => _limits.Dispose();

    /// <summary>The key the request carries: <c>x-api-key</c>, else a bearer token; null when it carries none (or several).</summary>
    private static string? Presented(HttpRequest request)
    {
        var header = request.Headers["x-api-key"];
        if (header.Count == 1 && !string.IsNullOrEmpty(header[0])) return header[0]!.Trim();
        var authorization = request.Headers.Authorization;
        if (authorization.Count == 1 && authorization[0] is { } value && value.StartsWith("Bearer ", StringComparison.OrdinalIgnoreCase))
        {
            string token = value["Bearer ".Length..].Trim();
            return token.Length > 0 ? token : null;
        }
        return null;
    }

    private enum Need { Read, Produce, Admin }

    /// <summary>
    /// What the request does, from its method and path as the routes match them (literal segments in any case, a trailing
    /// slash ignored): produce to a topic or stream (named), create or delete a stream (named), or read. A changing method
    /// on any other path needs an admin key: no route the guard does not know of is open to a produce key.
    /// </summary>
    private static (Need Need, string? Target) Classify(HttpRequest request)
    {
        string method = request.Method;
        if (HttpMethods.IsGet(method) || HttpMethods.IsHead(method) || HttpMethods.IsOptions(method)) return (Need.Read, null);
        var s = (request.Path.Value ?? "").Split('/', StringSplitOptions.RemoveEmptyEntries);
        static bool Is(string segment, string literal) => string.Equals(segment, literal, StringComparison.OrdinalIgnoreCase);
        if (HttpMethods.IsPost(method) && s.Length >= 2 && Is(s[0], "topics") && (s.Length == 2 || s.Length == 4 && Is(s[2], "partitions")))
            return (Need.Produce, s[1]);
        if (HttpMethods.IsPut(method) && s.Length == 3 && Is(s[0], "streams") && (Is(s[2], "record") || Is(s[2], "records")))
            return (Need.Produce, s[1]);
        if ((HttpMethods.IsPost(method) || HttpMethods.IsDelete(method)) && s.Length == 2 && Is(s[0], "streams"))
            return (Need.Admin, s[1]);
        return (Need.Admin, null);
    }

    /// <summary>
    /// A request the API's checks refuse: 403 in its route family's shape, except on the dashboard's paths, which take the
    /// key from their cookie too and answer with the sign-in page (<see cref="UiAsync"/>). Looked at only here, on the way
    /// out, so that a request with a valid key does no work for the dashboard.
    /// </summary>
    private Task Deny(HttpContext context, RequestDelegate next, string message) => ServesUi && IsUiPath(context.Request) ? UiAsync(context, next) : Refuse(context, message);

    private static Task Refuse(HttpContext context, string message) => RequestGuard.Refuse(context, 403, "AccessDeniedException", message);

    /// <summary>How often the key file's time and size are looked at: a stat on every request cost ~1 µs of a ~20 µs request.</summary>
    internal static readonly TimeSpan RecheckEvery = TimeSpan.FromSeconds(1);

    private static readonly long RecheckTicks = (long)(RecheckEvery.TotalSeconds * System.Diagnostics.Stopwatch.Frequency);

    private long _nextCheck;

    /// <summary>The key file's keys as last read, re-read when its time or size changed (looked at at most every <see cref="RecheckEvery"/>).</summary>
    private Snapshot Current()
    {
        var known = Volatile.Read(ref _current);
        if (_store is null) return known;
        long now = System.Diagnostics.Stopwatch.GetTimestamp();
        long next = Volatile.Read(ref _nextCheck);
        // One request per period looks; the others meanwhile keep the keys as they were.
        if (now < next || Interlocked.CompareExchange(ref _nextCheck, now + RecheckTicks, next) != next) return known;
        var stamp = Stamp.Of(_store.Path);
        if (stamp == known.Stamp) return known;
        var fresh = Snapshot.Load(_store, stamp);
        Volatile.Write(ref _current, fresh);
        return fresh;
    }

    /// <summary>What identifies a version of the key file: whether it exists, its write time and its size.</summary>
    private readonly record struct Stamp(bool Exists, DateTime WriteTime, long Length)
    {
        public static Stamp Of(string path)
        {
            var info = new FileInfo(path);
            return info.Exists ? new Stamp(true, info.LastWriteTimeUtc, info.Length) : default;
        }
    }

    /// <summary>The keys read at <see cref="Stamp"/>, or why they could not be read.</summary>
    private sealed record Snapshot(Stamp Stamp, KeySet Keys, IngestException? Error)
    {
        public static Snapshot Load(KeyStore? store) => Load(store, store is null ? default : Stamp.Of(store.Path));

        public static Snapshot Load(KeyStore? store, Stamp stamp)
        {
            if (store is null) return new Snapshot(stamp, KeySet.Empty, null);
            try
            {
                return new Snapshot(stamp, store.Read(), null);
            }
            catch (IngestException ex)
            {
                return new Snapshot(stamp, KeySet.Empty, ex);
            }
        }
    }
}
