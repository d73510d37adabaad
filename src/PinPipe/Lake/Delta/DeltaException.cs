using PinPipe.Errors;

namespace PinPipe.Lake.Delta;

/// <summary>Why a Delta table operation failed.</summary>
public enum DeltaErrorCode
{
    /// <summary>The table needs a protocol version, feature or type this implementation does not support.</summary>
    Unsupported,
    /// <summary>The log is damaged: a version is missing, an action cannot be parsed, a checkpoint is unreadable.</summary>
    Corrupt,
    /// <summary>The requested version does not exist.</summary>
    VersionNotFound,
    /// <summary>The data written does not match the table's schema.</summary>
    SchemaMismatch,
    /// <summary>The write itself is not valid (missing file, file not in the table, append-only table, ...).</summary>
    InvalidWrite,
    /// <summary>A concurrent commit changed what this commit depends on (metadata, protocol, files it removes, or, for an
    /// overwrite, the files it read): running the operation again on the new version may succeed.</summary>
    Conflict,
    /// <summary>
    /// A concurrent commit recorded one of the write's txn app ids (<see cref="DeltaWrite.Txn"/>, <see cref="DeltaWrite.Txns"/>)
    /// at a version below the write's, after the write read the table: another writer advanced the same app id (stream
    /// partition), so committing would duplicate its rows. Nothing was committed. Not retriable as it is: the writer must
    /// re-read the table's txn versions (it may no longer own the app id) and write from there.
    /// </summary>
    ConcurrentTransaction,
}

/// <summary>The one exception type of the Delta reader and writer: a code and a message naming what is wrong.</summary>
public sealed class DeltaException : PinPipeException
{
    public DeltaException(DeltaErrorCode code, string message, Exception? inner = null, string? where = null)
        : base(CodeName(code), ErrorKind.Failed, message, inner, where) => Code = code;

    /// <summary>Why the operation failed, as the Delta reader's and writer's own code.</summary>
    public DeltaErrorCode Code { get; }

    /// <summary>A <see cref="DeltaErrorCode.Conflict"/> may succeed when retried on the new version; a
    /// <see cref="DeltaErrorCode.ConcurrentTransaction"/> may not (the write's txn versions are stale).</summary>
    public override bool IsRetriable => Code == DeltaErrorCode.Conflict;

    private static string CodeName(DeltaErrorCode code) => code switch
    {
        DeltaErrorCode.Unsupported => "delta.unsupported",
        DeltaErrorCode.Corrupt => "delta.corrupt",
        DeltaErrorCode.VersionNotFound => "delta.version_not_found",
        DeltaErrorCode.SchemaMismatch => "delta.schema_mismatch",
        DeltaErrorCode.InvalidWrite => "delta.invalid_write",
        DeltaErrorCode.Conflict => "delta.conflict",
        DeltaErrorCode.ConcurrentTransaction => "delta.concurrent_transaction",
        _ => "delta.error",
    };
}
