using PinPipe.Errors;

namespace PinPipe.Batch;

/// <summary>
/// The batch job cannot run: DuckDB refused its settings (<c>batch.settings_rejected</c>, bad input) or the bucket holds
/// no raw objects for its topics (<c>batch.no_raw_objects</c>, failed).
/// </summary>
public sealed class BatchException(string code, ErrorKind kind, string message, Exception? inner = null, string? where = null)
    : PinPipeException(code, kind, message, inner, where);
