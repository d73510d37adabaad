using System.Diagnostics;
using System.Globalization;
using System.Runtime.InteropServices;
using System.Text;
using System.Text.Json;

namespace PinPipe.Bench;

/// <summary>
/// The machine's measure, printed before every run of the harness so that figures from different machines compare as
/// ratios (issue #14): a fixed CPU-bound probe on one core and on every core (tokenizing the same 4 MiB of pin, geo and
/// user records with <see cref="Utf8JsonReader"/> and summing their numbers, the kind of work the pipeline does most),
/// and an fsync probe (a 4 KiB write and <c>fsync</c> into a file in the temp folder the benchmarks use, as the
/// embedded log does for every acknowledged append). Each is the median of several rounds.
/// </summary>
internal static class Baseline
{
    private const int Rounds = 5;
    private const int Passes = 10; // 40 MiB of JSON a round, per core
    private const int Fsyncs = 200;
    private static long s_sink;

    /// <summary>The probe's figures.</summary>
    /// <param name="SingleCoreMBps">JSON tokenized a second on one core (MB = 10⁶ bytes).</param>
    /// <param name="AllCoreMBps">The same on every core at once, together.</param>
    /// <param name="FsyncP50Ms">Median time of a 4 KiB write + fsync.</param>
    /// <param name="FsyncP99Ms">Its 99th percentile.</param>
    internal sealed record Figures(double SingleCoreMBps, double AllCoreMBps, double FsyncP50Ms, double FsyncP99Ms)
    {
        public string Line() => string.Create(CultureInfo.InvariantCulture,
            $"Baseline (medians of {Rounds} rounds): CPU probe single-core {SingleCoreMBps:N0} MB/s of JSON tokenized, all {Environment.ProcessorCount} cores {AllCoreMBps:N0} MB/s ({AllCoreMBps / SingleCoreMBps:0.00}×); fsync probe (4 KiB write + fsync, {Path.GetTempPath()}) p50 {FsyncP50Ms:0.00} ms, p99 {FsyncP99Ms:0.00} ms ({1000 / FsyncP50Ms:N0}/s)");
    }

    public static Figures Measure()
    {
        byte[] data = Sample();
        Volatile.Write(ref s_sink, Tokenize(data)); // JIT and caches
        var single = new List<double>();
        var all = new List<double>();
        int cores = Environment.ProcessorCount;
        for (int r = 0; r < Rounds; r++)
        {
            var clock = Stopwatch.StartNew();
            for (int i = 0; i < Passes; i++) Volatile.Write(ref s_sink, Tokenize(data));
            single.Add(data.Length * (double)Passes / clock.Elapsed.TotalSeconds / 1e6);

            clock.Restart();
            Parallel.For(0, cores, new ParallelOptions { MaxDegreeOfParallelism = cores }, _ =>
            {
                for (int i = 0; i < Passes; i++) Volatile.Write(ref s_sink, Tokenize(data));
            });
            all.Add(data.Length * (double)Passes * cores / clock.Elapsed.TotalSeconds / 1e6);
        }
        var (p50, p99) = Fsync();
        return new Figures(IngestBench.Median(single), IngestBench.Median(all), p50, p99);
    }

    private static byte[]? s_probeSample;

    /// <summary>
    /// The CPU probe on the calling thread (the median of three passes over the sample), in MB of JSON tokenized per second of that thread's own CPU time
    /// (<c>CLOCK_THREAD_CPUTIME_ID</c>), not of the wall clock: time spent waiting for a core does not count, so under a
    /// steady load it moves only with how fast the host runs a core (its clock, a busy neighbour on the same physical core
    /// or cache). The soak takes it with every sample: 15–40 ms of one core. NaN where the clock is missing.
    /// </summary>
    public static double ThreadCpuMBps()
    {
        byte[] data = s_probeSample ??= Sample();
        var rates = new List<double>(3);
        for (int i = 0; i < 3; i++)
        {
            if (!TryThreadCpuSeconds(out double before)) return double.NaN;
            Volatile.Write(ref s_sink, Tokenize(data));
            if (!TryThreadCpuSeconds(out double after) || after <= before) return double.NaN;
            rates.Add(data.Length / (after - before) / 1e6);
        }
        return IngestBench.Median(rates);
    }

    /// <summary>The calling thread's CPU time so far, in seconds (<c>CLOCK_THREAD_CPUTIME_ID</c>); NaN where the clock is missing.</summary>
    public static double ThreadCpuSeconds() => TryThreadCpuSeconds(out double seconds) ? seconds : double.NaN;

