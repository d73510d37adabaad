namespace PinPipe.Ingest;

/// <summary>Settings of the ingest API (configuration section <c>Ingest</c>).</summary>
public sealed record IngestOptions
{
    /// <summary>Where Kestrel listens. Default <c>http://127.0.0.1:8082</c> (the Kafka REST Proxy's port).</summary>
    public string Urls { get; init; } = "http://127.0.0.1:8082";

    /// <summary>A prefix of every route, e.g. <c>/dev</c> for an API Gateway stage. Default none.</summary>
    public string? PathBase { get; init; }

    /// <summary>Largest request body in bytes; larger gets 413. Default 16 MiB.</summary>
    public long MaxRequestBytes { get; init; } = 16 * 1024 * 1024;

    /// <summary>Most records in one produce request; more gets 422. Default 10,000.</summary>
    public int MaxRecordsPerRequest { get; init; } = 10_000;

    /// <summary>Shards of a stream created by <c>POST /streams/{stream}</c> without a <c>ShardCount</c>. Default 1.</summary>
    public int DefaultShardCount { get; init; } = 1;

    public static IngestOptions Default { get; } = new();
}
