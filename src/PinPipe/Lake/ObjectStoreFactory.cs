using PinPipe.Configuration;
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
    /// <exception cref="ArgumentException">The kind is unknown or no bucket is named.</exception>
    public static IObjectStore Create(ObjectStoreOptions options, string defaultBucket)
    {
        ArgumentNullException.ThrowIfNull(options);
        string bucket = string.IsNullOrWhiteSpace(options.Bucket) ? defaultBucket : options.Bucket;
        if (string.IsNullOrWhiteSpace(bucket))
            throw new ArgumentException("No bucket: set ObjectStore:Bucket or pass a default bucket.", nameof(defaultBucket));
        return options.Kind switch
        {
            ObjectStoreKind.Directory => new DirectoryObjectStore(options.Root, bucket),
            ObjectStoreKind.S3 => new S3ObjectStore(options, bucket),
            _ => throw new ArgumentException(SettingChoices.NotOneOf<ObjectStoreKind>("ObjectStore:Kind", options.Kind.ToString()), nameof(options)),
        };
    }
}
