using System.Text;
using System.Text.Json;
using PinPipe.Lake;
using PinPipe.Lake.Directory;
using PinPipe.Tests.Support;
using PinPipe.Transform;

namespace PinPipe.Tests.Transform;

/// <summary>RawLoader over a real folder bucket, read by DuckDB itself (local) or through the store (fetched).</summary>
public sealed class RawLoaderTests : IDisposable
{
    private const string Topic = "U.pin";
    private readonly TempDirectory _root = new("rawloader");
    private readonly DirectoryObjectStore _store;
    private readonly TransformTestKit _kit = new();

    public RawLoaderTests() => _store = new DirectoryObjectStore(_root.Path, "user-U-bucket");

    public void Dispose()
    {
        _kit.Dispose();
        _root.Dispose();
    }

    public static TheoryData<bool> LocalOrFetched => new() { true, false };

    private IObjectStore Store(bool local) => local ? _store : new FetchingObjectStore(_store);

    private static string Key(string topic, int partition, long start) => $"topics/{topic}/partition={partition}/{topic}+{partition}+{start:D10}.json";

    private async Task PutAsync(string key, string content) => await _store.PutAsync(key, Encoding.UTF8.GetBytes(content));

    private List<(string Origin, string Line)> RawRows(string table) =>
        _kit.Rows($"SELECT origin, line FROM {table} ORDER BY seq").Select(r => (r["origin"]!, r["line"]!)).ToList();

    [Theory]
    [MemberData(nameof(LocalOrFetched))]
    public async Task Objects_of_several_partitions_load_in_partition_and_offset_order_with_their_origins(bool local)
    {
        // Listed in key order partition=10 comes before partition=2, and offsets are zero-padded.
        await PutAsync(Key(Topic, 10, 0), "{\"index\": 100}\n");
        await PutAsync(Key(Topic, 2, 5), "{\"index\": 25}\n{\"index\": 26}\n");
        await PutAsync(Key(Topic, 2, 0), "");                                       // empty object
        await PutAsync(Key(Topic, 0, 2), "{\"index\": 2}");                          // last line without newline
        await PutAsync(Key(Topic, 0, 0), "{\"index\": 0}\n{\"index\": \"é\"}\n");
        await PutAsync(Key("U.pinx", 0, 0), "{\"index\": 999}\n");                  // another topic
        await PutAsync(Key("U.geo", 0, 0), "{\"ind\": 999}\n");

        RawLoadResult result = await RawLoader.LoadTopicAsync(_kit.Connection, Store(local), Topic, "raw_pin");

        Assert.Equal(
            [
                ("U.pin/0/0", "{\"index\": 0}"), ("U.pin/0/1", "{\"index\": \"é\"}"), ("U.pin/0/2", "{\"index\": 2}"),
                ("U.pin/2/5", "{\"index\": 25}"), ("U.pin/2/6", "{\"index\": 26}"), ("U.pin/10/0", "{\"index\": 100}"),
            ],
            RawRows("raw_pin"));
        long bytes = 0;
        await foreach (ObjectInfo o in _store.ListAsync($"topics/{Topic}/")) bytes += o.Size;
        Assert.Equal(("raw_pin", 5, 6, bytes), (result.Table, result.Objects, result.Records, result.Bytes));
        var seqs = _kit.Rows("SELECT seq FROM raw_pin ORDER BY seq").Select(r => r["seq"]).ToList();
        Assert.Equal(seqs.Count, seqs.Distinct().Count());
        Assert.Equal([("seq", "BIGINT"), ("origin", "VARCHAR"), ("line", "VARCHAR")], _kit.Describe("raw_pin"));
    }

