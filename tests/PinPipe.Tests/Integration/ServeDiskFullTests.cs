using System.Net;
using System.Net.Http.Headers;
using System.Text;
using System.Text.Json;
using PinPipe.Log;
using PinPipe.Tests.Ingest;
using PinPipe.Tests.Support;

namespace PinPipe.Tests.Integration;

/// <summary>
/// The disk under the embedded log fills up. <c>pinpipe serve</c> runs in a mount namespace of its own (<c>unshare -rm</c>;
/// nothing is mounted on the host) with its data folder on an 8 MiB tmpfs, which the test fills through
/// <c>/proc/&lt;pid&gt;/root</c> until writes fail with ENOSPC. Needs Linux and root, as the machines the tests run on:
/// where <c>unshare</c> or <c>mount</c> fails the test fails saying so, it does not skip.
/// </summary>
public sealed class ServeDiskFullTests
{
    private const string Topic = "full.pin";
    private const string Stream = "streaming-full-pin";
    private static readonly string Pad = new('x', 16 * 1024);

    [Fact]
    public async Task A_full_disk_is_503_in_each_familys_shape_writes_nothing_partial_and_recovers_without_a_restart()
    {
        using var dir = new TempDirectory("diskfull");
        string data = Path.Combine(dir.Path, "data");
        Directory.CreateDirectory(data);
        int port = CliProcess.FreePort();
        var baseUrl = new Uri($"http://127.0.0.1:{port}/");
        await using var server = CliProcess.StartOnPrivateTmpfs(data, 8, dir.Path,
            "serve", "--urls", $"http://127.0.0.1:{port}", "--user-id", "full", "--data-dir", data);
        try
        {
            await server.WaitHealthyAsync(new Uri(baseUrl, "healthz"), TimeSpan.FromSeconds(60));
        }
        catch (InvalidOperationException) when (server.HasExited && (server.ExitCode == CliProcess.MountFailed || server.Output.Contains("unshare:", StringComparison.Ordinal)))
        {
            Assert.Fail($"could not mount a private tmpfs (`unshare -rm`, then `mount -t tmpfs`; exit code {server.ExitCode}): this test needs Linux and root.\n{server.Output}");
        }

        string inside = server.PathInNamespace(data);
        Assert.True(File.Exists(Path.Combine(inside, "log.db")), $"no log in the tmpfs at {inside}");
        Assert.False(File.Exists(Path.Combine(data, "log.db")), "the log is on the host's disk: the tmpfs is not private to serve");

        using var client = new HttpClient { BaseAddress = baseUrl, Timeout = TimeSpan.FromSeconds(30) };
        var topicAcked = new List<string>();
        var streamAcked = new List<string>();

        // Before: both families take records.
        using (var ok = await ProduceAsync(client, topicAcked, Value("before", 0))) Assert.Equal(HttpStatusCode.OK, ok.StatusCode);
        using (var ok = await PutRecordAsync(client, streamAcked, Value("before", 0))) Assert.Equal(HttpStatusCode.OK, ok.StatusCode);

        string filler = Path.Combine(inside, "filler");
        Fill(filler);

        // Post until the answers turn 503: each is 200 (the record acknowledged) or the disk-full 503, nothing else.
        using (var full = await UntilRefusedAsync(n => ProduceAsync(client, topicAcked, Value("topic", n))))
        {
            await KafkaRestErrorTests.AssertRestErrorAsync(full, HttpStatusCode.ServiceUnavailable, 50302,
                "Service Unavailable: the disk under the log is full, nothing was written; retry once space is freed (Retry-After 5 s).");
            Assert.Equal(TimeSpan.FromSeconds(5), full.Headers.RetryAfter?.Delta);
        }
        using (var full = await UntilRefusedAsync(n => PutRecordAsync(client, streamAcked, Value("record", n))))
        {
            await KinesisErrorTests.AssertKinesisErrorAsync(full, HttpStatusCode.ServiceUnavailable, "ServiceUnavailable",
                "The disk under the log is full, nothing was written; retry once space is freed (Retry-After 5 s).");
            Assert.Equal(TimeSpan.FromSeconds(5), full.Headers.RetryAfter?.Delta);
        }
        using (var full = await SendAsync(client, HttpMethod.Put, $"streams/{Stream}/records", "application/json",
            $$"""{"records":[{"data":{{Value("records", 0)}},"partition-key":"a"},{"data":{{Value("records", 1)}},"partition-key":"b"}]}"""))
        {
            await KinesisErrorTests.AssertKinesisErrorAsync(full, HttpStatusCode.ServiceUnavailable, "ServiceUnavailable", "The disk under the log is full");
            Assert.Equal(TimeSpan.FromSeconds(5), full.Headers.RetryAfter?.Delta);
        }

        // Nothing partial: the log's end offsets are the records acknowledged, no more.
        Assert.Equal(topicAcked.Count, await EndOffsetAsync(client, Topic));
        Assert.Equal(streamAcked.Count, await EndOffsetAsync(client, Stream));
        Assert.False(server.HasExited, server.Output);
        Assert.Contains("the disk is full; a group of", server.Output, StringComparison.Ordinal);

        // Space is back: the same server takes writes again, their offsets right after the acknowledged ones.
        File.Delete(filler);
        using (var ok = await ProduceAsync(client, topicAcked, Value("after", 0)))
        {
            Assert.Equal(HttpStatusCode.OK, ok.StatusCode);
            Assert.Contains($"\"offset\":{topicAcked.Count - 1},", await ok.Content.ReadAsStringAsync(), StringComparison.Ordinal);
        }
        using (var ok = await PutRecordAsync(client, streamAcked, Value("after", 0))) Assert.Equal(HttpStatusCode.OK, ok.StatusCode);

        // The log as it is on the tmpfs, copied while serve is idle (SQLite resolves /proc/<pid>/root back to the host's
        // view, so it cannot open the file there): the database and its WAL, which the copy's first open recovers.
        string copy = Path.Combine(dir.Path, "copy");
        Directory.CreateDirectory(copy);
        foreach (var name in (string[])["log.db", "log.db-wal"]) File.Copy(Path.Combine(inside, name), Path.Combine(copy, name));
        Assert.Equal(0, await server.SignalAsync("TERM", TimeSpan.FromSeconds(30)));

        // Every acknowledged record is readable, in order, and nothing else is there.
        await using var log = await LogFactory.OpenAsync(new LogOptions { Path = Path.Combine(copy, "log.db"), Access = LogAccess.Consumer });
        Assert.Equal(topicAcked, (await log.ReadAsync(Topic, 0, 0, int.MaxValue)).Select(r => Encoding.UTF8.GetString(r.Value!)));
        Assert.Equal(streamAcked, (await log.ReadAsync(Stream, 0, 0, int.MaxValue)).Select(r => Encoding.UTF8.GetString(r.Value!)));
        Assert.True(topicAcked.Count >= 2 && streamAcked.Count >= 2);
    }

