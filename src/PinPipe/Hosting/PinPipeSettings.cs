using PinPipe.Batch;
using PinPipe.Configuration;
using PinPipe.Emulation;
using PinPipe.Hosting.Web;
using PinPipe.Ingest;
using PinPipe.Observability;
using PinPipe.Ingest.Keys;
using PinPipe.Lake;
using PinPipe.Log;
using PinPipe.Log.Kinesis;
using PinPipe.Maintenance;
using PinPipe.Verify;
using PinPipe.Scheduling;
using PinPipe.Sink;
using PinPipe.Source;
using PinPipe.Streaming;

namespace PinPipe.Hosting;

/// <summary>
/// Every setting of PinPipe, one section per stage. Loaded by <see cref="SettingsLoader"/> from
/// defaults, then <c>pinpipe.json</c> (or <c>--config</c>), then <c>PINPIPE_</c> environment variables
/// (<c>PINPIPE_Log__Path</c>), then command-line flags; later layers win.
/// </summary>
public sealed record PinPipeSettings
{
    /// <summary>The pipeline's user id; every name of SPEC §1 derives from it. Default <c>12885f560a0b</c>.</summary>
    public string UserId { get; init; } = "12885f560a0b";

    /// <summary>Folder for the embedded parts' files (source database, log, bucket). Default <c>.pinpipe</c>.</summary>
    public string DataDir { get; init; } = ".pinpipe";

    public SourceOptions Source { get; init; } = new();
    public EmulatorOptions Emulator { get; init; } = new();
    public IngestOptions Ingest { get; init; } = new();
    public LogOptions Log { get; init; } = new();
    public SinkOptions Sink { get; init; } = new();
    public ObjectStoreOptions ObjectStore { get; init; } = new();
    public BatchOptions Batch { get; init; } = new();
    public ScheduleOptions Schedule { get; init; } = new();
    public StreamOptions Stream { get; init; } = new();
    public KinesisOptions Kinesis { get; init; } = new();
    public MaintenanceOptions Maintenance { get; init; } = new();
    public VerifyOptions Verify { get; init; } = new();
    public MetricsOptions Metrics { get; init; } = new();
    public DashboardOptions Dashboard { get; init; } = new();

    /// <summary>The names of SPEC §1 for <see cref="UserId"/>.</summary>
    public PipelineNames Names => new(UserId);

    /// <summary>
    /// Which consumer groups read which topics: <c>Sink:GroupId</c> the sink's topics, <c>Stream:GroupId</c> the streams.
    /// A topic or stream holding records its group has not consumed is deleted only when forced.
    /// </summary>
    public TopicConsumers Consumers() => new(
        (Sink.Topics ?? Names.Topics).Select(t => KeyValuePair.Create(t, (IReadOnlyCollection<string>)[Sink.GroupId]))
            .Concat(Names.Streams.Select(s => KeyValuePair.Create(s, (IReadOnlyCollection<string>)[Stream.GroupId]))));

    /// <summary>
    /// The settings with every relative file location made absolute under <see cref="DataDir"/>, the
    /// SQLite source's default connection string filled in and the bucket named: what the parts use.
    /// </summary>
    public PinPipeSettings Resolve()
    {
        string dataDir = Path.GetFullPath(DataDir);
        string Under(string path) => Path.IsPathRooted(path) ? path : Path.Combine(dataDir, path);
        return this with
        {
            DataDir = dataDir,
            Log = Log with { Path = Under(Log.Path) },
            Ingest = Ingest with { KeysFile = Under(Ingest.KeysFile ?? KeyStore.DefaultFileName) },
            ObjectStore = ObjectStore with { Root = Under(ObjectStore.Root), Bucket = ObjectStore.Bucket ?? Names.Bucket },
            Source = Source.Provider == SourceProvider.Sqlite && Source.ConnectionString is null && Source.CredentialsFile is null
                ? Source with { ConnectionString = $"Data Source={Path.Combine(dataDir, "source.db")}" }
                : Source,
            Sink = Sink with { Topics = Sink.Topics ?? Names.Topics },
            Batch = Batch with { OutputDir = Under(Batch.OutputDir) },
            Schedule = Schedule with { HistoryPath = Under(Schedule.HistoryPath) },
        };
    }

    /// <summary>
    /// Every problem with the settings, each naming its key; empty when all is well. Checked at start
    /// so that one run reports every bad setting at once.
    /// </summary>
    public IReadOnlyList<string> Validate() => new SettingsProblems()
        .Check(UserId.Length is > 0 and <= 64 && UserId.All(c => char.IsAsciiLetterOrDigit(c) || c is '-' or '_'),
            $"UserId: '{UserId}' must be 1-64 letters, digits, '-' or '_'.")
        .Check(!UserId.StartsWith(KinesisShards.StreamPrefix, StringComparison.Ordinal),
            $"UserId: '{UserId}' must not start with '{KinesisShards.StreamPrefix}': its topics would be named as streams.")
        .Check(!string.IsNullOrWhiteSpace(DataDir), "DataDir: must not be empty.")
        .Add(Source.Validate())
        .Add(Emulator.Validate())
        .Add(Ingest.Validate(Log.MaxPartitionsPerTopic))
        .Add(Log.Validate())
        .Add(Sink.Validate())
        .Add(ObjectStore.Validate())
        .Add(Batch.Validate())
        .Add(Schedule.Validate())
        .Add(Stream.Validate())
        .Add(Kinesis.Validate())
        .Add(Metrics.Validate())
        .Add(Maintenance.Validate())
        .Add(Verify.Validate())
        .ToList();
}
