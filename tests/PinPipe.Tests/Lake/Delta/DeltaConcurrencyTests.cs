using PinPipe.Lake;
using PinPipe.Lake.Delta;
using PinPipe.Lake.Directory;
using PinPipe.Tests.Support;
using static PinPipe.Tests.Lake.Delta.DeltaTestKit;

namespace PinPipe.Tests.Lake.Delta;

/// <summary>Two writers of one version: exactly one wins; the other retries, finds its txn committed, or fails on a conflict.</summary>
public sealed class DeltaConcurrencyTests : IDisposable
{
    private readonly TempDirectory _temp = new("delta-race");
    private readonly DirectoryObjectStore _store;

    public DeltaConcurrencyTests() => _store = new DirectoryObjectStore(_temp.Path, "lake");

    public void Dispose() => _temp.Dispose();

    /// <summary>The real store, except that the first two put-if-absent calls on <paramref name="gatedKey"/> wait for
    /// each other, so both writers try the same version at the same time.</summary>
    private sealed class RaceStore(IObjectStore inner, string gatedKey) : RemoteLikeStore(inner)
    {
        private readonly TaskCompletionSource _both = new(TaskCreationOptions.RunContinuationsAsynchronously);
        private int _arrived;

        public override async ValueTask<bool> PutIfAbsentAsync(string key, ReadOnlyMemory<byte> content, CancellationToken cancellationToken = default)
        {
            if (key == gatedKey && Interlocked.Increment(ref _arrived) <= 2)
            {
                if (Volatile.Read(ref _arrived) >= 2) _both.TrySetResult();
                await _both.Task.WaitAsync(TimeSpan.FromSeconds(30), cancellationToken);
            }
            return await base.PutIfAbsentAsync(key, content, cancellationToken);
        }
    }

    /// <summary>The real store, except that just before the first put-if-absent on <paramref name="gatedKey"/> another
    /// writer commits (<paramref name="interfere"/>), so this writer loses that version after having read the table.</summary>
    private sealed class InterferingStore(IObjectStore inner, string gatedKey, Func<Task> interfere) : RemoteLikeStore(inner)
    {
        private int _done;

        public override async ValueTask<bool> PutIfAbsentAsync(string key, ReadOnlyMemory<byte> content, CancellationToken cancellationToken = default)
        {
            if (key == gatedKey && Interlocked.Exchange(ref _done, 1) == 0) await interfere();
            return await base.PutIfAbsentAsync(key, content, cancellationToken);
        }
    }

    /// <summary>
    /// A store whose put-if-absent is not atomic (as s3rver's, which ignores <c>If-None-Match</c>): it writes over what is there
    /// and answers "written". The first two calls on <paramref name="gatedKey"/> wait for each other (at most
    /// <paramref name="wait"/>), so two writers that read the same version put it at the same time.
    /// </summary>
    private sealed class OverwritingRaceStore(IObjectStore inner, string gatedKey, TimeSpan wait) : RemoteLikeStore(inner)
    {
        private readonly TaskCompletionSource _both = new(TaskCreationOptions.RunContinuationsAsynchronously);
        private int _arrived;

        /// <summary>Puts that found the key taken (counted only where the puts do not run at once).</summary>
        public int Overwrites { get; private set; }

        public override async ValueTask<bool> PutIfAbsentAsync(string key, ReadOnlyMemory<byte> content, CancellationToken cancellationToken = default)
        {
            if (key == gatedKey && Interlocked.Increment(ref _arrived) <= 2)
            {
                if (Volatile.Read(ref _arrived) >= 2) _both.TrySetResult();
                try { await _both.Task.WaitAsync(wait, cancellationToken); }
                catch (TimeoutException) { } // the other writer did not come: it waits for this one's commit
            }
            if (await ExistsAsync(key, cancellationToken)) Overwrites++;
            await PutAsync(key, content, cancellationToken);
            return true;
        }
    }

