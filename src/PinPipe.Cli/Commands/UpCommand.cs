using System.CommandLine;
using Microsoft.Extensions.Logging;
using PinPipe.Emulation;
using PinPipe.Hosting;
using PinPipe.Sink;
using PinPipe.Source;
using Spectre.Console;

namespace PinPipe.Cli.Commands;

/// <summary>
/// The whole batch-lane ingestion in one process: seed the source when empty, start the API and the
/// sink, emulate posts with a live display, wait until everything logged is in the bucket, and say
/// what landed where.
/// </summary>
internal static class UpCommand
{
    public static Command Create(GlobalOptions global)
    {
        var command = new Command("up", "Run the pipeline on one machine: seed the source when empty, serve the API, run the sink, emulate posts, then show what landed where.");
        var flags = new ConfigFlags();
        var records = new Option<long>("--records") { Description = "Posts to emulate (3 records each); 0 = until Ctrl-C.", DefaultValueFactory = _ => 1000 };
        command.Options.Add(records);
        var skipBatch = new Option<bool>("--skip-batch") { Description = "Stop after the records land in the bucket; do not run the batch job." };
        command.Options.Add(skipBatch);
        flags.Add<string>(command, "--urls", "Ingest:Urls", "Where the API listens (default http://127.0.0.1:8082).");
        flags.Add<double>(command, "--rate", "Emulator:Rate", "Target posts per second; 0 = unthrottled (default).");
        flags.Add<int>(command, "--concurrency", "Emulator:Concurrency", "Requests in flight at once (default 8).");
        flags.Add<int>(command, "--records-per-request", "Emulator:RecordsPerRequest", "Records per request; 1 = the original emulator's shape (default).");
        flags.Add<long>(command, "--rows", "Source:Rows", "Posts to seed when the source is empty (default 11000).");
        SinkCommand.AddSinkFlags(command, flags);
        ServeCommand.AddLogFlags(command, flags);
        SeedCommand.AddSourceFlags(command, flags);
        BatchCommand.AddBatchFlags(command, flags, withObjectStore: false);
        command.SetAction((parse, ct) => CliRunner.RunAsync(parse, global, flags, (ctx, token) => RunAsync(ctx, parse.GetValue(records), parse.GetValue(skipBatch), token), ct));
        return command;
    }

    private static async Task<int> RunAsync(CliContext ctx, long records, bool skipBatch, CancellationToken token)
    {
        if (records < 0) throw new ArgumentException($"--records: {records} must be zero (until Ctrl-C) or more.");
        var logger = ctx.LoggerFactory.CreateLogger("pinpipe.up");
        var settings = ctx.Settings;
        await using var db = SourceDatabaseFactory.Create(settings.Source);
        await SeedCommand.SeedAsync(ctx, db, force: false, token).ConfigureAwait(false);

        await using var host = await PipelineHost.StartAsync(settings, HostParts.Api | HostParts.Sink, ctx.LoggerFactory, token).ConfigureAwait(false);
        logger.LogInformation("API on {Api}; log {Log}; bucket {Bucket}.", host.Api!.BaseAddress, settings.Log.Path, host.Store.Location);

        var emulatorOptions = settings.Emulator with { ApiUrl = host.Api.BaseAddress.ToString().TrimEnd('/'), Count = records == 0 ? null : records, Lane = "batch" };
        var emulator = new Emulator(emulatorOptions, db, settings.Names, ctx.LoggerFactory.CreateLogger<Emulator>());
        var figures = new Figures(host, emulator);

        EmulatorResult result;
        try
        {
            result = await LiveDisplay.RunAsync(figures.Render, figures.Line, () => emulator.RunAsync(token)).ConfigureAwait(false);
        }
        catch (OperationCanceledException)
        {
            result = null!;
        }

        // Ctrl-C stops the emulator; what was acknowledged is still drained into the bucket, open objects
        // committed without waiting for the flush size or the rotation schedule.
        var drainTimeout = TimeSpan.FromSeconds(30);
        using var drainCts = new CancellationTokenSource(drainTimeout + TimeSpan.FromSeconds(5));
        bool drained = await LiveDisplay.RunAsync(figures.Render, figures.Line, () => host.DrainSinkAsync(drainTimeout, drainCts.Token)).ConfigureAwait(false);

        await PrintLandedAsync(ctx.Out, host, result).ConfigureAwait(false);
        if (result is not null) EmulateCommand.PrintSummary(ctx.Out, result);
        if (!drained) await ctx.Error.WriteLineAsync($"error: {await host.SinkLagAsync(CancellationToken.None).ConfigureAwait(false):N0} logged records were not in the bucket after {drainTimeout.TotalSeconds:0} s.").ConfigureAwait(false);
        if (result is null) return ExitCodes.Cancelled;
        if (result.RecordsLost > 0 || !drained) return ExitCodes.Failed;
        if (skipBatch) return ExitCodes.Ok;

        // The batch lane's processing: what landed in the bucket, cleaned into Delta tables and answered.
        ctx.Out.WriteLine();
        return await BatchCommand.RunRecordedAsync(ctx, rows: 10, token).ConfigureAwait(false);
    }

