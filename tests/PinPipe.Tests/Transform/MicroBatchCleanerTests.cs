using System.Text;
using CsCheck;
using PinPipe.DuckDb;
using PinPipe.Transform;

namespace PinPipe.Tests.Transform;

/// <summary>
/// <see cref="MicroBatchCleaner"/> against <see cref="Cleaner"/>: micro-batch after micro-batch on one cleaner (statements
/// planned once, for the first micro-batch's empty tables) gives, for each, the clean rows, rejects and counts that
/// <see cref="Cleaner"/> gives for the same records on a fresh connection.
/// </summary>
public sealed class MicroBatchCleanerTests : IDisposable
{
    // One connection per cleaner, as in the stream job: another cleaner's tables created later would have DuckDB plan
    // this one's statements again at each execution, and the plans made for the first micro-batch would go untested.
    private readonly Dictionary<RecordKind, (TransformTestKit Kit, MicroBatchCleaner Cleaner)> _cleaners = [];

    public void Dispose()
    {
        foreach (var (kit, _) in _cleaners.Values) kit.Dispose();
    }

    public static TheoryData<RecordKind> Kinds => new() { RecordKind.Pin, RecordKind.Geo, RecordKind.User };

    private (TransformTestKit Kit, MicroBatchCleaner Cleaner) For(RecordKind kind)
    {
        if (!_cleaners.TryGetValue(kind, out var pair))
        {
            var kit = new TransformTestKit();
            _cleaners[kind] = pair = (kit, new MicroBatchCleaner(kit.Connection, kind));
        }
        return pair;
    }

    [Theory]
    [MemberData(nameof(Kinds))]
    public async Task The_fixtures_in_micro_batches_of_every_size_clean_as_the_cleaner_cleans_them(RecordKind kind)
    {
        string[] lines = TransformTestKit.FixtureLines("raw", kind);
        int[] sizes = [0, 1, 7, 50, lines.Length, 3];
        long rejects = 0;
        for (int i = 0, start = 0; i < sizes.Length; i++)
        {
            // The last micro-batch repeats the first records: each micro-batch is cleaned on its own.
            var batch = lines.Skip(start % lines.Length).Take(sizes[i]).ToArray();
            start += sizes[i];
            var result = await CompareAsync(kind, batch, batch.Select(_ => (true, true)).ToArray(), MicroBatchPart.All, $"fixtures, micro-batch {i}");
            rejects += result.Rejects;
        }
        Assert.True(rejects > 0);
    }

    [Theory]
    [MemberData(nameof(Kinds))]
    public async Task Generated_micro_batches_clean_as_the_cleaner_cleans_them(RecordKind kind)
    {
        var pcg = PCG.Parse("0004Ab1cD3eF");
        var gen = ParsedLoadTests.Lines(kind).Array[0, 60];
        long clean = 0, rejects = 0, duplicates = 0;
        for (int round = 0; round < 30; round++)
        {
            string[] batch = gen.Generate(pcg, null!, out _).Select(l => Encoding.UTF8.GetString(l)).ToArray();
            var result = await CompareAsync(kind, batch, batch.Select(_ => (true, true)).ToArray(), MicroBatchPart.All, $"generated round {round}");
            (clean, rejects, duplicates) = (clean + result.Clean, rejects + result.Rejects, duplicates + result.Duplicates);
        }
        Assert.True(clean > 0 && rejects > 0 && duplicates > 0, $"clean {clean}, rejects {rejects}, duplicates {duplicates}");
    }

    [Theory]
    [MemberData(nameof(Kinds))]
    public async Task Each_part_of_a_split_micro_batch_cleans_as_the_cleaner_cleans_its_records(RecordKind kind)
    {
        string[] lines = TransformTestKit.FixtureLines("raw", kind);
        var flags = lines.Select((_, i) => (ForClean: i % 3 != 0, ForRejects: i % 4 != 1)).ToArray();
        for (int round = 0; round < 2; round++)
        {
            await CompareAsync(kind, lines, flags, MicroBatchPart.ForClean, $"for_clean, round {round}");
            await CompareAsync(kind, lines, flags, MicroBatchPart.ForRejects, $"for_rejects, round {round}");
            await CompareAsync(kind, lines, flags, MicroBatchPart.All, $"all, round {round}");
        }
    }

    [Fact]
    public async Task Begin_empties_the_raw_table_and_a_micro_batch_of_nothing_counts_nothing()
    {
        await CompareAsync(RecordKind.Geo, TransformTestKit.FixtureLines("raw", RecordKind.Geo), null, MicroBatchPart.All, "fixtures");
        var (kit, geo) = For(RecordKind.Geo);
        geo.Begin();
        var result = await geo.CleanAsync(MicroBatchPart.All, null);
        Assert.Equal((0L, 0L, 0L, 0L), (result.Read, result.Clean, result.Duplicates, result.Rejects));
        Assert.Empty(kit.Rows($"SELECT * FROM {geo.RawTable}"));
        Assert.Empty(kit.Rows($"SELECT * FROM {geo.CleanRowsSql}"));
        Assert.Empty(kit.Rows($"SELECT * FROM {geo.RejectRowsSql}"));
    }

