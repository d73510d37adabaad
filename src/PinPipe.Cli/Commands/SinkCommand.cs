using System.CommandLine;
using Microsoft.Extensions.Logging;
using PinPipe.Hosting;
using PinPipe.Lake;

namespace PinPipe.Cli.Commands;

internal static class SinkCommand
{
    public static Command Create(GlobalOptions global)
    {
        var command = new Command("sink", "Run the S3-sink connector: copy the topics' records into the bucket as topics/<topic>/partition=<p>/<topic>+<p>+<offset>.json objects, exactly once, until Ctrl-C.");
        var flags = new ConfigFlags();
        AddSinkFlags(command, flags);
        AddCreateBucketFlag(command, flags);
        flags.Add<string>(command, "--reset", "Sink:Reset", "earliest: a topic deleted and created again (or truncated) since the committed offsets is sunk from its start, deliberately, once its earlier objects are moved out of topics/<topic>/; without it the sink stops on such a topic.");
        ServeCommand.AddLogFlags(command, flags);
        MetricsEndpoint.AddFlag(command, flags);
        command.SetAction((parse, ct) => CliRunner.RunAsync(parse, global, flags, async (ctx, token) =>
        {
            await using var host = await PipelineHost.StartAsync(ctx.Settings, HostParts.Sink, ctx.LoggerFactory, token).ConfigureAwait(false);
            var logger = ctx.LoggerFactory.CreateLogger("pinpipe.sink");
            await using var metrics = await MetricsEndpoint.StartAsync(ctx, logger, token).ConfigureAwait(false);
            logger.LogInformation("Sinking {Topics} into {Bucket} (flush size {FlushSize}). Ctrl-C to stop.",
                string.Join(", ", ctx.Settings.Sink.Topics!), host.Store.Location, ctx.Settings.Sink.FlushSize);
            // Progress every 10 s: what landed, the rate, and what the log holds that is not in the bucket yet.
            long lastWritten = 0;
            var lastAt = DateTime.UtcNow;
            try
            {
                var nextProgress = DateTime.UtcNow.AddSeconds(10);
                while (host.SinkFailure is null)
                {
                    await Task.Delay(TimeSpan.FromMilliseconds(200), token).ConfigureAwait(false);
                    if (DateTime.UtcNow < nextProgress) continue;
                    nextProgress = DateTime.UtcNow.AddSeconds(10);
                    var now = host.Sink!.GetStats();
                    var at = DateTime.UtcNow;
                    logger.LogInformation("{Records:N0} records in {Objects:N0} objects ({Rate:N0} records/s); lag {Lag:N0} records",
                        now.RecordsWritten, now.ObjectsWritten, (now.RecordsWritten - lastWritten) / (at - lastAt).TotalSeconds, await host.SinkLagAsync(token).ConfigureAwait(false));
                    (lastWritten, lastAt) = (now.RecordsWritten, at);
                }
            }
            catch (OperationCanceledException) { }
            var s = host.Sink!.GetStats();
            logger.LogInformation("Stopped: {Records:N0} records in {Objects:N0} objects written this run; records of open objects will be rewritten on the next start.", s.RecordsWritten, s.ObjectsWritten);
            if (host.SinkFailure is { } failure)
            {
                // The exit code of the failure's root cause: 3 when the object store or the log is unavailable.
                var error = CliErrors.Describe(failure, ctx.Settings) ?? new CliError(failure.Message, null, ExitCodes.Failed);
                await ctx.Error.WriteLineAsync(error.Line).ConfigureAwait(false);
                return error.ExitCode;
            }
            return ExitCodes.Ok;
        }, ct));
        return command;
    }

    /// <summary><c>--create-bucket</c>: opt-in, as Kafka Connect's S3 sink never creates the bucket (<c>pinpipe up</c> always does).</summary>
    public static void AddCreateBucketFlag(Command command, ConfigFlags flags) =>
        flags.Add<bool>(command, "--create-bucket", "ObjectStore:CreateBucket", "S3: create the bucket when it is missing (default: stop, naming it).");

    public static void AddSinkFlags(Command command, ConfigFlags flags)
    {
        flags.Add<int>(command, "--flush-size", "Sink:FlushSize", "flush.size: records per object (default 1000).");
        flags.AddDuration(command, "--session-timeout", "Sink:SessionTimeout", "A sink worker silent this long leaves the consumer group and its partitions go to the other workers (default 10s).");
        flags.AddDuration(command, "--rotate-interval", "Sink:RotateScheduleInterval", "rotate.schedule.interval.ms: commit an open object older than this (default 10s).");
        flags.AddChoice<ObjectStoreKind>(command, "--object-store", "ObjectStore:Kind", "directory (default) or s3.");
        flags.Add<string>(command, "--bucket", "ObjectStore:Bucket", "Bucket name (default user-<UserId>-bucket).");
        flags.Add<string>(command, "--s3-endpoint", "ObjectStore:ServiceUrl", "S3-compatible endpoint URL (default: AWS).");
    }
}
