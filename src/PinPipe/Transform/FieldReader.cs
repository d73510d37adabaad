using System.Globalization;
using System.Text;
using System.Text.Json;

namespace PinPipe.Transform;

/// <summary>
/// Reads the fields a table's rules take (<see cref="CleaningRules"/>: the key, the fields, the fields read only to be
/// counted) straight from a record line's UTF-8 bytes, giving each the text DuckDB's <c>from_json(line, {field: VARCHAR})</c>
/// gives it, so the rules' SQL runs on the same values whichever read them. It reads only what it can read exactly:
/// a flat JSON object (scalar values) with each key once, no escaped key, no envelope, strings without <c>\u0000</c>,
/// numbers that are integers of at most 18 digits (or, in a double field, finite numbers). Any other line is left to
/// DuckDB's JSON functions (<see cref="TryRead"/> returns false), which decide on it as before; most lines are simple.
/// </summary>
/// <remarks>One instance per thread: it reuses its buffers.</remarks>
internal sealed class FieldReader
{
    private static readonly JsonReaderOptions ReaderOptions = new() { MaxDepth = 2 };
    private static ReadOnlySpan<byte> Envelope => "pinpipe_binary_base64"u8;

    private readonly byte[][] _names;
    private readonly bool[] _double;
    private readonly int[] _start;
    private readonly int[] _length;
    private byte[] _scratch = new byte[4096];
    private int _used;

    /// <param name="kind">The table whose rules say which fields to read.</param>
    public FieldReader(RecordKind kind)
    {
        var rules = CleaningRules.Rules(kind);
        var fields = new List<(string Name, bool Double)> { (rules.Key.Name, false) };
        fields.AddRange(rules.Fields.Select(f => (f.Name, f.Type == CleaningRules.FieldType.Double)));
        fields.AddRange(rules.Unread.Select(n => (n, false)));
        Names = fields.Select(f => f.Name).ToArray();
        _names = Names.Select(n => Encoding.UTF8.GetBytes(n)).ToArray();
        _double = fields.Select(f => f.Double).ToArray();
        _start = new int[_names.Length];
        _length = new int[_names.Length];
    }

    /// <summary>The fields read, in order: the key, the rules' fields, then those read only to be counted.</summary>
    public IReadOnlyList<string> Names { get; }

