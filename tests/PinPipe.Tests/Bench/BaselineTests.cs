using System.Globalization;
using System.Text.RegularExpressions;

namespace PinPipe.Tests.Bench;

/// <summary>The machine's baseline that every run of the harness prints first (issue #14): <c>bench/PinPipe.Bench baseline</c>.</summary>
public sealed partial class BaselineTests
{
    [Fact]
    public async Task The_harness_prints_the_cpu_and_fsync_probes_of_the_machine()
    {
        var (code, output) = await LandingSimulatorTests.RunBenchAsync("baseline");
        Assert.True(code == 0, output);
        var lines = output.Split('\n').Where(l => l.StartsWith("Baseline", StringComparison.Ordinal)).ToList();
        var line = Assert.Single(lines);
        var m = Figures().Match(line);
        Assert.True(m.Success, $"the baseline line does not read as expected: {line}");
        double single = Number(m, "single"), all = Number(m, "all"), ratio = Number(m, "ratio"), p50 = Number(m, "p50"), p99 = Number(m, "p99");
        Assert.True(single > 0 && all > 0, line);
        Assert.InRange(ratio, all / single - 0.02, all / single + 0.02); // the MB/s are printed rounded
        Assert.True(p50 > 0 && p99 >= p50, line);
        Assert.Equal(Environment.ProcessorCount, int.Parse(m.Groups["cores"].Value, CultureInfo.InvariantCulture));
        Assert.DoesNotContain("| load |", output, StringComparison.Ordinal); // the probes only, no benchmark
        // Before the probes, what the file system held unwritten was flushed (a build's output would slow every fsync).
        Assert.Matches(@"flushed the file system's pending writes \([\d,.]+ MiB dirty or under writeback\) in [\d.]+ s before measuring", output);
        Assert.True(output.IndexOf("flushed the file system", StringComparison.Ordinal) < output.IndexOf("measuring the machine's baseline", StringComparison.Ordinal), output);
    }

    [Fact]
    public async Task An_unknown_benchmark_is_refused_before_the_probes_run()
    {
        var (code, output) = await LandingSimulatorTests.RunBenchAsync("nonsense");
        Assert.Equal(2, code);
        Assert.Contains("unknown benchmark 'nonsense'", output, StringComparison.Ordinal);
        Assert.DoesNotContain("Baseline", output, StringComparison.Ordinal);
    }

    private static double Number(Match m, string group) => double.Parse(m.Groups[group].Value, NumberStyles.Float | NumberStyles.AllowThousands, CultureInfo.InvariantCulture);

    [GeneratedRegex(@"single-core (?<single>[\d,]+) MB/s .*all (?<cores>\d+) cores (?<all>[\d,]+) MB/s \((?<ratio>[\d.]+)×\).*p50 (?<p50>[\d.]+) ms, p99 (?<p99>[\d.]+) ms")]
    private static partial Regex Figures();
}
