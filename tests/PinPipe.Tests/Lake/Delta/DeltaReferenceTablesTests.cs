using System.Text.Json;
using PinPipe.Lake.Delta;
using PinPipe.Lake.Directory;
using PinPipe.Tests.Support;
using static PinPipe.Tests.Lake.Delta.DeltaTestKit;

namespace PinPipe.Tests.Lake.Delta;

/// <summary>Every reference table written by Spark (Data/delta, see its README) reads to its expected result.</summary>
public sealed class DeltaReferenceTablesTests
{
    private static readonly int[] GroupStarts = [0, 10, 20, 30, 40];

    private readonly DirectoryObjectStore _store = ReferenceStore();

    private async Task<DeltaSnapshot> LoadAsync(string name, long? version = null) =>
        await new DeltaTable(_store, name).LoadAsync(version) ?? throw new InvalidOperationException($"{name}: no table");

    [Fact]
    public async Task Snapshot_data0_has_ten_rows_of_one_commit()
    {
        var s = await LoadAsync("snapshot-data0");
        Assert.Equal(0, s.Version);
        Assert.Equal(new DeltaProtocol(1, 2), s.Protocol);
        Assert.Equal(new DeltaSchema(new DeltaField("col1", DeltaType.Integer), new DeltaField("col2", DeltaType.String)), s.Schema);
        Assert.Equal(2, s.Files.Count);
        Assert.All(s.Files, f => Assert.Null(f.Stats));
        var rows = await ReadAllAsync(s);
        Assert.Equal(Enumerable.Range(0, 10).Select(i => (i, $"data-0-{i}")), rows.Select(r => ((int)r[0]!, (string)r[1]!)).OrderBy(r => r.Item1));
        Assert.All(rows, r => Assert.IsType<int>(r[0]));
    }

    [Fact]
    public async Task Snapshot_data1_adds_a_second_append()
    {
        var s = await LoadAsync("snapshot-data1");
        Assert.Equal(1, s.Version);
        var rows = (await ReadAllAsync(s)).Select(r => ((int)r[0]!, (string)r[1]!)).ToHashSet();
        var expected = Enumerable.Range(0, 10).SelectMany(i => new[] { (i, $"data-0-{i}"), (i, $"data-1-{i}") }).ToHashSet();
        Assert.Equal(20, rows.Count);
        Assert.True(expected.SetEquals(rows));
    }

