using System.Globalization;
using System.Text;
using System.Text.Json;
using Amazon.S3.Model;
using PinPipe.Lake.Delta;
using PinPipe.Lake.S3;
using PinPipe.Tests.Cli;
using PinPipe.Tests.Lake;
using PinPipe.Tests.Streaming;
using PinPipe.Tests.Support;
using PinPipe.Tests.Transform;
using PinPipe.Transform;

namespace PinPipe.Tests.Batch;

/// <summary>
/// <c>pinpipe batch</c> (the CLI as a process) on s3rver (TEST_PINPIPE_S3), once straight and once through
/// <see cref="FaultProxy"/>, which fails a fifth of the requests (500s, 503 SlowDowns, answers that never come,
/// connections reset on the way in and on the way out) and answers some slowly: both runs read the same raw objects and
/// write the same Delta tables, counts and answers; each failed request is one warning line.
/// </summary>
public sealed class BatchFaultTests : IDisposable
{
    private static readonly TimeSpan Timeout = TimeSpan.FromSeconds(180);
    private const string User = "bfault";
    private static readonly string[] Tables = ["pin", "geo", "user"];
    private readonly PinPipe.Lake.ObjectStoreOptions _options = S3ObjectStoreTests.S3rverOptions();
    private readonly string _straight = "pinpipe-batch-a-" + Guid.NewGuid().ToString("N")[..12];
    private readonly string _faulty = "pinpipe-batch-b-" + Guid.NewGuid().ToString("N")[..12];
    private readonly TempDirectory _straightDir = new("batch-straight");
    private readonly TempDirectory _faultyDir = new("batch-faults");

    public void Dispose()
    {
        _straightDir.Dispose();
        _faultyDir.Dispose();
    }

    /// <summary>s3rver's credentials and path-style addressing as a user gives them, a short socket timeout and more attempts (the faults are many).</summary>
    private static Dictionary<string, string?> Environment() => new(ObjectStoreFailureTests.S3Environment())
    {
        ["PINPIPE_ObjectStore__SocketTimeout"] = "2s",
        ["PINPIPE_ObjectStore__MaxAttempts"] = "8",
    };

    /// <summary>
    /// The raw objects the sink would have written for <see cref="User"/>: per topic two partitions of objects of 40
    /// records, synthetic rows with re-posts of earlier rows (duplicates) and a reject now and then.
    /// </summary>
    private static List<(string Key, byte[] Content)> RawObjects()
    {
        var objects = new List<(string, byte[])>();
        var random = new Random(3);
        foreach (var (kind, table) in new[] { RecordKind.Pin, RecordKind.Geo, RecordKind.User }.Zip(Tables))
        {
            string topic = $"{User}.{table}";
            for (int p = 0; p < 2; p++)
            {
                long offset = 0;
                for (int o = 0; o < 4; o++)
                {
                    var lines = StreamTestKit.Synthetic(kind, 1 + p * 1000 + o * 30 - (o > 0 && random.Next(2) == 0 ? 10 : 0), 39).ToList();
                    lines.Add(TransformTestKit.FixtureLines("raw", kind)[^1]); // a reject
                    objects.Add(($"topics/{topic}/partition={p}/{topic}+{p}+{offset:D10}.json", Encoding.UTF8.GetBytes(string.Join('\n', lines) + "\n")));
                    offset += lines.Count;
                }
            }
        }
        return objects;
    }

    private static async Task<(int Code, string Output)> BatchAsync(string dir, string endpoint, string bucket) =>
        await CliProcess.RunWithEnvironmentAsync(Environment(), dir, Timeout,
            "batch", "--object-store", "s3", "--s3-endpoint", endpoint, "--bucket", bucket, "--user-id", User);

