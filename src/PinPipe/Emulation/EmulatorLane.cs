namespace PinPipe.Emulation;

/// <summary>Which routes the emulator posts to (<c>Emulator:Lane</c>; settings and flags name it in any case: <c>batch</c>, <c>stream</c>).</summary>
public enum EmulatorLane
{
    /// <summary>The batch lane: Kafka REST topics (default).</summary>
    Batch,

    /// <summary>The streaming lane: Kinesis routes, at most 500 records a request (one PutRecords).</summary>
    Stream,
}
