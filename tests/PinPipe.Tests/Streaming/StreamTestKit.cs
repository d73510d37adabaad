using System.Globalization;
using System.Text;
using PinPipe.Hosting;
using PinPipe.Lake;
using PinPipe.Lake.Delta;
using PinPipe.Log;
using PinPipe.Source;
using PinPipe.Streaming;
using PinPipe.Tests.Support;
using PinPipe.Tests.Transform;
using PinPipe.Transform;

namespace PinPipe.Tests.Streaming;

/// <summary>
/// A real embedded log (producer) and a real directory bucket in a temp folder, the settings <c>pinpipe stream</c>
/// would use there, and helpers to append records, run the job until it caught up and read the Delta tables back.
/// </summary>
internal sealed class StreamTestKit : IAsyncDisposable
{
    public static readonly RecordKind[] Kinds = [RecordKind.Pin, RecordKind.Geo, RecordKind.User];

    private readonly TempDirectory _dir = new("stream");
    private readonly Dictionary<string, List<(int Partition, long Offset, string Line)>> _appended = [];

    private StreamTestKit() { }

    public PinPipeSettings Settings { get; private set; } = null!;
    /// <summary>What the job of <see cref="Settings"/> writes where (its tables' prefixes).</summary>
    public StreamTarget Target => PipelineJobs.StreamTarget(Settings);
    public ILog Log { get; private set; } = null!;
    public IObjectStore Store { get; private set; } = null!;
    public string DataDir => _dir.Path;

    public static async Task<StreamTestKit> CreateAsync(int partitions = 1, StreamOptions? options = null, string? userId = null)
    {
        var kit = new StreamTestKit();
        var settings = new PinPipeSettings { DataDir = kit._dir.Path, Stream = options ?? new StreamOptions { Trigger = TimeSpan.FromMilliseconds(50) } };
        if (userId is not null) settings = settings with { UserId = userId };
        kit.Settings = settings.Resolve();
        kit.Log = await LogFactory.OpenAsync(kit.Settings.Log);
        foreach (string stream in kit.Settings.Names.Streams)
        {
            await kit.Log.CreateTopicAsync(stream, partitions);
            kit._appended[stream] = [];
        }
        kit.Store = ObjectStoreFactory.Create(kit.Settings.ObjectStore, kit.Settings.Names.Bucket);
        return kit;
    }

    public string StreamOf(RecordKind kind) => Settings.Names.Streams[Array.IndexOf(Kinds, kind)];

    /// <summary>The app id of the kind's stream partition's txns, for the stream's incarnation now.</summary>
    public async Task<string> AppIdAsync(RecordKind kind, int partition) =>
        StreamJob.AppId(StreamOf(kind), partition, (await Log.DescribeTopicAsync(StreamOf(kind)))!.TopicId);

    public StreamJob NewJob(IObjectStore? store = null, StreamOptions? options = null, long smallFileBytes = StreamJob.DefaultSmallFileBytes) =>
        new(options ?? Settings.Stream, Target, Log, store ?? Store, null, null, smallFileBytes);

    /// <summary>Appends lines to a kind's stream, one call per line so that keyless records spread over partitions by <paramref name="partition"/>.</summary>
    public async Task AppendAsync(RecordKind kind, IEnumerable<string> lines, int partition = 0)
    {
        string stream = StreamOf(kind);
        var batch = lines.Select(l => new LogRecord(null, Encoding.UTF8.GetBytes(l), partition)).ToList();
        if (batch.Count == 0) return;
        var positions = await Log.AppendAsync(stream, batch);
        lock (_appended)
            for (int i = 0; i < batch.Count; i++)
                _appended[stream].Add((positions[i].Partition, positions[i].Offset, Encoding.UTF8.GetString(batch[i].Value!.Value.Span)));
    }

    /// <summary>Synthetic source rows <paramref name="from"/>..<paramref name="from"/>+count-1 as JSON lines of <paramref name="kind"/>.</summary>
    public static IEnumerable<string> Synthetic(RecordKind kind, long from, int count, int seed = 5) =>
        SyntheticData.Generate(seed, from, count).Select(p => Encoding.UTF8.GetString(kind switch
        {
            RecordKind.Pin => SourceJson.Pin(p.Pin),
            RecordKind.Geo => SourceJson.Geo(p.Geo!),
            _ => SourceJson.User(p.User!),
        }));

    /// <summary>True when both Delta tables of every kind hold every partition's high watermark as their txn.</summary>
    public async Task<bool> CaughtUpAsync()
    {
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

    /// <summary>What the batch cleaner makes of every record appended to the kind's stream, in one run, in (partition, offset) order.</summary>
    public async Task<(List<Dictionary<string, string?>> Clean, List<Dictionary<string, string?>> Rejects, CleanResult Counts)> ExpectedAsync(RecordKind kind)
    {
        string stream = StreamOf(kind);
        List<(int Partition, long Offset, string Line)> records;
        lock (_appended) records = _appended[stream].OrderBy(r => r.Partition).ThenBy(r => r.Offset).ToList();
        using var duck = new TransformTestKit();
        duck.Execute("CREATE TABLE raw (seq BIGINT, origin VARCHAR, line VARCHAR)");
        using (var appender = duck.Connection.CreateAppender("raw"))
        {
            long seq = 0;
            foreach (var r in records)
                appender.CreateRow().AppendValue(seq++).AppendValue($"{stream}/{r.Partition}/{r.Offset}").AppendValue(r.Line).EndRow();
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
        await Log.DisposeAsync();
        (Store as IDisposable)?.Dispose();
        _dir.Dispose();
    }
}
