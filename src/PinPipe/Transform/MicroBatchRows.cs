using System.Text.Unicode;
using DuckDB.NET.Data;
using PinPipe.Lake;

namespace PinPipe.Transform;

/// <summary>
/// The records of one micro-batch on their way into a <see cref="MicroBatchCleaner"/>'s tables, from
/// <see cref="MicroBatchCleaner.OpenRows"/>: with our parser (<see cref="RecordParser.PinPipe"/>) a record whose fields
/// <see cref="FieldReader"/> reads exactly goes in as those fields' texts, as it arrives, and only the others go in as
/// their JSON text for DuckDB's JSON functions; the cleaning then has no JSON left to parse for most records. Dispose it
/// (its appenders flush) before <see cref="MicroBatchCleaner.CleanAsync"/>.
/// </summary>
/// <remarks>
/// The bytes of the records read as fields are kept here until the next micro-batch: the few of them that the rules
/// reject get their text from here (a reject keeps its raw text), as the batch job reads back the text of its rejects
/// from their objects. One thread at a time.
/// </remarks>
public sealed class MicroBatchRows : IDisposable
{
    private readonly DuckDBAppender _lines;
    private readonly DuckDBAppender? _fields;
    private readonly FieldReader? _parser;
    private readonly int _columns;
    private readonly KeptText _kept;

    internal MicroBatchRows(DuckDBAppender lines, DuckDBAppender? fields, FieldReader? parser, int columns, KeptText kept)
    {
        _lines = lines;
        _fields = fields;
        _parser = parser;
        _columns = columns;
        _kept = kept;
    }

    /// <summary>Records added.</summary>
    public int Count { get; private set; }

    /// <summary>Records added as their fields (read by our parser); the rest went in as JSON text.</summary>
    public int Parsed => _kept.Count;

    /// <summary>Records added as JSON text, to the raw table (counted before the append: a failed one counts too).</summary>
    public int Texts { get; private set; }

    /// <summary>
    /// Adds a record (its sequence is <see cref="Count"/> before the call): its value's bytes, which need not be UTF-8 (bytes
    /// that are not become the envelope the rules reject as invalid_utf8, never U+FFFD text); a null value is an empty line.
    /// </summary>
    public void Add(string origin, ReadOnlySpan<byte> value, bool isNull, bool forClean, bool forRejects)
    {
        long seq = Count++;
        if (!isNull && _parser is not null && Utf8.IsValid(value) && _parser.TryRead(value))
        {
            var row = _fields!.CreateRow().AppendValue(seq).AppendValue(origin).AppendValue(forClean).AppendValue(forRejects);
            _parser.AppendFields(row, value, _columns);
            row.EndRow();
            _kept.Add(seq, value);
            return;
        }

        string line = isNull ? "" : RecordLine.ToText(value);
        Texts++;
        _lines.CreateRow().AppendValue(seq).AppendValue(origin).AppendValue(line).AppendValue(forClean).AppendValue(forRejects).EndRow();
    }

    /// <summary>Flushes the appenders: the records are in the tables.</summary>
    public void Dispose()
    {
        _fields?.Dispose();
        _lines.Dispose();
    }
}

/// <summary>
/// The bytes of a micro-batch's records that our parser read (<see cref="MicroBatchRows"/>), by sequence, until the next
/// micro-batch: the text of those the rules reject. They are copied into pages of <see cref="PageBytes"/> kept from one
/// micro-batch to the next (up to <see cref="KeepPages"/>): small arrays the GC moves and frees as any other, where one
/// growing buffer would be reallocated on the large object heap, which only a full collection frees.
/// </summary>
internal sealed class KeptText
{
    /// <summary>A page's size: below the large object heap's 85,000 bytes. A record larger than a page gets an array of its own.</summary>
    internal const int PageBytes = 32 * 1024;

    /// <summary>The most pages kept for the next micro-batch (16 MiB; one of 20,000 pins takes about 12 MB).</summary>
    internal const int KeepPages = 512;

    private readonly List<byte[]> _pages = [];
    private int _page = -1, _used = PageBytes; // the page being filled and the bytes used in it
    private readonly List<(long Seq, byte[] Bytes, int Start, int Length)> _records = [];

    /// <summary>Records kept.</summary>
    public int Count => _records.Count;

    /// <summary>Pages held (for tests).</summary>
    internal int Pages => _pages.Count;

    /// <summary>Forgets the micro-batch's records, and the pages beyond <see cref="KeepPages"/>.</summary>
    public void Clear()
    {
        _records.Clear();
        _page = -1;
        _used = PageBytes;
        if (_pages.Count > KeepPages) _pages.RemoveRange(KeepPages, _pages.Count - KeepPages);
    }

    /// <summary>Keeps <paramref name="value"/> as the text of record <paramref name="seq"/> (sequences ascend).</summary>
    public void Add(long seq, ReadOnlySpan<byte> value)
    {
        if (value.Length > PageBytes)
        {
            _records.Add((seq, value.ToArray(), 0, value.Length));
            return;
        }
        if (PageBytes - _used < value.Length)
        {
            if (++_page == _pages.Count) _pages.Add(new byte[PageBytes]);
            _used = 0;
        }
        byte[] page = _pages[_page];
        value.CopyTo(page.AsSpan(_used));
        _records.Add((seq, page, _used, value.Length));
        _used += value.Length;
    }

    /// <summary>The text of the kept records among <paramref name="seqs"/> (ascending), as the lines table would hold it (they are valid UTF-8).</summary>
    public IEnumerable<(long Seq, string Line)> LinesOf(IReadOnlyList<long> seqs)
    {
        int i = 0;
        foreach (long seq in seqs)
        {
            // Both lists ascend: one pass.
            while (i < _records.Count && _records[i].Seq < seq) i++;
            if (i == _records.Count) yield break;
            if (_records[i].Seq != seq) continue;
            var (_, bytes, start, length) = _records[i];
            yield return (seq, System.Text.Encoding.UTF8.GetString(bytes, start, length));
        }
    }
}
