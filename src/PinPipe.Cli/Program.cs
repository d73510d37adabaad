using System.CommandLine;
using PinPipe.Cli;

// Signals are handled by CliRunner (Ctrl-C and SIGTERM cancel the command, which then stops cleanly),
// not by System.CommandLine's default, which gives up on the command after a timeout.
return await PinPipeCommandLine.Build().Parse(args)
    .InvokeAsync(new InvocationConfiguration { ProcessTerminationTimeout = null })
    .ConfigureAwait(false);
