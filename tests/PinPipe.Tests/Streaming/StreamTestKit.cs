using System.Globalization;
using System.Text;
using Microsoft.Extensions.Logging;
using PinPipe.Hosting;
using PinPipe.Lake;
using PinPipe.Lake.Delta;
using PinPipe.Log;
using PinPipe.Log.Kinesis;
using PinPipe.Source;
using PinPipe.Streaming;
using PinPipe.Tests.Log.Kinesis;
using PinPipe.Tests.Support;
using PinPipe.Tests.Transform;
using PinPipe.Transform;

namespace PinPipe.Tests.Streaming;

/// <summary>
/// A real embedded log (producer) and a real directory bucket in a temp folder, the settings <c>pinpipe stream</c>
/// would use there, and helpers to append records, run the job until it caught up and read the Delta tables back.
/// Made by <see cref="CreateKinesisAsync"/>, the streams are kinesalite's instead (<c>Stream:Source=kinesis</c>).
/// </summary>
internal sealed class StreamTestKit : IAsyncDisposable
{
    public static readonly RecordKind[] Kinds = [RecordKind.Pin, RecordKind.Geo, RecordKind.User];

    private readonly TempDirectory _dir = new("stream");
    // Each record appended: its partition (a Kinesis shard's number), its place in it (Kinesis: the order of the puts), origin and line.
    private readonly Dictionary<string, List<(int Partition, long Offset, string Origin, string Line)>> _appended = [];
    private readonly Dictionary<string, Dictionary<string, string>> _lastSequence = []; // Kinesis: stream → shard → last sequence number put
    private long _puts;

    private StreamTestKit() { }

    public PinPipeSettings Settings { get; private set; } = null!;
    /// <summary>What the job of <see cref="Settings"/> writes where (its tables' prefixes).</summary>
    public StreamTarget Target => PipelineJobs.StreamTarget(Settings);
    public ILog Log { get; private set; } = null!;
    public IObjectStore Store { get; private set; } = null!;
    public string DataDir => _dir.Path;

    /// <summary>The kinesalite client of a kit made by <see cref="CreateKinesisAsync"/>; null for the log's streams.</summary>
    public KinesisClient? Kinesis { get; private set; }

    /// <summary>
    /// A kit whose streams are kinesalite's (<c>TEST_PINPIPE_KINESIS</c>), <paramref name="shards"/> shards each, under a
    /// user id no other test uses; the streams are deleted at the end.
    /// </summary>
    public static async Task<StreamTestKit> CreateKinesisAsync(int shards = 2, StreamOptions? options = null)
    {
        var kit = new StreamTestKit();
        string user = "k" + Guid.NewGuid().ToString("N")[..12];
        var stream = (options ?? new StreamOptions { Trigger = TimeSpan.FromMilliseconds(50) }) with { Source = StreamSource.Kinesis };
        kit.Settings = new PinPipeSettings
        {
            DataDir = kit._dir.Path,
            UserId = user,
            Stream = stream,
            Kinesis = new KinesisOptions { ServiceUrl = Kinesalite.Url, Region = "us-east-1", PollInterval = TimeSpan.FromMilliseconds(20) },
        }.Resolve();
        kit.Log = await LogFactory.OpenAsync(kit.Settings.Log);
        kit.Kinesis = Kinesalite.Client();
        foreach (string name in kit.Settings.Names.Streams)
        {
            await kit.Kinesis.EnsureStreamAsync(name, shards, TimeSpan.FromSeconds(30));
            kit._appended[name] = [];
            kit._lastSequence[name] = new Dictionary<string, string>(StringComparer.Ordinal);
        }
        kit.Store = ObjectStoreFactory.Create(kit.Settings.ObjectStore, kit.Settings.Names.Bucket);
        return kit;
    }

    /// <summary>The environment that points a <c>pinpipe</c> process at the kit's kinesalite streams (with <c>--user-id</c>).</summary>
    public static Dictionary<string, string?> KinesisEnvironment() => new()
    {
        ["PINPIPE_Stream__Source"] = "kinesis",
        ["PINPIPE_Kinesis__ServiceUrl"] = Kinesalite.Url,
        ["PINPIPE_Kinesis__Region"] = "us-east-1",
        ["PINPIPE_Kinesis__PollInterval"] = "20ms",
        ["AWS_ACCESS_KEY_ID"] = Kinesalite.DummyKeys.AccessKeyId,
        ["AWS_SECRET_ACCESS_KEY"] = Kinesalite.DummyKeys.SecretAccessKey,
    };

