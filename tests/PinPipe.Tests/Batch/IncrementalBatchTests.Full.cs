using System.Text.Json;
using Microsoft.Extensions.Logging.Abstractions;
using PinPipe.Batch;
using PinPipe.Errors;
using PinPipe.Hosting;
using PinPipe.Lake.Delta;
using PinPipe.Tests.Support;
using PinPipe.Transform;
using Xunit;

namespace PinPipe.Tests.Batch;

/// <summary>
/// <c>batch --full</c> on a real bucket folder: a rebuild in chunks (<c>Batch:ChunkSize</c>) gives the rows, rejects, counts
/// and offsets of one pass, in one overwrite commit per table; a rebuild replaces a table written under other columns
/// (a metadata commit), which an incremental run refuses.
/// </summary>
public sealed partial class IncrementalBatchTests
{
    [Fact]
    public async Task A_rebuild_in_chunks_gives_the_rows_rejects_counts_and_offsets_of_one_pass_in_one_commit_per_table()
    {
        // The fixtures (junk markers, rejects, a key twice) one or two lines an object over two partitions, then all of them
        // again and some new posts: duplicates within a chunk, across chunks and across partitions.
        foreach (string table in Tables)
        {
            string[] lines = (await File.ReadAllLinesAsync(Path.Combine(TestData.Fixtures, "raw", table + ".jsonl"))).Where(l => l.Length > 0).ToArray();
            long[] next = [0, 0];
            for (int i = 0; i < lines.Length; i += 2)
            {
                int p = i / 2 % 2;
                string[] part = lines.Skip(i).Take(2).ToArray();
                await PutAsync(table, p, next[p], part);
                next[p] += part.Length;
            }
            await PutAsync(table, 1, next[1], [.. lines, .. new long[] { 90001, 90002 }.Select(ind => Record(table, ind))]);
        }

        var onePass = await RunFullAsync(chunkSize: null); // the default: far more than the whole topic, one chunk as before
        var expected = await TablesAsync();
        Assert.All(Tables, t => Assert.Single(expected[t].Files)); // the tiny topics make one file each
        foreach (string table in Tables) await _store.DeleteAsync($"delta/{table}/_delta_log/{0:D20}.json"); // start again from no table
        foreach (string table in Tables) await _store.DeleteAsync($"delta/{table}_rejects/_delta_log/{0:D20}.json");

        var chunked = await RunFullAsync(chunkSize: "1B"); // every object a chunk of its own

        foreach (string table in Tables)
        {
            var (a, b) = (Table(onePass, table), Table(chunked, table));
            Assert.Equal(Summary(a.Clean), Summary(b.Clean));
            Assert.True(a.Clean.Duplicates > 0 && a.Clean.Rejects > 0, $"{table}: the fixtures must hold duplicates and rejects");
            Assert.Equal((a.Objects, a.Bytes, a.Rows, a.RejectRows), (b.Objects, b.Bytes, b.Rows, b.RejectRows));
            Assert.Equal((0L, 0L), (b.Version, b.RejectsVersion)); // one commit each
        }
        var actual = await TablesAsync();
        foreach (var (name, snapshot) in actual)
        {
            Assert.Equal(await RowsAsync(expected[name]), await RowsAsync(snapshot));
            Assert.Equal(expected[name].Txns, snapshot.Txns);
            if (!name.EndsWith("_rejects", StringComparison.Ordinal)) Assert.True(snapshot.Files.Count > 1, $"{name}: one file per chunk with rows");
        }
        // The next incremental run finds nothing new: the offsets are the ends read.
        Assert.True((await RunAsync()).Run.NothingNew);
    }

    [Fact]
    public async Task An_incremental_run_in_chunks_gives_the_rows_counts_and_offsets_of_one_pass_in_one_append_per_table()
    {
        // A first run over half the fixtures; then a backlog of many objects over two partitions: the fixtures again (keys the
        // table holds), new posts, one of them twice in objects far apart (a key of an earlier chunk), and the rejects.
        var next = Tables.ToDictionary(t => t, _ => new long[] { 0, 0 });
        async Task LandAsync(string table, string[] lines)
        {
            for (int i = 0; i < lines.Length; i += 2)
            {
                int p = i / 2 % 2;
                string[] part = lines.Skip(i).Take(2).ToArray();
                await PutAsync(table, p, next[table][p], part);
                next[table][p] += part.Length;
            }
        }
        var fixtures = new Dictionary<string, string[]>();
        foreach (string table in Tables)
        {
            fixtures[table] = (await File.ReadAllLinesAsync(Path.Combine(TestData.Fixtures, "raw", table + ".jsonl"))).Where(l => l.Length > 0).ToArray();
            await LandAsync(table, fixtures[table][..(fixtures[table].Length / 2)]);
        }
        var first = await RunAsync();
        Assert.All(Tables, t => Assert.Equal(0, Table(first, t).Version));
        foreach (string table in Tables)
            await LandAsync(table, [Record(table, 90001), .. fixtures[table], Record(table, 90002), .. fixtures[table][..4], Record(table, 90001)]);

        var onePass = await RunAsync(); // the default chunk: the whole backlog at once
        var expected = await TablesAsync();
        foreach (string table in Tables) await _store.DeleteAsync($"delta/{table}/_delta_log/{1:D20}.json"); // back to the first run's version
        foreach (string table in Tables) await _store.DeleteAsync($"delta/{table}_rejects/_delta_log/{1:D20}.json");

        var chunked = await PipelineJobs.Batch(_settings with { Batch = _settings.Batch with { ChunkSize = "1B" } }, NullLoggerFactory.Instance).RunAsync(); // every object a chunk

        foreach (string table in Tables)
        {
            var (a, b) = (Table(onePass, table), Table(chunked, table));
            Assert.Equal(Summary(a.Clean), Summary(b.Clean));
            Assert.True(a.Clean.Duplicates > 0 && a.Clean.Rejects > 0 && a.Clean.Clean > 0, $"{table}: the backlog must hold new keys, duplicates and rejects");
            Assert.Equal((a.Objects, a.Bytes, a.Rows, a.RejectRows), (b.Objects, b.Bytes, b.Rows, b.RejectRows));
            Assert.True(b.Objects > 5, $"{table}: {b.Objects} objects, so as many chunks");
            Assert.Equal((1L, 1L), (b.Version, b.RejectsVersion)); // one append each
        }
        foreach (var (name, snapshot) in await TablesAsync())
        {
            Assert.Equal(await RowsAsync(expected[name]), await RowsAsync(snapshot));
            Assert.Equal(expected[name].Txns, snapshot.Txns);
        }
        Assert.True((await RunAsync()).Run.NothingNew);
    }

