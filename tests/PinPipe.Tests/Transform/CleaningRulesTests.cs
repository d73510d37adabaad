using System.Text.Json.Nodes;
using PinPipe.DuckDb;
using PinPipe.Lake;
using PinPipe.Lake.Delta;
using PinPipe.Lake.Directory;
using PinPipe.Tests.Support;
using PinPipe.Transform;

namespace PinPipe.Tests.Transform;

/// <summary>One test (or theory) per cleaning rule of SPEC §4, with its edge values, against the real DuckDB.</summary>
public sealed class CleaningRulesTests : IDisposable
{
    private readonly TransformTestKit _kit = new();

    public void Dispose() => _kit.Dispose();

    // ------------------------------------------------------------------ records

    internal static string Pin(long index, Action<JsonObject>? change = null)
    {
        var o = new JsonObject
        {
            ["index"] = index,
            ["unique_id"] = $"00000000-0000-4000-8000-{index:D12}",
            ["title"] = "A title",
            ["description"] = "A description",
            ["poster_name"] = "Ann Example",
            ["follower_count"] = "437",
            ["tag_list"] = "a,b",
            ["is_image_or_video"] = "image",
            ["image_src"] = "https://example.invalid/x.jpg",
            ["downloaded"] = 1,
            ["save_location"] = "Local save in /data/art",
            ["category"] = "art",
        };
        change?.Invoke(o);
        return o.ToJsonString();
    }

    private static string Geo(long ind, Action<JsonObject>? change = null)
    {
        var o = new JsonObject { ["ind"] = ind, ["timestamp"] = "2020-08-28 03:52:47", ["latitude"] = -89.9787, ["longitude"] = -173.293, ["country"] = "Albania" };
        change?.Invoke(o);
        return o.ToJsonString();
    }

    private static string User(long ind, Action<JsonObject>? change = null)
    {
        var o = new JsonObject { ["ind"] = ind, ["first_name"] = "Abigail", ["last_name"] = "Ali", ["age"] = 20, ["date_joined"] = "2015-10-24 11:23:51" };
        change?.Invoke(o);
        return o.ToJsonString();
    }

    private async Task<(CleanResult Result, Dictionary<long, Dictionary<string, string?>> Rows)> CleanAsync(RecordKind kind, params string[] lines)
    {
        CleanResult result = await _kit.CleanAsync(kind, lines);
        Assert.Equal(result.Read, result.Clean + result.Duplicates + result.Rejects);
        return (result, _kit.CleanRows(kind));
    }

    private async Task<string?> RejectReasonAsync(RecordKind kind, string line)
    {
        var (result, _) = await CleanAsync(kind, line);
        Assert.Equal(1, result.Rejects);
        var reject = Assert.Single(_kit.RejectRows(kind));
        Assert.Equal(line, reject["raw"]);
        Assert.Equal("test/0", reject["origin"]);
        return reject["reason"];
    }

    // ------------------------------------------------------------------ pin rule 1: index renamed ind

    [Fact]
    public async Task Pin_index_becomes_ind_and_downloaded_is_dropped()
    {
        var (_, rows) = await CleanAsync(RecordKind.Pin, Pin(42));
        var row = Assert.Single(rows).Value;
        Assert.Equal("42", row["ind"]);
        Assert.False(row.ContainsKey("index"));
        Assert.False(row.ContainsKey("downloaded"));
    }

    // ------------------------------------------------------------------ pin rule 2: junk markers and blanks

    [Theory]
    [InlineData("title", "No Title Data Available")]
    [InlineData("description", "No description available Story format")]
    [InlineData("description", "No description available")]
    [InlineData("description", "Untitled")]
    [InlineData("poster_name", "User Info Error")]
    [InlineData("follower_count", "User Info Error")]
    [InlineData("tag_list", "N,o, ,T,a,g,s, ,A,v,a,i,l,a,b,l,e")]
    [InlineData("image_src", "Image src error.")]
    public async Task Every_junk_marker_is_nulled_in_every_record(string column, string marker)
    {
        // Three records carry the marker, first, middle and last: each one is nulled (the original notebook
        // replaced only the last marker per column).
        var (result, rows) = await CleanAsync(RecordKind.Pin,
            Pin(1, o => o[column] = marker), Pin(2), Pin(3, o => o[column] = marker), Pin(4), Pin(5, o => o[column] = marker));

        Assert.Equal(5, result.Clean);
        Assert.Null(rows[1][column]);
        Assert.Null(rows[3][column]);
        Assert.Null(rows[5][column]);
        Assert.NotNull(rows[2][column]);
        Assert.Equal(3, result.QualityOf(column, QualityRules.JunkNulled));
        if (column == "follower_count") Assert.Equal(0, result.QualityOf(column, QualityRules.NotANumberNulled));
    }

    [Fact]
    public async Task A_marker_in_another_column_or_with_other_spacing_is_kept()
    {
        var (result, rows) = await CleanAsync(RecordKind.Pin,
            Pin(1, o => o["title"] = "Untitled"), Pin(2, o => o["title"] = " No Title Data Available"), Pin(3, o => o["description"] = "untitled"));
        Assert.Equal("Untitled", rows[1]["title"]);
        Assert.Equal(" No Title Data Available", rows[2]["title"]);
        Assert.Equal("untitled", rows[3]["description"]);
        Assert.Equal(0, result.QualityOf("title", QualityRules.JunkNulled));
        Assert.Equal(0, result.QualityOf("description", QualityRules.JunkNulled));
    }

