using System.Diagnostics.CodeAnalysis;
using System.Globalization;
using System.Net;
using System.Text;
using CsCheck;
using Microsoft.Extensions.Logging;
using PinPipe.Ingest;
using PinPipe.Log;
using PinPipe.Tests.Support;
using Xunit.Abstractions;

namespace PinPipe.Tests.Ingest;

/// <summary>
/// Fuzzing the API: bad requests generated with CsCheck (<see cref="ApiFuzz"/>: random bytes, truncated and deeply nested
/// JSON, huge numbers, invalid UTF-8, wrong types in every field of both envelopes, wrong content types, huge headers,
/// bodies over the limit, names that do not exist) sent to a real server on loopback, and a few bodies slower than the
/// minimum data rate. Every answer must be a 4xx with a JSON message in its family's shape (or Kestrel's bare 431 for
/// headers past its limit), no offset may move, and the server must be as it was. The requests come from a fixed seed
/// in a fixed order, so a failure names the seed and the request's number, and the same run sends the same requests;
/// <c>PINPIPE_FUZZ_SEED</c> runs another seed. They run alone (<see cref="ApiFuzzCollection"/>): the memory they check
/// is the process's.
/// </summary>
[Collection(ApiFuzzCollection.Name)]
public sealed class ApiFuzzTests(ITestOutputHelper output)
{
    private const string DefaultSeed = "0002S7yejrP1";
    private static readonly string Seed = Environment.GetEnvironmentVariable("PINPIPE_FUZZ_SEED") is { Length: > 0 } s ? s : DefaultSeed;

    /// <summary>Requests in flight at once.</summary>
    private const int Concurrency = 8;

    /// <summary>How far above its baseline the managed memory of the process (after a full collection) may be after the fuzz.</summary>
    private const long ManagedMemoryBound = 16L << 20;

    /// <summary>
    /// How far above its baseline the RSS of <c>pinpipe serve</c> may be after the fuzz: the GC keeps part of the heap it grew
    /// (about 30 MiB over 4,000 requests on the machine the tests were written on), but nothing grows with the requests.
    /// </summary>
    private const long ResidentBound = 96L << 20;

    private static IngestOptions FuzzOptions(IngestOptions? options = null) => (options ?? new IngestOptions()) with
    {
        MaxRequestBytes = ApiFuzz.MaxRequestBytes,
        MaxRecordsPerRequest = ApiFuzz.MaxRecordsPerRequest,
    };

