using System.Text;
using System.Text.Json;
using PinPipe.Configuration;
using PinPipe.Emulation;
using PinPipe.Source;

namespace PinPipe.Tests.Emulation;

public sealed class EmulatorTests
{
    private static readonly PipelineNames Names = new("u1");

    private static EmulatorOptions Options(IngestTestServer server, long count, EmulatorLane lane = EmulatorLane.Batch, int perRequest = 1, int concurrency = 1) => new()
    {
        ApiUrl = server.BaseUrl,
        Lane = lane,
        Count = count,
        RecordsPerRequest = perRequest,
        Concurrency = concurrency,
        RetryBaseDelay = TimeSpan.FromMilliseconds(5),
        Seed = 3,
    };

    private static long IndexOf(string raw)
    {
        using var doc = JsonDocument.Parse(raw);
        return doc.RootElement.TryGetProperty("index", out var i) ? i.GetInt64() : doc.RootElement.GetProperty("ind").GetInt64();
    }

    private static string Raw(byte[] bytes) => Encoding.UTF8.GetString(bytes);

    /// <summary>The raw record JSON of <paramref name="index"/> for a topic or stream ending in pin, geo or user.</summary>
    private static string Expected(InMemorySourceDatabase source, string target, long index)
    {
        var post = source[index];
        return target.EndsWith("pin", StringComparison.Ordinal) ? Raw(SourceJson.Pin(post.Pin))
            : target.EndsWith("geo", StringComparison.Ordinal) ? Raw(SourceJson.Geo(post.Geo!))
            : Raw(SourceJson.User(post.User!));
    }

    [Fact]
    public async Task Batch_lane_with_one_record_per_request_posts_each_row_to_its_topic_in_the_original_shape()
    {
        await using var server = await IngestTestServer.StartAsync();
        await using var source = InMemorySourceDatabase.Generate(50);
        var options = Options(server, 5) with { ApiUrl = server.BaseUrl + "/dev/" };

        var result = await new Emulator(options, source, Names).RunAsync();

        var requests = server.Requests;
        Assert.Equal(15, requests.Count);
        for (var i = 0; i < requests.Count; i++)
        {
            var r = requests[i];
            var topic = Names.Topics[i % 3];
            Assert.Equal("POST", r.Method);
            Assert.Equal($"/dev/topics/{topic}", r.Path);
            Assert.Equal("application/vnd.kafka.json.v2+json", r.ContentType);
            Assert.Equal("application/vnd.kafka.v2+json", r.Accept);
            using var doc = JsonDocument.Parse(r.Body);
            var value = doc.RootElement.GetProperty("records")[0].GetProperty("value").GetRawText();
            var index = IndexOf(value);
            Assert.Equal($"{{\"records\":[{{\"value\":{Expected(source, topic, index)}}}]}}", r.Body);
            // One post's three records go together: pin, geo, user of the same index.
            Assert.Equal(IndexOf(JsonDocument.Parse(requests[i - i % 3].Body).RootElement.GetProperty("records")[0].GetProperty("value").GetRawText()), index);
        }

        Assert.Equal(5, result.Posts);
        Assert.Equal(15, result.Requests);
        Assert.Equal(15, result.RecordsSent);
        Assert.Equal(15, result.RecordsAcknowledged);
        Assert.Equal(0, result.RecordsFailed);
        Assert.Equal(0, result.RecordsLost);
        Assert.Equal(0, result.Retries);
        Assert.Empty(result.Errors);
        Assert.True(result.LatencyMax > TimeSpan.Zero);
        Assert.True(result.LatencyP50 <= result.LatencyP99 && result.LatencyP99 <= result.LatencyMax);
    }

    [Fact]
    public async Task Batch_lane_with_many_records_per_request_groups_records_per_topic_up_to_the_limit()
    {
        await using var server = await IngestTestServer.StartAsync();
        await using var source = InMemorySourceDatabase.Generate(100);

        var result = await new Emulator(Options(server, 40, perRequest: 4), source, Names).RunAsync();

        var requests = server.Requests;
        foreach (var topic in Names.Topics)
        {
            var mine = requests.Where(r => r.Path == $"/topics/{topic}").ToList();
            Assert.Equal(40, mine.Sum(r => r.RecordCount));
            Assert.All(mine, r => Assert.InRange(r.RecordCount, 1, 4));
            Assert.Contains(mine, r => r.RecordCount == 4);
            foreach (var r in mine)
            {
                using var doc = JsonDocument.Parse(r.Body);
                var values = doc.RootElement.GetProperty("records").EnumerateArray()
                    .Select(e => Expected(source, topic, IndexOf(e.GetProperty("value").GetRawText())));
                Assert.Equal("{\"records\":[" + string.Join(",", values.Select(v => $"{{\"value\":{v}}}")) + "]}", r.Body);
            }
        }

        Assert.Equal(120, result.RecordsAcknowledged);
        Assert.Equal(requests.Count, result.Requests);
        Assert.Equal(0, result.RecordsLost);
    }

