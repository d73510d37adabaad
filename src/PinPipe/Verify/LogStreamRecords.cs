using System.Globalization;
using PinPipe.Lake.Delta;
using PinPipe.Log;
using PinPipe.Streaming;

namespace PinPipe.Verify;

/// <summary>
/// The log's streams for <see cref="StreamTablesCheck"/>: each partition's records below the tables' txn offsets
/// (<see cref="StreamCheckpoint"/>), from the offset the job's start commit marked when it started at the stream's end
/// (<c>--from latest</c>, <see cref="StreamCheckpoint.StartAppId"/>).
/// </summary>
internal sealed class LogStreamRecords(ILog log, VerifyOptions options) : StreamRecords
{
    public override async Task<StreamRecordsRead> ReadAsync(string stream, DeltaSnapshot? clean, DeltaSnapshot? rejects, CheckBuilder check, RecordRows rows,
        CancellationToken cancellationToken)
    {
        var topic = await log.DescribeTopicAsync(stream, cancellationToken).ConfigureAwait(false);
        if (topic is null)
        {
            check.Note($"The log has no stream '{stream}': its tables were not compared with records.");
            return StreamRecordsRead.NotCompared;
        }
        var cleanMark = StreamCheckpoint.Read(clean?.Txns, stream, topic.TopicId, topic.Partitions);
        var rejectsMark = StreamCheckpoint.Read(rejects?.Txns, stream, topic.TopicId, topic.Partitions);
        if (cleanMark.ForeignKey is not null || rejectsMark.ForeignKey is not null)
        {
            check.Note($"The tables of '{stream}' hold the offsets of an earlier incarnation of the stream (it was deleted and created again): not compared; the stream job stops on it until reset.");
            return StreamRecordsRead.NotCompared;
        }

        // Where the job first read a partition from the stream's end (--from latest): the records below were never meant for the tables.
        long?[] cleanStarts = StreamCheckpoint.ReadStarts(clean?.Txns, stream, cleanMark.Key, topic.Partitions);
        long?[] rejectsStarts = StreamCheckpoint.ReadStarts(rejects?.Txns, stream, rejectsMark.Key, topic.Partitions);
        if (cleanStarts.Any(s => s is not null) || rejectsStarts.Any(s => s is not null))
            check.Note($"The stream job started reading '{stream}' at its end (--from latest), at offsets [{string.Join(", ", cleanStarts.Select(s => s?.ToString(CultureInfo.InvariantCulture) ?? "0"))}]: the records below were not compared.");

        bool retention = false;
        for (int p = 0; p < topic.Partitions; p++)
        {
            long cleanNext = cleanMark.Offsets[p] ?? 0, rejectsNext = rejectsMark.Offsets[p] ?? 0;
            long cleanStart = cleanStarts[p] ?? 0, rejectsStart = rejectsStarts[p] ?? 0;
            var marks = await log.GetWatermarksAsync(stream, p, cancellationToken).ConfigureAwait(false);
            retention |= marks.Low > 0;
            long end = Math.Max(cleanNext, rejectsNext);
            if (end > marks.High)
                check.Problem("extra", $"{stream}/{p}", $"The tables of '{stream}' say partition {p} was read up to offset {end - 1}, past the log's end ({marks.High}): the log lost records the tables hold, or the tables are of another log.");
            for (long at = Math.Max(marks.Low, Math.Min(cleanStart, rejectsStart)); at < end;)
            {
                var read = await log.ReadAsync(stream, p, at, options.ReadChunk, cancellationToken).ConfigureAwait(false);
                if (read.Count == 0) break;
                foreach (var r in read)
                {
                    if (r.Offset >= end) break;
                    rows.Add(string.Create(CultureInfo.InvariantCulture, $"{stream}/{p}/{r.Offset}"), r.Value is { } value ? value : null,
                        r.Offset >= cleanStart && r.Offset < cleanNext, r.Offset >= rejectsStart && r.Offset < rejectsNext);
                }
                at = read[^1].Offset + 1;
            }
        }
        const string Retained = "the log no longer holds (retention removed records from the log)";
        const string Legacy = "the log no longer holds (offsets kept before topic ids)";
        return new StreamRecordsRead(true, retention ? Retained : cleanMark.Legacy ? Legacy : null, retention ? Retained : rejectsMark.Legacy ? Legacy : null);
    }
}
