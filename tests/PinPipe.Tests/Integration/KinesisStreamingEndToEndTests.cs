using System.Globalization;
using PinPipe.Hosting;
using PinPipe.Lake;
using PinPipe.Lake.Delta;
using PinPipe.Log.Kinesis;
using PinPipe.Tests.Log.Kinesis;
using PinPipe.Tests.Streaming;
using PinPipe.Tests.Support;

namespace PinPipe.Tests.Integration;

/// <summary>
/// The streaming lane on Amazon Kinesis (kinesalite), each part its own process on loopback, with
/// <c>Stream:Source=kinesis</c>: <c>pinpipe seed</c> → <c>pinpipe serve</c> (makes the streams in Kinesis, forwards its
/// Kinesis routes there) → <c>pinpipe stream</c> (reads the shards) → <c>pinpipe emulate --lane stream</c> (one record a
/// request, then 50) → Ctrl-C → the three Delta tables hold exactly the clean rows of the records in Kinesis.
/// </summary>
public sealed class KinesisStreamingEndToEndTests
{
    private const int Posts = StreamingEndToEndTests.Posts;
    private static readonly TimeSpan Timeout = TimeSpan.FromSeconds(60);

    [Fact]
    public async Task Posted_records_go_through_kinesis_into_the_Delta_tables_exactly_once()
    {
        using var dir = new TempDirectory("e2e-kinesis");
        string user = "e" + Guid.NewGuid().ToString("N")[..12];
        string[] common = ["--user-id", user];
        var environment = StreamTestKit.KinesisEnvironment();
        var seed = await CliProcess.RunWithEnvironmentAsync(environment, dir.Path, Timeout, ["seed", "--rows", "2000", .. common]);
        Assert.True(seed.ExitCode == 0, seed.Output);

        var settings = new PinPipeSettings { DataDir = Path.Combine(dir.Path, ".pinpipe"), UserId = user }.Resolve();
        using var kinesis = Kinesalite.Client();
        int port = CliProcess.FreePort();
        var api = $"http://127.0.0.1:{port}";
        var store = ObjectStoreFactory.Create(settings.ObjectStore, settings.Names.Bucket);
        try
        {
            await using var serve = CliProcess.StartWithEnvironment(environment, dir.Path, ["serve", "--urls", api, .. common]);
            await serve.WaitHealthyAsync(new Uri($"{api}/healthz"), Timeout);
            await using var stream = CliProcess.StartWithEnvironment(environment, dir.Path, ["stream", "--trigger", "200ms", .. common]);

            await StreamingEndToEndTests.EmulateAsync(dir.Path, api, common);

            // Every record the API acknowledged is in Kinesis; the job caught up when both tables' checkpoints are each shard's last record.
            var records = new List<KinesisRecord>[3];
            for (int k = 0; k < 3; k++) records[k] = await ReadAllAsync(kinesis, settings.Names.Streams[k], 2 * Posts);
            var deadline = DateTime.UtcNow + Timeout;
            while (!await CaughtUpAsync(kinesis, store, settings, records))
            {
                Assert.False(stream.HasExited, "pinpipe stream exited:\n" + stream.Output);
                Assert.True(DateTime.UtcNow < deadline, "the stream job did not catch up:\n" + stream.Output);
                await Task.Delay(100);
            }
            await Task.Delay(500); // anything more would be a duplicate: give it the chance to show
            Assert.True(await stream.InterruptAsync(Timeout) == 0, stream.Output);
            Assert.True(await serve.InterruptAsync(Timeout) == 0, serve.Output);
            Assert.Contains("Kinesis at", stream.Output, StringComparison.Ordinal);

            for (int k = 0; k < 3; k++)
            {
                string name = settings.Names.Streams[k];
                var inOrder = records[k].OrderBy(r => r.ShardId, StringComparer.Ordinal).ThenBy(r => r.SequenceNumber, Comparer<string>.Create(KinesisCheckpoint.Compare));
                await StreamingEndToEndTests.AssertTableHoldsAsync(store, settings, StreamTestKit.Kinds[k], [.. inOrder.Select(r => ($"{name}/{r.ShardId}/{r.SequenceNumber}", r.Data.ToArray()))]);
            }
        }
        finally
        {
            (store as IDisposable)?.Dispose();
            foreach (string name in settings.Names.Streams)
            {
                try { await kinesis.DeleteStreamAsync(name); }
                catch (KinesisException) { }
            }
        }
    }

    /// <summary>Every record of the stream, read from each shard's trim horizon until <paramref name="count"/> came.</summary>
    private static async Task<List<KinesisRecord>> ReadAllAsync(KinesisClient kinesis, string stream, int count)
    {
        var reader = new KinesisShardReader(kinesis, stream, new Dictionary<string, string>(), ShardIteratorType.TrimHorizon);
        var records = new List<KinesisRecord>();
        var deadline = DateTime.UtcNow + Timeout;
        while (records.Count < count)
        {
            Assert.True(DateTime.UtcNow < deadline, $"{stream}: {records.Count} of {count} records in Kinesis");
            records.AddRange(await reader.ReadAsync(10_000));
        }
        Assert.Equal(count, records.Count);
        return records;
    }

    private static async Task<bool> CaughtUpAsync(KinesisClient kinesis, IObjectStore store, PinPipeSettings settings, List<KinesisRecord>[] records)
    {
        for (int k = 0; k < 3; k++)
        {
            string stream = settings.Names.Streams[k];
            string key = (await kinesis.DescribeStreamSummaryAsync(stream)).CreationTimestamp.ToUnixTimeSeconds().ToString(CultureInfo.InvariantCulture);
            var last = records[k].GroupBy(r => r.ShardId).ToDictionary(g => g.Key, g => g.Select(r => r.SequenceNumber).Max(Comparer<string>.Create(KinesisCheckpoint.Compare))!);
            foreach (bool rejects in new[] { false, true })
            {
                var snapshot = await new DeltaTable(store, PipelineJobs.StreamTarget(settings).TablePrefix(StreamTestKit.Kinds[k], rejects)).LoadAsync();
                if (snapshot is null) return false;
                var checkpoint = KinesisCheckpoint.Decode(snapshot.Txns, stream, key);
                if (last.Any(s => !checkpoint.TryGetValue(s.Key, out var c) || c.SequenceNumber != s.Value)) return false;
            }
        }
        return true;
    }
}
