using PinPipe.Configuration;

namespace PinPipe.Ingest;

/// <summary>Settings of the ingest API (configuration section <c>Ingest</c>).</summary>
public sealed record IngestOptions
{
    /// <summary>Where Kestrel listens. Default <c>http://127.0.0.1:8082</c> (the Kafka REST Proxy's port).</summary>
    public string Urls { get; init; } = "http://127.0.0.1:8082";

    /// <summary>A prefix of every route, e.g. <c>/dev</c> for an API Gateway stage: a path without it is 404, as on a stage. Default none.</summary>
    public string? PathBase { get; init; }

    /// <summary>Largest request body in bytes; larger gets 413. Default 16 MiB.</summary>
    public long MaxRequestBytes { get; init; } = 16 * 1024 * 1024;

    /// <summary>
    /// Most bytes of request bodies the API holds at once, read or being read, until each is answered: what bounds the
    /// memory requests take. A request whose body would pass it gets 503 with <c>Retry-After</c> (Kafka REST
    /// <c>50301</c>, Kinesis <c>ServiceUnavailable</c>) before its body is read, and nothing is written; a body without
    /// Content-Length counts as <see cref="MaxRequestBytes"/>. With nothing in flight any request is taken. Default 256 MiB.
    /// </summary>
    public long MaxInFlightBytes { get; init; } = 256L * 1024 * 1024;

    /// <summary>Most records in one produce request; more gets 422. Default 10,000.</summary>
    public int MaxRecordsPerRequest { get; init; } = 10_000;

    /// <summary>Shards of a stream created by <c>POST /streams/{stream}</c> without a <c>ShardCount</c>. Default 1.</summary>
    public int DefaultShardCount { get; init; } = 1;

    /// <summary>
    /// Host headers the server answers to, <c>;</c>-separated: <c>name</c> (any port) or <c>name:port</c>; <c>*</c> accepts any.
    /// Default (null): the addresses it listens on and <c>localhost</c>, with their ports (on all interfaces, any IP address).
    /// Any other Host gets 400: a web page reaching the server through its own DNS name (DNS rebinding) is refused.
    /// </summary>
    public string? AllowedHosts { get; init; }

    /// <summary>
    /// Browser origins (<c>scheme://host[:port]</c>, <c>;</c>-separated, or <c>*</c>) whose requests are served, with CORS.
    /// Default (null): none but the server's own origin. A request whose <c>Origin</c> header is not allowed gets 403.
    /// </summary>
    public string? AllowedOrigins { get; init; }

    /// <summary>Most connections Kestrel keeps open at once; more are closed at once. Default 10,000.</summary>
    public long MaxConcurrentConnections { get; init; } = 10_000;

    /// <summary>
    /// The API keys' file (<c>pinpipe keys create|list|revoke</c>; only hashes). The settings default it to
    /// <c>&lt;DataDir&gt;/keys.json</c>; null (a server built in-process without one) has no keys.
    /// </summary>
    public string? KeysFile { get; init; }

    /// <summary>
    /// Serve without keys beyond loopback while no key is defined. Default false: listening on a non-loopback address with
    /// no key defined is refused at start (on loopback, keys are needed only once one exists).
    /// </summary>
    public bool AllowAnonymous { get; init; }

    /// <summary>
    /// The server certificate, a PEM file (its chain may follow it), for the <c>https://</c> addresses of
    /// <see cref="Urls"/>, which then speak HTTP/1.1 and HTTP/2 over TLS. Needs <see cref="CertificateKey"/>. Default none.
    /// </summary>
    public string? Certificate { get; init; }

    /// <summary>The private key of <see cref="Certificate"/>, a PEM file (keep it owner-only). Default none.</summary>
    public string? CertificateKey { get; init; }

    /// <summary>
    /// Whether the API counts its requests and serves <c>GET /metrics</c> in Prometheus's text format (every metric of the
    /// process: ingest, log, and the sink, stream and batch jobs when they run in it). Behind the API keys like every
    /// route but the health probes. Default on.
    /// </summary>
    public bool Metrics { get; init; } = true;

    public static IngestOptions Default { get; } = new();

    /// <summary>
    /// Every problem of these settings, each naming its key; empty when all is well. <paramref name="maxPartitionsPerTopic"/>
    /// is the log's <c>Log:MaxPartitionsPerTopic</c>, the most shards <see cref="DefaultShardCount"/> may give.
    /// </summary>
    public IReadOnlyList<string> Validate(int maxPartitionsPerTopic)
    {
        var problems = new SettingsProblems();
        foreach (var url in Urls.Split(';', StringSplitOptions.RemoveEmptyEntries))
            problems.Check(Uri.TryCreate(url, UriKind.Absolute, out var u) && u.Scheme is "http" or "https",
                $"Ingest:Urls: '{url}' must be an absolute http(s) URL.");
        problems.Check(PathBase is null or "" || PathBase.StartsWith('/') && !PathBase.EndsWith('/'),
            $"Ingest:PathBase: '{PathBase}' must start with '/' and not end with one (e.g. /dev).");
        problems.Check(DefaultShardCount >= 1 && DefaultShardCount <= maxPartitionsPerTopic,
            $"Ingest:DefaultShardCount: {DefaultShardCount} must be 1 to Log:MaxPartitionsPerTopic ({maxPartitionsPerTopic}).");
        foreach (var host in RequestGuard.Split(AllowedHosts))
            problems.Check(host == "*" || RequestGuard.TryParseHost(host, out _, out _), $"Ingest:AllowedHosts: '{host}' is not a host name, host:port or *.");
        foreach (var origin in RequestGuard.Split(AllowedOrigins))
            problems.Check(origin == "*" || RequestGuard.TryNormalizeOrigin(origin, out _), $"Ingest:AllowedOrigins: '{origin}' is not an origin (http(s)://host[:port], no path) or *.");
        bool https = Urls.Split(';', StringSplitOptions.RemoveEmptyEntries).Any(u => u.Trim().StartsWith("https://", StringComparison.OrdinalIgnoreCase));
        problems.Check(Certificate is null == CertificateKey is null,
            "Ingest:Certificate and Ingest:CertificateKey: give both (the PEM certificate and its PEM private key) or neither.");
        problems.Check(!https || Certificate is not null,
            "Ingest:Urls: an https:// address needs Ingest:Certificate and Ingest:CertificateKey (PEM files).");
        problems.Check(Certificate is null || https,
            "Ingest:Certificate: no https:// address in Ingest:Urls uses it (e.g. --urls https://0.0.0.0:8443).");
        return problems
            .Check(KeysFile is null || !string.IsNullOrWhiteSpace(KeysFile), "Ingest:KeysFile: must not be empty (leave it unset for <DataDir>/keys.json).")
            .Check(MaxConcurrentConnections is >= 1 and <= 1_000_000, $"Ingest:MaxConcurrentConnections: {MaxConcurrentConnections} must be 1 to 1000000.")
            .Check(MaxRequestBytes is >= 1024 and <= int.MaxValue - 1, $"Ingest:MaxRequestBytes: {MaxRequestBytes} must be 1024 to {int.MaxValue - 1}.")
            .Check(MaxInFlightBytes >= 1, $"Ingest:MaxInFlightBytes: {MaxInFlightBytes} must be at least 1.")
            .Check(MaxRecordsPerRequest >= 1, $"Ingest:MaxRecordsPerRequest: {MaxRecordsPerRequest} must be at least 1.")
            .ToList();
    }
}
