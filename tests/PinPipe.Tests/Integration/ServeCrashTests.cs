using System.Collections.Concurrent;
using System.Net;
using System.Net.Http.Headers;
using System.Text;
using System.Text.Json;
using PinPipe.Log;
using PinPipe.Tests.Support;

namespace PinPipe.Tests.Integration;

/// <summary>A 200 from the API means durable: records acknowledged before SIGKILL are in the log after restart.</summary>
public sealed class ServeCrashTests
{
    [Fact]
    public async Task Records_acknowledged_before_the_server_is_killed_are_all_in_the_log_after_restart()
    {
        using var dir = new TempDirectory("crash");
        var acked = new ConcurrentDictionary<(int Partition, long Offset), string>();
        for (int cycle = 0; cycle < 3; cycle++)
        {
            int port = CliProcess.FreePort();
            await using var server = CliProcess.Start(dir.Path, "serve", "--urls", $"http://127.0.0.1:{port}", "--user-id", "crash");
            var baseUrl = new Uri($"http://127.0.0.1:{port}/");
            await server.WaitHealthyAsync(new Uri(baseUrl, "healthz"), TimeSpan.FromSeconds(30));

            using var client = new HttpClient { BaseAddress = baseUrl, Timeout = TimeSpan.FromSeconds(10) };
            using var stop = new CancellationTokenSource();
            int sent = 0;
            var producers = Enumerable.Range(0, 16).Select(async worker =>
            {
                while (!stop.IsCancellationRequested)
                {
                    int n = Interlocked.Increment(ref sent);
                    var values = Enumerable.Range(0, 1 + n % 5).Select(i => $$"""{"cycle":{{cycle}},"n":{{n}},"i":{{i}}}""").ToList();
                    var body = new StringContent($$"""{"records":[{{string.Join(",", values.Select(v => $$"""{"value":{{v}}}"""))}}]}""");
                    body.Headers.ContentType = MediaTypeHeaderValue.Parse("application/vnd.kafka.json.v2+json");
                    try
                    {
                        using var response = await client.PostAsync("topics/crash.pin", body);
                        if (response.StatusCode != HttpStatusCode.OK) continue;
                        using var doc = JsonDocument.Parse(await response.Content.ReadAsStringAsync());
                        int i = 0;
                        foreach (var o in doc.RootElement.GetProperty("offsets").EnumerateArray())
                            acked[(o.GetProperty("partition").GetInt32(), o.GetProperty("offset").GetInt64())] = values[i++];
                    }
                    catch (HttpRequestException) { return; } // the server is gone
                    catch (TaskCanceledException) { return; }
                }
            }).ToList();

            await Task.Delay(700 + cycle * 300);
            server.Kill();
            await stop.CancelAsync();
            await Task.WhenAll(producers);
        }

        Assert.True(acked.Count > 100, $"only {acked.Count} records were acknowledged");
        await using var log = await LogFactory.OpenAsync(new LogOptions { Path = Path.Combine(dir.Path, ".pinpipe", "log.db") });
        var stored = await log.ReadAsync("crash.pin", 0, 0, int.MaxValue);
        var byOffset = stored.ToDictionary(r => r.Offset, r => Encoding.UTF8.GetString(r.Value!));
        foreach (var ((partition, offset), value) in acked)
        {
            Assert.Equal(0, partition);
            Assert.True(byOffset.TryGetValue(offset, out var found), $"acknowledged offset {offset} is missing after the crash");
            Assert.Equal(value, found);
        }
        // Offsets stay contiguous across the crashes: nothing half-written.
        Assert.Equal(Enumerable.Range(0, stored.Count).Select(i => (long)i), stored.Select(r => r.Offset));
    }
}
