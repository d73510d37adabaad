using System.Net;
using System.Net.Sockets;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Connections;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Routing;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using PinPipe.Errors;
using PinPipe.Ingest.Keys;
using PinPipe.Lake;
using PinPipe.Log;

namespace PinPipe.Ingest;

/// <summary>
/// The ingest API on Kestrel: the Kafka REST Proxy v2 routes, the Kinesis proxy routes, <c>/healthz</c>, <c>/readyz</c>, an optional path base,
/// request size and connection limits, the guards against web pages (<see cref="RequestGuard"/>: Host and Origin
/// checks) and the API keys (<see cref="ApiKeyGuard"/>). Built from options and a log so that tests and benchmarks run it in-process.
/// </summary>
public sealed class IngestServer : IAsyncDisposable
{
    private readonly WebApplication _app;

    private IngestServer(WebApplication app) => _app = app;

    /// <summary>The addresses Kestrel listens on (the real port when 0 was asked for, 127.0.0.1 for all interfaces), path base included.</summary>
    public IReadOnlyList<Uri> Addresses { get; private set; } = [];

    /// <summary>The addresses as Kestrel bound them (<c>http://0.0.0.0:8082/</c> for all interfaces), path base included: what to log.</summary>
    public IReadOnlyList<string> Listening { get; private set; } = [];

    /// <summary>The first address: what clients should post to.</summary>
    public Uri BaseAddress => Addresses[0];

    /// <summary>Builds and starts the server; no topic has consumers (a stream is deleted whatever it holds).</summary>
    public static Task<IngestServer> StartAsync(IngestOptions options, ILog log, ILoggerFactory? loggerFactory = null, CancellationToken cancellationToken = default) =>
        StartAsync(options, log, TopicConsumers.None, loggerFactory, cancellationToken);

    /// <summary>
    /// Builds and starts the server. <paramref name="consumers"/> says which consumer groups read which streams: a stream
    /// holding records one of its groups has not consumed is deleted only with <c>?force=true</c>.
    /// </summary>
    public static Task<IngestServer> StartAsync(IngestOptions options, ILog log, TopicConsumers consumers, ILoggerFactory? loggerFactory = null, CancellationToken cancellationToken = default) =>
        StartAsync(options, log, consumers, bucket: null, loggerFactory, cancellationToken);

    /// <summary>
    /// Builds and starts the server; <c>/readyz</c> also checks that <paramref name="bucket"/> is reachable (null: only the
    /// log). <paramref name="consumers"/> as in the overload above.
    /// </summary>
    public static Task<IngestServer> StartAsync(IngestOptions options, ILog log, TopicConsumers consumers, IObjectStore? bucket, ILoggerFactory? loggerFactory = null, CancellationToken cancellationToken = default) =>
        StartAsync(options, log, consumers, bucket, endpoints: null, loggerFactory, cancellationToken);

    /// <summary>
    /// As above, with <paramref name="endpoints"/> mapping more routes (the host's dashboard under <c>/ui</c>) after the
    /// API's and before the fallback; they pass the same guards.
    /// </summary>
    public static Task<IngestServer> StartAsync(IngestOptions options, ILog log, TopicConsumers consumers, IObjectStore? bucket, Action<IEndpointRouteBuilder>? endpoints, ILoggerFactory? loggerFactory = null, CancellationToken cancellationToken = default) =>
        StartAsync(options, log, consumers, bucket, endpoints, kinesis: null, loggerFactory, cancellationToken);

