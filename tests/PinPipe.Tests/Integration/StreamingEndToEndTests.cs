using System.Globalization;
using System.Text;
using System.Text.Json.Nodes;
using PinPipe.Hosting;
using PinPipe.Lake;
using PinPipe.Lake.Delta;
using PinPipe.Log;
using PinPipe.Streaming;
using PinPipe.Tests.Streaming;
using PinPipe.Tests.Support;
using PinPipe.Tests.Transform;
using PinPipe.Transform;

namespace PinPipe.Tests.Integration;

/// <summary>
/// The streaming lane as a user runs it, each part its own process on loopback: <c>pinpipe seed</c> →
/// <c>pinpipe serve</c> (creates the streams) → <c>pinpipe stream</c> → <c>pinpipe emulate --lane stream</c>
/// (one record a request, then 50) → Ctrl-C → the three Delta tables hold exactly the clean rows of the posted records.
/// </summary>
public sealed class StreamingEndToEndTests
{
    private const string UserId = "e2e";
    internal const int Posts = 300;
    private static readonly TimeSpan Timeout = TimeSpan.FromSeconds(60);

    [Fact]
    public async Task The_Delta_tables_hold_exactly_the_clean_rows_of_every_posted_record_read_by_our_reader_and_by_DuckDB()
    {
        using var dir = new TempDirectory("e2e-streaming");
        string[] common = ["--user-id", UserId];
        var seed = await CliProcess.RunAsync(dir.Path, Timeout, ["seed", "--rows", "2000", .. common]);
        Assert.True(seed.ExitCode == 0, seed.Output);

        var settings = new PinPipeSettings { DataDir = Path.Combine(dir.Path, ".pinpipe"), UserId = UserId }.Resolve();
        var streams = settings.Names.Streams;
        int port = CliProcess.FreePort();
        var api = $"http://127.0.0.1:{port}";
        await using var serve = CliProcess.Start(dir.Path, ["serve", "--urls", api, .. common]);
        await serve.WaitHealthyAsync(new Uri($"{api}/healthz"), Timeout);
        await using var stream = CliProcess.Start(dir.Path, ["stream", "--trigger", "200ms", .. common]);

        await EmulateAsync(dir.Path, api, common);

        var store = ObjectStoreFactory.Create(settings.ObjectStore, settings.Names.Bucket);
        try
        {
            // Caught up: every table's txn of every partition is the stream's end (the log read as a consumer while serve owns it).
            await using (var reader = await LogFactory.OpenAsync(settings.Log with { Access = LogAccess.Consumer }))
            {
                var deadline = DateTime.UtcNow + Timeout;
                while (!await CaughtUpAsync(reader, store, settings))
                {
                    Assert.False(stream.HasExited, "pinpipe stream exited:\n" + stream.Output);
                    Assert.True(DateTime.UtcNow < deadline, "the stream job did not catch up:\n" + stream.Output);
                    await Task.Delay(100);
                }
            }
            await Task.Delay(500); // anything more would be a duplicate: give it the chance to show
            Assert.True(await stream.InterruptAsync(Timeout) == 0, stream.Output);
            Assert.True(await serve.InterruptAsync(Timeout) == 0, serve.Output);

            await using var log = await LogFactory.OpenAsync(settings.Log);
            for (int k = 0; k < 3; k++)
                await AssertTableAsync(log, store, settings, StreamTestKit.Kinds[k], streams[k]);
        }
        finally
        {
            (store as IDisposable)?.Dispose();
        }
    }

    /// <summary><c>pinpipe emulate --lane stream</c> of <see cref="Posts"/> posts at one record a request, then at 50; every record acknowledged.</summary>
    internal static async Task EmulateAsync(string dir, string api, string[] common)
    {
        foreach (var perRequest in new[] { "1", "50" })
        {
            var emulated = await CliProcess.RunAsync(dir, Timeout, ["emulate", "--lane", "stream", "--api-url", api,
                "--count", Posts.ToString(CultureInfo.InvariantCulture), "--records-per-request", perRequest, "--concurrency", "8", .. common]);
            Assert.True(emulated.ExitCode == 0, emulated.Output);
            Assert.Contains($"{Posts * 3:N0} acknowledged", emulated.Output, StringComparison.Ordinal);
        }
    }