    public static TheoryData<string> PinStringColumns => new()
    {
        "unique_id", "title", "description", "poster_name", "tag_list", "is_image_or_video", "image_src", "save_location", "category",
    };

    [Theory]
    [MemberData(nameof(PinStringColumns))]
    public async Task Empty_and_whitespace_only_strings_become_null_in_every_string_column(string column)
    {
        var (result, rows) = await CleanAsync(RecordKind.Pin,
            Pin(1, o => o[column] = ""), Pin(2, o => o[column] = "   "), Pin(3, o => o[column] = "\t \r\n\f\v"),
            Pin(4, o => o[column] = " x "), Pin(5, o => o[column] = null));

        Assert.Null(rows[1][column]);
        Assert.Null(rows[2][column]);
        Assert.Null(rows[3][column]);
        Assert.Equal(" x ", rows[4][column]);
        Assert.Null(rows[5][column]);
        Assert.Equal(3, result.QualityOf(column, QualityRules.BlankNulled));
    }

    [Fact]
    public async Task A_blank_follower_count_is_null_but_not_a_violation()
    {
        var (result, rows) = await CleanAsync(RecordKind.Pin, Pin(1, o => o["follower_count"] = " "), Pin(2, o => o["follower_count"] = ""));
        Assert.Null(rows[1]["follower_count"]);
        Assert.Null(rows[2]["follower_count"]);
        Assert.Equal(2, result.QualityOf("follower_count", QualityRules.BlankNulled));
        Assert.Equal(0, result.QualityOf("follower_count", QualityRules.NotANumberNulled));
    }

    // ------------------------------------------------------------------ pin rule 3: follower_count

    [Theory]
    [InlineData("437", 437L, false)]
    [InlineData("0", 0L, false)]
    [InlineData("5k", 5_000L, true)]
    [InlineData("124k", 124_000L, true)]
    [InlineData("1.5k", 1_500L, true)]
    [InlineData("2M", 2_000_000L, true)]
    [InlineData("1.25M", 1_250_000L, true)]
    [InlineData("1B", 1_000_000_000L, true)]
    [InlineData("2.5B", 2_500_000_000L, true)]
    [InlineData("1.2345k", 1_235L, true)] // rounded to the nearest whole number
    [InlineData("0.0005k", 1L, true)]     // half away from zero
    [InlineData("999999999.999999999B", 999_999_999_999_999_999L, true)]
    [InlineData("9223372036854775807", long.MaxValue, false)]
    public async Task Follower_count_becomes_a_whole_number(string raw, long expected, bool suffix)
    {
        var (result, rows) = await CleanAsync(RecordKind.Pin, Pin(1, o => o["follower_count"] = raw));
        Assert.Equal(expected.ToString(System.Globalization.CultureInfo.InvariantCulture), rows[1]["follower_count"]);
        Assert.Equal(suffix ? 1 : 0, result.QualityOf("follower_count", QualityRules.SuffixConverted));
        Assert.Equal(0, result.QualityOf("follower_count", QualityRules.NotANumberNulled));
    }

    [Fact]
    public async Task A_follower_count_given_as_a_json_number_is_taken_as_is()
    {
        var (_, rows) = await CleanAsync(RecordKind.Pin, Pin(1, o => o["follower_count"] = 437));
        Assert.Equal("437", rows[1]["follower_count"]);
    }

    [Theory]
    [InlineData("lots")]
    [InlineData("1.5")]      // a decimal needs a suffix to be whole
    [InlineData("5K")]       // suffixes are k, M, B exactly
    [InlineData("2m")]
    [InlineData("-5")]
    [InlineData("1,234")]
    [InlineData("5 k")]
    [InlineData(" 437")]
    [InlineData("k")]
    [InlineData("1.k")]
    [InlineData("9223372036854775808")]   // beyond BIGINT
    [InlineData("1234567890k")]           // more than 9 digits before the point with a suffix
    [InlineData("1234567890123456789k")]  // too many digits for a suffix
    public async Task Anything_else_becomes_null_and_counts_as_a_violation(string raw)
    {
        var (result, rows) = await CleanAsync(RecordKind.Pin, Pin(1, o => o["follower_count"] = raw), Pin(2));
        Assert.Equal(2, result.Clean); // a violation is not a reject
        Assert.Null(rows[1]["follower_count"]);
        Assert.Equal("437", rows[2]["follower_count"]);
        Assert.Equal(1, result.QualityOf("follower_count", QualityRules.NotANumberNulled));
        Assert.Equal(0, result.QualityOf("follower_count", QualityRules.SuffixConverted));
    }

    // ------------------------------------------------------------------ pin rule 4: save_location

