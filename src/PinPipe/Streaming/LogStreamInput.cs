using System.Globalization;
using PinPipe.Lake.Delta;
using PinPipe.Log;
using Microsoft.Extensions.Logging;

namespace PinPipe.Streaming;

/// <summary>
/// A stream of the log (<c>streaming-&lt;U&gt;-pin|geo|user</c>): its partitions this worker owns (the stream workers'
/// group, <see cref="Member"/>), each table's next offset per partition as the txns <see cref="StreamCheckpoint"/> writes.
/// </summary>
internal sealed class LogStreamInput(StreamOptions options, ILog log, string stream, TimeProvider time) : StreamInput
{
    private const int ReadChunk = 2_000;
    private static readonly TimeSpan PositionInterval = TimeSpan.FromSeconds(1);

    private TopicDescription? _topic;
    private long[] _cleanNext = [];
    private long[] _rejectsNext = [];
    private long[] _rejectsDone = []; // the reject table's position with the micro-batches whose commit it holds back (RejectsHeld); _rejectsNext is what it holds
    private long[] _next = []; // the micro-batch's next offset to read per partition (its end once it closes)
    private bool _moreReady; // the last read filled a partition's chunk
    private string? _topicId; // the incarnation of the stream the tables' offsets are for
    private string? _cleanKey, _rejectsKey; // the checkpoint key of each table's txns (StreamCheckpoint)
    private long[] _position = []; // what was last committed to the log as the group's offsets
    private long _positionAt;
    private long _generation = -1; // the group assignment the offsets were read for
    private bool[] _reads = []; // the partitions whose offsets the last resume read for this worker (its assignment)
    private bool[] _startPending = []; // assigned partitions whose start txn the last resume could not record (their lease had run out)

    public override string Stream => stream;

    /// <summary>
    /// The job's membership of the stream workers' group: this table reads only the stream partitions it owns. Null (tests
    /// of one table alone): every partition.
    /// </summary>
    public IGroupMember? Member { get; set; }

    private bool Owns(int partition) => Member?.Owns(stream, partition) ?? true;

    /// <summary>
    /// Whether the partition is read now: in this worker's assignment at the last resume (its offsets are current) and
    /// owned now. A lease that runs out for a moment (heartbeats late on a loaded machine) only pauses the reads until the
    /// next heartbeat renews it; a partition another worker took meanwhile makes a new generation, and so a resume.
    /// </summary>
    private bool Reads(int partition) => partition < _reads.Length && _reads[partition] && Owns(partition);

    /// <summary>
    /// The group changed this worker's partitions (a new generation), or a partition whose start the last resume could
    /// not record, its lease having run out, is owned again: the start is recorded before it is read.
    /// </summary>
    public override bool MustResume => Member is not null && (Member.Generation != _generation || StartOwnedAgain());

    private bool StartOwnedAgain()
    {
        for (int p = 0; p < _startPending.Length; p++)
            if (_startPending[p] && Owns(p)) return true;
        return false;
    }

    /// <summary>This worker's partitions of the stream in the group's assignment (all of them without a group), read after <see cref="_generation"/>.</summary>
    private bool[] Assigned(int partitions)
    {
        var assigned = new bool[partitions];
        if (Member is null) Array.Fill(assigned, true);
        else
            foreach (var a in Member.Assignment)
                if (a.Topic == stream && a.Partition < partitions) assigned[a.Partition] = true;
        return assigned;
    }

    public override async Task OpenAsync(CancellationToken cancellationToken)
    {
        bool logged = false;
        while (true)
        {
            _topic = await log.DescribeTopicAsync(stream, cancellationToken).ConfigureAwait(false);
            if (_topic is not null) return;
            if (!logged) Logger.LogInformation("Waiting for stream {Stream} to be created.", stream);
            logged = true;
            await Task.Delay(TimeSpan.FromSeconds(1), time, cancellationToken).ConfigureAwait(false);
        }
    }

