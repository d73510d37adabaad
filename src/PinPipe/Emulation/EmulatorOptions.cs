namespace PinPipe.Emulation;

/// <summary>Settings of <c>pinpipe emulate</c> (configuration section <c>Emulator</c>).</summary>
public sealed record EmulatorOptions
{
    /// <summary>The ingest API's base URL, path base included (e.g. an API Gateway stage). Default <c>http://127.0.0.1:8082</c>.</summary>
    public string ApiUrl { get; init; } = "http://127.0.0.1:8082";

    /// <summary><c>batch</c> (Kafka REST topics) or <c>stream</c> (Kinesis routes).</summary>
    public string Lane { get; init; } = "batch";

    /// <summary>Posts (source rows) to send; each gives three records. Null: until <see cref="Duration"/> or Ctrl-C.</summary>
    public long? Count { get; init; }

    /// <summary>Stop after this long. Null: no time limit.</summary>
    public TimeSpan? Duration { get; init; }

    /// <summary>Target posts per second; null or 0 = unthrottled.</summary>
    public double? Rate { get; init; }

    /// <summary>Requests in flight at once. Default 8.</summary>
    public int Concurrency { get; init; } = 8;

    /// <summary>Records per request (1 = the original emulator's shape). Default 1.</summary>
    public int RecordsPerRequest { get; init; } = 1;

    /// <summary>Seed of the random row choice. Default 1.</summary>
    public int Seed { get; init; } = 1;

    /// <summary>Attempts per request on 5xx and connection errors, with exponential backoff. Default 5.</summary>
    public int MaxAttempts { get; init; } = 5;

    /// <summary>First retry delay; doubled each attempt, with jitter. Default 100 ms.</summary>
    public TimeSpan RetryBaseDelay { get; init; } = TimeSpan.FromMilliseconds(100);

    public static EmulatorOptions Default { get; } = new();
}
