using System.Diagnostics;
using System.Globalization;
using PinPipe.Hosting;
using PinPipe.Log;

namespace PinPipe.Bench;

/// <summary>
/// <c>verify</c>: <c>pinpipe verify</c> over a pipeline of <c>--posts</c> posts (default 1,000,000): the posts are appended
/// to the 3 topics and the 3 streams (6 partitions each), the sink lands the topics, the stream job writes the streaming
/// tables and <c>pinpipe batch</c> the batch tables (real CLI processes); then <c>pinpipe verify</c> runs <c>--rounds</c>
/// times: wall time (process start included), records compared per second and peak RSS.
/// </summary>
internal static class VerifyBench
{
    private static readonly TimeSpan Timeout = TimeSpan.FromMinutes(20);

    public static async Task<List<string>> RunAsync(BenchArgs args)
    {
        long posts = args.Posts > 0 ? args.Posts : 1_000_000;
        var (dll, error) = await BatchBench.PrepareCliAsync("verify");
        if (dll is null) return [$"verify: {error}"];
        using var dir = new BenchDirectory("verify");
        const string User = "v";
        var settings = new PinPipeSettings { DataDir = dir.Path, UserId = User }.Resolve();
        string[] common = ["--data-dir", dir.Path, "--user-id", User];
        await using (var log = await LogFactory.OpenAsync(settings.Log))
        {
            foreach (string t in settings.Names.Topics.Concat(settings.Names.Streams)) await log.CreateTopicAsync(t, WorkersBench.Partitions);
            IngestBench.Progress($"verify: appending {posts:N0} posts to 3 topics and 3 streams");
            await WorkersBench.AppendAsync(log, settings, PinPipe.Source.SyntheticData.FirstIndex, posts);
        }

        await using (var log = await LogFactory.OpenAsync(settings.Log with { Access = LogAccess.Consumer }))
        {
            await DrainAsync(dll, dir.Path, ["sink", .. common, "--flush-size", "10000", "--rotate-interval", "1s"], log, settings.Sink.GroupId, settings.Names.Topics, posts * 3);
            await DrainAsync(dll, dir.Path, ["stream", .. common], log, settings.Stream.GroupId, settings.Names.Streams, posts * 3);
        }
        IngestBench.Progress("verify: pinpipe batch");
        var (batchCode, batchOutput, _, _) = await RunAsync(dll, dir.Path, ["batch", .. common]);
        if (batchCode != 0) return [$"verify: pinpipe batch exited {batchCode}: {batchOutput}"];

        var seconds = new List<double>();
        var rss = new List<double>();
        string? last = null;
        for (int round = 1; round <= Math.Max(1, args.Rounds); round++)
        {
            var (code, output, took, peakKb) = await RunAsync(dll, dir.Path, ["verify", .. common]);
            if (code != 0) return [$"verify: pinpipe verify exited {code} in round {round}:", "", "```", output, "```"];
            seconds.Add(took);
            rss.Add(peakKb / 1024.0);
            last = output;
            IngestBench.Progress(string.Create(CultureInfo.InvariantCulture, $"verify: round {round}: {took:0.0} s, peak RSS {peakKb / 1024.0:N0} MiB"));
        }
        double median = IngestBench.Median(seconds);
        long records = posts * 3 * 3; // each record compared in the log-bucket, bucket-batch and stream-tables checks
        return
        [
            "",
            string.Create(CultureInfo.InvariantCulture, $"pinpipe verify over {posts:N0} posts ({posts * 3:N0} records in 3 topics and {posts * 3:N0} in 3 streams, {WorkersBench.Partitions} partitions each; embedded log, directory bucket, the batch and streaming Delta tables), {seconds.Count} rounds:"),
            "",
            "| wall time (median) | rounds | records compared / s | peak RSS (median) |",
            "|---|---|---|---|",
            string.Create(CultureInfo.InvariantCulture, $"| {median:0.0} s | {string.Join(", ", seconds.Select(s => s.ToString("0.0", CultureInfo.InvariantCulture)))} s | {records / median:N0} | {IngestBench.Median(rss):N0} MiB |"),
            "",
            "Its report (last round):",
            "",
            "```",
            .. (last ?? "").Split('\n').Where(l => !l.Contains(" info: ", StringComparison.Ordinal)).Select(l => l.TrimEnd()),
            "```",
        ];
    }

    private static async Task DrainAsync(string dll, string dir, string[] args, ILog log, string group, IReadOnlyList<string> topics, long backlog)
    {
        IngestBench.Progress($"verify: pinpipe {args[0]} over {backlog:N0} records");
        using var child = PinPipeChild.Start(dll, dir, args);
        var clock = Stopwatch.StartNew();
        try
        {
            while (true)
            {
                if (child.HasExited) throw new InvalidOperationException($"pinpipe {args[0]} exited with {child.ExitCode}:\n{child.Output}");
                if (clock.Elapsed > Timeout) throw new TimeoutException($"pinpipe {args[0]}: not done after {Timeout}:\n{child.Output}");
                long done = (await GroupPositions.OfAsync(log, group, topics)).Sum(p => p.Committed ?? 0);
                if (done >= backlog) break;
                await Task.Delay(500);
            }
        }
        finally
        {
            await child.StopAsync();
        }
        IngestBench.Progress(string.Create(CultureInfo.InvariantCulture, $"verify: pinpipe {args[0]} done in {clock.Elapsed.TotalSeconds:0.0} s"));
    }

    /// <summary>Runs the CLI to its end: exit code, output, wall seconds, peak RSS (KiB, sampled every 100 ms).</summary>
    private static async Task<(int Code, string Output, double Seconds, long PeakKb)> RunAsync(string dll, string dir, string[] args)
    {
        var clock = Stopwatch.StartNew();
        using var child = PinPipeChild.Start(dll, dir, args);
        long peak = 0;
        while (!child.HasExited)
        {
            peak = Math.Max(peak, child.RssKb());
            if (clock.Elapsed > Timeout) child.Kill();
            await Task.Delay(100);
        }
        double took = clock.Elapsed.TotalSeconds;
        await child.StopAsync();
        return (child.ExitCode, child.Output, took, peak);
    }
}
