using PinPipe.Errors;

namespace PinPipe.Maintenance;

/// <summary>
/// Table maintenance refused or failed: a VACUUM retention under 1 hour without <c>--force</c>
/// (<c>maintenance.retention_too_short</c>, bad input), a table that does not exist (<c>maintenance.no_table</c>, failed).
/// </summary>
public sealed class MaintenanceException(string code, ErrorKind kind, string message, Exception? inner = null, string? where = null)
    : PinPipeException(code, kind, message, inner, where);