    [Fact]
    public async Task Ten_thousand_bad_requests_per_family_get_4xx_with_a_message_move_no_offset_and_leave_the_server_as_it_was()
    {
        using var logs = new CapturedLogs();
        // Warnings and errors only: the Information lines of 20,000 requests would be memory the check below counts.
        using var factory = LoggerFactory.Create(b => b.SetMinimumLevel(LogLevel.Warning).AddProvider(logs));
        await using var api = await IngestApiHarness.StartAsync(null, FuzzOptions(), factory,
            (ApiFuzz.Pin, 1), (ApiFuzz.Geo, 3), (ApiFuzz.StreamPin, 1), (ApiFuzz.StreamGeo, 3));
        using var client = NewClient(api.Server.BaseAddress);
        await WriteValidRecordsAsync(client);
        var before = await OffsetsAsync(api.Log);

        // Warm up (JIT, pools, connections) with other requests of the same kinds, then take the memory baseline.
        await FuzzAsync(client, ApiFuzz.KafkaRest, "warm-up", 300);
        await FuzzAsync(client, ApiFuzz.KinesisProxy, "warm-up", 300);
        long baseline = ManagedMemory();

        // A few bodies slower than the minimum data rate, alongside the fuzz.
        var slow = Task.WhenAll(
            ApiFuzz.SendSlowBodyAsync(api.Server.BaseAddress, "POST", $"/topics/{ApiFuzz.Pin}", "application/vnd.kafka.json.v2+json"),
            ApiFuzz.SendSlowBodyAsync(api.Server.BaseAddress, "POST", $"/topics/{ApiFuzz.Geo}/partitions/1", "application/json"),
            ApiFuzz.SendSlowBodyAsync(api.Server.BaseAddress, "PUT", $"/streams/{ApiFuzz.StreamPin}/record", "application/json"),
            ApiFuzz.SendSlowBodyAsync(api.Server.BaseAddress, "PUT", $"/streams/{ApiFuzz.StreamGeo}/records", "application/x-amz-json-1.1"));

        var kafka = await FuzzAsync(client, ApiFuzz.KafkaRest, "kafka-rest", 10_000);
        var kinesis = await FuzzAsync(client, ApiFuzz.KinesisProxy, "kinesis", 10_000);
        AssertNoFailures(kafka, kinesis);

        var answers = await slow;
        for (int i = 0; i < answers.Length; i++)
        {
            bool isKinesis = i >= 2;
            Assert.True(answers[i].Status == 408, $"slow body {i}: {answers[i].Status} {answers[i].Body}");
            Assert.Contains(isKinesis ? "\"__type\":\"RequestTimeoutException\"" : "\"error_code\":408", answers[i].Body, StringComparison.Ordinal);
            Assert.Contains("arrived too slowly", answers[i].Body, StringComparison.Ordinal);
        }

        // Nothing moved, nothing was created or deleted, and a bad request is no warning or error of the server's.
        Assert.Equal(before, await OffsetsAsync(api.Log));
        var logged = logs.Entries.Where(e => e.Level >= LogLevel.Warning).ToList();
        Assert.True(logged.Count == 0, $"{logged.Count} warnings or errors logged, the first: {logged.FirstOrDefault()}");

        // Memory is back near its baseline: nothing of the requests is kept.
        long after = ManagedMemory();
        output.WriteLine($"managed memory: {baseline >> 20} MiB before the fuzz, {after >> 20} MiB after");
        Assert.True(after - baseline < ManagedMemoryBound,
            $"managed memory {after >> 20} MiB after the fuzz, {baseline >> 20} MiB before: more than {ManagedMemoryBound >> 20} MiB above");

        // The server still takes a valid request of each family, and only those move offsets.
        await WriteValidRecordsAsync(client);
        var moved = await OffsetsAsync(api.Log);
        Assert.Equal(before.Sum(o => o.End) + 4, moved.Sum(o => o.End));
    }

    [Fact]
    public async Task Pinpipe_serve_answers_bad_requests_of_both_families_stays_up_and_its_memory_returns_near_its_baseline()
    {
        using var dir = new TempDirectory("fuzz-serve");
        int port = CliProcess.FreePort();
        var baseUrl = new Uri($"http://127.0.0.1:{port}/");
        await using var server = CliProcess.StartWithEnvironment(
            new Dictionary<string, string?> { ["PINPIPE_Ingest__MaxRecordsPerRequest"] = ApiFuzz.MaxRecordsPerRequest.ToString(CultureInfo.InvariantCulture) },
            dir.Path, "serve", "--urls", $"http://127.0.0.1:{port}", "--user-id", "fz", "--max-request-bytes", ApiFuzz.MaxRequestBytes.ToString(CultureInfo.InvariantCulture));
        await server.WaitHealthyAsync(new Uri(baseUrl, "healthz"), TimeSpan.FromSeconds(60));
        using var client = NewClient(baseUrl);
        await WriteValidRecordsAsync(client);
        var before = await MetricsOffsetsAsync(client);

        await FuzzAsync(client, ApiFuzz.KafkaRest, "warm-up", 500);
        await FuzzAsync(client, ApiFuzz.KinesisProxy, "warm-up", 500);
        long baseline = ResidentBytes(server.Id);

        var kafka = await FuzzAsync(client, ApiFuzz.KafkaRest, "kafka-rest", 2_000);
        var kinesis = await FuzzAsync(client, ApiFuzz.KinesisProxy, "kinesis", 2_000);
        AssertNoFailures(kafka, kinesis);

        Assert.False(server.HasExited, server.Output);
        using (var health = await client.GetAsync("healthz")) Assert.Equal(HttpStatusCode.OK, health.StatusCode);
        Assert.Equal(before, await MetricsOffsetsAsync(client));
        long after = ResidentBytes(server.Id);
        output.WriteLine($"pinpipe serve's RSS: {baseline >> 20} MiB before the fuzz, {after >> 20} MiB after");
        Assert.True(after - baseline < ResidentBound,
            $"pinpipe serve's RSS is {after >> 20} MiB after 4,000 bad requests, {baseline >> 20} MiB before: more than {ResidentBound >> 20} MiB above");
        Assert.False(server.Output.Contains("fail:", StringComparison.Ordinal) || server.Output.Contains("crit:", StringComparison.Ordinal), server.Output);
        Assert.Equal(0, await server.SignalAsync("TERM", TimeSpan.FromSeconds(30)));
    }