    /// <summary>A kit over the embedded log; its tables are in <paramref name="store"/> when given (the kit disposes it), else in a directory bucket.</summary>
    /// <param name="logLoggers">The embedded log's loggers (its group member's heartbeats and revocations among them); none by default.</param>
    public static async Task<StreamTestKit> CreateAsync(int partitions = 1, StreamOptions? options = null, string? userId = null, IObjectStore? store = null, ILoggerFactory? logLoggers = null)
    {
        var kit = new StreamTestKit();
        var settings = new PinPipeSettings { DataDir = kit._dir.Path, Stream = options ?? new StreamOptions { Trigger = TimeSpan.FromMilliseconds(50) } };
        if (userId is not null) settings = settings with { UserId = userId };
        kit.Settings = settings.Resolve();
        kit.Log = await LogFactory.OpenAsync(kit.Settings.Log, logLoggers);
        foreach (string stream in kit.Settings.Names.Streams)
        {
            await kit.Log.CreateTopicAsync(stream, partitions);
            kit._appended[stream] = [];
        }
        kit.Store = store ?? ObjectStoreFactory.Create(kit.Settings.ObjectStore, kit.Settings.Names.Bucket);
        return kit;
    }

    public string StreamOf(RecordKind kind) => Settings.Names.Streams[Array.IndexOf(Kinds, kind)];

    /// <summary>The app id of the kind's stream partition's txns, for the stream's incarnation now.</summary>
    public async Task<string> AppIdAsync(RecordKind kind, int partition) =>
        StreamJob.AppId(StreamOf(kind), partition, (await Log.DescribeTopicAsync(StreamOf(kind)))!.TopicId);

    public StreamJob NewJob(IObjectStore? store = null, StreamOptions? options = null, long smallFileBytes = StreamJob.DefaultSmallFileBytes) =>
        Kinesis is null
            ? new(options ?? Settings.Stream, Target, Log, null, store ?? Store, null, null, smallFileBytes)
            : new(options ?? Settings.Stream, Target, null, Kinesis, store ?? Store, null, null, smallFileBytes);

    /// <summary>
    /// Appends lines to a kind's stream, one call per line so that keyless records spread over partitions by <paramref name="partition"/>.
    /// On Kinesis the partition key is the record's ind (its text when it has none), so that the records of one ind keep their order.
    /// </summary>
    public async Task AppendAsync(RecordKind kind, IEnumerable<string> lines, int partition = 0)
    {
        string stream = StreamOf(kind);
        if (Kinesis is not null)
        {
            await PutAsync(stream, [.. lines]);
            return;
        }
        var batch = lines.Select(l => new LogRecord(null, Encoding.UTF8.GetBytes(l), partition)).ToList();
        if (batch.Count == 0) return;
        var positions = await Log.AppendAsync(stream, batch);
        lock (_appended)
            for (int i = 0; i < batch.Count; i++)
                _appended[stream].Add((positions[i].Partition, positions[i].Offset, $"{stream}/{positions[i].Partition}/{positions[i].Offset}", Encoding.UTF8.GetString(batch[i].Value!.Value.Span)));
    }

    private async Task PutAsync(string stream, List<string> lines)
    {
        if (lines.Count == 0) return;
        var entries = lines.Select(l => new KinesisPutEntry(Encoding.UTF8.GetBytes(l), KeyOf(l))).ToList();
        var outcomes = await Kinesis!.PutRecordsAsync(stream, entries);
        lock (_appended)
            for (int i = 0; i < lines.Count; i++)
            {
                var o = outcomes[i];
                Assert.True(o.Succeeded, $"kinesalite refused a record: {o.ErrorCode} {o.ErrorMessage}");
                int shard = int.Parse(o.ShardId!.AsSpan(o.ShardId!.LastIndexOf('-') + 1), CultureInfo.InvariantCulture);
                _appended[stream].Add((shard, _puts++, $"{stream}/{o.ShardId}/{o.SequenceNumber}", lines[i]));
                var last = _lastSequence[stream];
                if (!last.TryGetValue(o.ShardId!, out var before) || KinesisCheckpoint.Compare(o.SequenceNumber!, before) > 0) last[o.ShardId!] = o.SequenceNumber!;
            }
    }

