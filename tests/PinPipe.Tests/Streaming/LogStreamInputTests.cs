using Microsoft.Extensions.Logging.Abstractions;
using PinPipe.Log;
using PinPipe.Log.Sqlite;
using PinPipe.Streaming;
using PinPipe.Tests.Support;

namespace PinPipe.Tests.Streaming;

/// <summary><see cref="LogStreamInput"/> as one worker of a consumer group: when it must read its positions again.</summary>
public sealed class LogStreamInputTests
{
    /// <summary>A member whose leases can run out and come back without the group changing (same generation).</summary>
    private sealed class LapsingMember : IGroupMember
    {
        public bool Lapsed { get; set; }
        public string Group => "g";
        public string MemberId => "m";
        public IReadOnlyList<LogPartition> Assignment => [new("streaming-x", 0), new("streaming-x", 1)];
        public long Generation => 1;
        public Task WaitForChangeAsync(long generation, CancellationToken cancellationToken = default) => Task.Delay(Timeout.Infinite, cancellationToken);
        public bool Owns(string topic, int partition) => !Lapsed && topic == "streaming-x" && partition is 0 or 1;
        public ValueTask CommitAsync(IReadOnlyList<TopicPartitionOffset> offsets, CancellationToken cancellationToken = default) => ValueTask.CompletedTask;
        public ValueTask DisposeAsync() => ValueTask.CompletedTask;
    }

    [Fact]
    public async Task Partitions_whose_lease_came_back_after_a_resume_that_found_them_lapsed_make_the_table_resume_again()
    {
        using var dir = new TempDirectory("log-stream-input");
        await using var log = await SqliteLog.OpenAsync(new LogOptions { Path = dir.File("log.db"), RetentionTime = null });
        await log.CreateTopicAsync("streaming-x", 2);
        var member = new LapsingMember();
        var input = new LogStreamInput(new StreamOptions(), log, "streaming-x", TimeProvider.System) { Member = member };
        using var metrics = new StreamTableMetrics("x_table", "streaming-x");
        input.Bind("x_table", "memory://clean", "memory://rejects", metrics, NullLogger.Instance);
        await input.OpenAsync(CancellationToken.None);

        await input.ResumeAsync(null, null, afterFailure: false, CancellationToken.None);
        Assert.False(input.MustResume); // owned at the resume, still owned

        // Heartbeats late: every lease runs out, and the table resumes (a micro-batch was dropped) while they are out.
        member.Lapsed = true;
        Assert.False(input.MustResume);
        await input.ResumeAsync(null, null, afterFailure: false, CancellationToken.None);
        Assert.False(input.MustResume);

        // The next heartbeat renews them in the same generation: the partitions must be read again, from the tables.
        member.Lapsed = false;
        Assert.True(input.MustResume);
        await input.ResumeAsync(null, null, afterFailure: false, CancellationToken.None);
        Assert.False(input.MustResume);
    }
}