    [Fact]
    public async Task Save_location_loses_its_leading_local_save_in()
    {
        var (result, rows) = await CleanAsync(RecordKind.Pin,
            Pin(1), Pin(2, o => o["save_location"] = "/data/finance"), Pin(3, o => o["save_location"] = "Local save in "),
            Pin(4, o => o["save_location"] = "x Local save in /data/art"), Pin(5, o => o["save_location"] = "Local save in Local save in /a"));

        Assert.Equal("/data/art", rows[1]["save_location"]);
        Assert.Equal("/data/finance", rows[2]["save_location"]);
        Assert.Null(rows[3]["save_location"]); // nothing left: blank
        Assert.Equal("x Local save in /data/art", rows[4]["save_location"]);
        Assert.Equal("Local save in /a", rows[5]["save_location"]); // only the leading one
        Assert.Equal(3, result.QualityOf("save_location", QualityRules.PrefixStripped));
        Assert.Equal(1, result.QualityOf("save_location", QualityRules.BlankNulled));
    }

    // ------------------------------------------------------------------ coercion of string columns

    [Fact]
    public async Task A_string_column_takes_numbers_and_booleans_as_text()
    {
        var (_, rows) = await CleanAsync(RecordKind.Pin, Pin(1, o => { o["title"] = 12.5; o["category"] = true; }));
        Assert.Equal("12.5", rows[1]["title"]);
        Assert.Equal("true", rows[1]["category"]);
    }

    [Fact]
    public async Task A_string_that_looks_like_json_is_still_a_string()
    {
        var (_, rows) = await CleanAsync(RecordKind.Pin, Pin(1, o => { o["title"] = "[draft] {x}"; o["description"] = "{\"a\": 1}"; }));
        Assert.Equal("[draft] {x}", rows[1]["title"]);
        Assert.Equal("{\"a\": 1}", rows[1]["description"]);
    }

    [Fact]
    public async Task An_array_or_object_in_a_string_column_is_a_reject_naming_the_column()
    {
        Assert.Equal("title: a JSON array, not a string", await RejectReasonAsync(RecordKind.Pin, Pin(1, o => o["title"] = new JsonArray(1, 2))));
        Assert.Equal("country: a JSON object, not a string", await RejectReasonAsync(RecordKind.Geo, Geo(1, o => o["country"] = new JsonObject { ["a"] = 1 })));
    }

    [Fact]
    public async Task Escapes_and_non_ascii_text_survive()
    {
        var (_, rows) = await CleanAsync(RecordKind.Pin,
            "{\"index\": 1, \"title\": \"say \\\"hi\\\" \\u00e9\\n\", \"description\": \"Côte d'Ivoire ✓ 😀\"}");
        Assert.Equal("say \"hi\" é\n", rows[1]["title"]);
        Assert.Equal("Côte d'Ivoire ✓ 😀", rows[1]["description"]);
    }

    // ------------------------------------------------------------------ keys and rejects

    [Theory]
    [InlineData("[1, 2, 3]", "not a JSON object (an array)")]
    [InlineData("\"text\"", "not a JSON object (a string)")]
    [InlineData("42", "not a JSON object (a number)")]
    [InlineData("true", "not a JSON object (a boolean)")]
    [InlineData("null", "not a JSON object (null)")]
    [InlineData("not json at all", "not_json")]
    [InlineData("{\"index\": 1, ", "not_json")]
    [InlineData("", "not_json")]
    [InlineData("{}", "index: missing or null")]
    [InlineData("{\"index\": null, \"title\": \"t\"}", "index: missing or null")]
    [InlineData("{\"ind\": 5}", "index: missing or null")] // pin's key is index
    [InlineData("{\"index\": \"abc\"}", "index: not an integer (\"abc\")")]
    [InlineData("{\"index\": 12.5}", "index: not an integer (\"12.5\")")]
    [InlineData("{\"index\": \"1e3\"}", "index: not an integer (\"1e3\")")]
    [InlineData("{\"index\": true}", "index: not an integer (\"true\")")]
    [InlineData("{\"index\": [1]}", "index: not an integer (\"[1]\")")]
    [InlineData("{\"index\": 9223372036854775808}", "index: out of range for BIGINT (\"9223372036854775808\")")]
    public async Task Records_that_cannot_be_cleaned_are_rejects_with_a_reason(string line, string reason)
    {
        Assert.Equal(reason, await RejectReasonAsync(RecordKind.Pin, line));
        Assert.Empty(_kit.CleanRows(RecordKind.Pin));
    }

    [Theory]
    [InlineData(new byte[] { 0xff, 0xfe, 0x7b }, "invalid_utf8")]
    [InlineData(new byte[] { (byte)'{', (byte)'"', (byte)'a', 0xc3 }, "invalid_utf8")]
    [InlineData(new byte[] { (byte)'h', (byte)'i' }, "not_json")]
    [InlineData(new byte[] { (byte)'{', (byte)'}', (byte)'\n', (byte)'{', (byte)'}' }, "not_json")]
    [InlineData(new byte[0], "not_json")]
    public async Task A_value_the_sink_wrote_as_the_envelope_is_a_reject_for_what_its_bytes_are(byte[] value, string reason)
    {
        string line = RecordLine.Envelope(value);
        Assert.Equal(reason, await RejectReasonAsync(RecordKind.Pin, line));
        Assert.Equal(line, Assert.Single(_kit.RejectRows(RecordKind.Pin))["raw"]);
    }

