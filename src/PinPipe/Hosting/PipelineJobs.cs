using Microsoft.Extensions.Logging;
using PinPipe.Batch;
using PinPipe.Configuration;
using PinPipe.Lake;
using PinPipe.Log;
using PinPipe.Log.Kinesis;
using PinPipe.Maintenance;
using PinPipe.DuckDb;
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
    public static StreamJob Stream(PinPipeSettings settings, ILog log, IObjectStore store, ILoggerFactory? loggerFactory = null, TimeProvider? time = null) =>
        Stream(settings, log, null, store, loggerFactory, time);

    /// <summary>
    /// The stream job of the settings over <paramref name="store"/>: with <c>Stream:Source=kinesis</c> it reads the Kinesis
    /// streams through <paramref name="kinesis"/>, otherwise the log's streams of <paramref name="log"/>.
    /// </summary>
    /// <exception cref="ArgumentException">The settings are invalid (every problem named), or the source's client is missing.</exception>
    public static StreamJob Stream(PinPipeSettings settings, ILog? log, KinesisClient? kinesis, IObjectStore store, ILoggerFactory? loggerFactory = null, TimeProvider? time = null)
    {
        ArgumentNullException.ThrowIfNull(settings);
        SettingsProblems.ThrowIfAny(settings.Validate(), nameof(settings));
        return settings.Stream.Source == StreamSource.Kinesis
            ? new StreamJob(settings.Stream, StreamTarget(settings), kinesis ?? throw new ArgumentException("Stream:Source=kinesis: the stream job needs a Kinesis client.", nameof(kinesis)), store, loggerFactory, time)
            : new StreamJob(settings.Stream, StreamTarget(settings), log ?? throw new ArgumentException("Stream:Source=log: the stream job needs the log.", nameof(log)), store, loggerFactory, time);
    }
    /// <summary>The key prefixes of every Delta table the settings' batch and stream jobs write (<c>Batch:TablesPrefix</c>/...).</summary>
    public static IReadOnlyList<string> TablePrefixes(PinPipeSettings settings)
    {
        ArgumentNullException.ThrowIfNull(settings);
        return TableMaintenance.TablePrefixes(settings.Batch, settings.UserId);
    }

    /// <summary>The folder of OPTIMIZE's work files (rewritten files, DuckDB's spill): <c>&lt;DataDir&gt;/maintenance-work</c>.</summary>
    public static string MaintenanceWorkFolder(PinPipeSettings settings)
    {
        ArgumentNullException.ThrowIfNull(settings);
        return Path.Combine(settings.DataDir, "maintenance-work");
    }

    /// <summary>The DuckDB of OPTIMIZE: the batch job's threads and memory limit (<c>Batch:Threads</c>, <c>Batch:MemoryLimit</c>).</summary>
    public static DuckDbSettings MaintenanceDuckDb(PinPipeSettings settings)
    {
        ArgumentNullException.ThrowIfNull(settings);
        return new DuckDbSettings { Threads = settings.Batch.Threads, MemoryLimit = settings.Batch.MemoryLimit, TempDirectory = Path.Combine(MaintenanceWorkFolder(settings), "spill") };
    }

    /// <summary>
    /// The maintenance <c>pinpipe schedule</c> runs on <c>Maintenance:Cron</c>: OPTIMIZE (<c>Maintenance:Optimize</c>), VACUUM with
    /// <c>Maintenance:Retention</c> and the expired log cleanup of every table the settings' jobs write.
    /// </summary>
    public static async Task<IReadOnlyList<TableMaintenanceResult>> MaintainAsync(PinPipeSettings settings, ILoggerFactory loggerFactory, TimeProvider? time = null,
        CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(settings);
        var store = await ObjectStoreFactory.OpenAsync(settings.ObjectStore, settings.Names.Bucket, loggerFactory.CreateLogger("pinpipe.maintenance"), cancellationToken).ConfigureAwait(false);
        try
        {
            string work = MaintenanceWorkFolder(settings);
            try
            {
                return await new TableMaintenance(store, loggerFactory, time).RunAsync(settings.Maintenance, TablePrefixes(settings), work, MaintenanceDuckDb(settings), cancellationToken).ConfigureAwait(false);
            }
            finally
            {
                if (Directory.Exists(work)) Directory.Delete(work, recursive: true);
            }
        }
        finally
        {
            (store as IDisposable)?.Dispose();
        }
    }
}