    private static async Task PrintLandedAsync(TextWriter output, PipelineHost host, EmulatorResult? result)
    {
        var stats = host.Sink!.GetStats();
        output.WriteLine();
        output.WriteLine($"What landed where (log {host.Settings.Log.Path}, bucket {host.Store.Location}):");
        foreach (var topic in host.Settings.Sink.Topics!)
        {
            long logged = await Figures.LoggedAsync(host, topic).ConfigureAwait(false);
            stats.Topics.TryGetValue(topic, out var t);
            output.WriteLine($"  {topic,-24} {logged,12:N0} records in the log   {t?.RecordsWritten ?? 0,12:N0} records in {t?.ObjectsWritten ?? 0:N0} objects under {host.Settings.Sink.TopicsDir}/{topic}/");
        }
    }

    /// <summary>The live figures of a run: emulator, log and bucket, one row per topic.</summary>
    private sealed class Figures(PipelineHost host, Emulator emulator)
    {
        private readonly Dictionary<string, long> _logged = [];

        public static async Task<long> LoggedAsync(PipelineHost host, string topic)
        {
            var d = await host.Log.DescribeTopicAsync(topic).ConfigureAwait(false);
            long n = 0;
            for (int p = 0; p < (d?.Partitions ?? 0); p++)
            {
                var w = await host.Log.GetWatermarksAsync(topic, p).ConfigureAwait(false);
                n += w.High;
            }
            return n;
        }

        private void Refresh()
        {
            foreach (var topic in host.Settings.Sink.Topics!)
                _logged[topic] = LoggedAsync(host, topic).GetAwaiter().GetResult();
        }

        public Table Render()
        {
            Refresh();
            var e = emulator.Snapshot();
            var sink = host.Sink!.GetStats();
            var table = LiveDisplay.Table("batch lane", "posted", "acknowledged", "failed", "in log", "in bucket", "objects");
            table.Caption($"{e.RecordsPerSecond:N0} records/s  ·  {e.Posts:N0} posts  ·  ETA {LiveDisplay.Eta(e.Eta)}");
            table.AddRow("all topics", LiveDisplay.N(e.RecordsSent), LiveDisplay.N(e.RecordsAcknowledged), LiveDisplay.N(e.RecordsFailed),
                LiveDisplay.N(_logged.Values.Sum()), LiveDisplay.N(sink.RecordsWritten), LiveDisplay.N(sink.ObjectsWritten));
            foreach (var topic in host.Settings.Sink.Topics!)
            {
                sink.Topics.TryGetValue(topic, out SinkTopicStats? t);
                table.AddRow(topic, "", "", "", LiveDisplay.N(_logged[topic]), LiveDisplay.N(t?.RecordsWritten ?? 0), LiveDisplay.N(t?.ObjectsWritten ?? 0));
            }
            return table;
        }

        public string Line()
        {
            Refresh();
            var sink = host.Sink!.GetStats();
            return $"{EmulateCommand.Line(emulator.Snapshot())}; log {_logged.Values.Sum():N0}; bucket {sink.RecordsWritten:N0} records in {sink.ObjectsWritten:N0} objects";
        }
    }
}
