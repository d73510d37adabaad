using PinPipe.Errors;

namespace PinPipe.Lake;

/// <summary>Why an object-store operation failed, as far as a caller must tell: permanent (fix something first) or transient (retry).</summary>
public enum ObjectStoreErrorCode
{
    /// <summary>The bucket does not exist at the endpoint. Permanent: create it or name another.</summary>
    BucketMissing,
    /// <summary>The credentials may not use the bucket (403 AccessDenied). Permanent.</summary>
    AccessDenied,
    /// <summary>The endpoint does not accept the credentials (InvalidAccessKeyId, SignatureDoesNotMatch, expired token), or there are none. Permanent.</summary>
    BadCredentials,
    /// <summary>The endpoint cannot be reached or answers that it cannot serve now (5xx, SlowDown, timeouts, connection refused). Transient.</summary>
    Unavailable,
    /// <summary>The endpoint refused the request for another reason (a 4xx). Permanent.</summary>
    Failed,
}

/// <summary>
/// The object store's exception: what went wrong, whether retrying can help (<see cref="PinPipeException.IsRetriable"/>),
/// and <see cref="PinPipeException.Where"/>: the bucket and its endpoint (<c>bucket 'b' at http://127.0.0.1:4568</c>).
/// </summary>
/// <remarks>
/// Kinds: a missing bucket, denied access and bad credentials are <see cref="ErrorKind.BadInput"/> (exit code 2): the
/// settings or the environment they name must change (the bucket's name, the credentials, or the bucket created), and
/// nothing was done; retrying cannot help. An unreachable or overloaded endpoint is <see cref="ErrorKind.Unavailable"/>
/// (exit code 3), the one retriable kind. Any other refusal is <see cref="ErrorKind.Failed"/> (exit code 1).
/// </remarks>
public sealed class ObjectStoreException : PinPipeException
{
    public ObjectStoreException(ObjectStoreErrorCode code, string message, string? where, Exception? inner = null)
        : base(CodeName(code), KindOf(code), message, inner, where) => Code = code;

    /// <summary>Why the operation failed, as the store's own code.</summary>
    public ObjectStoreErrorCode Code { get; }

    private static string CodeName(ObjectStoreErrorCode code) => code switch
    {
        ObjectStoreErrorCode.BucketMissing => "store.bucket_missing",
        ObjectStoreErrorCode.AccessDenied => "store.access_denied",
        ObjectStoreErrorCode.BadCredentials => "store.bad_credentials",
        ObjectStoreErrorCode.Unavailable => "store.unavailable",
        _ => "store.failed",
    };

    private static ErrorKind KindOf(ObjectStoreErrorCode code) => code switch
    {
        ObjectStoreErrorCode.BucketMissing or ObjectStoreErrorCode.AccessDenied or ObjectStoreErrorCode.BadCredentials => ErrorKind.BadInput,
        ObjectStoreErrorCode.Unavailable => ErrorKind.Unavailable,
        _ => ErrorKind.Failed,
    };
}
