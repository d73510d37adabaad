using System.Globalization;
using Microsoft.Extensions.Logging;
using PinPipe.Lake.Delta;
using PinPipe.Log;
using PinPipe.Log.Kinesis;

namespace PinPipe.Streaming;

/// <summary>
/// A Kinesis stream (<c>Stream:Source=kinesis</c>): its shards, read by a <see cref="KinesisShardReader"/> (children of a
/// split or merge after their parents are drained), each table's last sequence number per shard as the txns
/// <see cref="KinesisCheckpoint"/> writes, keyed by the stream's creation time (its incarnation).
/// </summary>
/// <remarks>
/// Every worker reads every shard: the stream workers' group shares only the log's partitions. Two jobs on one Kinesis
/// stream and one bucket still land each record once (the second commit for a shard fails the Delta txn conflict check
/// and that job resumes from the tables), but they do the work twice: run one.
/// </remarks>
internal sealed class KinesisStreamInput(StreamOptions options, KinesisClient client, string stream, TimeProvider time) : StreamInput
{
    /// <summary>How often the stream's incarnation is checked while reading (DescribeStreamSummary has a low request limit).</summary>
    private static readonly TimeSpan CheckInterval = TimeSpan.FromSeconds(10);

    private static readonly Dictionary<string, KinesisShardCheckpoint> NoCheckpoint = [];

    private string? _key; // the stream's incarnation: its creation time in Unix seconds
    private IReadOnlyDictionary<string, KinesisShardCheckpoint> _clean = NoCheckpoint, _rejects = NoCheckpoint;
    private KinesisShardReader? _reader;
    private bool _markStarts; // from latest: a table's first checkpoint of a shard also marks where its reading began
    private long _checkedAt;

    public override string Stream => stream;

    public override async Task OpenAsync(CancellationToken cancellationToken)
    {
        bool logged = false;
        while (true)
        {
            try
            {
                var summary = await client.DescribeStreamSummaryAsync(stream, cancellationToken).ConfigureAwait(false);
                if (summary.StreamStatus is "ACTIVE" or "UPDATING")
                {
                    _key = KeyOf(summary);
                    _checkedAt = time.GetTimestamp();
                    return;
                }
            }
            catch (KinesisException e) when (e.IsNotFound || e.IsRetriable)
            {
                if (e.IsRetriable) Logger.LogWarning("{Table}: Kinesis stream {Stream} cannot be described now: {Message}", Table, stream, e.Message);
            }
            if (!logged) Logger.LogInformation("Waiting for Kinesis stream {Stream} to be created and active.", stream);
            logged = true;
            await Task.Delay(TimeSpan.FromSeconds(1), time, cancellationToken).ConfigureAwait(false);
        }
    }

    private static string KeyOf(KinesisStreamSummary summary) => KinesisCheckpoint.KeyOf(summary);

