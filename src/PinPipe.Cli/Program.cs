using System.CommandLine;
using PinPipe.Cli;

// Signals are handled by CliRunner (Ctrl-C and SIGTERM cancel the command, which then stops cleanly),
// not by System.CommandLine's default, which gives up on the command after a timeout.
var parse = PinPipeCommandLine.Build().Parse(args);
if (PinPipeCommandLine.UnknownCommand(parse) is { } unknown)
{
    await Console.Error.WriteLineAsync(unknown).ConfigureAwait(false);
    return ExitCodes.BadSettings;
}
return await parse
    .InvokeAsync(new InvocationConfiguration { ProcessTerminationTimeout = null })
    .ConfigureAwait(false);
