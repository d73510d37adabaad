using PinPipe.Files;

namespace PinPipe.Scheduling;

/// <summary>
/// An exclusive lock file that at most one batch run holds at a time, across processes: <c>pinpipe schedule</c>
/// takes it for each attempt and a manual <c>pinpipe batch</c> should take it too, so two runs never write the
/// tables at once. The lock is the operating system's (an exclusive open, <c>flock</c> on Unix), so it is released
/// when the holder disposes it or its process dies; the file itself stays.
/// </summary>
public sealed class BatchRunLock : IDisposable
{
    private readonly FileStream _file;

    private BatchRunLock(FileStream file, string path)
    {
        _file = file;
        Path = path;
    }

    /// <summary>The lock file's full path.</summary>
    public string Path { get; }

    /// <summary>The run lock of a history database: <c>&lt;history&gt;.lock</c>, next to it.</summary>
    public static string PathFor(string historyPath) => System.IO.Path.GetFullPath(historyPath) + ".lock";

    /// <summary>
    /// Takes the lock at <paramref name="path"/> (creating the file and its folder), or returns null at once when
    /// another holder, in this process or another, has it.
    /// </summary>
    public static BatchRunLock? TryAcquire(string path)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(path);
        path = System.IO.Path.GetFullPath(path);
        OwnerOnly.CreateParentDirectory(path);
        try
        {
            return new BatchRunLock(new FileStream(path, OwnerOnly.Options(FileMode.OpenOrCreate, FileAccess.ReadWrite)), path);
        }
        catch (IOException) when (File.Exists(path))
        {
            return null;
        }
    }

    /// <summary>Releases the lock.</summary>
    public void Dispose() => _file.Dispose();
}
