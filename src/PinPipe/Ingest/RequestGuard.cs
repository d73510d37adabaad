using System.Net;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.AspNetCore.Http;

namespace PinPipe.Ingest;

/// <summary>
/// Keeps web pages away from the API, before any route runs (so a refused request writes nothing):
/// the <c>Host</c> header must name the server as it listens (400 otherwise: a page that reaches it through its own
/// DNS name, DNS rebinding), and a request carrying a browser's <c>Origin</c> must come from the server's own origin or
/// one of <see cref="IngestOptions.AllowedOrigins"/> (403 otherwise: cross-site requests). Errors take the route
/// family's shape: Kinesis under <c>/streams</c>, the REST Proxy's elsewhere.
/// </summary>
internal sealed class RequestGuard
{
    private readonly IServer _server;
    private readonly HostRule[]? _configuredHosts;
    private readonly bool _anyHost;
    private readonly bool _anyOrigin;
    private readonly HashSet<string> _origins = new(StringComparer.OrdinalIgnoreCase);
    private HostRule[]? _listenHosts;

    public RequestGuard(IngestOptions options, IServer server)
    {
        _server = server;
        var hosts = Split(options.AllowedHosts);
        _anyHost = hosts.Contains("*");
        if (hosts.Length > 0 && !_anyHost)
            _configuredHosts = [.. hosts.Select(h => TryParseHost(h, out var host, out var port)
                ? new HostRule(host, port)
                : throw new ArgumentException($"Ingest:AllowedHosts: '{h}' is not a host name or host:port.", nameof(options)))];
        foreach (var origin in Split(options.AllowedOrigins))
        {
            if (origin == "*") _anyOrigin = true;
            else if (TryNormalizeOrigin(origin, out var normalized)) _origins.Add(normalized);
            else throw new ArgumentException($"Ingest:AllowedOrigins: '{origin}' is not an origin (scheme://host[:port]).", nameof(options));
        }
    }

    /// <summary>Whether <see cref="IngestOptions.AllowedOrigins"/> lists any origin (then the API answers CORS requests from them).</summary>
    public bool HasAllowedOrigins => _anyOrigin || _origins.Count > 0;

    /// <summary>Whether <paramref name="origin"/> is one of <see cref="IngestOptions.AllowedOrigins"/>.</summary>
    public bool IsListedOrigin(string origin) => _anyOrigin || TryNormalizeOrigin(origin, out var normalized) && _origins.Contains(normalized);

    public Task InvokeAsync(HttpContext context, RequestDelegate next)
    {
        var request = context.Request;
        string host = request.Headers.Host.ToString();
        if (!HostAllowed(host, request.IsHttps))
            return Refuse(context, 400, "ValidationException",
                $"Host '{host}' is not a name this server listens as ({string.Join(", ", AllowedHostsText())}); requests through another name are refused " +
                "(DNS rebinding). Set Ingest:AllowedHosts to accept it.");
        var origins = request.Headers.Origin;
        if (origins.Count > 0 && !(origins.Count == 1 && OriginAllowed(origins.ToString(), request)))
            return Refuse(context, 403, "AccessDeniedException",
                $"Origin '{origins}' is not allowed: a web page of another site cannot use this API. Set Ingest:AllowedOrigins to allow it.");
        return next(context);
    }

    /// <summary>Whether a <c>/streams</c> route answers the request (Kinesis-shaped errors) rather than a REST Proxy one.</summary>
    internal static bool IsKinesisRoute(HttpRequest request) => request.Path.StartsWithSegments("/streams", StringComparison.Ordinal);

    /// <summary>Answers <paramref name="status"/> in the route family's shape (403 is the REST Proxy's 40301) and closes the connection.</summary>
    internal static Task Refuse(HttpContext context, int status, string kinesisType, string message)
    {
        // The body of a refused request is not worth reading.
        context.Response.Headers.Connection = "close";
        return IsKinesisRoute(context.Request)
            ? KinesisError.Of(status, kinesisType, message).WriteAsync(context.Response)
            : new RestError(status, status == 403 ? 40301 : 400, message).WriteAsync(context.Response);
    }

    private bool HostAllowed(string header, bool https)
    {
        if (_anyHost) return true;
        if (!TryParseHost(header, out var host, out var port)) return false;
        int effective = port ?? (https ? 443 : 80);
        foreach (var rule in _configuredHosts ?? ListenHosts())
            if (rule.Matches(host, effective)) return true;
        return false;
    }

    private IEnumerable<string> AllowedHostsText() => (_configuredHosts ?? ListenHosts()).Select(r => r.ToString());