    [Fact]
    public async Task Stream_lane_with_one_record_per_request_puts_the_original_streaming_body()
    {
        await using var server = await IngestTestServer.StartAsync();
        await using var source = InMemorySourceDatabase.Generate(30);

        var result = await new Emulator(Options(server, 4, lane: EmulatorLane.Stream), source, Names).RunAsync();

        var requests = server.Requests;
        Assert.Equal(12, requests.Count);
        for (var i = 0; i < requests.Count; i++)
        {
            var r = requests[i];
            var stream = Names.Streams[i % 3];
            Assert.Equal("PUT", r.Method);
            Assert.Equal($"/streams/{stream}/record", r.Path);
            Assert.StartsWith("application/json", r.ContentType, StringComparison.Ordinal);
            using var doc = JsonDocument.Parse(r.Body);
            var index = IndexOf(doc.RootElement.GetProperty("Data").GetRawText());
            Assert.Equal($"{{\"StreamName\":\"{stream}\",\"Data\":{Expected(source, stream, index)},\"PartitionKey\":\"partition-1\"}}", r.Body);
        }

        Assert.Equal(12, result.RecordsAcknowledged);
        Assert.Equal(0, result.RecordsLost);
    }

    [Fact]
    public async Task Stream_lane_with_many_records_per_request_puts_records_keyed_by_post_index()
    {
        await using var server = await IngestTestServer.StartAsync();
        await using var source = InMemorySourceDatabase.Generate(30);

        var result = await new Emulator(Options(server, 9, lane: EmulatorLane.Stream, perRequest: 3), source, Names).RunAsync();

        var requests = server.Requests;
        Assert.All(requests, r => Assert.Equal("PUT", r.Method));
        foreach (var stream in Names.Streams)
        {
            var mine = requests.Where(r => r.Path == $"/streams/{stream}/records").ToList();
            Assert.Equal(9, mine.Sum(r => r.RecordCount));
            foreach (var r in mine)
            {
                using var doc = JsonDocument.Parse(r.Body);
                var parts = doc.RootElement.GetProperty("records").EnumerateArray().Select(e =>
                {
                    var index = IndexOf(e.GetProperty("data").GetRawText());
                    return $"{{\"data\":{Expected(source, stream, index)},\"partition-key\":\"{index}\"}}";
                });
                Assert.Equal("{\"records\":[" + string.Join(",", parts) + "]}", r.Body);
            }
        }

        Assert.Equal(requests.Count, requests.Count(r => r.Path.EndsWith("/records", StringComparison.Ordinal)));
        Assert.Equal(27, result.RecordsAcknowledged);
        Assert.Equal(0, result.RecordsLost);
    }

    [Fact]
    public async Task Count_is_respected_exactly_with_many_requests_in_flight()
    {
        await using var server = await IngestTestServer.StartAsync();
        await using var source = InMemorySourceDatabase.Generate(11_000);

        var emulator = new Emulator(Options(server, 300, concurrency: 8), source, Names);
        var result = await emulator.RunAsync();

        var requests = server.Requests;
        Assert.Equal(900, requests.Count);
        foreach (var topic in Names.Topics) Assert.Equal(300, requests.Count(r => r.Path == $"/topics/{topic}"));
        Assert.Equal(300, result.Posts);
        Assert.Equal(900, result.RecordsSent);
        Assert.Equal(900, result.RecordsAcknowledged);
        Assert.Equal(0, result.RecordsLost);
        Assert.Equal(0, result.MissingRows);
        var stats = emulator.Snapshot();
        Assert.Equal(result.RecordsAcknowledged, stats.RecordsAcknowledged);
        Assert.Equal(0, stats.InFlight);
        Assert.Equal(300, stats.TargetPosts);
        Assert.Equal(TimeSpan.Zero, stats.Eta);
    }

