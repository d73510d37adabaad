using PinPipe.Cli;

return await PinPipeCommandLine.Build().Parse(args).InvokeAsync().ConfigureAwait(false);
