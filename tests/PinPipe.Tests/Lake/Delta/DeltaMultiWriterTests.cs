using PinPipe.Lake;
using PinPipe.Lake.Delta;
using PinPipe.Lake.Directory;
using PinPipe.Lake.S3;
using PinPipe.Tests.Support;
using Xunit.Abstractions;
using static PinPipe.Tests.Lake.Delta.DeltaTestKit;

namespace PinPipe.Tests.Lake.Delta;

/// <summary>
/// Several writers of one Delta table (stream workers, each owning some partitions and recording each one's next offset
/// as a txn): every commit lands once at a contiguous version; a writer whose app id another writer advanced meanwhile is
/// fenced (<see cref="DeltaErrorCode.ConcurrentTransaction"/>); an overwrite conflicts with a concurrent append; a
/// compaction retries over one. Run on the directory store and on S3 (s3rver behind <see cref="ConditionalPutProxy"/>).
/// </summary>
public abstract class DeltaMultiWriterContract(ITestOutputHelper output)
{
    private const string Table = "t";
    private const string FirstCommit = "t/_delta_log/00000000000000000001.json";

    /// <summary>Where the writers write their Parquet files.</summary>
    protected abstract TempDirectory Temp { get; }

    /// <summary>The store the writers share.</summary>
    protected abstract IObjectStore Store { get; }

    /// <summary>Conditional puts the store refused (412) so far, or null when it cannot tell.</summary>
    protected abstract int? Refused { get; }

    private DeltaWrite Write(string tag, params DeltaTxn[] txns) =>
        new(DeltaTableWriteTests.EventSchema, [DeltaTableWriteTests.EventFile(Temp.Path, tag)]) { Txns = txns };

    private async Task<List<string>> DataFilesAsync() =>
        (await KeysAsync(Store, Table + "/")).Where(k => !k.Contains("_delta_log", StringComparison.Ordinal)).Order(StringComparer.Ordinal).ToList();

    private async Task<DeltaSnapshot> LoadAsync() => (await new DeltaTable(Store, Table).LoadAsync())!;

    /// <summary>Only the files the table references remain under its prefix: nothing a failed or skipped write uploaded.</summary>
    private async Task AssertNoUnreferencedFilesAsync(DeltaSnapshot s) =>
        Assert.Equal(s.Files.Select(f => s.KeyOf(f)).Order(StringComparer.Ordinal), await DataFilesAsync());

    [Fact]
    public async Task Four_writers_with_their_own_app_ids_commit_forty_batches_each_once_at_contiguous_versions()
    {
        const int writers = 4, batches = 10;
        await new DeltaTable(Store, Table).CommitAsync(Write("base"));
        var files = Enumerable.Range(0, writers).Select(w => Enumerable.Range(1, batches).Select(b => DeltaTableWriteTests.EventFile(Temp.Path, $"w{w}-{b}")).ToList()).ToList();
        using var start = new ManualResetEventSlim();
        var tasks = Enumerable.Range(0, writers).Select(w => Task.Run(async () =>
        {
            var table = new DeltaTable(Store, Table); // each worker has its own instance, as separate processes do
            start.Wait();
            var results = new List<DeltaCommitResult>();
            for (int b = 1; b <= batches; b++)
                results.Add(await table.CommitAsync(new DeltaWrite(DeltaTableWriteTests.EventSchema, [files[w][b - 1]]) { Txn = new DeltaTxn($"partition-{w}", b), Operation = "STREAMING UPDATE" }));
            return results;
        })).ToArray();
        start.Set();
        var all = (await Task.WhenAll(tasks)).SelectMany(r => r).ToList();
        output.WriteLine($"{all.Count} commits in {all.Sum(r => r.Attempts)} attempts; the store refused {Refused?.ToString(System.Globalization.CultureInfo.InvariantCulture) ?? "(not counted)"} conditional puts.");

        Assert.All(all, r => Assert.Equal(DeltaCommitStatus.Committed, r.Status));
        Assert.Equal(Enumerable.Range(1, writers * batches).Select(v => (long)v), all.Select(r => r.Version).Order());
        var commits = (await KeysAsync(Store, Table + "/_delta_log/")).Where(k => k.EndsWith(".json", StringComparison.Ordinal)).ToList();
        Assert.Equal(Enumerable.Range(0, writers * batches + 1).Select(v => $"{Table}/_delta_log/{v:D20}.json"), commits.Order(StringComparer.Ordinal));

        var s = await LoadAsync();
        Assert.Equal(writers * batches, s.Version);
        Assert.Equal(writers * batches + 1, s.Files.Count);
        var live = s.Files.Select(f => f.Path).ToHashSet(StringComparer.Ordinal);
        Assert.All(all.SelectMany(r => r.Added), f => Assert.Contains(f.Path, live));
        Assert.Equal(Enumerable.Range(0, writers).ToDictionary(w => $"partition-{w}", _ => (long)batches), s.Txns);
        await AssertNoUnreferencedFilesAsync(s);
        var ids = (await ReadAllAsync(s)).Select(r => (string)r[0]!).Where(id => id.StartsWith("a1-", StringComparison.Ordinal)).Order(StringComparer.Ordinal).ToList();
        Assert.Equal(Enumerable.Range(0, writers).SelectMany(w => Enumerable.Range(1, batches).Select(b => $"a1-w{w}-{b}")).Append("a1-base").Order(StringComparer.Ordinal), ids);
    }