    [Fact]
    public async Task Rejects_are_counted_by_kind_of_reason_and_the_kinds_add_up_to_the_rejects()
    {
        var (result, _) = await CleanAsync(RecordKind.Pin,
            RecordLine.Envelope([0xff, 0xfe, 0x7b]), RecordLine.Envelope([0xc3]),
            "not json at all", "{\"index\": 1,", "[1, 2]", "\"a string\"",
            "{\"title\": \"no key\"}", "{\"index\": \"x\"}", "{\"index\": 3, \"title\": [1]}",
            Pin(4));
        Assert.Equal((10L, 1L, 9L), (result.Read, result.Clean, result.Rejects));
        Assert.Equal(
            [("invalid_utf8", 2L), ("not_json", 2L), ("not_an_object", 2L), ("bad_fields", 3L)],
            result.RejectReasons.Select(k => (k.Kind, k.Count)));
        Assert.Equal(result.Rejects, result.RejectReasons.Sum(k => k.Count));
        Assert.Equal(2, result.RejectsOf(RejectKinds.InvalidUtf8));
        Assert.Throws<ArgumentException>(() => result.RejectsOf("nonsense"));
    }

    [Fact]
    public async Task A_key_that_appears_twice_in_a_record_takes_its_last_value_as_Python_and_Spark_do()
    {
        var (result, rows) = await CleanAsync(RecordKind.Pin,
            "{\"index\": 1, \"title\": \"first\", \"category\": \"art\", \"title\": \"last\"}",
            "{\"index\": 5, \"index\": 2, \"ti\\u0074le\": \"escaped\", \"title\": null, \"category\": {\"a\": 1}, \"category\": \"kept\"}",
            "{\"index\": 3, \"downloaded\": 1, \"downloaded\": 0, \"title\": \"x\"}",
            "{\"index\": 4, \"follower_count\": \"1k\", \"follower_count\": \"2k\", \"title\": \"a\", \"title\": [1]}");
        Assert.Equal((4L, 3L, 1L), (result.Read, result.Clean, result.Rejects));
        Assert.Equal(("last", "art"), (rows[1]["title"], rows[1]["category"]));
        Assert.False(rows.ContainsKey(5));
        Assert.Equal((null, "kept"), (rows[2]["title"], rows[2]["category"]));
        Assert.Equal("x", rows[3]["title"]);
        var reject = Assert.Single(_kit.RejectRows(RecordKind.Pin));
        Assert.Equal(("4", "title: a JSON array, not a string"), (reject["ind"], reject["reason"]));
    }

    [Fact]
    public async Task A_key_given_as_a_string_of_digits_is_taken()
    {
        // Decision: like an age "50", a key "12" coerces; "-3" too (an integer, however odd as a key).
        var (result, rows) = await CleanAsync(RecordKind.Pin, Pin(1, o => o["index"] = "12"), Pin(2, o => o["index"] = "-3"), Geo(0).Replace("\"ind\":0", "\"ind\":\"7\"", StringComparison.Ordinal));
        Assert.Equal(1, result.Rejects); // a geo record is not a pin: its key is ind, not index
        Assert.Equal(["-3", "12"], rows.Keys.Order().Select(k => k.ToString(System.Globalization.CultureInfo.InvariantCulture)));
        var (_, geo) = await CleanAsync(RecordKind.Geo, Geo(0).Replace("\"ind\":0", "\"ind\":\"7\"", StringComparison.Ordinal));
        Assert.Equal([7L], geo.Keys);
    }

    [Fact]
    public async Task A_reject_keeps_its_key_when_the_key_is_valid_and_lists_every_problem()
    {
        await CleanAsync(RecordKind.User, User(9, o => { o["age"] = "abc"; o["date_joined"] = "yesterday"; }));
        var reject = Assert.Single(_kit.RejectRows(RecordKind.User));
        Assert.Equal("9", reject["ind"]);
        Assert.Equal("age: not an integer (\"abc\"); date_joined: not a timestamp (YYYY-MM-DD HH:MM:SS or ISO 8601) (\"yesterday\")", reject["reason"]);
    }

    [Fact]
    public async Task A_long_bad_value_is_cut_in_the_reason_but_whole_in_raw()
    {
        string value = new('x', 500);
        string line = User(1, o => o["age"] = value);
        Assert.Equal($"age: not an integer (\"{new string('x', 60)}\")", await RejectReasonAsync(RecordKind.User, line));
    }

    // ------------------------------------------------------------------ duplicates

    [Fact]
    public async Task Duplicates_keep_the_first_seen_by_seq_not_by_table_order()
    {
        _kit.Execute("CREATE OR REPLACE TABLE raw_seq (seq BIGINT, origin VARCHAR, line VARCHAR)");
        _kit.Execute($"""
            INSERT INTO raw_seq VALUES
                (30, 'o/30', '{Pin(1, o => o["title"] = "third")}'),
                (10, 'o/10', '{Pin(1, o => o["title"] = "first")}'),
                (20, 'o/20', '{Pin(1, o => o["title"] = "second")}'),
                (15, 'o/15', '{Pin(2)}')
            """);
        CleanResult result = await Cleaner.CleanAsync(_kit.Connection, RecordKind.Pin, "raw_seq", null, CancellationToken.None);

        Assert.Equal((4L, 2L, 2L, 0L), (result.Read, result.Clean, result.Duplicates, result.Rejects));
        Assert.Equal("first", _kit.CleanRows(RecordKind.Pin)[1]["title"]);
    }

