namespace PinPipe.Emulation;

/// <summary>A point-in-time view of a running <see cref="Emulator"/>, cheap enough to take many times a second.</summary>
/// <param name="Posts">Source posts taken so far (each gives up to three records).</param>
/// <param name="TargetPosts">The run's <see cref="EmulatorOptions.Count"/>, when it has one.</param>
/// <param name="Requests">HTTP requests made, retries included.</param>
/// <param name="RecordsSent">Records handed to requests (each counted once, however often it was retried).</param>
/// <param name="RecordsAcknowledged">Records the API acknowledged as written.</param>
/// <param name="RecordsFailed">Records given up on: rejected (4xx) or still failing after the last attempt.</param>
/// <param name="Retries">Requests repeated after a retriable failure.</param>
/// <param name="InFlight">Requests waiting for an answer right now.</param>
/// <param name="MissingRows">Geo or user rows the source lacked, so their records were not sent.</param>
/// <param name="Elapsed">Time since the run started.</param>
public sealed record EmulatorStats(
    long Posts,
    long? TargetPosts,
    long Requests,
    long RecordsSent,
    long RecordsAcknowledged,
    long RecordsFailed,
    long Retries,
    long InFlight,
    long MissingRows,
    TimeSpan Elapsed)
{
    /// <summary>Average posts per second since the start.</summary>
    public double PostsPerSecond => Elapsed > TimeSpan.Zero ? Posts / Elapsed.TotalSeconds : 0;

    /// <summary>Average acknowledged records per second since the start.</summary>
    public double RecordsPerSecond => Elapsed > TimeSpan.Zero ? RecordsAcknowledged / Elapsed.TotalSeconds : 0;

    /// <summary>Time left at the average rate so far, when the run has a <see cref="TargetPosts"/> and has started moving.</summary>
    public TimeSpan? Eta => TargetPosts is { } target && PostsPerSecond > 0
        ? TimeSpan.FromSeconds(Math.Max(0, target - Posts) / PostsPerSecond)
        : null;
}