    [Fact]
    public async Task The_same_seed_picks_the_same_rows_and_another_seed_other_rows()
    {
        await using var source = InMemorySourceDatabase.Generate(11_000);

        async Task<List<long>> PinIndexes(int seed)
        {
            await using var server = await IngestTestServer.StartAsync();
            await new Emulator(Options(server, 20) with { Seed = seed }, source, Names).RunAsync();
            return [.. server.Requests.Where(r => r.Path.EndsWith(".pin", StringComparison.Ordinal))
                .Select(r => IndexOf(JsonDocument.Parse(r.Body).RootElement.GetProperty("records")[0].GetProperty("value").GetRawText()))];
        }

        var first = await PinIndexes(7);
        var again = await PinIndexes(7);
        var other = await PinIndexes(8);
        Assert.Equal(20, first.Count);
        Assert.Equal(first, again);
        Assert.NotEqual(first, other);
        Assert.True(first.Distinct().Count() > 10, "indexes should be spread over the table");
    }

    [Theory]
    [InlineData(EmulatorLane.Batch, 1)]
    [InlineData(EmulatorLane.Stream, 7)]
    public async Task Sequential_order_posts_every_row_once_by_index_and_then_ends(EmulatorLane lane, int perRequest)
    {
        await using var server = await IngestTestServer.StartAsync();
        // Indexes 1..600 with gaps (every third missing), more than a fetch's 128 at a time.
        await using var source = InMemorySourceDatabase.Generate(600, i => i % 3 != 1);
        var options = Options(server, count: 0, lane, perRequest) with { Count = null, Order = EmulatorOrder.Sequential };

        var result = await new Emulator(options, source, Names).RunAsync();

        var expected = Enumerable.Range(1, 600).Where(i => i % 3 != 1).Select(i => (long)i).ToList();
        Assert.Equal(expected.Count, result.Posts);
        Assert.Equal(3L * expected.Count, result.RecordsAcknowledged);
        Assert.Equal(0, result.RecordsLost);
        Assert.Equal(0, result.MissingRows);
        foreach (string suffix in new[] { "pin", "geo", "user" })
        {
            // In the order sent (one request in flight): each index once, ascending, and each record the row's own.
            var sent = server.Requests.Where(r => r.Path.Contains($".{suffix}", StringComparison.Ordinal) || r.Path.Contains($"-{suffix}/", StringComparison.Ordinal))
                .SelectMany(r => Values(r.Body, lane))
                .ToList();
            Assert.Equal(expected, sent.Select(IndexOf).ToList());
            Assert.All(sent, v => Assert.Equal(Expected(source, suffix, IndexOf(v)), v));
        }
    }

    [Fact]
    public async Task Sequential_order_stops_at_the_count_from_the_lowest_index()
    {
        await using var server = await IngestTestServer.StartAsync();
        await using var source = InMemorySourceDatabase.Generate(1000);
        var result = await new Emulator(Options(server, 300) with { Order = EmulatorOrder.Sequential }, source, Names).RunAsync();
        Assert.Equal(300, result.Posts);
        var pins = server.Requests.Where(r => r.Path.EndsWith(".pin", StringComparison.Ordinal))
            .Select(r => IndexOf(JsonDocument.Parse(r.Body).RootElement.GetProperty("records")[0].GetProperty("value").GetRawText())).ToList();
        Assert.Equal(Enumerable.Range(1, 300).Select(i => (long)i), pins);
    }

    /// <summary>The record JSON texts of one request's body: Kafka REST's <c>records[].value</c>, the streaming routes' <c>records[].data</c> or a PutRecord's <c>Data</c>.</summary>
    private static List<string> Values(string body, EmulatorLane lane)
    {
        using var doc = JsonDocument.Parse(body);
        var root = doc.RootElement;
        string field = lane == EmulatorLane.Batch ? "value" : "data";
        return root.TryGetProperty("records", out var many)
            ? [.. many.EnumerateArray().Select(r => r.GetProperty(field).GetRawText())]
            : [root.GetProperty("Data").GetRawText()];
    }

