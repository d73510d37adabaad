using System.CommandLine;
using PinPipe.Cli.Commands;

namespace PinPipe.Cli;

/// <summary>The <c>pinpipe</c> command tree.</summary>
internal static class PinPipeCommandLine
{
    public static RootCommand Build()
    {
        var global = new GlobalOptions();
        var root = new RootCommand("PinPipe: posts from a source database to answers, through a Kafka-REST ingest API, a durable log and an S3-layout bucket.");
        global.AddTo(root);
        root.Subcommands.Add(UpCommand.Create(global));
        root.Subcommands.Add(SeedCommand.Create(global));
        root.Subcommands.Add(EmulateCommand.Create(global));
        root.Subcommands.Add(ServeCommand.Create(global));
        root.Subcommands.Add(SinkCommand.Create(global));
        root.Subcommands.Add(TopicsCommand.Create(global));
        return root;
    }
}