    /// <summary>
    /// Reads both tables' offsets. Offsets of another incarnation of the stream (deleted and created again) or past its
    /// end (truncated) stop the job, unless <c>--reset earliest</c> moves them to the stream's start; a new checkpoint (a
    /// first start with <c>--from latest</c>, a reset, offsets adopted from txns without topic id) is returned to be
    /// recorded in the tables first.
    /// </summary>
    /// <exception cref="LogException"><see cref="LogErrorCode.CheckpointMismatch"/>: the tables' offsets are not this stream's.</exception>
    public override async Task<(IReadOnlyList<DeltaTxn> Clean, IReadOnlyList<DeltaTxn> Rejects)> ResumeAsync(DeltaSnapshot? clean, DeltaSnapshot? rejects, bool afterFailure,
        CancellationToken cancellationToken)
    {
        if (afterFailure || _topic is null) _topic = await log.DescribeTopicAsync(stream, cancellationToken).ConfigureAwait(false) ?? throw Deleted();
        var topic = _topic;
        _generation = Member?.Generation ?? 0;
        int partitions = topic.Partitions;
        _topicId = topic.TopicId;
        var marks = new Watermarks[partitions];
        for (int p = 0; p < partitions; p++) marks[p] = await log.GetWatermarksAsync(stream, p, cancellationToken).ConfigureAwait(false);
        var c = StreamCheckpoint.Read(clean?.Txns, stream, _topicId, partitions);
        var r = StreamCheckpoint.Read(rejects?.Txns, stream, _topicId, partitions);
        bool accepted = c.Current || r.Current; // one table already moved to this incarnation: the other follows
        bool cleanMoved = Reconcile(c, CleanLocation, marks, accepted), rejectsMoved = Reconcile(r, RejectsLocation, marks, accepted);
        bool cleanRecord = cleanMoved || (c.Legacy && c.Key is not null), rejectsRecord = rejectsMoved || (r.Legacy && r.Key is not null);

        _cleanNext = new long[partitions];
        _rejectsNext = new long[partitions];
        var cleanStart = new List<DeltaTxn>();
        var rejectsStart = new List<DeltaTxn>();
        bool latest = options.From == StreamStart.Latest;
        var assigned = Assigned(partitions);
        var pending = new bool[partitions];
        for (int p = 0; p < partitions; p++)
        {
            long? cv = cleanMoved ? marks[p].Low : c.Offsets[p];
            long? rv = rejectsMoved ? marks[p].Low : r.Offsets[p];
            // A table without an offset for the partition: earliest = the log's start (reading records the other table
            // already holds is harmless, they are skipped for it); latest = the other table's offset (its start commit)
            // or, for neither, the log's end now, recorded in both tables before any micro-batch.
            long start = latest ? cv ?? rv ?? marks[p].High : marks[p].Low;
            bool owned = Owns(p); // a partition another worker owns is recorded by that worker
            // Assigned, but its lease ran out for now: a start it needs is recorded by a resume once the lease is back.
            pending[p] = assigned[p] && !owned && (cleanRecord || rejectsRecord || ((cv is null || rv is null) && latest));
            if (owned && (cleanRecord || (cv is null && latest))) cleanStart.Add(new DeltaTxn(StreamCheckpoint.AppId(stream, p, c.Key), cv ?? start));
            if (owned && (rejectsRecord || (rv is null && latest))) rejectsStart.Add(new DeltaTxn(StreamCheckpoint.AppId(stream, p, r.Key), rv ?? start));
            // Where a table first reads a partition from latest, said once for pinpipe verify: the records below were never meant for it.
            if (owned && cv is null && latest) cleanStart.Add(new DeltaTxn(StreamCheckpoint.StartAppId(stream, p, c.Key), start));
            if (owned && rv is null && latest) rejectsStart.Add(new DeltaTxn(StreamCheckpoint.StartAppId(stream, p, r.Key), start));
            _cleanNext[p] = cv ?? start;
            _rejectsNext[p] = rv ?? start;
        }
        _rejectsDone = (long[])_rejectsNext.Clone();
        _cleanKey = c.Key;
        _rejectsKey = r.Key;
        _reads = [.. assigned.Select((a, p) => a && !pending[p])];
        _startPending = pending;
        return (cleanStart, rejectsStart);
    }

