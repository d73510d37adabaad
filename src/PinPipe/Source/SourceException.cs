using PinPipe.Errors;

namespace PinPipe.Source;

/// <summary>
/// The source database cannot be used: its credentials file is unreadable or incomplete (<c>source.credentials</c>,
/// bad input), the server does not answer (<c>source.unreachable</c>, unavailable), or it holds no posts
/// (<c>source.empty</c>, failed). <see cref="PinPipeException.Where"/> names the file or the provider's host:port.
/// </summary>
public sealed class SourceException(string code, ErrorKind kind, string message, Exception? inner = null, string? where = null)
    : PinPipeException(code, kind, message, inner, where);
