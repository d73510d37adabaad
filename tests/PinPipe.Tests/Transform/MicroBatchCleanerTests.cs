using System.Text;
using CsCheck;
using PinPipe.DuckDb;
using PinPipe.Lake;
using PinPipe.Lake.Delta;
using PinPipe.Lake.Directory;
using PinPipe.Tests.Support;
using PinPipe.Transform;

namespace PinPipe.Tests.Transform;

/// <summary>
/// <see cref="MicroBatchCleaner"/> against <see cref="Cleaner"/>: micro-batch after micro-batch on one cleaner (statements
/// planned once, for the first micro-batch's empty tables) gives, for each, the clean rows, rejects and counts that
/// <see cref="Cleaner"/> gives for the same records on a fresh connection, whether our parser read the records as they
/// were added (<see cref="RecordParser.PinPipe"/>, <see cref="MicroBatchRows"/>) or DuckDB's JSON functions read them all.
/// </summary>
public sealed class MicroBatchCleanerTests : IDisposable
{
    // One connection per cleaner, as in the stream job: another cleaner's tables created later would have DuckDB plan
    // this one's statements again at each execution, and the plans made for the first micro-batch would go untested.
    private readonly Dictionary<(RecordKind, RecordParser, bool), (TransformTestKit Kit, MicroBatchCleaner Cleaner)> _cleaners = [];

    public void Dispose()
    {
        foreach (var (kit, _) in _cleaners.Values) kit.Dispose();
    }

    public static TheoryData<RecordKind, RecordParser> Kinds => new()
    {
        { RecordKind.Pin, RecordParser.PinPipe }, { RecordKind.Geo, RecordParser.PinPipe }, { RecordKind.User, RecordParser.PinPipe },
        { RecordKind.Pin, RecordParser.DuckDb }, { RecordKind.Geo, RecordParser.DuckDb }, { RecordKind.User, RecordParser.DuckDb },
    };

    /// <summary>Each kind, parser, and with and without a key cache (<see cref="MicroBatchCleaner.KeyCache"/>).</summary>
    public static TheoryData<RecordKind, RecordParser, bool> KindsAndCache
    {
        get
        {
            var data = new TheoryData<RecordKind, RecordParser, bool>();
            foreach (var row in Kinds)
            {
                data.Add((RecordKind)row[0], (RecordParser)row[1], false);
                data.Add((RecordKind)row[0], (RecordParser)row[1], true);
            }
            return data;
        }
    }

    private (TransformTestKit Kit, MicroBatchCleaner Cleaner) For(RecordKind kind, RecordParser parser = RecordParser.PinPipe, bool cached = false)
    {
        if (!_cleaners.TryGetValue((kind, parser, cached), out var pair))
        {
            var kit = new TransformTestKit();
            _cleaners[(kind, parser, cached)] = pair = (kit, new MicroBatchCleaner(kit.Connection, kind, parser) { KeyCache = cached ? new DeltaKeyCache(1 << 20) : null });
        }
        return pair;
    }

    [Theory]
    [MemberData(nameof(Kinds))]
    public async Task The_fixtures_in_micro_batches_of_every_size_clean_as_the_cleaner_cleans_them(RecordKind kind, RecordParser parser)
    {
        string[] lines = TransformTestKit.FixtureLines("raw", kind);
        int[] sizes = [0, 1, 7, 50, lines.Length, 3];
        long rejects = 0, parsed = 0, added = 0;
        for (int i = 0, start = 0; i < sizes.Length; i++)
        {
            // The last micro-batch repeats the first records: each micro-batch is cleaned on its own.
            var batch = lines.Skip(start % lines.Length).Take(sizes[i]).ToArray();
            start += sizes[i];
            var (result, read) = await CompareAsync(kind, batch, batch.Select(_ => (true, true)).ToArray(), MicroBatchPart.All, $"fixtures, micro-batch {i}", parser);
            (rejects, parsed, added) = (rejects + result.Rejects, parsed + read, added + batch.Length);
        }
        Assert.True(rejects > 0);
        // Our parser read most fixture records as they were added (and some of them are rejects); DuckDB's reads them all otherwise.
        if (parser == RecordParser.PinPipe) Assert.True(parsed > added / 2, $"{kind}: our parser read {parsed} of {added} records");
        else Assert.Equal(0, parsed);
    }