    [Fact]
    public async Task A_rebuild_replaces_a_table_written_under_other_columns_which_an_incremental_run_refuses_and_time_travel_still_reads_them()
    {
        foreach (string table in Tables) await PutAsync(table, 0, 0, [Record(table, 1), Record(table, 2)]);
        // delta/pin as another writer (or a PinPipe with other rules) left it: other columns, one row.
        var legacy = new DeltaSchema(new DeltaField("ind", DeltaType.Long), new DeltaField("legacy_title", DeltaType.String));
        string file = Lake.Delta.DeltaTestKit.WriteParquet(_dir.Path, "SELECT CAST(1 AS BIGINT) AS ind, 'old' AS legacy_title");
        await new DeltaTable(_store, "delta/pin").CommitAsync(new DeltaWrite(legacy, [file])
        {
            // It even records today's rules: only the columns tell that the rows do not fit.
            OperationParameters = new Dictionary<string, string> { [BatchRules.Parameter] = BatchRules.Hash },
        });

        var refused = await Assert.ThrowsAsync<BatchException>(() => RunAsync());
        Assert.Equal(("batch.schema_changed", ErrorKind.BadInput), (refused.ErrorCode, refused.Kind));
        Assert.Contains("legacy_title", refused.Message, StringComparison.Ordinal);
        Assert.Contains("pinpipe batch --full", refused.Message, StringComparison.Ordinal);
        Assert.Contains("delta/pin", refused.Where, StringComparison.Ordinal);
        Assert.Null(await new DeltaTable(_store, "delta/geo").LoadAsync()); // refused before anything was written

        var full = await RunFullAsync(chunkSize: null);

        Assert.Equal((2L, 2L), (Table(full, "pin").Rows, Table(full, "pin").Version + 1));
        var pin = (await new DeltaTable(_store, "delta/pin").LoadAsync())!;
        Assert.Equal(CleanSchemas.ToDelta(CleaningRules.Schema(RecordKind.Pin)), pin.Schema);
        Assert.Equal([1L, 2L], (await RowsAsync(pin, "ind")).Select(long.Parse));
        var old = (await new DeltaTable(_store, "delta/pin").LoadAsync(0))!;
        Assert.Equal(legacy, old.Schema);
        Assert.Equal(["1|old"], await RowsAsync(old));
        // Incremental runs go on under the new columns.
        await PutAsync("pin", 0, 2, [Record("pin", 3)]);
        var next = await RunAsync();
        Assert.Equal((1L, 1L), (Table(next, "pin").Clean.Read, Table(next, "pin").Clean.Clean));
    }

    // ------------------------------------------------------------------ helpers

    private Task<BatchLaneResult> RunFullAsync(string? chunkSize) =>
        PipelineJobs.Batch(_settings with { Batch = _settings.Batch with { Full = true, ChunkSize = chunkSize } }, NullLoggerFactory.Instance).RunAsync();

    /// <summary>Every count of a cleaning, as text (records compare their lists by reference).</summary>
    private static string Summary(CleanResult c)
    {
        Assert.Equal(c.Read, c.Clean + c.Duplicates + c.Rejects);
        return $"read {c.Read} clean {c.Clean} duplicates {c.Duplicates} rejects {c.Rejects}; " +
               string.Join(", ", c.Quality.Select(q => $"{q.Column}.{q.Rule}={q.Count}")) + "; " + string.Join(", ", c.RejectReasons.Select(r => $"{r.Kind}={r.Count}"));
    }

    private static string Record(string table, long ind) => table switch
    {
        "pin" => Pin(ind),
        "geo" => Geo(ind),
        _ => UserRecord(ind),
    };

    private async Task<Dictionary<string, DeltaSnapshot>> TablesAsync()
    {
        var tables = new Dictionary<string, DeltaSnapshot>(StringComparer.Ordinal);
        foreach (string table in Tables.SelectMany(t => new[] { t, t + "_rejects" }))
            tables[table] = (await new DeltaTable(_store, $"delta/{table}").LoadAsync())!;
        return tables;
    }

    /// <summary>The rows (of one column, or all), each as text, sorted.</summary>
    private static async Task<List<string>> RowsAsync(DeltaSnapshot snapshot, string? column = null)
    {
        int only = column is null ? -1 : snapshot.Schema.Fields.ToList().FindIndex(f => f.Name == column);
        var rows = new List<string>();
        await foreach (var row in snapshot.ReadRowsAsync())
            rows.Add(string.Join("|", row.Where((_, i) => only < 0 || i == only).Select(v => v is null ? "∅" : v is string s ? s : JsonSerializer.Serialize(v))));
        return rows.Order(StringComparer.Ordinal).ToList();
    }
}
