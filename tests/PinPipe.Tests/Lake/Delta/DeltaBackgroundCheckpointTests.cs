using System.Text.Json;
using Microsoft.Extensions.Logging;
using PinPipe.Lake;
using PinPipe.Lake.Delta;
using PinPipe.Lake.Directory;
using PinPipe.Tests.Log;
using PinPipe.Tests.Support;
using static PinPipe.Tests.Lake.Delta.DeltaTestKit;

namespace PinPipe.Tests.Lake.Delta;

/// <summary>
/// <see cref="DeltaTable.CheckpointInBackground"/>: a commit returns before the checkpoint due after it is written, the
/// commits made meanwhile do not wait for it, one due while another is written is skipped, a failed one is logged and
/// changes nothing, and the writer's cached state leaves its tombstones in the checkpoint once it is written.
/// </summary>
public sealed class DeltaBackgroundCheckpointTests : IDisposable
{
    private static readonly DeltaSchema Schema = IndNameSchema;
    private static readonly TimeSpan Patience = TimeSpan.FromSeconds(60); // a hang fails the test instead of stopping the suite

    private readonly TempDirectory _dir = new("delta-bgcp");
    private readonly DirectoryObjectStore _store;
    private readonly CheckpointGate _gated;
    // Two hours ahead of the files' real modification times: VACUUM with no retention deletes a removed file for its tombstone alone.
    private readonly ManualTimeProvider _clock = new(DateTimeOffset.UtcNow + TimeSpan.FromHours(2));
    private int _next;

    public DeltaBackgroundCheckpointTests()
    {
        _store = new DirectoryObjectStore(_dir.File("bucket"), "b");
        _gated = new CheckpointGate(_store);
    }

    public void Dispose()
    {
        _gated.Release();
        _dir.Dispose();
    }

    private DeltaTable Table(ILogger? logger = null) => new(_gated, "t", logger, _clock) { CheckpointInBackground = true };

    private string Rows()
    {
        string file = IndNameRows(_dir.Path, _next, 2);
        _next += 2;
        return file;
    }

    /// <summary>Appends until the table's version is <paramref name="version"/>; returns each commit's result.</summary>
    private async Task<List<DeltaCommitResult>> AppendToAsync(DeltaTable table, long version)
    {
        var results = new List<DeltaCommitResult>();
        while (((await table.LatestAsync())?.Version ?? -1) < version)
            results.Add(await table.CommitAsync(new DeltaWrite(Schema, [Rows()])).WaitAsync(Patience));
        return results;
    }

    private bool CheckpointExists(long version) => File.Exists(_store.LocalPath($"t/_delta_log/{version:D20}.checkpoint.parquet")!);

    private async Task<long> PointerVersionAsync()
    {
        using var pointer = JsonDocument.Parse((await _store.GetAsync("t/_delta_log/_last_checkpoint"))!);
        return pointer.RootElement.GetProperty("version").GetInt64();
    }

    [Fact]
    public async Task A_commit_returns_before_its_checkpoint_is_written_and_the_commits_meanwhile_do_not_wait_for_it()
    {
        var table = Table();
        _gated.Hold();
        var first = (await AppendToAsync(table, 4)).SelectMany(r => r.Added).Select(f => f.Path).ToList();
        var compaction = await table.CommitAsync(new DeltaWrite(Schema, [Rows()]) { Removes = [.. first], DataChange = false, Operation = "OPTIMIZE" }); // v5: 5 tombstones
        Assert.Equal(5, compaction.Version);
        var upToTen = await AppendToAsync(table, 10);
        Assert.Equal((10L, false), (upToTen[^1].Version, upToTen[^1].Checkpointed));

        // The checkpoint of v10 is being written (its upload waits at the gate); three more commits land meanwhile.
        await _gated.Entered.WaitAsync(Patience);
        Assert.False(CheckpointExists(10));
        Assert.False(table.CheckpointsWrittenAsync().IsCompleted);
        await AppendToAsync(table, 13);
        var before = (await table.LatestAsync())!.State;
        Assert.Equal((13L, -1L), (before.Version, before.TombstoneBaseVersion));
        Assert.Equal(first.Order(StringComparer.Ordinal), before.Tombstones.Keys.Order(StringComparer.Ordinal));

        _gated.Release();
        await table.CheckpointsWrittenAsync().WaitAsync(Patience);
        Assert.True(CheckpointExists(10));
        Assert.Equal(10, await PointerVersionAsync());

        // The writer's state, three versions past it, now leaves the five tombstones in the checkpoint.
        var after = (await table.LatestAsync())!.State;
        Assert.Equal((13L, 10L), (after.Version, after.TombstoneBaseVersion));
        Assert.Empty(after.Tombstones);
        var fresh = (await new DeltaTable(_store, "t").LoadAsync())!;
        Assert.Equal(13, fresh.Version);
        Assert.Equal(after.Files.Keys.Order(StringComparer.Ordinal), fresh.Files.Select(f => f.Path).Order(StringComparer.Ordinal));
        var all = (await new DeltaTable(_store, "t", null, _clock).VacuumAsync(TimeSpan.Zero, dryRun: true))!;
        Assert.Equal(first.Select(p => "t/" + p).Order(StringComparer.Ordinal), all.Deleted.Select(d => d.Key).Order(StringComparer.Ordinal));
    }