    [Theory]
    [MemberData(nameof(LocalOrFetched))]
    public async Task Every_line_is_a_record_even_an_empty_one_so_offsets_stay_true(bool local)
    {
        await PutAsync(Key(Topic, 0, 7), "{\"index\": 7}\n\n{\"index\": 9}\n");
        await PutAsync(Key(Topic, 1, 0), "\n");

        await RawLoader.LoadTopicAsync(_kit.Connection, Store(local), Topic, "raw_pin");
        Assert.Equal([("U.pin/0/7", "{\"index\": 7}"), ("U.pin/0/8", ""), ("U.pin/0/9", "{\"index\": 9}"), ("U.pin/1/0", "")], RawRows("raw_pin"));

        CleanResult clean = await Cleaner.CleanAsync(_kit.Connection, RecordKind.Pin, "raw_pin", null);
        Assert.Equal((4L, 2L, 2L), (clean.Read, clean.Clean, clean.Rejects));
        Assert.Equal([("U.pin/0/8", "not_json"), ("U.pin/1/0", "not_json")],
            _kit.RejectRows(RecordKind.Pin).Select(r => (r["origin"]!, r["reason"]!)));
    }

    [Theory]
    [MemberData(nameof(LocalOrFetched))]
    public async Task Fixture_records_spread_over_partitions_clean_as_in_counts_json_with_log_origins(bool local)
    {
        string[] lines = TransformTestKit.FixtureLines("raw", RecordKind.Pin);
        await PutAsync(Key(Topic, 0, 0), string.Join("\n", lines[..6]) + "\n");
        await PutAsync(Key(Topic, 1, 40), string.Join("\n", lines[6..]));

        RawLoadResult load = await RawLoader.LoadTopicAsync(_kit.Connection, Store(local), Topic, "raw_pin");
        CleanResult clean = await Cleaner.CleanAsync(_kit.Connection, RecordKind.Pin, "raw_pin", null);

        using var counts = JsonDocument.Parse(await File.ReadAllTextAsync(Path.Combine(TestData.Fixtures, "counts.json")));
        JsonElement expected = counts.RootElement.GetProperty("pin");
        Assert.Equal(lines.Length, load.Records);
        Assert.Equal(
            (expected.GetProperty("read").GetInt64(), expected.GetProperty("clean").GetInt64(), expected.GetProperty("duplicates").GetInt64(), expected.GetProperty("rejects").GetInt64()),
            (clean.Read, clean.Clean, clean.Duplicates, clean.Rejects));
        Assert.Equal(["U.pin/1/43", "U.pin/1/44", "U.pin/1/45", "U.pin/1/46"], _kit.RejectRows(RecordKind.Pin).Select(r => r["origin"]));
    }

    [Fact]
    public async Task Given_keys_load_once_each_in_offset_order_whatever_their_order()
    {
        await PutAsync(Key(Topic, 0, 0), "{\"index\": 1}\n");
        await PutAsync(Key(Topic, 0, 1), "{\"index\": 2}\n");
        await PutAsync(Key(Topic, 0, 2), "{\"index\": 3}\n");

        RawLoadResult result = await RawLoader.LoadObjectsAsync(_kit.Connection, _store, Topic, [Key(Topic, 0, 2), Key(Topic, 0, 1), Key(Topic, 0, 2)], "raw_some");
        Assert.Equal(2, result.Objects);
        Assert.Equal([("U.pin/0/1", "{\"index\": 2}"), ("U.pin/0/2", "{\"index\": 3}")], RawRows("raw_some"));
    }

    [Fact]
    public async Task A_topic_without_objects_gives_an_empty_table()
    {
        RawLoadResult result = await RawLoader.LoadTopicAsync(_kit.Connection, _store, Topic, "raw_none");
        Assert.Equal(("raw_none", 0, 0, 0), (result.Table, result.Objects, result.Records, result.Bytes));
        Assert.Empty(RawRows("raw_none"));
        Assert.Equal(0, (await Cleaner.CleanAsync(_kit.Connection, RecordKind.Pin, "raw_none", null)).Read);
    }

