using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;
using PinPipe.Batch;
using PinPipe.Configuration;
using PinPipe.DuckDb;
using PinPipe.Errors;
using PinPipe.Lake;
using PinPipe.Lake.Delta;
using PinPipe.Streaming;
using PinPipe.Transform;

namespace PinPipe.Maintenance;

/// <summary>What maintenance did to one table: its VACUUM and log cleanup, or its OPTIMIZE (null parts: not run, or no table).</summary>
/// <param name="Table">The table's key prefix.</param>
/// <param name="Exists">False when there is no Delta table under the prefix (nothing was done).</param>
/// <param name="Optimize">The OPTIMIZE, when run.</param>
/// <param name="Vacuum">The VACUUM, when run.</param>
/// <param name="Log">The expired log cleanup, when run (not on a dry run).</param>
public sealed record TableMaintenanceResult(string Table, bool Exists, DeltaOptimizeResult? Optimize, DeltaVacuumResult? Vacuum, DeltaLogCleanupResult? Log);

/// <summary>
/// Delta maintenance of the tables PinPipe writes in the bucket (<c>pinpipe vacuum</c>, <c>pinpipe optimize</c> and the
/// maintenance <c>pinpipe schedule</c> runs): VACUUM (<see cref="DeltaTable.VacuumAsync"/>), the expired log cleanup
/// (<see cref="DeltaTable.CleanUpLogAsync"/>) and OPTIMIZE (<see cref="DeltaTable.OptimizeAsync"/>), table by table.
/// </summary>
public sealed class TableMaintenance
{
    private readonly IObjectStore _store;
    private readonly ILoggerFactory _loggerFactory;
    private readonly TimeProvider _time;

    /// <param name="store">The bucket.</param>
    /// <param name="loggerFactory">For the tables' log lines.</param>
    /// <param name="time">The clock retention is measured by.</param>
    public TableMaintenance(IObjectStore store, ILoggerFactory? loggerFactory = null, TimeProvider? time = null)
    {
        ArgumentNullException.ThrowIfNull(store);
        _store = store;
        _loggerFactory = loggerFactory ?? NullLoggerFactory.Instance;
        _time = time ?? TimeProvider.System;
    }

    /// <summary>
    /// The key prefixes of every table PinPipe writes under <c>Batch:TablesPrefix</c>: the batch job's (<c>delta/pin</c>,
    /// <c>delta/pin_rejects</c>, ...) and the stream job's (<c>delta/&lt;user&gt;_pin_table</c>, ...).
    /// </summary>
    public static IReadOnlyList<string> TablePrefixes(BatchOptions batch, string userId)
    {
        ArgumentNullException.ThrowIfNull(batch);
        var stream = new StreamTarget(userId, batch.TablesPrefix, "");
        var prefixes = new List<string>();
        foreach (var kind in Enum.GetValues<RecordKind>())
        {
            foreach (bool rejects in new[] { false, true })
            {
                prefixes.Add(BatchJob.TablePrefix(batch, kind, rejects));
                prefixes.Add(stream.TablePrefix(kind, rejects));
            }
        }
        return prefixes;
    }

    /// <summary>Refuses a VACUUM retention under <see cref="MaintenanceOptions.MinimumRetention"/> unless <paramref name="force"/>.</summary>
    /// <exception cref="MaintenanceException">The retention is too short (bad input, exit code 2).</exception>
    public static void CheckRetention(TimeSpan retention, bool force)
    {
        if (retention < TimeSpan.Zero)
            throw new MaintenanceException("maintenance.bad_retention", ErrorKind.BadInput, $"--retention {Durations.Text(retention)} must not be negative.");
        if (retention < MaintenanceOptions.MinimumRetention && !force)
            throw new MaintenanceException("maintenance.retention_too_short", ErrorKind.BadInput,
                $"--retention {Durations.Text(retention)} is under 1 hour: VACUUM would delete files that readers of recent versions and writers still at work " +
                "(a batch run, the stream job) may need. Add --force to vacuum with it anyway, when nothing reads or writes the tables.");
    }

    /// <summary>
    /// VACUUM of each table (files no version within <paramref name="retention"/> references, and files never committed older
    /// than it), then, unless <paramref name="dryRun"/>, the expired log cleanup. Tables that do not exist are reported as such.
    /// </summary>
    public async Task<IReadOnlyList<TableMaintenanceResult>> VacuumAsync(IReadOnlyList<string> prefixes, TimeSpan retention, bool dryRun,
        CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(prefixes);
        var results = new List<TableMaintenanceResult>();
        foreach (string prefix in prefixes)
        {
            var table = Open(prefix);
            var vacuum = await table.VacuumAsync(retention, dryRun, cancellationToken).ConfigureAwait(false);
            if (vacuum is null)
            {
                results.Add(new TableMaintenanceResult(table.Prefix, false, null, null, null));
                continue;
            }
            var log = dryRun ? null : await table.CleanUpLogAsync(cancellationToken).ConfigureAwait(false);
            results.Add(new TableMaintenanceResult(table.Prefix, true, null, vacuum, log));
        }
        return results;
    }

    /// <summary>
    /// OPTIMIZE of each table: its files under <paramref name="targetFileBytes"/> bin-packed into files of about that size, in one
    /// commit per table (no data change), through one DuckDB set up by <paramref name="duckDb"/>; work files in <paramref name="workFolder"/>.
    /// </summary>
    public async Task<IReadOnlyList<TableMaintenanceResult>> OptimizeAsync(IReadOnlyList<string> prefixes, string workFolder, DuckDbSettings? duckDb = null,
        long targetFileBytes = DuckDbSession.TargetFileBytes, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(prefixes);
        Directory.CreateDirectory(workFolder);
        using var connection = DuckDbSession.Open(duckDb);
        var results = new List<TableMaintenanceResult>();
        foreach (string prefix in prefixes)
        {
            var table = Open(prefix);
            var optimize = await table.OptimizeAsync(connection, workFolder, targetFileBytes, cancellationToken).ConfigureAwait(false);
            results.Add(new TableMaintenanceResult(table.Prefix, optimize is not null, optimize, null, null));
        }
        return results;
    }

    /// <summary>The scheduled maintenance: OPTIMIZE (when <see cref="MaintenanceOptions.Optimize"/>), then VACUUM with <see cref="MaintenanceOptions.Retention"/> and the log cleanup.</summary>
    public async Task<IReadOnlyList<TableMaintenanceResult>> RunAsync(MaintenanceOptions options, IReadOnlyList<string> prefixes, string workFolder, DuckDbSettings? duckDb = null,
        CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(options);
        SettingsProblems.ThrowIfAny(options.Validate(), nameof(options));
        var optimized = options.Optimize ? await OptimizeAsync(prefixes, workFolder, duckDb, cancellationToken: cancellationToken).ConfigureAwait(false) : [];
        var vacuumed = await VacuumAsync(prefixes, options.Retention, dryRun: false, cancellationToken).ConfigureAwait(false);
        return vacuumed.Select(v => v with { Optimize = optimized.FirstOrDefault(o => o.Table == v.Table)?.Optimize }).ToList();
    }

    private DeltaTable Open(string prefix) => new(_store, prefix, _loggerFactory.CreateLogger<DeltaTable>(), _time);
}
