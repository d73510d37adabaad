using System.Text;
using PinPipe.Log;

namespace PinPipe.Tests.Log;

/// <summary>
/// The behaviour every <see cref="ILog"/> must have. An implementation's test class derives from this and
/// says how to open a log; each test uses its own topics.
/// </summary>
public abstract class LogContractTests
{
    /// <summary>Opens a fresh log; <paramref name="options"/> carries the limits a test needs (its Path/Kind are the implementation's business).</summary>
    protected abstract Task<ILog> CreateLogAsync(LogOptions? options = null);

    protected static string NewTopic(string prefix = "t") => $"{prefix}.{Guid.NewGuid():N}";

    protected static LogRecord Rec(string? value, string? key = null, int? partition = null, long? timestampMs = null) =>
        new(Bytes(key), Bytes(value), partition, timestampMs);

    // Not `s is null ? null : bytes`: the null literal converts (through byte[]) to an empty, non-null ReadOnlyMemory.
    private static ReadOnlyMemory<byte>? Bytes(string? s) => s is null ? (ReadOnlyMemory<byte>?)null : Encoding.UTF8.GetBytes(s);

    protected static string? Text(byte[]? bytes) => bytes is null ? null : Encoding.UTF8.GetString(bytes);

    [Fact]
    public async Task A_created_topic_is_listed_and_described_and_creating_it_again_does_nothing()
    {
        await using var log = await CreateLogAsync();
        var a = NewTopic("a");
        var b = NewTopic("b");
        await log.CreateTopicAsync(b, 3);
        await log.CreateTopicAsync(a, 1);
        await log.CreateTopicAsync(a, 1);

        var topics = await log.ListTopicsAsync();
        var ours = topics.Where(t => t.Name == a || t.Name == b).ToList();
        Assert.Equal([(a, 1), (b, 3)], ours.Select(t => (t.Name, t.Partitions)));
        Assert.Equal(topics.OrderBy(t => t.Name, StringComparer.Ordinal), topics);
        Assert.Equal(ours[1], await log.DescribeTopicAsync(b));
        Assert.Null(await log.DescribeTopicAsync(NewTopic("missing")));
    }

    [Fact]
    public async Task Every_topic_has_an_id_in_Kafkas_format_that_stays_while_it_lives()
    {
        await using var log = await CreateLogAsync();
        var a = NewTopic("a");
        var b = NewTopic("b");
        await log.CreateTopicAsync(a, 1);
        await log.CreateTopicAsync(b, 2);
        await log.AppendAsync(a, [Rec("v")]);

        var idA = (await log.DescribeTopicAsync(a))!.TopicId;
        var idB = (await log.DescribeTopicAsync(b))!.TopicId;
        Assert.NotNull(idA);
        Assert.NotNull(idB);
        Assert.NotEqual(idA, idB);
        // 16 bytes in URL-safe base64 without padding, as Kafka prints topic ids.
        Assert.Matches("^[A-Za-z0-9_-]{22}$", idA);
        Assert.Equal(16, Convert.FromBase64String(idA.Replace('-', '+').Replace('_', '/') + "==").Length);
        await log.CreateTopicAsync(a, 1);
        Assert.Equal(idA, (await log.DescribeTopicAsync(a))!.TopicId);
        Assert.Equal([idA, idB], (await log.ListTopicsAsync()).Where(t => t.Name == a || t.Name == b).Select(t => t.TopicId));
    }

    [Fact]
    public async Task Creating_an_existing_topic_with_another_partition_count_fails()
    {
        await using var log = await CreateLogAsync();
        var topic = NewTopic();
        await log.CreateTopicAsync(topic, 2);
        var ex = await Assert.ThrowsAsync<LogException>(() => log.CreateTopicAsync(topic, 3).AsTask());
        Assert.Equal(LogErrorCode.InvalidTopic, ex.Code);
        Assert.Equal(2, (await log.DescribeTopicAsync(topic))!.Partitions);
    }

