using PinPipe.Scheduling;
using PinPipe.Tests.Support;

namespace PinPipe.Tests.Scheduling;

/// <summary>The run lock file: one holder at a time, released on dispose. (Across processes: see the CLI's schedule tests.)</summary>
public sealed class BatchRunLockTests
{
    [Fact]
    public void A_second_acquire_fails_while_the_lock_is_held_and_succeeds_after_dispose()
    {
        using var dir = new TempDirectory("lock");
        var path = dir.File("deep/runs.db.lock");
        var first = BatchRunLock.TryAcquire(path);
        Assert.NotNull(first);
        Assert.Equal(path, first.Path);
        Assert.True(File.Exists(path));

        Assert.Null(BatchRunLock.TryAcquire(path));
        Assert.Null(BatchRunLock.TryAcquire(Path.Combine(dir.Path, "deep", "..", "deep", "runs.db.lock")));

        first.Dispose();
        using var second = BatchRunLock.TryAcquire(path);
        Assert.NotNull(second);
    }

    [Fact]
    public void The_run_lock_of_a_history_is_next_to_it()
    {
        using var dir = new TempDirectory("lock");
        Assert.Equal(dir.File("runs.db") + ".lock", BatchRunLock.PathFor(dir.File("runs.db")));
    }
}