    /// <summary>One failed request: its number in the run, the request, and what was wrong with the answer.</summary>
    private sealed record Failure(string Run, int Number, FuzzRequest Request, string Problem);

    /// <summary>
    /// Generates <paramref name="count"/> requests from <see cref="Seed"/>, in order, sends them <see cref="Concurrency"/> at a
    /// time and returns those whose answer was wrong (a refused connection or timeout included).
    /// </summary>
    private async Task<List<Failure>> FuzzAsync(HttpClient client, Gen<FuzzRequest> gen, string run, int count)
    {
        var pcg = PCG.Parse(Seed);
        var gate = new Lock();
        int next = 0;
        var failures = new List<Failure>();
        var kinds = new Dictionary<string, int>();
        var statuses = new Dictionary<(string Kind, int Status), int>();
        long started = System.Diagnostics.Stopwatch.GetTimestamp();
        await Task.WhenAll(Enumerable.Range(0, Concurrency).Select(async worker =>
        {
            while (true)
            {
                int number;
                FuzzRequest request;
                lock (gate)
                {
                    if (next == count) return;
                    number = next++;
                    request = gen.Generate(pcg, null!, out _);
                    kinds[request.Kind] = kinds.GetValueOrDefault(request.Kind) + 1;
                }
                string? problem;
                try
                {
                    var answer = await ApiFuzz.SendAsync(client, request);
                    problem = ApiFuzz.Check(request, answer);
                    lock (gate) statuses[(request.Kind, answer.Status)] = statuses.GetValueOrDefault((request.Kind, answer.Status)) + 1;
                }
                catch (Exception ex) when (ex is HttpRequestException or TaskCanceledException or IOException)
                {
                    problem = $"no answer: {ex.GetType().Name}: {ex.Message}";
                }
                if (problem is not null) lock (gate) failures.Add(new Failure(run, number, request, problem));
            }
        }));
        output.WriteLine($"{run}: {count} requests in {System.Diagnostics.Stopwatch.GetElapsedTime(started).TotalSeconds:0.0} s, seed {Seed}: " +
            string.Join(", ", statuses.OrderBy(k => k.Key.Kind, StringComparer.Ordinal).ThenBy(k => k.Key.Status).Select(k => $"{k.Key.Kind} {k.Key.Status}×{k.Value}")));
        // Every kind of bad request was among them.
        if (count >= 1000) Assert.True(kinds.Count >= 10, $"{run}: only the kinds {string.Join(", ", kinds.Keys)} were generated");
        return failures;
    }

    private static void AssertNoFailures(params List<Failure>[] runs)
    {
        var all = runs.SelectMany(r => r).OrderBy(f => f.Run, StringComparer.Ordinal).ThenBy(f => f.Number).ToList();
        if (all.Count == 0) return;
        var text = new StringBuilder().Append(CultureInfo.InvariantCulture,
            $"{all.Count} bad requests got a wrong answer (seed {Seed}; PINPIPE_FUZZ_SEED={Seed} sends the same requests again):\n");
        // The first of each kind and status, up to 12.
        foreach (var f in all.DistinctBy(f => (f.Run, f.Request.Kind, f.Problem[..Math.Min(10, f.Problem.Length)])).Take(12))
            text.Append(CultureInfo.InvariantCulture, $"  {f.Run} #{f.Number} ({all.Count(o => o.Run == f.Run && o.Request.Kind == f.Request.Kind)} of this kind): {f.Request}\n    -> {f.Problem}\n");
        Assert.Fail(text.ToString());
    }

