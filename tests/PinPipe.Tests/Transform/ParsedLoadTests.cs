using System.Text;
using CsCheck;
using PinPipe.Lake.Directory;
using PinPipe.Tests.Support;
using PinPipe.Transform;

namespace PinPipe.Tests.Transform;

/// <summary>
/// Our parser's path (<see cref="RawLoader.LoadObjectsParsedAsync"/>) against DuckDB's (<see cref="RawLoader.LoadObjectsAsync"/>):
/// the same objects cleaned both ways give the same clean rows, rejects (origin, raw text, reason, key), counts and quality
/// counts, for the shared fixtures and for generated lines full of the cases where the two JSON readers could differ.
/// </summary>
public sealed class ParsedLoadTests : IDisposable
{
    private readonly TempDirectory _root = new("parsedload");

    public void Dispose() => _root.Dispose();

    public static TheoryData<RecordKind> Kinds => new() { RecordKind.Pin, RecordKind.Geo, RecordKind.User };

    [Theory]
    [MemberData(nameof(Kinds))]
    public async Task The_fixtures_clean_the_same_through_both_readers(RecordKind kind)
    {
        var lines = TransformTestKit.FixtureLines("raw", kind).Select(Encoding.UTF8.GetBytes).ToList();

        var (parsed, fields) = await CompareAsync(kind, lines, "fixtures");

        // Most fixture lines are flat objects: our parser read them, DuckDB only the others.
        Assert.True(fields > lines.Count / 2, $"{kind}: our parser read {fields} of {lines.Count} lines");
        Assert.True(parsed.Rejects > 0);
    }

    [Theory]
    [MemberData(nameof(Kinds))]
    public async Task Generated_lines_clean_the_same_through_both_readers(RecordKind kind)
    {
        // A fixed seed: the same lines every run, and a failure shows them.
        var pcg = PCG.Parse(Seed);
        var gen = Lines(kind).Array[1, 40];
        long fastLines = 0, allLines = 0;
        for (int round = 0; round < 40; round++)
        {
            byte[][] lines = gen.Generate(pcg, null!, out _);
            var (_, fields) = await CompareAsync(kind, lines, $"gen{round}");
            fastLines += fields;
            allLines += lines.Length;
        }

        // The generator aims at the edges, yet a good share of its lines are ones our parser reads.
        Assert.True(fastLines > allLines / 10, $"{kind}: our parser read {fastLines} of {allLines} generated lines");
    }

    [Fact]
    public async Task An_object_that_is_not_utf8_has_its_bad_lines_rejected_and_the_others_read()
    {
        byte[] bad = [(byte)'{', (byte)'"', (byte)'i', (byte)'n', (byte)'d', (byte)'"', (byte)':', 0xC3, 0x28, (byte)'}'];
        var lines = new List<byte[]> { Encoding.UTF8.GetBytes("{\"ind\": 1, \"first_name\": \"Ann\"}"), bad, Encoding.UTF8.GetBytes("{\"ind\": 2}") };

        var (parsed, fields) = await CompareAsync(RecordKind.User, lines, "notutf8");

        Assert.Equal(2, fields);
        Assert.Equal(1, parsed.Rejects);
        Assert.Equal(1, parsed.RejectReasons.Single(r => r.Kind == CleaningRules.InvalidUtf8).Count);
    }

    private const string Seed = "0002S7yejrP1";

    /// <summary>
    /// Writes <paramref name="lines"/> as raw objects (two partitions, a few objects each), loads and cleans them both ways,
    /// asserts the same tables and counts, and returns the result and how many lines our parser read.
    /// </summary>
    private async Task<(CleanResult Result, long FieldLines)> CompareAsync(RecordKind kind, IReadOnlyList<byte[]> lines, string name)
    {
        string topic = "U." + CleaningRules.TableName(kind);
        var store = new DirectoryObjectStore(Path.Combine(_root.Path, name), "bucket");
        var keys = new List<string>();
        int perObject = Math.Max(1, (lines.Count + 3) / 4);
        for (int start = 0, n = 0; start < lines.Count; start += perObject, n++)
        {
            int partition = n % 2;
            string key = $"topics/{topic}/partition={partition}/{topic}+{partition}+{start:D10}.json";
            var content = new List<byte>();
            foreach (byte[] line in lines.Skip(start).Take(perObject)) content.AddRange([.. line, (byte)'\n']);
            await store.PutAsync(key, content.ToArray());
            keys.Add(key);
        }

        using var duck = new TransformTestKit();
        using var ours = new TransformTestKit();
        using RawLoadResult byDuckDb = await RawLoader.LoadObjectsAsync(duck.Connection, store, topic, keys, "raw_t");
        using RawLoadResult byUs = await RawLoader.LoadObjectsParsedAsync(ours.Connection, store, topic, kind, keys, "raw_t", parallelism: 2);
        Assert.Equal(byDuckDb.Records, byUs.Records);
        Assert.Equal(byDuckDb.Bytes, byUs.Bytes);
        long fieldLines = ours.Rows($"SELECT count(*) AS n FROM {byUs.FieldsTable}").Single()["n"] is { } n1 ? long.Parse(n1, System.Globalization.CultureInfo.InvariantCulture) : 0;
        long otherLines = ours.Rows("SELECT count(*) AS n FROM raw_t").Single()["n"] is { } n2 ? long.Parse(n2, System.Globalization.CultureInfo.InvariantCulture) : 0;
        Assert.Equal(byUs.Records, fieldLines + otherLines);

        CleanResult expected = await Cleaner.CleanAsync(duck.Connection, kind, byDuckDb, null, releaseFreedMemory: false);
        CleanResult actual = await Cleaner.CleanAsync(ours.Connection, kind, byUs, null, releaseFreedMemory: false);

        string shown = string.Join("\n", lines.Select(l => Encoding.UTF8.GetString(l)));
        Assert.True(expected.Read == actual.Read && expected.Clean == actual.Clean && expected.Duplicates == actual.Duplicates && expected.Rejects == actual.Rejects,
            $"{kind}: counts {actual} differ from DuckDB's {expected} for:\n{shown}");
        Assert.Equal(expected.Quality, actual.Quality);
        Assert.Equal(expected.RejectReasons, actual.RejectReasons);
        string clean = CleaningRules.CleanTable(kind), rejects = CleaningRules.RejectTable(kind);
        AssertSameRows(duck.Rows($"SELECT * FROM {clean} ORDER BY ind"), ours.Rows($"SELECT * FROM {clean} ORDER BY ind"), $"{kind} clean rows", shown);
        AssertSameRows(duck.Rows($"SELECT * FROM {rejects} ORDER BY origin"), ours.Rows($"SELECT * FROM {rejects} ORDER BY origin"), $"{kind} rejects", shown);
        return (actual, fieldLines);
    }