    /// <summary>
    /// The store, except that this writer's first put-if-absent on <paramref name="key"/> says it arrived, waits for
    /// <paramref name="waitFor"/>, and says when it is done: two writers that read the same version commit in a set order.
    /// </summary>
    private sealed class TurnStore(IObjectStore inner, string key, Task waitFor, TaskCompletionSource arrived, TaskCompletionSource done) : RemoteLikeStore(inner)
    {
        private int _first;

        public override async ValueTask<bool> PutIfAbsentAsync(string k, ReadOnlyMemory<byte> content, CancellationToken cancellationToken = default)
        {
            if (k != key || Interlocked.Exchange(ref _first, 1) == 1) return await base.PutIfAbsentAsync(k, content, cancellationToken);
            arrived.TrySetResult();
            await waitFor.WaitAsync(TimeSpan.FromSeconds(60), cancellationToken);
            try
            {
                return await base.PutIfAbsentAsync(k, content, cancellationToken);
            }
            finally
            {
                done.TrySetResult();
            }
        }
    }

    /// <summary>Two writers that read version 0 and both try version 1; <c>first</c>'s put goes first, once <c>second</c> has read and uploaded.</summary>
    private static (IObjectStore First, IObjectStore Second) InTurn(IObjectStore store, string key)
    {
        var firstArrived = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var firstDone = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var secondArrived = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var secondDone = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        return (new TurnStore(store, key, secondArrived.Task, firstArrived, firstDone), new TurnStore(store, key, firstDone.Task, secondArrived, secondDone));
    }

    [Fact]
    public async Task Of_two_writers_of_one_app_id_from_one_read_version_the_one_behind_commits_and_the_other_is_fenced()
    {
        await new DeltaTable(Store, Table).CommitAsync(Write("base", new DeltaTxn("partition-0", 3)));
        var (first, second) = InTurn(Store, FirstCommit);
        int refusedBefore = Refused ?? 0;

        // The new owner of partition 0 commits offsets 3..5; the old owner, which read the same version, offsets 3..7.
        var newOwner = new DeltaTable(first, Table).CommitAsync(Write("new-owner", new DeltaTxn("partition-0", 5)));
        var oldOwner = new DeltaTable(second, Table).CommitAsync(Write("old-owner", new DeltaTxn("partition-0", 7), new DeltaTxn("partition-1", 2)));
        var committed = await newOwner;
        var e = await Assert.ThrowsAsync<DeltaException>(() => oldOwner);

        Assert.Equal((DeltaCommitStatus.Committed, 1L), (committed.Status, committed.Version));
        Assert.Equal(DeltaErrorCode.ConcurrentTransaction, e.Code);
        Assert.Equal("delta.concurrent_transaction", e.ErrorCode);
        Assert.False(e.IsRetriable);
        Assert.Contains("txn app id 'partition-0' was moved to version 5 by a concurrent commit (versions 1..1) after this write read version 0 (where it was 3)", e.Message, StringComparison.Ordinal);
        Assert.Contains("this write's txn version 7", e.Message, StringComparison.Ordinal);
        if (Refused is { } refused) Assert.True(refused > refusedBefore, "the server refused the second writer's put of version 1");

        var s = await LoadAsync();
        Assert.Equal(1, s.Version);
        Assert.Equal(new Dictionary<string, long> { ["partition-0"] = 5 }, s.Txns);
        var ids = (await ReadAllAsync(s)).Select(r => (string)r[0]!).ToList();
        Assert.Contains("a1-new-owner", ids);
        Assert.DoesNotContain("a1-old-owner", ids);
        await AssertNoUnreferencedFilesAsync(s); // the fenced writer's upload was deleted
    }

