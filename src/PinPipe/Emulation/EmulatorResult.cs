namespace PinPipe.Emulation;

/// <summary>The outcome of <see cref="Emulator.RunAsync"/>. A run succeeded when <see cref="RecordsLost"/> is 0 and <see cref="SourceFailure"/> null.</summary>
/// <param name="Posts">Source posts taken.</param>
/// <param name="Requests">HTTP requests made, retries included.</param>
/// <param name="RecordsSent">Records handed to requests.</param>
/// <param name="RecordsAcknowledged">Records the API acknowledged as written.</param>
/// <param name="RecordsFailed">Records given up on (rejected, or failing after the last attempt).</param>
/// <param name="Retries">Requests repeated after a retriable failure.</param>
/// <param name="MissingRows">Geo or user rows the source lacked (their records were not sent).</param>
/// <param name="Duration">Wall time of the run.</param>
/// <param name="LatencyP50">Median request latency.</param>
/// <param name="LatencyP90">90th percentile request latency.</param>
/// <param name="LatencyP99">99th percentile request latency.</param>
/// <param name="LatencyMax">Slowest request.</param>
/// <param name="Errors">Distinct error messages seen (at most 20), for the report.</param>
public sealed record EmulatorResult(
    long Posts,
    long Requests,
    long RecordsSent,
    long RecordsAcknowledged,
    long RecordsFailed,
    long Retries,
    long MissingRows,
    TimeSpan Duration,
    TimeSpan LatencyP50,
    TimeSpan LatencyP90,
    TimeSpan LatencyP99,
    TimeSpan LatencyMax,
    IReadOnlyList<string> Errors)
{
    /// <summary>Reads of the source database retried after it could not be read (a lost connection, the server down).</summary>
    public long SourceRetries { get; init; }

    /// <summary>How long, in all, the source database could not be read while the emulator retried.</summary>
    public TimeSpan SourceUnavailable { get; init; }

    /// <summary>
    /// Null, or why the run gave up on the source database (it stayed unreadable for <see cref="EmulatorOptions.MaxSourceOutage"/>)
    /// and what was not sent for it: the run failed even when <see cref="RecordsLost"/> is 0.
    /// </summary>
    public string? SourceFailure { get; init; }

    /// <summary>Posts of <see cref="EmulatorOptions.Count"/> never taken because the run gave up on the source database (0 without a count).</summary>
    public long PostsNotSent { get; init; }

    /// <summary>Records sent but never acknowledged. The CLI exits non-zero when this is above 0.</summary>
    public long RecordsLost => RecordsSent - RecordsAcknowledged;

    /// <summary>Acknowledged records per second over the run.</summary>
    public double RecordsPerSecond => Duration > TimeSpan.Zero ? RecordsAcknowledged / Duration.TotalSeconds : 0;
}
