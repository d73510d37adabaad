using PinPipe.Streaming;

namespace PinPipe.Tests.Streaming;

public sealed class MicroBatchTriggerTests
{
    /// <summary>Timestamps in milliseconds: the tests pass them in.</summary>
    private sealed class Clock : TimeProvider
    {
        public override long TimestampFrequency => 1_000;
    }

    private static MicroBatchTrigger Trigger() => new(TimeSpan.FromMilliseconds(100), new Clock());

    [Fact]
    public void The_first_micro_batch_closes_one_trigger_after_its_first_read()
    {
        Assert.Equal(600, Trigger().CloseAt(readAt: 500, waiting: true));
        Assert.Equal(600, Trigger().CloseAt(readAt: 500, waiting: false));
    }

    [Fact]
    public void While_records_keep_coming_micro_batches_close_one_trigger_apart_and_one_after_a_slow_one_closes_at_once()
    {
        var trigger = Trigger();
        trigger.Closed(600);
        // It took 40 ms: the next waits out the interval, not a whole trigger after its first read.
        Assert.Equal(700, trigger.CloseAt(readAt: 640, waiting: true));
        trigger.Closed(700);
        // It took 250 ms: the next closes as soon as it has read what came meanwhile.
        Assert.Equal(800, trigger.CloseAt(readAt: 950, waiting: true));
        trigger.Closed(955);
        Assert.Equal(1_055, trigger.CloseAt(readAt: 990, waiting: true));
    }

    [Theory]
    [InlineData(801, 900)]
    [InlineData(800, 900)]
    [InlineData(899, 900)]
    [InlineData(900, 900)]
    [InlineData(901, 1_000)]
    [InlineData(1_234, 1_300)]
    public void After_an_idle_spell_the_first_record_closes_its_micro_batch_at_the_next_tick_at_most_one_trigger_later(long readAt, long closeAt)
    {
        var trigger = Trigger();
        trigger.Closed(800);
        Assert.Equal(closeAt, trigger.CloseAt(readAt, waiting: false));
        Assert.InRange(closeAt - readAt, 0, 100);
    }

    [Fact]
    public void A_trigger_of_an_hour_does_not_overflow_a_nanosecond_clock()
    {
        var trigger = new MicroBatchTrigger(TimeSpan.FromHours(1), TimeProvider.System);
        long now = TimeProvider.System.GetTimestamp();
        Assert.Equal(now + (3_600 * TimeProvider.System.TimestampFrequency), trigger.CloseAt(now, waiting: true));
    }
}