    [Fact]
    public async Task A_reject_does_not_claim_its_key_and_quality_counts_only_kept_rows()
    {
        var (result, rows) = await CleanAsync(RecordKind.User,
            User(1, o => o["age"] = "old"),                 // reject
            User(1, o => o["first_name"] = null),           // first valid: kept
            User(1, o => o["last_name"] = null),            // duplicate
            User(1, o => o["last_name"] = null));           // duplicate

        Assert.Equal((4L, 1L, 2L, 1L), (result.Read, result.Clean, result.Duplicates, result.Rejects));
        Assert.Equal("Ali", rows[1]["user_name"]);
        Assert.Equal(1, result.QualityOf("user_name", QualityRules.OneNameOnly));
    }

    [Fact]
    public async Task Keys_already_in_the_target_table_count_as_duplicates()
    {
        _kit.Execute("CREATE OR REPLACE TABLE existing_keys AS SELECT * FROM (VALUES (1::BIGINT), (3), (NULL)) t(ind)");
        var (result, rows) = await CleanAsync(RecordKind.Geo, Geo(1), Geo(2), Geo(3), Geo(3), Geo(4, o => o["timestamp"] = "soon"), Geo(2));
        Assert.Equal((6L, 3L, 2L, 1L), (result.Read, result.Clean, result.Duplicates, result.Rejects));

        result = await _kit.CleanAsync(RecordKind.Geo, [Geo(1), Geo(2), Geo(3), Geo(3), Geo(4, o => o["timestamp"] = "soon"), Geo(2)], "existing_keys");
        Assert.Equal((6L, 1L, 4L, 1L), (result.Read, result.Clean, result.Duplicates, result.Rejects));
        Assert.Equal([2L], _kit.CleanRows(RecordKind.Geo).Keys);
        Assert.Equal(rows[2], _kit.CleanRows(RecordKind.Geo)[2]);
        Assert.Equal("4", Assert.Single(_kit.RejectRows(RecordKind.Geo))["ind"]); // a reject stays a reject
    }

    [Fact]
    public async Task Keys_already_in_a_Delta_table_count_as_duplicates_and_files_whose_stats_rule_them_out_are_not_read()
    {
        using var folder = new TempDirectory("clean-against");
        var store = new DirectoryObjectStore(folder.Path, "bucket");
        var table = new DeltaTable(store, "delta/geo");
        var schema = CleanSchemas.ToDelta(CleaningRules.Schema(RecordKind.Geo));
        foreach (int[] inds in new[] { new[] { 1, 2, 3 }, new[] { 100, 101, 102 } })
        {
            await _kit.CleanAsync(RecordKind.Geo, inds.Select(i => Geo(i)));
            string file = Path.Combine(folder.Path, $"geo-{inds[0]}.parquet");
            _kit.Connection.CopyToParquet(CleaningRules.CleanTable(RecordKind.Geo), file);
            await table.CommitAsync(new DeltaWrite(schema, [file]));
        }
        var snapshot = await table.LoadAsync();

        _kit.CreateRaw("raw_input", [Geo(2), Geo(50), Geo(50), Geo(4, o => o["timestamp"] = "soon")]);
        var result = await Cleaner.CleanAgainstAsync(_kit.Connection, RecordKind.Geo, "raw_input", snapshot);
        Assert.Equal((4L, 1L, 2L, 1L), (result.Read, result.Clean, result.Duplicates, result.Rejects));
        Assert.Equal([50L], _kit.CleanRows(RecordKind.Geo).Keys);
        Assert.Equal((1, 1), (result.KeyFilesRead, result.KeyFilesSkipped)); // [100, 102] holds neither 2 nor 50

        _kit.CreateRaw("raw_input", [Geo(60)]);
        result = await Cleaner.CleanAgainstAsync(_kit.Connection, RecordKind.Geo, "raw_input", snapshot);
        Assert.Equal((1L, 1L, 0L), (result.Read, result.Clean, result.Duplicates));
        Assert.Equal((0, 2), (result.KeyFilesRead, result.KeyFilesSkipped));

        _kit.CreateRaw("raw_input", [Geo(101), Geo(3)]);
        result = await Cleaner.CleanAgainstAsync(_kit.Connection, RecordKind.Geo, "raw_input", null);
        Assert.Equal((2L, 2L, 0L), (result.Read, result.Clean, result.Duplicates)); // no table: nothing is already there
        result = await Cleaner.CleanAgainstAsync(_kit.Connection, RecordKind.Geo, "raw_input", snapshot);
        Assert.Equal((2L, 0L, 2L), (result.Read, result.Clean, result.Duplicates));
        Assert.Equal((2, 0), (result.KeyFilesRead, result.KeyFilesSkipped));
    }

