using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;
using PinPipe.Errors;

namespace PinPipe.Log.Kinesis;

/// <summary>
/// Reads a Kinesis stream's shards one micro-batch at a time, from a checkpoint (the last sequence number taken per
/// shard), in the place of <c>ILog.ReadAsync</c> for the stream job.
/// </summary>
/// <remarks>
/// <para><b>Shards and lineage.</b> It lists the stream's shards (at the start, whenever a shard ends, and every
/// <see cref="KinesisOptions.ShardListInterval"/>). A shard made by a split or merge (it has a <c>ParentShardId</c> or
/// <c>AdjacentParentShardId</c>) is read only once each of its parents that is still listed has been read to its end
/// (GetRecords answered no <c>NextShardIterator</c>: SHARD_END), and from a later <see cref="ReadAsync"/> than the
/// parents' last records: so a partition key's records come in the order they were written across a split or merge.</para>
/// <para><b>Where a shard starts.</b> With a checkpoint, AFTER_SEQUENCE_NUMBER it. Without: <see cref="ShardIteratorType.TrimHorizon"/>
/// when so asked; for <see cref="ShardIteratorType.Latest"/>, LATEST for a shard open at the first listing, TRIM_HORIZON
/// for a child of a shard this reader reads or has a checkpoint for (and for a shard that appeared while reading: all of it
/// is new), and nothing of a shard already closed at the first listing (it holds only old records). A shard started at
/// LATEST that has not yet returned a record has no position: a new reader starts it at LATEST again (as Kinesis's own
/// client library does).</para>
/// <para><b>Failures.</b> Throttling (<c>ProvisionedThroughputExceededException</c>), 5xx and unreachable endpoints back
/// the shard off (doubling from <see cref="KinesisOptions.PollInterval"/> up to <see cref="Retry.MaxDelay"/>) and are not
/// thrown; an expired iterator is replaced from the shard's position. Any other failure of a read (the stream was deleted,
/// a checkpoint that is not a sequence number of the shard, denied credentials), and any failure of a listing, is thrown,
/// and none of that call's records is taken: the reader stays as it was, and a later call reads them again.</para>
/// <para>Not thread-safe: one caller at a time.</para>
/// </remarks>
public sealed class KinesisShardReader
{
    private enum State { Waiting, Reading, Drained, Skipped }

    private sealed class Shard(KinesisShard description, bool firstListing)
    {
        public KinesisShard Description { get; set; } = description;
        public bool FirstListing { get; } = firstListing;
        public State State { get; set; } = State.Waiting;
        public ShardIteratorType Start { get; set; }
        public string? Iterator { get; set; }
        public string? Position { get; set; }
        /// <summary>The first sequence number this reader returned of the shard.</summary>
        public string? First { get; set; }
        public DateTimeOffset NextPoll { get; set; }
        public int Failures { get; set; }
        public long MillisBehind { get; set; }
        /// <summary>Set on the call that drained it: its children start from the next call on.</summary>
        public int DrainedAtCall { get; set; } = -1;
    }

    private readonly KinesisClient _client;
    private readonly ShardIteratorType _start;
    private readonly ILogger _logger;
    private readonly TimeProvider _time;
    private readonly Dictionary<string, Shard> _shards = new(StringComparer.Ordinal);
    private readonly Dictionary<string, string> _checkpoints;
    private bool _listed;
    private bool _relist = true;
    private DateTimeOffset _nextList;
    private int _calls;
    private int _cursor;

    /// <summary>A reader of <paramref name="stream"/>.</summary>
    /// <param name="client">The Kinesis client (the caller owns it).</param>
    /// <param name="stream">The stream.</param>
    /// <param name="checkpoints">The last sequence number taken per shard id (from the Delta txns: <see cref="KinesisCheckpoint.Decode"/>); empty for a first start.</param>
    /// <param name="startWithoutCheckpoint"><see cref="ShardIteratorType.TrimHorizon"/> (<c>Stream:From earliest</c>) or <see cref="ShardIteratorType.Latest"/> (<c>latest</c>).</param>
    /// <param name="logger">Where backoffs and shard changes are logged.</param>
    /// <param name="time">The clock of the poll intervals and backoffs.</param>
    public KinesisShardReader(KinesisClient client, string stream, IReadOnlyDictionary<string, string> checkpoints, ShardIteratorType startWithoutCheckpoint,
        ILogger? logger = null, TimeProvider? time = null)
    {
        ArgumentNullException.ThrowIfNull(client);
        ArgumentException.ThrowIfNullOrEmpty(stream);
        ArgumentNullException.ThrowIfNull(checkpoints);
        if (startWithoutCheckpoint is not (ShardIteratorType.TrimHorizon or ShardIteratorType.Latest))
            throw new ArgumentException("A shard without checkpoint starts at TrimHorizon or Latest.", nameof(startWithoutCheckpoint));
        foreach (var (shard, sequence) in checkpoints)
            if (!KinesisCheckpoint.IsSequenceNumber(sequence))
                throw new ArgumentException($"The checkpoint of {shard} is '{sequence}', not a sequence number.", nameof(checkpoints));
        _client = client;
        Stream = stream;
        _checkpoints = new Dictionary<string, string>(checkpoints, StringComparer.Ordinal);
        _start = startWithoutCheckpoint;
        _logger = logger ?? NullLogger.Instance;
        _time = time ?? TimeProvider.System;
    }

