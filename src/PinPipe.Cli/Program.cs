using System.CommandLine;
using PinPipe.Cli;

// Signals are handled by CliRunner (Ctrl-C and SIGTERM cancel the command, which then stops cleanly),
// not by System.CommandLine's default, which gives up on the command after a timeout.
var parse = PinPipeCommandLine.Build().Parse(args);
int code = await parse.InvokeAsync(new InvocationConfiguration { ProcessTerminationTimeout = null }).ConfigureAwait(false);
// A command line that does not parse (an unknown flag, a bad value) is bad usage: exit code 2, as for bad settings.
return parse.Errors.Count > 0 && code == ExitCodes.Failed ? ExitCodes.BadSettings : code;
