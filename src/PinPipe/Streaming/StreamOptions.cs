using PinPipe.Configuration;
using PinPipe.Transform;

namespace PinPipe.Streaming;

/// <summary>Settings of the stream job, <c>pinpipe stream</c> (configuration section <c>Stream</c>).</summary>
public sealed record StreamOptions
{
    /// <summary>
    /// The streaming lane's transport: <c>log</c> (default, the log's <c>streaming-…</c> topics) or <c>kinesis</c> (Amazon
    /// Kinesis, section <c>Kinesis</c>; the API's Kinesis routes forward PutRecord and PutRecords to it).
    /// </summary>
    public StreamSource Source { get; init; } = StreamSource.Log;

    /// <summary>
    /// Micro-batches close on a grid of this interval, as Spark's processing-time trigger starts them: while records
    /// keep coming, one trigger after the last one closed (at once, with what came meanwhile, after one that took
    /// longer); after an idle spell, at most this long after the first record. Default 100 ms (BENCHMARKS.md has the
    /// latency from acknowledgement to readable in Delta that it gives, and where that time goes). A longer trigger
    /// makes fewer, larger commits (an idle stream makes none).
    /// </summary>
    public TimeSpan Trigger { get; init; } = TimeSpan.FromMilliseconds(100);

    /// <summary>A micro-batch closes once it holds this many records, whichever comes first. Default 50,000.</summary>
    public int MaxBatchRecords { get; init; } = 50_000;

    /// <summary>
    /// Once a table holds this many small live files (under 8 MiB; a micro-batch adds one), they are rewritten into one
    /// (an <c>OPTIMIZE</c> commit; at most 32 MiB of them read by one, with files of a larger tier when there are, so
    /// files grow to <see cref="CompactTargetBytes"/>), beside the micro-batches, which do not wait for it; 0 never compacts. A
    /// table behind its stream waits until it has caught up or holds twice this many. Default 50.
    /// </summary>
    public int CompactEvery { get; init; } = 50;

    /// <summary>
    /// The size, in bytes, a table's compactions grow its files to, tier by tier (8 → 32 → 128 MiB at 128 MiB), after
    /// which they are left alone; 8 MiB (the small-file size) to 1 GiB. A compaction of a tier of larger files reads up to
    /// this much at once beside the micro-batches. Default 32 MiB: files of up to 32 MiB, each byte rewritten about once by
    /// the job, and <c>pinpipe optimize</c> (the schedule's, daily) merges them to 128 MiB, as Delta's auto compaction writes
    /// files of 128 MB and leaves those of 1 GB to OPTIMIZE; at 128 MiB the rewrites of the tier of 32-128 MiB read about
    /// 150 MiB at once, for up to 11 s at 100k records/s on two cores, beside the micro-batches (BENCHMARKS.md).
    /// </summary>
    public long CompactTargetBytes { get; init; } = DefaultCompactTargetBytes;

    /// <summary>The default of <see cref="CompactTargetBytes"/>, 32 MiB.</summary>
    internal const long DefaultCompactTargetBytes = 32L << 20;

    /// <summary>
    /// The nice value (Linux's CPU priority, 1 to 19 above the default 0) of the threads that rewrite a compaction's files
    /// and compute their stats: on busy cores the micro-batches (and, in <c>pinpipe up</c>, the API and the sink) get the
    /// CPU first and a compaction what is left, as RocksDB runs its compactions; on an idle core it runs at full speed.
    /// 0 runs them in the job's thread pool at its own priority. Default 10. Elsewhere than Linux the threads keep the
    /// normal priority.
    /// </summary>
    public int CompactionNice { get; init; } = 10;

    /// <summary>
    /// A table's Delta checkpoint (written every <c>delta.checkpointInterval</c>, 10, commits) is written at most once in
    /// this long, at the first due version after it; 0 writes one at every due version. Default 10 s: at the default
    /// trigger a table commits up to 10 times a second, and a checkpoint a second costs the job CPU that its micro-batches
    /// need, while a reader loading the table replays at most 10 s of commits after the last checkpoint.
    /// </summary>
    public TimeSpan CheckpointEvery { get; init; } = TimeSpan.FromSeconds(10);

    /// <summary>Where a stream partition starts when no Delta table holds an offset for it yet: <c>earliest</c>
    /// (the log's start, default) or <c>latest</c> (the log's end when the job first starts).</summary>
    public StreamStart From { get; init; } = StreamStart.Earliest;

