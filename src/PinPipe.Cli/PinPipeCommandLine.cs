using System.CommandLine;
using System.CommandLine.Help;
using PinPipe.Cli.Commands;
using PinPipe.Hosting;
using PinPipe.Scheduling;

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
        root.Subcommands.Add(BatchCommand.Create(global));
        root.Subcommands.Add(StreamCommand.Create(global));
        root.Subcommands.Add(ScheduleCommand.Create(global, RunBatchAsync));
        root.Subcommands.Add(RunsCommand.Create(global));
        return root;
    }

    /// <summary>The job <c>pinpipe schedule</c> runs: the batch job (the scheduler holds the batch lock around each attempt).</summary>
    private static Task RunBatchAsync(CliContext context, ScheduledRun run, CancellationToken cancellationToken) =>
        PipelineJobs.Batch(context.Settings, context.LoggerFactory).RunAsync(run.RunId, cancellationToken);
}
