using System.Globalization;
using System.Text.Json;
using PinPipe.Tests.Support;
using PinPipe.Transform;

namespace PinPipe.Tests.Transform;

/// <summary>The shared fixtures (raw → expected clean rows and counts) run through the real cleaner.</summary>
public sealed class CleanerFixtureTests : IDisposable
{
    private readonly TransformTestKit _kit = new();

    public void Dispose() => _kit.Dispose();

    public static TheoryData<RecordKind> Kinds => new() { RecordKind.Pin, RecordKind.Geo, RecordKind.User };

    [Theory]
    [MemberData(nameof(Kinds))]
    public async Task Fixture_records_clean_to_exactly_the_expected_rows(RecordKind kind)
    {
        await _kit.CleanAsync(kind, TransformTestKit.FixtureLines("raw", kind));

        var expected = TransformTestKit.FixtureLines("clean", kind).Select(l => JsonDocument.Parse(l).RootElement).ToList();
        var actual = _kit.CleanRows(kind);
        Assert.Equal(expected.Count, actual.Count);
        string[] columns = CleaningRules.Schema(kind).Select(c => c.Name).ToArray();
        foreach (JsonElement row in expected)
        {
            long ind = row.GetProperty("ind").GetInt64();
            Assert.True(actual.ContainsKey(ind), $"{kind}: no clean row for ind {ind}");
            Assert.Equal(columns.Order(StringComparer.Ordinal), row.EnumerateObject().Select(p => p.Name).Order(StringComparer.Ordinal));
            foreach (string column in columns)
                Assert.True(TransformTestKit.Canonical(row.GetProperty(column)) == actual[ind][column],
                    $"{kind} ind {ind} column {column}: expected '{TransformTestKit.Canonical(row.GetProperty(column))}', got '{actual[ind][column]}'");
        }
    }

    [Theory]
    [MemberData(nameof(Kinds))]
    public async Task Fixture_counts_match_counts_json_and_reconcile(RecordKind kind)
    {
        CleanResult result = await _kit.CleanAsync(kind, TransformTestKit.FixtureLines("raw", kind));

        using var counts = JsonDocument.Parse(await File.ReadAllTextAsync(Path.Combine(TestData.Fixtures, "counts.json")));
        JsonElement expected = counts.RootElement.GetProperty(CleaningRules.TableName(kind));
        Assert.Equal(kind, result.Kind);
        Assert.Equal(expected.GetProperty("read").GetInt64(), result.Read);
        Assert.Equal(expected.GetProperty("clean").GetInt64(), result.Clean);
        Assert.Equal(expected.GetProperty("duplicates").GetInt64(), result.Duplicates);
        Assert.Equal(expected.GetProperty("rejects").GetInt64(), result.Rejects);
        Assert.Equal(result.Read, result.Clean + result.Duplicates + result.Rejects);
        Assert.Equal(result.Clean, _kit.CleanRows(kind).Count);
        Assert.Equal(result.Rejects, _kit.RejectRows(kind).Count);
    }

    [Theory]
    [MemberData(nameof(Kinds))]
    public async Task Clean_and_reject_tables_have_the_published_schema(RecordKind kind)
    {
        await _kit.CleanAsync(kind, TransformTestKit.FixtureLines("raw", kind));

        Assert.Equal(CleaningRules.Schema(kind).Select(c => (c.Name, Described(c.DuckDbType))), _kit.Describe(CleaningRules.CleanTable(kind)));
        Assert.Equal(CleaningRules.RejectSchema.Select(c => (c.Name, Described(c.DuckDbType))), _kit.Describe(CleaningRules.RejectTable(kind)));
    }

    [Fact]
    public void Schemas_are_those_of_the_spec()
    {
        Assert.Equal(
            "ind BIGINT, unique_id VARCHAR, title VARCHAR, description VARCHAR, follower_count BIGINT, poster_name VARCHAR, tag_list VARCHAR, is_image_or_video VARCHAR, image_src VARCHAR, save_location VARCHAR, category VARCHAR",
            string.Join(", ", CleaningRules.Schema(RecordKind.Pin).Select(c => $"{c.Name} {c.DuckDbType}")));
        Assert.Equal("ind BIGINT, country VARCHAR, coordinates DOUBLE[], timestamp TIMESTAMPTZ",
            string.Join(", ", CleaningRules.Schema(RecordKind.Geo).Select(c => $"{c.Name} {c.DuckDbType}")));
        Assert.Equal("ind BIGINT, user_name VARCHAR, age INTEGER, date_joined TIMESTAMPTZ",
            string.Join(", ", CleaningRules.Schema(RecordKind.User).Select(c => $"{c.Name} {c.DuckDbType}")));
    }

    [Fact]
    public async Task Fixture_rejects_name_their_problem_and_keep_raw_text_origin_and_key()
    {
        await _kit.CleanAsync(RecordKind.Pin, TransformTestKit.FixtureLines("raw", RecordKind.Pin));
        string[] raw = TransformTestKit.FixtureLines("raw", RecordKind.Pin);
        var rejects = _kit.RejectRows(RecordKind.Pin);

        Assert.Equal(["test/9", "test/10", "test/11", "test/12"], rejects.Select(r => r["origin"]));
        Assert.Equal(raw[9..], rejects.Select(r => r["raw"]));
        Assert.Equal(["index: not an integer (\"abc\")", "not a JSON object (an array)", "index: missing or null", "not_json"],
            rejects.Select(r => r["reason"]));
        Assert.All(rejects, r => Assert.Null(r["ind"]));

        await _kit.CleanAsync(RecordKind.User, TransformTestKit.FixtureLines("raw", RecordKind.User));
        var user = Assert.Single(_kit.RejectRows(RecordKind.User));
        Assert.Equal("age: not an integer (\"abc\")", user["reason"]);
        Assert.Equal("9", user["ind"]);
        Assert.Equal("test/5", user["origin"]);

        await _kit.CleanAsync(RecordKind.Geo, TransformTestKit.FixtureLines("raw", RecordKind.Geo));
        Assert.Equal(["ind: missing or null", "timestamp: not a timestamp (YYYY-MM-DD HH:MM:SS or ISO 8601) (\"yesterday\")"],
            _kit.RejectRows(RecordKind.Geo).Select(r => r["reason"]));
        Assert.Equal([null, "9"], _kit.RejectRows(RecordKind.Geo).Select(r => r["ind"]));
    }

    private static string Described(string type) => type switch
    {
        "TIMESTAMPTZ" => "TIMESTAMP WITH TIME ZONE",
        _ => type,
    };

    internal static long Long(string? text) => long.Parse(text!, CultureInfo.InvariantCulture);
}
