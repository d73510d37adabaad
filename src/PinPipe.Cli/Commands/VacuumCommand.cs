using System.CommandLine;
using System.Globalization;
using Microsoft.Extensions.Logging;
using PinPipe.Configuration;
using PinPipe.Errors;
using PinPipe.Hosting;
using PinPipe.Lake;
using PinPipe.Maintenance;

namespace PinPipe.Cli.Commands;

/// <summary>
/// <c>pinpipe vacuum</c>: Delta's VACUUM of the tables PinPipe writes in the bucket (files no version within the retention
/// references, and files never committed older than it), then the Delta log cleanup; <c>--dry-run</c> lists instead.
/// </summary>
internal static class VacuumCommand
{
    public static Command Create(GlobalOptions global)
    {
        var command = new Command("vacuum", "Delete the Delta tables' data files that no version within the retention references (overwritten, compacted, "
            + "files of killed runs), as Delta's VACUUM, then the log files older than delta.logRetentionDuration that a newer checkpoint makes unnecessary. "
            + "Versions within the retention stay readable.");
        var flags = new ConfigFlags();
        var table = AddTableFlags(command, flags);
        var retention = new Option<string?>("--retention") { Description = "Keep the files of every version of this last period, and files never committed until they are this old (e.g. 7d, 36h; default Maintenance:Retention, 7d). Under 1 hour needs --force." };
        var dryRun = new Option<bool>("--dry-run") { Description = "List the files it would delete (paths, count, bytes) and delete nothing." };
        var force = new Option<bool>("--force") { Description = "Allow a retention under 1 hour: files readers of recent versions or writers still at work need may be deleted." };
        command.Options.Add(retention);
        command.Options.Add(dryRun);
        command.Options.Add(force);
        command.SetAction((parse, ct) => CliRunner.RunAsync(parse, global, flags, async (ctx, token) =>
        {
            var keep = ctx.Settings.Maintenance.Retention;
            if (parse.GetValue(retention) is { } text && !Durations.TryParse(text, out keep))
                throw new MaintenanceException("maintenance.bad_retention", ErrorKind.BadInput, $"--retention: '{text}' is not a duration; use e.g. {Durations.Forms}.");
            TableMaintenance.CheckRetention(keep, parse.GetValue(force));
            bool dry = parse.GetValue(dryRun);
            var prefixes = Tables(ctx.Settings, parse.GetValue(table));
            var results = await WithMaintenanceAsync(ctx, m => m.VacuumAsync(prefixes, keep, dry, token), token).ConfigureAwait(false);
            RequireTable(parse.GetValue(table), results);
            var output = ctx.Out;
            long files = 0, bytes = 0;
            foreach (var r in results)
            {
                if (r.Vacuum is not { } v)
                {
                    await output.WriteLineAsync($"{r.Table}: no Delta table.").ConfigureAwait(false);
                    continue;
                }
                files += v.Deleted.Count;
                bytes += v.DeletedBytes;
                if (dry)
                {
                    await output.WriteLineAsync($"{r.Table}: would delete {v.Deleted.Count} files ({Size(v.DeletedBytes)}) that no version within {Durations.Text(keep)} references (version {v.Version}); {v.Kept} kept.").ConfigureAwait(false);
                    foreach (var f in v.Deleted) await output.WriteLineAsync($"  {f.Key}  {f.Size.ToString("N0", CultureInfo.InvariantCulture)} bytes").ConfigureAwait(false);
                    continue;
                }
                string log = r.Log switch
                {
                    { Enabled: false } => " Log cleanup is off (delta.enableExpiredLogCleanup=false).",
                    { Deleted.Count: > 0 } l => $" Log cleanup deleted {l.Deleted.Count} log files; the log now starts at version {l.EarliestVersion}.",
                    _ => " No log files expired.",
                };
                await output.WriteLineAsync($"{r.Table}: deleted {v.Deleted.Count} files ({Size(v.DeletedBytes)}) that no version within {Durations.Text(keep)} references (version {v.Version}); {v.Kept} kept.{log}").ConfigureAwait(false);
            }
            await output.WriteLineAsync(dry
                ? $"Dry run: would delete {files} files ({Size(bytes)}); nothing was deleted."
                : $"Vacuum: deleted {files} files ({Size(bytes)}).").ConfigureAwait(false);
            return ExitCodes.Ok;
        }, ct));
        return command;
    }