    /// <summary>The stream read.</summary>
    public string Stream { get; }

    /// <summary>
    /// The checkpoint after the records returned so far: the last sequence number per shard (the given checkpoints,
    /// moved on by every <see cref="ReadAsync"/>). Commit it with the rows of those records (<see cref="KinesisCheckpoint.Advance"/>).
    /// </summary>
    public IReadOnlyDictionary<string, string> Positions
    {
        get
        {
            var positions = new Dictionary<string, string>(_checkpoints, StringComparer.Ordinal);
            foreach (var (id, shard) in _shards)
                if (shard.Position is not null) positions[id] = shard.Position;
            return positions;
        }
    }

    /// <summary>The first sequence number this reader returned of each shard it returned records of.</summary>
    public IReadOnlyDictionary<string, string> FirstRead =>
        _shards.Where(s => s.Value.First is not null).ToDictionary(s => s.Key, s => s.Value.First!, StringComparer.Ordinal);

    /// <summary>The shards being read now (open, or closed and not yet at their end, with their parents done).</summary>
    public IReadOnlyList<string> ReadingShards => [.. _shards.Where(s => s.Value.State == State.Reading).Select(s => s.Key).Order(StringComparer.Ordinal)];

    /// <summary>The shards read to their end (SHARD_END) by this reader.</summary>
    public IReadOnlyList<string> DrainedShards => [.. _shards.Where(s => s.Value.State == State.Drained).Select(s => s.Key).Order(StringComparer.Ordinal)];

    /// <summary>How far behind the newest record the reading is: the most of the shards' last <c>MillisBehindLatest</c> (0 at the tip).</summary>
    public long MillisBehindLatest => _shards.Values.Where(s => s.State == State.Reading).Select(s => s.MillisBehind).DefaultIfEmpty(0).Max();

    /// <summary>
    /// Reads up to <paramref name="maxRecords"/> records: once from every shard that may be read now (its poll interval
    /// or backoff passed), waiting for the first such shard when none may be read yet. Records of one shard come in its
    /// order; the shards one after another. Returns an empty list when the shards had nothing new.
    /// </summary>
    /// <exception cref="KinesisException">A failure a retry cannot mend; nothing of this call was taken.</exception>
    public async Task<IReadOnlyList<KinesisRecord>> ReadAsync(int maxRecords, CancellationToken cancellationToken = default)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(maxRecords, 1);
        _calls++;
        var now = _time.GetUtcNow();
        if (_relist || now >= _nextList) await ListAsync(cancellationToken).ConfigureAwait(false);
        StartShards();

        var reading = _shards.Values.Where(s => s.State == State.Reading).OrderBy(s => s.Description.ShardId, StringComparer.Ordinal).ToList();
        if (reading.Count == 0)
        {
            // Nothing to read yet (no shard, or children waiting for a listing): come back after a poll interval.
            _relist = true;
            await Task.Delay(_client.Options.PollInterval, _time, cancellationToken).ConfigureAwait(false);
            return [];
        }
        var earliest = reading.Min(s => s.NextPoll);
        now = _time.GetUtcNow();
        if (earliest > now) await Task.Delay(earliest - now, _time, cancellationToken).ConfigureAwait(false);
        now = _time.GetUtcNow();

        // Round-robin over the due shards, so that a small maxRecords does not always serve the same ones first.
        // A timer may fire a little before the clock shows its time: the earliest shard is due after the wait whatever the clock says.
        var due = reading.Where(s => s.NextPoll <= now || s.NextPoll == earliest).ToList();
        int first = _cursor++ % due.Count;
        due = [.. due.Skip(first), .. due.Take(first)];
        if (due.Count > maxRecords) due = due.Take(maxRecords).ToList();
        int limit = Math.Min(_client.Options.MaxRecordsPerRead, Math.Max(1, maxRecords / due.Count));
        var reads = due.Select(s => PollAsync(s, limit, cancellationToken)).ToArray();
        var outcomes = await Task.WhenAll(reads).ConfigureAwait(false);

        // A failure a retry cannot mend: take nothing of this call (the iterators stay where they were).
        foreach (var (_, _, error) in outcomes)
            if (error is not null) throw error;