    /// <summary>
    /// Deletes the kind's Kinesis stream and creates it again (a new incarnation: a later creation time, whole seconds);
    /// the records put so far stay in what the tables are expected to hold.
    /// </summary>
    public async Task RecreateKinesisStreamAsync(RecordKind kind)
    {
        string stream = StreamOf(kind);
        var before = await Kinesis!.DescribeStreamSummaryAsync(stream);
        var deadline = DateTime.UtcNow + TimeSpan.FromSeconds(60);
        // The incarnation is the creation time in whole seconds, and kinesalite dates a stream 2 s before its creation:
        // a stream created again within the same second is the same incarnation to the job, so create it until it is not.
        while (true)
        {
            await Kinesis.DeleteStreamAsync(stream);
            while ((await Kinesis.ListStreamsAsync()).Contains(stream))
            {
                Assert.True(DateTime.UtcNow < deadline, $"{stream} was not deleted");
                await Task.Delay(100);
            }
            await Kinesis.EnsureStreamAsync(stream, before.OpenShardCount, TimeSpan.FromSeconds(30));
            var after = await Kinesis.DescribeStreamSummaryAsync(stream);
            if (after.CreationTimestamp.ToUnixTimeSeconds() != before.CreationTimestamp.ToUnixTimeSeconds()) break;
            Assert.True(DateTime.UtcNow < deadline, $"{stream} was created again in the same second each time");
            await Task.Delay(TimeSpan.FromSeconds(1));
        }
        lock (_appended) _lastSequence[stream].Clear();
    }

    /// <summary>A record's partition key: its ind (<c>index</c> of a pin), else the line.</summary>
    private static string KeyOf(string line)
    {
        try
        {
            var node = System.Text.Json.Nodes.JsonNode.Parse(line);
            if ((node?["index"] ?? node?["ind"]) is { } ind) return ind.ToJsonString();
        }
        catch (System.Text.Json.JsonException) { }
        catch (InvalidOperationException) { }
        return line.Length == 0 ? "empty" : line[..Math.Min(line.Length, 256)];
    }

    /// <summary>Synthetic source rows <paramref name="from"/>..<paramref name="from"/>+count-1 as JSON lines of <paramref name="kind"/>.</summary>
    public static IEnumerable<string> Synthetic(RecordKind kind, long from, int count, int seed = 5) =>
        SyntheticData.Generate(seed, from, count).Select(p => Encoding.UTF8.GetString(kind switch
        {
            RecordKind.Pin => SourceJson.Pin(p.Pin),
            RecordKind.Geo => SourceJson.Geo(p.Geo!),
            _ => SourceJson.User(p.User!),
        }));

    /// <summary>
    /// Appends to every stream until <paramref name="stop"/>: a few records at a time, now and then re-posts of earlier
    /// rows and a reject, to a random one of <paramref name="partitions"/> partitions. Returns how many were appended.
    /// </summary>
    public Task<long> ProduceAsync(int seed, int partitions, CancellationToken stop) => Task.Run(async () =>
    {
        var r = new Random(seed);
        long next = 1, appended = 0;
        while (!stop.IsCancellationRequested)
        {
            foreach (var kind in Kinds)
            {
                int n = r.Next(1, 40);
                long from = r.Next(4) == 0 ? Math.Max(1, next - r.Next(1, 200)) : next; // re-posts of earlier rows too
                List<string> lines = [.. Synthetic(kind, from, n)];
                if (r.Next(6) == 0) lines.Add(TransformTestKit.FixtureLines("raw", kind)[^1]); // a reject now and then
                await AppendAsync(kind, lines, r.Next(partitions));
                appended += lines.Count;
            }
            next += 30;
            await Task.Delay(r.Next(5, 40));
        }
        return appended;
    });