    [Fact]
    public async Task Indexes_the_source_lacks_are_skipped_and_missing_rows_are_counted()
    {
        await using var server = await IngestTestServer.StartAsync();
        await using var evens = InMemorySourceDatabase.Generate(1000, i => i % 2 == 0);
        await using var gap = new InMemorySourceDatabase([InMemorySourceDatabase.Post(1) with { Geo = null }]);

        var result = await new Emulator(Options(server, 50), evens, Names).RunAsync();
        Assert.Equal(50, result.Posts);
        Assert.Equal(150, result.RecordsAcknowledged);
        Assert.All(server.Requests, r => Assert.True(IndexOf(JsonDocument.Parse(r.Body).RootElement.GetProperty("records")[0].GetProperty("value").GetRawText()) % 2 == 0));

        await using var server2 = await IngestTestServer.StartAsync();
        var gapResult = await new Emulator(Options(server2, 2), gap, Names).RunAsync();
        Assert.Equal(2, gapResult.Posts);
        Assert.Equal(2, gapResult.MissingRows);
        Assert.Equal(4, gapResult.RecordsAcknowledged);
        Assert.DoesNotContain(server2.Requests, r => r.Path.EndsWith(".geo", StringComparison.Ordinal));
    }

    [Fact]
    public async Task An_empty_source_is_reported_clearly()
    {
        await using var server = await IngestTestServer.StartAsync();
        var ex = await Assert.ThrowsAsync<SourceException>(() => new Emulator(Options(server, 5), new InMemorySourceDatabase([]), Names).RunAsync());
        Assert.Contains("no posts", ex.Message, StringComparison.Ordinal);
        Assert.Empty(server.Requests);
    }

    [Fact]
    public async Task The_rate_limit_is_roughly_honoured()
    {
        await using var server = await IngestTestServer.StartAsync();
        await using var source = InMemorySourceDatabase.Generate(1000);
        var options = Options(server, 0) with { Count = null, Duration = TimeSpan.FromSeconds(2), Rate = 40, Concurrency = 4 };

        var result = await new Emulator(options, source, Names).RunAsync();

        // 40 posts/s for 2 s; unthrottled this loopback server takes thousands. (Over 1 s a loaded machine's start-up
        // left 7 posts: the window is 2 s so that the lower bound says "it ran", not "it started fast".)
        Assert.InRange(result.Posts, 10, 120);
        Assert.Equal(result.Posts * 3, result.RecordsAcknowledged);
        Assert.Equal(0, result.RecordsLost);
    }

    [Fact]
    public async Task A_run_until_cancelled_stops_cleanly_and_loses_nothing()
    {
        await using var server = await IngestTestServer.StartAsync();
        await using var source = InMemorySourceDatabase.Generate(1000);
        using var cts = new CancellationTokenSource(TimeSpan.FromMilliseconds(300));

        var result = await new Emulator(Options(server, 0) with { Count = null, Concurrency = 4, RecordsPerRequest = 5 }, source, Names).RunAsync(cts.Token);

        Assert.True(result.Posts > 0);
        Assert.Equal(result.Posts * 3, result.RecordsSent);
        Assert.Equal(result.RecordsSent, result.RecordsAcknowledged);
        Assert.Equal(0, result.RecordsLost);
    }

    [Fact]
    public async Task Service_unavailable_twice_is_retried_without_loss()
    {
        await using var server = await IngestTestServer.StartAsync(r => r.Number <= 2
            ? new Reply(503, "{\"error_code\":50302,\"message\":\"Broker not available\"}")
            : null);

        await using var source = InMemorySourceDatabase.Generate(10);
        var result = await new Emulator(Options(server, 1), source, Names).RunAsync();

        Assert.Equal(5, server.Requests.Count);
        Assert.Equal(server.Requests[0].Body, server.Requests[2].Body); // the same request again
        Assert.Equal(2, result.Retries);
        Assert.Equal(5, result.Requests);
        Assert.Equal(3, result.RecordsAcknowledged);
        Assert.Equal(0, result.RecordsFailed);
        Assert.Equal(0, result.RecordsLost);
    }

