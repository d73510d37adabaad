using PinPipe.Errors;

namespace PinPipe.Streaming;

/// <summary>The stream job cannot run: DuckDB refused its settings (<c>stream.settings_rejected</c>, bad input).</summary>
public sealed class StreamException(string code, ErrorKind kind, string message, Exception? inner = null, string? where = null)
    : PinPipeException(code, kind, message, inner, where);