    /// <summary>
    /// Reads each table's checkpoint of this incarnation of the stream; the reader starts each shard after the lower of
    /// the two (a record the other table already holds is skipped for it). Tables that hold only another incarnation's
    /// checkpoint stop the job unless <c>--reset earliest</c> (then the stream is read from its trim horizon).
    /// </summary>
    public override async Task<(IReadOnlyList<DeltaTxn> Clean, IReadOnlyList<DeltaTxn> Rejects)> ResumeAsync(DeltaSnapshot? clean, DeltaSnapshot? rejects, bool afterFailure,
        CancellationToken cancellationToken)
    {
        if (afterFailure || _key is null) _key = KeyOf(await DescribeAsync(cancellationToken).ConfigureAwait(false));
        var cleanTxns = clean?.Txns ?? new Dictionary<string, long>();
        var rejectsTxns = rejects?.Txns ?? new Dictionary<string, long>();
        _clean = KinesisCheckpoint.Decode(cleanTxns, stream, _key);
        _rejects = KinesisCheckpoint.Decode(rejectsTxns, stream, _key);
        var start = options.From == StreamStart.Latest ? ShardIteratorType.Latest : ShardIteratorType.TrimHorizon;
        if (_clean.Count == 0 && _rejects.Count == 0 && (ForeignKey(cleanTxns) ?? ForeignKey(rejectsTxns)) is { } foreign)
        {
            string problem = $"Kinesis stream '{stream}' was deleted and created again: Delta table {CleanLocation} holds the sequence numbers of its earlier incarnation (created {Created(foreign)}), not of this one (created {Created(_key)}); they are not positions in this one.";
            if (options.Reset != "earliest")
                throw new LogException(LogErrorCode.CheckpointMismatch,
                    $"{problem} Nothing was read. To read the stream from its trim horizon, deliberately, run the job once with --reset earliest (Stream:Reset); rows already in the tables stay (an ind already there counts as a duplicate).");
            Logger.LogWarning("{Table}: {Problem} Reading it from its trim horizon (--reset earliest).", Table, problem);
            start = ShardIteratorType.TrimHorizon;
        }

        // Each shard from the lower of the tables' checkpoints. A shard only one table has: reading from the start the
        // other table would take (the trim horizon) or, from latest, from the one checkpoint there is.
        var from = new Dictionary<string, string>(StringComparer.Ordinal);
        foreach (string shard in _clean.Keys.Union(_rejects.Keys))
        {
            bool c = _clean.TryGetValue(shard, out var cp), r = _rejects.TryGetValue(shard, out var rp);
            if (c && r) from[shard] = KinesisCheckpoint.Compare(cp.SequenceNumber, rp.SequenceNumber) <= 0 ? cp.SequenceNumber : rp.SequenceNumber;
            else if (start == ShardIteratorType.Latest) from[shard] = c ? cp.SequenceNumber : rp.SequenceNumber;
        }
        _reader = new KinesisShardReader(client, stream, from, start, Logger, time);
        _markStarts = start == ShardIteratorType.Latest;
        return ([], []);
    }

    /// <summary>The key of another incarnation of this stream among a table's txns, or null.</summary>
    private string? ForeignKey(IReadOnlyDictionary<string, long> txns) => KinesisCheckpoint.ForeignKey(txns, stream, _key);

    private static string Created(string? key) =>
        long.TryParse(key, NumberStyles.AllowLeadingSign, CultureInfo.InvariantCulture, out long seconds)
            ? DateTimeOffset.FromUnixTimeSeconds(seconds).ToString("u", CultureInfo.InvariantCulture)
            : key ?? "unknown";

    public override string Where
    {
        get
        {
            string Of(IReadOnlyDictionary<string, KinesisShardCheckpoint> checkpoint) => checkpoint.Count == 0
                ? (options.From == StreamStart.Latest ? "latest" : "trim horizon")
                : string.Join(", ", checkpoint.OrderBy(s => s.Key, StringComparer.Ordinal).Select(s => $"{s.Key} after {s.Value.SequenceNumber}"));
            return $"Kinesis stream {stream} (created {Created(_key)}) at [{Of(_clean)}] (rejects [{Of(_rejects)}])";
        }
    }

    /// <summary>A micro-batch goes on from the reader's positions: after a commit they are the tables' (a failed commit resumes with a new reader).</summary>
    public override void Begin()
    {
    }

    public override async Task<int> ReadAsync(int max, RawRows rows, CancellationToken cancellationToken)
    {
        int room = Math.Min(max - rows.Count, client.Options.MaxRecordsPerRead);
        if (room <= 0) return 0;
        var records = await _reader!.ReadAsync(room, cancellationToken).ConfigureAwait(false);
        foreach (var r in records)
        {
            bool forClean = !_clean.TryGetValue(r.ShardId, out var c) || KinesisCheckpoint.Compare(r.SequenceNumber, c.SequenceNumber) > 0;
            bool forRejects = !_rejects.TryGetValue(r.ShardId, out var j) || KinesisCheckpoint.Compare(r.SequenceNumber, j.SequenceNumber) > 0;
            if (forClean || forRejects) rows.Add($"{stream}/{r.ShardId}/{r.SequenceNumber}", r.Data.Span, isNull: false, forClean, forRejects);
        }
        return records.Count;
    }