    [Theory]
    [InlineData(503)]
    [InlineData(429)]
    public async Task A_shed_answer_with_Retry_After_waits_as_it_says_and_uses_no_attempt(int status)
    {
        // Two shed answers, then two 500s, then success: with 3 attempts the 500s use two of them, the shed answers none.
        await using var server = await IngestTestServer.StartAsync(r => r.Number switch
        {
            <= 2 => new Reply(status, "{\"error_code\":50301,\"message\":\"the server cannot keep up\"}", RetryAfterSeconds: 1),
            <= 4 => new Reply(500, "{\"error_code\":50003,\"message\":\"the log could not take the write\"}"),
            _ => null,
        });
        await using var source = InMemorySourceDatabase.Generate(10);
        var started = System.Diagnostics.Stopwatch.GetTimestamp();

        var result = await new Emulator(Options(server, 1, concurrency: 1) with { MaxAttempts = 3 }, source, Names).RunAsync();

        Assert.Equal(3, result.RecordsAcknowledged);
        Assert.Equal(0, result.RecordsLost);
        Assert.Equal(4, result.Retries);
        Assert.Equal(7, server.Requests.Count);
        Assert.Equal(server.Requests[0].Body, server.Requests[4].Body);
        // Retry-After was honoured: two waits of at least a second each.
        Assert.True(System.Diagnostics.Stopwatch.GetElapsedTime(started) >= TimeSpan.FromSeconds(2));
    }

    [Fact]
    public async Task A_503_without_Retry_After_uses_up_attempts()
    {
        await using var server = await IngestTestServer.StartAsync(_ => new Reply(503, "{\"error_code\":50301,\"message\":\"busy\"}"));
        await using var source = InMemorySourceDatabase.Generate(10);

        var result = await new Emulator(Options(server, 1) with { MaxAttempts = 2 }, source, Names).RunAsync();

        Assert.Equal(3, result.RecordsLost);
        Assert.Equal(6, server.Requests.Count);
        Assert.Contains(result.Errors, e => e.Contains("gave up after 2 attempt(s): HTTP 503: busy", StringComparison.Ordinal));
    }

    [Fact]
    public async Task A_dropped_connection_is_retried()
    {
        await using var server = await IngestTestServer.StartAsync(r => r.Number == 1 ? Reply.Dropped : null);

        await using var source = InMemorySourceDatabase.Generate(10);
        var result = await new Emulator(Options(server, 1), source, Names).RunAsync();

        Assert.Equal(4, server.Requests.Count);
        Assert.Equal(server.Requests[0].Body, server.Requests[1].Body);
        Assert.Equal(1, result.Retries);
        Assert.Equal(3, result.RecordsAcknowledged);
        Assert.Equal(0, result.RecordsLost);
    }

    [Fact]
    public async Task A_transport_error_that_SocketsHttpHandler_does_not_wrap_is_retried()
    {
        // The real server and handler; only the first two sends fail, as a raw socket error (ENOTCONN) and an I/O error
        // would when `pinpipe serve` dies as a connection is made: they cannot be provoked on cue through a real socket.
        await using var server = await IngestTestServer.StartAsync();
        using var inner = new SocketsHttpHandler();
        using var handler = new FailingFirst(inner,
            new System.Net.Sockets.SocketException((int)System.Net.Sockets.SocketError.NotConnected), new IOException("broken pipe"));

        await using var source = InMemorySourceDatabase.Generate(10);
        var result = await new Emulator(Options(server, 1), source, Names, handler: handler).RunAsync();

        Assert.Equal(0, handler.Failures);
        Assert.Equal(3, server.Requests.Count);
        Assert.Equal(2, result.Retries);
        Assert.Equal(3, result.RecordsAcknowledged);
        Assert.Equal(0, result.RecordsLost);
        Assert.Empty(result.Errors);
    }

    [Fact]
    public async Task An_unexpected_failure_of_a_send_loses_its_records_and_the_run_goes_on()
    {
        // Before, the one worker died with the exception and the dispatcher waited for it forever.
        await using var server = await IngestTestServer.StartAsync();
        using var inner = new SocketsHttpHandler();
        using var handler = new FailingFirst(inner, new InvalidOperationException("a bug"));

        await using var source = InMemorySourceDatabase.Generate(10);
        var result = await new Emulator(Options(server, 2), source, Names, handler: handler).RunAsync().WaitAsync(TimeSpan.FromSeconds(30));

        Assert.Equal(5, server.Requests.Count);
        Assert.Equal(0, result.Retries);
        Assert.Equal(5, result.RecordsAcknowledged);
        Assert.Equal(1, result.RecordsFailed);
        Assert.Equal(1, result.RecordsLost);
        Assert.Contains(result.Errors, e => e.Contains("unexpected error: InvalidOperationException: a bug", StringComparison.Ordinal));
    }

