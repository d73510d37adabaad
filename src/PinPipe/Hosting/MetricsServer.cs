using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Connections;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using PinPipe.Errors;
using PinPipe.Ingest;
using PinPipe.Ingest.Keys;
using PinPipe.Observability;

namespace PinPipe.Hosting;

/// <summary>
/// <c>GET /metrics</c> (and <c>/healthz</c>) for a process that does not run the API (<c>pinpipe sink</c>, <c>stream</c>,
/// <c>schedule</c>), on <see cref="MetricsOptions.Urls"/>, behind the API's keys (<see cref="ApiKeyGuard"/>, the same rule:
/// beyond loopback it needs a key or <c>Ingest:AllowAnonymous</c>).
/// </summary>
public sealed class MetricsServer : IAsyncDisposable
{
    private readonly WebApplication _app;

    private MetricsServer(WebApplication app, IReadOnlyList<Uri> addresses)
    {
        _app = app;
        Addresses = addresses;
    }

    /// <summary>Where it listens (the real port when 0 was asked for).</summary>
    public IReadOnlyList<Uri> Addresses { get; }

    /// <summary>Starts it when <c>Metrics:Urls</c> is set; null when it is not.</summary>
    /// <exception cref="IngestException">The address is in use (<c>ingest.address_in_use</c>), or beyond loopback with no key.</exception>
    public static async Task<MetricsServer?> StartAsync(PinPipeSettings settings, ILoggerFactory? loggerFactory = null, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(settings);
        if (settings.Metrics.Urls is not { } urls) return null;
        var guardOptions = settings.Ingest with { Urls = urls };
        ApiKeyGuard.CheckCanStart(guardOptions);
        PinPipeMetrics.EnsureCreated();
        var builder = IngestServer.CreateWebBuilder();
        builder.Logging.ClearProviders();
        if (loggerFactory is not null) builder.Services.AddSingleton(loggerFactory);
        builder.Logging.AddFilter("Microsoft.AspNetCore", LogLevel.Warning);
        builder.WebHost.UseUrls(urls.Split(';', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries));
        builder.WebHost.ConfigureKestrel(k =>
        {
            k.AddServerHeader = false;
            k.Limits.MaxRequestBodySize = 1024;
            k.Limits.MaxConcurrentConnections = 100;
        });
        // The process's owner (the CLI) handles Ctrl-C and SIGTERM.
        builder.Services.AddSingleton<Microsoft.Extensions.Hosting.IHostLifetime, PassiveLifetime>();
        builder.Services.AddSingleton(_ => ApiKeyGuard.Create(guardOptions));
        var app = builder.Build();
        app.Use(app.Services.GetRequiredService<ApiKeyGuard>().InvokeAsync);
        app.MapGet("/healthz", () => Results.Text("ok"));
        app.MapGet("/metrics", IngestServer.WriteMetricsAsync);
        try
        {
            await app.StartAsync(cancellationToken).ConfigureAwait(false);
        }
        catch (IOException ex) when (ex.InnerException is AddressInUseException)
        {
            await app.DisposeAsync().ConfigureAwait(false);
            throw new IngestException("ingest.address_in_use", ErrorKind.Unavailable,
                $"{urls} is already in use; stop what listens there or choose another address with --metrics-urls", ex, "Metrics:Urls");
        }
        var bound = app.Services.GetRequiredService<IServer>().Features.Get<IServerAddressesFeature>()?.Addresses ?? [];
        return new MetricsServer(app, IngestServer.ClientAddresses(bound, null));
    }

    /// <summary>Stops listening.</summary>
    public async ValueTask DisposeAsync()
    {
        await _app.StopAsync().ConfigureAwait(false);
        await _app.DisposeAsync().ConfigureAwait(false);
    }
}