    public override async Task ResumedAsync(CancellationToken cancellationToken)
    {
        _position = new long[_cleanNext.Length];
        Array.Fill(_position, -1);
        await CommitPositionAsync(force: true, cancellationToken).ConfigureAwait(false);
    }

    public override string Where =>
        $"{stream} (topic id {_topicId ?? "unknown"}) at offsets [{string.Join(", ", _cleanNext)}] (rejects [{string.Join(", ", _rejectsNext)}])";

    /// <summary>
    /// Checks a table's checkpoint against the stream: offsets of another incarnation (unless the other table already
    /// moved to this one) or past a partition's end throw, or with <c>--reset earliest</c> move the checkpoint to a new
    /// key. Returns true when the checkpoint moved (its offsets are then the stream's start).
    /// </summary>
    private bool Reconcile(StreamCheckpoint checkpoint, string location, Watermarks[] marks, bool accepted)
    {
        string? problem = null;
        if (checkpoint.ForeignKey is { } foreign)
        {
            if (accepted)
            {
                Logger.LogInformation("{Table}: {Location} holds offsets of an earlier incarnation of {Stream}; the other table already reads this one, so it starts at the stream's start too.", Table, location, stream);
                checkpoint.Reset(stream, _topicId);
                return true;
            }
            problem = $"Stream '{stream}' was deleted and created again: Delta table {location} holds offsets of its earlier incarnation (topic id {StreamCheckpoint.BaseOf(foreign)}), not of this one (topic id {_topicId}); reading on would skip this incarnation's records below those offsets.";
        }
        for (int p = 0; problem is null && p < marks.Length; p++)
        {
            if (checkpoint.Offsets[p] is { } offset && offset > marks[p].High)
                problem = $"Stream '{stream}' is behind Delta table {location}: partition {p} ends at offset {marks[p].High}, but the table has read it up to offset {offset} (the stream was truncated or its log replaced); reading on would skip the records the stream takes at offsets {marks[p].High} to {offset - 1}.";
        }
        if (problem is null) return false;
        if (options.Reset != "earliest")
            throw new LogException(LogErrorCode.CheckpointMismatch,
                $"{problem} Nothing was read. To read the stream from its start, deliberately, run the job once with --reset earliest (Stream:Reset); rows already in the tables stay (an ind already there counts as a duplicate).");
        Logger.LogWarning("{Table}: {Problem} Reset to the stream's start (--reset earliest).", Table, problem);
        checkpoint.Reset(stream, _topicId);
        return true;
    }

    /// <summary>Throws when the stream is gone or is another incarnation than the one the job resumed.</summary>
    public override async Task CheckAsync(CancellationToken cancellationToken)
    {
        var now = await log.DescribeTopicAsync(stream, cancellationToken).ConfigureAwait(false) ?? throw Deleted();
        if (now.TopicId != _topicId)
            throw new LogException(LogErrorCode.CheckpointMismatch,
                $"Stream '{stream}' was deleted and created again while the job read it (topic id {_topicId} → {now.TopicId}); nothing of the new incarnation was committed. Run the job again with --reset earliest (Stream:Reset) to read the new incarnation from its start, deliberately.");
    }

    private LogException Deleted() => new(LogErrorCode.CheckpointMismatch,
        $"Stream '{stream}' was deleted while the job read it; the tables keep what was committed before. Once it exists again, run the job with --reset earliest (Stream:Reset) to read the new incarnation from its start.");