    /// <summary>Throws the given exceptions on the first sends, one each, then passes requests on.</summary>
    private sealed class FailingFirst(HttpMessageHandler inner, params Exception[] failures) : DelegatingHandler(inner)
    {
        private readonly Queue<Exception> _failures = new(failures);

        public int Failures
        {
            get
            {
                lock (_failures) return _failures.Count;
            }
        }

        protected override Task<HttpResponseMessage> SendAsync(HttpRequestMessage request, CancellationToken cancellationToken)
        {
            lock (_failures)
            {
                if (_failures.TryDequeue(out var failure)) return Task.FromException<HttpResponseMessage>(failure);
            }

            return base.SendAsync(request, cancellationToken);
        }
    }

    [Fact]
    public async Task Retries_stop_after_max_attempts_and_the_records_count_as_lost()
    {
        await using var server = await IngestTestServer.StartAsync(_ => new Reply(500, "{\"error_code\":50002,\"message\":\"Kafka error\"}"));

        await using var source = InMemorySourceDatabase.Generate(10);
        var result = await new Emulator(Options(server, 1) with { MaxAttempts = 3 }, source, Names).RunAsync();

        Assert.Equal(9, server.Requests.Count);
        Assert.Equal(6, result.Retries);
        Assert.Equal(3, result.RecordsFailed);
        Assert.Equal(3, result.RecordsLost);
        Assert.Contains(result.Errors, e => e.Contains("gave up after 3 attempt(s): HTTP 500: Kafka error", StringComparison.Ordinal));
    }

    [Fact]
    public async Task An_unprocessable_request_is_not_retried_and_its_records_are_lost()
    {
        await using var server = await IngestTestServer.StartAsync(_ => new Reply(422, "{\"error_code\":42206,\"message\":\"Invalid payload\"}"));

        await using var source = InMemorySourceDatabase.Generate(10);
        var result = await new Emulator(Options(server, 2), source, Names).RunAsync();

        Assert.Equal(6, server.Requests.Count);
        Assert.Equal(0, result.Retries);
        Assert.Equal(6, result.RecordsFailed);
        Assert.Equal(0, result.RecordsAcknowledged);
        Assert.Equal(6, result.RecordsLost);
        // Each distinct message once: one per topic.
        Assert.Equal(3, result.Errors.Count);
        Assert.Contains("u1.pin: HTTP 422: Invalid payload (error_code 42206)", result.Errors);
    }

    [Fact]
    public async Task A_record_error_in_a_200_answer_is_retried_for_that_record_only()
    {
        // The dispatcher sends what it holds when the source has nothing waiting, so a request may carry one record:
        // the error goes to the first request with two, whichever number it has.
        var chosen = 0;
        var server = await IngestTestServer.StartAsync(r => r.RecordCount == 2 && Interlocked.CompareExchange(ref chosen, r.Number, 0) == 0
            ? new Reply(200, "{\"offsets\":[{\"partition\":0,\"offset\":0,\"error_code\":null,\"error\":null},"
                + "{\"partition\":null,\"offset\":null,\"error_code\":50003,\"error\":\"Topic not present in metadata\"}]}")
            : null);
        await using var _ = server;
        await using var source = InMemorySourceDatabase.Generate(10);

        var result = await new Emulator(Options(server, 10, perRequest: 2), source, Names).RunAsync();

        Assert.NotEqual(0, chosen);
        var first = server.Requests.Single(r => r.Number == chosen);
        using var doc = JsonDocument.Parse(first.Body);
        var retryBody = $"{{\"records\":[{doc.RootElement.GetProperty("records")[1].GetRawText()}]}}";
        Assert.Single(server.Requests, r => r.Number > chosen && r.Path == first.Path && r.Body == retryBody);
        Assert.Equal(11, server.Requests.Where(r => r.Path == first.Path).Sum(r => r.RecordCount));
        Assert.Equal(1, result.Retries);
        Assert.Equal(30, result.RecordsAcknowledged);
        Assert.Equal(0, result.RecordsLost);
    }