    /// <summary>The default rules, from the addresses Kestrel bound (real ports, also when 0 was asked for).</summary>
    private HostRule[] ListenHosts()
    {
        if (Volatile.Read(ref _listenHosts) is { } known) return known;
        var rules = new List<HostRule>();
        foreach (var address in _server.Features.Get<IServerAddressesFeature>()?.Addresses ?? [])
        {
            if (!Uri.TryCreate(address.Replace("://+", "://0.0.0.0", StringComparison.Ordinal).Replace("://*", "://0.0.0.0", StringComparison.Ordinal), UriKind.Absolute, out var uri)) continue;
            string host = uri.Host.Trim('[', ']');
            int port = uri.Port;
            bool any = IPAddress.TryParse(host, out var ip) && (ip.Equals(IPAddress.Any) || ip.Equals(IPAddress.IPv6Any));
            if (any) rules.Add(new HostRule(HostRule.AnyIp, port));
            else rules.Add(new HostRule(host, port));
            if (host == "localhost" || ip is not null && IPAddress.IsLoopback(ip))
            {
                rules.Add(new HostRule("127.0.0.1", port));
                rules.Add(new HostRule("::1", port));
            }
            rules.Add(new HostRule("localhost", port));
        }
        var distinct = rules.Distinct().ToArray();
        if (distinct.Length > 0) Volatile.Write(ref _listenHosts, distinct);
        return distinct;
    }

    private bool OriginAllowed(string origin, HttpRequest request)
    {
        if (IsListedOrigin(origin)) return true;
        if (!TryNormalizeOrigin(origin, out var normalized)) return false;
        // Same origin: the page was served under the name and port the request addresses (which passed the Host check).
        return TryParseHost(request.Headers.Host.ToString(), out var host, out var port)
            && string.Equals(normalized, Normalize(request.Scheme, host, port ?? (request.IsHttps ? 443 : 80)), StringComparison.OrdinalIgnoreCase);
    }

    internal static bool TryNormalizeOrigin(string origin, out string normalized)
    {
        normalized = "";
        if (!Uri.TryCreate(origin, UriKind.Absolute, out var uri) || uri.Scheme is not ("http" or "https")
            || uri.PathAndQuery != "/" || !string.IsNullOrEmpty(uri.Fragment) || !string.IsNullOrEmpty(uri.UserInfo)) return false;
        normalized = Normalize(uri.Scheme, uri.Host.Trim('[', ']'), uri.Port);
        return true;
    }

    private static string Normalize(string scheme, string host, int port) =>
        $"{scheme.ToLowerInvariant()}://{host.ToLowerInvariant()}:{port.ToString(System.Globalization.CultureInfo.InvariantCulture)}";

    /// <summary>Splits <c>name</c>, <c>name:port</c>, <c>[v6]</c>, <c>[v6]:port</c> (and a bare IPv6 address); the host without brackets.</summary>
    internal static bool TryParseHost(string text, out string host, out int? port)
    {
        host = "";
        port = null;
        text = text.Trim();
        if (text.Length == 0) return false;
        string? portText = null;
        if (text[0] == '[')
        {
            int end = text.IndexOf(']', StringComparison.Ordinal);
            if (end < 0) return false;
            host = text[1..end];
            var rest = text[(end + 1)..];
            if (rest.Length > 0)
            {
                if (rest[0] != ':') return false;
                portText = rest[1..];
            }
        }
        else
        {
            int colon = text.IndexOf(':', StringComparison.Ordinal);
            if (colon >= 0 && colon == text.LastIndexOf(':'))
            {
                host = text[..colon];
                portText = text[(colon + 1)..];
            }
            else host = text;
        }
        if (host.Length == 0 || host.Any(c => char.IsWhiteSpace(c) || c is '/' or '@' or '?' or '#')) return false;
        if (portText is not null)
        {
            if (!int.TryParse(portText, System.Globalization.NumberStyles.None, System.Globalization.CultureInfo.InvariantCulture, out int p) || p is < 1 or > 65535) return false;
            port = p;
        }
        return true;
    }

    internal static string[] Split(string? list) =>
        (list ?? "").Split(';', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries);

    /// <summary>A host name (or any IP address) and a port (null: any).</summary>
    private sealed record HostRule(string Host, int? Port)
    {
        public const string AnyIp = "(any IP address)";

        public bool Matches(string host, int port) =>
            (Port is null || Port == port)
            && (Host == AnyIp ? IPAddress.TryParse(host, out _) : string.Equals(Host, host, StringComparison.OrdinalIgnoreCase));

        public override string ToString() => Port is null ? Host : Host.Contains(':', StringComparison.Ordinal) ? $"[{Host}]:{Port}" : $"{Host}:{Port}";
    }
}
