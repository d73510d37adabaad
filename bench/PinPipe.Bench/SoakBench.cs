using System.Diagnostics;
using System.Globalization;
using System.Net;
using System.Net.Sockets;
using System.Text;
using PinPipe.Configuration;
using PinPipe.Hosting;
using PinPipe.Lake;
using PinPipe.Lake.Delta;
using PinPipe.Transform;

namespace PinPipe.Bench;

/// <summary>
/// The issue #10 soak: <c>pinpipe serve</c>, <c>pinpipe stream</c> and <c>pinpipe emulate --lane stream --rate R
/// --records-per-request N</c> as separate processes (Release build) over one data folder, for <c>--minutes</c>.
/// Every 15 s it samples each process's resident memory (VmRSS) and the records per second the stream job committed
/// (the clean tables' txn offsets); it writes <c>soak.csv</c> and <c>soak.svg</c> (RSS over time per process) into
/// <c>bench/results/soak-&lt;time&gt;/</c> and judges the stream job's RSS after the warm-up (5 minutes, at most half
/// the run): its range as ±% of the median, pass within ±10%.
/// </summary>
internal static class SoakBench
{
    private static readonly TimeSpan Interval = TimeSpan.FromSeconds(15);
    private static readonly string[] Names = ["serve", "stream", "emulate"];
    private const double Tolerance = 0.10;

    private sealed record Sample(double Minutes, long[] RssKb, double CommittedPerSecond);

    public static async Task<List<string>> RunAsync(BenchArgs args)
    {
        var (dll, error) = await BatchBench.PrepareCliAsync("stream");
        if (dll is null) return [$"soak: {error}"];
        var duration = TimeSpan.FromMinutes(args.Minutes);
        var warmup = TimeSpan.FromMinutes(Math.Min(5, args.Minutes / 2.0));
        using var dir = new BenchDirectory("soak");
        string output = Path.Combine(Repo.Root, "bench", "results", $"soak-{DateTime.UtcNow:yyyyMMdd-HHmmss}");
        Directory.CreateDirectory(output);
        int port = FreePort();
        string url = string.Create(CultureInfo.InvariantCulture, $"http://127.0.0.1:{port}");
        string[] common = ["--data-dir", dir.Path, "--user-id", "soak"];

        var seed = await ChildRun.RunAsync("dotnet", [dll, "seed", .. common], dir.Path);
        if (seed.ExitCode != 0) return [$"soak: pinpipe seed exited with {seed.ExitCode}: {seed.Excerpt()}"];
        using var serve = PinPipeChild.Start(dll, dir.Path, ["serve", "--urls", url, .. common]);
        await WaitHealthyAsync(url, serve);
        using var stream = PinPipeChild.Start(dll, dir.Path, ["stream", .. common]);
        using var emulate = PinPipeChild.Start(dll, dir.Path, ["emulate", "--lane", "stream", "--api-url", url,
            "--rate", args.Rate.ToString(CultureInfo.InvariantCulture), "--records-per-request", args.RecordsPerRequest.ToString(CultureInfo.InvariantCulture),
            "--duration", string.Create(CultureInfo.InvariantCulture, $"{(int)duration.TotalSeconds}s"), .. common]);
        PinPipeChild[] children = [serve, stream, emulate];

        var settings = new PinPipeSettings { DataDir = dir.Path, UserId = "soak" }.Resolve();
        var store = ObjectStoreFactory.Create(settings.ObjectStore, settings.Names.Bucket);
        var tables = new[] { RecordKind.Pin, RecordKind.Geo, RecordKind.User }.Select(k => new DeltaTable(store, PipelineJobs.StreamTarget(settings).TablePrefix(k))).ToArray();
        var samples = new List<Sample>();
        try
        {
            var clock = Stopwatch.StartNew();
            long lastCommitted = await CommittedAsync(tables);
            double lastAt = 0;
            while (clock.Elapsed < duration)
            {
                await Task.Delay(Interval - TimeSpan.FromTicks(clock.Elapsed.Ticks % Interval.Ticks));
                foreach (var c in children.Where(c => c != emulate || clock.Elapsed < duration))
                    if (c.HasExited) throw new InvalidOperationException($"pinpipe {c.Name} exited with {c.ExitCode}:\n{c.Output}");
                long committed = await CommittedAsync(tables);
                double at = clock.Elapsed.TotalSeconds;
                var sample = new Sample(at / 60, children.Select(c => c.RssKb()).ToArray(), (committed - lastCommitted) / (at - lastAt));
                (lastCommitted, lastAt) = (committed, at);
                samples.Add(sample);
                IngestBench.Progress(string.Create(CultureInfo.InvariantCulture,
                    $"soak: {sample.Minutes:0.00} min, RSS serve {Mib(sample.RssKb[0])}, stream {Mib(sample.RssKb[1])}, emulate {Mib(sample.RssKb[2])}; stream committed {sample.CommittedPerSecond:N0} records/s"));
            }
        }
        finally
        {
            foreach (var c in children.Reverse()) await c.StopAsync();
            (store as IDisposable)?.Dispose();
        }

        await WriteCsvAsync(Path.Combine(output, "soak.csv"), samples);
        await File.WriteAllTextAsync(Path.Combine(output, "soak.svg"), Svg(samples, warmup, args));
        var steady = samples.Where(s => s.Minutes >= warmup.TotalMinutes).ToList();
        var lines = new List<string>
        {
            "",
            string.Create(CultureInfo.InvariantCulture,
                $"Soak: `pinpipe serve`, `pinpipe stream` and `pinpipe emulate --lane stream --rate {args.Rate} --records-per-request {args.RecordsPerRequest}` as separate processes for {args.Minutes} min; VmRSS every {Interval.TotalSeconds:0} s. CSV and chart: {output}"),
            "",
            "| process | RSS first sample | RSS median after warm-up | min / max after warm-up | range (± % of median) |",
            "|---|---|---|---|---|",
        };
        for (int p = 0; p < Names.Length; p++)
        {
            var values = steady.Select(s => s.RssKb[p] / 1024.0).Where(v => v > 0).ToList();
            if (values.Count == 0) { lines.Add($"| {Names[p]} | | no sample after the warm-up | | |"); continue; }
            double median = IngestBench.Median(values);
            lines.Add(string.Create(CultureInfo.InvariantCulture,
                $"| {Names[p]} | {samples[0].RssKb[p] / 1024.0:N0} MiB | {median:N0} MiB | {values.Min():N0} / {values.Max():N0} MiB | {Range(values, median)} |"));
        }
        var rates = steady.Select(s => s.CommittedPerSecond).ToList();
        var streamRss = steady.Select(s => s.RssKb[1] / 1024.0).ToList();
        if (streamRss.Count > 0)
        {
            double median = IngestBench.Median(streamRss);
            double low = (streamRss.Min() - median) / median, high = (streamRss.Max() - median) / median;
            bool pass = low >= -Tolerance && high <= Tolerance;
            lines.Add("");
            lines.Add(string.Create(CultureInfo.InvariantCulture,
                $"Stream job RSS after its first {warmup.TotalMinutes:0.#} min: median {median:N0} MiB, range {Percent(low)} / {Percent(high)} of the median → {(pass ? "PASS" : "FAIL")} (±{Tolerance * 100:0}%); committed {IngestBench.Median(rates):N0} records/s (median; min {rates.Min():N0}, max {rates.Max():N0})."));
        }
        return lines;
    }