    [Fact]
    public async Task Record_errors_that_persist_count_as_failed()
    {
        await using var server = await IngestTestServer.StartAsync(_ => new Reply(200,
            "{\"offsets\":[{\"partition\":null,\"offset\":null,\"error_code\":50002,\"error\":\"Kafka error\"}]}"));

        await using var source = InMemorySourceDatabase.Generate(10);
        var result = await new Emulator(Options(server, 1) with { MaxAttempts = 2 }, source, Names).RunAsync();

        Assert.Equal(6, result.Requests);
        Assert.Equal(3, result.Retries);
        Assert.Equal(3, result.RecordsFailed);
        Assert.Equal(3, result.RecordsLost);
        Assert.Contains(result.Errors, e => e.Contains("record error 50002: Kafka error", StringComparison.Ordinal));
    }

    [Fact]
    public async Task A_partly_failed_put_records_is_retried_for_the_failed_records_only()
    {
        // As for Kafka REST: the failure goes to the first request with two records.
        var chosen = 0;
        var server = await IngestTestServer.StartAsync(r => r.RecordCount == 2 && Interlocked.CompareExchange(ref chosen, r.Number, 0) == 0
            ? new Reply(200, "{\"FailedRecordCount\":1,\"Records\":[{\"ErrorCode\":\"ProvisionedThroughputExceededException\",\"ErrorMessage\":\"Rate exceeded\"},"
                + "{\"SequenceNumber\":\"1\",\"ShardId\":\"shardId-000000000000\"}]}")
            : null);
        await using var _ = server;

        await using var source = InMemorySourceDatabase.Generate(10);
        var result = await new Emulator(Options(server, 10, lane: EmulatorLane.Stream, perRequest: 2), source, Names).RunAsync();

        Assert.NotEqual(0, chosen);
        var first = server.Requests.Single(r => r.Number == chosen);
        using var doc = JsonDocument.Parse(first.Body);
        var retryBody = $"{{\"records\":[{doc.RootElement.GetProperty("records")[0].GetRawText()}]}}";
        Assert.Single(server.Requests, r => r.Number > chosen && r.Path == first.Path && r.Body == retryBody);
        Assert.Equal(11, server.Requests.Where(r => r.Path == first.Path).Sum(r => r.RecordCount));
        Assert.Equal(1, result.Retries);
        Assert.Equal(30, result.RecordsAcknowledged);
        Assert.Equal(0, result.RecordsLost);
    }

    [Fact]
    public async Task A_kinesis_error_passed_back_as_200_fails_the_record()
    {
        await using var server = await IngestTestServer.StartAsync(_ => new Reply(200,
            "{\"__type\":\"com.amazonaws.kinesis#ResourceNotFoundException\",\"message\":\"Stream not found\"}"));

        await using var source = InMemorySourceDatabase.Generate(10);
        var result = await new Emulator(Options(server, 1, lane: EmulatorLane.Stream), source, Names).RunAsync();

        Assert.Equal(3, result.Requests);
        Assert.Equal(0, result.Retries);
        Assert.Equal(3, result.RecordsLost);
        Assert.Contains(result.Errors, e => e.Contains("ResourceNotFoundException: Stream not found", StringComparison.Ordinal));
    }

    [Fact]
    public async Task A_failing_dispatcher_ends_the_run_only_after_the_requests_in_flight_are_answered()
    {
        // A rate of one post in ~30 years: the first post goes out at once, the pacer then fails to wait for the
        // second (longer than a timer can wait), which faults the dispatcher while the first post's three
        // requests are held by the server.
        var held = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var release = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var received = 0;
        await using var server = await IngestTestServer.StartAsync(hold: _ =>
        {
            if (Interlocked.Increment(ref received) == 3) held.SetResult();
            return release.Task;
        });
        await using var source = InMemorySourceDatabase.Generate(50);
        var emulator = new Emulator(Options(server, 10, concurrency: 3) with { Rate = 1e-9 }, source, Names);

        var run = emulator.RunAsync();
        // Before the fix the run ended (and disposed its HTTP client) as soon as the dispatcher failed.
        await Task.WhenAny(held.Task, run);
        release.SetResult();

        await Assert.ThrowsAsync<ArgumentOutOfRangeException>(() => run);
        var stats = emulator.Snapshot();
        Assert.Equal(1, stats.Posts);
        Assert.Equal(3, stats.Requests);
        Assert.Equal(0, stats.InFlight);
        Assert.Equal(3, stats.RecordsAcknowledged);
        Assert.Equal(0, stats.RecordsFailed);
        Assert.Equal(3, server.Requests.Count);
    }

