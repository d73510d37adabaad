using Microsoft.Extensions.Logging;
using PinPipe.Lake.Delta;
using PinPipe.Lake;
using PinPipe.Transform;

namespace PinPipe.Streaming;

/// <summary>
/// What one <see cref="StreamTable"/> reads and where it is: the log's stream partitions and offsets
/// (<see cref="LogStreamInput"/>) or a Kinesis stream's shards and sequence numbers (<see cref="KinesisStreamInput"/>).
/// The position is each table's Delta <c>txn</c>s, committed with the rows; the input reads it back at a resume, reads
/// the micro-batch's records from there and gives the txns that move it.
/// </summary>
/// <remarks>One micro-batch at a time: the table calls <see cref="Begin"/>, <see cref="ReadAsync"/> until the batch
/// closes, then <see cref="Txns"/> and <see cref="Committed"/> for each table committed. Not thread-safe.</remarks>
internal abstract class StreamInput
{
    private long _lag;

    /// <summary>The stream read.</summary>
    public abstract string Stream { get; }

    /// <summary>The table's name (for log lines), its metrics and logger: set once by the table.</summary>
    protected string Table { get; private set; } = "";

    /// <summary>The table's metric children.</summary>
    protected StreamTableMetrics Metrics { get; private set; } = null!;

    /// <summary>The job's logger.</summary>
    protected ILogger Logger { get; private set; } = null!;

    /// <summary>Where the clean table is (its location, as problems name it).</summary>
    protected string CleanLocation { get; private set; } = "";

    /// <summary>Where the reject table is.</summary>
    protected string RejectsLocation { get; private set; } = "";

    internal void Bind(string table, string cleanLocation, string rejectsLocation, StreamTableMetrics metrics, ILogger logger)
    {
        Table = table;
        CleanLocation = cleanLocation;
        RejectsLocation = rejectsLocation;
        Metrics = metrics;
        Logger = logger;
    }

    /// <summary>Records behind the end of what this worker reads, at the last look (0 where the transport does not say).</summary>
    public long Lag => Interlocked.Read(ref _lag);

    protected void SetLag(long lag) => Interlocked.Exchange(ref _lag, lag);

    /// <summary>Waits until the stream exists.</summary>
    public abstract Task OpenAsync(CancellationToken cancellationToken);

    /// <summary>Whether the table must resume before its next micro-batch (what this worker reads changed).</summary>
    public virtual bool MustResume => false;

    /// <summary>
    /// Reads each table's position from its txns and checks it against the stream. Returns the txns each table records
    /// before any micro-batch (a new checkpoint: a first start at the stream's end, a reset), or empty lists.
    /// </summary>
    /// <param name="clean">The clean table as loaded; null when it does not exist yet.</param>
    /// <param name="rejects">The reject table as loaded; null when it does not exist yet.</param>
    /// <param name="afterFailure">The table resumes after a failure: the stream is looked up again.</param>
    /// <param name="cancellationToken">Cancels the reads.</param>
    public abstract Task<(IReadOnlyList<DeltaTxn> Clean, IReadOnlyList<DeltaTxn> Rejects)> ResumeAsync(DeltaSnapshot? clean, DeltaSnapshot? rejects, bool afterFailure,
        CancellationToken cancellationToken);

    /// <summary>After a resume (and its start commits): anything the transport wants to know of the position.</summary>
    public virtual Task ResumedAsync(CancellationToken cancellationToken) => Task.CompletedTask;

    /// <summary>Where the tables resume, for the resume log line.</summary>
    public abstract string Where { get; }

    /// <summary>Starts a micro-batch at the tables' positions.</summary>
    public abstract void Begin();

    /// <summary>
    /// Reads the micro-batch's next records into <paramref name="rows"/>, one pass over what this worker reads, until
    /// <paramref name="rows"/> holds <paramref name="max"/>. Returns how many were read.
    /// </summary>
    public abstract Task<int> ReadAsync(int max, RawRows rows, CancellationToken cancellationToken);