    [SuppressMessage("Reliability", "CA2000:Dispose objects before losing scope", Justification = "The client disposes its handler.")]
    private static HttpClient NewClient(Uri baseAddress) =>
        new(new SocketsHttpHandler { MaxConnectionsPerServer = Concurrency, Expect100ContinueTimeout = TimeSpan.FromSeconds(30) })
        {
            BaseAddress = baseAddress,
            Timeout = TimeSpan.FromSeconds(60),
        };

    /// <summary>One valid record to each of the four targets (both families), each answered 200.</summary>
    private static async Task WriteValidRecordsAsync(HttpClient client)
    {
        foreach (var (method, path, type, body) in new[]
        {
            ("POST", $"topics/{ApiFuzz.Pin}", "application/vnd.kafka.json.v2+json", """{"records":[{"value":{"ok":1}}]}"""),
            ("POST", $"topics/{ApiFuzz.Geo}", "application/vnd.kafka.binary.v2+json", """{"records":[{"key":"a2V5","value":"QUJD"}]}"""),
            ("PUT", $"streams/{ApiFuzz.StreamPin}/record", "application/json", """{"Data":{"ok":1},"PartitionKey":"p"}"""),
            ("PUT", $"streams/{ApiFuzz.StreamGeo}/records", "application/json", """{"records":[{"data":{"ok":1},"partition-key":"k"}]}"""),
        })
        {
            using var request = new HttpRequestMessage(new HttpMethod(method), path) { Content = new StringContent(body) };
            request.Content.Headers.ContentType = System.Net.Http.Headers.MediaTypeHeaderValue.Parse(type);
            using var response = await client.SendAsync(request);
            string answer = await response.Content.ReadAsStringAsync();
            Assert.True(response.StatusCode == HttpStatusCode.OK, $"{method} {path}: {(int)response.StatusCode} {answer}");
            Assert.DoesNotContain("ErrorCode", answer, StringComparison.Ordinal);
        }
    }

    /// <summary>Every topic's and stream's partitions with their start and end offsets.</summary>
    private static async Task<List<(string Topic, int Partition, long Start, long End)>> OffsetsAsync(ILog log)
    {
        var offsets = new List<(string, int, long, long)>();
        foreach (var t in await log.ListTopicsAsync())
            for (int p = 0; p < t.Partitions; p++)
            {
                var w = await log.GetWatermarksAsync(t.Name, p);
                offsets.Add((t.Name, p, w.Low, w.High));
            }
        return offsets;
    }

    /// <summary>The log's end offset of every partition, as <c>GET /metrics</c> of the server gives them.</summary>
    private static async Task<List<string>> MetricsOffsetsAsync(HttpClient client) =>
        [.. PrometheusText.Parse(await client.GetStringAsync("metrics"))
            .Where(s => s.Name == "pinpipe_log_end_offset")
            .Select(s => $"{s.Labels["topic"]}/{s.Labels["partition"]}={s.Value}")
            .Order(StringComparer.Ordinal)];

    private static long ManagedMemory()
    {
        GC.Collect(GC.MaxGeneration, GCCollectionMode.Forced, blocking: true, compacting: true);
        GC.WaitForPendingFinalizers();
        return GC.GetTotalMemory(forceFullCollection: true);
    }

    /// <summary>The resident set of process <paramref name="pid"/> (Linux: <c>VmRSS</c> of <c>/proc/&lt;pid&gt;/status</c>).</summary>
    private static long ResidentBytes(int pid)
    {
        var line = File.ReadLines($"/proc/{pid}/status").First(l => l.StartsWith("VmRSS:", StringComparison.Ordinal));
        return long.Parse(line["VmRSS:".Length..].Trim().Split(' ')[0], CultureInfo.InvariantCulture) * 1024;
    }
}

/// <summary>The fuzz tests measure the process's memory: they run alone.</summary>
[CollectionDefinition(Name, DisableParallelization = true)]
[SuppressMessage("Naming", "CA1711:Identifiers should not have incorrect suffix", Justification = "xUnit's convention for a collection definition.")]
public sealed class ApiFuzzCollection
{
    public const string Name = "api fuzz";
}