    /// <summary>
    /// As above; with <paramref name="kinesis"/> (<c>Stream:Source=kinesis</c>) the Kinesis routes forward to Kinesis instead of
    /// the log (<see cref="KinesisForwarding"/>). The caller owns the client.
    /// </summary>
    public static async Task<IngestServer> StartAsync(IngestOptions options, ILog log, TopicConsumers consumers, IObjectStore? bucket, Action<IEndpointRouteBuilder>? endpoints,
        Log.Kinesis.KinesisClient? kinesis, ILoggerFactory? loggerFactory = null, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(consumers);
        // Before anything binds: beyond loopback without a key (and without AllowAnonymous) the server does not start.
        ApiKeyGuard.CheckCanStart(options);
        var builder = CreateWebBuilder();
        builder.Logging.ClearProviders();
        if (loggerFactory is not null) builder.Services.AddSingleton(loggerFactory);
        builder.Logging.AddFilter("Microsoft.AspNetCore", LogLevel.Warning);
        builder.WebHost.UseUrls(options.Urls.Split(';', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries));
#pragma warning disable CA2000 // Kestrel uses it for the server's life; disposed when the application stops (below)
        var certificate = LoadCertificate(options);
#pragma warning restore CA2000
        if (certificate is not null) builder.WebHost.UseKestrelHttpsConfiguration(); // the slim builder leaves HTTPS out
        builder.WebHost.ConfigureKestrel(k =>
        {
            k.AddServerHeader = false;
            if (certificate is not null)
            {
                k.ConfigureHttpsDefaults(https => https.ServerCertificate = certificate);
                k.ConfigureEndpointDefaults(endpoint => endpoint.Protocols = Microsoft.AspNetCore.Server.Kestrel.Core.HttpProtocols.Http1AndHttp2);
            }
            // The produce route enforces MaxRequestBytes itself, to answer 413 in the REST Proxy's shape;
            // Kestrel's own limit is a backstop for other routes.
            k.Limits.MaxRequestBodySize = options.MaxRequestBytes + 64 * 1024;
            k.Limits.MaxRequestHeadersTotalSize = 32 * 1024;
            k.Limits.MaxRequestLineSize = 8 * 1024;
            k.Limits.MaxConcurrentConnections = options.MaxConcurrentConnections;
        });
        // The process's owner (the CLI, a test, a benchmark) handles Ctrl-C and SIGTERM and disposes this
        // server; the default console lifetime would swallow those signals.
        builder.Services.AddSingleton<Microsoft.Extensions.Hosting.IHostLifetime, PassiveLifetime>();
        builder.Services.AddSingleton(log);
        builder.Services.AddSingleton(consumers);
        if (kinesis is not null) builder.Services.AddSingleton(kinesis);
        builder.Services.AddSingleton(Microsoft.Extensions.Options.Options.Create(options));
        builder.Services.AddRoutingCore();
        builder.Services.AddSingleton(new SlowBodyLog((loggerFactory ?? Microsoft.Extensions.Logging.Abstractions.NullLoggerFactory.Instance).CreateLogger<IngestServer>(), TimeProvider.System));
        builder.Services.AddCors();
        // Made by the container, which disposes it (its rate limits' timers) with the app.
        builder.Services.AddSingleton(_ => ApiKeyGuard.Create(options, servesUi: endpoints is not null));

        var app = builder.Build();
        if (certificate is not null) app.Lifetime.ApplicationStopped.Register(certificate.Dispose);
        if (!string.IsNullOrEmpty(options.PathBase)) app.UsePathBase(options.PathBase);
        // First: every request is counted and timed, the guards' refusals too.
        if (options.Metrics) app.Use(new IngestMetrics().InvokeAsync);
        var guard = new RequestGuard(options, app.Services.GetRequiredService<IServer>());
        app.Use(guard.InvokeAsync);
        // UsePathBase also serves the paths without the base; an API Gateway stage does not: they are 404.
        if (!string.IsNullOrEmpty(options.PathBase))
            app.Use((context, next) => context.Request.PathBase.HasValue ? next(context) : NotFoundAsync(context, options.PathBase));
        if (guard.HasAllowedOrigins)
            app.UseCors(p => p.SetIsOriginAllowed(guard.IsListedOrigin).AllowAnyHeader().WithMethods("GET", "POST", "PUT", "DELETE").WithExposedHeaders("x-amzn-ErrorType"));
        // After CORS, which answers preflights (they carry no key); before any route, so a refused request writes nothing.
        app.Use(app.Services.GetRequiredService<ApiKeyGuard>().InvokeAsync);
        // Past the guards, before the routes read any body: the bodies held at once are bounded (503 beyond).
        app.Use(new InFlightLimit(options).InvokeAsync);
        app.UseRouting();
        app.MapGet("/", (HttpContext c) => { c.Response.ContentType = RestError.ResponseContentType; return c.Response.WriteAsync("{}"); });
        app.MapGet("/healthz", () => Results.Text("ok"));
        app.MapGet("/readyz", (HttpContext c) => Readiness.WriteAsync(c, log, bucket));
        IDisposable? logGauges = null;
        if (options.Metrics)
        {
            app.MapGet("/metrics", WriteMetricsAsync);
            logGauges = LogGauges.Register(log);
        }
        app.MapKafkaRest();
        app.MapKinesisProxy();
        endpoints?.Invoke(app);
        // Every path, also one whose last segment has a dot (the default fallback pattern leaves those to an empty 404).
        app.MapFallback("{*path}", (HttpContext c) => NotFoundAsync(c, null));
        try
        {
            await app.StartAsync(cancellationToken).ConfigureAwait(false);
        }
        catch (IOException ex) when (ex.InnerException is AddressInUseException)
        {
            await app.DisposeAsync().ConfigureAwait(false);
            throw AddressInUse(options.Urls, ex);
        }

        if (logGauges is not null) app.Lifetime.ApplicationStopped.Register(logGauges.Dispose);
        var server = new IngestServer(app);
        var bound = app.Services.GetRequiredService<IServer>().Features.Get<IServerAddressesFeature>()?.Addresses ?? [];
        server.Addresses = ClientAddresses(bound, options.PathBase);
        server.Listening = bound.Select(a => a.TrimEnd('/') + (options.PathBase ?? "") + "/").ToList();
        return server;
    }

