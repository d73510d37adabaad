using System.Diagnostics;

namespace PinPipe.Bench;

/// <summary>
/// The pandas port of the original notebook (<c>bench/peers/pandas_batch.py</c>), run by Debian's Python
/// with Debian's <c>python3-pandas</c>, which is installed when missing (as <see cref="Wrk"/> installs wrk).
/// </summary>
internal static class PandasPeer
{
    /// <summary>Debian's interpreter: the one that sees python3-pandas (a pyenv <c>python3</c> on PATH does not).</summary>
    public const string Python = "/usr/bin/python3";

    public static string Script => Path.Combine(Repo.Root, "bench", "peers", "pandas_batch.py");

    /// <summary>pandas' version; installs python3-pandas first when <c>import pandas</c> fails.</summary>
    public static string EnsureInstalled()
    {
        if (TryVersion() is { } version) return version;
        Console.Error.WriteLine("pandas is missing: installing Debian's python3-pandas package...");
        Run("bash", "-c", "(apt-get update -qq || true) && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq python3-pandas >/dev/null");
        return TryVersion() ?? throw new InvalidOperationException($"pandas could not be installed; install Debian's 'python3-pandas' package (for {Python}).");
    }

    private static string? TryVersion()
    {
        if (!File.Exists(Python)) return null;
        var (code, output) = Run(Python, "-c", "import pandas; print(pandas.__version__)");
        return code == 0 ? output.Trim() : null;
    }

    private static (int ExitCode, string Output) Run(string file, params string[] args)
    {
        var info = new ProcessStartInfo(file) { RedirectStandardOutput = true, RedirectStandardError = true };
        foreach (var a in args) info.ArgumentList.Add(a);
        using var p = Process.Start(info) ?? throw new InvalidOperationException($"cannot start {file}");
        var stdout = p.StandardOutput.ReadToEndAsync();
        var stderr = p.StandardError.ReadToEndAsync();
        p.WaitForExit();
        return (p.ExitCode, stdout.Result + stderr.Result);
    }
}

/// <summary>The repository the bench runs from.</summary>
internal static class Repo
{
    /// <summary>The nearest parent folder of the bench's binaries holding PinPipe.slnx.</summary>
    public static string Root { get; } = FindRoot();

    private static string FindRoot()
    {
        var dir = new DirectoryInfo(AppContext.BaseDirectory);
        while (dir is not null && !File.Exists(Path.Combine(dir.FullName, "PinPipe.slnx"))) dir = dir.Parent;
        return dir?.FullName ?? throw new InvalidOperationException("PinPipe.slnx not found above " + AppContext.BaseDirectory);
    }
}
