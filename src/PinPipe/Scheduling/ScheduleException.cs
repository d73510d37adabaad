using PinPipe.Errors;

namespace PinPipe.Scheduling;

/// <summary>
/// The schedule cannot run: its run history cannot be used (<c>schedule.history_unreadable</c>), another scheduler holds
/// it (<c>schedule.locked</c>), or the cron expression has no further occurrence (<c>schedule.cron_never</c>).
/// </summary>
public sealed class ScheduleException(string code, ErrorKind kind, string message, Exception? inner = null, string? where = null)
    : PinPipeException(code, kind, message, inner, where);