    [Fact]
    public async Task Over_a_store_whose_put_if_absent_is_not_atomic_two_instances_sharing_a_commit_gate_both_land_where_without_it_one_is_lost()
    {
        string version1 = "t/_delta_log/00000000000000000001.json";
        await new DeltaTable(_store, "t").CommitAsync(Write("base"));

        // Without a gate: both read version 0 and both put version 1; the second overwrites the first, whose rows are lost.
        var race = new OverwritingRaceStore(_store, version1, TimeSpan.FromSeconds(30));
        var results = await Task.WhenAll(new DeltaTable(race, "t").CommitAsync(Write("a")), new DeltaTable(race, "t").CommitAsync(Write("b")));
        Assert.All(results, r => Assert.Equal((DeltaCommitStatus.Committed, 1L), (r.Status, r.Version)));
        var lost = (await new DeltaTable(_store, "t").LoadAsync())!;
        Assert.Equal((1L, 2), (lost.Version, lost.Files.Count));

        // With one gate shared by the two instances: the second commits after the first, from the version it then reads.
        await new DeltaTable(_store, "g").CommitAsync(Write("base2"));
        var gated = new OverwritingRaceStore(_store, "g/_delta_log/00000000000000000001.json", TimeSpan.FromSeconds(1));
        using var gate = new SemaphoreSlim(1, 1);
        var a = new DeltaTable(gated, "g") { CommitGate = gate };
        var b = new DeltaTable(gated, "g") { CommitGate = gate };
        Assert.Equal(0, (await a.LoadAsync())!.Version);
        Assert.Equal(0, (await b.LoadAsync())!.Version);
        results = await Task.WhenAll(a.CommitAsync(Write("c")), b.CommitAsync(Write("d")));
        Assert.Equal([1L, 2L], results.Select(r => r.Version).Order());
        Assert.Equal(0, gated.Overwrites);
        var s = (await new DeltaTable(_store, "g").LoadAsync())!;
        Assert.Equal((2L, 3), (s.Version, s.Files.Count));
        var ids = (await ReadAllAsync(s)).Select(r => (string)r[0]!).Where(id => id.StartsWith("a1-", StringComparison.Ordinal)).Order(StringComparer.Ordinal).ToList();
        Assert.Equal(["a1-base2", "a1-c", "a1-d"], ids); // one row of each file that names it
    }

    private DeltaWrite Write(string tag, DeltaTxn? txn = null, DeltaSchema? schema = null) =>
        new(schema ?? DeltaTableWriteTests.EventSchema, [DeltaTableWriteTests.EventFile(_temp.Path, tag)]) { Txn = txn };

    private async Task<List<string>> DataFilesAsync() =>
        (await KeysAsync(_store, "t/")).Where(k => !k.Contains("_delta_log", StringComparison.Ordinal)).ToList();

    [Fact]
    public async Task Two_blind_appends_of_one_version_both_land_one_after_the_other()
    {
        await new DeltaTable(_store, "t").CommitAsync(Write("base"));
        var race = new RaceStore(_store, "t/_delta_log/00000000000000000001.json");
        var a = new DeltaTable(race, "t");
        var b = new DeltaTable(race, "t");
        Assert.Equal(0, (await a.LoadAsync())!.Version);
        Assert.Equal(0, (await b.LoadAsync())!.Version);

        var results = await Task.WhenAll(a.CommitAsync(Write("a")), b.CommitAsync(Write("b")));
        Assert.All(results, r => Assert.Equal(DeltaCommitStatus.Committed, r.Status));
        Assert.Equal([1L, 2L], results.Select(r => r.Version).Order());
        Assert.Equal([1, 2], results.OrderBy(r => r.Version).Select(r => r.Attempts)); // the loser retried once

        var s = (await new DeltaTable(_store, "t").LoadAsync())!;
        Assert.Equal(2, s.Version);
        Assert.Equal(3, s.Files.Count);
        var ids = (await ReadAllAsync(s)).Select(r => (string)r[0]!).ToList();
        Assert.Contains("a1-a", ids);
        Assert.Contains("a1-b", ids);
        Assert.Contains("a1-base", ids);
    }

