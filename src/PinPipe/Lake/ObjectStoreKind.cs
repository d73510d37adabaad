namespace PinPipe.Lake;

/// <summary>Where the bucket lives (<c>ObjectStore:Kind</c>; settings and flags name it in any case: <c>directory</c>, <c>s3</c>).</summary>
public enum ObjectStoreKind
{
    /// <summary>A folder on this machine, one sub-folder per bucket (default).</summary>
    Directory,

    /// <summary>Amazon S3 or an S3-compatible server.</summary>
    S3,
}
