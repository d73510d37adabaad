using System.CommandLine;
using Microsoft.Extensions.Logging;
using PinPipe.Emulation;
using PinPipe.Source;
using Spectre.Console;

namespace PinPipe.Cli.Commands;

internal static class EmulateCommand
{
    public static Command Create(GlobalOptions global)
    {
        var command = new Command("emulate", "Post random source rows to the ingest API as the original user_posting_emulation.py did: each post's pin, geo and user record.");
        var flags = new ConfigFlags();
        AddEmulatorFlags(command, flags);
        SeedCommand.AddSourceFlags(command, flags);
        command.SetAction((parse, ct) => CliRunner.RunAsync(parse, global, flags, async (ctx, token) =>
        {
            await using var db = SourceDatabaseFactory.Create(ctx.Settings.Source);
            var emulator = new Emulator(ctx.Settings.Emulator, db, ctx.Settings.Names, ctx.LoggerFactory.CreateLogger<Emulator>());
            var result = await RunWithDisplayAsync(emulator, token).ConfigureAwait(false);
            PrintSummary(ctx.Out, result);
            if (ctx.Settings.Emulator.Order == EmulatorOrder.Random)
                await ctx.Out.WriteLineAsync($"Emulator seed {emulator.Seed}: `--emulator-seed {emulator.Seed}` posts the same rows again.").ConfigureAwait(false);
            // Gave up on the source database: exit code 3, as a database that does not answer (PrintSummary named what was not sent).
            return result.SourceFailure is not null ? ExitCodes.Unavailable : result.RecordsLost > 0 ? ExitCodes.Failed : ExitCodes.Ok;
        }, ct));
        return command;
    }

    public static void AddEmulatorFlags(Command command, ConfigFlags flags)
    {
        flags.Add<string>(command, "--api-url", "Emulator:ApiUrl", "The ingest API's base URL, stage included (default http://127.0.0.1:8082).");
        flags.Add<string>(command, "--ca-file", "Emulator:CaFile", "For an https:// API: a PEM file of the CA certificates to trust instead of the system's (as curl's --cacert).");
        flags.Add<string>(command, "--api-key", "Emulator:ApiKey", "The API key to send (x-api-key) when the API needs one (`pinpipe keys create`); PINPIPE_Emulator__ApiKey keeps it off the command line.");
        flags.AddChoice<EmulatorLane>(command, "--lane", "Emulator:Lane", "batch (Kafka REST topics, default) or stream (Kinesis routes).");
        flags.AddChoice<EmulatorOrder>(command, "--order", "Emulator:Order", "random (rows drawn at random with repeats, as the original emulator; default) or sequential (every row once, by index, then the run ends).");
        flags.Add<long>(command, "--count", "Emulator:Count", "Posts to send (3 records each); default: until --duration or Ctrl-C.");
        flags.AddDuration(command, "--duration", "Emulator:Duration", "Stop after this long.");
        flags.Add<double>(command, "--rate", "Emulator:Rate", "Target posts per second; 0 = unthrottled (default).");
        flags.Add<int>(command, "--concurrency", "Emulator:Concurrency", "Requests in flight at once (default 8).");
        flags.Add<int>(command, "--records-per-request", "Emulator:RecordsPerRequest", "Records per request; 1 = the original emulator's shape (default).");
        flags.Add<int>(command, "--emulator-seed", "Emulator:Seed", "Seed of the random row choice: the seed a run printed posts the same rows again (default: a fresh seed each run).");
        flags.Add<int>(command, "--max-attempts", "Emulator:MaxAttempts", "Attempts per request on 5xx and connection errors (default 5); a 429 or 503 with Retry-After waits as it says and uses none up.");
        flags.AddDuration(command, "--max-source-outage", "Emulator:MaxSourceOutage", "How long the source database may stay unreadable mid-run, its reads retried, before the run gives up (default 1m; 0 = at the first failure).");
    }

    /// <summary>Runs the emulator with a live display of sent, acknowledged, failed, rate and ETA.</summary>
    public static Task<EmulatorResult> RunWithDisplayAsync(Emulator emulator, CancellationToken token) =>
        LiveDisplay.RunAsync(
            () =>
            {
                var s = emulator.Snapshot();
                var t = LiveDisplay.Table("emulator", "posts", "sent", "acknowledged", "failed", "retries", "records/s", "ETA");
                t.AddRow("records", LiveDisplay.N(s.Posts), LiveDisplay.N(s.RecordsSent), LiveDisplay.N(s.RecordsAcknowledged), LiveDisplay.N(s.RecordsFailed), LiveDisplay.N(s.Retries), LiveDisplay.N(s.RecordsPerSecond), LiveDisplay.Eta(s.Eta));
                return t;
            },
            () => Line(emulator.Snapshot()),
            () => emulator.RunAsync(token));

    public static string Line(EmulatorStats s) =>
        $"emulator: {s.Posts:N0} posts, {s.RecordsSent:N0} sent, {s.RecordsAcknowledged:N0} acknowledged, {s.RecordsFailed:N0} failed, {s.RecordsPerSecond:N0} records/s, ETA {LiveDisplay.Eta(s.Eta)}";

    public static void PrintSummary(TextWriter output, EmulatorResult r)
    {
        output.WriteLine($"Emulator: {r.Posts:N0} posts, {r.Requests:N0} requests, {r.RecordsSent:N0} records sent, {r.RecordsAcknowledged:N0} acknowledged, {r.RecordsFailed:N0} failed attempts, {r.Retries:N0} retries, in {r.Duration.TotalSeconds:0.0} s ({r.RecordsPerSecond:N0} records/s).");
        output.WriteLine($"Latency per request: p50 {r.LatencyP50.TotalMilliseconds:0.00} ms, p90 {r.LatencyP90.TotalMilliseconds:0.00} ms, p99 {r.LatencyP99.TotalMilliseconds:0.00} ms, max {r.LatencyMax.TotalMilliseconds:0.00} ms.");
        if (r.MissingRows > 0) output.WriteLine($"{r.MissingRows:N0} random indexes had no source row and were skipped.");
        if (r.SourceRetries > 0) output.WriteLine($"Source database: unreadable for {r.SourceUnavailable.TotalSeconds:0.0} s in all, {r.SourceRetries:N0} reads retried.");
        foreach (var e in r.Errors) output.WriteLine($"error: {e}");
        if (r.RecordsLost > 0) output.WriteLine($"LOST: {r.RecordsLost:N0} records were never acknowledged.");
        if (r.SourceFailure is { } failure) output.WriteLine($"error: {failure}. Run again once the source database answers.");
    }
}