    public override Exception? Gone(Exception failure) => failure is LogException { Code: LogErrorCode.UnknownTopic } ? Deleted() : null;

    /// <summary>
    /// Commits each partition's position (what both tables hold) to the log as the group <see cref="StreamOptions.GroupId"/>,
    /// when it moved and at most once per <see cref="PositionInterval"/> unless <paramref name="force"/>d. Advisory: the
    /// Delta txns are the checkpoint; the group lets the log refuse to delete records the job has not read. A failure is logged.
    /// </summary>
    private async Task CommitPositionAsync(bool force, CancellationToken cancellationToken)
    {
        if (_position.Length == 0 || (!force && time.GetElapsedTime(_positionAt) < PositionInterval)) return;
        var offsets = new List<TopicPartitionOffset>();
        for (int p = 0; p < _position.Length; p++)
        {
            long at = Math.Min(_cleanNext[p], _rejectsNext[p]);
            if (at != _position[p] && Owns(p)) offsets.Add(new TopicPartitionOffset(stream, p, at));
        }
        if (offsets.Count == 0) return;
        try
        {
            if (Member is not null) await Member.CommitAsync(offsets, cancellationToken).ConfigureAwait(false);
            else await log.CommitOffsetsAsync(options.GroupId, offsets, cancellationToken).ConfigureAwait(false);
            foreach (var o in offsets) _position[o.Partition] = o.Offset;
            _positionAt = time.GetTimestamp();
        }
        catch (Exception ex) when (ex is LogException or ObjectDisposedException)
        {
            Logger.LogWarning("{Table}: could not commit the position of {Stream} to the log as group {Group}: {Message}", Table, stream, options.GroupId, ex.Message);
        }
    }

    public override Task StopAsync() => CommitPositionAsync(force: true, CancellationToken.None);

    public override void Begin()
    {
        _next = new long[_cleanNext.Length];
        for (int p = 0; p < _next.Length; p++) _next[p] = Math.Min(_cleanNext[p], _rejectsDone[p]);
    }

    /// <summary>Reads a chunk from each partition this worker reads, from the micro-batch's position on.</summary>
    public override async Task<int> ReadAsync(int max, RawRows rows, CancellationToken cancellationToken)
    {
        int got = 0;
        _moreReady = false;
        for (int p = 0; p < _next.Length && rows.Count < max; p++)
        {
            if (!Reads(p)) continue;
            int room = Math.Min(ReadChunk, max - rows.Count);
            var read = await log.ReadAsync(stream, p, _next[p], room, cancellationToken).ConfigureAwait(false);
            if (read.Count == 0) continue;
            _moreReady |= read.Count == room;
            if (read[0].Offset > _next[p])
                Logger.LogWarning("{Table}: offsets {From}..{To} of {Stream} partition {Partition} are not in the log (removed by retention before they were read, or skipped by the log); the tables do not hold them.",
                    Table, _next[p], read[0].Offset - 1, stream, p);
            foreach (var r in read)
                rows.Add(string.Create(CultureInfo.InvariantCulture, $"{stream}/{p}/{r.Offset}"), r.Value, r.Value is null, r.Offset >= _cleanNext[p], r.Offset >= _rejectsDone[p]);
            _next[p] = read[^1].Offset + 1;
            got += read.Count;
        }
        return got;
    }

    /// <summary>A partition's last read filled its chunk: the log may hold more of it.</summary>
    public override bool MoreReady => _moreReady;

    public override async Task<bool> IdleAsync(CancellationToken cancellationToken)
    {
        if (MustResume) return false;
        await CheckAsync(cancellationToken).ConfigureAwait(false);
        await UpdateLagAsync(cancellationToken).ConfigureAwait(false);
        await CommitPositionAsync(force: false, cancellationToken).ConfigureAwait(false);
        return true;
    }