    /// <summary>Asserts that in both tables of every kind each txn's version went up at every commit that wrote it.</summary>
    public async Task AssertTxnsOnlyGrowAsync()
    {
        foreach (var kind in Kinds)
            foreach (bool rejects in new[] { false, true })
            {
                var commits = await StreamJobTests.ReadCommitsAsync(this, Target.TablePrefix(kind, rejects));
                var last = new Dictionary<string, long>();
                foreach (var commit in commits)
                    foreach (var (appId, version) in commit.Txns)
                    {
                        Assert.True(version > last.GetValueOrDefault(appId, -1), $"{kind} rejects={rejects}: txn {appId} went from {last.GetValueOrDefault(appId, -1)} to {version} at version {commit.Version}");
                        last[appId] = version;
                    }
            }
    }

    /// <summary>True when both Delta tables of every kind hold every partition's high watermark (Kinesis: every shard's last sequence number) as their txn.</summary>
    public async Task<bool> CaughtUpAsync()
    {
        if (Kinesis is not null) return await KinesisCaughtUpAsync();
        foreach (var kind in Kinds)
        {
            string stream = StreamOf(kind);
            var topic = (await Log.DescribeTopicAsync(stream))!;
            int partitions = topic.Partitions;
            foreach (bool rejects in new[] { false, true })
            {
                var snapshot = await Table(kind, rejects).LoadAsync();
                for (int p = 0; p < partitions; p++)
                {
                    long high = (await Log.GetWatermarksAsync(stream, p)).High;
                    if (high == 0) continue;
                    if (snapshot is null || !snapshot.Txns.TryGetValue(StreamJob.AppId(stream, p, topic.TopicId), out long v) || v != high) return false;
                }
            }
        }
        return true;
    }

    private async Task<bool> KinesisCaughtUpAsync()
    {
        foreach (var kind in Kinds)
        {
            string stream = StreamOf(kind);
            string key = (await Kinesis!.DescribeStreamSummaryAsync(stream)).CreationTimestamp.ToUnixTimeSeconds().ToString(CultureInfo.InvariantCulture);
            Dictionary<string, string> last;
            lock (_appended) last = new(_lastSequence[stream]);
            foreach (bool rejects in new[] { false, true })
            {
                var snapshot = await Table(kind, rejects).LoadAsync();
                if (last.Count == 0) continue;
                if (snapshot is null) return false;
                var checkpoint = KinesisCheckpoint.Decode(snapshot.Txns, stream, key);
                if (last.Any(s => !checkpoint.TryGetValue(s.Key, out var c) || c.SequenceNumber != s.Value)) return false;
            }
        }
        return true;
    }

    /// <summary>Runs a job until both tables of every kind caught up with the streams, then stops it.</summary>
    public async Task RunUntilCaughtUpAsync(StreamJob? job = null, TimeSpan? timeout = null)
    {
        job ??= NewJob();
        using var stop = new CancellationTokenSource();
        var run = job.RunAsync(stop.Token);
        var deadline = DateTime.UtcNow + (timeout ?? TimeSpan.FromSeconds(30));
        while (!await CaughtUpAsync())
        {
            if (run.IsCompleted) await run; // surfaces the failure
            Assert.True(DateTime.UtcNow < deadline, "the stream job did not catch up in time");
            await Task.Delay(20);
        }
        await stop.CancelAsync();
        await run;
    }

    public DeltaTable Table(RecordKind kind, bool rejects = false) => new(Store, Target.TablePrefix(kind, rejects));

    /// <summary>The table's rows read with our Delta reader, as column → canonical text.</summary>
    public async Task<List<Dictionary<string, string?>>> ReadDeltaAsync(RecordKind kind, bool rejects = false, long? version = null, DeltaTable? table = null)
    {
        var snapshot = await (table ?? Table(kind, rejects)).LoadAsync(version);
        Assert.NotNull(snapshot);
        var names = snapshot.Schema.Fields.Select(f => f.Name).ToArray();
        var rows = new List<Dictionary<string, string?>>();
        await foreach (var row in snapshot.ReadRowsAsync())
            rows.Add(names.Select((n, i) => (n, TransformTestKit.Canonical(row[i]))).ToDictionary(x => x.n, x => x.Item2));
        return rows;
    }