    [Fact]
    public async Task Two_writers_of_the_same_txn_commit_it_once()
    {
        await new DeltaTable(_store, "t").CommitAsync(Write("base"));
        var race = new RaceStore(_store, "t/_delta_log/00000000000000000001.json");
        var a = new DeltaTable(race, "t");
        var b = new DeltaTable(race, "t");
        await a.LoadAsync();
        await b.LoadAsync();

        var results = await Task.WhenAll(a.CommitAsync(Write("a", new DeltaTxn("job", 1))), b.CommitAsync(Write("b", new DeltaTxn("job", 1))));
        var winner = Assert.Single(results, r => r.Status == DeltaCommitStatus.Committed);
        var loser = Assert.Single(results, r => r.Status == DeltaCommitStatus.AlreadyCommitted);
        Assert.Equal(1, winner.Version);
        Assert.Equal(1, loser.Version);
        Assert.Empty(loser.Added);

        var s = (await new DeltaTable(_store, "t").LoadAsync())!;
        Assert.Equal(1, s.Version);
        Assert.Equal(1, s.Txns["job"]);
        Assert.Equal(2, s.Files.Count);
        // The loser's upload was deleted: only referenced data files remain.
        Assert.Equal(s.Files.Select(f => s.KeyOf(f)).Order(StringComparer.Ordinal), (await DataFilesAsync()).Order(StringComparer.Ordinal));
    }

    [Fact]
    public async Task Creating_a_table_concurrently_with_another_schema_fails_and_with_the_same_schema_appends()
    {
        var race = new RaceStore(_store, "t/_delta_log/00000000000000000000.json");
        var other = new DeltaSchema(new DeltaField("id", DeltaType.Long));
        string otherFile = WriteParquet(_temp.Path, "SELECT CAST(1 AS BIGINT) AS id");
        var tasks = new[]
        {
            new DeltaTable(race, "t").CommitAsync(Write("a")),
            new DeltaTable(race, "t").CommitAsync(new DeltaWrite(other, [otherFile])),
        };
        await Task.WhenAll(tasks.Select(t => t.ContinueWith(_ => { }, TaskScheduler.Default)));
        var failed = Assert.Single(tasks, t => t.IsFaulted);
        var succeeded = Assert.Single(tasks, t => t.IsCompletedSuccessfully);
        var e = Assert.IsType<DeltaException>(failed.Exception!.InnerException);
        Assert.Equal(DeltaErrorCode.Conflict, e.Code);
        Assert.Contains("created concurrently", e.Message, StringComparison.Ordinal);
        Assert.Equal(0, (await succeeded).Version);
        var s = (await new DeltaTable(_store, "t").LoadAsync())!;
        Assert.Equal(0, s.Version);
        Assert.Equal(s.Files.Select(f => s.KeyOf(f)), await DataFilesAsync());

        var same = new RaceStore(_store, "u/_delta_log/00000000000000000000.json");
        var both = await Task.WhenAll(new DeltaTable(same, "u").CommitAsync(Write("x")), new DeltaTable(same, "u").CommitAsync(Write("y")));
        Assert.Equal([0L, 1L], both.Select(r => r.Version).Order());
        Assert.Equal(2, (await new DeltaTable(_store, "u").LoadAsync())!.Files.Count);
    }

    [Fact]
    public async Task A_compaction_whose_files_were_removed_concurrently_fails_with_a_conflict()
    {
        var first = await new DeltaTable(_store, "t").CommitAsync(Write("base"));
        var overwrite = Write("replacement") with { Mode = DeltaWriteMode.Overwrite };
        var stale = new DeltaTable(new InterferingStore(_store, "t/_delta_log/00000000000000000001.json",
            () => new DeltaTable(_store, "t").CommitAsync(overwrite)), "t");

        string path = first.Added[0].Path;
        var e = await Assert.ThrowsAsync<DeltaException>(() => stale.CommitAsync(Write("compacted") with { Removes = [path], DataChange = false }));
        Assert.Equal(DeltaErrorCode.Conflict, e.Code);
        Assert.Contains(path, e.Message, StringComparison.Ordinal);
        var s = (await new DeltaTable(_store, "t").LoadAsync())!;
        Assert.Equal(1, s.Version);
        Assert.Equal(s.Files.Select(f => s.KeyOf(f)).Concat([s.KeyOf(first.Added[0])]).Order(StringComparer.Ordinal), (await DataFilesAsync()).Order(StringComparer.Ordinal));
    }

