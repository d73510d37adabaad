using System.CommandLine;
using Microsoft.Extensions.Logging;
using PinPipe.Hosting;

namespace PinPipe.Cli.Commands;

/// <summary><c>--metrics-urls</c> of the commands that run without the API (<c>sink</c>, <c>stream</c>, <c>schedule</c>): their own <c>/metrics</c>.</summary>
internal static class MetricsEndpoint
{
    public static void AddFlag(Command command, ConfigFlags flags) =>
        flags.Add<string>(command, "--metrics-urls", "Metrics:Urls",
            "Serve GET /metrics (Prometheus text format) and /healthz here, e.g. http://127.0.0.1:9464 (default: not served). Behind the API keys like the API.");

    /// <summary>Starts the endpoint when <c>Metrics:Urls</c> is set and says where it listens; null when it is not set.</summary>
    public static async Task<MetricsServer?> StartAsync(CliContext ctx, ILogger logger, CancellationToken cancellationToken)
    {
        var server = await MetricsServer.StartAsync(ctx.Settings, ctx.LoggerFactory, cancellationToken).ConfigureAwait(false);
        if (server is not null)
            logger.LogInformation("Metrics at {Urls}", string.Join(", ", server.Addresses.Select(a => new Uri(a, "metrics"))));
        return server;
    }
}