    private static async Task<bool> CaughtUpAsync(ILog log, IObjectStore store, PinPipeSettings settings)
    {
        for (int k = 0; k < 3; k++)
        {
            string stream = settings.Names.Streams[k];
            var topic = await log.DescribeTopicAsync(stream);
            if (topic is null) return false;
            foreach (bool rejects in new[] { false, true })
            {
                var snapshot = await new DeltaTable(store, PipelineJobs.StreamTarget(settings).TablePrefix(StreamTestKit.Kinds[k], rejects)).LoadAsync();
                for (int p = 0; p < topic.Partitions; p++)
                {
                    long high = (await log.GetWatermarksAsync(stream, p)).High;
                    if (high == 0) return false; // the emulator posted to every stream
                    if (snapshot is null || !snapshot.Txns.TryGetValue(StreamJob.AppId(stream, p, topic.TopicId), out long v) || v != high) return false;
                }
            }
        }
        return true;
    }

    /// <summary>The table equals the Cleaner's output over all of the stream's records, by both readers; its inds are the records' distinct inds.</summary>
    private static async Task AssertTableAsync(ILog log, IObjectStore store, PinPipeSettings settings, RecordKind kind, string stream)
    {
        int partitions = (await log.DescribeTopicAsync(stream))!.Partitions;
        var records = new List<ConsumedRecord>();
        for (int p = 0; p < partitions; p++) records.AddRange(await log.ReadAsync(stream, p, 0, int.MaxValue));
        Assert.Equal(2 * Posts, records.Count);
        await AssertTableHoldsAsync(store, settings, kind, [.. records.Select(r => ($"{stream}/{r.Partition}/{r.Offset}", r.Value!))]);
    }

    /// <summary>
    /// The kind's clean table equals the Cleaner's output over <paramref name="records"/> (origin and value, in the order the
    /// stream keeps them), read by our reader and by DuckDB; its inds are the records' distinct inds; nothing was rejected.
    /// </summary>
    internal static async Task AssertTableHoldsAsync(IObjectStore store, PinPipeSettings settings, RecordKind kind, IReadOnlyList<(string Origin, byte[] Value)> records)
    {
        var logInds = records.Select(r => JsonNode.Parse(r.Value)![kind == RecordKind.Pin ? "index" : "ind"]!.GetValue<long>()).Distinct().Order().ToList();

        // What the batch cleaner makes of the stream's records, in the stream's order.
        using var duck = new TransformTestKit();
        duck.Execute("CREATE TABLE raw (seq BIGINT, origin VARCHAR, line VARCHAR)");
        using (var appender = duck.Connection.CreateAppender("raw"))
        {
            long seq = 0;
            foreach (var r in records)
                appender.CreateRow().AppendValue(seq++).AppendValue(r.Origin).AppendValue(Encoding.UTF8.GetString(r.Value)).EndRow();
        }
        var counts = await Cleaner.CleanAsync(duck.Connection, kind, "raw", null);
        Assert.Equal(0, counts.Rejects);
        Assert.Equal(records.Count, counts.Clean + counts.Duplicates);
        var expected = StreamTestKit.Lines(duck.Rows($"SELECT * FROM {CleaningRules.CleanTable(kind)}"));

        var snapshot = await new DeltaTable(store, PipelineJobs.StreamTarget(settings).TablePrefix(kind)).LoadAsync();
        Assert.NotNull(snapshot);
        var names = snapshot.Schema.Fields.Select(f => f.Name).ToArray();
        var delta = new List<Dictionary<string, string?>>();
        await foreach (var row in snapshot.ReadRowsAsync())
            delta.Add(names.Select((n, i) => (n, TransformTestKit.Canonical(row[i]))).ToDictionary(x => x.n, x => x.Item2));
        Assert.Equal(expected, StreamTestKit.Lines(delta));
        var inds = delta.Select(r => long.Parse(r["ind"]!, CultureInfo.InvariantCulture)).Order().ToList();
        Assert.Equal(logInds, inds);

        // DuckDB's own Parquet reader over the snapshot's live files: no Delta code in the read.
        var paths = snapshot.Files.Select(f => store.LocalPath(snapshot.KeyOf(f))!).ToArray();
        Assert.NotEmpty(paths);
        Assert.All(paths, p => Assert.True(File.Exists(p), p));
        string list = string.Join(", ", paths.Select(p => "'" + p.Replace("'", "''", StringComparison.Ordinal) + "'"));
        Assert.Equal(expected, StreamTestKit.Lines(duck.Rows($"SELECT * FROM read_parquet([{list}])")));

        // Nothing was rejected.
        var rejects = await new DeltaTable(store, PipelineJobs.StreamTarget(settings).TablePrefix(kind, rejects: true)).LoadAsync();
        Assert.NotNull(rejects);
        Assert.Empty(rejects.Files);
    }
}