    private static void AssertSameRows(List<Dictionary<string, string?>> expected, List<Dictionary<string, string?>> actual, string what, string lines)
    {
        Assert.True(expected.Count == actual.Count, $"{what}: {actual.Count} rows, DuckDB's path {expected.Count}, for:\n{lines}");
        for (int i = 0; i < expected.Count; i++)
            foreach (var (column, value) in expected[i])
                Assert.True(value == actual[i][column], $"{what}, row {i}, {column}: '{actual[i][column]}', DuckDB's path '{value}', for:\n{lines}");
    }

    // ------------------------------------------------------------------ generated lines

    private static readonly string[] Strings =
    [
        "\"plain\"", "\"Say \\\"hi\\\"\"", "\"caf\\u00e9\"", "\"naïve café\"", "\"emoji \\ud83d\\ude00\"", "\"nul \\u0000 x\"", "\"lone \\ud800 x\"",
        "\"\"", "\"   \"", "\"\\t\\n\"", "\"No Title Data Available\"", "\"User Info Error\"", "\"Local save in /data/art\"", "\"Local save in \"",
        "\"12\"", "\"-5\"", "\"1.5k\"", "\"2M\"", "\"0.5B\"", "\"abc\"", "\"2020-01-01 10:00:00\"", "\"2020-01-01T10:00:00+02:00\"", "\"2020-13-45 99:00:00\"",
        "\"[1,2]\"", "\"{x\"", "\"\\/slash\"", "\"tab\\tin\"", "\"-89.9787\"", "\"1e3\"",
    ];

    private static readonly string[] Numbers =
    [
        "0", "12", "-7", "-0", "123456789012345678", "-123456789012345678", "1234567890123456789", "98765432109876543210987", "1.5", "-89.9787",
        "2.50", "1e3", "1E+2", "-1.25e-3", "1e400", "1e-400", "0.1000000000000000055511151231257827", "3.0",
    ];

    private static readonly string[] Others = ["true", "false", "null", "[1,2]", "{\"a\":1}", "[]", "{}", "[\"x\"]"];

    private static Gen<string> Any(params string[] values) => Gen.OneOf(values.Select(Gen.Const).ToArray());

    /// <summary>Raw lines of <paramref name="kind"/> full of edge cases (also used by <see cref="MicroBatchCleanerTests"/>).</summary>
    internal static Gen<byte[]> Lines(RecordKind kind)
    {
        var rules = CleaningRules.Rules(kind);
        string[] names = [rules.Key.Name, .. rules.Fields.Select(f => f.Name), .. rules.Unread, "extra", "other", "pinpipe_binary_base64"];
        var key = Gen.Frequency<string>(
            (20, Any(names).Select(n => "\"" + n + "\"")),
            (1, Gen.Const("\"\\u0069nd\"")),
            (1, Gen.Const("\"ind\\u0065x\"")));
        var value = Gen.Frequency<string>(
            (8, Any(Strings)),
            (5, Any(Numbers)),
            (2, Any(Others)),
            (3, Gen.Int[-5, 1_000_000].Select(i => i.ToString(System.Globalization.CultureInfo.InvariantCulture))));
        var space = Any("", "", " ", "  ");
        var pair = Gen.Select(key, space, value, (k, s, v) => k + ":" + s + v);
        // Records that name the key with a plain integer most of the time, as real ones do.
        var record = Gen.Select(pair.Array[0, 9], space, Gen.Int[0, 3], Gen.Int[1, 40], (pairs, s, shape, ind) =>
            "{" + s + string.Join("," + s, shape == 0 ? pairs : [$"\"{rules.Key.Name}\":{ind}", .. pairs]) + s + "}");
        var junk = Any("", "not json", "[1,2]", "\"str\"", "{\"ind\": 1", "{\"ind\":1} x", "{\"ind\":1}\r", " {\"ind\":1}", "{\"ind\":1} ", "null", "42",
            "{\"pinpipe_binary_base64\":\"wyg=\"}", "{\"pinpipe_binary_base64\":\"bm90IGpzb24=\"}", "{\"ind\":1,}", "{'ind':1}");
        var text = Gen.Frequency<string>((12, record), (1, junk));
        return Gen.Frequency<byte[]>(
            (30, text.Select(t => Encoding.UTF8.GetBytes(t))),
            (1, Gen.Const(new byte[] { (byte)'{', (byte)'"', (byte)'i', (byte)'n', (byte)'d', (byte)'"', (byte)':', (byte)'1', (byte)',', (byte)'"', (byte)'x', (byte)'"', (byte)':', (byte)'"', 0xFF, (byte)'"', (byte)'}' })));
    }
}