    [Theory]
    [InlineData("")]
    [InlineData(".")]
    [InlineData("..")]
    [InlineData("has space")]
    [InlineData("slash/topic")]
    [InlineData("caf\u00e9")]
    public async Task A_topic_name_breaking_Kafka_rules_is_refused(string name)
    {
        await using var log = await CreateLogAsync();
        var ex = await Assert.ThrowsAsync<LogException>(() => log.CreateTopicAsync(name, 1).AsTask());
        Assert.Equal(LogErrorCode.InvalidTopic, ex.Code);
        Assert.False(ex.IsRetriable);
    }

    [Fact]
    public async Task Topic_names_may_have_249_characters_but_not_250()
    {
        await using var log = await CreateLogAsync();
        var prefix = Guid.NewGuid().ToString("N");
        var longest = prefix + new string('x', 249 - prefix.Length);
        await log.CreateTopicAsync(longest, 1);
        Assert.NotNull(await log.DescribeTopicAsync(longest));
        var ex = await Assert.ThrowsAsync<LogException>(() => log.CreateTopicAsync(longest + "y", 1).AsTask());
        Assert.Equal(LogErrorCode.InvalidTopic, ex.Code);
    }

    [Theory]
    [InlineData(0)]
    [InlineData(-1)]
    [InlineData(10_001)]
    public async Task A_partition_count_outside_1_to_10000_is_refused(int partitions)
    {
        await using var log = await CreateLogAsync();
        var topic = NewTopic();
        var ex = await Assert.ThrowsAsync<LogException>(() => log.CreateTopicAsync(topic, partitions).AsTask());
        Assert.Equal(LogErrorCode.InvalidTopic, ex.Code);
        Assert.Null(await log.DescribeTopicAsync(topic));
    }

    [Fact]
    public async Task A_topic_past_MaxPartitionsPerTopic_or_MaxTopics_is_refused_as_LimitExceeded_until_one_is_deleted()
    {
        int existing;
        await using (var probe = await CreateLogAsync()) existing = (await probe.ListTopicsAsync()).Count;
        await using var log = await CreateLogAsync(new LogOptions { MaxTopics = existing + 1, MaxPartitionsPerTopic = 4 });
        var wide = NewTopic("wide");
        var ex = await Assert.ThrowsAsync<LogException>(() => log.CreateTopicAsync(wide, 5).AsTask());
        Assert.Equal(LogErrorCode.LimitExceeded, ex.Code);
        Assert.Contains($"Topic '{wide}' would have 5 partitions (shards); the limit is 4 (Log:MaxPartitionsPerTopic).", ex.Message, StringComparison.Ordinal);
        Assert.False(ex.IsRetriable);
        Assert.Null(await log.DescribeTopicAsync(wide));

        var first = NewTopic("first");
        await log.CreateTopicAsync(first, 4);
        await log.CreateTopicAsync(first, 4);
        var second = NewTopic("second");
        ex = await Assert.ThrowsAsync<LogException>(() => log.CreateTopicAsync(second, 1).AsTask());
        Assert.Equal(LogErrorCode.LimitExceeded, ex.Code);
        Assert.Contains($"limit of {existing + 1} topics and streams (Log:MaxTopics)", ex.Message, StringComparison.Ordinal);
        Assert.Null(await log.DescribeTopicAsync(second));

        await log.DeleteTopicAsync(first);
        await log.CreateTopicAsync(second, 1);
        var created = await log.DescribeTopicAsync(second);
        Assert.NotNull(created);
        Assert.Equal((second, 1), (created.Name, created.Partitions));
    }

