using PinPipe.Configuration;
using PinPipe.Transform;

namespace PinPipe.Streaming;

/// <summary>
/// What a <see cref="StreamJob"/> needs besides its <see cref="StreamOptions"/>: the user id its streams and tables are
/// named after (SPEC §1), the bucket's key prefix of the Delta tables (<c>Batch:TablesPrefix</c>) and the folder for its
/// work files (<c>DataDir</c>, absolute). The host builds it from the settings.
/// </summary>
public sealed record StreamTarget(string UserId, string TablesPrefix, string DataDir)
{
    /// <summary>The names of SPEC §1 for <see cref="UserId"/>: the streams the job reads.</summary>
    public PipelineNames Names => new(UserId);

    /// <summary>The key prefix of a streaming Delta table in the bucket: <c>&lt;TablesPrefix&gt;/&lt;table&gt;</c>.</summary>
    public string TablePrefix(RecordKind kind, bool rejects = false) => $"{TablesPrefix}/{StreamJob.TableName(UserId, kind, rejects)}";
}
