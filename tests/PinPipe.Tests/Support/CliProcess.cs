using System.Diagnostics;
using System.Net;
using System.Net.Sockets;
using System.Text;

namespace PinPipe.Tests.Support;

/// <summary>The real <c>pinpipe</c> CLI as a child process (the PinPipe.Cli.dll built beside the tests).</summary>
public sealed class CliProcess : IAsyncDisposable
{
    private readonly Process _process;
    private readonly StringBuilder _output = new();

    private CliProcess(Process process)
    {
        _process = process;
        process.OutputDataReceived += (_, e) => { if (e.Data is not null) lock (_output) _output.AppendLine(e.Data); };
        process.ErrorDataReceived += (_, e) => { if (e.Data is not null) lock (_output) _output.AppendLine(e.Data); };
        process.BeginOutputReadLine();
        process.BeginErrorReadLine();
    }

    /// <summary>stdout and stderr so far.</summary>
    public string Output { get { lock (_output) return _output.ToString(); } }

    /// <summary>
    /// Whether the process has exited; once it has, <see cref="Output"/> holds all of its output (right after the exit the
    /// readers may not have delivered its last lines yet: this waits for them), so a failure message built after it is whole.
    /// </summary>
    public bool HasExited
    {
        get
        {
            if (!_process.HasExited) return false;
            DrainOutput();
            return true;
        }
    }

    /// <summary>The process id (the CLI's own: the shells that start it <c>exec</c> it).</summary>
    public int Id => _process.Id;

    public int ExitCode => _process.ExitCode;

    public static CliProcess Start(string workingDirectory, params string[] args) => StartCore(workingDirectory, null, null, args);

    /// <summary>Starts the CLI with the file creation mask <paramref name="umask"/> (octal, e.g. <c>000</c>), through <c>sh</c> as a user's shell would.</summary>
    public static CliProcess StartWithUmask(string umask, string workingDirectory, params string[] args) => StartCore(workingDirectory, umask, null, args);

    /// <summary>Starts the CLI with <paramref name="environment"/> set in its environment (a null value removes the variable).</summary>
    public static CliProcess StartWithEnvironment(IReadOnlyDictionary<string, string?> environment, string workingDirectory, params string[] args) =>
        StartCore(workingDirectory, null, environment, args);

    /// <summary>Exit code of the shell of <see cref="StartOnPrivateTmpfs"/> when <c>mount</c> failed.</summary>
    public const int MountFailed = 97;

    /// <summary>
    /// Starts the CLI in a mount namespace of its own (<c>unshare -rm</c>: nothing is mounted on the host) in which
    /// <paramref name="mountPoint"/> is a tmpfs of <paramref name="sizeMiB"/> MiB, so its writes there fail with ENOSPC once
    /// it is full. The host reaches that tmpfs as <c>/proc/&lt;pid&gt;/root</c> + the path (<see cref="PathInNamespace"/>).
    /// Needs Linux and root (or unprivileged user namespaces); when <c>mount</c> fails the process exits with
    /// <see cref="MountFailed"/> and its output says why.
    /// </summary>
    public static CliProcess StartOnPrivateTmpfs(string mountPoint, int sizeMiB, string workingDirectory, params string[] args)
    {
        var info = new ProcessStartInfo("unshare")
        {
            WorkingDirectory = workingDirectory,
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            RedirectStandardInput = true,
            UseShellExecute = false,
        };
        foreach (var a in (string[])["-rm", "/bin/sh", "-c",
            $"mount -t tmpfs -o size={sizeMiB}m tmpfs \"$0\" || exit {MountFailed}; exec dotnet \"$@\"", mountPoint,
            Path.Combine(AppContext.BaseDirectory, "PinPipe.Cli.dll")]) info.ArgumentList.Add(a);
        foreach (var a in args) info.ArgumentList.Add(a);
        foreach (var key in Environment.GetEnvironmentVariables().Keys.Cast<string>().Where(k => k.StartsWith("PINPIPE_", StringComparison.Ordinal)))
            info.Environment.Remove(key);
        try
        {
            return new CliProcess(Process.Start(info) ?? throw new InvalidOperationException("could not start unshare"));
        }
        catch (System.ComponentModel.Win32Exception ex)
        {
            throw new InvalidOperationException($"could not start `unshare` (util-linux) for a private tmpfs: {ex.Message}; this test needs Linux with unshare and root", ex);
        }
    }

    /// <summary>Where the host reaches <paramref name="path"/> as this process sees it (its mount namespace): <c>/proc/&lt;pid&gt;/root</c> + the path.</summary>
    public string PathInNamespace(string path) => $"/proc/{Id}/root{Path.GetFullPath(path)}";

    private static CliProcess StartCore(string workingDirectory, string? umask, IReadOnlyDictionary<string, string?>? environment, string[] args)
    {
        var info = new ProcessStartInfo(umask is null ? "dotnet" : "/bin/sh")
        {
            WorkingDirectory = workingDirectory,
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            RedirectStandardInput = true,
            UseShellExecute = false,
        };
        if (umask is not null)
        {
            if (umask.Length == 0 || !umask.All(c => c is >= '0' and <= '7')) throw new ArgumentException($"umask '{umask}' is not octal digits.", nameof(umask));
            info.ArgumentList.Add("-c");
            info.ArgumentList.Add($"umask {umask} && exec dotnet \"$@\""); // exec: the CLI keeps the shell's pid (signals reach it)
            info.ArgumentList.Add("sh");
        }
        info.ArgumentList.Add(Path.Combine(AppContext.BaseDirectory, "PinPipe.Cli.dll"));
        foreach (var a in args) info.ArgumentList.Add(a);
        // The child must not pick up the developer's settings.
        foreach (var key in Environment.GetEnvironmentVariables().Keys.Cast<string>().Where(k => k.StartsWith("PINPIPE_", StringComparison.Ordinal)))
            info.Environment.Remove(key);
        foreach (var (key, value) in environment ?? new Dictionary<string, string?>())
        {
            if (value is null) info.Environment.Remove(key);
            else info.Environment[key] = value;
        }
        return new CliProcess(Process.Start(info) ?? throw new InvalidOperationException("could not start dotnet"));
    }