    /// <summary>The table's rows read by DuckDB's own read_parquet over the live files (no Delta code in the read).</summary>
    public async Task<List<Dictionary<string, string?>>> ReadDuckDbAsync(RecordKind kind, bool rejects = false)
    {
        var snapshot = await Table(kind, rejects).LoadAsync();
        Assert.NotNull(snapshot);
        if (snapshot.Files.Count == 0) return [];
        using var duck = new TransformTestKit();
        duck.Execute("SET TimeZone = 'UTC'");
        var paths = snapshot.Files.Select(f => Store.LocalPath(snapshot.KeyOf(f))!).ToArray();
        Assert.All(paths, p => Assert.True(File.Exists(p), p));
        string list = string.Join(", ", paths.Select(p => "'" + p.Replace("'", "''", StringComparison.Ordinal) + "'"));
        return duck.Rows($"SELECT * FROM read_parquet([{list}])");
    }

    /// <summary>What the batch cleaner makes of every record appended to the kind's stream, in one run, in (partition, offset) order (Kinesis: shard, then put order).</summary>
    public async Task<(List<Dictionary<string, string?>> Clean, List<Dictionary<string, string?>> Rejects, CleanResult Counts)> ExpectedAsync(RecordKind kind)
    {
        string stream = StreamOf(kind);
        List<(int Partition, long Offset, string Origin, string Line)> records;
        lock (_appended) records = _appended[stream].OrderBy(r => r.Partition).ThenBy(r => r.Offset).ToList();
        using var duck = new TransformTestKit();
        duck.Execute("CREATE TABLE raw (seq BIGINT, origin VARCHAR, line VARCHAR)");
        using (var appender = duck.Connection.CreateAppender("raw"))
        {
            long seq = 0;
            foreach (var r in records)
                appender.CreateRow().AppendValue(seq++).AppendValue(r.Origin).AppendValue(r.Line).EndRow();
        }
        var counts = await Cleaner.CleanAsync(duck.Connection, kind, "raw", null);
        return (duck.Rows($"SELECT * FROM {CleaningRules.CleanTable(kind)}"), duck.Rows($"SELECT * FROM {CleaningRules.RejectTable(kind)}"), counts);
    }

    /// <summary>Rows as sorted canonical lines, for set comparison with duplicates kept visible.</summary>
    public static List<string> Lines(IEnumerable<Dictionary<string, string?>> rows) =>
        rows.Select(r => string.Join(" | ", r.OrderBy(kv => kv.Key, StringComparer.Ordinal).Select(kv => $"{kv.Key}={kv.Value ?? "∅"}")))
            .Order(StringComparer.Ordinal).ToList();

    /// <summary>Asserts that both Delta tables of <paramref name="kind"/> hold exactly what one batch cleaning of all records gives, read both ways.</summary>
    public async Task AssertTablesMatchBatchCleaningAsync(RecordKind kind)
    {
        var (clean, rejects, counts) = await ExpectedAsync(kind);
        Assert.Equal(counts.Read, counts.Clean + counts.Duplicates + counts.Rejects);
        var expectedClean = Lines(clean);
        var expectedRejects = Lines(rejects);
        Assert.Equal(expectedClean, Lines(await ReadDeltaAsync(kind)));
        Assert.Equal(expectedClean, Lines(await ReadDuckDbAsync(kind)));
        Assert.Equal(expectedRejects, Lines(await ReadDeltaAsync(kind, rejects: true)));
        Assert.Equal(expectedRejects, Lines(await ReadDuckDbAsync(kind, rejects: true)));
        var inds = (await ReadDeltaAsync(kind)).Select(r => long.Parse(r["ind"]!, CultureInfo.InvariantCulture)).ToList();
        Assert.Equal(inds.Count, inds.Distinct().Count());
    }

    public async ValueTask DisposeAsync()
    {
        if (Kinesis is not null)
        {
            foreach (string stream in Settings.Names.Streams)
            {
                try { await Kinesis.DeleteStreamAsync(stream); }
                catch (KinesisException) { } // gone already (a test deleted it)
            }
            Kinesis.Dispose();
        }
        await Log.DisposeAsync();
        (Store as IDisposable)?.Dispose();
        _dir.Dispose();
    }
}