    [Fact]
    public async Task Snapshot_data2_deleted_keeps_only_the_rows_after_the_overwrite_and_delete()
    {
        var s = await LoadAsync("snapshot-data2-deleted");
        Assert.Equal(4, s.Version);
        var rows = (await ReadAllAsync(s)).Select(r => ((int)r[0]!, (string)r[1]!)).OrderBy(r => r.Item1).ToList();
        Assert.Equal(Enumerable.Range(0, 20).Select(i => (i, $"data-3-{i}")), rows);

        // Time travel: version 1 is the two first appends.
        var v1 = await LoadAsync("snapshot-data2-deleted", 1);
        Assert.Equal(1, v1.Version);
        var old = (await ReadAllAsync(v1)).Select(r => (string)r[1]!).ToList();
        Assert.Equal(20, old.Count);
        Assert.All(old, v => Assert.Matches("^data-[01]-", v));

        var e = await Assert.ThrowsAsync<DeltaException>(() => new DeltaTable(_store, "snapshot-data2-deleted").LoadAsync(5));
        Assert.Equal(DeltaErrorCode.VersionNotFound, e.Code);
        Assert.Contains("latest is 4", e.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Checkpoint_table_has_one_live_file_after_fifteen_commits()
    {
        var s = await LoadAsync("checkpoint");
        Assert.Equal(14, s.Version);
        Assert.Equal(["15"], s.Files.Select(f => f.Path));
    }

    [Fact]
    public async Task Basic_with_inserts_deletes_checkpoint_reads_the_remaining_ids()
    {
        var s = await LoadAsync("basic-with-inserts-deletes-checkpoint");
        Assert.Equal(13, s.Version);
        var ids = (await ReadAllAsync(s)).Select(r => (long)r[0]!).Order().ToList();
        var expected = GroupStarts.SelectMany(b => Enumerable.Range(b, 5)).Concat(Enumerable.Range(50, 16)).Select(i => (long)i).ToList();
        Assert.Equal(expected, ids);
        // Every add has stats; their record counts add up to the rows read.
        Assert.All(s.Files, f => Assert.NotNull(f.NumRecords));
        Assert.Equal(ids.Count, s.Files.Sum(f => f.NumRecords!.Value));
    }

    [Fact]
    public async Task DeltaLog_getChanges_keeps_the_txn_and_no_live_files()
    {
        var s = await LoadAsync("deltalog-getChanges");
        Assert.Equal(2, s.Version);
        Assert.Equal(3, s.Txns["fakeAppId"]);
        Assert.False(s.Txns.ContainsKey("nonExistentAppId"));
        Assert.Empty(s.Files);
    }

    [Fact]
    public async Task Data_reader_array_primitives_reads_typed_arrays()
    {
        var s = await LoadAsync("data-reader-array-primitives");
        var names = s.Schema.Fields.Select(f => f.Name).ToList();
        var rows = await ReadAllAsync(s);
        Assert.Equal(10, rows.Count);
        foreach (var row in rows)
        {
            int i = Assert.Single(Assert.IsType<List<int?>>(row[names.IndexOf("as_array_int")]))!.Value;
            Assert.Equal([(long)i], Assert.IsType<List<long?>>(row[names.IndexOf("as_array_long")]));
            Assert.Equal([(sbyte)i], Assert.IsType<List<sbyte?>>(row[names.IndexOf("as_array_byte")]));
            Assert.Equal([(short)i], Assert.IsType<List<short?>>(row[names.IndexOf("as_array_short")]));
            Assert.Equal([i % 2 == 0], Assert.IsType<List<bool?>>(row[names.IndexOf("as_array_boolean")]));
            Assert.Equal([(float)i], Assert.IsType<List<float?>>(row[names.IndexOf("as_array_float")]));
            Assert.Equal([(double)i], Assert.IsType<List<double?>>(row[names.IndexOf("as_array_double")]));
            Assert.Equal([i.ToString(System.Globalization.CultureInfo.InvariantCulture)], Assert.IsType<List<string>>(row[names.IndexOf("as_array_string")]));
            Assert.Equal([[(byte)i, (byte)i]], Assert.IsType<List<byte[]?>>(row[names.IndexOf("as_array_binary")])!);
            Assert.Equal([(decimal)i], Assert.IsType<List<decimal?>>(row[names.IndexOf("as_array_big_decimal")]));
        }
        Assert.Equal(Enumerable.Range(0, 10), rows.Select(r => ((List<int?>)r[0]!)[0]!.Value).Order());
    }

    [Fact]
    public async Task Data_skipping_basic_stats_all_types_reads_one_row_of_zeros()
    {
        var s = await LoadAsync("data-skipping-basic-stats-all-types");
        var row = Assert.Single(await ReadAllAsync(s));
        Assert.Equal(0, row[0]);
        Assert.Equal(0L, row[1]);
        Assert.Equal((sbyte)0, row[2]);
        Assert.Equal((short)0, row[3]);
        Assert.Equal(0f, row[4]);
        Assert.Equal(0d, row[5]);
        Assert.Equal("0", row[6]);
        Assert.Equal(new DateOnly(2000, 1, 1), row[7]);
        // The file holds the INT96 instant 2000-01-01T08:00Z, which the add's stats show as Spark wrote them,
        // in the writer's zone: "2000-01-01T00:00:00.000-08:00" (the README's "00:00 UTC" is that local time).
        var file = s.Files.Single(f => f.NumRecords == 1);
        using var stats = JsonDocument.Parse(file.Stats!);
        var fromStats = DateTimeOffset.Parse(stats.RootElement.GetProperty("minValues").GetProperty("as_timestamp").GetString()!, System.Globalization.CultureInfo.InvariantCulture);
        Assert.Equal(fromStats, row[8]);
        Assert.Equal(Utc(2000, 1, 1, 8), row[8]);
        Assert.Equal(0m, row[9]);
    }

    [Theory]
    [InlineData("kernel-timestamp-TIMESTAMP_MICROS")]
    [InlineData("kernel-timestamp-TIMESTAMP_MILLIS")]
    [InlineData("kernel-timestamp-INT96")]
    public async Task Kernel_timestamp_tables_read_partition_and_data_timestamps_as_utc(string name)
    {
        var s = await LoadAsync(name);
        Assert.Equal(["part"], s.Metadata.PartitionColumns);
        Assert.Equal(["id", "part", "time"], s.Schema.Fields.Select(f => f.Name));
        Assert.Contains(s.Files, f => f.Path.StartsWith("part=2020-01-01 08%3A09%3A10.001/", StringComparison.Ordinal)); // decoded once, as on disk
        var rows = (await ReadAllAsync(s)).OrderBy(r => (int)r[0]!).ToList();
        var expected = new object?[][]
        {
            [0, Utc(2020, 1, 1, 8, 9, 10, 1), Utc(2020, 2, 1, 8, 9, 10)],
            [1, Utc(2021, 10, 1, 8, 9, 20), Utc(1999, 1, 1, 9)],
            [2, Utc(2021, 10, 1, 8, 9, 20), Utc(2000, 1, 1, 9)],
            [3, Utc(1969, 1, 1), Utc(1969, 1, 1)],
            [4, null, null],
        };
        Assert.Equal(expected.Length, rows.Count);
        for (int i = 0; i < expected.Length; i++) Assert.Equal(expected[i], rows[i]);
        Assert.All(rows.SelectMany(r => r.Skip(1)).OfType<DateTimeOffset>(), t => Assert.Equal(TimeSpan.Zero, t.Offset));
    }

    [Fact]
    public async Task A_scan_reads_the_same_instants_in_a_connection_of_another_time_zone()
    {
        foreach (string name in new[] { "kernel-timestamp-INT96", "kernel-timestamp-TIMESTAMP_MICROS" })
        {
            var s = await LoadAsync(name);
            using var scan = await s.OpenScanAsync();
            using var c = OpenDuckDb("America/New_York");
            var rows = Query(c, $"SELECT id, epoch_us(part), epoch_us(time) FROM {scan.Sql} AS t ORDER BY id");
            Assert.Equal([0, 1, 2, 3, 4], rows.Select(r => (int)r[0]!));
            Assert.Equal(DeltaValuesMicros(Utc(2020, 1, 1, 8, 9, 10, 1)), rows[0][1]);
            Assert.Equal(DeltaValuesMicros(Utc(2020, 2, 1, 8, 9, 10)), rows[0][2]);
            Assert.Equal(DeltaValuesMicros(Utc(1969, 1, 1)), rows[3][2]);
            Assert.Null(rows[4][1]);
            Assert.Equal(s.Files.Count, scan.Paths.Count);
        }

        static long DeltaValuesMicros(DateTimeOffset t) => (t - DateTimeOffset.UnixEpoch).Ticks / 10;
    }

    [Fact]
    public async Task Corrupted_last_checkpoint_falls_back_to_listing()
    {
        var s = await LoadAsync("corrupted-last-checkpoint");
        Assert.Equal(10, s.Version);

        // Same state as replaying every commit without the checkpoint.
        using var temp = new TempDirectory("delta-ref");
        var copy = new DirectoryObjectStore(temp.Path, "b");
        await CopyReferenceTableAsync("corrupted-last-checkpoint", copy, "t");
        await copy.DeleteAsync("t/_delta_log/00000000000000000010.checkpoint.parquet");
        await copy.DeleteAsync("t/_delta_log/_last_checkpoint");
        var replayed = await new DeltaTable(copy, "t").LoadAsync();
        Assert.NotNull(replayed);
        Assert.Equal(10, replayed.Version);
        Assert.Equal(replayed.Files.Select(f => (f.Path, f.Size)), s.Files.Select(f => (f.Path, f.Size)));
        Assert.NotEmpty(s.Files);
        Assert.Equal(replayed.Schema, s.Schema);

        // The shared copy's _last_checkpoint happens to parse; damage it (and point it at a checkpoint that does
        // not exist): the reader lists the log, finds the checkpoint and reads the same table.
        await CopyReferenceTableAsync("corrupted-last-checkpoint", copy, "c");
        foreach (string pointer in new[] { "{\"version\":1", "not json at all", "{\"version\":7,\"size\":3}", "{\"size\":3}" })
        {
            await copy.PutAsync("c/_delta_log/_last_checkpoint", System.Text.Encoding.UTF8.GetBytes(pointer));
            var fallback = await new DeltaTable(copy, "c").LoadAsync();
            Assert.NotNull(fallback);
            Assert.Equal(10, fallback.Version);
            Assert.Equal(s.Files.Select(f => (f.Path, f.Size)), fallback.Files.Select(f => (f.Path, f.Size)));
        }
    }

    [Fact]
    public async Task Versions_not_contiguous_is_refused_with_the_missing_version()
    {
        var e = await Assert.ThrowsAsync<DeltaException>(() => new DeltaTable(_store, "versions-not-contiguous").LoadAsync());
        Assert.Equal(DeltaErrorCode.Corrupt, e.Code);
        Assert.Contains("not contiguous", e.Message, StringComparison.Ordinal);
        Assert.Contains("version 1 is missing", e.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Delta_0_1_0_reads_from_its_checkpoint()
    {
        var s = await LoadAsync("delta-0.1.0");
        Assert.Equal(3, s.Version);
        Assert.Equal(new DeltaProtocol(1, 1), s.Protocol);
        Assert.Equal(0, s.Txns["txnId"]);
        Assert.Equal(["id"], s.Metadata.PartitionColumns);
        var rows = (await ReadAllAsync(s)).Select(r => ((int)r[0]!, (string)r[1]!)).OrderBy(r => r.Item1).ToList();
        Assert.Equal([(4, "d"), (5, "e"), (6, "f")], rows);
    }

    [Fact]
    public async Task A_missing_table_loads_as_null()
    {
        Assert.Null(await new DeltaTable(_store, "no-such-table").LoadAsync());
    }
}