    [Fact]
    public async Task A_deleted_topic_is_gone_with_its_records_and_offsets_and_created_again_is_a_new_incarnation_with_a_new_id()
    {
        await using var log = await CreateLogAsync();
        var topic = NewTopic();
        await log.CreateTopicAsync(topic, 1);
        await log.AppendAsync(topic, [Rec("v"), Rec("w")]);
        await log.CommitOffsetsAsync("g", [new(topic, 0, 2)]);
        var before = (await log.DescribeTopicAsync(topic))!.TopicId;
        Assert.True(await log.DeleteTopicAsync(topic));
        Assert.False(await log.DeleteTopicAsync(topic));
        Assert.False(await log.DeleteTopicAsync(NewTopic("never"), ["g"]));

        Assert.Null(await log.DescribeTopicAsync(topic));
        Assert.DoesNotContain(await log.ListTopicsAsync(), t => t.Name == topic);
        var ex = await Assert.ThrowsAsync<LogException>(() => log.AppendAsync(topic, [Rec("v")]).AsTask());
        Assert.Equal(LogErrorCode.UnknownTopic, ex.Code);
        Assert.Equal(LogErrorCode.UnknownTopic, (await Assert.ThrowsAsync<LogException>(() => log.ReadAsync(topic, 0, 0, 10).AsTask())).Code);
        Assert.Equal(LogErrorCode.UnknownTopic, (await Assert.ThrowsAsync<LogException>(() => log.GetWatermarksAsync(topic, 0).AsTask())).Code);

        await log.CreateTopicAsync(topic, 1);
        Assert.Empty(await log.ReadAsync(topic, 0, 0, 10));
        Assert.Equal(new Watermarks(0, 0), await log.GetWatermarksAsync(topic, 0));
        Assert.Null(await log.GetCommittedOffsetAsync("g", topic, 0)); // as Kafka: a group's offsets go with the topic
        var after = (await log.DescribeTopicAsync(topic))!.TopicId;
        Assert.NotNull(after);
        Assert.NotEqual(before, after);
    }

    [Fact]
    public async Task A_delete_guarded_by_consumer_groups_is_refused_while_one_has_not_consumed_every_record_and_deletes_nothing()
    {
        await using var log = await CreateLogAsync();
        var topic = NewTopic();
        await log.CreateTopicAsync(topic, 3);
        await log.AppendAsync(topic, [Rec("a", partition: 0), Rec("b", partition: 0), Rec("c", partition: 0), Rec("d", partition: 2)]);
        await log.CommitOffsetsAsync("sink", [new(topic, 0, 3), new(topic, 2, 1)]);
        await log.CommitOffsetsAsync("stream", [new(topic, 0, 1)]);

        var ex = await Assert.ThrowsAsync<LogException>(() => log.DeleteTopicAsync(topic, ["sink", "stream"]).AsTask());
        Assert.Equal(LogErrorCode.NotConsumed, ex.Code);
        Assert.False(ex.IsRetriable);
        Assert.Equal($"Topic '{topic}' holds 3 records consumer group 'stream' has not consumed: 2 in partition 0 (offsets 1 to 2), 1 in partition 2 (offsets 0 to 0); it was not deleted.", ex.Message);
        var never = await Assert.ThrowsAsync<LogException>(() => log.DeleteTopicAsync(topic, ["new-group"]).AsTask());
        Assert.Contains("4 records consumer group 'new-group' has not consumed", never.Message);
        Assert.Equal(new Watermarks(0, 3), await log.GetWatermarksAsync(topic, 0));
        Assert.Equal(3, await log.GetCommittedOffsetAsync("sink", topic, 0));

        Assert.True(await log.DeleteTopicAsync(topic, ["sink"]));
        Assert.Null(await log.DescribeTopicAsync(topic));
    }

    [Fact]
    public async Task A_guarded_delete_of_an_empty_topic_or_without_groups_goes_through()
    {
        await using var log = await CreateLogAsync();
        var empty = NewTopic("empty");
        var full = NewTopic("full");
        await log.CreateTopicAsync(empty, 2);
        await log.CreateTopicAsync(full, 1);
        await log.AppendAsync(full, [Rec("x")]);

        Assert.True(await log.DeleteTopicAsync(empty, ["never-committed"]));
        Assert.True(await log.DeleteTopicAsync(full, []));
        Assert.Null(await log.DescribeTopicAsync(empty));
        Assert.Null(await log.DescribeTopicAsync(full));
    }

