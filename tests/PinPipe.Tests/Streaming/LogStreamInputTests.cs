using DuckDB.NET.Data;
using Microsoft.Extensions.Logging.Abstractions;
using PinPipe.Log;
using PinPipe.Log.Sqlite;
using PinPipe.Streaming;
using PinPipe.Tests.Support;
using PinPipe.Transform;

namespace PinPipe.Tests.Streaming;

/// <summary><see cref="LogStreamInput"/> as one worker of a consumer group: what it reads while its leases run out and come back.</summary>
[System.Diagnostics.CodeAnalysis.SuppressMessage("Design", "CA1001", Justification = "xunit disposes the fields through IAsyncLifetime.DisposeAsync.")]
public sealed class LogStreamInputTests : IAsyncLifetime
{
    private const string Stream = "streaming-x";

    /// <summary>A member whose leases can run out and come back without the group changing (same generation).</summary>
    private sealed class LapsingMember : IGroupMember
    {
        public bool Lapsed { get; set; }
        public string Group => "g";
        public string MemberId => "m";
        public IReadOnlyList<LogPartition> Assignment => [new(Stream, 0), new(Stream, 1)];
        public long Generation => 1;
        public Task WaitForChangeAsync(long generation, CancellationToken cancellationToken = default) => Task.Delay(Timeout.Infinite, cancellationToken);
        public bool Owns(string topic, int partition) => !Lapsed && topic == Stream && partition is 0 or 1;
        public ValueTask CommitAsync(IReadOnlyList<TopicPartitionOffset> offsets, CancellationToken cancellationToken = default) => ValueTask.CompletedTask;
        public ValueTask DisposeAsync() => ValueTask.CompletedTask;
    }

    private readonly TempDirectory _dir = new("log-stream-input");
    private readonly LapsingMember _member = new();
    private readonly StreamTableMetrics _metrics = new("x_table", Stream);
    private readonly DuckDBConnection _db = new("DataSource=:memory:");
    private SqliteLog _log = null!;
    private MicroBatchCleaner _cleaner = null!;

    public async Task InitializeAsync()
    {
        _log = await SqliteLog.OpenAsync(new LogOptions { Path = _dir.File("log.db"), RetentionTime = null });
        await _log.CreateTopicAsync(Stream, 2);
        await _db.OpenAsync();
        _cleaner = new MicroBatchCleaner(_db, RecordKind.Pin);
    }

    public async Task DisposeAsync()
    {
        await _db.DisposeAsync();
        await _log.DisposeAsync();
        _metrics.Dispose();
        _dir.Dispose();
    }

    private async Task<LogStreamInput> OpenAsync(StreamOptions options)
    {
        var input = new LogStreamInput(options, _log, Stream, TimeProvider.System) { Member = _member };
        input.Bind("x_table", "memory://clean", "memory://rejects", _metrics, NullLogger.Instance);
        await input.OpenAsync(CancellationToken.None);
        return input;
    }

    private async Task AppendAsync(int perPartition)
    {
        var records = new List<LogRecord>();
        for (int p = 0; p < 2; p++)
            for (int i = 0; i < perPartition; i++)
                records.Add(new LogRecord(null, "{\"index\":1}"u8.ToArray(), p));
        await _log.AppendAsync(Stream, records);
    }

    /// <summary>One micro-batch's read from the input's position: the records read.</summary>
    private async Task<int> ReadAsync(LogStreamInput input)
    {
        input.Begin();
        _cleaner.Begin();
        using var rows = _cleaner.OpenRows();
        return await input.ReadAsync(10_000, new RawRows(rows), CancellationToken.None);
    }

    [Fact]
    public async Task A_resume_while_the_leases_ran_out_reads_the_partitions_again_once_a_heartbeat_renews_them_in_the_same_generation()
    {
        await AppendAsync(3);
        var input = await OpenAsync(new StreamOptions());

        // Heartbeats late: every lease runs out, and the table resumes (a micro-batch was dropped) while they are out.
        _member.Lapsed = true;
        await input.ResumeAsync(null, null, afterFailure: false, CancellationToken.None);
        Assert.False(input.MustResume);
        Assert.Equal(0, await ReadAsync(input)); // no lease, no read

        // The next heartbeat renews them in the same generation: no resume is due, and both partitions are read.
        _member.Lapsed = false;
        Assert.False(input.MustResume);
        Assert.Equal(6, await ReadAsync(input));
    }

    [Fact]
    public async Task A_start_the_resume_could_not_record_while_the_leases_ran_out_makes_the_table_resume_once_they_are_back()
    {
        await AppendAsync(3);
        var input = await OpenAsync(new StreamOptions { From = StreamStart.Latest });

        _member.Lapsed = true;
        var (clean, rejects) = await input.ResumeAsync(null, null, afterFailure: false, CancellationToken.None);
        Assert.Empty(clean); // not owned now: another worker may own the partitions and record their start
        Assert.Empty(rejects);
        Assert.False(input.MustResume);

        _member.Lapsed = false;
        Assert.Equal(0, await ReadAsync(input)); // read only once its start is recorded
        Assert.True(input.MustResume);
        (clean, rejects) = await input.ResumeAsync(null, null, afterFailure: false, CancellationToken.None);
        Assert.Equal(4, clean.Count); // each partition's offset and its start, at the log's end
        Assert.All(clean, t => Assert.Equal(3, t.Version));
        Assert.Equal(4, rejects.Count);
        Assert.False(input.MustResume);

        await AppendAsync(2);
        Assert.Equal(4, await ReadAsync(input)); // from the start on
    }
}
