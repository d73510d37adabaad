using System.CommandLine;
using System.Globalization;
using PinPipe.Configuration;
using PinPipe.Log;
using PinPipe.Log.Sqlite;

namespace PinPipe.Cli.Commands;

/// <summary><c>pinpipe topics</c>: what kafka-topics.sh does for the log: list (with offsets and lag), create, delete.</summary>
internal static class TopicsCommand
{
    public static Command Create(GlobalOptions global)
    {
        var command = new Command("topics", "List the log's topics with their partitions, offsets, consumer group and its lag (the sink's, Sink:GroupId, for the topics it reads; the stream job's, Stream:GroupId, for the streams; '-' for a topic no stage reads); create or delete topics.");
        var flags = new ConfigFlags();
        ServeCommand.AddLogFlags(command, flags);
        command.SetAction((parse, ct) => CliRunner.RunAsync(parse, global, flags, async (ctx, token) =>
        {
            // A consumer can read while `pinpipe serve` owns the log.
            await using var log = await LogFactory.OpenAsync(ctx.Settings.Log with { Access = LogAccess.Consumer }, ctx.LoggerFactory, token).ConfigureAwait(false);
            // Each topic's lag is its consumer's: the sink's (Sink:GroupId) for the topics it reads, the stream job's
            // (Stream:GroupId) for the streams; a topic no stage reads has none ("-").
            var consumers = ctx.Settings.Consumers();
            await ctx.Out.WriteLineAsync(Retention(ctx.Settings.Log)).ConfigureAwait(false);
            await ctx.Out.WriteLineAsync($"{"topic",-32} {"partition",9} {"low",12} {"high",12} {"records",12}  {"consumer group",-28} {"lag",12}").ConfigureAwait(false);
            foreach (var topic in await log.ListTopicsAsync(token).ConfigureAwait(false))
                for (int p = 0; p < topic.Partitions; p++)
                {
                    var w = await log.GetWatermarksAsync(topic.Name, p, token).ConfigureAwait(false);
                    string row = $"{topic.Name,-32} {p,9} {w.Low,12:N0} {w.High,12:N0} {w.High - w.Low,12:N0}";
                    if (consumers.Of(topic.Name).Count == 0) await ctx.Out.WriteLineAsync($"{row}  {"-",-28} {"-",12}").ConfigureAwait(false);
                    foreach (string group in consumers.Of(topic.Name))
                    {
                        long? committed = await log.GetCommittedOffsetAsync(group, topic.Name, p, token).ConfigureAwait(false);
                        await ctx.Out.WriteLineAsync($"{row}  {group,-28} {w.Lag(committed),12:N0}").ConfigureAwait(false);
                    }
                }
            return ExitCodes.Ok;
        }, ct));

        var name = new Argument<string>("topic") { Description = "The topic's name (Kafka's rules: letters, digits, '.', '_', '-')." };
        var partitions = new Option<int>("--partitions") { Description = "Partitions of the new topic.", DefaultValueFactory = _ => 1 };
        var create = new Command("create", "Create a topic. The embedded log is written by one process at a time: stop a running `pinpipe serve` or `pinpipe up` first (a stream can be created through its API: POST /streams/<name>).") { name, partitions };
        var createFlags = new ConfigFlags();
        ServeCommand.AddLogFlags(create, createFlags, withDefaultPartitions: false);
        create.SetAction((parse, ct) => CliRunner.RunAsync(parse, global, createFlags, async (ctx, token) =>
        {
            await using var log = await OpenToChangeAsync(ctx, "create", token).ConfigureAwait(false);
            await log.CreateTopicAsync(parse.GetValue(name)!, parse.GetValue(partitions), token).ConfigureAwait(false);
            await ctx.Out.WriteLineAsync($"Topic {parse.GetValue(name)} has {parse.GetValue(partitions)} partitions.").ConfigureAwait(false);
            return ExitCodes.Ok;
        }, ct));

        var force = new Option<bool>("--force") { Description = "Delete even when the sink (Sink:GroupId, for the sink's topics) or the stream job (Stream:GroupId, for the streams) has not consumed every record: those records are lost." };
        var delete = new Command("delete", "Delete a topic and its records; refused while its consumer (the sink or the stream job) has not consumed them all, unless --force. The embedded log is written by one process at a time: stop a running `pinpipe serve` or `pinpipe up` first (a stream can be deleted through its API: DELETE /streams/<name>).") { name, force };
        var deleteFlags = new ConfigFlags();
        ServeCommand.AddLogFlags(delete, deleteFlags, withDefaultPartitions: false);
        delete.SetAction((parse, ct) => CliRunner.RunAsync(parse, global, deleteFlags, async (ctx, token) =>
        {
            string topic = parse.GetValue(name)!;
            await using var log = await OpenToChangeAsync(ctx, "delete", token).ConfigureAwait(false);
            bool deleted;
            try
            {
                deleted = await log.DeleteTopicAsync(topic, parse.GetValue(force) ? [] : ctx.Settings.Consumers().Of(topic), token).ConfigureAwait(false);
            }
            catch (LogException ex) when (ex.Code == LogErrorCode.NotConsumed)
            {
                await ctx.Error.WriteLineAsync($"error: {ex.Message} Add --force to delete it anyway: those records are lost.").ConfigureAwait(false);
                return ExitCodes.Failed;
            }
            if (!deleted)
            {
                await ctx.Error.WriteLineAsync($"error: Topic '{topic}' does not exist; nothing was deleted.").ConfigureAwait(false);
                return ExitCodes.Failed;
            }
            await ctx.Out.WriteLineAsync($"Topic {topic} deleted.").ConfigureAwait(false);
            return ExitCodes.Ok;
        }, ct));

        command.Subcommands.Add(create);
        command.Subcommands.Add(delete);
        return command;
    }