    [Fact]
    public async Task Appends_return_contiguous_offsets_in_record_order()
    {
        await using var log = await CreateLogAsync();
        var topic = NewTopic();
        await log.CreateTopicAsync(topic, 1);

        var first = await log.AppendAsync(topic, [Rec("a"), Rec("b"), Rec("c")]);
        var second = await log.AppendAsync(topic, [Rec("d"), Rec("e")]);

        Assert.Equal([new(0, 0), new(0, 1), new(0, 2)], first);
        Assert.Equal([new(0, 3), new(0, 4)], second);
        Assert.Equal(new Watermarks(0, 5), await log.GetWatermarksAsync(topic, 0));
        var read = await log.ReadAsync(topic, 0, 0, 100);
        Assert.Equal(["a", "b", "c", "d", "e"], read.Select(r => Text(r.Value)));
        Assert.Equal([0L, 1, 2, 3, 4], read.Select(r => r.Offset));
        Assert.All(read, r => { Assert.Equal(topic, r.Topic); Assert.Equal(0, r.Partition); });
    }

    [Fact]
    public async Task Partition_summaries_give_every_partitions_watermarks_and_leave_a_deleted_topic_out()
    {
        await using var log = await CreateLogAsync();
        string topic = NewTopic("sum"), gone = NewTopic("gone");
        await log.CreateTopicAsync(topic, 3);
        await log.CreateTopicAsync(gone, 1);
        await log.AppendAsync(topic, [Rec("a", partition: 0), Rec("b", partition: 0), Rec("c", partition: 2)]);
        Assert.True(await log.DeleteTopicAsync(gone));

        var summaries = (await log.SummarizePartitionsAsync()).Where(s => s.Topic == topic || s.Topic == gone).ToList();

        Assert.Equal([(topic, 0, 0L, 2L), (topic, 1, 0L, 0L), (topic, 2, 0L, 1L)], summaries.Select(s => (s.Topic, s.Partition, s.Low, s.High)));
        // Bytes where the log knows them (the embedded log): at least the values' bytes on a partition with records, none on an empty one.
        if (summaries[0].Bytes is long bytes)
        {
            Assert.True(bytes >= 2);
            Assert.Equal(0, summaries[1].Bytes);
        }
    }

    [Fact]
    public async Task Keyed_records_go_to_the_partition_of_Kafkas_murmur2_partitioner()
    {
        await using var log = await CreateLogAsync();
        var topic = NewTopic();
        await log.CreateTopicAsync(topic, 50);
        string[] keys = ["foobar", "21", "abc", "user-1", "user-2", "user-3", "a-little-bit-long-string"];

        var positions = await log.AppendAsync(topic, keys.Select(k => Rec("v-" + k, key: k)).ToList());

        // Known value: murmur2("foobar") = -790332482 → (h & 0x7fffffff) % 50 = 16.
        Assert.Equal(16, positions[0].Partition);
        for (var i = 0; i < keys.Length; i++)
        {
            Assert.Equal(KafkaPartitioner.Partition(Encoding.UTF8.GetBytes(keys[i]), 50), positions[i].Partition);
            var read = await log.ReadAsync(topic, positions[i].Partition, positions[i].Offset, 1);
            Assert.Equal("v-" + keys[i], Text(Assert.Single(read).Value));
            Assert.Equal(keys[i], Text(read[0].Key));
        }
    }

