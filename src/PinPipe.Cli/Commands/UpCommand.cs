using System.CommandLine;
using Microsoft.Extensions.Logging;
using PinPipe.Configuration;
using PinPipe.Emulation;
using PinPipe.Hosting;
using PinPipe.Ingest.Keys;
using PinPipe.Lake.Delta;
using PinPipe.Sink;
using PinPipe.Source;
using PinPipe.Streaming;
using Spectre.Console;

namespace PinPipe.Cli.Commands;

/// <summary>
/// The whole pipeline in one process: seed the source when empty, start the API, the sink and the stream job,
/// emulate posts to both lanes with a live display, wait until everything logged is in the bucket and in the
/// streaming Delta tables, say what landed where, then run the batch job and print its answers.
/// </summary>
internal static class UpCommand
{
    private static readonly string[] Lanes = ["batch", "stream"];

    /// <summary>The key up makes for its emulators when the API needs keys, and the file under DataDir keeping its secret.</summary>
    internal const string OwnKeyName = "pinpipe-up";
    internal const string OwnKeyFile = "up.key";

    public static Command Create(GlobalOptions global)
    {
        var command = new Command("up", "Run the pipeline on one machine: seed the source when empty, serve the API, run the sink and the stream job, emulate posts to both lanes, show what landed where, then run the batch job.");
        var flags = new ConfigFlags();
        var records = WholeNumberOption.Create<long>("--records", "Posts to emulate per lane (3 records each); 0 = until Ctrl-C, after which the batch job is not run.", 1000, 0, "zero (until Ctrl-C) or more");
        command.Options.Add(records);
        var lanes = new Option<string>("--lanes") { Description = "Lanes to run: batch, stream, or batch,stream (default).", DefaultValueFactory = _ => "batch,stream" };
        lanes.Validators.Add(r =>
        {
            if (TryParseLanes(r.GetValueOrDefault<string>()) is null) r.AddError($"--lanes: '{r.GetValueOrDefault<string>()}' must be batch, stream or batch,stream.");
        });
        command.Options.Add(lanes);
        var skipBatch = new Option<bool>("--skip-batch") { Description = "Stop after the records land; do not run the batch job." };
        command.Options.Add(skipBatch);
        var keepOpen = new Option<bool>("--keep-open") { Description = "At the end, keep serving the API and the dashboard (/ui/) until Ctrl-C." };
        command.Options.Add(keepOpen);
        flags.Add<string>(command, "--urls", "Ingest:Urls", "Where the API listens (default http://127.0.0.1:8082).");
        flags.Add<double>(command, "--rate", "Emulator:Rate", "Target posts per second per lane; 0 = unthrottled (default).");
        flags.Add<int>(command, "--concurrency", "Emulator:Concurrency", "Requests in flight at once per lane (default 8).");
        flags.Add<int>(command, "--records-per-request", "Emulator:RecordsPerRequest", "Records per request; 1 = the original emulators' shape (default).");
        flags.Add<long>(command, "--rows", "Source:Rows", "Posts to seed when the source is empty (default 11000).");
        flags.AddDuration(command, "--trigger", "Stream:Trigger", "Stream job: micro-batches close this far apart while records come, at most this long after their first record.");
        flags.Add<int>(command, "--emulator-seed", "Emulator:Seed", "Seed of the emulators' random row choice: the seed a run printed posts the same rows again (default: a fresh seed each run).");
        SinkCommand.AddSinkFlags(command, flags);
        ServeCommand.AddLogFlags(command, flags);
        SeedCommand.AddSourceFlags(command, flags);
        BatchCommand.AddBatchFlags(command, flags, withObjectStore: false);
        command.SetAction((parse, ct) => CliRunner.RunAsync(parse, global, flags,
            (ctx, token) => RunAsync(ctx, parse.GetValue(records), TryParseLanes(parse.GetValue(lanes))!.Value, parse.GetValue(skipBatch), parse.GetValue(keepOpen), token), ct));
        return command;
    }