    /// <summary>
    /// The consumer group under which the job also commits each stream partition's position to the log (after the Delta
    /// commits that hold it, at most once a second): the Delta tables stay the checkpoint; the group lets the log refuse
    /// to delete a stream holding records the job has not read. Default <c>pinpipe-stream</c>.
    /// </summary>
    public string GroupId { get; init; } = "pinpipe-stream";

    /// <summary>
    /// A stream worker that has not heartbeated to the group <see cref="GroupId"/> for this long is out of it, and its stream
    /// partitions go to the other workers (Kafka's <c>session.timeout.ms</c>). Default 10 s.
    /// </summary>
    public TimeSpan SessionTimeout { get; init; } = TimeSpan.FromSeconds(10);

    /// <summary>How often a worker heartbeats to its group and looks for a new assignment (<c>heartbeat.interval.ms</c>). Default null: a tenth of <see cref="SessionTimeout"/>; at most a third of it.</summary>
    public TimeSpan? HeartbeatInterval { get; init; }

    /// <summary><see cref="HeartbeatInterval"/>, or a tenth of <see cref="SessionTimeout"/> when unset.</summary>
    public TimeSpan Heartbeat => HeartbeatInterval ?? SessionTimeout / 10;

    /// <summary>
    /// <c>earliest</c> moves the checkpoint of a stream whose tables hold offsets of another incarnation (the stream was
    /// deleted and created again) or past its end (truncated) to the stream's start, deliberately; the job refuses to
    /// run on such a stream otherwise. Streams whose checkpoint is theirs are not touched. Default null: no reset.
    /// </summary>
    public string? Reset { get; init; }

    /// <summary>DuckDB memory limit per table (<c>400MB</c>, <c>512MiB</c>, <c>10%</c>: <see cref="SettingFormats.IsMemoryLimit"/>); beyond it DuckDB spills to disk. Default <c>400MB</c>.</summary>
    public string MemoryLimit { get; init; } = "400MB";

    /// <summary>
    /// DuckDB worker threads per table (the three tables run side by side, each with its own DuckDB); 0 = one per core.
    /// Default 1: a micro-batch is small, and more threads only add contention and per-thread memory. At most
    /// <see cref="SettingFormats.MaxThreads"/>.
    /// </summary>
    public int Threads { get; init; } = 1;

    /// <summary>
    /// Who reads the records' JSON: <see cref="RecordParser.PinPipe"/> (default), our own parser as each record arrives,
    /// for the records it reads exactly (flat objects), so that a micro-batch's cleaning finds their fields already read,
    /// and DuckDB's JSON functions for the rest; or <see cref="RecordParser.DuckDb"/>, DuckDB's for every record when the
    /// micro-batch is cleaned. The same rules run on the same texts either way (<see cref="MicroBatchCleaner"/>).
    /// </summary>
    public RecordParser Parser { get; init; } = RecordParser.PinPipe;

    /// <summary>
    /// True: from the job's start, memory that DuckDB frees goes back to the system within about a tenth of a second
    /// (jemalloc's decay <see cref="ReleasedFreedMemoryDecay"/>) instead of after <see cref="FreedMemoryDecay"/>,
    /// for an RSS nearer the working set; at 10,000 records/s a micro-batch every 100 ms then faults in again the pages
    /// the last one freed, about a third more CPU (BENCHMARKS.md). False (default): <see cref="FreedMemoryDecay"/>.
    /// </summary>
    public bool ReleaseFreedMemory { get; init; }

    /// <summary>The decay of freed memory that <see cref="ReleaseFreedMemory"/> sets: 100 ms.</summary>
    internal static readonly TimeSpan ReleasedFreedMemoryDecay = TimeSpan.FromMilliseconds(100);

    /// <summary>
    /// How long memory that DuckDB frees stays with the process before it goes back to the system (jemalloc's dirty and
    /// muzzy decay; process-wide: under <c>pinpipe up</c> it holds for the other stages too), 0 to 1 minute. Default
    /// 300 ms, not DuckDB's own second: at 10,000 records/s a micro-batch every 100 ms still reuses the pages the last one
    /// freed, at the same CPU, while the process holds what it used in the last 300 ms rather than the last second (at
    /// 100,000 records/s the micro-batches' sizes swing): about 20 MiB off the steady RSS at either rate (BENCHMARKS.md).
    /// <see cref="ReleaseFreedMemory"/> sets 100 ms instead.
    /// </summary>
    public TimeSpan FreedMemoryDecay { get; init; } = TimeSpan.FromMilliseconds(300);