    [Fact]
    public async Task A_writer_is_fenced_by_a_commit_of_its_app_id_after_its_read_version_even_one_before_it_started_committing()
    {
        await new DeltaTable(Store, Table).CommitAsync(Write("base", new DeltaTxn("partition-0", 3)));
        var resumed = (await new DeltaTable(Store, Table).LoadAsync())!;
        Assert.Equal(3, resumed.Txns["partition-0"]);
        // Another worker took partition 0 and committed twice, then an unrelated commit.
        await new DeltaTable(Store, Table).CommitAsync(Write("other-1", new DeltaTxn("partition-0", 4)));
        await new DeltaTable(Store, Table).CommitAsync(Write("other-2", new DeltaTxn("partition-0", 6)));
        await new DeltaTable(Store, Table).CommitAsync(Write("unrelated", new DeltaTxn("partition-1", 1)));

        var stale = new DeltaTable(Store, Table);
        var e = await Assert.ThrowsAsync<DeltaException>(() => stale.CommitAsync(Write("stale", new DeltaTxn("partition-0", 9)) with { ReadVersion = resumed.Version }));
        Assert.Equal(DeltaErrorCode.ConcurrentTransaction, e.Code);
        Assert.Contains("txn app id 'partition-0' was moved to version 6 by a concurrent commit (versions 1..3) after this write read version 0", e.Message, StringComparison.Ordinal);
        // Without ReadVersion the same write reads version 3 and commits over the other worker's offsets: callers must pass it.
        var s = await LoadAsync();
        Assert.Equal(3, s.Version);
        await AssertNoUnreferencedFilesAsync(s); // fenced before uploading

        // A write whose app ids nobody else wrote since its read version commits; a read version the table does not have is refused.
        var fine = await stale.CommitAsync(Write("p2", new DeltaTxn("partition-2", 1)) with { ReadVersion = resumed.Version });
        Assert.Equal((DeltaCommitStatus.Committed, 4L), (fine.Status, fine.Version));
        var ahead = await Assert.ThrowsAsync<DeltaException>(() => stale.CommitAsync(Write("x", new DeltaTxn("partition-3", 1)) with { ReadVersion = 99 }));
        Assert.Equal(DeltaErrorCode.InvalidWrite, ahead.Code);
        Assert.Contains("ReadVersion 99 is not a version of Delta table", ahead.Message, StringComparison.Ordinal);
        var negative = await Assert.ThrowsAsync<DeltaException>(() => stale.CommitAsync(Write("x", new DeltaTxn("partition-3", 1)) with { ReadVersion = -1 }));
        Assert.Equal(DeltaErrorCode.InvalidWrite, negative.Code);
        // A txn already at or past the write's version is still a skip, not an error.
        var skipped = await stale.CommitAsync(Write("again", new DeltaTxn("partition-0", 6)) with { ReadVersion = resumed.Version });
        Assert.Equal((DeltaCommitStatus.AlreadyCommitted, 4L), (skipped.Status, skipped.Version));
        await AssertNoUnreferencedFilesAsync(await LoadAsync());
    }

    [Fact]
    public async Task An_overwrite_conflicts_with_a_concurrent_append_and_removes_nothing_it_did_not_read()
    {
        await new DeltaTable(Store, Table).CommitAsync(Write("base"));
        var (first, second) = InTurn(Store, FirstCommit);
        var append = new DeltaTable(first, Table).CommitAsync(Write("appended"));
        var overwrite = new DeltaTable(second, Table).CommitAsync(Write("replacement") with { Mode = DeltaWriteMode.Overwrite });
        Assert.Equal(1, (await append).Version);
        var e = await Assert.ThrowsAsync<DeltaException>(() => overwrite);

        Assert.Equal(DeltaErrorCode.Conflict, e.Code);
        Assert.True(e.IsRetriable);
        Assert.Contains("a concurrent commit (versions 1..1) added 1 file(s)", e.Message, StringComparison.Ordinal);
        Assert.Contains("the overwrite was not committed", e.Message, StringComparison.Ordinal);
        var s = await LoadAsync();
        Assert.Equal(1, s.Version);
        Assert.Equal(["a1-appended", "a1-base"], (await ReadAllAsync(s)).Select(r => (string)r[0]!).Where(id => id.StartsWith("a1-", StringComparison.Ordinal)).Order(StringComparer.Ordinal));
        await AssertNoUnreferencedFilesAsync(s);

        // Run again on the new version, it replaces both.
        var again = await new DeltaTable(Store, Table).CommitAsync(Write("replacement") with { Mode = DeltaWriteMode.Overwrite });
        Assert.Equal(2, again.Version);
        Assert.Single((await LoadAsync()).Files);
    }

