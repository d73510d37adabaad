using Microsoft.Extensions.Logging;
using PinPipe.Batch;
using PinPipe.Configuration;
using PinPipe.Lake;
using PinPipe.Log;
using PinPipe.Streaming;

namespace PinPipe.Hosting;

/// <summary>
/// Builds the jobs from <see cref="PinPipeSettings"/> (resolved): each gets its own options section and the few shared
/// values it needs (names, the bucket, the tables' prefix, the data folder), not the whole settings.
/// </summary>
public static class PipelineJobs
{
    /// <summary>The batch lane (<c>pinpipe batch</c>, each scheduled run) of the settings: the batch job (incremental, or a full rebuild with <c>Batch:Full</c>), the insights over its tables after its commits, then the run's outputs.</summary>
    public static BatchLane Batch(PinPipeSettings settings, ILoggerFactory loggerFactory, TimeProvider? time = null)
    {
        ArgumentNullException.ThrowIfNull(settings);
        return new BatchLane(new BatchJob(settings.Batch, settings.Names, settings.ObjectStore, settings.Sink.TopicsDir, loggerFactory, time), loggerFactory, time);
    }

    /// <summary>What the stream job of the settings writes where: user id, <c>Batch:TablesPrefix</c>, <c>DataDir</c>.</summary>
    public static StreamTarget StreamTarget(PinPipeSettings settings)
    {
        ArgumentNullException.ThrowIfNull(settings);
        return new StreamTarget(settings.UserId, settings.Batch.TablesPrefix, settings.DataDir);
    }

    /// <summary>The stream job (<c>pinpipe stream</c>) of the settings, over <paramref name="log"/> and <paramref name="store"/>.</summary>
    /// <exception cref="ArgumentException">The settings are invalid (every problem named).</exception>
    public static StreamJob Stream(PinPipeSettings settings, ILog log, IObjectStore store, ILoggerFactory? loggerFactory = null, TimeProvider? time = null)
    {
        ArgumentNullException.ThrowIfNull(settings);
        SettingsProblems.ThrowIfAny(settings.Validate(), nameof(settings));
        return new StreamJob(settings.Stream, StreamTarget(settings), log, store, loggerFactory, time);
    }
}