    [Fact]
    public async Task Releasing_freed_memory_between_the_steps_cleans_the_same_rows_and_the_first_seen_of_a_key_wins()
    {
        using var folder = new TempDirectory("clean-release");
        var table = new DeltaTable(new DirectoryObjectStore(folder.Path, "bucket"), "delta/geo");
        await _kit.CleanAsync(RecordKind.Geo, [Geo(1), Geo(2)]);
        string file = Path.Combine(folder.Path, "geo-1.parquet");
        _kit.Connection.CopyToParquet(CleaningRules.CleanTable(RecordKind.Geo), file);
        await table.CommitAsync(new DeltaWrite(CleanSchemas.ToDelta(CleaningRules.Schema(RecordKind.Geo)), [file]));
        var snapshot = await table.LoadAsync();
        // Key 7 three times with different countries: the first seen (by seq) is the clean row, the others duplicates.
        var records = new[] { Geo(2), Geo(7, o => o["country"] = "First"), Geo(7, o => o["country"] = "Second"), Geo(8), Geo(7, o => o["country"] = "Third"), Geo(9, o => o["timestamp"] = "soon") };

        var results = new List<(CleanResult Result, Dictionary<long, Dictionary<string, string?>> Rows)>();
        foreach (bool release in new[] { false, true })
        {
            _kit.CreateRaw("raw_input", records);
            var result = await Cleaner.CleanAgainstAsync(_kit.Connection, RecordKind.Geo, "raw_input", snapshot, releaseFreedMemory: release);
            results.Add((result, _kit.CleanRows(RecordKind.Geo)));
        }
        foreach (var (result, rows) in results)
        {
            Assert.Equal((6L, 2L, 3L, 1L), (result.Read, result.Clean, result.Duplicates, result.Rejects)); // 2 is in the table; 7 twice more
            Assert.Equal([7L, 8L], rows.Keys.Order());
            Assert.Equal("First", rows[7]["country"]);
        }
        Assert.Equal(results[0].Rows[8], results[1].Rows[8]);
    }

    // ------------------------------------------------------------------ geo

    [Theory]
    [InlineData("2020-08-28 03:52:47", "2020-08-28 03:52:47")]
    [InlineData("2020-08-28T03:52:47", "2020-08-28 03:52:47")]
    [InlineData("2018-12-24T18:00:00Z", "2018-12-24 18:00:00")]
    [InlineData("2018-12-24T18:00:00+02:00", "2018-12-24 16:00:00")]
    [InlineData("2018-12-24T18:00:00-05:30", "2018-12-24 23:30:00")]
    [InlineData("2018-12-24 01:00:00+0200", "2018-12-23 23:00:00")]
    [InlineData("2018-12-24T18:00:00.250Z", "2018-12-24 18:00:00.250000")]
    public async Task Timestamps_are_parsed_as_utc(string raw, string expected)
    {
        var (_, rows) = await CleanAsync(RecordKind.Geo, Geo(1, o => o["timestamp"] = raw));
        Assert.Equal(expected, rows[1]["timestamp"]);
        var (_, users) = await CleanAsync(RecordKind.User, User(1, o => o["date_joined"] = raw));
        Assert.Equal(expected, users[1]["date_joined"]);
    }

    [Fact]
    public async Task Timestamps_are_utc_whatever_the_session_time_zone()
    {
        _kit.Execute("SET TimeZone = 'America/New_York'");
        var (_, rows) = await CleanAsync(RecordKind.Geo, Geo(1, o => o["timestamp"] = "2020-01-01 00:00:00"));
        Assert.Equal("2020-01-01 00:00:00", rows[1]["timestamp"]);
        Assert.Equal("2020", _kit.Rows("SELECT year(timestamp) AS y FROM clean_geo")[0]["y"]);
    }

    [Theory]
    [InlineData("yesterday")]
    [InlineData("epoch")]
    [InlineData("infinity")]
    [InlineData("2020-02-30 00:00:00")]
    [InlineData("2020-01-01 24:00:01")]
    [InlineData("2020-01-01")]
    [InlineData("2020/01/01 00:00:00")]
    [InlineData("2020-01-01 00:00:00 Europe/Berlin")]
    [InlineData("")]
    public async Task A_timestamp_that_does_not_parse_is_a_reject(string raw)
    {
        string reason = (await RejectReasonAsync(RecordKind.Geo, Geo(3, o => o["timestamp"] = raw)))!;
        Assert.StartsWith("timestamp: not a timestamp", reason, StringComparison.Ordinal);
        Assert.Equal("3", _kit.RejectRows(RecordKind.Geo)[0]["ind"]);
    }

    [Fact]
    public async Task A_timestamp_given_as_a_number_is_a_reject()
    {
        Assert.StartsWith("timestamp: not a timestamp", await RejectReasonAsync(RecordKind.Geo, Geo(3, o => o["timestamp"] = 1600000000)), StringComparison.Ordinal);
    }