    [Fact]
    public async Task An_explicit_partition_is_used_as_given()
    {
        await using var log = await CreateLogAsync();
        var topic = NewTopic();
        await log.CreateTopicAsync(topic, 4);

        var positions = await log.AppendAsync(topic, [Rec("x", key: "foobar", partition: 3), Rec("y", partition: 1), Rec("z", partition: 3)]);

        Assert.Equal([new(3, 0), new(1, 0), new(3, 1)], positions);
        Assert.Equal(["x", "z"], (await log.ReadAsync(topic, 3, 0, 10)).Select(r => Text(r.Value)));
        Assert.Equal(["y"], (await log.ReadAsync(topic, 1, 0, 10)).Select(r => Text(r.Value)));
    }

    [Fact]
    public async Task Records_without_key_stay_on_one_partition_per_call_and_calls_rotate_over_partitions()
    {
        await using var log = await CreateLogAsync();
        var topic = NewTopic();
        await log.CreateTopicAsync(topic, 3);
        var used = new HashSet<int>();
        for (var call = 0; call < 3; call++)
        {
            var positions = await log.AppendAsync(topic, [Rec("a"), Rec("b"), Rec("c"), Rec("d")]);
            Assert.Single(positions.Select(p => p.Partition).Distinct());
            Assert.Equal([0L, 1, 2, 3], positions.Select(p => p.Offset));
            used.Add(positions[0].Partition);
        }

        Assert.Equal([0, 1, 2], used.Order());
    }

    [Fact]
    public async Task An_append_with_an_unknown_partition_writes_nothing()
    {
        await using var log = await CreateLogAsync();
        var topic = NewTopic();
        await log.CreateTopicAsync(topic, 2);

        var ex = await Assert.ThrowsAsync<LogException>(() => log.AppendAsync(topic, [Rec("ok", partition: 0), Rec("bad", partition: 2)]).AsTask());
        var negative = await Assert.ThrowsAsync<LogException>(() => log.AppendAsync(topic, [Rec("bad", partition: -1)]).AsTask());

        Assert.Equal(LogErrorCode.UnknownPartition, ex.Code);
        Assert.Equal(LogErrorCode.UnknownPartition, negative.Code);
        Assert.Equal(new Watermarks(0, 0), await log.GetWatermarksAsync(topic, 0));
        Assert.Equal(new Watermarks(0, 0), await log.GetWatermarksAsync(topic, 1));
    }

    [Fact]
    public async Task An_append_to_an_unknown_topic_fails_with_UnknownTopic()
    {
        await using var log = await CreateLogAsync();
        var topic = NewTopic("missing");
        var ex = await Assert.ThrowsAsync<LogException>(() => log.AppendAsync(topic, [Rec("v")]).AsTask());
        Assert.Equal(LogErrorCode.UnknownTopic, ex.Code);
        Assert.Contains(topic, ex.Message);
        Assert.Null(await log.DescribeTopicAsync(topic));
    }

    [Fact]
    public async Task A_record_larger_than_MaxRecordBytes_fails_the_whole_append_and_writes_nothing()
    {
        await using var log = await CreateLogAsync(new LogOptions { MaxRecordBytes = 1000 });
        var topic = NewTopic();
        await log.CreateTopicAsync(topic, 1);

        var fits = await log.AppendAsync(topic, [new LogRecord(null, new byte[1000])]);
        var ex = await Assert.ThrowsAsync<LogException>(() => log.AppendAsync(topic, [Rec("small"), new LogRecord(null, new byte[1001])]).AsTask());

        Assert.Equal([new(0, 0)], fits);
        Assert.Equal(LogErrorCode.RecordTooLarge, ex.Code);
        Assert.Contains("1001", ex.Message);
        Assert.Equal(new Watermarks(0, 1), await log.GetWatermarksAsync(topic, 0));
        Assert.Single(await log.ReadAsync(topic, 0, 0, 10));
    }

