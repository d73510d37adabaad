using PinPipe.Hosting;
using PinPipe.Streaming;
using PinPipe.Tests.Support;
using PinPipe.Transform;

namespace PinPipe.Tests.Streaming;

/// <summary>The Stream settings and <c>pinpipe stream</c> as a user runs it.</summary>
public sealed class StreamCommandTests
{
    private static readonly TimeSpan Timeout = TimeSpan.FromSeconds(60);

    [Fact]
    public void Stream_defaults_and_table_names_follow_the_spec()
    {
        var s = new PinPipeSettings();
        Assert.Empty(s.Validate());
        Assert.Equal(TimeSpan.FromMilliseconds(100), s.Stream.Trigger);
        Assert.Equal(50_000, s.Stream.MaxBatchRecords);
        Assert.Equal(50, s.Stream.CompactEvery);
        Assert.Equal(10, s.Stream.CompactionNice);
        Assert.Equal(0, SettingsLoader.Load(null, new Dictionary<string, string?>(), new Dictionary<string, string?> { ["PINPIPE_Stream__CompactionNice"] = "0" }).Stream.CompactionNice);
        Assert.Equal(TimeSpan.FromSeconds(10), s.Stream.CheckpointEvery);
        Assert.Equal(TimeSpan.Zero, SettingsLoader.Load(null, new Dictionary<string, string?>(), new Dictionary<string, string?> { ["PINPIPE_Stream__CheckpointEvery"] = "0s" }).Stream.CheckpointEvery);
        Assert.Equal(StreamStart.Earliest, s.Stream.From);
        Assert.Equal((1, "400MB"), (s.Stream.Threads, s.Stream.MemoryLimit));
        Assert.False(s.Stream.ReleaseFreedMemory);
        Assert.Equal(TimeSpan.FromMilliseconds(300), s.Stream.FreedMemoryDecay);
        Assert.Equal(TimeSpan.FromSeconds(1), SettingsLoader.Load(null, new Dictionary<string, string?>(), new Dictionary<string, string?> { ["PINPIPE_Stream__FreedMemoryDecay"] = "1s" }).Stream.FreedMemoryDecay);
        Assert.Equal(16L << 20, s.Stream.KeyCacheBytes);
        Assert.Equal(32L << 20, s.Stream.CompactTargetBytes);
        Assert.Equal(32L << 20, SettingsLoader.Load(null, new Dictionary<string, string?>(), new Dictionary<string, string?> { ["PINPIPE_Stream__CompactTargetBytes"] = "33554432" }).Stream.CompactTargetBytes);
        Assert.Equal(0L, SettingsLoader.Load(null, new Dictionary<string, string?>(), new Dictionary<string, string?> { ["PINPIPE_Stream__KeyCacheBytes"] = "0" }).Stream.KeyCacheBytes);
        Assert.True(SettingsLoader.Load(null, new Dictionary<string, string?>(), new Dictionary<string, string?> { ["PINPIPE_Stream__ReleaseFreedMemory"] = "true" }).Stream.ReleaseFreedMemory);
        Assert.Equal("delta/12885f560a0b_pin_table", PipelineJobs.StreamTarget(s).TablePrefix(RecordKind.Pin));
        Assert.Equal("delta/12885f560a0b_user_table_rejects", PipelineJobs.StreamTarget(s).TablePrefix(RecordKind.User, rejects: true));
        Assert.Equal("pinpipe-stream:streaming-12885f560a0b-geo:3", StreamJob.AppId(s.Names.GeoStream, 3));
    }

    [Fact]
    public void Every_bad_stream_setting_is_reported_naming_its_key()
    {
        var errors = new PinPipeSettings
        {
            Stream = new StreamOptions { Trigger = TimeSpan.Zero, MaxBatchRecords = 0, CompactEvery = 1, CheckpointEvery = TimeSpan.FromSeconds(-1), From = (StreamStart)7, MemoryLimit = " ", Threads = 257, CompactionNice = 20, FreedMemoryDecay = TimeSpan.FromMinutes(2), KeyCacheBytes = -1, CompactTargetBytes = (8L << 20) - 1 },
        }.Validate();
        Assert.Contains(errors, e => e.StartsWith("Stream:Trigger:", StringComparison.Ordinal));
        Assert.Contains(errors, e => e.StartsWith("Stream:MaxBatchRecords:", StringComparison.Ordinal));
        Assert.Contains(errors, e => e.StartsWith("Stream:CompactEvery:", StringComparison.Ordinal));
        Assert.Contains(errors, e => e.StartsWith("Stream:CheckpointEvery: -1s must be 0 (every due version) to 1 hour.", StringComparison.Ordinal));
        Assert.Contains(errors, e => e.StartsWith("Stream:From: '7' is not one of: earliest, latest.", StringComparison.Ordinal));
        Assert.Contains(errors, e => e.StartsWith("Stream:MemoryLimit:", StringComparison.Ordinal));
        Assert.Contains(errors, e => e.StartsWith("Stream:Threads: 257 must be 0 (one per core) to 256", StringComparison.Ordinal));
        Assert.Contains("Stream:CompactionNice: 20 must be 0 (the job's own priority) to 19.", errors);
        Assert.Contains("Stream:FreedMemoryDecay: 2m must be 0 to 1 minute.", errors);
        Assert.Contains("Stream:KeyCacheBytes: -1 must be 0 (no cache) to 17179869184 (16 GiB).", errors);
        Assert.Contains("Stream:CompactTargetBytes: 8388607 must be 8388608 (8 MiB, the small-file size) to 1073741824 (1 GiB).", errors);
        Assert.Equal(11, errors.Count);
        Assert.Empty(new PinPipeSettings { Stream = new StreamOptions { Threads = 0, CompactionNice = 0, KeyCacheBytes = 0, CompactTargetBytes = 8L << 20 } }.Validate());
        Assert.Empty(new PinPipeSettings { Stream = new StreamOptions { CompactTargetBytes = 1L << 30 } }.Validate());
        Assert.Contains("Stream:CompactTargetBytes: 1073741825 must be 8388608 (8 MiB, the small-file size) to 1073741824 (1 GiB).",
            new PinPipeSettings { Stream = new StreamOptions { CompactTargetBytes = (1L << 30) + 1 } }.Validate());
        Assert.Contains("Stream:CompactionNice: -1 must be 0 (the job's own priority) to 19.", new PinPipeSettings { Stream = new StreamOptions { CompactionNice = -1 } }.Validate());
    }