    /// <summary>
    /// Reads <paramref name="line"/> (valid UTF-8); true when it is a line this reader reads exactly, its fields then
    /// available from <see cref="Value"/> until the next call; false leaves the line to DuckDB's JSON functions.
    /// </summary>
    public bool TryRead(ReadOnlySpan<byte> line)
    {
        Array.Fill(_length, -1);
        _used = 0;
        if (line.Length < 2 || line[0] != (byte)'{' || line[^1] != (byte)'}') return false;
        ulong seen = 0;
        int unknownNames = 0;
        Span<(int Start, int Length)> unknown = stackalloc (int, int)[16];
        var reader = new Utf8JsonReader(line, ReaderOptions);
        try
        {
            if (!reader.Read() || reader.TokenType != JsonTokenType.StartObject) return false;
            while (reader.Read())
            {
                if (reader.TokenType == JsonTokenType.EndObject) break;
                if (reader.TokenType != JsonTokenType.PropertyName || reader.ValueIsEscaped) return false;
                ReadOnlySpan<byte> name = reader.ValueSpan;
                int field = IndexOf(name);
                if (field >= 0)
                {
                    if ((seen & (1UL << field)) != 0) return false; // a key given twice: DuckDB's path takes the last value
                    seen |= 1UL << field;
                }
                else
                {
                    if (name.SequenceEqual(Envelope)) return false;
                    int at = (int)reader.TokenStartIndex + 1;
                    for (int u = 0; u < unknownNames; u++)
                        if (line.Slice(unknown[u].Start, unknown[u].Length).SequenceEqual(name)) return false;
                    if (unknownNames == unknown.Length) return false;
                    unknown[unknownNames++] = (at, name.Length);
                }

                if (!reader.Read()) return false;
                switch (reader.TokenType)
                {
                    case JsonTokenType.Null:
                        break;
                    case JsonTokenType.True or JsonTokenType.False:
                        if (field >= 0) Keep(field, (int)reader.TokenStartIndex, reader.ValueSpan.Length, fromLine: true);
                        break;
                    case JsonTokenType.Number:
                        if (field >= 0 && !KeepNumber(field, reader.ValueSpan, (int)reader.TokenStartIndex)) return false;
                        break;
                    case JsonTokenType.String:
                        if (field >= 0)
                        {
                            if (!KeepString(field, ref reader)) return false;
                        }
                        else if (reader.ValueIsEscaped)
                        {
                            Unescape(ref reader); // only to validate its escapes
                        }
                        break;
                    default:
                        return false; // an array or object: DuckDB's path gives its JSON text or rejects it
                }
            }
            // Nothing may follow the object.
            return reader.TokenType == JsonTokenType.EndObject && reader.BytesConsumed == line.Length;
        }
        catch (JsonException)
        {
            return false;
        }
        catch (InvalidOperationException)
        {
            return false; // an escape that is not valid UTF-16 (a lone surrogate)
        }

        void Keep(int field, int start, int length, bool fromLine)
        {
            _start[field] = fromLine ? start : -1 - start;
            _length[field] = length;
        }

        bool KeepNumber(int field, ReadOnlySpan<byte> number, int start)
        {
            // An integer as written (from_json gives it back as written); another number only in a double field, where
            // its value is all the rules take from it.
            bool integer = number.IndexOfAny((byte)'.', (byte)'e', (byte)'E') < 0;
            if (integer)
            {
                if (number.Length > 18 || number.SequenceEqual("-0"u8)) return false;
            }
            else if (!_double[field] || !double.TryParse(number, NumberStyles.Float, CultureInfo.InvariantCulture, out double value) || !double.IsFinite(value))
            {
                return false;
            }
            Keep(field, start, number.Length, fromLine: true);
            return true;
        }

        bool KeepString(int field, ref Utf8JsonReader reader)
        {
            if (!reader.ValueIsEscaped)
            {
                Keep(field, (int)reader.TokenStartIndex + 1, reader.ValueSpan.Length, fromLine: true);
                return true;
            }
            int written = Unescape(ref reader);
            if (_scratch.AsSpan(_used, written).Contains((byte)0)) return false;
            Keep(field, _used, written, fromLine: false);
            _used += written;
            return true;
        }
    }

    /// <summary>
    /// Unescapes the current string into the scratch buffer past what is kept, returning its length; throws
    /// <see cref="InvalidOperationException"/> for an escape that is not valid UTF-16 (a lone surrogate), which makes the
    /// whole line invalid JSON to DuckDB, in any field.
    /// </summary>
    private int Unescape(ref Utf8JsonReader reader)
    {
        int room = reader.ValueSpan.Length;
        if (_scratch.Length - _used < room) Array.Resize(ref _scratch, Math.Max(_scratch.Length * 2, _used + room));
        return reader.CopyString(_scratch.AsSpan(_used));
    }

    /// <summary>Field <paramref name="index"/>'s text (of <paramref name="line"/>, the line last read), or false when it is null or missing.</summary>
    public bool Value(int index, ReadOnlySpan<byte> line, out ReadOnlySpan<byte> value)
    {
        int length = _length[index];
        if (length < 0)
        {
            value = default;
            return false;
        }
        int start = _start[index];
        value = start >= 0 ? line.Slice(start, length) : _scratch.AsSpan(-1 - start, length);
        return true;
    }

    private int IndexOf(ReadOnlySpan<byte> name)
    {
        for (int i = 0; i < _names.Length; i++)
            if (name.SequenceEqual(_names[i])) return i;
        return -1;
    }

    /// <summary>Appends the last line read's first <paramref name="columns"/> fields to <paramref name="row"/>: each field's text, or null when absent.</summary>
    public void AppendFields(DuckDB.NET.Data.IDuckDBAppenderRow row, ReadOnlySpan<byte> line, int columns)
    {
        for (int f = 0; f < columns; f++)
        {
            if (Value(f, line, out var value)) row.AppendValue(System.Runtime.InteropServices.MemoryMarshal.CreateSpan(ref System.Runtime.InteropServices.MemoryMarshal.GetReference(value), value.Length));
            else row.AppendNullValue();
        }
    }
}
