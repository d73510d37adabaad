using System.CommandLine;
using PinPipe.Cli;

// Signals are handled by CliRunner (Ctrl-C and SIGTERM cancel the command, which then stops cleanly),
// not by System.CommandLine's default, which gives up on the command after a timeout.
var root = PinPipeCommandLine.Build();
var parse = root.Parse(args);
// `pinpipe` without a command shows the help, as `pinpipe --help` does (exit 0), not System.CommandLine's "Required
// command was not provided." with the help and exit 2.
if (PinPipeCommandLine.OnlyTheRoot(parse)) parse = root.Parse([.. args, "--help"]);
ThreadPoolSpin.Apply(parse);
if (PinPipeCommandLine.UsageErrors(parse) is { } usage)
{
    await Console.Error.WriteLineAsync(usage).ConfigureAwait(false);
    return ExitCodes.BadSettings;
}
int code = await parse.InvokeAsync(new InvocationConfiguration { ProcessTerminationTimeout = null }).ConfigureAwait(false);
// A command line the parser refuses (an unknown flag, a value a flag's check refuses) is bad input, as invalid settings
// are: exit code 2, nothing done. System.CommandLine itself answers those with 1.
return parse.Errors.Count > 0 && code == ExitCodes.Failed ? ExitCodes.BadSettings : code;