    [Fact]
    public async Task Coordinates_are_latitude_then_longitude_and_numbers_in_strings_coerce()
    {
        var (_, rows) = await CleanAsync(RecordKind.Geo,
            Geo(1), Geo(2, o => { o["latitude"] = "5.3"; o["longitude"] = "-4"; }), Geo(3, o => o["latitude"] = null), Geo(4, o => o.Remove("longitude")),
            Geo(5, o => { o["latitude"] = 1e-5; o["longitude"] = 180; }));
        Assert.Equal("[-89.9787, -173.293]", rows[1]["coordinates"]);
        Assert.Equal("[5.3, -4]", rows[2]["coordinates"]);
        Assert.Equal("[null, -173.293]", rows[3]["coordinates"]);
        Assert.Equal("[-89.9787, null]", rows[4]["coordinates"]);
        Assert.Equal("[1E-05, 180]", rows[5]["coordinates"]);
        Assert.False(rows[1].ContainsKey("latitude"));
    }

    [Theory]
    [InlineData("north")]
    [InlineData("NaN")]
    [InlineData("inf")]
    [InlineData("1e400")]
    public async Task A_coordinate_that_is_not_a_finite_number_is_a_reject(string raw)
    {
        Assert.Equal($"latitude: not a finite number (\"{raw}\")", await RejectReasonAsync(RecordKind.Geo, Geo(1, o => o["latitude"] = raw)));
    }

    [Fact]
    public async Task A_blank_country_is_null()
    {
        var (result, rows) = await CleanAsync(RecordKind.Geo, Geo(1, o => o["country"] = " "), Geo(2, o => o["country"] = "Korea, Republic of"));
        Assert.Null(rows[1]["country"]);
        Assert.Equal("Korea, Republic of", rows[2]["country"]);
        Assert.Equal(1, result.QualityOf("country", QualityRules.BlankNulled));
    }

    // ------------------------------------------------------------------ user

    [Fact]
    public async Task User_name_joins_first_and_last_name_and_copes_with_nulls_and_blanks()
    {
        var (result, rows) = await CleanAsync(RecordKind.User,
            User(1),
            User(2, o => o["first_name"] = null),
            User(3, o => o["last_name"] = null),
            User(4, o => { o["first_name"] = null; o["last_name"] = null; }),
            User(5, o => o["first_name"] = "  "),
            User(6, o => { o.Remove("first_name"); o["last_name"] = ""; }));

        Assert.Equal("Abigail Ali", rows[1]["user_name"]);
        Assert.Equal("Ali", rows[2]["user_name"]);
        Assert.Equal("Abigail", rows[3]["user_name"]);
        Assert.Null(rows[4]["user_name"]);
        Assert.Equal("Ali", rows[5]["user_name"]);
        Assert.Null(rows[6]["user_name"]);
        Assert.False(rows[1].ContainsKey("first_name"));
        Assert.Equal(3, result.QualityOf("user_name", QualityRules.OneNameOnly));
        Assert.Equal(2, result.QualityOf("user_name", QualityRules.NoNameNulled));
        Assert.Equal(1, result.QualityOf("first_name", QualityRules.BlankNulled));
        Assert.Equal(1, result.QualityOf("last_name", QualityRules.BlankNulled));
    }

    [Fact]
    public async Task Age_takes_integers_and_strings_of_integers()
    {
        var (_, rows) = await CleanAsync(RecordKind.User, User(1), User(2, o => o["age"] = "50"), User(3, o => o["age"] = null), User(4, o => o["age"] = "-1"));
        Assert.Equal("20", rows[1]["age"]);
        Assert.Equal("50", rows[2]["age"]);
        Assert.Null(rows[3]["age"]);
        Assert.Equal("-1", rows[4]["age"]);
    }

    [Theory]
    [InlineData("\"abc\"", "age: not an integer (\"abc\")")]
    [InlineData("50.5", "age: not an integer (\"50.5\")")]
    [InlineData("\"50.0\"", "age: not an integer (\"50.0\")")]
    [InlineData("\" 50\"", "age: not an integer (\" 50\")")]
    [InlineData("3000000000", "age: out of range for INTEGER (\"3000000000\")")]
    public async Task An_age_that_is_not_an_integer_is_a_reject(string json, string reason)
    {
        string line = User(1).Replace("\"age\":20", "\"age\":" + json, StringComparison.Ordinal);
        Assert.Equal(reason, await RejectReasonAsync(RecordKind.User, line));
    }

    // ------------------------------------------------------------------ the run

    [Fact]
    public async Task Quality_counts_of_the_pin_fixture()
    {
        CleanResult result = await _kit.CleanAsync(RecordKind.Pin, TransformTestKit.FixtureLines("raw", RecordKind.Pin));
        Assert.Equal(CleaningRules.QualityRulesOf(RecordKind.Pin), result.Quality.Select(q => (q.Column, q.Rule)));
        Assert.Equal(1, result.QualityOf("title", QualityRules.JunkNulled));
        Assert.Equal(2, result.QualityOf("title", QualityRules.BlankNulled));
        Assert.Equal(3, result.QualityOf("description", QualityRules.JunkNulled));
        Assert.Equal(1, result.QualityOf("poster_name", QualityRules.JunkNulled));
        Assert.Equal(1, result.QualityOf("follower_count", QualityRules.JunkNulled));
        Assert.Equal(4, result.QualityOf("follower_count", QualityRules.SuffixConverted));
        Assert.Equal(1, result.QualityOf("follower_count", QualityRules.NotANumberNulled));
        Assert.Equal(1, result.QualityOf("tag_list", QualityRules.JunkNulled));
        Assert.Equal(1, result.QualityOf("tag_list", QualityRules.BlankNulled));
        Assert.Equal(1, result.QualityOf("image_src", QualityRules.JunkNulled));
        Assert.Equal(8, result.QualityOf("save_location", QualityRules.PrefixStripped));
        Assert.Equal(0, result.QualityOf("category", QualityRules.BlankNulled));
        Assert.Throws<ArgumentException>(() => result.QualityOf("category", QualityRules.JunkNulled));
    }

