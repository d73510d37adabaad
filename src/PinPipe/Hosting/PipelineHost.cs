using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;
using PinPipe.Hosting.Web;
using PinPipe.Ingest;
using PinPipe.Ingest.Keys;
using PinPipe.Lake;
using PinPipe.Log;
using PinPipe.Log.Kinesis;
using PinPipe.Streaming;

namespace PinPipe.Hosting;

/// <summary>Which long-running parts a <see cref="PipelineHost"/> runs.</summary>
[Flags]
public enum HostParts
{
    /// <summary>The ingest API.</summary>
    Api = 1,
    /// <summary>The S3-sink connector.</summary>
    Sink = 2,
}

/// <summary>
/// The running pipeline in one process: the log, and the ingest API and the sink connector over it.
/// Built from <see cref="PinPipeSettings"/> (resolved) so that the CLI, tests and benchmarks start the
/// same thing.
/// </summary>
public sealed partial class PipelineHost : IAsyncDisposable
{
    private readonly ILogger _logger;

    private PipelineHost(PinPipeSettings settings, ILog log, ILogger logger)
    {
        Settings = settings;
        Log = log;
        _logger = logger;
    }

    public PinPipeSettings Settings { get; }

    /// <summary>The log every part shares.</summary>
    public ILog Log { get; }

    /// <summary>The ingest API, when started.</summary>
    public IngestServer? Api { get; private set; }

    /// <summary>The bucket the API's <c>/readyz</c> checks (the sink's, which this host may not run).</summary>
    private IObjectStore? _bucket;

    /// <summary>The dashboard's state, when the API serves it.</summary>
    private DashboardState? _dashboard;

    /// <summary>The Kinesis client the API forwards the Kinesis routes to, with <c>Stream:Source=kinesis</c>.</summary>
    private KinesisClient? _kinesis;

    /// <summary>The Kinesis client of <c>Stream:Source=kinesis</c> (the host owns it); null with the log's streams.</summary>
    public KinesisClient? Kinesis => _kinesis;

    /// <summary>The dashboard's address (<c>/ui/</c> under the API's), when the API runs and serves it (<c>Dashboard:Enabled</c>).</summary>
    public Uri? DashboardAddress => Api is not null && _dashboard is not null ? new Uri(Api.BaseAddress, "ui/") : null;

    /// <summary>
    /// Opens the log and starts the parts asked for. A host that runs the API owns the log (it appends, and
    /// creates the pipeline's topics and streams when missing); a host that only runs the sink opens it as a consumer,
    /// so that <c>pinpipe serve</c> and <c>pinpipe sink</c> can run as separate processes over one embedded log.
    /// </summary>
    public static async Task<PipelineHost> StartAsync(PinPipeSettings settings, HostParts parts, ILoggerFactory? loggerFactory = null, CancellationToken cancellationToken = default)
    {
        loggerFactory ??= NullLoggerFactory.Instance;
        bool producer = parts.HasFlag(HostParts.Api);
        settings = settings with { Log = settings.Log with { Access = producer ? LogAccess.Producer : LogAccess.Consumer } };
        // An API that may not start (beyond loopback without a key, or its address taken) is refused before the log is opened or changed.
        if (producer)
        {
            ApiKeyGuard.CheckCanStart(settings.Ingest);
            IngestServer.CheckAddressesFree(settings.Ingest);
        }
        var log = await LogFactory.OpenAsync(settings.Log, loggerFactory, cancellationToken).ConfigureAwait(false);
        var host = new PipelineHost(settings, log, loggerFactory.CreateLogger("PinPipe.Host"));
        try
        {
            // Only the missing ones: a topic made with other partition counts (by an operator, or by another API node
            // with other defaults) is used as it is.
            if (producer)
                foreach (var topic in settings.Names.Topics.Concat(settings.Names.Streams))
                    if (await log.DescribeTopicAsync(topic, cancellationToken).ConfigureAwait(false) is null)
                        await log.CreateTopicAsync(topic, settings.Log.DefaultPartitions, cancellationToken).ConfigureAwait(false);
            if (parts.HasFlag(HostParts.Api))
            {
                host._bucket = ObjectStoreFactory.Create(settings.ObjectStore, settings.Names.Bucket, loggerFactory.CreateLogger("pinpipe.bucket"));
                // The dashboard reads durable state only (the log, the bucket, the run folders): it holds whichever processes run the other parts.
                host._dashboard = settings.Dashboard.Enabled ? new DashboardState(settings, log, host._bucket) : null;
                if (settings.Stream.Source == StreamSource.Kinesis)
                {
                    // The streams go to Kinesis: the API forwards its Kinesis routes there, and the pipeline's streams are made there when missing.
                    host._kinesis = new KinesisClient(settings.Kinesis);
                    foreach (var stream in settings.Names.Streams)
                        await host._kinesis.EnsureStreamAsync(stream, settings.Log.DefaultPartitions, TimeSpan.FromMinutes(2), cancellationToken).ConfigureAwait(false);
                }
                host.Api = await IngestServer.StartAsync(settings.Ingest, log, settings.Consumers(), host._bucket,
                    host._dashboard is { } dashboard ? endpoints => Dashboard.Map(endpoints, dashboard) : null, host._kinesis, loggerFactory, cancellationToken).ConfigureAwait(false);
            }
            if (parts.HasFlag(HostParts.Sink))
                await host.StartSinkAsync(loggerFactory, cancellationToken).ConfigureAwait(false);
            return host;
        }
        catch
        {
            await host.DisposeAsync().ConfigureAwait(false);
            throw;
        }
    }

    /// <summary>Stops the API (finishing requests in flight), then the sink, then closes the log.</summary>
    public async ValueTask DisposeAsync()
    {
        if (Api is not null) await Api.DisposeAsync().ConfigureAwait(false);
        _kinesis?.Dispose();
        _dashboard?.Dispose();
        (_bucket as IDisposable)?.Dispose();
        await StopSinkAsync().ConfigureAwait(false);
        await Log.DisposeAsync().ConfigureAwait(false);
        _logger.LogDebug("Pipeline host stopped.");
    }
}
