using System.CommandLine;
using Microsoft.Extensions.Logging;
using PinPipe.Configuration;
using PinPipe.Source;
using Spectre.Console;

namespace PinPipe.Cli.Commands;

internal static class SeedCommand
{
    public static Command Create(GlobalOptions global)
    {
        var command = new Command("seed", "Create the source tables (pinterest_data, geolocation_data, user_data) and fill them with deterministic synthetic posts.");
        var flags = new ConfigFlags();
        AddSourceFlags(command, flags);
        flags.Add<long>(command, "--rows", "Source:Rows", "Posts to generate (default 11000).");
        flags.Add<int>(command, "--seed", "Source:Seed", "Random seed; the same seed and rows give identical data (default 42).");
        var force = new Option<bool>("--force") { Description = "Drop and re-create the tables when they already hold rows." };
        command.Options.Add(force);
        command.SetAction((parse, ct) => CliRunner.RunAsync(parse, global, flags, async (ctx, token) =>
        {
            await using var db = SourceDatabaseFactory.Create(ctx.Settings.Source);
            await SeedAsync(ctx, db, parse.GetValue(force), token).ConfigureAwait(false);
            return ExitCodes.Ok;
        }, ct));
        return command;
    }

    /// <summary>The flags that choose the source database, shared by seed, emulate and up.</summary>
    public static void AddSourceFlags(Command command, ConfigFlags flags)
    {
        flags.AddChoice<SourceProvider>(command, "--provider", "Source:Provider", "Source database: sqlite (default), mysql (also MariaDB) or postgres; with --credentials-file and no --provider, mysql.");
        flags.Add<string>(command, "--connection-string", "Source:ConnectionString", "ADO.NET connection string of the source (prefer PINPIPE_Source__ConnectionString for passwords).");
        flags.Add<string>(command, "--credentials-file", "Source:CredentialsFile", "aws_db_creds.yaml-style file (HOST, USER, PASSWORD, DATABASE, PORT) giving the connection; MySQL unless --provider postgres.");
    }

    /// <summary>Seeds when the tables are empty (or always, with <paramref name="force"/>); returns null when the rows were already there.</summary>
    public static async Task<SeedProgress?> SeedAsync(CliContext ctx, ISourceDatabase db, bool force, CancellationToken token)
    {
        var logger = ctx.LoggerFactory.CreateLogger("pinpipe.seed");
        var source = ctx.Settings.Source;
        long existing = await db.CountPostsAsync(token).ConfigureAwait(false);
        if (existing > 0 && !force)
        {
            logger.LogInformation("The {Provider} source already holds {Rows:N0} posts; nothing to do (--force re-creates it).", db.Provider, existing);
            return null;
        }
        if (existing > 0) await db.DropSchemaAsync(token).ConfigureAwait(false);

        SeedProgress? last = null;
        var progress = new Progress<SeedProgress>(p => last = p);
        var done = await LiveDisplay.RunAsync(
            () =>
            {
                var t = LiveDisplay.Table("seed", "rows", "of", "rows/s", "ETA");
                var p = last;
                t.AddRow("posts", LiveDisplay.N(p?.RowsWritten ?? 0), LiveDisplay.N(source.Rows), LiveDisplay.N(p?.RowsPerSecond ?? 0), LiveDisplay.Eta(p?.Eta));
                return t;
            },
            () => $"seed: {last?.RowsWritten ?? 0:N0}/{source.Rows:N0} posts, {last?.RowsPerSecond ?? 0:N0} rows/s, ETA {LiveDisplay.Eta(last?.Eta)}",
            async () => await Seeder.SeedAsync(db, source.Rows, source.Seed, progress, token).ConfigureAwait(false)).ConfigureAwait(false);
        logger.LogInformation("Seeded {Rows:N0} posts ({Records:N0} rows in 3 tables) into the {Provider} source in {Elapsed:0.0} s ({Rate:N0} posts/s), seed {Seed}.",
            done.RowsWritten, done.RowsWritten * 3, db.Provider, done.Elapsed.TotalSeconds, done.RowsPerSecond, source.Seed);
        return done;
    }
}
