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
