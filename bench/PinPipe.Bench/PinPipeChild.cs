using System.Diagnostics;
using System.Globalization;

namespace PinPipe.Bench;

/// <summary>A <c>pinpipe</c> child process (Release build), its output's tail kept; stopped with SIGINT.</summary>
internal sealed class PinPipeChild : IDisposable
{
    private readonly Process _process;
    private readonly Queue<string> _tail = new();

    private readonly StreamWriter? _log;

    private PinPipeChild(string name, Process process, string? logFile)
    {
        Name = name;
        _process = process;
        _log = logFile is null ? null : new StreamWriter(logFile, append: true) { AutoFlush = true };
        process.OutputDataReceived += (_, e) => Keep(e.Data);
        process.ErrorDataReceived += (_, e) => Keep(e.Data);
        process.BeginOutputReadLine();
        process.BeginErrorReadLine();
    }

    public string Name { get; }

    public bool HasExited => _process.HasExited;

    public int ExitCode => _process.ExitCode;

    public int Id => _process.Id;

    /// <summary>The last 40 lines of output.</summary>
    public string Output { get { lock (_tail) return string.Join('\n', _tail); } }

    /// <param name="dll">The CLI's dll.</param>
    /// <param name="workingDirectory">Where it runs.</param>
    /// <param name="args">Its command line.</param>
    /// <param name="env">Settings as <c>Section__Key=value</c> (set as <c>PINPIPE_</c> variables).</param>
    /// <param name="hostName">
    /// Runs it in a UTS namespace of its own with this host name (<c>unshare --uts</c>, root only), so that it looks like
    /// a process on another machine to the others (the embedded log's group leases tell a dead local process by its
    /// pid, a remote one only by its silence).
    /// </param>
    /// <param name="logFile">Where every line of its output goes, each after the time it arrived (UTC); null: only the tail is kept.</param>
    public static PinPipeChild Start(string dll, string workingDirectory, IReadOnlyList<string> args, IReadOnlyList<string>? env = null, string? hostName = null, string? logFile = null)
    {
        var info = new ProcessStartInfo(hostName is null ? "dotnet" : "unshare") { WorkingDirectory = workingDirectory, RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        if (hostName is not null)
        {
            // exec: the CLI keeps the shell's pid, so signals reach it.
            foreach (var a in new[] { "--uts", "sh", "-c", "hostname \"$0\" && exec dotnet \"$@\"", hostName }) info.ArgumentList.Add(a);
        }
        info.ArgumentList.Add(dll);
        foreach (var a in args) info.ArgumentList.Add(a);
        foreach (var key in Environment.GetEnvironmentVariables().Keys.Cast<string>().Where(k => k.StartsWith("PINPIPE_", StringComparison.Ordinal)))
            info.Environment.Remove(key);
        foreach (var e in env ?? [])
        {
            int eq = e.IndexOf('=', StringComparison.Ordinal);
            if (eq <= 0) throw new ArgumentException($"--stream-env '{e}': use Section__Key=value");
            // A runtime knob (DOTNET_TieredCompilation=0, ...) goes to the child as it is; a setting gets PinPipe's prefix.
            string name = e[..eq];
            info.Environment[name.StartsWith("DOTNET_", StringComparison.Ordinal) ? name : "PINPIPE_" + name] = e[(eq + 1)..];
        }
        return new PinPipeChild(args[0], Process.Start(info) ?? throw new InvalidOperationException("cannot start dotnet"), logFile);
    }

    private void Keep(string? line)
    {
        if (line is null) return;
        lock (_tail)
        {
            _tail.Enqueue(line);
            if (_tail.Count > 40) _tail.Dequeue();
            _log?.WriteLine($"{DateTime.UtcNow:HH:mm:ss.fff} {line}");
        }
    }

    /// <summary>VmRSS in kB; 0 when gone.</summary>
    public long RssKb()
    {
        try
        {
            foreach (var line in File.ReadLines($"/proc/{_process.Id}/status"))
                if (line.StartsWith("VmRSS:", StringComparison.Ordinal))
                    return long.Parse(line["VmRSS:".Length..].Replace("kB", "", StringComparison.Ordinal).Trim(), CultureInfo.InvariantCulture);
        }
        catch (IOException) { }
        catch (InvalidOperationException) { }
        return 0;
    }

    /// <summary>The child's CPU time so far (user + system, every thread); zero when gone.</summary>
    public TimeSpan CpuTime()
    {
        try
        {
            _process.Refresh();
            return _process.TotalProcessorTime;
        }
        catch (InvalidOperationException) { return TimeSpan.Zero; }
    }

    /// <summary>SIGKILL: no shutdown code runs.</summary>
    public void Kill()
    {
        _process.Kill(entireProcessTree: true);
        _process.WaitForExit();
    }

    public async Task StopAsync()
    {
        if (_process.HasExited) return;
        using (var kill = Process.Start("kill", ["-INT", _process.Id.ToString(CultureInfo.InvariantCulture)])) await kill.WaitForExitAsync();
        using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(30));
        try { await _process.WaitForExitAsync(timeout.Token); }
        catch (OperationCanceledException) { _process.Kill(entireProcessTree: true); }
    }

    public void Dispose()
    {
        if (!_process.HasExited) _process.Kill(entireProcessTree: true);
        _process.WaitForExit(); // the output's last lines are read before the log closes
        _process.Dispose();
        lock (_tail) _log?.Dispose();
    }
}
