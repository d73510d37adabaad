using PinPipe.Configuration;

namespace PinPipe.Log.Kinesis;

/// <summary>
/// Settings of Amazon Kinesis as the streaming lane's transport (configuration section <c>Kinesis</c>), used when
/// <c>Stream:Source</c> is <c>kinesis</c>: the API's Kinesis routes forward to it, and the stream job reads its shards.
/// Credentials are never settings: they come from the AWS SDK's usual chain (<c>AWS_ACCESS_KEY_ID</c> and
/// <c>AWS_SECRET_ACCESS_KEY</c>, <c>AWS_PROFILE</c> and the shared credentials file, a container or instance role).
/// Where a shard without checkpoint starts is <c>Stream:From</c> (<c>earliest</c> = TRIM_HORIZON, <c>latest</c> = LATEST).
/// </summary>
public sealed record KinesisOptions
{
    /// <summary>The AWS region (<c>eu-west-1</c>). Default null: the SDK's chain (<c>AWS_REGION</c>, <c>AWS_DEFAULT_REGION</c>, the profile), else us-east-1.</summary>
    public string? Region { get; init; }

    /// <summary>
    /// The endpoint URL of a Kinesis-compatible server (<c>http://127.0.0.1:4567</c> for kinesalite or LocalStack). Default null:
    /// AWS's endpoint of <see cref="Region"/>, <c>https://kinesis.&lt;region&gt;.amazonaws.com</c>.
    /// </summary>
    public string? ServiceUrl { get; init; }

    /// <summary>Most records one GetRecords returns (its <c>Limit</c>), 1 to 10,000 (Kinesis's most). Default 10,000.</summary>
    public int MaxRecordsPerRead { get; init; } = 10_000;

    /// <summary>
    /// The shortest time between two GetRecords of one shard. Default 200 ms: Kinesis allows five reads a second per shard,
    /// shared by every consumer of the stream; a shorter interval is throttled (and then backed off).
    /// </summary>
    public TimeSpan PollInterval { get; init; } = TimeSpan.FromMilliseconds(200);

    /// <summary>How often the reader lists the stream's shards anew besides when a shard ends (a split or merge). Default 30 s.</summary>
    public TimeSpan ShardListInterval { get; init; } = TimeSpan.FromSeconds(30);

    /// <summary>Longest wait for one Kinesis answer. Default 10 s.</summary>
    public TimeSpan RequestTimeout { get; init; } = TimeSpan.FromSeconds(10);

    /// <summary>Every problem of these settings, each naming its key; empty when all is well.</summary>
    public IReadOnlyList<string> Validate() => new SettingsProblems()
        .Check(Region is null || (Region.Length is > 0 and <= 64 && Region.All(c => char.IsAsciiLetterLower(c) || char.IsAsciiDigit(c) || c == '-')),
            $"Kinesis:Region: '{Region}' is not an AWS region name (e.g. us-east-1).")
        .Check(ServiceUrl is null or "" || Uri.TryCreate(ServiceUrl, UriKind.Absolute, out var url) && url.Scheme is "http" or "https",
            $"Kinesis:ServiceUrl: '{ServiceUrl}' must be an absolute http(s) URL (e.g. http://127.0.0.1:4567).")
        .Check(MaxRecordsPerRead is >= 1 and <= 10_000, $"Kinesis:MaxRecordsPerRead: {MaxRecordsPerRead} must be 1 to 10000 (Kinesis's GetRecords limit).")
        .Check(PollInterval > TimeSpan.Zero && PollInterval <= TimeSpan.FromMinutes(1), $"Kinesis:PollInterval: {Durations.Text(PollInterval)} must be more than 0 and at most 1 minute.")
        .Check(ShardListInterval >= TimeSpan.FromSeconds(1) && ShardListInterval <= TimeSpan.FromHours(1),
            $"Kinesis:ShardListInterval: {Durations.Text(ShardListInterval)} must be 1 second to 1 hour.")
        .Check(RequestTimeout >= TimeSpan.FromMilliseconds(100) && RequestTimeout <= TimeSpan.FromMinutes(5),
            $"Kinesis:RequestTimeout: {Durations.Text(RequestTimeout)} must be 100 ms to 5 minutes.")
        .ToList();
}