    [Fact]
    public async Task Bad_flags_exit_2_naming_every_problem()
    {
        using var dir = new TempDirectory("cli");
        var (code, output) = await CliProcess.RunAsync(dir.Path, Timeout, "stream", "--from", "middle", "--max-batch-records", "0");
        Assert.Equal(2, code);
        Assert.Contains("Stream:From: 'middle' is not one of: earliest, latest.", output, StringComparison.Ordinal);
        Assert.Contains("Stream:MaxBatchRecords: 0", output, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Without_the_embedded_log_it_says_to_start_serve_first()
    {
        using var dir = new TempDirectory("cli");
        var (code, output) = await CliProcess.RunAsync(dir.Path, Timeout, "stream");
        Assert.Equal(3, code); // the log's owner (a dependency) is not running
        Assert.Contains("pinpipe serve", output, StringComparison.Ordinal);
    }

    [Fact]
    public async Task A_table_with_another_schema_stops_the_job_with_an_error_naming_it()
    {
        await using var kit = await StreamTestKit.CreateAsync();
        string file = Path.Combine(kit.DataDir, "other.parquet");
        using (var duck = new PinPipe.Tests.Transform.TransformTestKit())
            duck.Execute($"COPY (SELECT 1::BIGINT AS x) TO '{file}' (FORMAT parquet)");
        var other = new PinPipe.Lake.Delta.DeltaSchema(new PinPipe.Lake.Delta.DeltaField("x", PinPipe.Lake.Delta.DeltaType.Long));
        await kit.Table(RecordKind.Pin).CommitAsync(new PinPipe.Lake.Delta.DeltaWrite(other, [file]));
        await kit.AppendAsync(RecordKind.Pin, StreamTestKit.Synthetic(RecordKind.Pin, 1, 5));

        var (code, output) = await CliProcess.RunAsync(kit.DataDir, Timeout, "stream", "--data-dir", kit.DataDir, "--trigger", "50ms");
        Assert.Equal(1, code);
        Assert.Contains("error: ", output, StringComparison.Ordinal);
        Assert.Contains(kit.Target.TablePrefix(RecordKind.Pin), output, StringComparison.Ordinal);
        Assert.Contains("schema", output, StringComparison.Ordinal);
        Assert.Equal(0, (await kit.Table(RecordKind.Pin).LoadAsync())!.Version);
    }

    [Fact]
    public async Task The_process_commits_the_streams_and_stops_cleanly_on_ctrl_c()
    {
        await using var kit = await StreamTestKit.CreateAsync();
        foreach (var kind in StreamTestKit.Kinds) await kit.AppendAsync(kind, [.. StreamTestKit.Synthetic(kind, 1, 200), .. StreamTestKit.Synthetic(kind, 150, 100)]);
        await using var process = CliProcess.Start(kit.DataDir, "stream", "--data-dir", kit.DataDir, "--trigger", "200ms", "--verbose"); // --verbose: each micro-batch is logged
        var deadline = DateTime.UtcNow + Timeout;
        while (!await kit.CaughtUpAsync())
        {
            Assert.False(process.HasExited, process.Output);
            Assert.True(DateTime.UtcNow < deadline, process.Output);
            await Task.Delay(100);
        }
        Assert.Equal(0, await process.InterruptAsync(Timeout));
        Assert.Contains("micro-batch of", process.Output, StringComparison.Ordinal);
        Assert.Contains("Stopped:", process.Output, StringComparison.Ordinal);
        // The job set its default decay of freed memory (Stream:FreedMemoryDecay, 300 ms) and jemalloc reads it back; in a
        // process of its own, where no other test's job changes the process-wide setting.
        Assert.Contains(OperatingSystem.IsLinux()
            ? "Memory that DuckDB frees goes back to the system after 300 ms (jemalloc's decay, read back: 300 ms)."
            : "This platform's DuckDB has no jemalloc", process.Output, StringComparison.Ordinal);
        foreach (var kind in StreamTestKit.Kinds)
        {
            await kit.AssertTablesMatchBatchCleaningAsync(kind);
            Assert.Equal(249, (await kit.ReadDeltaAsync(kind)).Count);
        }
    }
}