    /// <summary>Waits for a record in a partition this worker owns, a new assignment, or the timeout.</summary>
    public override async Task WaitAsync(TimeSpan timeout, CancellationToken cancellationToken)
    {
        var owned = Enumerable.Range(0, _next.Length).Where(Reads).ToList();
        if (owned.Count == 1 && Member is null)
        {
            await log.WaitForDataAsync(stream, owned[0], _next[owned[0]], timeout, cancellationToken).ConfigureAwait(false);
            return;
        }
        using var any = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        var waits = owned.Select(p => log.WaitForDataAsync(stream, p, _next[p], timeout, any.Token).AsTask())
            .Append(Member is null ? Task.Delay(timeout, time, any.Token) : Member.WaitForChangeAsync(_generation, any.Token).WaitAsync(timeout, time, any.Token))
            .ToArray();
        await Task.WhenAny(waits).ConfigureAwait(false);
        await any.CancelAsync().ConfigureAwait(false);
        try { await Task.WhenAll(waits).ConfigureAwait(false); }
        catch (OperationCanceledException) { }
        catch (TimeoutException) { }
        cancellationToken.ThrowIfCancellationRequested();
    }

    private async Task UpdateLagAsync(CancellationToken cancellationToken)
    {
        long lag = 0;
        for (int p = 0; p < _next.Length; p++)
        {
            if (!Owns(p)) continue;
            var w = await log.GetWatermarksAsync(stream, p, cancellationToken).ConfigureAwait(false);
            long behind = w.Lag(_next[p]);
            Metrics.Lag(p).Set(behind);
            lag += behind;
        }
        SetLag(lag);
    }

    /// <summary>A txn per partition whose end moved past the table's offset.</summary>
    public override IReadOnlyList<DeltaTxn> Txns(bool rejects)
    {
        long[] committed = rejects ? _rejectsNext : _cleanNext;
        string? key = rejects ? _rejectsKey : _cleanKey;
        var txns = new List<DeltaTxn>();
        for (int p = 0; p < _next.Length; p++)
            if (_next[p] > committed[p]) txns.Add(new DeltaTxn(StreamCheckpoint.AppId(stream, p, key), _next[p]));
        return txns;
    }

    /// <summary>A worker commits only for the partitions it owns; one whose ownership may have run out drops the micro-batch (the new owner reads it again).</summary>
    public override string? NotOwned(IEnumerable<DeltaTxn> txns) =>
        txns.Select(PartitionOf).Distinct().FirstOrDefault(p => !Owns(p), -1) is int lost and >= 0
            ? string.Create(CultureInfo.InvariantCulture, $"{stream} partition {lost}")
            : null;

    public override void Committed(bool rejects)
    {
        long[] committed = rejects ? _rejectsNext : _cleanNext;
        foreach (var t in Txns(rejects))
        {
            committed[PartitionOf(t)] = t.Version;
            if (rejects) _rejectsDone[PartitionOf(t)] = t.Version;
        }
        if (rejects) Held = null;
    }

    /// <summary>The next micro-batch starts after this one for the reject table too.</summary>
    protected override HeldRejects HoldRejects()
    {
        var txns = Txns(rejects: true);
        foreach (var t in txns) _rejectsDone[PartitionOf(t)] = t.Version;
        long[] committed = _rejectsNext;
        return new HeldRejects(txns, () =>
        {
            foreach (var t in txns) committed[PartitionOf(t)] = Math.Max(committed[PartitionOf(t)], t.Version);
        });
    }

    public override async Task CommittedBatchAsync(CancellationToken cancellationToken)
    {
        await UpdateLagAsync(cancellationToken).ConfigureAwait(false);
        await CommitPositionAsync(force: false, cancellationToken).ConfigureAwait(false);
    }

    private static int PartitionOf(DeltaTxn txn) => int.Parse(txn.AppId.AsSpan(txn.AppId.LastIndexOf(':') + 1), CultureInfo.InvariantCulture);
}
