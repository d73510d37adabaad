using System.CommandLine;
using System.Globalization;
using Microsoft.Extensions.Logging;
using PinPipe.Hosting;
using PinPipe.Lake;
using PinPipe.Log;
using PinPipe.Log.Kinesis;
using PinPipe.Verify;

namespace PinPipe.Cli.Commands;

/// <summary>
/// <c>pinpipe verify</c>: reconciles the log, the bucket and the Delta tables after an incident and lists every gap and
/// duplicate; exit 0 when all is consistent, 1 otherwise; <c>--json</c> for machines.
/// </summary>
internal static class VerifyCommand
{
    public static Command Create(GlobalOptions global)
    {
        var command = new Command("verify", "Reconcile the stages and list every gap and duplicate: log ↔ bucket (every offset below the sink's committed offset in exactly one object, "
            + "with the same value), streams ↔ streaming Delta tables (every record up to each table's txn position a clean row, a duplicate or a reject, none twice; the log's streams, or Kinesis's with Stream:Source=kinesis), "
            + "bucket ↔ batch Delta tables (the last run's counts against the raw objects it read). Only reads. Exit 0 when consistent, 1 with the list otherwise.");
        var flags = new ConfigFlags();
        ServeCommand.AddLogFlags(command, flags, withDefaultPartitions: false);
        VacuumCommand.AddBucketFlags(command, flags);
        var lane = new Option<string>("--lane") { Description = "What to reconcile: batch (log ↔ bucket ↔ batch tables), stream (streams ↔ streaming tables) or all (default).", DefaultValueFactory = _ => "all" };
        lane.AcceptOnlyFromAmong("all", "batch", "stream");
        var json = new Option<bool>("--json") { Description = "Print the report as JSON (consistent, problems, and each check's figures, problems and notes)." };
        command.Options.Add(lane);
        command.Options.Add(json);
        command.SetAction((parse, ct) => CliRunner.RunAsync(parse, global, flags, async (ctx, token) =>
        {
            var settings = ctx.Settings;
            var lanes = parse.GetValue(lane) switch { "batch" => VerifyLanes.Batch, "stream" => VerifyLanes.Stream, _ => VerifyLanes.All };
            // Stream:Source=kinesis: the streaming tables are reconciled with Kinesis's shards (section Kinesis).
            using var kinesis = settings.Stream.Source == Streaming.StreamSource.Kinesis && lanes.HasFlag(VerifyLanes.Stream) ? new KinesisClient(settings.Kinesis) : null;
            // A consumer that commits nothing: it may read while `pinpipe serve` owns the log.
            await using var log = await LogFactory.OpenAsync(settings.Log with { Access = LogAccess.Consumer }, ctx.LoggerFactory, token).ConfigureAwait(false);
            var store = await ObjectStoreFactory.OpenAsync(settings.ObjectStore, settings.Names.Bucket, ctx.LoggerFactory.CreateLogger("pinpipe.verify"), token).ConfigureAwait(false);
            try
            {
                var verifier = new PipelineVerifier(log, store, settings.Names, settings.Sink, settings.Batch, PipelineJobs.StreamTarget(settings), settings.Verify,
                    ctx.LoggerFactory.CreateLogger("pinpipe.verify"), kinesis);
                var report = await verifier.RunAsync(lanes, token).ConfigureAwait(false);
                if (parse.GetValue(json)) await ctx.Out.WriteLineAsync(report.ToJson()).ConfigureAwait(false);
                else await WriteAsync(ctx.Out, report).ConfigureAwait(false);
                return report.Consistent ? ExitCodes.Ok : ExitCodes.Failed;
            }
            finally
            {
                (store as IDisposable)?.Dispose();
            }
        }, ct));
        return command;
    }

    private static async Task WriteAsync(TextWriter output, VerifyReport report)
    {
        foreach (var c in report.Checks)
        {
            string figures = string.Join(", ", c.Figures.Select(f => $"{f.Key} {f.Value.ToString("N0", CultureInfo.InvariantCulture)}"));
            string outcome = c.Problems == 0 ? "ok" : $"{c.Problems.ToString("N0", CultureInfo.InvariantCulture)} problem{(c.Problems == 1 ? "" : "s")}";
            await output.WriteLineAsync($"{c.Check,-14} {c.Subject,-32} {c.Checked.ToString("N0", CultureInfo.InvariantCulture),12} checked  {outcome}{(figures.Length > 0 ? $"  ({figures})" : "")}").ConfigureAwait(false);
            foreach (var p in c.Listed) await output.WriteLineAsync($"  {p.Kind,-12} {p.Where}: {p.Message}").ConfigureAwait(false);
            if (c.Problems > c.Listed.Count)
                await output.WriteLineAsync($"  ... and {(c.Problems - c.Listed.Count).ToString("N0", CultureInfo.InvariantCulture)} more (raise Verify:MaxListed to list them)").ConfigureAwait(false);
            foreach (string n in c.Notes) await output.WriteLineAsync($"  note: {n}").ConfigureAwait(false);
        }
        await output.WriteLineAsync(report.Consistent
            ? $"Consistent: {report.Checks.Count} checks, no gap and no duplicate."
            : $"Not consistent: {report.Problems.ToString("N0", CultureInfo.InvariantCulture)} problems in {report.Checks.Count(c => c.Problems > 0)} of {report.Checks.Count} checks.").ConfigureAwait(false);
    }
}