    [Theory]
    [MemberData(nameof(Kinds))]
    public async Task Generated_micro_batches_clean_as_the_cleaner_cleans_them(RecordKind kind, RecordParser parser)
    {
        var pcg = PCG.Parse("0004Ab1cD3eF");
        var gen = ParsedLoadTests.Lines(kind).Array[0, 60];
        long clean = 0, rejects = 0, duplicates = 0;
        for (int round = 0; round < 30; round++)
        {
            byte[][] batch = gen.Generate(pcg, null!, out _); // as generated: some are not UTF-8
            var (result, _) = await CompareAsync(kind, batch, null, null, MicroBatchPart.All, $"generated round {round}", parser);
            (clean, rejects, duplicates) = (clean + result.Clean, rejects + result.Rejects, duplicates + result.Duplicates);
        }
        Assert.True(clean > 0 && rejects > 0 && duplicates > 0, $"clean {clean}, rejects {rejects}, duplicates {duplicates}");
    }

    [Theory]
    [MemberData(nameof(KindsAndCache))]
    public async Task Generated_micro_batches_against_their_Delta_table_clean_as_the_cleaner_cleans_them_against_it(RecordKind kind, RecordParser parser, bool cached)
    {
        // As the stream job: each micro-batch's clean rows become the table's next file, and the next micro-batch is
        // cleaned against the table, where a key already there is a duplicate.
        using var folder = new TempDirectory("micro-batch-against");
        var table = new DeltaTable(new DirectoryObjectStore(folder.Path, "bucket"), "delta/" + kind);
        var schema = CleanSchemas.ToDelta(CleaningRules.Schema(kind));
        var (kit, cleaner) = For(kind, parser, cached);
        var pcg = PCG.Parse("0007Ab1cD3eF");
        var gen = ParsedLoadTests.Lines(kind).Array[0, 60];
        string key = CleaningRules.Rules(kind).Key.Name;
        DeltaSnapshot? snapshot = null;
        var inTable = new HashSet<long>();
        int filesRead = 0, filesSkipped = 0, filesCached = 0, cleanAgainstTable = 0;
        for (int round = 0; round < 13; round++)
        {
            // First the fixtures' records of keys from 1,000 up: a file whose stats rule out the generated keys (mostly 1-40).
            byte[][] batch = round == 0
                ? [.. TransformTestKit.FixtureLines("raw", kind).Where(l => KeyOf(l, key) >= 1_000).Select(l => Encoding.UTF8.GetBytes(l))]
                : gen.Generate(pcg, null!, out _);
            var (result, _) = await CompareAsync(kind, batch, null, null, MicroBatchPart.All, $"against the table, round {round}", parser, snapshot, cached);
            (filesRead, filesSkipped, filesCached) = (filesRead + result.KeyFilesRead, filesSkipped + result.KeyFilesSkipped, filesCached + result.KeyFilesCached);

            // Told apart from the table without it: the micro-batch's clean keys alone, less those the table holds.
            var expected = (await CleanKeysAloneAsync(kind, batch)).Except(inTable).Order().ToList();
            var clean = Inds(kit, cleaner.CleanRowsSql).Order().ToList();
            Assert.Equal(expected, clean);
            if (clean.Count == 0) continue;
            if (snapshot is not null) cleanAgainstTable += clean.Count;
            inTable.UnionWith(clean);
            string file = Path.Combine(folder.Path, $"round-{round}.parquet");
            kit.Connection.CopyToParquet(cleaner.CleanFileRowsSql(clean.Count), file); // as the stream job writes it
            await table.CommitAsync(new DeltaWrite(schema, [file]));
            snapshot = await table.LoadAsync();
        }
        Assert.True(cleanAgainstTable > 0, "no micro-batch against the table had a clean row");
        Assert.True(filesRead > 0, $"the key check read no file ({filesSkipped} skipped)");
        Assert.True(filesSkipped > 0, $"the key check skipped no file ({filesRead} read)");
        Assert.True(!cached || filesCached > 0, $"the key check took no file's keys from the cache ({filesRead} read)");

        static long KeyOf(string line, string key)
        {
            try
            {
                using var json = System.Text.Json.JsonDocument.Parse(line);
                return json.RootElement.ValueKind == System.Text.Json.JsonValueKind.Object && json.RootElement.TryGetProperty(key, out var v)
                    && v.ValueKind == System.Text.Json.JsonValueKind.Number && v.TryGetInt64(out long k) ? k : -1;
            }
            catch (System.Text.Json.JsonException)
            {
                return -1; // a junk line of the fixtures
            }
        }
    }

