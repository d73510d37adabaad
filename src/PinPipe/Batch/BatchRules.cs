using System.Security.Cryptography;
using System.Text;
using System.Text.Json;
using PinPipe.Lake;
using PinPipe.Lake.Delta;
using PinPipe.Transform;

namespace PinPipe.Batch;

/// <summary>
/// The identity of the cleaning rules the batch job writes with: <see cref="Hash"/>, recorded in the <c>commitInfo</c> of
/// each batch commit (<c>operationParameters["pinpipe.rules"]</c>), so that an incremental run can tell whether the rows
/// already in a table were cleaned by the same rules as the ones it is about to append.
/// </summary>
public static class BatchRules
{
    /// <summary>The commitInfo operation parameter holding <see cref="Hash"/>.</summary>
    public const string Parameter = "pinpipe.rules";

    /// <summary>Raise when the rules change in a way their SQL and schemas do not show (e.g. how the job feeds them).</summary>
    private const int Version = 1;

    /// <summary>
    /// SHA-256 (lowercase hex) of the rules' definition: a version constant, and per table the SQL
    /// <see cref="CleaningRules"/> generates, the clean schema and the reject schema. Any change to the rules changes it.
    /// </summary>
    public static string Hash { get; } = Compute();

    private static string Compute()
    {
        var text = new StringBuilder().Append("pinpipe-batch-rules v").Append(Version).Append('\n');
        foreach (var kind in new[] { RecordKind.Pin, RecordKind.Geo, RecordKind.User })
        {
            text.Append("table ").Append(CleaningRules.TableName(kind)).Append('\n')
                .Append(CleaningRules.StageSql(kind, "raw", "stage")).Append('\n')
                .Append(string.Join(",", CleaningRules.Schema(kind).Select(c => c.Name + ":" + c.DuckDbType))).Append('\n');
        }
        text.Append("rejects ").Append(string.Join(",", CleaningRules.RejectSchema.Select(c => c.Name + ":" + c.DuckDbType))).Append('\n');
        return Convert.ToHexStringLower(SHA256.HashData(Encoding.UTF8.GetBytes(text.ToString())));
    }

    /// <summary>
    /// The rules hash of the newest commit of the table that records one, looking back from <paramref name="snapshot"/>'s
    /// version (commits of other writers, OPTIMIZE or VACUUM, do not record it), as far as the log still holds commits
    /// (log cleanup removes old ones). Null when none of them records one.
    /// </summary>
    internal static async Task<(string Hash, long Version)?> RecordedAsync(IObjectStore store, string tablePrefix, DeltaSnapshot snapshot, CancellationToken cancellationToken)
    {
        for (long v = snapshot.Version; v >= 0; v--)
        {
            byte[]? commit = await store.GetAsync($"{tablePrefix}/{DeltaLogFiles.LogFolder}{DeltaLogFiles.Commit(v)}", cancellationToken).ConfigureAwait(false);
            if (commit is null) return null; // the log was cleaned up below here
            if (DeltaLogFiles.OperationParameter(commit, Parameter) is { } hash) return (hash, v);
        }
        return null;
    }
}
