using PinPipe.Configuration;

namespace PinPipe.Tests.Configuration;

public class ThreadPoolFloorTests
{
    [Fact]
    public void The_floor_is_the_cores_plus_two_threads_a_piece_of_work_capped()
    {
        Assert.Equal(Environment.ProcessorCount, ThreadPoolFloor.For(0));
        Assert.Equal(Environment.ProcessorCount, ThreadPoolFloor.For(-3));
        Assert.Equal(Environment.ProcessorCount + 8, ThreadPoolFloor.For(4));
        Assert.Equal(ThreadPoolFloor.Max, ThreadPoolFloor.For(10_000));
    }

    [Fact]
    public void Raising_the_floor_never_lowers_it()
    {
        ThreadPoolFloor.Raise(1);
        ThreadPool.GetMinThreads(out int workers, out _);
        Assert.True(workers >= ThreadPoolFloor.For(1), $"the pool's floor is {workers} worker threads, below {ThreadPoolFloor.For(1)}");

        ThreadPoolFloor.Raise(0);
        ThreadPool.GetMinThreads(out int after, out _);
        Assert.True(after >= workers, $"raising the floor to {ThreadPoolFloor.For(0)} lowered it from {workers} to {after}");
    }
}
