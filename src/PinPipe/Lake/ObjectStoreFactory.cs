using Microsoft.Extensions.Logging;
using PinPipe.Configuration;
using PinPipe.Errors;
using PinPipe.Lake.Directory;
using PinPipe.Lake.S3;

namespace PinPipe.Lake;

/// <summary>Builds the configured <see cref="IObjectStore"/>.</summary>
public static class ObjectStoreFactory
{
    /// <summary>
    /// A <see cref="DirectoryObjectStore"/> (<c>Kind = directory</c>) or an <see cref="S3ObjectStore"/>
    /// (<c>Kind = s3</c>) for <see cref="ObjectStoreOptions.Bucket"/>, or <paramref name="defaultBucket"/> when it is not set.
    /// </summary>
    /// <param name="options">The store's settings.</param>
    /// <param name="defaultBucket">The bucket when <see cref="ObjectStoreOptions.Bucket"/> is not set.</param>
    /// <param name="logger">Where the S3 store logs the requests it retries (one warning line each); null: nowhere.</param>
    /// <exception cref="ArgumentException">The kind is unknown or no bucket is named.</exception>
    public static IObjectStore Create(ObjectStoreOptions options, string defaultBucket, ILogger? logger = null)
    {
        ArgumentNullException.ThrowIfNull(options);
        string bucket = string.IsNullOrWhiteSpace(options.Bucket) ? defaultBucket : options.Bucket;
        if (string.IsNullOrWhiteSpace(bucket))
            throw new ArgumentException("No bucket: set ObjectStore:Bucket or pass a default bucket.", nameof(defaultBucket));
        return options.Kind switch
        {
            ObjectStoreKind.Directory => new DirectoryObjectStore(options.Root, bucket),
            ObjectStoreKind.S3 => new S3ObjectStore(options, bucket, logger),
            _ => throw new ArgumentException(SettingChoices.NotOneOf<ObjectStoreKind>("ObjectStore:Kind", options.Kind.ToString()), nameof(options)),
        };
    }

    /// <summary>
    /// Null when several processes may commit to one Delta table in <paramref name="store"/>
    /// (<see cref="IObjectStore.AtomicPutIfAbsent"/>); else why not and what to do, naming the store and the setting.
    /// </summary>
    public static string? SeveralWritersProblem(IObjectStore store)
    {
        ArgumentNullException.ThrowIfNull(store);
        if (store.AtomicPutIfAbsent) return null;
        string where = store is S3ObjectStore s3 ? s3.Where : store.Location;
        return $"The object store ({where}) is not known to make put-if-absent atomic (If-None-Match: * on PUT), so several writers of one Delta table "
            + "could overwrite each other's commits: run one writer, or set ObjectStore:ConditionalWrites=true if the server enforces conditional writes.";
    }

    /// <summary>Attempts of the start check when the endpoint cannot be reached (waits 1, 2, 4, 8 s between them).</summary>
    internal const int StartAttempts = 5;

    /// <summary>
    /// <see cref="Create"/>s the store and checks its bucket once (<see cref="IObjectStore.CheckBucketAsync"/>) before any
    /// work: a missing bucket (unless <see cref="ObjectStoreOptions.CreateBucket"/>, which creates it and logs one line),
    /// denied access or bad credentials throw a permanent <see cref="ObjectStoreException"/> at once; an unreachable
    /// endpoint is tried <see cref="StartAttempts"/> times, one warning line per retry.
    /// </summary>
    /// <exception cref="ObjectStoreException">The bucket cannot be used; the message says why and how to fix it.</exception>
    public static async Task<IObjectStore> OpenAsync(ObjectStoreOptions options, string defaultBucket, ILogger logger, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(logger);
        IObjectStore store = Create(options, defaultBucket, logger);
        try
        {
            string where = store is S3ObjectStore s3 ? s3.Where : store.Location;
            bool created = await Retry.TransientAsync(token => store.CheckBucketAsync(options.CreateBucket, token), logger,
                "Checking the bucket", StartAttempts, TimeSpan.FromSeconds(1), cancellationToken).ConfigureAwait(false);
            if (created) logger.LogInformation("Created the missing {Where}.", where);
            return store;
        }
        catch
        {
            (store as IDisposable)?.Dispose();
            throw;
        }
    }
}