    [Fact]
    public async Task A_run_through_a_fifth_of_failed_requests_gives_the_same_tables_counts_and_answers_as_a_run_without()
    {
        using var direct = new S3ObjectStore(_options, _straight, S3ObjectStoreTests.S3rverCredentials);
        using var other = new S3ObjectStore(_options, _faulty, S3ObjectStoreTests.S3rverCredentials);
        foreach (var (store, bucket) in new[] { (direct, _straight), (other, _faulty) })
        {
            await store.Client.PutBucketAsync(new PutBucketRequest { BucketName = bucket });
            foreach (var (key, content) in RawObjects()) await store.PutAsync(key, content);
        }
        var rates = new FaultRates(InternalError: 0.04, SlowDown: 0.04, Stall: 0.03, ResetMidRequest: 0.04, ResetMidResponse: 0.05, Slow: 0.03);
        await using var proxy = FaultProxy.Http(new Uri(_options.ServiceUrl!), rates, seed: 5);

        var (straightCode, straightOutput) = await BatchAsync(_straightDir.Path, _options.ServiceUrl!, _straight);
        var (faultyCode, faultyOutput) = await BatchAsync(_faultyDir.Path, proxy.Url, _faulty);

        Assert.True(straightCode == 0, straightOutput);
        Assert.True(faultyCode == 0, faultyOutput + "\n" + proxy.Summary);
        Assert.DoesNotContain("failed (attempt ", straightOutput, StringComparison.Ordinal);

        // The same figures per table (read, clean, duplicates, rejects, quality, versions, rows) and the same nine answers.
        var (straightTables, straightInsights) = Summary(_straightDir.Path);
        var (faultyTables, faultyInsights) = Summary(_faultyDir.Path);
        Assert.Equal(straightTables, faultyTables);
        Assert.Contains("\"duplicates\": ", straightTables, StringComparison.Ordinal);
        Assert.Equal(straightInsights, faultyInsights);
        Assert.Equal(9, straightInsights.Count(i => i.Name.EndsWith(".csv", StringComparison.Ordinal)));

        // The same rows in every Delta table.
        foreach (string table in Tables.SelectMany(t => new[] { t, t + "_rejects" }))
        {
            var expected = await RowsAsync(direct, $"delta/{table}");
            Assert.NotEmpty(expected);
            Assert.Equal(expected, await RowsAsync(other, $"delta/{table}"));
        }

        // Failures happened, each one warning line (the retries of a request, or of the start check), no stack trace.
        Assert.True(proxy.Failures >= 5, proxy.Summary);
        string[] warnings = faultyOutput.Split('\n').Where(l => l.Contains("failed (attempt ", StringComparison.Ordinal)).ToArray();
        // (More when a forwarded request also went the socket timeout without a byte, as on a loaded machine.)
        Assert.True(warnings.Length >= proxy.Failures, $"{proxy.Summary}; {warnings.Length} warning lines:\n{faultyOutput}");
        // Each failure but a stall says what it was; a stall, and on a loaded machine an answer (a 500 or 503) that came after
        // the socket timeout, say "no byte moved": so the lines that name a failure are at most the failures that were not
        // stalls, and at least those less the timeout lines beyond the stalls.
        int named = warnings.Count(w => !w.Contains("no byte moved", StringComparison.Ordinal));
        int timeoutsBeyondStalls = Math.Max(0, warnings.Length - named - proxy.Injected(Fault.Stall));
        Assert.InRange(named, proxy.Failures - proxy.Injected(Fault.Stall) - timeoutsBeyondStalls, proxy.Failures - proxy.Injected(Fault.Stall));
        Assert.All(warnings, w =>
        {
            Assert.Contains(" warn: ", w, StringComparison.Ordinal);
            Assert.Contains($"(bucket '{_faulty}' at {proxy.Url}); retrying in ", w, StringComparison.Ordinal);
        });
        Assert.DoesNotContain("   at ", faultyOutput, StringComparison.Ordinal);
    }

    /// <summary>The run's per-table figures (summary.json's <c>tables</c>) and its insight files (name and content).</summary>
    private static (string Tables, List<(string Name, string Content)> Insights) Summary(string dir)
    {
        string run = Assert.Single(Directory.GetDirectories(Path.Combine(dir, ".pinpipe", "runs")), d => File.Exists(Path.Combine(d, "summary.json")));
        using var summary = JsonDocument.Parse(File.ReadAllBytes(Path.Combine(run, "summary.json")));
        string tables = summary.RootElement.GetProperty("tables").ToString();
        var insights = Directory.GetFiles(Path.Combine(run, "insights")).Order(StringComparer.Ordinal)
            .Select(f => (Path.GetFileName(f), File.ReadAllText(f))).ToList();
        return (tables, insights);
    }

    /// <summary>A Delta table's rows as sorted lines of canonical values.</summary>
    private static async Task<List<string>> RowsAsync(S3ObjectStore store, string prefix)
    {
        var snapshot = await new DeltaTable(store, prefix).LoadAsync();
        Assert.NotNull(snapshot);
        var rows = new List<string>();
        await foreach (var row in snapshot.ReadRowsAsync()) rows.Add(string.Join(" | ", row.Select(v => TransformTestKit.Canonical(v) ?? "∅")));
        return [.. rows.Order(StringComparer.Ordinal)];
    }
}