    [Fact]
    public async Task Many_concurrent_appenders_get_unique_contiguous_offsets_and_every_record_reads_back_in_order()
    {
        await using var log = await CreateLogAsync();
        var topic = NewTopic();
        await log.CreateTopicAsync(topic, 1);
        const int tasks = 50, appends = 200;

        var results = await Task.WhenAll(Enumerable.Range(0, tasks).Select(t => Task.Run(async () =>
        {
            var offsets = new List<long>();
            for (var i = 0; i < appends; i++)
                offsets.Add(Assert.Single(await log.AppendAsync(topic, [Rec($"{t}:{i}")])).Offset);
            return offsets;
        })));

        var all = results.SelectMany(o => o).Order().ToList();
        Assert.Equal(Enumerable.Range(0, tasks * appends).Select(i => (long)i), all);
        foreach (var offsets in results) Assert.Equal(offsets.Order(), offsets);

        var read = new List<ConsumedRecord>();
        while (read.Count < tasks * appends)
        {
            var chunk = await log.ReadAsync(topic, 0, read.Count, 3000);
            Assert.NotEmpty(chunk);
            read.AddRange(chunk);
        }

        Assert.Equal(all, read.Select(r => r.Offset));
        for (var t = 0; t < tasks; t++)
        {
            for (var i = 0; i < appends; i++)
            {
                var record = read[(int)results[t][i]];
                Assert.Equal($"{t}:{i}", Text(record.Value));
            }
        }
    }

    [Fact]
    public async Task Reading_from_the_middle_of_an_append_returns_exactly_the_records_from_that_offset_with_keys_values_and_timestamps()
    {
        await using var log = await CreateLogAsync();
        var topic = NewTopic();
        await log.CreateTopicAsync(topic, 1);
        await log.AppendAsync(topic, Enumerable.Range(0, 10).Select(i => Rec($"v{i}", key: i % 2 == 0 ? $"k{i}" : null, partition: 0, timestampMs: 1_600_000_000_000 + i)).ToList());
        await log.AppendAsync(topic, [Rec(null, key: "tombstone", partition: 0, timestampMs: 1_700_000_000_000)]);

        var read = await log.ReadAsync(topic, 0, 4, 3);
        Assert.Equal([4L, 5, 6], read.Select(r => r.Offset));
        Assert.Equal(["v4", "v5", "v6"], read.Select(r => Text(r.Value)));
        Assert.Equal(["k4", null, "k6"], read.Select(r => Text(r.Key)));
        Assert.Equal([1_600_000_000_004L, 1_600_000_000_005, 1_600_000_000_006], read.Select(r => r.TimestampMs));

        var across = await log.ReadAsync(topic, 0, 8, 100);
        Assert.Equal([8L, 9, 10], across.Select(r => r.Offset));
        Assert.Null(across[2].Value);
        Assert.Equal("tombstone", Text(across[2].Key));
        Assert.Equal(1_700_000_000_000, across[2].TimestampMs);
    }