    [Fact]
    public async Task A_second_run_replaces_the_tables_as_for_the_next_micro_batch()
    {
        await CleanAsync(RecordKind.Pin, Pin(1), Pin(2), "bad");
        var (result, rows) = await CleanAsync(RecordKind.Pin, Pin(3));
        Assert.Equal((1L, 1L, 0L, 0L), (result.Read, result.Clean, result.Duplicates, result.Rejects));
        Assert.Equal([3L], rows.Keys);
        Assert.Empty(_kit.RejectRows(RecordKind.Pin));
        Assert.Empty(_kit.Rows("SELECT table_name FROM information_schema.tables WHERE table_name LIKE '_pinpipe%'"));
    }

    [Fact]
    public async Task An_empty_batch_gives_empty_tables()
    {
        var (result, rows) = await CleanAsync(RecordKind.User);
        Assert.Equal((0L, 0L, 0L, 0L), (result.Read, result.Clean, result.Duplicates, result.Rejects));
        Assert.Empty(rows);
        Assert.All(result.Quality, q => Assert.Equal(0, q.Count));
    }

    [Fact]
    public async Task Cancelling_interrupts_a_running_clean_and_leaves_no_stage_table()
    {
        _kit.Execute("""
            CREATE TABLE raw_big AS
            SELECT i AS seq, 'big/' || i AS origin, '{"index": ' || i || ', "title": "t", "follower_count": "1.5k"}' AS line
            FROM range(3000000) r(i)
            """);
        // Cancel from a thread of its own, as Ctrl-C's signal handler does: a timer's callback waits for a thread-pool
        // thread, and while DuckDB keeps both cores busy that can take longer than the whole clean.
        using var cts = new CancellationTokenSource();
        var canceller = new Thread(() => { Thread.Sleep(100); cts.Cancel(); }) { IsBackground = true };
        canceller.Start();
        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => Cleaner.CleanAsync(_kit.Connection, RecordKind.Pin, "raw_big", null, cts.Token));
        canceller.Join();

        Assert.Empty(_kit.Rows("SELECT table_name FROM information_schema.tables WHERE table_name LIKE '_pinpipe%'"));
        var (result, _) = await CleanAsync(RecordKind.Pin, Pin(1)); // the connection still works
        Assert.Equal(1, result.Clean);
    }

    [Fact]
    public async Task Bad_arguments_are_clear_errors()
    {
        _kit.CreateRaw("raw_ok", [Pin(1)]);
        _kit.Execute("CREATE TABLE no_line (seq BIGINT, origin VARCHAR)");
        var db = _kit.Connection;

        var e = await Assert.ThrowsAsync<ArgumentException>(() => Cleaner.CleanAsync(db, RecordKind.Pin, "raw_ok; DROP TABLE raw_ok", null));
        Assert.Contains("not a relation name", e.Message, StringComparison.Ordinal);
        e = await Assert.ThrowsAsync<ArgumentException>(() => Cleaner.CleanAsync(db, RecordKind.Pin, "no_line", null));
        Assert.Contains("'no_line' lacks column(s) line", e.Message, StringComparison.Ordinal);
        e = await Assert.ThrowsAsync<ArgumentException>(() => Cleaner.CleanAsync(db, RecordKind.Pin, "nowhere", null));
        Assert.Contains("'nowhere'", e.Message, StringComparison.Ordinal);
        e = await Assert.ThrowsAsync<ArgumentException>(() => Cleaner.CleanAsync(db, RecordKind.Pin, "raw_ok", "no_line"));
        Assert.Contains("lacks column(s) ind", e.Message, StringComparison.Ordinal);
        await Assert.ThrowsAsync<ArgumentOutOfRangeException>(() => Cleaner.CleanAsync(db, (RecordKind)7, "raw_ok", null));

        using var cts = new CancellationTokenSource();
        await cts.CancelAsync();
        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => Cleaner.CleanAsync(db, RecordKind.Pin, "raw_ok", null, cts.Token));

        using var closed = new DuckDB.NET.Data.DuckDBConnection("DataSource=:memory:");
        await Assert.ThrowsAsync<InvalidOperationException>(() => Cleaner.CleanAsync(closed, RecordKind.Pin, "raw_ok", null));
        Assert.Equal(1, (await Cleaner.CleanAsync(db, RecordKind.Pin, "main.raw_ok", null)).Clean);
    }
}