    private static string Value(string what, int n) => $$"""{"{{what}}":{{n}},"pad":"{{Pad}}"}""";

    /// <summary>Writes <paramref name="path"/> until the disk is full (ENOSPC), in ever smaller pieces down to a page.</summary>
    private static void Fill(string path)
    {
        using var file = new FileStream(path, FileMode.CreateNew, FileAccess.Write, FileShare.None, bufferSize: 0);
        foreach (int size in (int[])[1 << 20, 64 << 10, 4 << 10])
        {
            var chunk = new byte[size];
            try
            {
                while (true) file.Write(chunk);
            }
            catch (IOException ex)
            {
                Assert.Contains("No space left on device", ex.Message, StringComparison.Ordinal);
            }
        }
    }

    /// <summary>Sends requests until one is not a 200 (at most 500), and returns that one.</summary>
    private static async Task<HttpResponseMessage> UntilRefusedAsync(Func<int, Task<HttpResponseMessage>> send)
    {
        for (int n = 1; n <= 500; n++)
        {
            var response = await send(n);
            if (response.StatusCode != HttpStatusCode.OK) return response;
            response.Dispose();
        }
        Assert.Fail("500 requests of 16 KiB were all taken on a full 8 MiB disk");
        return null!;
    }

    private static async Task<HttpResponseMessage> SendAsync(HttpClient client, HttpMethod method, string path, string contentType, string body)
    {
        using var request = new HttpRequestMessage(method, path) { Content = new StringContent(body) };
        request.Content.Headers.ContentType = MediaTypeHeaderValue.Parse(contentType);
        return await client.SendAsync(request);
    }

    /// <summary>Produces one record; when it is acknowledged, its value joins <paramref name="acked"/> (at its offset).</summary>
    private static async Task<HttpResponseMessage> ProduceAsync(HttpClient client, List<string> acked, string value)
    {
        var response = await SendAsync(client, HttpMethod.Post, $"topics/{Topic}", "application/vnd.kafka.json.v2+json", $$"""{"records":[{"value":{{value}}}]}""");
        if (response.StatusCode == HttpStatusCode.OK)
        {
            using var doc = JsonDocument.Parse(await response.Content.ReadAsStringAsync());
            Assert.Equal(acked.Count, doc.RootElement.GetProperty("offsets")[0].GetProperty("offset").GetInt64());
            acked.Add(value);
        }
        return response;
    }

    /// <summary>Puts one record to the stream; when it is acknowledged, its value joins <paramref name="acked"/>.</summary>
    private static async Task<HttpResponseMessage> PutRecordAsync(HttpClient client, List<string> acked, string value)
    {
        var response = await SendAsync(client, HttpMethod.Put, $"streams/{Stream}/record", "application/json", $$"""{"Data":{{value}},"PartitionKey":"p"}""");
        if (response.StatusCode == HttpStatusCode.OK) acked.Add(value);
        return response;
    }

    /// <summary>The log's end offset of partition 0 of <paramref name="topic"/>, from <c>GET /metrics</c>.</summary>
    private static async Task<long> EndOffsetAsync(HttpClient client, string topic)
    {
        var samples = PrometheusText.Parse(await client.GetStringAsync("metrics"));
        return (long)samples.Value("pinpipe_log_end_offset", $"topic={topic}", "partition=0");
    }
}
