using System.Net;
using System.Net.Http.Headers;
using System.Text;
using System.Text.Json;
using PinPipe.Lake.Delta;
using PinPipe.Lake.Directory;
using PinPipe.Tests.Support;

namespace PinPipe.Tests.Integration;

/// <summary>
/// Poison records in the batch lane as a careless client sends them, each part its own process on loopback:
/// <c>pinpipe serve</c> refuses JSON values that are not UTF-8, takes binary values of any bytes; <c>pinpipe sink</c>
/// writes every record as one JSON line; <c>pinpipe batch</c> succeeds and keeps each bad record as a reject.
/// </summary>
public sealed class PoisonRecordsEndToEndTests
{
    private const string UserId = "u5";
    private static readonly TimeSpan Timeout = TimeSpan.FromSeconds(180);

    private const string Geo = """{"ind":1,"country":"X","latitude":1.5,"longitude":2.5,"timestamp":"2020-01-01 00:00:00"}""";
    private const string User = """{"ind":1,"first_name":"A","last_name":"B","age":30,"date_joined":"2020-01-01 00:00:00"}""";

    private static string Bucket(string dir) => Path.Combine(dir, ".pinpipe", "buckets", $"user-{UserId}-bucket");

    private static async Task<HttpResponseMessage> PostAsync(HttpClient client, string topic, byte[] body, string contentType)
    {
        using var content = new ByteArrayContent(body);
        content.Headers.ContentType = MediaTypeHeaderValue.Parse(contentType);
        return await client.PostAsync($"topics/{topic}", content);
    }

    private static string Binary(params byte[][] values) =>
        "{\"records\":[" + string.Join(",", values.Select(v => $"{{\"value\":\"{Convert.ToBase64String(v)}\"}}")) + "]}";

    [Fact]
    public async Task Bad_values_are_refused_or_kept_as_rejects_and_the_batch_run_succeeds()
    {
        using var dir = new TempDirectory("poison");
        string[] common = ["--user-id", UserId];
        int port = CliProcess.FreePort();
        var api = $"http://127.0.0.1:{port}";
        await using var serve = CliProcess.Start(dir.Path, ["serve", "--urls", api, .. common]);
        await serve.WaitHealthyAsync(new Uri($"{api}/healthz"), Timeout);
        using var client = new HttpClient { BaseAddress = new Uri(api + "/") };
        const string json = "application/vnd.kafka.json.v2+json", binary = "application/vnd.kafka.binary.v2+json";

        using (var ok = await PostAsync(client, $"{UserId}.pin", """{"records":[{"value":{"index":1,"title":"one"}},{"value":{"index":2,"title":"two"}}]}"""u8.ToArray(), json))
            Assert.Equal(HttpStatusCode.OK, ok.StatusCode);
        // Raw 0xFF bytes inside a JSON string: refused naming the record, nothing written.
        using (var bad = await PostAsync(client, $"{UserId}.pin", [.. """{"records":[{"value":{"index":9}},{"value":{"index":8,"title":"x"""u8, 0xFF, .. "\"}}]}"u8], json))
        {
            string body = await bad.Content.ReadAsStringAsync();
            Assert.True(bad.StatusCode == HttpStatusCode.BadRequest, body);
            Assert.Contains("records[1].value is not valid UTF-8 JSON", body, StringComparison.Ordinal);
        }
        // Binary values are any bytes: not UTF-8, two JSON values around a newline, JSON spanning lines.
        byte[] notUtf8 = [0xFF, 0xFE, (byte)'{'], twoValues = "{\"index\":3}\n{\"index\":4}"u8.ToArray(), multiLine = "{\"index\": 5,\n \"title\": \"five\"}"u8.ToArray();
        using (var ok = await PostAsync(client, $"{UserId}.pin", Encoding.UTF8.GetBytes(Binary(notUtf8, twoValues, multiLine)), binary))
            Assert.Equal(HttpStatusCode.OK, ok.StatusCode);
        using (var ok = await PostAsync(client, $"{UserId}.geo", Encoding.UTF8.GetBytes($"{{\"records\":[{{\"value\":{Geo}}}]}}"), json))
            Assert.Equal(HttpStatusCode.OK, ok.StatusCode);
        using (var ok = await PostAsync(client, $"{UserId}.user", Encoding.UTF8.GetBytes($"{{\"records\":[{{\"value\":{User}}}]}}"), json))
            Assert.Equal(HttpStatusCode.OK, ok.StatusCode);

        await using (var sink = CliProcess.Start(dir.Path, ["sink", "--flush-size", "100", "--rotate-interval", "1s", .. common]))
        {
            string pinFolder = Path.Combine(Bucket(dir.Path), "topics", $"{UserId}.pin", "partition=0");
            await WaitUntilAsync(() => Lines(pinFolder).Count >= 5 && Lines(Path.Combine(Bucket(dir.Path), "topics", $"{UserId}.user", "partition=0")).Count >= 1, () => sink.Output);
            Assert.Equal(0, await sink.InterruptAsync(Timeout));
            // One line of valid JSON per record of the log: 5 pin records (the refused request wrote nothing).
            var lines = Lines(pinFolder);
            Assert.Equal(5, lines.Count);
            foreach (string line in lines) JsonDocument.Parse(line).Dispose();
            Assert.Equal("{\"index\":5,\"title\":\"five\"}", lines[4]);
        }
        Assert.Equal(0, await serve.InterruptAsync(Timeout));

        var (code, output) = await CliProcess.RunAsync(dir.Path, Timeout, ["batch", .. common]);
        Assert.True(code == 0, output);
        var rejects = await ReadRejectsAsync(dir.Path, "pin");
        Assert.Equal([($"{UserId}.pin/0/2", "invalid_utf8"), ($"{UserId}.pin/0/3", "not_json")], rejects);
        Assert.Matches(@"read\s+5 = clean\s+3 ", output);
        // The run's quality figures count them by reason.
        string summary = Assert.Single(Directory.GetFiles(Path.Combine(dir.Path, ".pinpipe", "runs"), "summary.json", SearchOption.AllDirectories));
        using var doc = System.Text.Json.JsonDocument.Parse(await File.ReadAllBytesAsync(summary));
        var pin = doc.RootElement.GetProperty("tables").EnumerateArray().Single(t => t.GetProperty("table").GetString() == "pin");
        Assert.Equal(
            [("invalid_utf8", 1L), ("not_json", 1L), ("not_an_object", 0L), ("bad_fields", 0L)],
            pin.GetProperty("rejectReasons").EnumerateArray().Select(r => (r.GetProperty("reason").GetString(), r.GetProperty("count").GetInt64())));
        string report = await File.ReadAllTextAsync(Path.Combine(Path.GetDirectoryName(summary)!, "report.html"));
        Assert.Contains("<td>pin</td><td>(record)</td><td>rejected: invalid_utf8</td><td class=\"num\">1</td>", report, StringComparison.Ordinal);
    }