    /// <summary>The clean keys of <paramref name="values"/> cleaned by <see cref="Cleaner"/> on a fresh connection, with no table.</summary>
    private static async Task<HashSet<long>> CleanKeysAloneAsync(RecordKind kind, byte[][] values)
    {
        using var alone = new TransformTestKit();
        alone.CreateRaw("raw_input", values.Select(v => RecordLine.ToText(v)));
        await Cleaner.CleanAsync(alone.Connection, kind, "raw_input", null);
        return [.. Inds(alone, Sql.Identifier(CleaningRules.CleanTable(kind)))];
    }

    /// <summary>The <c>ind</c> column of <paramref name="relation"/>.</summary>
    private static IEnumerable<long> Inds(TransformTestKit kit, string relation) =>
        kit.Rows($"SELECT ind FROM {relation}").Select(r => long.Parse(r["ind"]!, System.Globalization.CultureInfo.InvariantCulture));

    [Theory]
    [MemberData(nameof(Kinds))]
    public async Task Each_part_of_a_split_micro_batch_cleans_as_the_cleaner_cleans_its_records(RecordKind kind, RecordParser parser)
    {
        string[] lines = TransformTestKit.FixtureLines("raw", kind);
        var flags = lines.Select((_, i) => (ForClean: i % 3 != 0, ForRejects: i % 4 != 1)).ToArray();
        for (int round = 0; round < 2; round++)
        {
            await CompareAsync(kind, lines, flags, MicroBatchPart.ForClean, $"for_clean, round {round}", parser);
            await CompareAsync(kind, lines, flags, MicroBatchPart.ForRejects, $"for_rejects, round {round}", parser);
            await CompareAsync(kind, lines, flags, MicroBatchPart.All, $"all, round {round}", parser);
        }
    }

    [Theory]
    [InlineData(RecordKind.Pin)]
    [InlineData(RecordKind.Geo)]
    [InlineData(RecordKind.User)]
    public async Task A_micro_batch_our_parser_read_whole_runs_the_rules_without_the_JSON_text_and_cleans_as_the_cleaner_cleans_it(RecordKind kind)
    {
        string[] lines = TransformTestKit.FixtureLines("raw", kind);
        var reader = new FieldReader(kind);
        string[] flat = lines.Where(l => reader.TryRead(Encoding.UTF8.GetBytes(l))).ToArray();
        Assert.True(flat.Length >= 5, $"{flat.Length} fixture records our parser reads");
        string text = " " + flat[0]; // JSON still, but not as our parser reads a record: DuckDB's functions read its text
        Assert.False(reader.TryRead(Encoding.UTF8.GetBytes(text)));
        var cleaner = For(kind).Cleaner;
        long before = cleaner.FieldsOnlyStages;

        // Every record read as fields (rejects among them): the rules' statement without the text branch.
        var (whole, parsed) = await CompareAsync(kind, flat, null, MicroBatchPart.All, "records our parser read");
        Assert.Equal(flat.Length, parsed);
        Assert.True(whole.Rejects > 0 && whole.Clean > 0, $"clean {whole.Clean}, rejects {whole.Rejects}");
        Assert.Equal(before + 1, cleaner.FieldsOnlyStages);
        // One record as text: the whole statement.
        await CompareAsync(kind, [.. flat, text], null, MicroBatchPart.All, "and one as text");
        Assert.Equal(before + 1, cleaner.FieldsOnlyStages);
        // A part of a split micro-batch read whole.
        var flags = flat.Select((_, i) => (i % 3 != 0, i % 2 == 0)).ToArray();
        await CompareAsync(kind, flat, flags, MicroBatchPart.ForClean, "records our parser read, for the clean table");
        await CompareAsync(kind, flat, flags, MicroBatchPart.ForRejects, "records our parser read, for the reject table");
        Assert.Equal(before + 3, cleaner.FieldsOnlyStages);
        // Text, then none, then text again: each micro-batch sees its own records only (the tables it filled are emptied).
        await CompareAsync(kind, [text, .. flat], null, MicroBatchPart.All, "one as text first");
        await CompareAsync(kind, flat, null, MicroBatchPart.All, "read whole after one with text");
        await CompareAsync(kind, flat, null, MicroBatchPart.All, "read whole again");
        await CompareAsync(kind, [.. flat, text], null, MicroBatchPart.All, "one as text after two read whole");
        Assert.Equal(before + 5, cleaner.FieldsOnlyStages);
    }