    private static string Range(List<double> values, double median) => $"{Percent((values.Min() - median) / median)} / {Percent((values.Max() - median) / median)}";

    /// <summary>A signed percentage with one decimal (<c>-5.1%</c>, <c>+0.0%</c>).</summary>
    private static string Percent(double fraction) => Math.Round(fraction * 100, 1).ToString("+0.0;-0.0;+0.0", CultureInfo.InvariantCulture) + "%";

    private static string Mib(long kb) => string.Create(CultureInfo.InvariantCulture, $"{kb / 1024.0:N0} MiB");

    /// <summary>Records the stream job committed: the sum over the clean tables of their txns' next offsets.</summary>
    private static async Task<long> CommittedAsync(DeltaTable[] tables)
    {
        long total = 0;
        foreach (var t in tables)
        {
            var snapshot = await t.LatestAsync();
            if (snapshot is null) continue;
            total += snapshot.Txns.Where(kv => kv.Key.StartsWith("pinpipe-stream:", StringComparison.Ordinal)).Sum(kv => kv.Value);
        }
        return total;
    }

    private static async Task WriteCsvAsync(string file, List<Sample> samples)
    {
        var csv = new StringBuilder("minutes,serve_rss_mib,stream_rss_mib,emulate_rss_mib,stream_committed_records_per_s\n");
        foreach (var s in samples)
            csv.Append(string.Create(CultureInfo.InvariantCulture, $"{s.Minutes:0.00},{s.RssKb[0] / 1024.0:0.0},{s.RssKb[1] / 1024.0:0.0},{s.RssKb[2] / 1024.0:0.0},{s.CommittedPerSecond:0}\n"));
        await File.WriteAllTextAsync(file, csv.ToString());
    }

