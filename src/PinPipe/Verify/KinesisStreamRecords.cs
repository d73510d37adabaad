using Microsoft.Extensions.Logging.Abstractions;
using PinPipe.Errors;
using PinPipe.Lake.Delta;
using PinPipe.Log.Kinesis;

namespace PinPipe.Verify;

/// <summary>
/// Kinesis's streams for <see cref="StreamTablesCheck"/> (<c>Stream:Source=kinesis</c>): each shard's records from its
/// trim horizon up to the tables' checkpoints (<see cref="KinesisCheckpoint"/>, of the stream's current incarnation), from
/// the start marks the job wrote when it started at the stream's end (<see cref="KinesisCheckpoint.StartPrefix"/>).
/// </summary>
/// <remarks>
/// Kinesis keeps records for the stream's retention period only (24 hours by default): once the stream is older than
/// that, or a shard the tables hold a checkpoint of is no longer listed, rows whose records are gone are noted, not
/// counted as problems. Reads are GetRecords from TRIM_HORIZON, retried with backoff when throttled.
/// </remarks>
internal sealed class KinesisStreamRecords(KinesisClient client, VerifyOptions options, TimeProvider? time = null) : StreamRecords
{
    private static readonly IReadOnlyDictionary<string, long> NoTxns = new Dictionary<string, long>();
    private const int Attempts = 8;

    private readonly TimeProvider _time = time ?? TimeProvider.System;

    public override async Task<StreamRecordsRead> ReadAsync(string stream, DeltaSnapshot? clean, DeltaSnapshot? rejects, CheckBuilder check, RecordRows rows,
        CancellationToken cancellationToken)
    {
        KinesisStreamSummary summary;
        try
        {
            summary = await Call(ct => client.DescribeStreamSummaryAsync(stream, ct), cancellationToken).ConfigureAwait(false);
        }
        catch (KinesisException e) when (e.IsNotFound)
        {
            check.Note($"Kinesis has no stream '{stream}': its tables were not compared with records.");
            return StreamRecordsRead.NotCompared;
        }
        string key = KinesisCheckpoint.KeyOf(summary);
        var cleanTxns = clean?.Txns ?? NoTxns;
        var rejectsTxns = rejects?.Txns ?? NoTxns;
        var cleanAt = KinesisCheckpoint.Decode(cleanTxns, stream, key);
        var rejectsAt = KinesisCheckpoint.Decode(rejectsTxns, stream, key);
        if (cleanAt.Count == 0 && rejectsAt.Count == 0)
        {
            check.Note((KinesisCheckpoint.ForeignKey(cleanTxns, stream, key) ?? KinesisCheckpoint.ForeignKey(rejectsTxns, stream, key)) is not null
                ? $"The tables of '{stream}' hold the checkpoints of an earlier incarnation of the Kinesis stream (it was deleted and created again): not compared; the stream job stops on it until reset."
                : $"The tables of '{stream}' hold no Kinesis checkpoint yet: nothing to compare.");
            return StreamRecordsRead.NotCompared;
        }
        var cleanStarts = KinesisCheckpoint.DecodeStarts(cleanTxns, stream, key);
        var rejectsStarts = KinesisCheckpoint.DecodeStarts(rejectsTxns, stream, key);
        if (cleanStarts.Count > 0 || rejectsStarts.Count > 0)
            check.Note($"The stream job started reading Kinesis stream '{stream}' at its end (--from latest), in [{string.Join(", ", cleanStarts.OrderBy(s => s.Key, StringComparer.Ordinal).Select(s => $"{s.Key} at {s.Value}"))}]: the records before were not compared.");

        // Records older than the retention period are gone: rows of theirs cannot be told from rows of nowhere.
        string? gone = null;
        if (_time.GetUtcNow() - summary.CreationTimestamp > TimeSpan.FromHours(summary.RetentionPeriodHours))
            gone = $"Kinesis may no longer hold (the stream is older than its retention of {summary.RetentionPeriodHours} hours)";
        var shards = await Call(ct => client.ListShardsAsync(stream, ct), cancellationToken).ConfigureAwait(false);
        var listed = shards.Select(s => s.ShardId).ToHashSet(StringComparer.Ordinal);
        foreach (string shard in cleanAt.Keys.Union(rejectsAt.Keys).Where(s => !listed.Contains(s)).Order(StringComparer.Ordinal))
        {
            check.Note($"Shard {shard} of '{stream}', which the tables hold a checkpoint of, is no longer listed (its records passed the retention period): not compared.");
            gone ??= "Kinesis no longer holds (a shard passed the retention period)";
        }

        foreach (var shard in shards.OrderBy(s => s.ShardId, StringComparer.Ordinal))
        {
            string id = shard.ShardId;
            string? cleanEnd = cleanAt.TryGetValue(id, out var c) ? c.SequenceNumber : null;
            string? rejectsEnd = rejectsAt.TryGetValue(id, out var r) ? r.SequenceNumber : null;
            if (cleanEnd is null && rejectsEnd is null) continue; // nothing of it is in the tables yet
            string end = cleanEnd is null ? rejectsEnd! : rejectsEnd is null ? cleanEnd : KinesisCheckpoint.Compare(cleanEnd, rejectsEnd) >= 0 ? cleanEnd : rejectsEnd;
            string? cleanStart = cleanStarts.GetValueOrDefault(id), rejectsStart = rejectsStarts.GetValueOrDefault(id);
            string? last = await ReadShardAsync(stream, id, end, rows,
                seq => Within(seq, cleanStart, cleanEnd), seq => Within(seq, rejectsStart, rejectsEnd), cancellationToken).ConfigureAwait(false);
            if (last is null || KinesisCheckpoint.Compare(last, end) < 0)
                check.Problem("extra", $"{stream}/{id}", $"The tables of '{stream}' say shard {id} was read up to sequence number {end}, past its newest record ({last ?? "none"}): Kinesis lost records the tables hold, or the tables are of another stream.");
        }
        return new StreamRecordsRead(true, gone, gone);
    }