    [Fact]
    public async Task An_object_an_older_sink_wrote_with_raw_invalid_bytes_no_longer_stops_the_batch_run()
    {
        using var dir = new TempDirectory("poison");
        string topics = Path.Combine(Bucket(dir.Path), "topics");
        void Put(string topic, long start, byte[] content)
        {
            string folder = Path.Combine(topics, $"{UserId}.{topic}", "partition=0");
            Directory.CreateDirectory(folder);
            File.WriteAllBytes(Path.Combine(folder, $"{UserId}.{topic}+0+{start:D10}.json"), content);
        }
        Put("pin", 0, "{\"index\":1,\"title\":\"one\"}\n"u8.ToArray());
        // As the old sink wrote a binary value holding invalid UTF-8 and a newline: two lines, one not UTF-8.
        Put("pin", 1, [.. "{\"index\":2}\n"u8, 0xFF, 0xFE, (byte)'\n', .. "not json\n"u8]);
        Put("geo", 0, Encoding.UTF8.GetBytes(Geo + "\n"));
        Put("user", 0, Encoding.UTF8.GetBytes(User + "\n"));

        var (code, output) = await CliProcess.RunAsync(dir.Path, Timeout, "batch", "--user-id", UserId);
        Assert.True(code == 0, output);
        Assert.DoesNotContain("read_text", output, StringComparison.Ordinal);
        Assert.Equal([($"{UserId}.pin/0/2", "invalid_utf8"), ($"{UserId}.pin/0/3", "not_json")], await ReadRejectsAsync(dir.Path, "pin"));
    }

    private static async Task<List<(string Origin, string Reason)>> ReadRejectsAsync(string dir, string table)
    {
        var store = new DirectoryObjectStore(Path.Combine(dir, ".pinpipe", "buckets"), $"user-{UserId}-bucket");
        var snapshot = await new DeltaTable(store, $"delta/{table}_rejects").LoadAsync();
        Assert.NotNull(snapshot);
        var names = snapshot.Schema.Fields.Select(f => f.Name).ToList();
        var rows = new List<(string, string)>();
        await foreach (var row in snapshot.ReadRowsAsync())
            rows.Add(((string)row[names.IndexOf("origin")]!, (string)row[names.IndexOf("reason")]!));
        return rows.OrderBy(r => r.Item1, StringComparer.Ordinal).ToList();
    }

    private static List<string> Lines(string folder) =>
        !Directory.Exists(folder) ? []
        : Directory.GetFiles(folder, "*.json").Where(f => !Path.GetFileName(f).StartsWith(".pinpipe-tmp-", StringComparison.Ordinal)).Order(StringComparer.Ordinal)
            .SelectMany(f => File.ReadAllText(f).Split('\n', StringSplitOptions.RemoveEmptyEntries)).ToList();

    private static async Task WaitUntilAsync(Func<bool> condition, Func<string> why)
    {
        var deadline = DateTime.UtcNow + Timeout;
        while (!condition())
        {
            Assert.True(DateTime.UtcNow < deadline, "timed out: " + why());
            await Task.Delay(100);
        }
    }
}