    [Fact]
    public async Task An_overwrite_retries_over_a_concurrent_commit_that_changed_no_files()
    {
        await new DeltaTable(Store, Table).CommitAsync(Write("base"));
        var (first, second) = InTurn(Store, FirstCommit);
        var offsetsOnly = new DeltaTable(first, Table).CommitAsync(new DeltaWrite(DeltaTableWriteTests.EventSchema, []) { Txn = new DeltaTxn("partition-0", 1) });
        var overwrite = new DeltaTable(second, Table).CommitAsync(Write("replacement") with { Mode = DeltaWriteMode.Overwrite });
        Assert.Equal(1, (await offsetsOnly).Version);
        var result = await overwrite;
        Assert.Equal((DeltaCommitStatus.Committed, 2L, 2), (result.Status, result.Version, result.Attempts));
        var s = await LoadAsync();
        Assert.Equal(result.Added.Select(f => f.Path), s.Files.Select(f => f.Path));
        Assert.Equal(1, s.Txns["partition-0"]);
    }

    [Fact]
    public async Task A_compaction_retries_over_a_concurrent_append_and_keeps_the_appended_file()
    {
        var a = await new DeltaTable(Store, Table).CommitAsync(Write("a"));
        var (first, second) = InTurn(Store, FirstCommit);
        var append = new DeltaTable(first, Table).CommitAsync(Write("appended"));
        var compaction = new DeltaTable(second, Table).CommitAsync(Write("a-compacted") with { Removes = [a.Added[0].Path], DataChange = false, Operation = "OPTIMIZE" });
        var appended = await append;
        var compacted = await compaction;
        Assert.Equal((DeltaCommitStatus.Committed, 2L, 2), (compacted.Status, compacted.Version, compacted.Attempts));

        var s = await LoadAsync();
        Assert.Equal(new[] { appended.Added[0].Path, compacted.Added[0].Path }.Order(StringComparer.Ordinal), s.Files.Select(f => f.Path).Order(StringComparer.Ordinal));
        Assert.DoesNotContain(a.Added[0].Path, s.Files.Select(f => f.Path));
    }
}

/// <summary><see cref="DeltaMultiWriterContract"/> on the directory store (<c>link(2)</c>).</summary>
public sealed class DirectoryDeltaMultiWriterTests(ITestOutputHelper output) : DeltaMultiWriterContract(output), IDisposable
{
    private readonly TempDirectory _temp = new("delta-writers");
    private DirectoryObjectStore? _store;

    protected override TempDirectory Temp => _temp;

    protected override IObjectStore Store => _store ??= new DirectoryObjectStore(_temp.Path, "lake");

    protected override int? Refused => null;

    public void Dispose() => _temp.Dispose();
}

/// <summary>
/// <see cref="DeltaMultiWriterContract"/> on S3: s3rver (TEST_PINPIPE_S3) behind <see cref="ConditionalPutProxy"/>, which
/// enforces <c>If-None-Match: *</c> as S3 does, with <c>ObjectStore:ConditionalWrites=true</c>.
/// </summary>
public sealed class S3DeltaMultiWriterTests(ITestOutputHelper output) : DeltaMultiWriterContract(output), IAsyncLifetime, IDisposable
{
    private readonly TempDirectory _temp = new("delta-writers-s3");
    private readonly string _bucket = "pinpipe-writers-" + Guid.NewGuid().ToString("N")[..16];
    private ConditionalPutProxy _proxy = null!;
    private S3ObjectStore _store = null!;

    protected override TempDirectory Temp => _temp;

    protected override IObjectStore Store => _store;

    protected override int? Refused => _proxy.Refused;

    public async Task InitializeAsync() => (_proxy, _store) = await S3ConditionalWriteTests.OpenAsync(_bucket);

    public async Task DisposeAsync() => await _proxy.DisposeAsync();

    public void Dispose()
    {
        _store?.Dispose();
        _temp.Dispose();
    }
}