    /// <summary>A line chart of each process's RSS over time, the warm-up shaded and the ±10% band around the stream job's median.</summary>
    private static string Svg(List<Sample> samples, TimeSpan warmup, BenchArgs args)
    {
        const int W = 800, H = 400, L = 60, R = 110, T = 40, B = 40;
        string[] colors = ["#1f77b4", "#d62728", "#2ca02c"];
        double maxX = Math.Max(args.Minutes, samples.Count == 0 ? 1 : samples[^1].Minutes);
        double maxY = samples.Count == 0 ? 100 : Math.Ceiling(samples.Max(s => s.RssKb.Max()) / 1024.0 * 1.15 / 50) * 50;
        double X(double m) => L + m / maxX * (W - L - R);
        double Y(double mib) => H - B - mib / maxY * (H - T - B);
        var svg = new StringBuilder();
        string F(double v) => v.ToString("0.#", CultureInfo.InvariantCulture);
        svg.Append(CultureInfo.InvariantCulture, $"<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{W}\" height=\"{H}\" font-family=\"sans-serif\" font-size=\"12\">\n");
        svg.Append(CultureInfo.InvariantCulture, $"<rect width=\"{W}\" height=\"{H}\" fill=\"white\"/>\n");
        svg.Append(CultureInfo.InvariantCulture, $"<text x=\"{L}\" y=\"20\" font-size=\"14\">RSS per process, emulate --lane stream --rate {args.Rate} --records-per-request {args.RecordsPerRequest}</text>\n");
        svg.Append(CultureInfo.InvariantCulture, $"<rect x=\"{F(X(0))}\" y=\"{T}\" width=\"{F(X(warmup.TotalMinutes) - X(0))}\" height=\"{H - T - B}\" fill=\"#eeeeee\"/>\n");
        var steady = samples.Where(s => s.Minutes >= warmup.TotalMinutes).Select(s => s.RssKb[1] / 1024.0).ToList();
        if (steady.Count > 0)
        {
            double median = IngestBench.Median(steady);
            svg.Append(CultureInfo.InvariantCulture, $"<rect x=\"{F(X(warmup.TotalMinutes))}\" y=\"{F(Y(median * (1 + Tolerance)))}\" width=\"{F(X(maxX) - X(warmup.TotalMinutes))}\" height=\"{F(Y(median * (1 - Tolerance)) - Y(median * (1 + Tolerance)))}\" fill=\"#d62728\" fill-opacity=\"0.08\"/>\n");
        }
        for (int i = 0; i <= 5; i++)
        {
            double mib = maxY * i / 5, m = maxX * i / 5;
            svg.Append(CultureInfo.InvariantCulture, $"<line x1=\"{L}\" x2=\"{W - R}\" y1=\"{F(Y(mib))}\" y2=\"{F(Y(mib))}\" stroke=\"#dddddd\"/><text x=\"{L - 5}\" y=\"{F(Y(mib) + 4)}\" text-anchor=\"end\">{F(mib)}</text>\n");
            svg.Append(CultureInfo.InvariantCulture, $"<text x=\"{F(X(m))}\" y=\"{H - B + 16}\" text-anchor=\"middle\">{F(m)}</text>\n");
        }
        svg.Append(CultureInfo.InvariantCulture, $"<text x=\"{(L + W - R) / 2}\" y=\"{H - 5}\" text-anchor=\"middle\">minutes</text><text x=\"15\" y=\"{(T + H - B) / 2}\" transform=\"rotate(-90 15 {(T + H - B) / 2})\" text-anchor=\"middle\">RSS (MiB)</text>\n");
        for (int p = 0; p < Names.Length; p++)
        {
            string points = string.Join(' ', samples.Select(s => $"{F(X(s.Minutes))},{F(Y(s.RssKb[p] / 1024.0))}"));
            svg.Append(CultureInfo.InvariantCulture, $"<polyline fill=\"none\" stroke=\"{colors[p]}\" stroke-width=\"2\" points=\"{points}\"/>\n");
            svg.Append(CultureInfo.InvariantCulture, $"<line x1=\"{W - R + 10}\" x2=\"{W - R + 30}\" y1=\"{T + 10 + p * 18}\" y2=\"{T + 10 + p * 18}\" stroke=\"{colors[p]}\" stroke-width=\"2\"/><text x=\"{W - R + 35}\" y=\"{T + 14 + p * 18}\">{Names[p]}</text>\n");
        }
        svg.Append("</svg>\n");
        return svg.ToString();
    }

    private static int FreePort()
    {
        using var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        return ((IPEndPoint)listener.LocalEndpoint).Port;
    }

    private static async Task WaitHealthyAsync(string url, PinPipeChild serve)
    {
        using var http = new HttpClient { Timeout = TimeSpan.FromSeconds(5) };
        var deadline = Stopwatch.StartNew();
        while (deadline.Elapsed < TimeSpan.FromSeconds(120))
        {
            if (serve.HasExited) throw new InvalidOperationException($"pinpipe serve exited with {serve.ExitCode}:\n{serve.Output}");
            try
            {
                using var response = await http.GetAsync(new Uri(url + "/healthz"));
                if (response.IsSuccessStatusCode) return;
            }
            catch (HttpRequestException) { }
            catch (TaskCanceledException) { }
            await Task.Delay(250);
        }
        throw new InvalidOperationException($"pinpipe serve did not answer /healthz in 120 s:\n{serve.Output}");
    }
}
