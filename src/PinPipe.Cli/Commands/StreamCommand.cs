using System.CommandLine;
using Microsoft.Extensions.Logging;
using PinPipe.Configuration;
using PinPipe.Lake;
using PinPipe.Lake.Delta;
using PinPipe.Hosting;
using PinPipe.Log;
using PinPipe.Log.Kinesis;
using PinPipe.Streaming;
using PinPipe.Transform;

namespace PinPipe.Cli.Commands;

internal static class StreamCommand
{
    public static Command Create(GlobalOptions global)
    {
        var command = new Command("stream", "Run the stream job: clean the Kinesis-style streams in micro-batches into the Delta tables <U>_pin_table, <U>_geo_table, <U>_user_table (and <table>_rejects), exactly once, until Ctrl-C. The streams are the log's, or Amazon Kinesis's with Stream:Source=kinesis (settings section Kinesis; README: Running on several machines).");
        var flags = new ConfigFlags();
        flags.AddChoice<StreamStart>(command, "--from", "Stream:From", "Where a stream starts when its tables hold no offset yet: earliest (default) or latest.");
        flags.Add<string>(command, "--reset", "Stream:Reset", "earliest: a stream deleted and created again (or truncated) since the tables' offsets is read from its start, deliberately; without it the job stops on such a stream. Streams whose offsets are theirs are not touched.");
        flags.AddDuration(command, "--trigger", "Stream:Trigger", "Micro-batches close this far apart while records come, at most this long after their first record (default 100ms).");
        flags.Add<int>(command, "--max-batch-records", "Stream:MaxBatchRecords", "A micro-batch closes at this many records (default 50000).");
        flags.AddDuration(command, "--session-timeout", "Stream:SessionTimeout", "A stream worker silent this long leaves the group and its stream partitions go to the other workers (default 10s).");
        flags.AddChoice<RecordParser>(command, "--parser", "Stream:Parser",
            "Who reads the records' JSON: pinpipe (default: our parser as each record arrives, for flat objects; DuckDB's JSON functions for the rest) or duckdb (DuckDB's for every record, when the micro-batch is cleaned). Same rules, same results.");
        flags.Add<int>(command, "--compact-every", "Stream:CompactEvery", "Compact a table's small files (under 8 MiB) into one once it has this many, or twice as many while it is behind its stream; 0 never (default 50).");
        flags.AddChoice<ObjectStoreKind>(command, "--object-store", "ObjectStore:Kind", "directory (default) or s3.");
        flags.Add<string>(command, "--bucket", "ObjectStore:Bucket", "Bucket name (default user-<UserId>-bucket).");
        flags.Add<string>(command, "--s3-endpoint", "ObjectStore:ServiceUrl", "S3-compatible endpoint URL (default: AWS).");
        SinkCommand.AddCreateBucketFlag(command, flags);
        ServeCommand.AddLogFlags(command, flags);
        MetricsEndpoint.AddFlag(command, flags);
        command.SetAction((parse, ct) => CliRunner.RunAsync(parse, global, flags, async (ctx, token) =>
        {
            // The embedded log belongs to `pinpipe serve`: this process reads it as a consumer. With Stream:Source=kinesis it reads Kinesis, no log.
            var settings = ctx.Settings with { Log = ctx.Settings.Log with { Access = LogAccess.Consumer } };
            bool kinesis = settings.Stream.Source == StreamSource.Kinesis;
            await using var log = kinesis ? null : await LogFactory.OpenAsync(settings.Log, ctx.LoggerFactory, token).ConfigureAwait(false);
            using var kinesisClient = kinesis ? new KinesisClient(settings.Kinesis) : null;
            var logger = ctx.LoggerFactory.CreateLogger("pinpipe.stream");
            await using var metrics = await MetricsEndpoint.StartAsync(ctx, logger, token).ConfigureAwait(false);
            var store = await ObjectStoreFactory.OpenAsync(settings.ObjectStore, settings.Names.Bucket, logger, token).ConfigureAwait(false);
            try
            {
                var job = PipelineJobs.Stream(settings, log, kinesisClient, store, ctx.LoggerFactory);
                logger.LogInformation("Streaming {Streams} ({Source}) into {Bucket}/{Prefix}/ (trigger {Trigger}, at most {Max:N0} records a micro-batch, from {From}). Ctrl-C to stop.",
                    string.Join(", ", settings.Names.Streams), kinesis ? $"Kinesis at {kinesisClient!.Endpoint}" : "the log", store.Location, settings.Batch.TablesPrefix, Durations.Text(settings.Stream.Trigger), settings.Stream.MaxBatchRecords, SettingChoices.Name(settings.Stream.From));
                var run = job.RunAsync(token);
                // Progress every 5 s: records/s, lag and the last micro-batch's latency per table.
                var last = job.GetStats();
                var lastAt = DateTime.UtcNow;
                while (!run.IsCompleted)
                {
                    await Task.WhenAny(run, Task.Delay(TimeSpan.FromSeconds(5), CancellationToken.None)).ConfigureAwait(false);
                    if (run.IsCompleted) break;
                    var now = job.GetStats();
                    var at = DateTime.UtcNow;
                    double seconds = Math.Max((at - lastAt).TotalSeconds, 1e-3);
                    foreach (var (t, before) in now.Tables.Zip(last.Tables))
                        logger.LogInformation("{Table}: {Rate:N0} records/s, lag {Lag:N0}, last micro-batch {Records:N0} records in {Ms:N0} ms; {Clean:N0} clean, {Duplicates:N0} duplicates, {Rejects:N0} rejects so far",
                            t.Table, (t.Read - before.Read) / seconds, t.Lag, t.LastBatchRecords, t.LastBatchLatency.TotalMilliseconds, t.Clean, t.Duplicates, t.Rejects);
                    (last, lastAt) = (now, at);
                }
                try
                {
                    await run.ConfigureAwait(false);
                }
                catch (DeltaException ex)
                {
                    // A table this job cannot write (another schema, a newer protocol): nothing more was committed.
                    await ctx.Error.WriteLineAsync($"error: {ex.Message}").ConfigureAwait(false);
                    return ExitCodes.Failed;
                }
                var s = job.GetStats();
                logger.LogInformation("Stopped: {Read:N0} records read this run; lag {Lag:N0}.", s.Read, s.Lag);
                return ExitCodes.Ok;
            }
            finally
            {
                (store as IDisposable)?.Dispose();
            }
        }, ct));
        return command;
    }
}
