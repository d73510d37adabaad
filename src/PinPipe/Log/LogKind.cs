namespace PinPipe.Log;

/// <summary>Which log PinPipe uses (<c>Log:Kind</c>; settings and flags name it in any case: <c>sqlite</c>, <c>kafka</c>).</summary>
public enum LogKind
{
    /// <summary>The embedded log, a SQLite file (default).</summary>
    Sqlite,

    /// <summary>Apache Kafka (or MSK) on the brokers of <c>Log:Kafka:bootstrap.servers</c>.</summary>
    Kafka,
}