    /// <summary>
    /// ASP.NET Core's slim builder, watching no files. By default it reads <c>appsettings.json</c> from the working folder
    /// and reloads it on change, which puts a recursive file watch (inotify) on that folder; the data folder (<c>.pinpipe</c>)
    /// is usually inside it, so every write of the embedded log woke the watcher's thread (6 % of the API's CPU samples at 500
    /// records a request). PinPipe reads its settings itself (<c>pinpipe.json</c>, environment, command line), never from
    /// <c>appsettings.json</c>, so the content root is the application's folder and nothing is reloaded.
    /// </summary>
    internal static WebApplicationBuilder CreateWebBuilder() => WebApplication.CreateSlimBuilder(new WebApplicationOptions
    {
        Args = ["--hostBuilder:reloadConfigOnChange=false"],
        ContentRootPath = AppContext.BaseDirectory,
    });

    /// <summary>Kestrel's bound addresses as clients reach them: 127.0.0.1 for all interfaces, <paramref name="pathBase"/> appended.</summary>
    internal static IReadOnlyList<Uri> ClientAddresses(IEnumerable<string> bound, string? pathBase) =>
        bound.Select(a => new Uri(a.Replace("[::]", "127.0.0.1", StringComparison.Ordinal).Replace("0.0.0.0", "127.0.0.1", StringComparison.Ordinal).TrimEnd('/') + (pathBase ?? "") + "/")).ToList();

    /// <summary><c>GET /metrics</c>: every metric of the process in Prometheus's text format (also the metrics-only server's).</summary>
    internal static async Task WriteMetricsAsync(HttpContext context)
    {
        context.Response.ContentType = Observability.MetricsExport.ContentType;
        context.Response.Headers.CacheControl = "no-store";
        await Observability.MetricsExport.WriteAsync(context.Response.Body, context.RequestAborted).ConfigureAwait(false);
    }

    /// <summary>
    /// 404 in the route family's shape (Kinesis's under <c>/streams</c>, the REST Proxy's elsewhere), naming the path and,
    /// for a path outside <paramref name="pathBase"/>, the base the routes are under.
    /// </summary>
    private static Task NotFoundAsync(HttpContext context, string? pathBase)
    {
        var request = context.Request;
        string path = request.Path.Value ?? "/";
        string message = pathBase is null
            ? $"HTTP 404 Not Found: no route for '{request.Method} {request.PathBase}{path}'."
            : $"HTTP 404 Not Found: no route for '{request.Method} {path}': the routes are under the path base '{pathBase}' " +
              $"(Ingest:PathBase, --path-base), e.g. '{pathBase}{path}'.";
        return RequestGuard.IsKinesisRoute(request)
            ? KinesisError.Of(404, "UnknownOperationException", message).WriteAsync(context.Response)
            : new RestError(404, 404, message).WriteAsync(context.Response);
    }