    /// <summary>The bucket's flags, <c>--tables-prefix</c> and <c>--table</c> (one table instead of all): the flags of the maintenance commands.</summary>
    public static Option<string?> AddTableFlags(Command command, ConfigFlags flags)
    {
        AddBucketFlags(command, flags);
        var table = new Option<string?>("--table") { Description = "Only the Delta table under this key prefix (e.g. delta/pin); default: every table the batch and stream jobs write under --tables-prefix.", HelpName = "PREFIX" };
        command.Options.Add(table);
        return table;
    }

    /// <summary>The bucket's flags (<c>--object-store</c>, <c>--bucket</c>, <c>--s3-endpoint</c>) and <c>--tables-prefix</c>.</summary>
    public static void AddBucketFlags(Command command, ConfigFlags flags)
    {
        flags.AddChoice<ObjectStoreKind>(command, "--object-store", "ObjectStore:Kind", "directory (default) or s3.");
        flags.Add<string>(command, "--bucket", "ObjectStore:Bucket", "Bucket name (default user-<UserId>-bucket).");
        flags.Add<string>(command, "--s3-endpoint", "ObjectStore:ServiceUrl", "S3-compatible endpoint URL (default: AWS).");
        flags.Add<string>(command, "--tables-prefix", "Batch:TablesPrefix", "Key prefix of the Delta tables in the bucket (default delta).");
    }

    /// <summary>The tables to work on: <paramref name="table"/> alone, or every table the settings' jobs write.</summary>
    public static IReadOnlyList<string> Tables(PinPipeSettings settings, string? table)
    {
        if (table is null) return PipelineJobs.TablePrefixes(settings);
        string prefix = table.Trim().TrimEnd('/');
        if (!SettingFormats.IsKeyPrefix(prefix))
            throw new MaintenanceException("maintenance.bad_table", ErrorKind.BadInput, $"--table: '{table}' is not a key prefix in the bucket (segments of letters, digits, '-', '_' and '.' separated by '/'), e.g. delta/pin.");
        return [prefix];
    }

    /// <summary>Fails when the one table asked for (<c>--table</c>) does not exist.</summary>
    public static void RequireTable(string? table, IReadOnlyList<TableMaintenanceResult> results)
    {
        if (table is not null && results is [{ Exists: false } only])
            throw new MaintenanceException("maintenance.no_table", ErrorKind.Failed, $"There is no Delta table under '{only.Table}' (no {only.Table}/_delta_log/); check --table and --bucket.");
    }

    /// <summary>Opens the bucket, runs <paramref name="body"/> with the tables' maintenance and closes it.</summary>
    public static async Task<T> WithMaintenanceAsync<T>(CliContext ctx, Func<TableMaintenance, Task<T>> body, CancellationToken token)
    {
        var store = await ObjectStoreFactory.OpenAsync(ctx.Settings.ObjectStore, ctx.Settings.Names.Bucket, ctx.LoggerFactory.CreateLogger("pinpipe.maintenance"), token).ConfigureAwait(false);
        try
        {
            return await body(new TableMaintenance(store, ctx.LoggerFactory)).ConfigureAwait(false);
        }
        finally
        {
            (store as IDisposable)?.Dispose();
        }
    }

    /// <summary>Bytes for people: <c>812 bytes</c>, <c>12.3 KiB</c>, <c>4.0 MiB</c>, <c>1.2 GiB</c>.</summary>
    public static string Size(long bytes) => bytes switch
    {
        >= 1L << 30 => (bytes / (double)(1L << 30)).ToString("0.0", CultureInfo.InvariantCulture) + " GiB",
        >= 1L << 20 => (bytes / (double)(1L << 20)).ToString("0.0", CultureInfo.InvariantCulture) + " MiB",
        >= 1L << 10 => (bytes / 1024.0).ToString("0.0", CultureInfo.InvariantCulture) + " KiB",
        _ => bytes.ToString(CultureInfo.InvariantCulture) + " bytes",
    };
}