    [Fact]
    public async Task A_key_that_is_not_a_raw_object_of_the_topic_is_an_error_naming_it()
    {
        await PutAsync($"topics/{Topic}/partition=0/notes.txt", "x");
        var e = await Assert.ThrowsAsync<ArgumentException>(() => RawLoader.LoadTopicAsync(_kit.Connection, _store, Topic, "raw"));
        Assert.Contains($"'topics/{Topic}/partition=0/notes.txt'", e.Message, StringComparison.Ordinal);

        foreach (string key in new[]
        {
            Key("U.geo", 0, 0),
            $"topics/{Topic}/partition=x/{Topic}+0+0000000000.json",
            $"topics/{Topic}/partition=1/{Topic}+0+0000000000.json",
            $"topics/{Topic}/partition=0/{Topic}+0+-1.json",
            $"{Topic}+0+0.json",
        })
        {
            e = await Assert.ThrowsAsync<ArgumentException>(() => RawLoader.LoadObjectsAsync(_kit.Connection, _store, Topic, [key], "raw"));
            Assert.Contains($"'{key}'", e.Message, StringComparison.Ordinal);
        }
    }

    [Theory]
    [MemberData(nameof(LocalOrFetched))]
    public async Task A_missing_object_is_an_error_naming_it(bool local)
    {
        var e = await Assert.ThrowsAsync<FileNotFoundException>(() => RawLoader.LoadObjectsAsync(_kit.Connection, Store(local), Topic, [Key(Topic, 0, 0)], "raw"));
        Assert.Contains(Key(Topic, 0, 0), e.Message, StringComparison.Ordinal);
    }

    [Theory]
    [MemberData(nameof(LocalOrFetched))]
    public async Task An_object_holding_lines_that_are_not_utf8_loads_each_such_line_as_the_envelope_of_its_bytes(bool local)
    {
        // As an older sink wrote a binary value: raw bytes on a line of their own, between valid lines.
        await PutAsync(Key(Topic, 0, 0), "{\"index\": 1}\n");
        await _store.PutAsync(Key(Topic, 0, 1), (byte[])[.. "{\"index\": 2}\n{"u8, 0xff, 0xfe, .. "}\n{\"index\": 4}\n"u8]);

        var result = await RawLoader.LoadTopicAsync(_kit.Connection, Store(local), Topic, "raw");

        Assert.Equal(4, result.Records);
        Assert.Equal([("U.pin/0/0", "{\"index\": 1}"), ("U.pin/0/1", "{\"index\": 2}"),
            ("U.pin/0/2", "{\"pinpipe_binary_base64\":\"" + Convert.ToBase64String([(byte)'{', 0xff, 0xfe, (byte)'}']) + "\"}"), ("U.pin/0/3", "{\"index\": 4}")],
            RawRows("raw"));
    }

    [Fact]
    public async Task A_store_path_with_glob_characters_is_fetched_instead_of_globbed()
    {
        using var odd = new TempDirectory("raw[1]*");
        var store = new DirectoryObjectStore(odd.Path, "bucket");
        await store.PutAsync(Key(Topic, 0, 0), "{\"index\": 1}\n"u8.ToArray());
        Assert.Contains('[', store.LocalPath(Key(Topic, 0, 0))!);

        await RawLoader.LoadTopicAsync(_kit.Connection, store, Topic, "raw_odd");
        Assert.Equal([("U.pin/0/0", "{\"index\": 1}")], RawRows("raw_odd"));
    }

    [Fact]
    public void The_directory_store_exposes_its_files_and_other_stores_do_not()
    {
        string key = Key(Topic, 3, 42);
        Assert.Equal(Path.Combine(_root.Path, "user-U-bucket", "topics", Topic, "partition=3", $"{Topic}+3+0000000042.json"), _store.LocalPath(key));
        Assert.Null(((IObjectStore)new FetchingObjectStore(_store)).LocalPath(key));
        Assert.Throws<ArgumentException>(() => _store.LocalPath("../escape"));
    }

    [Fact]
    public async Task Bad_arguments_are_clear_errors()
    {
        await Assert.ThrowsAsync<ArgumentException>(() => RawLoader.LoadTopicAsync(_kit.Connection, _store, Topic, "raw; DROP TABLE x"));
        await Assert.ThrowsAsync<ArgumentException>(() => RawLoader.LoadTopicAsync(_kit.Connection, _store, " ", "raw"));
        using var cts = new CancellationTokenSource();
        await cts.CancelAsync();
        await PutAsync(Key(Topic, 0, 0), "{\"index\": 1}\n");
        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => RawLoader.LoadTopicAsync(_kit.Connection, _store, Topic, "raw", cancellationToken: cts.Token));
    }
}
