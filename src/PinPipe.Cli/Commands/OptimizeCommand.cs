using System.CommandLine;
using PinPipe.DuckDb;
using PinPipe.Hosting;

namespace PinPipe.Cli.Commands;

/// <summary><c>pinpipe optimize</c>: Delta's OPTIMIZE (bin-packing) of the tables PinPipe writes: small files into files of about 128 MiB.</summary>
internal static class OptimizeCommand
{
    public static Command Create(GlobalOptions global)
    {
        var command = new Command("optimize", "Compact the Delta tables' small files into files of about 128 MiB, one OPTIMIZE commit per table (no data change: "
            + "the rows stay the same; the files it replaces stay for time travel until `pinpipe vacuum` deletes them).");
        var flags = new ConfigFlags();
        var table = VacuumCommand.AddTableFlags(command, flags);
        flags.Add<int>(command, "--threads", "Batch:Threads", "DuckDB threads; 0 = one per core (default).");
        flags.Add<string>(command, "--memory-limit", "Batch:MemoryLimit", "DuckDB memory limit, e.g. 1250MB (default); beyond it DuckDB spills to disk.");
        command.SetAction((parse, ct) => CliRunner.RunAsync(parse, global, flags, async (ctx, token) =>
        {
            var prefixes = VacuumCommand.Tables(ctx.Settings, parse.GetValue(table));
            string work = PipelineJobs.MaintenanceWorkFolder(ctx.Settings);
            try
            {
                var results = await VacuumCommand.WithMaintenanceAsync(ctx,
                    m => m.OptimizeAsync(prefixes, work, PipelineJobs.MaintenanceDuckDb(ctx.Settings), DuckDbSession.TargetFileBytes, token), token).ConfigureAwait(false);
                VacuumCommand.RequireTable(parse.GetValue(table), results);
                foreach (var r in results)
                {
                    string line = r.Optimize switch
                    {
                        null => $"{r.Table}: no Delta table.",
                        { Commit: null } o => $"{r.Table}: nothing to compact (version {o.Version}).",
                        { Commit: { } c } o => $"{r.Table}: compacted {o.FilesCompacted} files ({VacuumCommand.Size(o.BytesCompacted)}) into {c.Added.Count} (Delta version {c.Version}).",
                    };
                    await ctx.Out.WriteLineAsync(line).ConfigureAwait(false);
                }
                return ExitCodes.Ok;
            }
            finally
            {
                if (Directory.Exists(work)) Directory.Delete(work, recursive: true);
            }
        }, ct));
        return command;
    }
}