        var records = new List<KinesisRecord>();
        now = _time.GetUtcNow();
        foreach (var (shard, result, _) in outcomes)
        {
            if (result is null) continue; // backed off
            shard.Failures = 0;
            shard.NextPoll = now + _client.Options.PollInterval;
            shard.MillisBehind = result.MillisBehindLatest;
            if (result.Records.Count > 0)
            {
                records.AddRange(result.Records);
                shard.First ??= result.Records[0].SequenceNumber;
                shard.Position = result.Records[^1].SequenceNumber;
            }
            shard.Iterator = result.NextShardIterator;
            if (result.NextShardIterator is null)
            {
                shard.State = State.Drained;
                shard.DrainedAtCall = _calls;
                _relist = true;
                _logger.LogInformation("Kinesis stream {Stream}: {Shard} read to its end; its children follow.", Stream, shard.Description.ShardId);
            }
        }
        return records;
    }

    /// <summary>One GetRecords of a shard: its result, or null after a transient failure (backed off), or a failure to throw.</summary>
    private async Task<(Shard Shard, KinesisReadResult? Result, KinesisException? Error)> PollAsync(Shard shard, int limit, CancellationToken cancellationToken)
    {
        for (int attempt = 1; ; attempt++)
        {
            try
            {
                shard.Iterator ??= await IteratorAsync(shard, cancellationToken).ConfigureAwait(false);
                return (shard, await _client.GetRecordsAsync(shard.Iterator, shard.Description.ShardId, limit, cancellationToken).ConfigureAwait(false), null);
            }
            catch (KinesisException e) when (e.IsExpiredIterator && attempt == 1)
            {
                // Older than five minutes: a new one from the shard's position.
                _logger.LogDebug("Kinesis stream {Stream}: the iterator of {Shard} expired; getting a new one.", Stream, shard.Description.ShardId);
                shard.Iterator = null;
            }
            catch (KinesisException e) when (e.IsRetriable)
            {
                shard.Failures++;
                var delay = Retry.Delay(shard.Failures, _client.Options.PollInterval);
                shard.NextPoll = _time.GetUtcNow() + delay;
                if (e.IsThrottling && shard.Failures < 5)
                    _logger.LogDebug("Kinesis stream {Stream}: {Shard} throttled ({Error}); backing off {Delay}.", Stream, shard.Description.ShardId, e.ErrorType, Retry.Format(delay));
                else
                    Retry.LogRetry(_logger, $"Reading Kinesis {Stream} {shard.Description.ShardId}", e, shard.Failures, delay);
                return (shard, null, null);
            }
            catch (KinesisException e)
            {
                return (shard, null, e);
            }
        }
    }

    /// <summary>A new iterator for the shard: after its position, else where it starts.</summary>
    private async Task<string> IteratorAsync(Shard shard, CancellationToken cancellationToken)
    {
        string id = shard.Description.ShardId;
        string? after = shard.Position ?? _checkpoints.GetValueOrDefault(id);
        try
        {
            return after is not null
                ? await _client.GetShardIteratorAsync(Stream, id, ShardIteratorType.AfterSequenceNumber, after, cancellationToken).ConfigureAwait(false)
                : await _client.GetShardIteratorAsync(Stream, id, shard.Start, null, cancellationToken).ConfigureAwait(false);
        }
        catch (KinesisException e) when (after is not null && e.ErrorType is "InvalidArgumentException" or "ValidationException")
        {
            throw new KinesisException(e.ErrorType,
                $"the checkpoint {after} of {id} is not a sequence number of this stream's shard ({e.ServiceMessage}); was the stream deleted and created again?",
                e.StatusCode, e.Operation, e.Where, e);
        }
    }

    /// <summary>Lists the shards; new ones wait for their parents.</summary>
    private async Task ListAsync(CancellationToken cancellationToken)
    {
        var listed = await _client.ListShardsAsync(Stream, cancellationToken).ConfigureAwait(false);
        foreach (var description in listed)
        {
            if (_shards.TryGetValue(description.ShardId, out var known)) known.Description = description;
            else
            {
                _shards[description.ShardId] = new Shard(description, firstListing: !_listed);
                if (_listed) _logger.LogInformation("Kinesis stream {Stream}: new shard {Shard} (parents: {Parents}).", Stream, description.ShardId, string.Join(", ", description.Parents()));
            }
        }
        _listed = true;
        _relist = false;
        _nextList = _time.GetUtcNow() + _client.Options.ShardListInterval;
    }

    /// <summary>Starts every waiting shard whose parents are done (read to their end on an earlier call, skipped, or no longer listed).</summary>
    private void StartShards()
    {
        bool started;
        do
        {
            started = false;
            foreach (var shard in _shards.Values.Where(s => s.State == State.Waiting).OrderBy(s => s.Description.ShardId, StringComparer.Ordinal).ToList())
            {
                var parents = shard.Description.Parents().Select(p => _shards.GetValueOrDefault(p)).Where(p => p is not null).Select(p => p!).ToList();
                if (!parents.All(p => p.State == State.Skipped || (p.State == State.Drained && p.DrainedAtCall < _calls))) continue;
                string id = shard.Description.ShardId;
                if (_checkpoints.ContainsKey(id) || _start == ShardIteratorType.TrimHorizon
                    || parents.Any(p => p.State != State.Skipped) || !shard.FirstListing)
                    shard.Start = ShardIteratorType.TrimHorizon;
                else if (shard.Description.IsClosed)
                {
                    // Reading from LATEST: a shard closed before the first listing holds only records from before it.
                    shard.State = State.Skipped;
                    started = true; // its children may start now
                    continue;
                }
                else shard.Start = ShardIteratorType.Latest;
                shard.State = State.Reading;
                shard.NextPoll = _time.GetUtcNow();
            }
        }
        while (started);
    }
}
