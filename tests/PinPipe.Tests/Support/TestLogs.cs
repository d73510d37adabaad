using System.Collections.Concurrent;
using PinPipe.Log;

namespace PinPipe.Tests.Support;

/// <summary>Real embedded logs (SQLite, WAL, fsync) in temp folders, removed when the test process ends.</summary>
public static class TestLogs
{
    private static readonly ConcurrentBag<TempDirectory> Directories = [];

    static TestLogs() => AppDomain.CurrentDomain.ProcessExit += (_, _) => { foreach (var d in Directories) d.Dispose(); };

    public static async ValueTask<ILog> CreateAsync(LogOptions? options = null)
    {
        var dir = new TempDirectory("log");
        Directories.Add(dir);
        return await LogFactory.OpenAsync((options ?? new LogOptions()) with { Path = dir.File("log.db") });
    }
}