    [Fact]
    public async Task A_checkpoint_due_while_another_is_written_is_skipped_and_the_next_due_one_is_written()
    {
        var table = Table();
        _gated.Hold();
        await AppendToAsync(table, 10);
        await _gated.Entered.WaitAsync(Patience);
        await AppendToAsync(table, 21); // v20 falls due while v10's is held
        _gated.Release();
        await table.CheckpointsWrittenAsync().WaitAsync(Patience);
        Assert.True(CheckpointExists(10));
        Assert.False(CheckpointExists(20));
        Assert.Equal(10, await PointerVersionAsync());

        var results = await AppendToAsync(table, 30);
        await table.CheckpointsWrittenAsync().WaitAsync(Patience);
        Assert.All(results, r => Assert.False(r.Checkpointed));
        Assert.True(CheckpointExists(30));
        Assert.Equal(30, await PointerVersionAsync());
        Assert.Equal(30, (await new DeltaTable(_store, "t").LoadAsync())!.Version);
    }

    [Fact]
    public async Task A_due_checkpoint_sooner_than_the_minimum_interval_after_the_last_is_skipped_until_the_next_due_version_after_it()
    {
        var table = new DeltaTable(_gated, "t", null, _clock) { CheckpointInBackground = true, CheckpointMinInterval = TimeSpan.FromSeconds(10) };
        await AppendToAsync(table, 10);
        await table.CheckpointsWrittenAsync().WaitAsync(Patience);
        _clock.Advance(TimeSpan.FromSeconds(9));
        await AppendToAsync(table, 20); // 9 s after the checkpoint of v10: v20's is skipped
        await table.CheckpointsWrittenAsync().WaitAsync(Patience);
        _clock.Advance(TimeSpan.FromSeconds(1));
        await AppendToAsync(table, 29); // 10 s after it, but no version is due until v30
        await table.CheckpointsWrittenAsync().WaitAsync(Patience);
        Assert.Equal((true, false), (CheckpointExists(10), CheckpointExists(20)));
        Assert.Equal(10, await PointerVersionAsync());

        await AppendToAsync(table, 30);
        await table.CheckpointsWrittenAsync().WaitAsync(Patience);
        Assert.True(CheckpointExists(30));
        Assert.Equal(30, await PointerVersionAsync());
        Assert.Equal(30, (await new DeltaTable(_store, "t").LoadAsync())!.Version);
    }

    [Fact]
    public async Task A_background_checkpoint_that_fails_is_logged_and_the_commits_and_the_next_checkpoint_go_on()
    {
        using var logs = new CapturedLogs();
        var table = Table(logs.CreateLogger("delta"));
        _gated.FailNext = true;
        await AppendToAsync(table, 10);
        await table.CheckpointsWrittenAsync().WaitAsync(Patience); // completes: the failure is not thrown
        Assert.False(CheckpointExists(10));
        Assert.False(await _store.ExistsAsync("t/_delta_log/_last_checkpoint"));
        var warning = Assert.Single(logs.Entries, e => e.Level == LogLevel.Warning);
        Assert.Contains("checkpoint of version 10 failed", warning.Message, StringComparison.Ordinal);
        Assert.IsType<IOException>(warning.Exception);

        await AppendToAsync(table, 20);
        await table.CheckpointsWrittenAsync().WaitAsync(Patience);
        Assert.True(CheckpointExists(20));
        Assert.Equal(20, await PointerVersionAsync());
        var fresh = (await new DeltaTable(_store, "t").LoadAsync())!;
        Assert.Equal(20, fresh.Version);
        Assert.Equal(21, fresh.Files.Count);
    }

    /// <summary>Holds the upload of a checkpoint at a gate until released, or fails the next one.</summary>
    private sealed class CheckpointGate(IObjectStore inner) : RemoteLikeStore(inner)
    {
        private readonly TaskCompletionSource _entered = new(TaskCreationOptions.RunContinuationsAsynchronously);
        private TaskCompletionSource _open = Opened();

        private static TaskCompletionSource Opened()
        {
            var open = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
            open.SetResult();
            return open;
        }

        public void Hold() => _open = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);

        public void Release() => _open.TrySetResult();

        public Task Entered => _entered.Task;

        public bool FailNext { get; set; }

        public override async ValueTask PutFileAsync(string key, string localPath, CancellationToken cancellationToken = default)
        {
            if (key.Contains(".checkpoint.", StringComparison.Ordinal))
            {
                if (FailNext)
                {
                    FailNext = false;
                    throw new IOException("injected: the checkpoint upload failed");
                }
                _entered.TrySetResult();
                await _open.Task.WaitAsync(cancellationToken).ConfigureAwait(false);
            }
            await base.PutFileAsync(key, localPath, cancellationToken).ConfigureAwait(false);
        }
    }
}