    private static bool TryThreadCpuSeconds(out double seconds)
    {
        seconds = 0;
        if (!OperatingSystem.IsLinux() || clock_gettime(ClockThreadCpuTime, out var time) != 0) return false;
        seconds = time.Seconds + time.Nanoseconds / 1e9;
        return true;
    }

    private const int ClockThreadCpuTime = 3; // CLOCK_THREAD_CPUTIME_ID (Linux)

    [StructLayout(LayoutKind.Sequential)]
    private struct TimeSpec
    {
        public long Seconds;
        public long Nanoseconds;
    }

    [DllImport("libc", EntryPoint = "clock_gettime")]
    [DefaultDllImportSearchPaths(DllImportSearchPath.System32)]
    private static extern int clock_gettime(int clock, out TimeSpec time);

    /// <summary>
    /// Flushes to disk what the file system still holds unwritten for any process (a build's output above all) and says how
    /// much it was, before anything is measured. A build of src/PinPipe.Cli leaves about 235 MB dirty, which the kernel
    /// writes back over the next seconds (at once past <c>vm.dirty_background_ratio</c>, else up to 30 s later); an
    /// <c>fsync</c> of the log or the bucket issued meanwhile can wait behind it. Linux only; elsewhere a no-op.
    /// </summary>
    public static string FlushPendingWrites()
    {
        if (!OperatingSystem.IsLinux()) return "pending writes not flushed (not Linux)";
        double pendingMiB = PendingWritesKb() / 1024.0;
        var clock = Stopwatch.StartNew();
        sync();
        return string.Create(CultureInfo.InvariantCulture, $"flushed the file system's pending writes ({pendingMiB:N1} MiB dirty or under writeback) in {clock.Elapsed.TotalSeconds:0.00} s before measuring");
    }

    /// <summary>The kilobytes <c>/proc/meminfo</c> gives as dirty or under writeback.</summary>
    private static long PendingWritesKb()
    {
        long kb = 0;
        foreach (string line in File.ReadLines("/proc/meminfo"))
            if (line.StartsWith("Dirty:", StringComparison.Ordinal) || line.StartsWith("Writeback:", StringComparison.Ordinal))
                kb += long.Parse(line.Split(' ', StringSplitOptions.RemoveEmptyEntries)[1], CultureInfo.InvariantCulture); // "Dirty:   1234 kB"
        return kb;
    }

    [DllImport("libc", EntryPoint = "sync")]
    [DefaultDllImportSearchPaths(DllImportSearchPath.System32)]
    private static extern void sync();

    /// <summary>About 4 MiB of the pipeline's records, one per line.</summary>
    private static byte[] Sample()
    {
        var text = new MemoryStream();
        foreach (var record in RecordSamples.Records(long.MaxValue))
        {
            text.Write(record);
            text.WriteByte((byte)'\n');
            if (text.Length >= 4 << 20) break;
        }
        return text.ToArray();
    }

    /// <summary>Tokenizes every line and sums the numbers and string lengths, so none of it can be skipped.</summary>
    private static long Tokenize(byte[] data)
    {
        long sum = 0;
        var rest = data.AsSpan();
        while (rest.Length > 0)
        {
            int end = rest.IndexOf((byte)'\n');
            var line = end < 0 ? rest : rest[..end];
            var reader = new Utf8JsonReader(line);
            while (reader.Read())
            {
                if (reader.TokenType == JsonTokenType.Number && reader.TryGetDouble(out double d)) sum += (long)d;
                else if (reader.TokenType == JsonTokenType.String) sum += reader.ValueSpan.Length;
            }
            rest = end < 0 ? [] : rest[(end + 1)..];
        }
        return sum;
    }

    private static (double P50, double P99) Fsync()
    {
        using var dir = new BenchDirectory("baseline");
        byte[] block = Encoding.ASCII.GetBytes(new string('x', 4096));
        var times = new List<double>(Fsyncs);
        using (var file = new FileStream(dir.File("fsync.bin"), FileMode.Create, FileAccess.Write, FileShare.None, 1, FileOptions.None))
        {
            for (int i = 0; i < Fsyncs + 10; i++)
            {
                var clock = Stopwatch.StartNew();
                file.Write(block);
                file.Flush(flushToDisk: true);
                if (i >= 10) times.Add(clock.Elapsed.TotalMilliseconds); // the first ones allocate the file's blocks
            }
        }
        times.Sort();
        return (IngestBench.Median(times), times[(int)Math.Ceiling(0.99 * times.Count) - 1]);
    }
}
