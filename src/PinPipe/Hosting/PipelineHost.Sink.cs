using Microsoft.Extensions.Logging;
using PinPipe.Errors;
using PinPipe.Lake;
using PinPipe.Log;
using PinPipe.Sink;

namespace PinPipe.Hosting;

public sealed partial class PipelineHost
{
    private CancellationTokenSource? _sinkStop;
    private Task? _sinkRun;

    /// <summary>The bucket, when the sink runs.</summary>
    public IObjectStore Store { get; private set; } = null!;

    /// <summary>The S3-sink connector, when started.</summary>
    public S3SinkConnector? Sink { get; private set; }

    /// <summary>Why the sink stopped on its own, or null while it runs (or was stopped by the host).</summary>
    public Exception? SinkFailure => _sinkRun is { IsFaulted: true } t ? t.Exception!.GetBaseException() : null;

    private async Task StartSinkAsync(ILoggerFactory loggerFactory, CancellationToken cancellationToken)
    {
        // The bucket is checked once, before the sink starts: a missing one stops here with one line, not in its retries.
        Store = await ObjectStoreFactory.OpenAsync(Settings.ObjectStore, Settings.Names.Bucket, _logger, cancellationToken).ConfigureAwait(false);
        Sink = new S3SinkConnector(Log, Store, Settings.Sink, loggerFactory.CreateLogger<S3SinkConnector>());
        _sinkStop = new CancellationTokenSource();
        var token = _sinkStop.Token;
        _sinkRun = Task.Run(async () =>
        {
            try
            {
                await Sink.RunAsync(token).ConfigureAwait(false);
            }
            catch (OperationCanceledException) when (token.IsCancellationRequested)
            {
            }
            catch (Exception ex)
            {
                // One line; the stack trace only with --verbose. The command reports the failure itself.
                _logger.LogError("The sink connector stopped: {Message}", Retry.Describe(ex));
                _logger.LogDebug(ex, "The sink connector stopped with:");
                throw;
            }
        }, CancellationToken.None);
    }

    /// <summary>
    /// Drains the sink: asks it to commit its open objects (<see cref="S3SinkConnector.CommitOpenObjects"/>, again
    /// each second) and waits until every record the log holds for the sink's topics is in the bucket, or the
    /// timeout passes. Returns true when everything landed. For a clean stop once producers are done.
    /// </summary>
    public async Task<bool> DrainSinkAsync(TimeSpan timeout, CancellationToken cancellationToken = default)
    {
        if (Sink is null) throw new InvalidOperationException("The sink is not running in this host.");
        var deadline = DateTime.UtcNow + timeout;
        var nextRequest = DateTime.MinValue;
        while (true)
        {
            if (SinkFailure is { } failure) throw new InvalidOperationException($"The sink connector failed: {failure.Message}", failure);
            if (await SinkLagAsync(cancellationToken).ConfigureAwait(false) == 0) return true;
            if (DateTime.UtcNow >= deadline) return false;
            if (DateTime.UtcNow >= nextRequest)
            {
                Sink.CommitOpenObjects();
                nextRequest = DateTime.UtcNow.AddSeconds(1);
            }
            await Task.Delay(50, cancellationToken).ConfigureAwait(false);
        }
    }

    /// <summary>Records in the log that the sink has not yet committed to the bucket.</summary>
    public async Task<long> SinkLagAsync(CancellationToken cancellationToken = default)
    {
        var positions = await GroupPositions.OfAsync(Log, Settings.Sink.GroupId, Settings.Sink.Topics ?? Settings.Names.Topics, cancellationToken).ConfigureAwait(false);
        return positions.Sum(p => p.Lag);
    }

    private async Task StopSinkAsync()
    {
        if (_sinkStop is null || _sinkRun is null) return;
        await _sinkStop.CancelAsync().ConfigureAwait(false);
        try { await _sinkRun.ConfigureAwait(false); }
        catch (Exception ex) when (ex is not OperationCanceledException) { /* logged when it happened */ }
        _sinkStop.Dispose();
        (Store as IDisposable)?.Dispose();
    }
}