    /// <summary>The lanes <c>--lanes</c> names, or null when it names none or another (its validator reports it, exit code 2).</summary>
    private static (bool Batch, bool Stream)? TryParseLanes(string? lanes)
    {
        var names = (lanes ?? "").Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries);
        static bool Is(string name, string lane) => string.Equals(name, lane, StringComparison.OrdinalIgnoreCase);
        if (names.Length == 0 || names.Any(n => !Is(n, "batch") && !Is(n, "stream"))) return null;
        return (names.Any(n => Is(n, "batch")), names.Any(n => Is(n, "stream")));
    }

    private static async Task<int> RunAsync(CliContext ctx, long records, (bool Batch, bool Stream) lanes, bool skipBatch, bool keepOpen, CancellationToken token)
    {
        var logger = ctx.LoggerFactory.CreateLogger("pinpipe.up");
        // The one-command demo creates the bucket when it is missing (the sink and the stream job only with --create-bucket).
        var settings = ctx.Settings with { ObjectStore = ctx.Settings.ObjectStore with { CreateBucket = true } };
        // The settings were checked for Emulator:Lane; up also runs the stream lane, whose emulator has its own limits.
        if (lanes.Stream && (settings.Emulator with { Lane = EmulatorLane.Stream }).Validate() is { Count: > 0 } problems)
        {
            await ctx.Error.WriteLineAsync(new SettingsException(problems).Message).ConfigureAwait(false);
            return ExitCodes.BadSettings;
        }
        await using var db = SourceDatabaseFactory.Create(settings.Source);
        await SeedCommand.SeedAsync(ctx, db, force: false, token).ConfigureAwait(false);

        // When the API needs keys (beyond loopback, or once a key exists), the emulators use a key of up's own, made once
        // and kept, owner-only, for the next runs (Emulator:ApiKey, when set, instead).
        bool keysNeeded = ApiKeyGuard.KeysNeeded(settings.Ingest);
        bool ownKey = settings.Emulator.ApiKey is null && keysNeeded;
        if (ownKey)
        {
            string secret = await new KeyStore(settings.Ingest.KeysFile!).OwnKeyAsync(OwnKeyName, Path.Combine(settings.DataDir, OwnKeyFile), token).ConfigureAwait(false);
            settings = settings with { Emulator = settings.Emulator with { ApiKey = secret } };
            logger.LogInformation("The API needs keys: the emulators use key '{Key}' ({File}).", OwnKeyName, Path.Combine(settings.DataDir, OwnKeyFile));
        }
        await using var host = await PipelineHost.StartAsync(settings, HostParts.Api | HostParts.Sink, ctx.LoggerFactory, token).ConfigureAwait(false);
        logger.LogInformation("API on {Api}; log {Log}; bucket {Bucket}.", host.Api!.BaseAddress, settings.Log.Path, host.Store.Location);
        string? dashboard = DashboardLine(host, settings, keysNeeded, ownKey);
        if (dashboard is not null) logger.LogInformation("Open {Dashboard}.", dashboard);
        // A fresh seed each run posts other rows than the last run (the same seed would post the same rows again);
        // the seed is printed so that a run can be repeated.
        int seed = settings.Emulator.Seed ?? Random.Shared.Next();
        logger.LogInformation("Emulator seed {Seed} ({How}).", seed, settings.Emulator.Seed is null ? "fresh this run" : "Emulator:Seed");

        // The stream job runs beside the sink, over the same log and bucket, until the records are committed.
        using var streamStop = new CancellationTokenSource();
        var streamJob = lanes.Stream ? PipelineJobs.Stream(settings, host.Log, host.Kinesis, host.Store, ctx.LoggerFactory) : null;
        var streamRun = streamJob?.RunAsync(streamStop.Token) ?? Task.CompletedTask;

        Emulator NewEmulator(EmulatorLane lane) => new(
            settings.Emulator with { ApiUrl = host.Api.BaseAddress.ToString().TrimEnd('/'), Count = records == 0 ? null : records, Lane = lane, Seed = seed },
            db, settings.Names, ctx.LoggerFactory.CreateLogger<Emulator>());
        var batchEmulator = lanes.Batch ? NewEmulator(EmulatorLane.Batch) : null;
        var streamEmulator = lanes.Stream ? NewEmulator(EmulatorLane.Stream) : null;
        var figures = new Figures(host, batchEmulator, streamEmulator, streamJob, seed);
        figures.MarkStart();

        EmulatorResult?[] results;
        try
        {
            results = await LiveDisplay.RunAsync(figures.Render, figures.Line, async () => await Task.WhenAll(
                batchEmulator?.RunAsync(token) ?? Task.FromResult<EmulatorResult>(null!),
                streamEmulator?.RunAsync(token) ?? Task.FromResult<EmulatorResult>(null!)).ConfigureAwait(false)).ConfigureAwait(false);
        }
        catch (OperationCanceledException)
        {
            results = [];
        }

        // Ctrl-C stops the emulators; what was acknowledged is still drained into the bucket (open objects
        // committed without waiting for the flush size or the rotation schedule) and into the Delta tables.
        var drainTimeout = TimeSpan.FromSeconds(30);
        using var drainCts = new CancellationTokenSource(drainTimeout + TimeSpan.FromSeconds(5));
        bool drained = await LiveDisplay.RunAsync(figures.Render, figures.Line, async () =>
        {
            bool sinkDrained = !lanes.Batch || await host.DrainSinkAsync(drainTimeout, drainCts.Token).ConfigureAwait(false);
            bool streamDrained = streamJob is null || await figures.DrainStreamAsync(streamRun, drainTimeout, drainCts.Token).ConfigureAwait(false);
            return sinkDrained && streamDrained;
        }).ConfigureAwait(false);
        await streamStop.CancelAsync().ConfigureAwait(false);
        try
        {
            await streamRun.ConfigureAwait(false);
        }
        catch (Exception ex) when (ex is not OperationCanceledException)
        {
            await ctx.Error.WriteLineAsync($"error: the stream job failed: {ex.Message}").ConfigureAwait(false);
            drained = false;
        }

        await figures.PrintLandedAsync(ctx.Out, CancellationToken.None).ConfigureAwait(false);
        foreach (var (lane, r) in Lanes.Zip(results).Where(x => x.Second is not null))
        {
#pragma warning disable CA1849 // console output of a command line tool: short synchronous writes to the terminal
            ctx.Out.Write($"{lane} lane: ");
#pragma warning restore CA1849
            EmulateCommand.PrintSummary(ctx.Out, r!);
        }
        if (!drained) await ctx.Error.WriteLineAsync($"error: not everything logged landed within {Durations.Text(drainTimeout)} (see the lag above).").ConfigureAwait(false);
        if (results.Length == 0)
        {
            // Interrupted while emulating: said as any other cancelled command says it (the runner only sees a cancellation that throws).
            return await StoppedBeforeBatchAsync().ConfigureAwait(false);
        }
        if (results.OfType<EmulatorResult>().Any(r => r.RecordsLost > 0 || r.SourceFailure is not null) || !drained) return await KeepOpenAsync(ExitCodes.Failed).ConfigureAwait(false);
        if (skipBatch || !lanes.Batch) return await KeepOpenAsync(ExitCodes.Ok).ConfigureAwait(false);
        if (token.IsCancellationRequested) return await StoppedBeforeBatchAsync().ConfigureAwait(false);

        // The batch lane's processing: what landed in the bucket, cleaned into Delta tables and answered.
#pragma warning disable CA1849 // console output of a command line tool: short synchronous writes to the terminal
        ctx.Out.WriteLine();
#pragma warning restore CA1849
        return await KeepOpenAsync(await BatchCommand.RunRecordedAsync(ctx, rows: 10, token).ConfigureAwait(false)).ConfigureAwait(false);

        // Ctrl-C ended the emulators (with --records 0 the only way to end them): what was logged landed; the batch job is not
        // started under a signal that would cancel it at once, leaving a cancelled run in the history.
        async Task<int> StoppedBeforeBatchAsync()
        {
            if (lanes.Batch && !skipBatch)
                await ctx.Out.WriteLineAsync("Stopped by Ctrl-C before the batch job: `pinpipe batch` cleans what landed in the bucket and answers the questions.").ConfigureAwait(false);
            await ctx.Error.WriteLineAsync("Cancelled.").ConfigureAwait(false);
            return ExitCodes.Cancelled;
        }

        // With --keep-open, the API and the dashboard stay up after the run (the sink too) until Ctrl-C; the run's exit code stands.
        async Task<int> KeepOpenAsync(int code)
        {
            if (!keepOpen || token.IsCancellationRequested) return code;
            await ctx.Out.WriteLineAsync($"Still serving the API at {host.Api.BaseAddress}{(dashboard is null ? "" : " and " + dashboard)} (--keep-open). Ctrl-C to stop.").ConfigureAwait(false);
            try { await Task.Delay(Timeout.Infinite, token).ConfigureAwait(false); }
            catch (OperationCanceledException) { }
            return code;
        }
    }

    /// <summary>
    /// Where the dashboard is and how to sign in (never the key itself): with up's own key, the file holding it; with
    /// Emulator:ApiKey, that key; with no keys, no sign-in. Null when the dashboard is off (Dashboard:Enabled).
    /// </summary>
    private static string? DashboardLine(PipelineHost host, PinPipeSettings settings, bool keysNeeded, bool ownKey)
    {
        if (host.DashboardAddress is not { } url) return null;
        string signIn = !keysNeeded ? "no sign-in needed: the API needs no key"
            : ownKey ? $"sign in with the key in {Path.Combine(settings.DataDir, OwnKeyFile)}"
            : "sign in with an API key of this server (the emulators use Emulator:ApiKey)";
        return $"the dashboard at {url} ({signIn})";
    }

    /// <summary>The live figures of a run, per lane: emulator, log, bucket (batch) and Delta tables (stream).</summary>
    private sealed class Figures(PipelineHost host, Emulator? batch, Emulator? stream, StreamJob? streamJob, int seed)
    {
        private readonly Dictionary<string, long> _logged = [];
        private Dictionary<string, long> _loggedBefore = [];

        /// <summary>Notes what the log holds before this run posts anything: earlier runs' records.</summary>
        public void MarkStart()
        {
            Refresh();
            _loggedBefore = new Dictionary<string, long>(_logged);
        }

        private static async Task<long> LoggedAsync(PipelineHost host, string topic)
        {
            var d = await host.Log.DescribeTopicAsync(topic).ConfigureAwait(false);
            long n = 0;
            for (int p = 0; p < (d?.Partitions ?? 0); p++)
            {
                var w = await host.Log.GetWatermarksAsync(topic, p).ConfigureAwait(false);
                n += w.High;
            }
            return n;
        }

        private IEnumerable<string> Topics => batch is null ? [] : host.Settings.Sink.Topics!;
        private IEnumerable<string> Streams => stream is null ? [] : host.Settings.Names.Streams;

        private void Refresh()
        {
            foreach (var topic in Topics.Concat(Streams))
                _logged[topic] = LoggedAsync(host, topic).GetAwaiter().GetResult();
        }

        /// <summary>Waits until the stream job has committed every record of the streams (lag 0 twice in a row).</summary>
        public async Task<bool> DrainStreamAsync(Task run, TimeSpan timeout, CancellationToken cancellationToken)
        {
            var deadline = DateTime.UtcNow + timeout;
            int zeros = 0;
            while (DateTime.UtcNow < deadline && !run.IsCompleted)
            {
                Refresh();
                long logged = Streams.Sum(s => _logged[s]);
                var stats = streamJob!.GetStats();
                zeros = stats.Lag == 0 && stats.Tables.All(t => t.Version >= 0 || logged == 0) ? zeros + 1 : 0;
                if (zeros >= 2) return true;
                await Task.Delay(TimeSpan.FromMilliseconds(250), cancellationToken).ConfigureAwait(false);
            }
            return false;
        }

        public Table Render()
        {
            Refresh();
            var table = LiveDisplay.Table("lane", "posted", "acknowledged", "failed", "in log", "landed", "where");
            var rates = new List<string>();
            if (batch is not null)
            {
                var e = batch.Snapshot();
                var sink = host.Sink!.GetStats();
                rates.Add($"batch {e.RecordsPerSecond:N0} records/s, ETA {LiveDisplay.Eta(e.Eta)}");
                table.AddRow("batch", LiveDisplay.N(e.RecordsSent), LiveDisplay.N(e.RecordsAcknowledged), LiveDisplay.N(e.RecordsFailed),
                    LiveDisplay.N(Topics.Sum(t => _logged[t])), LiveDisplay.N(sink.RecordsWritten), $"bucket ({LiveDisplay.N(sink.ObjectsWritten)} objects)");
            }
            if (stream is not null)
            {
                var e = stream.Snapshot();
                var s = streamJob!.GetStats();
                rates.Add($"stream {e.RecordsPerSecond:N0} records/s, ETA {LiveDisplay.Eta(e.Eta)}");
                table.AddRow("stream", LiveDisplay.N(e.RecordsSent), LiveDisplay.N(e.RecordsAcknowledged), LiveDisplay.N(e.RecordsFailed),
                    LiveDisplay.N(Streams.Sum(t => _logged[t])), LiveDisplay.N(s.Read),
                    $"Delta (lag {LiveDisplay.N(s.Lag)})");
            }
            table.Caption(string.Join("  ·  ", rates));
            return table;
        }

        public string Line()
        {
            Refresh();
            var parts = new List<string>();
            if (batch is not null)
            {
                var sink = host.Sink!.GetStats();
                parts.Add($"batch: {EmulateCommand.Line(batch.Snapshot())}; log {Topics.Sum(t => _logged[t]):N0}; bucket {sink.RecordsWritten:N0} records in {sink.ObjectsWritten:N0} objects");
            }
            if (stream is not null)
            {
                var s = streamJob!.GetStats();
                parts.Add($"stream: {EmulateCommand.Line(stream.Snapshot())}; log {Streams.Sum(t => _logged[t]):N0}; Delta {s.Read:N0} records committed, lag {s.Lag:N0}");
            }
            return string.Join(" | ", parts);
        }

        /// <summary>
        /// What this run moved (records logged since it started, records the sink and the stream job wrote) and, apart,
        /// the totals of every run so far in the log, the bucket and the Delta tables.
        /// </summary>
        public async Task PrintLandedAsync(TextWriter output, CancellationToken cancellationToken)
        {
            Refresh();
            var settings = host.Settings;
            var lines = new List<string>
            {
                "",
                $"What landed where (log {settings.Log.Path}, bucket {host.Store.Location}):",
                $"  this run (emulator seed {seed}; `pinpipe up --emulator-seed {seed}` posts the same rows again):",
            };
            var sink = batch is null ? null : host.Sink!.GetStats();
            var tables = streamJob?.GetStats().Tables ?? [];
            foreach (var topic in Topics)
            {
                SinkTopicStats? t = null;
                sink?.Topics.TryGetValue(topic, out t);
                lines.Add($"    {topic,-32} {_logged[topic] - _loggedBefore.GetValueOrDefault(topic),10:N0} records logged   {t?.RecordsWritten ?? 0,10:N0} records written to the bucket in {Objects(t?.ObjectsWritten ?? 0)}");
            }
            foreach (var t in tables)
                lines.Add($"    {t.Stream,-32} {_logged[t.Stream] - _loggedBefore.GetValueOrDefault(t.Stream),10:N0} records logged   {t.Read,10:N0} records committed to Delta: {t.Clean:N0} clean, {t.Duplicates:N0} duplicates, {t.Rejects:N0} rejects");
            lines.Add("  totals in the log, the bucket and the Delta tables (every run so far):");
            foreach (var topic in Topics)
            {
                long sunk = 0;
                var d = await host.Log.DescribeTopicAsync(topic, cancellationToken).ConfigureAwait(false);
                for (int p = 0; p < (d?.Partitions ?? 0); p++)
                    sunk += await host.Log.GetCommittedOffsetAsync(settings.Sink.GroupId, topic, p, cancellationToken).ConfigureAwait(false) ?? 0;
                string prefix = $"{settings.Sink.TopicsDir}/{topic}/";
                long objects = 0;
                await foreach (var o in host.Store.ListAsync(prefix, cancellationToken).ConfigureAwait(false))
                    if (o.Key.EndsWith(".json", StringComparison.Ordinal)) objects++;
                lines.Add($"    {topic,-32} {_logged[topic],10:N0} records in the log      {sunk,10:N0} records in the bucket, {Objects(objects)} under {prefix}");
            }
            foreach (var t in tables)
            {
                string table = $"{settings.Batch.TablesPrefix}/{t.Table}";
                var snapshot = await new DeltaTable(host.Store, table).LoadAsync(cancellationToken: cancellationToken).ConfigureAwait(false);
                long rows = snapshot?.Files.Sum(f => f.NumRecords ?? 0) ?? 0;
                lines.Add($"    {t.Stream,-32} {_logged[t.Stream],10:N0} records in the log      {rows,10:N0} rows in the Delta table {table} (version {t.Version})");
            }
            foreach (var line in lines) await output.WriteLineAsync(line).ConfigureAwait(false);
        }

        private static string Objects(long n) => n == 1 ? "1 object" : $"{n:N0} objects";
    }
}
