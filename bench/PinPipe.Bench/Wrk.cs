using System.Diagnostics;
using System.Globalization;
using System.Text.RegularExpressions;

namespace PinPipe.Bench;

/// <summary>One wrk run's figures.</summary>
internal sealed record WrkResult(double RequestsPerSecond, double P50Ms, double P99Ms, long Non2xx, long SocketErrors);

/// <summary>Drives a URL with wrk (Debian's package) posting a fixed body, and parses its report.</summary>
internal static partial class Wrk
{
    public static void EnsureInstalled()
    {
        if (File.Exists("/usr/bin/wrk")) return;
        Console.Error.WriteLine("wrk is missing: installing Debian's wrk package...");
        Run("bash", "-c", "(apt-get update -qq || true) && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq wrk >/dev/null");
        if (!File.Exists("/usr/bin/wrk")) throw new InvalidOperationException("wrk could not be installed; install Debian's 'wrk' package.");
    }

    /// <summary>Posts <paramref name="bodyFile"/> to <paramref name="url"/>; with <paramref name="apiKey"/> in <c>x-api-key</c> on every request.</summary>
    public static WrkResult Post(Uri url, string bodyFile, int connections, int threads, TimeSpan duration, string? apiKey = null)
    {
        var script = Path.Combine(Path.GetTempPath(), $"pinpipe-wrk-{Guid.NewGuid():N}.lua");
        File.WriteAllText(script, $$"""
            wrk.method = "POST"
            local f = io.open("{{bodyFile}}", "rb")
            wrk.body = f:read("*a")
            f:close()
            wrk.headers["Content-Type"] = "application/vnd.kafka.json.v2+json"
            wrk.headers["Accept"] = "application/vnd.kafka.v2+json"
            {{(apiKey is null ? "" : $"wrk.headers[\"x-api-key\"] = \"{apiKey}\"")}}
            """);
        try
        {
            var output = Run("wrk", "-t", threads.ToString(CultureInfo.InvariantCulture), "-c", connections.ToString(CultureInfo.InvariantCulture),
                "-d", $"{(int)duration.TotalSeconds}s", "--latency", "-s", script, url.ToString());
            return Parse(output);
        }
        finally
        {
            File.Delete(script);
        }
    }

    internal static WrkResult Parse(string output)
    {
        double rps = double.Parse(RequestsPerSec().Match(output).Groups[1].Value, CultureInfo.InvariantCulture);
        double P(string q)
        {
            var m = Regex.Match(output, $@"^\s*{q}%\s+([\d.]+)(us|ms|s)\s*$", RegexOptions.Multiline);
            if (!m.Success) throw new FormatException($"wrk output has no {q}% latency:\n{output}");
            double v = double.Parse(m.Groups[1].Value, CultureInfo.InvariantCulture);
            return m.Groups[2].Value switch { "us" => v / 1000, "s" => v * 1000, _ => v };
        }
        var non2xx = Non2xx().Match(output);
        var errors = SocketErrors().Match(output);
        long socketErrors = errors.Success ? errors.Groups.Values.Skip(1).Sum(g => long.Parse(g.Value, CultureInfo.InvariantCulture)) : 0;
        return new WrkResult(rps, P("50"), P("99"), non2xx.Success ? long.Parse(non2xx.Groups[1].Value, CultureInfo.InvariantCulture) : 0, socketErrors);
    }

    private static string Run(string file, params string[] args)
    {
        var info = new ProcessStartInfo(file) { RedirectStandardOutput = true, RedirectStandardError = true };
        foreach (var a in args) info.ArgumentList.Add(a);
        using var p = Process.Start(info) ?? throw new InvalidOperationException($"cannot start {file}");
        var stdout = p.StandardOutput.ReadToEndAsync();
        var stderr = p.StandardError.ReadToEndAsync();
        p.WaitForExit();
        if (p.ExitCode != 0) throw new InvalidOperationException($"{file} exited with {p.ExitCode}: {stderr.Result}");
        return stdout.Result;
    }

    [GeneratedRegex(@"Requests/sec:\s+([\d.]+)")]
    private static partial Regex RequestsPerSec();

    [GeneratedRegex(@"Non-2xx or 3xx responses:\s+(\d+)")]
    private static partial Regex Non2xx();

    [GeneratedRegex(@"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)")]
    private static partial Regex SocketErrors();
}
