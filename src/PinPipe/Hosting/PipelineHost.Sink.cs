using Microsoft.Extensions.Logging;

namespace PinPipe.Hosting;

public sealed partial class PipelineHost
{
    private void StartSink(ILoggerFactory loggerFactory) => throw new InvalidOperationException("The sink connector is not part of this build yet.");

    private Task StopSinkAsync() => Task.CompletedTask;
}