    /// <summary>The last <see cref="ReadAsync"/> stopped at its read size: more records can be read at once, without a wait.</summary>
    public virtual bool MoreReady => false;

    /// <summary>
    /// Nothing came and the micro-batch is empty: the housekeeping of an idle table (checks, lag, the position). False
    /// when the table must resume first (what this worker reads changed).
    /// </summary>
    public abstract Task<bool> IdleAsync(CancellationToken cancellationToken);

    /// <summary>Waits for a record, a change of what this worker reads, or <paramref name="timeout"/>.</summary>
    public abstract Task WaitAsync(TimeSpan timeout, CancellationToken cancellationToken);

    /// <summary>Before a micro-batch is cleaned: throws when the stream is gone or is not the one the tables were resumed for.</summary>
    public abstract Task CheckAsync(CancellationToken cancellationToken);

    /// <summary>The txns that move a table's position to the micro-batch's end (none for a position that did not move).</summary>
    public abstract IReadOnlyList<DeltaTxn> Txns(bool rejects);

    /// <summary>What of the micro-batch this worker may no longer commit (then it is dropped and read again by its owner), or null.</summary>
    public virtual string? NotOwned(IEnumerable<DeltaTxn> txns) => null;

    /// <summary>The table's commit of <see cref="Txns"/> landed: its position is the micro-batch's end.</summary>
    public abstract void Committed(bool rejects);

    /// <summary>
    /// The reject table's commit of <see cref="Txns"/> is held back (the micro-batch has no rejects): its position stays
    /// where it is, but the next micro-batch goes on after this one for it too, and <see cref="Txns"/> then moves the
    /// position over both (<see cref="Committed"/> forgets the held one). A resume goes back to the position the table holds.
    /// </summary>
    public void RejectsHeld() => Held = HoldRejects();

    /// <summary>Remembers the txns of <see cref="Txns"/> for the reject table now and how to move its position to them once committed.</summary>
    protected abstract HeldRejects HoldRejects();

    /// <summary>The reject table's held-back position (<see cref="RejectsHeld"/>), or null.</summary>
    protected HeldRejects? Held { get; set; }

    /// <summary>Returns the reject table's held-back position and forgets it (a failed commit of it is not tried again: the records are read again from the table's position instead).</summary>
    public HeldRejects? TakeHeldRejects()
    {
        var held = Held;
        Held = null;
        return held;
    }

    /// <summary>After a micro-batch was committed: lag and the position's side effects.</summary>
    public virtual Task CommittedBatchAsync(CancellationToken cancellationToken) => Task.CompletedTask;

    /// <summary>The job stops (cancelled): the last word of the position.</summary>
    public virtual Task StopAsync() => Task.CompletedTask;

    /// <summary>The error to stop the job with for a failure of the transport that means the stream is gone, or null.</summary>
    public virtual Exception? Gone(Exception failure) => null;
}

/// <summary>The reject table's position held back at the end of a micro-batch without rejects: the txns that record it, and what moves the input's position once they are committed.</summary>
internal sealed record HeldRejects(IReadOnlyList<DeltaTxn> Txns, Action Committed);

/// <summary>The micro-batch's records on their way into the cleaner's tables (<see cref="MicroBatchRows"/>): sequence, origin, the value, and which tables it is for.</summary>
internal sealed class RawRows(MicroBatchRows rows)
{
    /// <summary>Records added.</summary>
    public int Count => rows.Count;

    /// <summary>Some record is for one table only (a crash between the two commits left one table ahead).</summary>
    public bool Split { get; private set; }

    /// <summary>Adds a record; bytes that are not UTF-8 become the envelope the cleaning rules reject as invalid_utf8 (never U+FFFD text).</summary>
    public void Add(string origin, ReadOnlySpan<byte> value, bool isNull, bool forClean, bool forRejects)
    {
        Split |= !(forClean && forRejects);
        rows.Add(origin, value, isNull, forClean, forRejects);
    }
}
