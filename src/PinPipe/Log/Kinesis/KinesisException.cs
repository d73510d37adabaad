using PinPipe.Errors;

namespace PinPipe.Log.Kinesis;

/// <summary>
/// The one exception of the Kinesis client: Kinesis's error name (<see cref="ErrorType"/>, its <c>__type</c>, e.g.
/// <c>ResourceNotFoundException</c>), its message, the HTTP status, and whether a retry may help. Throttling
/// (<c>ProvisionedThroughputExceededException</c>, <c>LimitExceededException</c>, <c>ThrottlingException</c>), a 5xx and a
/// failed connection are transient (<see cref="PinPipeException.IsRetriable"/>): the callers retry them with backoff.
/// </summary>
public sealed class KinesisException : PinPipeException
{
    /// <summary>The error type of a request that got no answer (the endpoint is unreachable, the connection broke, it timed out).</summary>
    public const string Unreachable = "Unreachable";

    /// <summary>The error type of an answer that is not Kinesis's JSON.</summary>
    public const string BadResponse = "BadResponse";

    private static readonly HashSet<string> Throttles = new(StringComparer.Ordinal)
    {
        "ProvisionedThroughputExceededException", "LimitExceededException", "ThrottlingException", "KMSThrottlingException",
    };

    /// <summary>A failed Kinesis call.</summary>
    /// <param name="errorType">Kinesis's error name (<c>__type</c> without its namespace), or <see cref="Unreachable"/> / <see cref="BadResponse"/>.</param>
    /// <param name="message">Kinesis's message, or what went wrong.</param>
    /// <param name="status">The HTTP status (0 when there was no answer).</param>
    /// <param name="operation">The operation (<c>GetRecords</c>).</param>
    /// <param name="where">The stream and endpoint the call was for.</param>
    /// <param name="inner">The underlying failure, for a call without answer.</param>
    public KinesisException(string errorType, string message, int status, string operation, string? where = null, Exception? inner = null)
        : base(CodeOf(errorType, status), KindOf(errorType, status), $"Kinesis {operation} failed: {errorType}: {message}", inner, where)
    {
        ErrorType = errorType;
        StatusCode = status;
        Operation = operation;
        ServiceMessage = message;
    }

    /// <summary>Kinesis's error name: <c>ResourceNotFoundException</c>, <c>ProvisionedThroughputExceededException</c>, ….</summary>
    public string ErrorType { get; }

    /// <summary>The HTTP status of the answer; 0 when there was none.</summary>
    public int StatusCode { get; }

    /// <summary>The operation that failed.</summary>
    public string Operation { get; }

    /// <summary>The error's message as Kinesis wrote it.</summary>
    public string ServiceMessage { get; }

    /// <summary>Kinesis refused for throughput or rate limits; waiting and retrying helps.</summary>
    public bool IsThrottling => Throttles.Contains(ErrorType);

    /// <summary>The stream or shard does not exist (<c>ResourceNotFoundException</c>).</summary>
    public bool IsNotFound => ErrorType == "ResourceNotFoundException";

    /// <summary>A shard iterator older than five minutes (<c>ExpiredIteratorException</c>): get a new one.</summary>
    public bool IsExpiredIterator => ErrorType == "ExpiredIteratorException";

    private static string CodeOf(string type, int status) => type switch
    {
        "ResourceNotFoundException" => "kinesis.not_found",
        "ResourceInUseException" => "kinesis.in_use",
        "ExpiredIteratorException" => "kinesis.expired_iterator",
        Unreachable => "kinesis.unreachable",
        _ when Throttles.Contains(type) => "kinesis.throttled",
        _ when status >= 500 => "kinesis.unavailable",
        _ => "kinesis.error",
    };

    private static ErrorKind KindOf(string type, int status) =>
        type == Unreachable || Throttles.Contains(type) || status >= 500 || type == "ExpiredIteratorException" ? ErrorKind.Unavailable
        : type is "ValidationException" or "InvalidArgumentException" or "SerializationException" ? ErrorKind.BadInput
        : ErrorKind.Failed;
}
