namespace PinPipe.Streaming;

/// <summary>Which transport the streaming lane uses (<c>Stream:Source</c>; settings name it in any case: <c>log</c>, <c>kinesis</c>).</summary>
public enum StreamSource
{
    /// <summary>PinPipe's log (the embedded log or Kafka, <c>Log:Kind</c>): the streams are its <c>streaming-…</c> topics (default).</summary>
    Log,

    /// <summary>
    /// Amazon Kinesis (section <c>Kinesis</c>): the API's Kinesis routes forward to it, and the stream job reads its shards,
    /// the last sequence number per shard committed as Delta txns with the rows.
    /// </summary>
    Kinesis,
}