    public override async Task<bool> IdleAsync(CancellationToken cancellationToken)
    {
        await CheckAsync(cancellationToken).ConfigureAwait(false);
        SetLag(0); // Kinesis says how far behind in time (MillisBehindLatest), not in records: idle means caught up
        return true;
    }

    /// <summary>The reader waits for the shards' poll interval itself.</summary>
    public override Task WaitAsync(TimeSpan timeout, CancellationToken cancellationToken) => Task.CompletedTask;

    /// <summary>Throws when the stream is gone or is another incarnation than the one resumed (looked at every <see cref="CheckInterval"/>).</summary>
    public override async Task CheckAsync(CancellationToken cancellationToken)
    {
        if (time.GetElapsedTime(_checkedAt) < CheckInterval) return;
        var summary = await DescribeAsync(cancellationToken).ConfigureAwait(false);
        if (KeyOf(summary) != _key)
            throw new LogException(LogErrorCode.CheckpointMismatch,
                $"Kinesis stream '{stream}' was deleted and created again while the job read it (created {Created(_key)} → {Created(KeyOf(summary))}); nothing of the new incarnation was committed. Run the job again with --reset earliest (Stream:Reset) to read the new incarnation from its trim horizon, deliberately.");
        _checkedAt = time.GetTimestamp();
    }

    private async Task<KinesisStreamSummary> DescribeAsync(CancellationToken cancellationToken)
    {
        try
        {
            return await client.DescribeStreamSummaryAsync(stream, cancellationToken).ConfigureAwait(false);
        }
        catch (KinesisException e) when (e.IsNotFound)
        {
            throw Deleted();
        }
    }

    // No inner exception: the job reports a failure's innermost exception (GetBaseException), and this one says it all.
    private LogException Deleted() => new(LogErrorCode.CheckpointMismatch,
        $"Kinesis stream '{stream}' was deleted while the job read it; the tables keep what was committed before. Once it exists again, run the job with --reset earliest (Stream:Reset) to read the new incarnation from its trim horizon.");

    public override Exception? Gone(Exception failure) => failure is KinesisException { IsNotFound: true } ? Deleted() : null;

    /// <summary>
    /// The txns that move the table's checkpoint; started from latest, a shard's first checkpoint in the table also
    /// brings its start mark (<see cref="KinesisCheckpoint.StartPrefix"/>): the first record this reader took of it.
    /// </summary>
    public override IReadOnlyList<DeltaTxn> Txns(bool rejects)
    {
        var committed = rejects ? _rejects : _clean;
        var txns = KinesisCheckpoint.Advance(stream, _key, _reader!.Positions, committed).ToList();
        if (_markStarts)
            foreach (var (shard, first) in _reader.FirstRead.OrderBy(s => s.Key, StringComparer.Ordinal))
                if (!committed.ContainsKey(shard)) txns.AddRange(KinesisCheckpoint.EncodeStart(stream, _key, shard, first));
        return [.. txns.Select(t => new DeltaTxn(t.AppId, t.Version))];
    }

    public override void Committed(bool rejects)
    {
        if (rejects)
        {
            _rejects = KinesisCheckpoint.After(_reader!.Positions, _rejects);
            Held = null;
        }
        else _clean = KinesisCheckpoint.After(_reader!.Positions, _clean);
    }

    /// <summary>The reader goes on from its positions anyway; a record after the reject table's checkpoint stays one for it.</summary>
    protected override HeldRejects HoldRejects()
    {
        var txns = Txns(rejects: true);
        var positions = new Dictionary<string, string>(_reader!.Positions, StringComparer.Ordinal);
        var checkpoint = _rejects;
        return new HeldRejects(txns, () =>
        {
            // Only while no commit of the table came in between (it covers the held position).
            if (ReferenceEquals(_rejects, checkpoint)) _rejects = KinesisCheckpoint.After(positions, _rejects);
        });
    }

    public override Task CommittedBatchAsync(CancellationToken cancellationToken)
    {
        SetLag(0);
        return Task.CompletedTask;
    }
}