    [Fact]
    public async Task An_append_racing_a_metadata_change_fails_with_a_conflict()
    {
        await new DeltaTable(_store, "t").CommitAsync(Write("base"));
        var v0 = (await new DeltaTable(_store, "t").LoadAsync())!;
        // Another engine changes the table's properties at version 1, while this writer commits.
        var changed = v0.Metadata with { Configuration = new Dictionary<string, string> { ["delta.appendOnly"] = "true" } };
        string line = "{\"metaData\":{\"id\":\"" + changed.Id + "\",\"format\":{\"provider\":\"parquet\",\"options\":{}},\"schemaString\":"
            + System.Text.Json.JsonSerializer.Serialize(changed.Schema.ToJson()) + ",\"partitionColumns\":[],\"configuration\":{\"delta.appendOnly\":\"true\"}}}\n";
        var stale = new DeltaTable(new InterferingStore(_store, "t/_delta_log/00000000000000000001.json",
            async () => Assert.True(await _store.PutIfAbsentAsync("t/_delta_log/00000000000000000001.json", System.Text.Encoding.UTF8.GetBytes(line)))), "t");

        var e = await Assert.ThrowsAsync<DeltaException>(() => stale.CommitAsync(Write("late")));
        Assert.Equal(DeltaErrorCode.Conflict, e.Code);
        Assert.Contains("changed the metadata or protocol", e.Message, StringComparison.Ordinal);
        var s = (await new DeltaTable(_store, "t").LoadAsync())!;
        Assert.Equal(1, s.Version);
        Assert.Equal("true", s.Metadata.Get("delta.appendOnly"));
        Assert.Single(s.Files);
    }

    /// <summary>The real store, except that the first put-if-absent of <paramref name="gatedKey"/> writes the object and then
    /// fails as a request whose answer was lost does (a reset connection): the caller cannot tell whether it was written.</summary>
    private sealed class LostAnswerStore(IObjectStore inner, string gatedKey) : RemoteLikeStore(inner)
    {
        private int _done;

        public override async ValueTask<bool> PutIfAbsentAsync(string key, ReadOnlyMemory<byte> content, CancellationToken cancellationToken = default)
        {
            bool written = await base.PutIfAbsentAsync(key, content, cancellationToken);
            if (key == gatedKey && Interlocked.Exchange(ref _done, 1) == 0)
                throw new ObjectStoreException(ObjectStoreErrorCode.Unavailable, $"cannot reach the object store (could not write object '{key}'): Connection reset by peer", "test");
            return written;
        }
    }

    [Fact]
    public async Task A_commit_whose_answer_is_lost_keeps_its_files_and_the_retry_finds_its_txn_committed()
    {
        await new DeltaTable(_store, "t").CommitAsync(Write("base"));
        var lost = new LostAnswerStore(_store, "t/_delta_log/00000000000000000001.json");

        var e = await Assert.ThrowsAsync<ObjectStoreException>(() => new DeltaTable(lost, "t").CommitAsync(Write("one", new DeltaTxn("job", 7))));
        Assert.True(e.IsRetriable);

        // The commit landed: every file it names is still there (deleting them would leave a version naming missing files).
        var table = await new DeltaTable(_store, "t").LoadAsync();
        Assert.Equal(1, table!.Version);
        Assert.Equal(7, table.Txns["job"]);
        Assert.Equal(2, table.Files.Count);
        foreach (var file in table.Files) Assert.True(await _store.ExistsAsync(table.KeyOf(file)), file.Path);
        Assert.Equal(2, (await DataFilesAsync()).Count);
        Assert.Equal(6, (await ReadAllAsync(table)).Count); // three rows a file

        // The caller tries the micro-batch again: its txn is in the table, so nothing is committed or uploaded twice.
        var again = await new DeltaTable(lost, "t").CommitAsync(Write("one", new DeltaTxn("job", 7)));
        Assert.Equal(DeltaCommitStatus.AlreadyCommitted, again.Status);
        Assert.Equal(1, again.Version);
        Assert.Equal(2, (await DataFilesAsync()).Count);
    }
}
