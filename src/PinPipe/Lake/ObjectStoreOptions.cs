using PinPipe.Configuration;

namespace PinPipe.Lake;

/// <summary>Settings of the bucket (configuration section <c>ObjectStore</c>).</summary>
public sealed record ObjectStoreOptions
{
    /// <summary><c>directory</c> (default) or <c>s3</c>.</summary>
    public ObjectStoreKind Kind { get; init; } = ObjectStoreKind.Directory;

    /// <summary>Directory store: the folder that holds the buckets. A relative path is under the data folder. Default <c>buckets</c>; the bucket is a sub-folder.</summary>
    public string Root { get; init; } = "buckets";

    /// <summary>The bucket. Default null: <c>user-&lt;UserId&gt;-bucket</c> (SPEC §1).</summary>
    public string? Bucket { get; init; }

    /// <summary>S3: endpoint URL for S3-compatible servers (null = AWS). Credentials come from the AWS SDK's usual chain (environment, profile).</summary>
    public string? ServiceUrl { get; init; }

    /// <summary>S3: region. Default us-east-1.</summary>
    public string Region { get; init; } = "us-east-1";

    /// <summary>S3: path-style addressing (needed by most S3-compatible servers).</summary>
    public bool ForcePathStyle { get; init; }

    /// <summary>
    /// S3: create the bucket when it is missing, at start (<c>--create-bucket</c>). Default false: a missing bucket stops the
    /// sink, the stream job and the batch job at once, naming it (as Kafka Connect's S3 sink, which never creates one).
    /// <c>pinpipe up</c> always creates it.
    /// </summary>
    public bool CreateBucket { get; init; }

    public static ObjectStoreOptions Default { get; } = new();

    /// <summary>Every problem of these settings, each naming its key; empty when all is well.</summary>
    public IReadOnlyList<string> Validate() => new SettingsProblems().OneOf("ObjectStore:Kind", Kind).ToList();
}