    [Fact]
    public async Task Begin_gives_back_the_blocks_of_the_last_micro_batch_so_the_tables_hold_one_micro_batch_at_most()
    {
        // 1,000 pins a micro-batch (the fixtures repeated): each fills the raw, stage and clean tables with about a MB.
        string[] fixtures = TransformTestKit.FixtureLines("raw", RecordKind.Pin);
        string[] batch = Enumerable.Range(0, 1000).Select(i => fixtures[i % fixtures.Length]).ToArray();
        var (kit, pin) = For(RecordKind.Pin);
        long afterFirst = 0;
        for (int round = 0; round < 20; round++)
        {
            await CompareAsync(RecordKind.Pin, batch, null, MicroBatchPart.All, $"round {round}");
            long held = TablesMemory(kit);
            if (round == 0) afterFirst = held;
            // Without the checkpoints (DuckDB's own never runs on the temp catalog) this grows by every micro-batch's rows.
            Assert.True(held <= 2 * afterFirst, $"round {round}: the tables hold {held:N0} bytes, after the first micro-batch {afterFirst:N0}");
        }
        Assert.True(afterFirst > 0, "the tables held nothing after a micro-batch: the measure measures nothing");
        pin.Begin();
        Assert.Equal(0, TablesMemory(kit));
    }

    /// <summary>What DuckDB's buffer manager holds for tables (<c>duckdb_memory()</c>: in-memory and base tables).</summary>
    private static long TablesMemory(TransformTestKit kit) =>
        long.Parse(kit.Rows("SELECT coalesce(sum(memory_usage_bytes), 0)::BIGINT AS bytes FROM duckdb_memory() WHERE tag IN ('IN_MEMORY_TABLE', 'BASE_TABLE')")[0]["bytes"]!, System.Globalization.CultureInfo.InvariantCulture);

    [Fact]
    public async Task An_unknown_part_is_refused()
    {
        var ex = await Assert.ThrowsAsync<ArgumentOutOfRangeException>(() => For(RecordKind.Pin).Cleaner.CleanAsync((MicroBatchPart)7, null));
        Assert.Contains("part", ex.Message, StringComparison.Ordinal);
    }

    /// <summary>
    /// Cleans <paramref name="lines"/> (with their for_clean/for_rejects flags; null: both) as one micro-batch, and the
    /// records of <paramref name="part"/> with <see cref="Cleaner"/> on a fresh connection; asserts the same result and rows.
    /// </summary>
    private async Task<CleanResult> CompareAsync(RecordKind kind, string[] lines, (bool ForClean, bool ForRejects)[]? flags, MicroBatchPart part, string what)
    {
        var (kit, cleaner) = For(kind);
        cleaner.Begin();
        using (var appender = kit.Connection.CreateAppender(cleaner.RawTable))
        {
            for (int i = 0; i < lines.Length; i++)
            {
                var (forClean, forRejects) = flags?[i] ?? (true, true);
                appender.CreateRow().AppendValue((long)i).AppendValue($"test/{i}").AppendValue(lines[i]).AppendValue(forClean).AppendValue(forRejects).EndRow();
            }
        }
        CleanResult actual = await cleaner.CleanAsync(part, null);

        bool Takes(int i) => part switch
        {
            MicroBatchPart.ForClean => flags?[i].ForClean ?? true,
            MicroBatchPart.ForRejects => flags?[i].ForRejects ?? true,
            _ => true,
        };
        using var fresh = new TransformTestKit();
        fresh.Execute("CREATE TABLE raw_input (seq BIGINT, origin VARCHAR, line VARCHAR)");
        using (var appender = fresh.Connection.CreateAppender("raw_input"))
        {
            for (int i = 0; i < lines.Length; i++)
                if (Takes(i)) appender.CreateRow().AppendValue((long)i).AppendValue($"test/{i}").AppendValue(lines[i]).EndRow();
        }
        CleanResult expected = await Cleaner.CleanAsync(fresh.Connection, kind, "raw_input", null);

        string shown = $"{kind}, {what}:\n" + string.Join("\n", lines);
        Assert.True((expected.Read, expected.Clean, expected.Duplicates, expected.Rejects) == (actual.Read, actual.Clean, actual.Duplicates, actual.Rejects),
            $"counts {actual} differ from the cleaner's {expected} for {shown}");
        Assert.Equal(expected.Quality, actual.Quality);
        Assert.Equal(expected.RejectReasons, actual.RejectReasons);
        AssertSameRows(fresh.Rows($"SELECT * FROM {Sql.Identifier(CleaningRules.CleanTable(kind))} ORDER BY ind"), kit.Rows($"SELECT * FROM {cleaner.CleanRowsSql}"), "clean rows", shown);
        AssertSameRows(fresh.Rows($"SELECT * FROM {Sql.Identifier(CleaningRules.RejectTable(kind))}"), kit.Rows($"SELECT * FROM {cleaner.RejectRowsSql}"), "rejects", shown);
        return actual;
    }

    private static void AssertSameRows(List<Dictionary<string, string?>> expected, List<Dictionary<string, string?>> actual, string what, string lines)
    {
        Assert.True(expected.Count == actual.Count, $"{what}: {actual.Count} rows, the cleaner's {expected.Count}, for {lines}");
        for (int i = 0; i < expected.Count; i++)
        {
            Assert.True(expected[i].Keys.SequenceEqual(actual[i].Keys), $"{what}: columns {string.Join(", ", actual[i].Keys)}, the cleaner's {string.Join(", ", expected[i].Keys)}");
            foreach (var (column, value) in expected[i])
                Assert.True(value == actual[i][column], $"{what}, row {i}, {column}: '{actual[i][column]}', the cleaner's '{value}', for {lines}");
        }
    }
}
