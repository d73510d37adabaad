using System.CommandLine;
using System.CommandLine.Help;
using PinPipe.Cli.Commands;
using PinPipe.Configuration;
using PinPipe.Hosting;
using PinPipe.Scheduling;
using Microsoft.Extensions.Logging;

namespace PinPipe.Cli;

/// <summary>The <c>pinpipe</c> command tree.</summary>
internal static class PinPipeCommandLine
{
    /// <summary>The command's name: the tool's <c>ToolCommandName</c>, and what help's usage lines show.</summary>
    public const string Name = "pinpipe";

    /// <summary>
    /// The root command. Not a <see cref="RootCommand"/>: that one is named after the running assembly (<c>PinPipe.Cli</c>,
    /// under <c>dotnet run</c> and as the installed tool alike), and its name cannot be set; so the root is a command
    /// named <c>pinpipe</c> with the options a <see cref="RootCommand"/> adds, <c>--help</c> and <c>--version</c>.
    /// </summary>
    public static Command Build()
    {
        var global = new GlobalOptions();
        var root = new Command(Name, "PinPipe: posts from a source database to answers, through a Kafka-REST ingest API, a durable log and an S3-layout bucket. "
            + "Exit codes: 0 done, 1 failed, 2 bad usage or settings, 3 a dependency (broker, database, object store, port) unavailable, 130 interrupted (Ctrl-C).")
        {
            Options = { new HelpOption(), new VersionOption() },
        };
        global.AddTo(root);
        root.Subcommands.Add(UpCommand.Create(global));
        root.Subcommands.Add(SeedCommand.Create(global));
        root.Subcommands.Add(EmulateCommand.Create(global));
        root.Subcommands.Add(ServeCommand.Create(global));
        root.Subcommands.Add(SinkCommand.Create(global));
        root.Subcommands.Add(TopicsCommand.Create(global));
        root.Subcommands.Add(KeysCommand.Create(global));
        root.Subcommands.Add(BatchCommand.Create(global));
        root.Subcommands.Add(StreamCommand.Create(global));
        root.Subcommands.Add(ScheduleCommand.Create(global, RunBatchAsync, RunMaintenanceAsync));
        root.Subcommands.Add(RunsCommand.Create(global));
        root.Subcommands.Add(VacuumCommand.Create(global));
        root.Subcommands.Add(OptimizeCommand.Create(global));
        root.Subcommands.Add(VerifyCommand.Create(global));
        return root;
    }

    /// <summary>
    /// Whether the command line names no command and nothing else is wrong with it (<c>pinpipe</c>, <c>pinpipe --verbose</c>):
    /// the only error is the root's missing command.
    /// </summary>
    public static bool OnlyTheRoot(ParseResult parse) =>
        parse.CommandResult.Command.Name == Name && parse.CommandResult.Command.Action is null && parse.UnmatchedTokens.Count == 0 && parse.Errors.Count == 1;

    /// <summary>
    /// When the command line names a command that does not exist (<c>pinpipe srve</c>): the message saying so, with the
    /// near commands, instead of System.CommandLine's errors (which add "Required command was not provided" and the
    /// whole help); else null.
    /// </summary>
    public static string? UnknownCommand(ParseResult parse)
    {
        var command = parse.CommandResult.Command;
        if (parse.Errors.Count == 0 || command.Subcommands.Count == 0) return null;
        if (parse.UnmatchedTokens.Count == 0 || parse.UnmatchedTokens[0] is not { } typed || typed.StartsWith('-')) return null;
        var names = command.Subcommands.Where(c => !c.Hidden).SelectMany(c => c.Aliases.Prepend(c.Name)).ToArray();
        var near = NearNames.Near(typed, names, MaxTypo(typed), prefixes: true);
        string path = CommandPath(parse.CommandResult);
        var message = new System.Text.StringBuilder($"error: '{typed}' is not a command of `{path}`.");
        if (near.Count > 0) message.Append(near.Count == 1 ? $" Did you mean `{path} {near[0]}`?" : $" Did you mean one of: {string.Join(", ", near)}?");
        message.Append($" `{path} --help` lists the commands: {string.Join(", ", command.Subcommands.Where(c => !c.Hidden).Select(c => c.Name))}.");
        return message.ToString();
    }