    /// <summary>
    /// The most each table's key cache may hold, in bytes (<see cref="Lake.Delta.DeltaKeyCache"/>, 8 bytes a key; default
    /// 16 MiB, two million keys; 0 to 16 GiB): the keys of the clean table's files that a micro-batch's duplicate check had
    /// to read (their <c>ind</c> range could hold a new key), kept for the next micro-batches, and, once a check has looked
    /// at a file's keys, those of each file the job commits and of each file its compactions write (the union of the
    /// replaced files' keys). Files that do not fit are read at every check, as with 0. A
    /// stream of new, rising keys reads no file and keeps nothing.
    /// </summary>
    public long KeyCacheBytes { get; init; } = 16L << 20;

    /// <summary>
    /// Each table's DuckDB is replaced by a new instance after this many micro-batches (default 200, about 20 s at the
    /// default trigger), which bounds what DuckDB's buffer pool keeps of blocks freed long ago; not a user setting (tests
    /// lower it).
    /// </summary>
    internal int ReopenDuckDbEvery { get; init; } = 200;

    /// <summary>The least <see cref="CompactTargetBytes"/>: the size below which a file is small (a compaction candidate).</summary>
    internal const long MinCompactTargetBytes = StreamJob.DefaultSmallFileBytes;

    /// <summary>Every problem of these settings, each naming its key; empty when all is well.</summary>
    public IReadOnlyList<string> Validate() => new SettingsProblems()
        .Check(Trigger > TimeSpan.Zero && Trigger <= TimeSpan.FromHours(1), $"Stream:Trigger: {Durations.Text(Trigger)} must be more than 0 and at most 1 hour.")
        .Check(MaxBatchRecords is >= 1 and <= 10_000_000, $"Stream:MaxBatchRecords: {MaxBatchRecords} must be 1 to 10000000.")
        .Check(CompactEvery is 0 or >= 2, $"Stream:CompactEvery: {CompactEvery} must be 0 (never compact) or at least 2.")
        .Check(CompactTargetBytes is >= MinCompactTargetBytes and <= 1L << 30,
            $"Stream:CompactTargetBytes: {CompactTargetBytes} must be {MinCompactTargetBytes} (8 MiB, the small-file size) to {1L << 30} (1 GiB).")
        .Check(CompactionNice is >= 0 and <= 19, $"Stream:CompactionNice: {CompactionNice} must be 0 (the job's own priority) to 19.")
        .Check(FreedMemoryDecay >= TimeSpan.Zero && FreedMemoryDecay <= TimeSpan.FromMinutes(1), $"Stream:FreedMemoryDecay: {Durations.Text(FreedMemoryDecay)} must be 0 to 1 minute.")
        .Check(KeyCacheBytes is >= 0 and <= 16L << 30, $"Stream:KeyCacheBytes: {KeyCacheBytes} must be 0 (no cache) to {16L << 30} (16 GiB).")
        .Check(CheckpointEvery >= TimeSpan.Zero && CheckpointEvery <= TimeSpan.FromHours(1), $"Stream:CheckpointEvery: {Durations.Text(CheckpointEvery)} must be 0 (every due version) to 1 hour.")
        .OneOf("Stream:Source", Source)
        .OneOf("Stream:From", From)
        .OneOf("Stream:Parser", Parser)
        .Check(!string.IsNullOrWhiteSpace(GroupId), "Stream:GroupId: must not be empty.")
        .Check(SessionTimeout >= TimeSpan.FromMilliseconds(100) && SessionTimeout <= TimeSpan.FromMinutes(30), $"Stream:SessionTimeout: {Durations.Text(SessionTimeout)} must be 100ms to 30 minutes.")
        .Check(HeartbeatInterval is null || HeartbeatInterval > TimeSpan.Zero && HeartbeatInterval * 3 <= SessionTimeout,
            $"Stream:HeartbeatInterval: {Durations.Text(HeartbeatInterval, "unset")} must be more than 0 and at most a third of Stream:SessionTimeout ({Durations.Text(SessionTimeout)}).")
        .Check(Reset is null or "earliest", $"Stream:Reset: '{Reset}' is not earliest (or unset).")
        .Check(SettingFormats.IsMemoryLimit(MemoryLimit), SettingFormats.NotMemoryLimit("Stream:MemoryLimit", MemoryLimit))
        .Check(ReopenDuckDbEvery >= 1, $"Stream ReopenDuckDbEvery: {ReopenDuckDbEvery} must be 1 or more.")
        .Check(Threads is >= 0 and <= SettingFormats.MaxThreads,
            $"Stream:Threads: {Threads} must be 0 (one per core) to {SettingFormats.MaxThreads}: more threads than cores only adds contention, and each holds its own memory.")
        .ToList();
}