    [Fact]
    public async Task Reading_into_a_buffer_gives_what_a_read_gives_and_empties_the_buffer_first()
    {
        await using var log = await CreateLogAsync();
        var topic = NewTopic();
        await log.CreateTopicAsync(topic, 2);
        await log.AppendAsync(topic, Enumerable.Range(0, 10).Select(i => Rec($"v{i}", key: i % 2 == 0 ? $"k{i}" : null, partition: 0, timestampMs: 1_600_000_000_000 + i)).ToList());
        await log.AppendAsync(topic, [Rec(null, key: "tombstone", partition: 0, timestampMs: 1_700_000_000_000), Rec("", key: "", partition: 0, timestampMs: 1_700_000_000_001)]);
        var buffer = new RecordBuffer();

        Assert.Equal(3, await log.ReadIntoAsync(topic, 0, 4, 3, buffer));
        var expected = await log.ReadAsync(topic, 0, 4, 3);
        Assert.Equal(3, buffer.Count);
        Assert.Equal(expected.Select(r => r.Offset), Enumerable.Range(0, 3).Select(buffer.Offset));
        Assert.Equal(expected.Select(r => r.TimestampMs), Enumerable.Range(0, 3).Select(buffer.TimestampMs));
        Assert.Equal(["v4", "v5", "v6"], Enumerable.Range(0, 3).Select(i => Encoding.UTF8.GetString(buffer.Value(i))));
        Assert.Equal(["k4", null, "k6"], Enumerable.Range(0, 3).Select(i => buffer.HasKey(i) ? Encoding.UTF8.GetString(buffer.Key(i)) : null));

        // A tombstone's value is null, an empty value and key are not; the buffer holds only this read's records.
        Assert.Equal(4, await log.ReadIntoAsync(topic, 0, 8, 100, buffer));
        Assert.Equal([8L, 9, 10, 11], Enumerable.Range(0, buffer.Count).Select(buffer.Offset));
        Assert.False(buffer.HasValue(2));
        Assert.Equal("tombstone", Encoding.UTF8.GetString(buffer.Key(2)));
        Assert.Equal(1_700_000_000_000, buffer.TimestampMs(2));
        Assert.True(buffer.HasValue(3));
        Assert.True(buffer.HasKey(3));
        Assert.Equal(0, buffer.Value(3).Length);
        Assert.Equal("v9", Encoding.UTF8.GetString(buffer.Value(1)));

        Assert.Equal(0, await log.ReadIntoAsync(topic, 0, 12, 10, buffer));
        Assert.Equal(0, buffer.Count);
        Assert.Equal(0, await log.ReadIntoAsync(topic, 1, 0, 10, buffer));
        var ex = await Assert.ThrowsAsync<LogException>(() => log.ReadIntoAsync(topic, 2, 0, 10, buffer).AsTask());
        Assert.Equal(LogErrorCode.UnknownPartition, ex.Code);
        var unknown = await Assert.ThrowsAsync<LogException>(() => log.ReadIntoAsync(NewTopic(), 0, 0, 10, buffer).AsTask());
        Assert.Equal(LogErrorCode.UnknownTopic, unknown.Code);
        await Assert.ThrowsAsync<ArgumentNullException>(() => log.ReadIntoAsync(topic, 0, 0, 10, null!).AsTask());
    }

    [Fact]
    public async Task Records_without_timestamp_get_the_append_time()
    {
        await using var log = await CreateLogAsync();
        var topic = NewTopic();
        await log.CreateTopicAsync(topic, 1);
        var before = DateTimeOffset.UtcNow.ToUnixTimeMilliseconds();
        await log.AppendAsync(topic, [Rec("v")]);
        var after = DateTimeOffset.UtcNow.ToUnixTimeMilliseconds();

        var ts = Assert.Single(await log.ReadAsync(topic, 0, 0, 1)).TimestampMs;
        Assert.InRange(ts, before - 1000, after + 1000);
    }

    [Fact]
    public async Task Reading_at_or_past_the_end_returns_nothing()
    {
        await using var log = await CreateLogAsync();
        var topic = NewTopic();
        await log.CreateTopicAsync(topic, 2);
        await log.AppendAsync(topic, [Rec("a", partition: 0), Rec("b", partition: 0)]);

        Assert.Empty(await log.ReadAsync(topic, 0, 2, 10));
        Assert.Empty(await log.ReadAsync(topic, 0, 1000, 10));
        Assert.Empty(await log.ReadAsync(topic, 1, 0, 10));
        var ex = await Assert.ThrowsAsync<LogException>(() => log.ReadAsync(topic, 2, 0, 10).AsTask());
        Assert.Equal(LogErrorCode.UnknownPartition, ex.Code);
        var unknown = await Assert.ThrowsAsync<LogException>(() => log.ReadAsync(NewTopic(), 0, 0, 10).AsTask());
        Assert.Equal(LogErrorCode.UnknownTopic, unknown.Code);
    }