    /// <summary>Runs the CLI to completion and returns its exit code and output.</summary>
    public static Task<(int ExitCode, string Output)> RunAsync(string workingDirectory, TimeSpan timeout, params string[] args) =>
        RunToEndAsync(Start(workingDirectory, args), timeout);

    /// <summary>Runs the CLI to completion with <paramref name="environment"/> set (a null value removes the variable).</summary>
    public static Task<(int ExitCode, string Output)> RunWithEnvironmentAsync(IReadOnlyDictionary<string, string?> environment, string workingDirectory, TimeSpan timeout, params string[] args) =>
        RunToEndAsync(StartWithEnvironment(environment, workingDirectory, args), timeout);

    /// <summary>Runs the CLI to completion with the file creation mask <paramref name="umask"/>.</summary>
    public static Task<(int ExitCode, string Output)> RunWithUmaskAsync(string umask, string workingDirectory, TimeSpan timeout, params string[] args) =>
        RunToEndAsync(StartWithUmask(umask, workingDirectory, args), timeout);

    private static async Task<(int ExitCode, string Output)> RunToEndAsync(CliProcess started, TimeSpan timeout)
    {
        await using var p = started;
        int code = await p.WaitForExitAsync(timeout);
        return (code, p.Output);
    }

    /// <summary>
    /// Waits for the process to exit and for its output to be read to the end (<see cref="Output"/> is then whole: the
    /// process's exit alone does not mean the readers have delivered its last lines); its exit code.
    /// </summary>
    /// <exception cref="OperationCanceledException">It did not exit, or its output did not end, within <paramref name="timeout"/>.</exception>
    public async Task<int> WaitForExitAsync(TimeSpan timeout)
    {
        using var cts = new CancellationTokenSource(timeout);
        await _process.WaitForExitAsync(cts.Token); // waits for the output readers to reach the end too
        return _process.ExitCode;
    }

    /// <summary>
    /// The process has exited: waits for the readers to reach the end of its output, at most 10 s (a child of it that kept
    /// the pipes open would otherwise hold this for ever; the output is then what came so far).
    /// </summary>
    private void DrainOutput()
    {
        using var cts = new CancellationTokenSource(TimeSpan.FromSeconds(10));
        try
        {
#pragma warning disable CA1849, VSTHRD002 // HasExited is a property; WaitForExitAsync's awaits use ConfigureAwait(false), so no context is needed
            _process.WaitForExitAsync(cts.Token).GetAwaiter().GetResult();
#pragma warning restore CA1849, VSTHRD002
        }
        catch (OperationCanceledException)
        {
        }
    }

    /// <summary>Waits until GET <paramref name="url"/> answers 200.</summary>
    public async Task WaitHealthyAsync(Uri url, TimeSpan timeout)
    {
        using var client = new HttpClient { Timeout = TimeSpan.FromSeconds(2) };
        var deadline = DateTime.UtcNow + timeout;
        while (DateTime.UtcNow < deadline)
        {
            if (HasExited) throw new InvalidOperationException($"pinpipe exited with {_process.ExitCode}:\n{Output}");
            try
            {
                using var r = await client.GetAsync(url);
                if (r.StatusCode == HttpStatusCode.OK) return;
            }
            catch (HttpRequestException) { }
            catch (TaskCanceledException) { }
            await Task.Delay(100);
        }
        throw new TimeoutException($"{url} not healthy after {timeout}:\n{Output}");
    }

    /// <summary>Waits until the output holds <paramref name="text"/>; false when the process exits or <paramref name="timeout"/> passes first.</summary>
    public async Task<bool> WaitForOutputAsync(string text, TimeSpan timeout)
    {
        var deadline = DateTime.UtcNow + timeout;
        while (!Output.Contains(text, StringComparison.Ordinal))
        {
            if (HasExited || DateTime.UtcNow >= deadline) return Output.Contains(text, StringComparison.Ordinal); // exited: its last lines are in
            await Task.Delay(20);
        }
        return true;
    }

    /// <summary>SIGKILL: no shutdown code runs.</summary>
    public void Kill()
    {
        _process.Kill(entireProcessTree: true);
        _process.WaitForExit();
    }

    /// <summary>SIGINT, as Ctrl-C, then waits for a clean exit.</summary>
    public Task<int> InterruptAsync(TimeSpan timeout) => SignalAsync("INT", timeout);

    /// <summary>Sends a signal (INT, TERM) and waits for the exit.</summary>
    public async Task<int> SignalAsync(string signal, TimeSpan timeout)
    {
        using (var kill = Process.Start("kill", ["-" + signal, _process.Id.ToString(System.Globalization.CultureInfo.InvariantCulture)])) await kill.WaitForExitAsync();
        return await WaitForExitAsync(timeout);
    }

    /// <summary>A free TCP port on loopback.</summary>
    public static int FreePort()
    {
        using var l = new TcpListener(IPAddress.Loopback, 0);
        l.Start();
        return ((IPEndPoint)l.LocalEndpoint).Port;
    }

    public ValueTask DisposeAsync()
    {
        if (!_process.HasExited) Kill();
        _process.Dispose();
        return ValueTask.CompletedTask;
    }
}