    /// <summary>The log's retention, the header of the listing: the embedded log's settings (every topic), or the brokers' for Kafka.</summary>
    internal static string Retention(LogOptions options)
    {
        if (options.Kind == LogKind.Kafka) return "Retention: each topic's retention.ms and retention.bytes on the brokers.";
        string time = options.RetentionTime is { } t ? $"once older than {Durations.Text(t)}" : "never by age";
        string bytes = options.RetentionBytes is { } b ? $"once a partition holds more than {b.ToString("N0", CultureInfo.InvariantCulture)} bytes" : "never by size";
        return $"Retention (every topic of the embedded log): records are deleted {time} (Log:RetentionTime) and {bytes} (Log:RetentionBytes), checked every {Durations.Text(options.RetentionCheckInterval)} by the process that serves the log.";
    }

    /// <summary>
    /// Opens the log to create or delete a topic. The embedded log has one writer, the process serving it; while one
    /// holds it the error names that process and the ways forward (a dependency that is unavailable now, not bad input).
    /// </summary>
    private static async Task<ILog> OpenToChangeAsync(CliContext ctx, string action, CancellationToken token)
    {
        var options = ctx.Settings.Log;
        try
        {
            return await LogFactory.OpenAsync(options, ctx.LoggerFactory, token).ConfigureAwait(false);
        }
        catch (LogException ex) when (options.Kind == LogKind.Sqlite && ex.Code == LogErrorCode.Unavailable && ex.InnerException is IOException)
        {
            int? pid = SqliteLog.OwnerOf(options.Path);
            string holder = pid is { } p ? $"{ProcessName(p)} (pid {p})" : "another PinPipe process (`pinpipe serve` or `pinpipe up`)";
            string api = action == "create" ? "POST /streams/<name> (CreateStream)" : "DELETE /streams/<name> (DeleteStream)";
            throw new LogException(LogErrorCode.Unavailable,
                $"Cannot {action} a topic: the embedded log is held by {holder}, the one process that writes it. " +
                $"Stop it (Ctrl-C{(pid is { } q ? $", or kill {q}" : "")}) and run `pinpipe topics {action}` again; " +
                $"while it runs, a stream can be {action}d through its API: {api}.",
                ex, where: options.Path);
        }
    }

    /// <summary>The PinPipe command a process runs (<c>`pinpipe serve`</c>), from its command line where the system shows it (Linux), else "process".</summary>
    private static string ProcessName(int pid)
    {
        try
        {
            var args = File.ReadAllText($"/proc/{pid}/cmdline").Split('\0');
            string[] writers = ["serve", "up"];
            if (args.FirstOrDefault(a => writers.Contains(a, StringComparer.Ordinal)) is { } command) return $"`pinpipe {command}`";
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException) { }
        return "process";
    }
}