    [Theory]
    [InlineData(RecordParser.PinPipe)]
    [InlineData(RecordParser.DuckDb)]
    public async Task Values_that_are_null_not_utf8_or_not_flat_go_to_duckdb_and_clean_as_the_cleaner_cleans_them(RecordParser parser)
    {
        byte[] notUtf8 = [.. "{\"ind\": 7, \"first_name\": \"A"u8, 0xC3, 0x28, .. "\"}"u8];
        byte[][] values =
        [
            "{\"ind\": 1, \"first_name\": \"Ann\", \"last_name\": \"Lee\", \"age\": 30, \"date_joined\": \"2020-01-01 10:00:00\"}"u8.ToArray(),
            notUtf8,
            [],
            "{\"ind\": 2, \"first_name\": {\"nested\": 1}}"u8.ToArray(),
            "{\"ind\": 3, \"ind\": 4}"u8.ToArray(),
            " {\"ind\": 5}"u8.ToArray(),
            "{\"ind\": \"x\"}"u8.ToArray(),
            "{\"ind\":\n 6}"u8.ToArray(),
        ];
        bool[] isNull = [false, false, true, false, false, false, false, false];
        var (result, parsed) = await CompareAsync(RecordKind.User, values, isNull, null, MicroBatchPart.All, "edge values", parser);

        // Read by our parser: the flat objects (1, "x" as ind, and the one over two lines); the rest by DuckDB's functions.
        Assert.Equal(parser == RecordParser.PinPipe ? 3 : 0, parsed);
        Assert.Equal(1, result.RejectReasons.Single(r => r.Kind == CleaningRules.InvalidUtf8).Count);
        Assert.True(result.Rejects >= 3, $"rejects {result.Rejects}");
    }

