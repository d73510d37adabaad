using System.Diagnostics;
using System.Globalization;

namespace PinPipe.Bench;

/// <summary>A finished child process: exit code, wall time, peak resident memory and output.</summary>
internal sealed record ChildResult(int ExitCode, TimeSpan Wall, long PeakRssBytes, string Stdout, string Stderr)
{
    /// <summary>The first lines of stderr (or stdout when stderr is empty), for an error message.</summary>
    public string Excerpt(int lines = 3)
    {
        var text = string.IsNullOrWhiteSpace(Stderr) ? Stdout : Stderr;
        return string.Join(" / ", text.Split('\n', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries).Take(lines));
    }
}

/// <summary>
/// Runs a child process to completion and measures it. Peak memory: GNU time's <c>%M</c> (maximum RSS
/// of the child and of its waited-for descendants) when <c>/usr/bin/time</c> exists, else the sum of
/// <c>VmHWM</c> over the process tree, polled every 50 ms.
/// </summary>
internal static class ChildRun
{
    private const string GnuTime = "/usr/bin/time";

    public static async Task<ChildResult> RunAsync(string file, IEnumerable<string> args, string workingDirectory, CancellationToken cancellationToken = default)
    {
        bool useTime = File.Exists(GnuTime);
        string? rssFile = useTime ? Path.Combine(Path.GetTempPath(), $"pinpipe-bench-rss-{Guid.NewGuid():N}.txt") : null;
        var info = new ProcessStartInfo(useTime ? GnuTime : file)
        {
            WorkingDirectory = workingDirectory,
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
        };
        if (useTime)
        {
            foreach (var a in new[] { "-f", "%M", "-o", rssFile!, file }) info.ArgumentList.Add(a);
        }
        foreach (var a in args) info.ArgumentList.Add(a);
        // The child must not pick up the developer's settings.
        foreach (var key in Environment.GetEnvironmentVariables().Keys.Cast<string>().Where(k => k.StartsWith("PINPIPE_", StringComparison.Ordinal)))
            info.Environment.Remove(key);

        var watch = Stopwatch.StartNew();
        using var process = Process.Start(info) ?? throw new InvalidOperationException($"cannot start {info.FileName}");
        var stdout = process.StandardOutput.ReadToEndAsync(cancellationToken);
        var stderr = process.StandardError.ReadToEndAsync(cancellationToken);
        long polled = 0;
        try
        {
            var exited = process.WaitForExitAsync(cancellationToken);
            while (!exited.IsCompleted)
            {
                if (!useTime) polled = Math.Max(polled, TreeHighWaterMark(process.Id));
                await Task.WhenAny(exited, Task.Delay(50, cancellationToken));
            }
            await exited;
        }
        catch (OperationCanceledException)
        {
            process.Kill(entireProcessTree: true);
            throw;
        }
        watch.Stop();
        string outText = await stdout, errText = await stderr;
        long peak = polled;
        if (rssFile is not null)
        {
            try
            {
                // GNU time writes "Command exited with non-zero status N" before the figure on failure: take the last line.
#pragma warning disable CA1849 // a small file the finished child wrote, read once after it exited
                var last = File.ReadAllLines(rssFile).LastOrDefault(l => l.Trim().Length > 0);
#pragma warning restore CA1849
                if (last is not null && long.TryParse(last.Trim(), NumberStyles.Integer, CultureInfo.InvariantCulture, out var kb)) peak = kb * 1024;
            }
            finally
            {
                File.Delete(rssFile);
            }
        }
        return new ChildResult(process.ExitCode, watch.Elapsed, peak, outText, errText);
    }

    /// <summary>Sum of VmHWM (peak RSS) of <paramref name="pid"/> and its descendants, in bytes; 0 when gone.</summary>
    private static long TreeHighWaterMark(int pid)
    {
        long total = 0;
        var pending = new Stack<int>([pid]);
        while (pending.Count > 0)
        {
            int p = pending.Pop();
            try
            {
                foreach (var line in File.ReadLines($"/proc/{p}/status"))
                {
                    if (!line.StartsWith("VmHWM:", StringComparison.Ordinal)) continue;
                    total += long.Parse(line["VmHWM:".Length..].Replace("kB", "", StringComparison.Ordinal).Trim(), CultureInfo.InvariantCulture) * 1024;
                    break;
                }
                foreach (var task in Directory.EnumerateDirectories($"/proc/{p}/task"))
                {
                    var children = File.ReadAllText(Path.Combine(task, "children"));
                    foreach (var c in children.Split(' ', StringSplitOptions.RemoveEmptyEntries)) pending.Push(int.Parse(c, CultureInfo.InvariantCulture));
                }
            }
            catch (IOException) { }
            catch (UnauthorizedAccessException) { }
        }
        return total;
    }
}
