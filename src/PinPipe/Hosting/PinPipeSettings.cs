using PinPipe.Batch;
using PinPipe.Configuration;
using PinPipe.Emulation;
using PinPipe.Ingest;
using PinPipe.Lake;
using PinPipe.Log;
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
            ObjectStore = ObjectStore with { Root = Under(ObjectStore.Root), Bucket = ObjectStore.Bucket ?? Names.Bucket },
            Source = Source.Provider == "sqlite" && Source.ConnectionString is null && Source.CredentialsFile is null
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
    public IReadOnlyList<string> Validate()
    {
        var errors = new List<string>();
        void Check(bool ok, string message) { if (!ok) errors.Add(message); }

        Check(UserId.Length is > 0 and <= 64 && UserId.All(c => char.IsAsciiLetterOrDigit(c) || c is '-' or '_'),
            $"UserId: '{UserId}' must be 1-64 letters, digits, '-' or '_'.");
        Check(!UserId.StartsWith(KinesisShards.StreamPrefix, StringComparison.Ordinal),
            $"UserId: '{UserId}' must not start with '{KinesisShards.StreamPrefix}': its topics would be named as streams.");
        Check(!string.IsNullOrWhiteSpace(DataDir), "DataDir: must not be empty.");
        Check(Source.Provider is "sqlite" or "mysql" or "postgres", $"Source:Provider: '{Source.Provider}' is not one of sqlite, mysql, postgres.");
        Check(Source.Rows >= 0, $"Source:Rows: {Source.Rows} must be zero or more.");
        Check(Emulator.Lane is "batch" or "stream", $"Emulator:Lane: '{Emulator.Lane}' is not one of batch, stream.");
        Check(Emulator.Concurrency >= 1, $"Emulator:Concurrency: {Emulator.Concurrency} must be at least 1.");
        Check(Emulator.RecordsPerRequest is >= 1 and <= 10_000, $"Emulator:RecordsPerRequest: {Emulator.RecordsPerRequest} must be 1 to 10000.");
        Check(Emulator.Rate is null or >= 0, $"Emulator:Rate: {Emulator.Rate} must be zero (unthrottled) or more.");
        Check(Emulator.Count is null or >= 0, $"Emulator:Count: {Emulator.Count} must be zero or more.");
        Check(Emulator.MaxAttempts >= 1, $"Emulator:MaxAttempts: {Emulator.MaxAttempts} must be at least 1.");
        Check(Uri.TryCreate(Emulator.ApiUrl, UriKind.Absolute, out var api) && api.Scheme is "http" or "https",
            $"Emulator:ApiUrl: '{Emulator.ApiUrl}' must be an absolute http(s) URL.");
        foreach (var url in Ingest.Urls.Split(';', StringSplitOptions.RemoveEmptyEntries))
            Check(Uri.TryCreate(url, UriKind.Absolute, out var u) && u.Scheme is "http" or "https",
                $"Ingest:Urls: '{url}' must be an absolute http(s) URL.");
        Check(Ingest.PathBase is null or "" || Ingest.PathBase.StartsWith('/') && !Ingest.PathBase.EndsWith('/'),
            $"Ingest:PathBase: '{Ingest.PathBase}' must start with '/' and not end with one (e.g. /dev).");
        Check(Ingest.DefaultShardCount >= 1 && Ingest.DefaultShardCount <= Log.MaxPartitionsPerTopic,
            $"Ingest:DefaultShardCount: {Ingest.DefaultShardCount} must be 1 to Log:MaxPartitionsPerTopic ({Log.MaxPartitionsPerTopic}).");
        foreach (var host in RequestGuard.Split(Ingest.AllowedHosts))
            Check(host == "*" || RequestGuard.TryParseHost(host, out _, out _), $"Ingest:AllowedHosts: '{host}' is not a host name, host:port or *.");
        foreach (var origin in RequestGuard.Split(Ingest.AllowedOrigins))
            Check(origin == "*" || RequestGuard.TryNormalizeOrigin(origin, out _), $"Ingest:AllowedOrigins: '{origin}' is not an origin (http(s)://host[:port], no path) or *.");
        Check(Ingest.MaxConcurrentConnections is >= 1 and <= 1_000_000, $"Ingest:MaxConcurrentConnections: {Ingest.MaxConcurrentConnections} must be 1 to 1000000.");
        Check(Ingest.MaxRequestBytes is >= 1024 and <= int.MaxValue - 1, $"Ingest:MaxRequestBytes: {Ingest.MaxRequestBytes} must be 1024 to {int.MaxValue - 1}.");
        Check(Ingest.MaxRecordsPerRequest >= 1, $"Ingest:MaxRecordsPerRequest: {Ingest.MaxRecordsPerRequest} must be at least 1.");
        Check(Log.Kind is "sqlite" or "kafka", $"Log:Kind: '{Log.Kind}' is not one of sqlite, kafka.");
        Check(Log.MaxTopics >= 1, $"Log:MaxTopics: {Log.MaxTopics} must be at least 1.");
        Check(Log.MaxPartitionsPerTopic is >= 1 and <= 10_000, $"Log:MaxPartitionsPerTopic: {Log.MaxPartitionsPerTopic} must be 1 to 10000.");
        Check(Log.DefaultPartitions >= 1 && Log.DefaultPartitions <= Log.MaxPartitionsPerTopic,
            $"Log:DefaultPartitions: {Log.DefaultPartitions} must be 1 to Log:MaxPartitionsPerTopic ({Log.MaxPartitionsPerTopic}).");
        Check(Log.MaxRecordBytes >= 1, $"Log:MaxRecordBytes: {Log.MaxRecordBytes} must be at least 1.");
        Check(Log.RetentionBytes is null or > 0, $"Log:RetentionBytes: {Log.RetentionBytes} must be more than 0 (or unset).");
        Check(Log.RetentionTime is null || Log.RetentionTime > TimeSpan.Zero, $"Log:RetentionTime: {Log.RetentionTime} must be more than 0 (or unset).");
        Check(Log.RetentionCheckInterval > TimeSpan.Zero, $"Log:RetentionCheckInterval: {Log.RetentionCheckInterval} must be more than 0.");
        Check(Sink.FlushSize >= 1, $"Sink:FlushSize: {Sink.FlushSize} must be at least 1.");
        Check(Sink.RotateScheduleInterval is null || Sink.RotateScheduleInterval > TimeSpan.Zero, $"Sink:RotateScheduleInterval: {Sink.RotateScheduleInterval} must be more than 0 (or unset).");
        Check(Sink.PollInterval > TimeSpan.Zero, $"Sink:PollInterval: {Sink.PollInterval} must be more than 0.");
        Check(!string.IsNullOrWhiteSpace(Sink.GroupId), "Sink:GroupId: must not be empty.");
        Check(Sink.Reset is null or "earliest", $"Sink:Reset: '{Sink.Reset}' is not earliest (or unset).");
        Check(Sink.OffsetZeroPadWidth is >= 1 and <= 19, $"Sink:OffsetZeroPadWidth: {Sink.OffsetZeroPadWidth} must be 1 to 19.");
        Check(ObjectStore.Kind is "directory" or "s3", $"ObjectStore:Kind: '{ObjectStore.Kind}' is not one of directory, s3.");
        Check(!string.IsNullOrWhiteSpace(Batch.TablesPrefix) && !Batch.TablesPrefix.StartsWith('/') && !Batch.TablesPrefix.EndsWith('/'),
            $"Batch:TablesPrefix: '{Batch.TablesPrefix}' must be a key prefix without leading or trailing '/' (e.g. delta).");
        Check(Batch.Threads >= 0, $"Batch:Threads: {Batch.Threads} must be zero (all cores) or more.");
        Check(Schedule.Retries >= 0, $"Schedule:Retries: {Schedule.Retries} must be zero or more.");
        Check(Schedule.RetryDelay >= TimeSpan.Zero, $"Schedule:RetryDelay: {Schedule.RetryDelay} must not be negative.");
        Check(Stream.Trigger > TimeSpan.Zero && Stream.Trigger <= TimeSpan.FromHours(1), $"Stream:Trigger: {Stream.Trigger} must be more than 0 and at most 1 hour.");
        Check(Stream.MaxBatchRecords is >= 1 and <= 10_000_000, $"Stream:MaxBatchRecords: {Stream.MaxBatchRecords} must be 1 to 10000000.");
        Check(Stream.CompactEvery is 0 or >= 2, $"Stream:CompactEvery: {Stream.CompactEvery} must be 0 (never compact) or at least 2.");
        Check(Stream.From is "earliest" or "latest", $"Stream:From: '{Stream.From}' is not one of earliest, latest.");
        Check(!string.IsNullOrWhiteSpace(Stream.GroupId), "Stream:GroupId: must not be empty.");
        Check(Stream.Reset is null or "earliest", $"Stream:Reset: '{Stream.Reset}' is not earliest (or unset).");
        Check(!string.IsNullOrWhiteSpace(Stream.MemoryLimit), "Stream:MemoryLimit: must not be empty (DuckDB syntax, e.g. 400MB).");
        Check(Cronos.CronExpression.TryParse(Schedule.Cron, out _), $"Schedule:Cron: '{Schedule.Cron}' is not a 5-field cron expression (minute hour day month weekday).");
        return errors;
    }
}