    [Theory]
    [MemberData(nameof(Kinds))]
    public async Task A_micro_batch_without_rejects_skips_the_reject_tables_statements_and_the_next_one_with_rejects_has_them_all(RecordKind kind, RecordParser parser)
    {
        string[] lines = TransformTestKit.FixtureLines("raw", kind);
        var (kit, cleaner) = For(kind, parser);
        long before = cleaner.RejectsFilled;
        var (all, _) = await CompareAsync(kind, lines, null, MicroBatchPart.All, "fixtures", parser);
        Assert.True(all.Rejects > 0 && all.Clean > 0, $"clean {all.Clean}, rejects {all.Rejects}");
        Assert.Equal(before + 1, cleaner.RejectsFilled);
        // The fixtures without the records that were rejected (their origins are test/<position>).
        var rejected = kit.Rows($"SELECT origin FROM {cleaner.RejectRowsSql}").Select(r => int.Parse(r["origin"]!["test/".Length..], System.Globalization.CultureInfo.InvariantCulture)).ToHashSet();
        Assert.Equal(all.Rejects, rejected.Count);
        string[] valid = lines.Where((_, i) => !rejected.Contains(i)).ToArray();

        var (none, _) = await CompareAsync(kind, valid, null, MicroBatchPart.All, "fixtures without their rejects", parser);
        Assert.Equal((0L, all.Clean), (none.Rejects, none.Clean));
        Assert.Equal(before + 1, cleaner.RejectsFilled);
        // Rejects again after a micro-batch without: each of them, once (CompareAsync compares the rows).
        var (again, _) = await CompareAsync(kind, lines, null, MicroBatchPart.All, "fixtures again", parser);
        Assert.Equal(all.Rejects, again.Rejects);
        Assert.Equal(before + 2, cleaner.RejectsFilled);
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
        // 1,000 pins a micro-batch (the fixtures repeated): each fills the raw (or fields) and stage tables with about a MB.
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
    public async Task A_micro_batch_file_is_sorted_by_ind_only_when_its_rows_fill_more_than_one_row_group()
    {
        // Keys falling, so that rows as cleaned are out of ind order: a row group and a thousand rows, then three hundred.
        var (kit, geo) = For(RecordKind.Geo);
        using var folder = new TempDirectory("micro-batch-file");
        foreach (int size in new[] { (int)DuckDbSession.RowGroupRows + 1_000, 300 })
        {
            geo.Begin();
            using (var rows = geo.OpenRows())
            {
                for (int i = 0; i < size; i++)
                {
                    string line = $$"""{"ind": {{size - i}}, "country": "Chad", "latitude": 1.5, "longitude": 2.5, "timestamp": "2021-01-01 10:00:00"}""";
                    rows.Add($"test/{i}", Encoding.UTF8.GetBytes(line), isNull: false, forClean: true, forRejects: true);
                }
            }
            var result = await geo.CleanAsync(MicroBatchPart.All, null);
            Assert.Equal(size, result.Clean);
            string file = Path.Combine(folder.Path, $"{size}.parquet");
            kit.Connection.CopyToParquet(geo.CleanFileRowsSql(result.Clean), file);

            // Every row once, in the file's order; each row group's ind range from its footer.
            var inds = Inds(kit, $"read_parquet({Sql.Literal(file)})").ToList();
            var groups = kit.Rows($"SELECT stats_min, stats_max FROM parquet_metadata({Sql.Literal(file)}) WHERE path_in_schema = 'ind' ORDER BY row_group_id")
                .Select(r => (long.Parse(r["stats_min"]!, System.Globalization.CultureInfo.InvariantCulture), long.Parse(r["stats_max"]!, System.Globalization.CultureInfo.InvariantCulture))).ToList();
            if (size > DuckDbSession.RowGroupRows)
            {
                // Sorted: two row groups of disjoint ranges, so that a key check skips the one a key is outside of.
                Assert.Same(geo.CleanRowsSql, geo.CleanFileRowsSql(result.Clean));
                Assert.Equal(Enumerable.Range(1, size).Select(i => (long)i), inds);
                Assert.Equal([(1L, DuckDbSession.RowGroupRows), (DuckDbSession.RowGroupRows + 1, (long)size)], groups);
            }
            else
            {
                // As cleaned, not sorted: one row group, whose range is its rows' whatever their order.
                Assert.Same(geo.CleanRowSetSql, geo.CleanFileRowsSql(result.Clean));
                Assert.Equal(Enumerable.Range(1, size).Select(i => (long)i), inds.Order());
                Assert.NotEqual(inds.Order(), inds);
                Assert.Equal([(1L, (long)size)], groups);
            }
        }
    }

    [Fact]
    public void Rows_opened_twice_in_one_micro_batch_are_refused_until_the_next_begin()
    {
        var (_, user) = For(RecordKind.User);
        user.Begin();
        using (var rows = user.OpenRows()) rows.Add("test/0", "{\"ind\": 1}"u8, isNull: false, forClean: true, forRejects: true);

        var ex = Assert.Throws<InvalidOperationException>(() => user.OpenRows());
        Assert.Contains("Begin", ex.Message, StringComparison.Ordinal);
        user.Begin();
        using (var again = user.OpenRows()) Assert.Equal(0, again.Count);
    }

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
    private Task<(CleanResult Result, int Parsed)> CompareAsync(RecordKind kind, string[] lines, (bool ForClean, bool ForRejects)[]? flags, MicroBatchPart part, string what,
        RecordParser parser = RecordParser.PinPipe) =>
        CompareAsync(kind, lines.Select(l => Encoding.UTF8.GetBytes(l)).ToArray(), null, flags, part, what, parser);

    /// <summary>
    /// Adds <paramref name="values"/> (with their for_clean/for_rejects flags; null: both) as one micro-batch through
    /// <see cref="MicroBatchCleaner.OpenRows"/>, cleans it, and the records of <paramref name="part"/> with
    /// <see cref="Cleaner"/> on a fresh connection (their JSON text, as the sink writes a value's line); asserts the same
    /// result and rows. Returns the result and how many records our parser read.
    /// </summary>
    private async Task<(CleanResult Result, int Parsed)> CompareAsync(RecordKind kind, byte[][] values, bool[]? isNull, (bool ForClean, bool ForRejects)[]? flags, MicroBatchPart part, string what,
        RecordParser parser, DeltaSnapshot? table = null, bool cached = false)
    {
        var (kit, cleaner) = For(kind, parser, cached);
        cleaner.Begin();
        int parsed;
        using (var rows = cleaner.OpenRows())
        {
            for (int i = 0; i < values.Length; i++)
            {
                var (forClean, forRejects) = flags?[i] ?? (true, true);
                rows.Add($"test/{i}", values[i], isNull?[i] ?? false, forClean, forRejects);
            }
            Assert.Equal(values.Length, rows.Count);
            parsed = rows.Parsed;
        }
        CleanResult actual = await cleaner.CleanAsync(part, table);
        string[] lines = values.Select((v, i) => isNull?[i] == true ? "" : PinPipe.Lake.RecordLine.ToText(v)).ToArray();

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
        CleanResult expected = await Cleaner.CleanAgainstAsync(fresh.Connection, kind, "raw_input", table);

        string shown = $"{kind}, {what}:\n" + string.Join("\n", lines);
        Assert.True((expected.Read, expected.Clean, expected.Duplicates, expected.Rejects) == (actual.Read, actual.Clean, actual.Duplicates, actual.Rejects),
            $"counts {actual} differ from the cleaner's {expected} for {shown}");
        // With a key cache, the files the cleaner reads are the ones the cache did not hold.
        Assert.Equal((expected.KeyFilesRead, expected.KeyFilesSkipped), (actual.KeyFilesRead + actual.KeyFilesCached, actual.KeyFilesSkipped));
        if (!cached) Assert.Equal(0, actual.KeyFilesCached);
        Assert.Equal(expected.Quality, actual.Quality);
        Assert.Equal(expected.RejectReasons, actual.RejectReasons);
        AssertSameRows(fresh.Rows($"SELECT * FROM {Sql.Identifier(CleaningRules.CleanTable(kind))} ORDER BY ind"), kit.Rows($"SELECT * FROM {cleaner.CleanRowsSql}"), "clean rows", shown);
        AssertSameRows(fresh.Rows($"SELECT * FROM {Sql.Identifier(CleaningRules.RejectTable(kind))}"), kit.Rows($"SELECT * FROM {cleaner.RejectRowsSql}"), "rejects", shown);
        // The clean rows' keys, ascending, as the key cache takes them for the file written from the rows (from the valid and
        // held keys when the check knew every held key, else by a statement).
        long[] cleanKeys = [.. kit.Rows($"SELECT ind FROM {cleaner.CleanRowsSql}").Select(r => long.Parse(r["ind"]!, System.Globalization.CultureInfo.InvariantCulture))];
        Assert.Equal(cleanKeys, cleaner.CleanKeys());
        return (actual, parsed);
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
