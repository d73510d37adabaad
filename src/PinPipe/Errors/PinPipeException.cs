namespace PinPipe.Errors;

/// <summary>
/// What kind of failure a <see cref="PinPipeException"/> is: the CLI turns it into its exit code
/// (<see cref="Failed"/> 1, <see cref="BadInput"/> 2, <see cref="Unavailable"/> 3).
/// </summary>
public enum ErrorKind
{
    /// <summary>The work ran and failed: bad data, a damaged table, a conflict. Exit code 1.</summary>
    Failed,
    /// <summary>The settings, flags or input are wrong; nothing was done. Exit code 2.</summary>
    BadInput,
    /// <summary>A dependency (broker, database, object store, port, disk) cannot be reached or used now. Exit code 3.</summary>
    Unavailable,
}

/// <summary>
/// The root of PinPipe's own exceptions: every stage's exception (<c>LogException</c>, <c>DeltaException</c>,
/// <c>SettingsException</c>, ...) derives from it. It carries a stable <see cref="ErrorCode"/> (<c>log.unknown_topic</c>),
/// its <see cref="Kind"/> (which the CLI maps to an exit code), whether a retry can help, and <see cref="Where"/>: the
/// thing the failure is about (a file, a bucket and its endpoint, a host and port), which the CLI prints after the
/// message: <c>error: the bucket does not exist (bucket 'b' at http://127.0.0.1:4568)</c>.
/// </summary>
public abstract class PinPipeException : Exception
{
    protected PinPipeException(string code, ErrorKind kind, string message, Exception? inner = null, string? where = null)
        : base(message, inner)
    {
        ArgumentException.ThrowIfNullOrEmpty(code);
        ErrorCode = code;
        Kind = kind;
        Where = where;
    }

    /// <summary>A stable, lower-case, dotted code: <c>stage.what</c> (<c>log.unknown_topic</c>, <c>store.bucket_missing</c>).</summary>
    public string ErrorCode { get; }

    /// <summary>Which kind of failure this is; the CLI's exit code follows from it.</summary>
    public ErrorKind Kind { get; }

    /// <summary>What the failure is about (a file, a bucket at an endpoint, a host:port), or null when the message says it.</summary>
    public string? Where { get; }

    /// <summary>True when the same call may succeed later (a dependency is down, a lock is held); false for permanent failures.</summary>
    public virtual bool IsRetriable => Kind == ErrorKind.Unavailable;
}
