using PinPipe.Streaming;

namespace PinPipe.Tests.Streaming;

public sealed class MaintenanceSlotTests
{
    [Fact]
    public void One_taker_at_a_time_and_a_release_frees_it_for_the_next()
    {
        var slot = new MaintenanceSlot();
        Assert.False(slot.Taken);
        Assert.True(slot.TryTake());
        Assert.True(slot.Taken);
        Assert.False(slot.TryTake());
        slot.Release();
        Assert.False(slot.Taken);
        Assert.True(slot.TryTake());
    }

    [Fact]
    public void With_two_slots_two_take_one_each_and_a_third_waits_for_a_release()
    {
        var slot = new MaintenanceSlot(2);
        Assert.True(slot.TryTake());
        Assert.False(slot.Taken);
        Assert.True(slot.TryTake());
        Assert.True(slot.Taken);
        Assert.False(slot.TryTake());
        slot.Release();
        Assert.True(slot.TryTake());
        slot.Release();
        slot.Release();
        Assert.Throws<InvalidOperationException>(slot.Release);
        Assert.True(slot.TryTake()); // the refused release changed nothing: two free
        Assert.True(slot.TryTake());
        Assert.False(slot.TryTake());
    }

    [Theory]
    [InlineData(3, 1, 1)]
    [InlineData(3, 2, 1)]
    [InlineData(3, 3, 1)]
    [InlineData(3, 4, 2)]
    [InlineData(3, 8, 3)]
    [InlineData(3, 64, 3)]
    [InlineData(1, 8, 1)]
    [InlineData(0, 8, 1)]
    public void A_job_gets_one_slot_per_two_cores_at_least_one_and_at_most_one_per_table(int tables, int cores, int slots) =>
        Assert.Equal(slots, MaintenanceSlot.For(tables, cores));

    [Fact]
    public void A_slot_count_below_one_is_refused() =>
        Assert.Throws<ArgumentOutOfRangeException>(() => new MaintenanceSlot(0));

    [Fact]
    public void Releasing_a_slot_nobody_took_is_a_bug_and_throws()
    {
        var slot = new MaintenanceSlot();
        var ex = Assert.Throws<InvalidOperationException>(slot.Release);
        Assert.Equal("The maintenance slot was released but not taken.", ex.Message);
    }

    [Fact]
    public async Task Of_many_threads_racing_for_it_exactly_one_takes_it()
    {
        var slot = new MaintenanceSlot();
        using var start = new Barrier(8);
        // A thread each (not pool threads, which the pool adds slowly): all eight wait at the barrier, then race.
        var takers = await Task.WhenAll(Enumerable.Range(0, 8).Select(_ => Task.Factory.StartNew(() =>
        {
            start.SignalAndWait();
            return slot.TryTake();
        }, CancellationToken.None, TaskCreationOptions.LongRunning, TaskScheduler.Default)));
        Assert.Single(takers, t => t);
    }
}
