using PinPipe.Configuration;

namespace PinPipe.Emulation;

/// <summary>Settings of <c>pinpipe emulate</c> (configuration section <c>Emulator</c>).</summary>
public sealed record EmulatorOptions
{
    /// <summary>The ingest API's base URL, path base included (e.g. an API Gateway stage). Default <c>http://127.0.0.1:8082</c>.</summary>
    public string ApiUrl { get; init; } = "http://127.0.0.1:8082";

    /// <summary>
    /// The API key sent in <c>x-api-key</c> with every request (<c>--api-key</c>, or <c>PINPIPE_Emulator__ApiKey</c> to keep it
    /// off the command line); null sends none. Never logged or printed.
    /// </summary>
    public string? ApiKey { get; init; }

    /// <summary>
    /// A PEM file of the CA certificate(s) to trust for an <c>https://</c> API (<c>--ca-file</c>; as curl's <c>--cacert</c>,
    /// they replace the system's roots): for a server whose certificate no public CA signed. Default none: the system's roots.
    /// </summary>
    public string? CaFile { get; init; }

    /// <summary>The most records of one Kinesis <c>PutRecords</c> request: <see cref="RecordsPerRequest"/>'s limit on the stream lane.</summary>
    public const int MaxStreamRecordsPerRequest = 500;

    /// <summary><c>batch</c> (Kafka REST topics, default) or <c>stream</c> (Kinesis routes).</summary>
    public EmulatorLane Lane { get; init; } = EmulatorLane.Batch;

    /// <summary>Posts (source rows) to send; each gives three records. Null: until <see cref="Duration"/> or Ctrl-C.</summary>
    public long? Count { get; init; }

    /// <summary>Stop after this long. Null: no time limit.</summary>
    public TimeSpan? Duration { get; init; }

    /// <summary>Target posts per second; null or 0 = unthrottled.</summary>
    public double? Rate { get; init; }

    /// <summary>The most requests in flight a setting may ask for: each holds a connection (and a port of the machine's).</summary>
    public const int MaxConcurrency = 1024;

    /// <summary>Requests in flight at once. Default 8; at most <see cref="MaxConcurrency"/>.</summary>
    public int Concurrency { get; init; } = 8;

    /// <summary>Records per request (1 = the original emulator's shape). Default 1.</summary>
    public int RecordsPerRequest { get; init; } = 1;

    /// <summary>
    /// Which rows, in which order: <see cref="EmulatorOrder.Random"/> (default; the original emulator's draw, with repeats) or
    /// <see cref="EmulatorOrder.Sequential"/> (each row once, by index, then the run ends).
    /// </summary>
    public EmulatorOrder Order { get; init; } = EmulatorOrder.Random;

    /// <summary>Seed of the random row choice: the same seed over the same source posts the same rows. Null (default): a fresh seed each run (<see cref="Emulator.Seed"/> says which).</summary>
    public int? Seed { get; init; }

    /// <summary>
    /// Attempts per request on 5xx and connection errors, with exponential backoff. Default 5. A 429 or 503 with
    /// <c>Retry-After</c> (the server shedding load) is retried after that wait without using one up, up to 120 times.
    /// </summary>
    public int MaxAttempts { get; init; } = 5;

    /// <summary>First retry delay; doubled each attempt, with jitter. Default 100 ms.</summary>
    public TimeSpan RetryBaseDelay { get; init; } = TimeSpan.FromMilliseconds(100);

    /// <summary>
    /// How long the source database may stay unreadable (a lost connection, the server stopped, the SQLite file briefly
    /// unavailable) while the emulator keeps retrying its reads, with backoff, one warning line each; past it the run
    /// stops taking posts, sends those it took, and ends in failure naming the posts not sent. Default 1 minute; 0 gives
    /// up at the first failed read.
    /// </summary>
    public TimeSpan MaxSourceOutage { get; init; } = TimeSpan.FromMinutes(1);

    public static EmulatorOptions Default { get; } = new();

    /// <summary>Whether <paramref name="path"/> holds at least one readable PEM certificate.</summary>
    private static bool HoldsCertificate(string path)
    {
        try
        {
            var certificates = new System.Security.Cryptography.X509Certificates.X509Certificate2Collection();
            certificates.ImportFromPemFile(path);
            bool any = certificates.Count > 0;
            foreach (var c in certificates) c.Dispose();
            return any;
        }
        catch (Exception ex) when (ex is System.Security.Cryptography.CryptographicException or IOException or UnauthorizedAccessException)
        {
            return false;
        }
    }

    /// <summary>Every problem of these settings, each naming its key; empty when all is well.</summary>
    public IReadOnlyList<string> Validate() => new SettingsProblems()
        .Check(Uri.TryCreate(ApiUrl, UriKind.Absolute, out var api) && api.Scheme is "http" or "https",
            $"Emulator:ApiUrl: '{ApiUrl}' must be an absolute http(s) URL.")
        .Check(CaFile is null || File.Exists(CaFile), $"Emulator:CaFile: '{CaFile}' does not exist (a PEM file of the CA certificates to trust).")
        .Check(CaFile is null || !File.Exists(CaFile) || HoldsCertificate(CaFile),
            $"Emulator:CaFile: '{CaFile}' holds no PEM certificate (a '-----BEGIN CERTIFICATE-----' block of the CA to trust).")
        .Check(ApiKey is null || ApiKey.Length > 0 && !ApiKey.Any(char.IsControl), "Emulator:ApiKey: must not be empty or hold control characters.")
        .OneOf("Emulator:Lane", Lane)
        .OneOf("Emulator:Order", Order)
        .Check(Count is null or >= 0, $"Emulator:Count: {Count} must be zero or more.")
        .Check(Duration is null || Duration > TimeSpan.Zero, $"Emulator:Duration: {Durations.Text(Duration, "unset")} must be more than 0 (or unset).")
        .Check(Rate is null or (>= 0 and < double.PositiveInfinity), $"Emulator:Rate: {Rate} must be zero (unthrottled) or more.")
        .Check(Concurrency is >= 1 and <= MaxConcurrency, $"Emulator:Concurrency: {Concurrency} must be 1 to {MaxConcurrency}: each request in flight holds a connection.")
        .Check(RecordsPerRequest is >= 1 and <= 10_000, $"Emulator:RecordsPerRequest: {RecordsPerRequest} must be 1 to 10000.")
        .Check(Lane != EmulatorLane.Stream || RecordsPerRequest <= MaxStreamRecordsPerRequest,
            $"Emulator:RecordsPerRequest: {RecordsPerRequest} must be at most {MaxStreamRecordsPerRequest} on the stream lane, the most records of one PutRecords.")
        .Check(MaxAttempts is >= 1 and <= 100, $"Emulator:MaxAttempts: {MaxAttempts} must be 1 to 100.")
        .Check(RetryBaseDelay >= TimeSpan.Zero, $"Emulator:RetryBaseDelay: {Durations.Text(RetryBaseDelay)} must not be negative.")
        .Check(MaxSourceOutage >= TimeSpan.Zero && MaxSourceOutage <= TimeSpan.FromDays(1),
            $"Emulator:MaxSourceOutage: {Durations.Text(MaxSourceOutage)} must be 0 (give up at the first failed read of the source database) to 1d.")
        .ToList();
}
