using System.Diagnostics;

namespace PinPipe.Files;

/// <summary>Processes of this machine named by id in files and tables (lock owners, group members, work folders).</summary>
public static class LocalProcesses
{
    /// <summary>
    /// Whether process <paramref name="pid"/> runs on this machine now (this process always does). A reused id answers
    /// true: callers only act early on false and otherwise wait for their own timeout.
    /// </summary>
    public static bool IsRunning(int pid)
    {
        if (pid == Environment.ProcessId) return true;
        try
        {
            using var process = Process.GetProcessById(pid);
            return !process.HasExited;
        }
        catch (ArgumentException)
        {
            return false;
        }
        catch (InvalidOperationException)
        {
            return false;
        }
    }
}
