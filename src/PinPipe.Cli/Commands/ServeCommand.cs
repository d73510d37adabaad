using System.CommandLine;
using Microsoft.Extensions.Logging;
using PinPipe.Hosting;
using PinPipe.Ingest.Keys;
using PinPipe.Log;

namespace PinPipe.Cli.Commands;

internal static class ServeCommand
{
    public static Command Create(GlobalOptions global)
    {
        var command = new Command("serve", "Run the ingest API (Kafka REST Proxy v2 routes and the Kinesis proxy's stream routes) over the log until Ctrl-C.");
        var flags = new ConfigFlags();
        flags.Add<string>(command, "--urls", "Ingest:Urls", "Where to listen, ';'-separated (default http://127.0.0.1:8082).");
        flags.Add<string>(command, "--path-base", "Ingest:PathBase", "Prefix of every route, e.g. /dev (an API Gateway stage); a path without it is 404.");
        flags.Add<long>(command, "--max-request-bytes", "Ingest:MaxRequestBytes", "Largest request body; larger gets 413.");
        flags.Add<string>(command, "--allowed-hosts", "Ingest:AllowedHosts", "Host headers served, ';'-separated name or name:port, * for any (default: the listen addresses and localhost); others get 400.");
        flags.Add<string>(command, "--allowed-origins", "Ingest:AllowedOrigins", "Browser origins served with CORS, ';'-separated scheme://host[:port], * for any (default: none but the server's own); others get 403.");
        flags.Add<bool>(command, "--allow-anonymous", "Ingest:AllowAnonymous", "Serve without API keys on a non-loopback address while no key is defined (else refused at start; see `pinpipe keys`).");
        flags.Add<string>(command, "--keys-file", "Ingest:KeysFile", "The API keys' file (only hashes; default <data-dir>/keys.json).");
        flags.Add<string>(command, "--certificate", "Ingest:Certificate", "TLS: the server certificate, a PEM file, for the https:// addresses of --urls (HTTP/1.1 and HTTP/2).");
        flags.Add<string>(command, "--certificate-key", "Ingest:CertificateKey", "TLS: the certificate's private key, a PEM file.");
        flags.Add<long>(command, "--max-connections", "Ingest:MaxConcurrentConnections", "Most connections open at once; more are closed (default 10000).");
        AddLogFlags(command, flags);
        command.SetAction((parse, ct) => CliRunner.RunAsync(parse, global, flags, async (ctx, token) =>
        {
            await using var host = await PipelineHost.StartAsync(ctx.Settings, HostParts.Api, ctx.LoggerFactory, token).ConfigureAwait(false);
            var logger = ctx.LoggerFactory.CreateLogger("pinpipe.serve");
            if (ApiKeyGuard.KeysNeeded(ctx.Settings.Ingest))
                logger.LogInformation("API keys: every request but /healthz and /readyz needs one (x-api-key or Authorization: Bearer); keys in {KeysFile}.", ctx.Settings.Ingest.KeysFile);
            else
                logger.LogInformation("API keys: none needed now (no key defined); `pinpipe keys create` (in {KeysFile}) turns them on, also while serving.", ctx.Settings.Ingest.KeysFile);
            logger.LogInformation("Ingest API listening on {Addresses}; topics {Topics}; streams {Streams}; log {Log}. Ctrl-C to stop.",
                string.Join(", ", host.Api!.Listening), string.Join(", ", ctx.Settings.Names.Topics), string.Join(", ", ctx.Settings.Names.Streams), ctx.Settings.Log.Path);
            if (host.DashboardAddress is { } dashboard)
                logger.LogInformation("Dashboard at {Dashboard} (signed in with an API key when keys are on; Dashboard:Enabled false turns it off).", dashboard);
            try { await Task.Delay(Timeout.Infinite, token).ConfigureAwait(false); }
            catch (OperationCanceledException) { }
            logger.LogInformation("Stopping: finishing requests in flight.");
            return ExitCodes.Ok;
        }, ct));
        return command;
    }

    /// <summary>
    /// The flags that choose the log, shared by serve, sink and up; <paramref name="withDefaultPartitions"/> false leaves out
    /// <c>--partitions</c> (Log:DefaultPartitions) for commands with their own <c>--partitions</c> (topics create).
    /// </summary>
    public static void AddLogFlags(Command command, ConfigFlags flags, bool withDefaultPartitions = true)
    {
        flags.AddChoice<LogKind>(command, "--log", "Log:Kind", "The log: sqlite (embedded, default) or kafka.");
        flags.Add<string>(command, "--log-path", "Log:Path", "The embedded log's SQLite file (relative to --data-dir).");
        flags.Add<string>(command, "--bootstrap-servers", "Log:Kafka:bootstrap.servers", "Kafka brokers (host:port,...) when --log kafka; other Kafka client settings go under Log:Kafka in the settings file.");
        if (withDefaultPartitions) flags.Add<int>(command, "--partitions", "Log:DefaultPartitions", "Partitions of the topics PinPipe creates (default 1).");
    }
}
