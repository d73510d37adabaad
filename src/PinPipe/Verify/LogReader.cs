using PinPipe.Log;

namespace PinPipe.Verify;

/// <summary>Reads one partition of the log forward in chunks, for comparing its records with what a stage made of them.</summary>
internal sealed class LogReader(ILog log, string topic, int partition, int chunk)
{
    private IReadOnlyList<ConsumedRecord> _buffer = [];

    /// <summary>The first record at or after <paramref name="offset"/>, or null at the end of the partition.</summary>
    public async ValueTask<ConsumedRecord?> AtOrAfterAsync(long offset, CancellationToken cancellationToken)
    {
        if (_buffer.Count > 0 && offset >= _buffer[0].Offset && offset <= _buffer[^1].Offset)
        {
            // Within what was read: the first record at or after it (an object may go back over offsets another holds).
            int lo = 0, hi = _buffer.Count - 1;
            while (lo < hi)
            {
                int mid = (lo + hi) >> 1;
                if (_buffer[mid].Offset < offset) lo = mid + 1;
                else hi = mid;
            }
            return _buffer[lo];
        }
        _buffer = await log.ReadAsync(topic, partition, offset, chunk, cancellationToken).ConfigureAwait(false);
        return _buffer.Count == 0 ? null : _buffer[0];
    }

    /// <summary>The first record at or after <paramref name="offset"/> with a value (records without one are written to no object), or null.</summary>
    public async ValueTask<ConsumedRecord?> NextWithValueAsync(long offset, CancellationToken cancellationToken)
    {
        while (await AtOrAfterAsync(offset, cancellationToken).ConfigureAwait(false) is { } r)
        {
            if (r.Value is not null) return r;
            offset = r.Offset + 1;
        }
        return null;
    }

    /// <summary>The offsets in [<paramref name="from"/>, <paramref name="to"/>) that hold a record with a value: the first and how many.</summary>
    public async ValueTask<(long First, long Count)> ValuesInAsync(long from, long to, CancellationToken cancellationToken)
    {
        long first = -1, count = 0;
        long at = from;
        while (at < to && await AtOrAfterAsync(at, cancellationToken).ConfigureAwait(false) is { } r && r.Offset < to)
        {
            if (r.Value is not null)
            {
                if (first < 0) first = r.Offset;
                count++;
            }
            at = r.Offset + 1;
        }
        return (first, count);
    }
}
