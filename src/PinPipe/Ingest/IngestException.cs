using PinPipe.Errors;

namespace PinPipe.Ingest;

/// <summary>The ingest API cannot start: its address is taken (<c>ingest.address_in_use</c>, unavailable).</summary>
public sealed class IngestException(string code, ErrorKind kind, string message, Exception? inner = null, string? where = null)
    : PinPipeException(code, kind, message, inner, where);