    private static bool Within(string sequence, string? start, string? end) =>
        end is not null && KinesisCheckpoint.Compare(sequence, end) <= 0 && (start is null || KinesisCheckpoint.Compare(sequence, start) >= 0);

    /// <summary>Reads a shard from its trim horizon up to <paramref name="end"/>; returns the last sequence number read (null: none).</summary>
    private async Task<string?> ReadShardAsync(string stream, string shard, string end, RecordRows rows,
        Func<string, bool> forClean, Func<string, bool> forRejects, CancellationToken cancellationToken)
    {
        string? last = null;
        string? iterator = await Call(ct => client.GetShardIteratorAsync(stream, shard, ShardIteratorType.TrimHorizon, null, ct), cancellationToken).ConfigureAwait(false);
        int limit = Math.Min(options.ReadChunk, 10_000);
        while (iterator is not null)
        {
            KinesisReadResult result;
            try
            {
                string at = iterator;
                result = await Call(ct => client.GetRecordsAsync(at, shard, limit, ct), cancellationToken).ConfigureAwait(false);
            }
            catch (KinesisException e) when (e.IsExpiredIterator)
            {
                iterator = last is null
                    ? await Call(ct => client.GetShardIteratorAsync(stream, shard, ShardIteratorType.TrimHorizon, null, ct), cancellationToken).ConfigureAwait(false)
                    : await Call(ct => client.GetShardIteratorAsync(stream, shard, ShardIteratorType.AfterSequenceNumber, last, ct), cancellationToken).ConfigureAwait(false);
                continue;
            }
            foreach (var record in result.Records)
            {
                if (KinesisCheckpoint.Compare(record.SequenceNumber, end) > 0) return last;
                rows.Add($"{stream}/{shard}/{record.SequenceNumber}", record.Data, forClean(record.SequenceNumber), forRejects(record.SequenceNumber));
                last = record.SequenceNumber;
            }
            if (last is not null && KinesisCheckpoint.Compare(last, end) == 0) return last;
            // At the shard's newest record (or its end): the checkpoint is past what the shard holds.
            if (result.Records.Count == 0 && result.MillisBehindLatest == 0) return last;
            iterator = result.NextShardIterator;
        }
        return last;
    }

    /// <summary>A Kinesis call, retried with backoff while it is throttled or fails transiently.</summary>
    private static Task<T> Call<T>(Func<CancellationToken, Task<T>> call, CancellationToken cancellationToken) =>
        Retry.TransientAsync(async ct => await call(ct).ConfigureAwait(false), NullLogger.Instance, "Reading Kinesis", Attempts, TimeSpan.FromMilliseconds(200), cancellationToken);
}
