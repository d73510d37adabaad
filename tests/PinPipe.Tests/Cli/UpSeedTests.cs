using System.Globalization;
using System.Text.RegularExpressions;
using PinPipe.Tests.Support;

namespace PinPipe.Tests.Cli;

/// <summary>
/// <c>pinpipe up</c> run again in the same folder: each run picks a fresh emulator seed and prints it (so it posts other
/// rows), <c>--emulator-seed</c> repeats a run's rows, and the summary tells this run's counts from the totals.
/// </summary>
public sealed partial class UpSeedTests
{
    private static readonly TimeSpan Timeout = TimeSpan.FromSeconds(180);

    [GeneratedRegex(@"this run \(emulator seed (\d+); `pinpipe up --emulator-seed (\d+)` posts the same rows again\):")]
    private static partial Regex SeedLine();

    [GeneratedRegex(@"^\s*pin\s+read\s+([\d,]+) = clean\s+([\d,]+) \+ duplicates\s+([\d,]+)", RegexOptions.Multiline)]
    private static partial Regex PinCounts();

    private static async Task<(int Seed, long Read, long Clean, long Duplicates, string Output)> UpAsync(string dir, params string[] extra)
    {
        string[] args = ["up", "--records", "5", "--rows", "300", "--lanes", "batch", "--urls", $"http://127.0.0.1:{CliProcess.FreePort()}", .. extra];
        var (code, output) = await CliProcess.RunAsync(dir, Timeout, args);
        Assert.True(code == 0, output);
        var seed = SeedLine().Match(output);
        Assert.True(seed.Success, output);
        Assert.Equal(seed.Groups[1].Value, seed.Groups[2].Value);
        var counts = PinCounts().Match(output);
        Assert.True(counts.Success, output);
        static long N(Group g) => long.Parse(g.Value, NumberStyles.AllowThousands, CultureInfo.InvariantCulture);
        return (int.Parse(seed.Groups[1].Value, CultureInfo.InvariantCulture), N(counts.Groups[1]), N(counts.Groups[2]), N(counts.Groups[3]), output);
    }

    private static string Line(string output, string start, string contains) =>
        output.Split('\n').Single(l => l.TrimStart().StartsWith(start, StringComparison.Ordinal) && l.Contains(contains, StringComparison.Ordinal));

    [Fact]
    public async Task Each_run_prints_a_fresh_seed_and_emulator_seed_posts_that_runs_rows_again()
    {
        using var dir = new TempDirectory("cli");
        var first = await UpAsync(dir.Path);
        Assert.Equal(5, first.Read);
        Assert.Equal(first.Read, first.Clean + first.Duplicates);

        // The seed the first run printed posts its rows again: the incremental batch reads only those 5 new records, and
        // every one is already in the clean table, a duplicate.
        var repeat = await UpAsync(dir.Path, "--emulator-seed", first.Seed.ToString(CultureInfo.InvariantCulture));
        Assert.Equal(first.Seed, repeat.Seed);
        Assert.Equal(5, repeat.Read);
        Assert.Equal(0, repeat.Clean);
        Assert.Equal(5, repeat.Duplicates);

        // Without the flag a run picks a fresh seed, and so other rows: the clean table grows.
        var fresh = await UpAsync(dir.Path);
        Assert.NotEqual(first.Seed, fresh.Seed);
        Assert.Equal(5, fresh.Read);
        Assert.True(fresh.Clean > 0, fresh.Output);

        // The summary says which counts are this run's and which are the totals of every run so far.
        string pin = "12885f560a0b.pin";
        Assert.Contains("totals in the log, the bucket and the Delta tables (every run so far):", fresh.Output, StringComparison.Ordinal);
        Assert.Matches(@"\s5 records logged\s+5 records written to the bucket in 1 object$", Line(fresh.Output, pin, "records logged").TrimEnd());
        Assert.Matches(@"\s15 records in the log\s+15 records in the bucket, 3 objects under topics/12885f560a0b\.pin/$", Line(fresh.Output, pin, "records in the log").TrimEnd());
    }
}