    [Fact]
    public async Task An_emulator_runs_once()
    {
        await using var server = await IngestTestServer.StartAsync();
        await using var source = InMemorySourceDatabase.Generate(10);
        var emulator = new Emulator(Options(server, 1), source, Names);
        await emulator.RunAsync();
        await Assert.ThrowsAsync<InvalidOperationException>(() => emulator.RunAsync());
    }

    public static TheoryData<EmulatorOptions, string> BadOptions => new()
    {
        { EmulatorOptions.Default with { Concurrency = 0 }, "Concurrency" },
        { EmulatorOptions.Default with { Concurrency = 100_000 }, "Concurrency" },
        { EmulatorOptions.Default with { MaxAttempts = 1_000 }, "MaxAttempts" },
        { EmulatorOptions.Default with { RecordsPerRequest = 0 }, "RecordsPerRequest" },
        { EmulatorOptions.Default with { RecordsPerRequest = 10_001 }, "RecordsPerRequest" },
        { EmulatorOptions.Default with { Lane = (EmulatorLane)7 }, "Lane" },
        { EmulatorOptions.Default with { Order = (EmulatorOrder)5 }, "Order" },
        { EmulatorOptions.Default with { Lane = EmulatorLane.Stream, RecordsPerRequest = 501 }, "RecordsPerRequest" },
        { EmulatorOptions.Default with { Rate = -1 }, "Rate" },
        { EmulatorOptions.Default with { Rate = double.NaN }, "Rate" },
        { EmulatorOptions.Default with { ApiUrl = "localhost:8082" }, "ApiUrl" },
        { EmulatorOptions.Default with { ApiUrl = "ftp://127.0.0.1/" }, "ApiUrl" },
        { EmulatorOptions.Default with { ApiUrl = "/topics" }, "ApiUrl" },
        { EmulatorOptions.Default with { MaxAttempts = 0 }, "MaxAttempts" },
        { EmulatorOptions.Default with { Count = -1 }, "Count" },
        { EmulatorOptions.Default with { Duration = TimeSpan.Zero }, "Duration" },
        { EmulatorOptions.Default with { RetryBaseDelay = TimeSpan.FromSeconds(-1) }, "RetryBaseDelay" },
        { EmulatorOptions.Default with { MaxSourceOutage = TimeSpan.FromSeconds(-1) }, "MaxSourceOutage" },
    };

    [Theory]
    [MemberData(nameof(BadOptions))]
    public void A_bad_option_is_rejected_by_name(EmulatorOptions options, string option)
    {
        var ex = Assert.Throws<ArgumentException>(() => new Emulator(options, InMemorySourceDatabase.Generate(1), Names));
        Assert.Contains($"Emulator:{option}: ", ex.Message, StringComparison.Ordinal);
        Assert.DoesNotContain("(Parameter '", ex.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Every_bad_option_is_reported_at_once()
    {
        var options = EmulatorOptions.Default with { Concurrency = 0, Lane = (EmulatorLane)7, RecordsPerRequest = 0 };
        var ex = Assert.Throws<ArgumentException>(() => new Emulator(options, InMemorySourceDatabase.Generate(1), Names));
        Assert.Contains("Emulator:Lane: '7' is not one of: batch, stream.", ex.Message, StringComparison.Ordinal);
        Assert.Contains("Emulator:Concurrency: 0 must be 1 to 1024: each request in flight holds a connection.", ex.Message, StringComparison.Ordinal);
        Assert.Contains("Emulator:RecordsPerRequest: 0 must be 1 to 10000.", ex.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task The_defaults_are_valid_and_stats_start_at_zero()
    {
        await using var source = InMemorySourceDatabase.Generate(1);
        var emulator = new Emulator(EmulatorOptions.Default, source, Names);
        var stats = emulator.Snapshot();
        Assert.Equal(0, stats.Posts);
        Assert.Equal(TimeSpan.Zero, stats.Elapsed);
        Assert.Null(stats.Eta);
    }

    [Fact]
    public void The_eta_follows_the_average_rate()
    {
        var stats = new EmulatorStats(50, 100, 150, 150, 150, 0, 0, 0, 0, TimeSpan.FromSeconds(10));
        Assert.Equal(5.0, stats.PostsPerSecond);
        Assert.Equal(15.0, stats.RecordsPerSecond);
        Assert.Equal(TimeSpan.FromSeconds(10), stats.Eta);
        Assert.Null((stats with { TargetPosts = null }).Eta);
    }
}
