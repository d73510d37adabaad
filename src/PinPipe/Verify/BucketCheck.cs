using System.Globalization;
using PinPipe.Lake;
using PinPipe.Log;
using PinPipe.Sink;
using PinPipe.Transform;

namespace PinPipe.Verify;

/// <summary>
/// Log ↔ bucket: every offset below the sink's committed offset is in exactly one raw object, as the line the sink
/// writes for its value (records without a value are in none); the one object the sink may have written at the committed
/// offset and not yet committed holds whole lines of the log's next records; no object lies beyond it.
/// </summary>
internal sealed class BucketCheck(ILog log, IObjectStore store, SinkOptions sink, VerifyOptions options)
{
    public async Task<VerifyCheck> RunAsync(string topic, CancellationToken cancellationToken)
    {
        var check = new CheckBuilder("log-bucket", topic, options.MaxListed);
        // The committed offsets before the listing: every offset below them is in an object the listing sees (the sink
        // commits only what is written). Read again after it: the sink writes only at its committed offset, so no object
        // listed starts past that second reading (see CheckPartitionAsync).
        var described = await log.DescribeTopicAsync(topic, cancellationToken).ConfigureAwait(false);
        var before = new long?[described?.Partitions ?? 0];
        for (int p = 0; p < before.Length; p++)
            before[p] = await log.GetCommittedOffsetAsync(sink.GroupId, topic, p, cancellationToken).ConfigureAwait(false);
        var listing = await RawLoader.ListTopicAsync(store, sink.TopicsDir, topic, cancellationToken).ConfigureAwait(false);
        foreach (var (key, why) in listing.Strays) check.Problem("stale", key, why);
        var objects = listing.Objects;
        check.Figure("objects", objects.Count);

        var description = described;
        if (description is null)
        {
            check.Note(objects.Count > 0
                ? $"The log has no topic '{topic}': its {objects.Count} objects were not compared with records."
                : $"The log has no topic '{topic}' and the bucket no objects of it.");
            return check.Build();
        }
        string? recorded = await TopicIncarnations.ReadTopicIdAsync(store, TopicIncarnations.MarkerKey(sink.TopicsDir, topic), cancellationToken).ConfigureAwait(false);
        if (recorded is not null && description.TopicId is not null && recorded != description.TopicId)
        {
            check.Note($"The bucket holds objects of an earlier incarnation of '{topic}' (topic id {recorded}, the log's is {description.TopicId}): not compared; the sink stops on it until reset.");
            return check.Build();
        }

        for (int p = 0; p < description.Partitions; p++)
            await CheckPartitionAsync(check, topic, p, before[p], objects.Where(o => o.Partition == p).ToList(), cancellationToken).ConfigureAwait(false);
        foreach (var o in objects.Where(o => o.Partition >= description.Partitions))
            check.Problem("stale", o.Key, $"Object {o.Key} is of partition {o.Partition}; topic '{topic}' has {description.Partitions}.");
        return check.Build();
    }