    [Fact]
    public async Task WaitForData_wakes_when_a_record_is_appended()
    {
        await using var log = await CreateLogAsync();
        var topic = NewTopic();
        await log.CreateTopicAsync(topic, 1);

        var wait = log.WaitForDataAsync(topic, 0, 0, TimeSpan.FromSeconds(30)).AsTask();
        await Task.Delay(50);
        Assert.False(wait.IsCompleted);
        await log.AppendAsync(topic, [Rec("v")]);

        var finished = await Task.WhenAny(wait, Task.Delay(TimeSpan.FromSeconds(10)));
        Assert.Same(wait, finished);
        await wait;
        Assert.Equal(1, (await log.GetWatermarksAsync(topic, 0)).High);
    }

    [Fact]
    public async Task WaitForData_returns_at_once_when_data_is_there_and_after_the_timeout_otherwise()
    {
        await using var log = await CreateLogAsync();
        var topic = NewTopic();
        await log.CreateTopicAsync(topic, 1);
        await log.AppendAsync(topic, [Rec("v")]);

        var sw = System.Diagnostics.Stopwatch.StartNew();
        await log.WaitForDataAsync(topic, 0, 0, TimeSpan.FromSeconds(30));
        Assert.True(sw.Elapsed < TimeSpan.FromSeconds(5), $"took {sw.Elapsed}");

        sw.Restart();
        await log.WaitForDataAsync(topic, 0, 1, TimeSpan.FromMilliseconds(300));
        Assert.InRange(sw.Elapsed, TimeSpan.FromMilliseconds(250), TimeSpan.FromSeconds(10));
    }

    [Fact]
    public async Task WaitForData_throws_when_cancelled()
    {
        await using var log = await CreateLogAsync();
        var topic = NewTopic();
        await log.CreateTopicAsync(topic, 1);
        using var cts = new CancellationTokenSource(TimeSpan.FromMilliseconds(100));
        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => log.WaitForDataAsync(topic, 0, 0, TimeSpan.FromSeconds(30), cts.Token).AsTask());
    }

    [Fact]
    public async Task Committed_group_offsets_read_back_and_are_null_before_any_commit()
    {
        await using var log = await CreateLogAsync();
        var topic = NewTopic();
        await log.CreateTopicAsync(topic, 2);

        Assert.Null(await log.GetCommittedOffsetAsync("g1", topic, 0));
        await log.CommitOffsetsAsync("g1", [new(topic, 0, 5), new(topic, 1, 7)]);
        await log.CommitOffsetsAsync("g1", [new(topic, 0, 9)]);
        await log.CommitOffsetsAsync("g2", [new(topic, 0, 1)]);

        Assert.Equal(9, await log.GetCommittedOffsetAsync("g1", topic, 0));
        Assert.Equal(7, await log.GetCommittedOffsetAsync("g1", topic, 1));
        Assert.Equal(1, await log.GetCommittedOffsetAsync("g2", topic, 0));
        Assert.Null(await log.GetCommittedOffsetAsync("g2", topic, 1));
    }

    [Fact]
    public async Task A_commit_naming_an_unknown_topic_or_partition_commits_nothing()
    {
        await using var log = await CreateLogAsync();
        var topic = NewTopic();
        await log.CreateTopicAsync(topic, 1);

        var ex = await Assert.ThrowsAsync<LogException>(() => log.CommitOffsetsAsync("g", [new(topic, 0, 3), new(NewTopic(), 0, 1)]).AsTask());
        var bad = await Assert.ThrowsAsync<LogException>(() => log.CommitOffsetsAsync("g", [new(topic, 0, 3), new(topic, 1, 1)]).AsTask());

        Assert.Equal(LogErrorCode.UnknownTopic, ex.Code);
        Assert.Equal(LogErrorCode.UnknownPartition, bad.Code);
        Assert.Null(await log.GetCommittedOffsetAsync("g", topic, 0));
    }
}