    /// <summary>
    /// A command line the parser refuses, other than the root alone (<c>pinpipe</c>, which shows the help, <see cref="OnlyTheRoot"/>):
    /// the unknown command (<see cref="UnknownCommand"/>), or one <c>error:</c> line per problem (an unknown flag with the
    /// near ones, a value a flag refuses) and where the flags are listed, instead of the errors followed by the whole help;
    /// else null.
    /// </summary>
    public static string? UsageErrors(ParseResult parse)
    {
        if (UnknownCommand(parse) is { } unknown) return unknown;
        var command = parse.CommandResult.Command;
        if (parse.Errors.Count == 0 || parse.Action is HelpAction) return null;
        var lines = new List<string>();
        var flags = FlagsOf(parse.CommandResult);
        var unmatched = parse.UnmatchedTokens.ToHashSet(StringComparer.Ordinal);
        string path = CommandPath(parse.CommandResult);
        foreach (string token in parse.UnmatchedTokens)
        {
            if (!token.StartsWith('-'))
            {
                lines.Add($"error: unexpected argument '{token}' for `{path}`.");
                continue;
            }
            string name = token.Split('=', 2)[0];
            var near = NearNames.Near(name, flags, MaxTypo(name));
            lines.Add($"error: '{name}' is not a flag of `{path}`." + (near.Count switch
            {
                0 => "",
                1 => $" Did you mean {near[0]}?",
                _ => $" Did you mean one of: {string.Join(", ", near)}?",
            }));
        }
        foreach (var error in parse.Errors)
        {
            if (unmatched.Any(t => error.Message.Contains($"'{t}'", StringComparison.Ordinal))) continue;
            // The root's missing command ("Required command was not provided."): the other errors say what is wrong.
            if (command.Action is null && error.SymbolResult == parse.CommandResult) continue;
            lines.Add(error.Message.StartsWith("error:", StringComparison.Ordinal) ? error.Message : $"error: {error.Message}");
        }
        lines.Add($"`{path} --help` lists its flags.");
        return string.Join(Environment.NewLine, lines);
    }

    /// <summary>The flags <paramref name="result"/>'s command takes: its own and its parents' recursive ones.</summary>
    private static string[] FlagsOf(System.CommandLine.Parsing.CommandResult result)
    {
        var names = new List<string>(result.Command.Options.SelectMany(o => o.Aliases.Prepend(o.Name)));
        for (var r = result.Parent as System.CommandLine.Parsing.CommandResult; r is not null; r = r.Parent as System.CommandLine.Parsing.CommandResult)
            names.AddRange(r.Command.Options.Where(o => o.Recursive).SelectMany(o => o.Aliases.Prepend(o.Name)));
        return [.. names.Where(n => n.StartsWith("--", StringComparison.Ordinal)).Distinct(StringComparer.Ordinal)];
    }

    /// <summary>The command as typed from the root: <c>pinpipe topics</c>.</summary>
    private static string CommandPath(System.CommandLine.Parsing.CommandResult result)
    {
        var names = new List<string>();
        for (var r = result; r is not null; r = r.Parent as System.CommandLine.Parsing.CommandResult) names.Insert(0, r.Command.Name);
        return string.Join(' ', names);
    }

    /// <summary>How many edits a typo of a command or flag may have for the near names to be suggested.</summary>
    private static int MaxTypo(string typed) => Math.Max(2, typed.Length / 3);

    /// <summary>The job <c>pinpipe schedule</c> runs: the batch job (the scheduler holds the batch lock around each attempt).</summary>
    private static Task RunBatchAsync(CliContext context, ScheduledRun run, CancellationToken cancellationToken) =>
        PipelineJobs.Batch(context.Settings, context.LoggerFactory).RunAsync(run.RunId, cancellationToken);

    /// <summary>The maintenance <c>pinpipe schedule</c> runs on <c>Maintenance:Cron</c>: OPTIMIZE, VACUUM and the log cleanup of every table, logged per table.</summary>
    private static async Task RunMaintenanceAsync(CliContext context, ScheduledRun run, CancellationToken cancellationToken)
    {
        var logger = context.LoggerFactory.CreateLogger("pinpipe.maintenance");
        foreach (var r in await PipelineJobs.MaintainAsync(context.Settings, context.LoggerFactory, cancellationToken: cancellationToken).ConfigureAwait(false))
        {
            if (!r.Exists) continue;
            logger.LogInformation("{Run}: {Table}: compacted {Compacted} files; vacuum deleted {Deleted} files ({Bytes} bytes); log cleanup deleted {LogFiles} log files.",
                run.RunId, r.Table, r.Optimize?.FilesCompacted ?? 0, r.Vacuum?.Deleted.Count ?? 0, r.Vacuum?.DeletedBytes ?? 0, r.Log?.Deleted.Count ?? 0);
        }
    }
}