    /// <param name="listedAfter">The sink's committed offset read before the objects were listed: every offset below it must be in one.</param>
    private async Task CheckPartitionAsync(CheckBuilder check, string topic, int p, long? listedAfter, List<RawLoader.RawObject> objects, CancellationToken cancellationToken)
    {
        var marks = await log.GetWatermarksAsync(topic, p, cancellationToken).ConfigureAwait(false);
        // Read after the listing: no object listed may start past it, nor end past it unless it starts at it.
        long committed = await log.GetCommittedOffsetAsync(sink.GroupId, topic, p, cancellationToken).ConfigureAwait(false) ?? marks.Low;
        long complete = Math.Min(listedAfter ?? marks.Low, committed);
        var reader = new LogReader(log, topic, p, options.ReadChunk);
        string at = $"{topic}/{p}";
        long cursor = -1; // the offset after the last record of the objects checked so far
        long uncommitted = 0;
        foreach (var o in objects)
        {
            if (o.StartOffset > committed)
            {
                check.Problem("stale", o.Key, $"Object {o.Key} starts at offset {o.StartOffset}, past the sink's committed offset {committed} of {at} (group {sink.GroupId}): the sink never writes there before it commits the objects below.");
                continue;
            }
            if (cursor >= 0 && o.StartOffset < cursor)
                check.Problem("duplicate", o.Key, $"Object {o.Key} starts at offset {o.StartOffset}, inside the object before it (which ends at offset {cursor - 1}): offsets {o.StartOffset}..{cursor - 1} of {at} are in two objects.");
            else
                await RequireNoValuesAsync(check, reader, at, Math.Max(cursor, marks.Low), o.StartOffset, cancellationToken).ConfigureAwait(false);

            byte[]? content = await store.GetAsync(o.Key, cancellationToken).ConfigureAwait(false);
            if (content is null) continue; // deleted while listed
            if (content.Length > 0 && content[^1] != (byte)'\n')
                check.Problem("half-written", o.Key, $"Object {o.Key} ends inside a line (its last byte is not a newline): it was not written whole.");
            long end = await CompareAsync(check, reader, o, content, marks, cancellationToken).ConfigureAwait(false);
            if (o.StartOffset == committed)
            {
                uncommitted = end - o.StartOffset;
                check.Note($"{at}: object {o.Key} at the committed offset is written and not yet committed (the sink commits it next, or rebuilds it under the same key after a restart).");
            }
            else if (end > committed)
                check.Problem("stale", o.Key, $"Object {o.Key} holds offsets up to {end - 1}, past the sink's committed offset {committed} of {at}: the sink commits each object's end.");
            cursor = Math.Max(cursor, end);
        }
        // Every offset below the committed one (as it was before the listing) is in an object, or holds no value.
        await RequireNoValuesAsync(check, reader, at, Math.Max(cursor, marks.Low), complete, cancellationToken).ConfigureAwait(false);
        check.Figure("committed", check.TryFigure("committed") + Math.Max(0, committed - marks.Low));
        check.Figure("uncommitted", check.TryFigure("uncommitted") + uncommitted);
        if (marks.Low > 0 && objects.Count > 0 && objects[0].StartOffset < marks.Low)
            check.Note($"{at}: retention removed offsets below {marks.Low} from the log: objects below it were checked for their lines only.");
    }

    /// <summary>A gap when a record with a value lies in [from, to): it is in no object.</summary>
    private static async Task RequireNoValuesAsync(CheckBuilder check, LogReader reader, string at, long from, long to, CancellationToken cancellationToken)
    {
        if (from < 0 || from >= to) return;
        var (first, count) = await reader.ValuesInAsync(from, to, cancellationToken).ConfigureAwait(false);
        if (count > 0)
        {
            check.Problem("gap", $"{at}/{first}", $"{count.ToString("N0", CultureInfo.InvariantCulture)} records of {at} in offsets {from}..{to - 1} (the first at {first}) are in no object, below the sink's committed offset.");
            check.Gaps(count - 1);
        }
    }

    /// <summary>Compares an object's lines with the log's records from its start offset; returns the offset after its last record.</summary>
    private static async Task<long> CompareAsync(CheckBuilder check, LogReader reader, RawLoader.RawObject o, byte[] content, Watermarks marks, CancellationToken cancellationToken)
    {
        long position = o.StartOffset;
        int line = 0;
        ReadOnlyMemory<byte> rest = content;
        while (rest.Length > 0)
        {
            int newline = rest.Span.IndexOf((byte)'\n');
            var text = newline < 0 ? rest : rest[..newline];
            rest = newline < 0 ? ReadOnlyMemory<byte>.Empty : rest[(newline + 1)..];
            if (position < marks.Low)
            {
                // Retention removed the record: count the line where it was.
                position++;
                line++;
                check.Checked++;
                continue;
            }
            var record = await reader.NextWithValueAsync(position, cancellationToken).ConfigureAwait(false);
            if (record is null)
            {
                check.Problem("half-written", o.Key, $"Object {o.Key} line {line + 1} has no record in the log: partition {o.Partition} ends at offset {marks.High} (or holds no more values).");
                return Math.Max(position, marks.High);
            }
            if (!text.Span.SequenceEqual(RecordLine.ToLine(record.Value)))
                check.Problem("mismatch", $"{o.Key}:{line + 1}", $"Object {o.Key} line {line + 1} is not the value of offset {record.Offset} of partition {o.Partition}, the record it stands for.");
            check.Checked++;
            position = record.Offset + 1;
            line++;
        }
        return position;
    }
}