    /// <summary>The PEM certificate and key of <see cref="IngestOptions.Certificate"/>, or null when none is set.</summary>
    /// <exception cref="IngestException">A file is missing or not a PEM certificate / key that belong together.</exception>
    private static System.Security.Cryptography.X509Certificates.X509Certificate2? LoadCertificate(IngestOptions options)
    {
        if (options.Certificate is null || options.CertificateKey is null) return null;
        try
        {
            return System.Security.Cryptography.X509Certificates.X509Certificate2.CreateFromPemFile(options.Certificate, options.CertificateKey);
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException or System.Security.Cryptography.CryptographicException or ArgumentException)
        {
            throw new IngestException("ingest.bad_certificate", ErrorKind.BadInput,
                $"cannot load the TLS certificate {options.Certificate} with its key {options.CertificateKey}: {ex.Message} " +
                "(both must be PEM files, the key the certificate's own)", ex, "Ingest:Certificate");
        }
    }

    /// <summary>
    /// Refuses an address of <see cref="IngestOptions.Urls"/> that something already listens on, before the log is opened or
    /// anything is created: Kestrel finds it only when it binds, after the data folder, the log and its topics were made.
    /// Each address that is an IP literal or <c>localhost</c> (or <c>*</c>, <c>+</c>: every interface) with a port is bound by a
    /// probe socket (with <c>SO_REUSEADDR</c>, so a closed connection's TIME_WAIT does not count) and closed at once; only
    /// "address in use" refuses. A host name, port 0 or any other failure is left to Kestrel, which reports as before.
    /// </summary>
    /// <exception cref="IngestException">An address is in use (<c>ingest.address_in_use</c>, naming it and <c>--urls</c>).</exception>
    internal static void CheckAddressesFree(IngestOptions options)
    {
        foreach (string url in options.Urls.Split(';', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries))
        {
            string parseable = url.Replace("://*:", "://0.0.0.0:", StringComparison.Ordinal).Replace("://+:", "://0.0.0.0:", StringComparison.Ordinal);
            if (!Uri.TryCreate(parseable, UriKind.Absolute, out var uri) || uri.Port <= 0) continue;
            var address = IPAddress.TryParse(uri.Host.Trim('[', ']'), out var literal) ? literal : uri.IsLoopback ? IPAddress.Loopback : null;
            if (address is null) continue;
            using var probe = new Socket(address.AddressFamily, SocketType.Stream, ProtocolType.Tcp);
            probe.SetSocketOption(SocketOptionLevel.Socket, SocketOptionName.ReuseAddress, true);
            try
            {
                probe.Bind(new IPEndPoint(address, uri.Port));
            }
            catch (SocketException ex) when (ex.SocketErrorCode == SocketError.AddressAlreadyInUse)
            {
                throw AddressTaken(parseable, ex); // * and + named as 0.0.0.0, every interface
            }
            catch (SocketException)
            {
                // Not ours to judge (an address not on this machine, no permission for the port): Kestrel says what it is.
            }
        }
    }

    /// <summary>Kestrel's "Failed to bind to address http://127.0.0.1:8082: address already in use." as one line naming the flag.</summary>
    private static IngestException AddressInUse(string urls, IOException ex)
    {
        var addresses = urls.Split(';', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries);
        var taken = addresses.FirstOrDefault(a => ex.Message.Contains(a.TrimEnd('/'), StringComparison.OrdinalIgnoreCase)) ?? string.Join(";", addresses);
        return AddressTaken(taken, ex);
    }

    /// <summary>"127.0.0.1:8082 is already in use; ..." for the address <paramref name="taken"/> (a URL of <c>--urls</c>).</summary>
    private static IngestException AddressTaken(string taken, Exception inner)
    {
        string address = Uri.TryCreate(taken, UriKind.Absolute, out var uri) ? uri.Authority : taken;
        return new IngestException("ingest.address_in_use", ErrorKind.Unavailable,
            $"{address} is already in use; stop what listens there or choose another address with --urls", inner, "Ingest:Urls");
    }

    /// <summary>Stops accepting requests, lets those in flight finish, then stops.</summary>
    public async ValueTask DisposeAsync()
    {
        await _app.StopAsync().ConfigureAwait(false);
        await _app.DisposeAsync().ConfigureAwait(false);
    }
}

/// <summary>A host lifetime that leaves signals to the process's owner.</summary>
internal sealed class PassiveLifetime : Microsoft.Extensions.Hosting.IHostLifetime
{
    public Task WaitForStartAsync(CancellationToken cancellationToken) => Task.CompletedTask;
    public Task StopAsync(CancellationToken cancellationToken) => Task.CompletedTask;
}
