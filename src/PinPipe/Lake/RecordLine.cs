using System.Buffers;
using System.Buffers.Text;
using System.Text;
using System.Text.Unicode;

namespace PinPipe.Lake;

/// <summary>
/// How a record's value becomes exactly one line of valid JSON in a raw object (the sink writes it, the batch
/// job's loader and the stream job read it): a value that is valid UTF-8 JSON on one line is written as it is;
/// valid JSON spanning lines is written compact (whitespace outside strings removed, every other byte kept);
/// anything else (invalid UTF-8, not JSON, empty) is written as the envelope
/// <c>{"pinpipe_binary_base64":"&lt;the value's bytes in base64&gt;"}</c>, which the cleaning rules turn into a
/// reject (<c>invalid_utf8</c> or <c>not_json</c>). So a value can never become two records or an invalid object.
/// </summary>
public static class RecordLine
{
    /// <summary>The envelope's only field: the value's bytes, base64 (RFC 4648, with padding).</summary>
    public const string EnvelopeField = "pinpipe_binary_base64";

    private static ReadOnlySpan<byte> EnvelopeHead => "{\"pinpipe_binary_base64\":\""u8;
    private static ReadOnlySpan<byte> EnvelopeTail => "\"}"u8;

    /// <summary>How <see cref="Classify"/> found a value.</summary>
    public enum Shape
    {
        /// <summary>Valid UTF-8 JSON on one line: written as it is.</summary>
        JsonLine,
        /// <summary>Valid UTF-8 JSON holding a line break outside its strings: written compact.</summary>
        JsonLines,
        /// <summary>Anything else: written as the envelope.</summary>
        Binary,
    }

    /// <summary>Whether <paramref name="value"/> is one JSON line, JSON over several lines, or neither.</summary>
    public static Shape Classify(ReadOnlySpan<byte> value)
    {
        if (!Utf8.IsValid(value) || !IsJson(value)) return Shape.Binary;
        return value.IndexOfAny((byte)'\n', (byte)'\r') < 0 ? Shape.JsonLine : Shape.JsonLines;
    }

    /// <summary>The number of bytes <see cref="Write"/> writes for a value of <paramref name="shape"/> (newline included).</summary>
    private static int LineLength(ReadOnlySpan<byte> value, Shape shape) => shape switch
    {
        Shape.JsonLine => value.Length + 1,
        Shape.JsonLines => value.Length + 1, // at most: compacting only removes bytes
        _ => EnvelopeHead.Length + Base64.GetMaxEncodedToUtf8Length(value.Length) + EnvelopeTail.Length + 1,
    };

    /// <summary>Writes <paramref name="value"/> as one line (ending in <c>\n</c>) into <paramref name="into"/> and returns the bytes written.</summary>
    /// <param name="into">Room for the line; <see cref="MaxLineLength"/> bytes always suffice.</param>
    public static int Write(ReadOnlySpan<byte> value, Span<byte> into)
    {
        Shape shape = Classify(value);
        int n;
        switch (shape)
        {
            case Shape.JsonLine:
                value.CopyTo(into);
                n = value.Length;
                break;
            case Shape.JsonLines:
                n = Compact(value, into);
                break;
            default:
                EnvelopeHead.CopyTo(into);
                n = EnvelopeHead.Length;
                Base64.EncodeToUtf8(value, into[n..], out _, out int written);
                n += written;
                EnvelopeTail.CopyTo(into[n..]);
                n += EnvelopeTail.Length;
                break;
        }
        into[n] = (byte)'\n';
        return n + 1;
    }

    /// <summary>The most bytes <see cref="Write"/> may write for <paramref name="value"/>.</summary>
    public static int MaxLineLength(ReadOnlySpan<byte> value) =>
        Math.Max(value.Length + 1, LineLength(value, Shape.Binary));

    /// <summary>The line of <paramref name="value"/> without its newline, as a new array.</summary>
    public static byte[] ToLine(ReadOnlySpan<byte> value)
    {
        byte[] buffer = ArrayPool<byte>.Shared.Rent(MaxLineLength(value));
        try
        {
            int n = Write(value, buffer);
            return buffer.AsSpan(0, n - 1).ToArray();
        }
        finally
        {
            ArrayPool<byte>.Shared.Return(buffer);
        }
    }

    /// <summary>
    /// The text a reader (batch loader, stream job) cleans for a value or line that may not be UTF-8: the text
    /// itself when it is valid UTF-8, else the envelope of its bytes.
    /// </summary>
    public static string ToText(ReadOnlySpan<byte> value) =>
        Utf8.IsValid(value) ? Encoding.UTF8.GetString(value) : Envelope(value);

    /// <summary>The envelope of <paramref name="value"/>'s bytes, as text.</summary>
    public static string Envelope(ReadOnlySpan<byte> value) =>
        $"{{\"{EnvelopeField}\":\"{Convert.ToBase64String(value)}\"}}";

    /// <summary>The offset of the first byte of <paramref name="text"/> that is not valid UTF-8, or -1 when all of it is.</summary>
    public static int InvalidUtf8At(ReadOnlySpan<byte> text)
    {
        if (Utf8.IsValid(text)) return -1;
        Utf8.ToUtf16(text, new char[text.Length], out int read, out _, replaceInvalidSequences: false);
        return read;
    }

    /// <summary>
    /// True when <paramref name="value"/> is exactly one JSON value (RFC 8259 grammar, optionally surrounded by
    /// whitespace, at most <see cref="MaxDepth"/> nested arrays and objects). A validator of its own rather than
    /// <see cref="System.Text.Json.Utf8JsonReader"/>: the sink checks every record, and string contents (most of a record) are
    /// skipped with a vectorized search. UTF-8 is checked apart (<see cref="Utf8.IsValid"/>).
    /// </summary>
    internal static bool IsJson(ReadOnlySpan<byte> value)
    {
        // Usually no control character at all: strings are then searched for their two other stops only.
        var stops = value.IndexOfAnyInRange((byte)0, (byte)0x1F) < 0 ? QuoteOrBackslash : StringStops;
        int i = SkipWhitespace(value, 0);
        return ParseValue(value, ref i, 0, stops) && SkipWhitespace(value, i) == value.Length;
    }

    /// <summary>Most nested arrays and objects in a value written as JSON (as the API's reader allows).</summary>
    public const int MaxDepth = 64;

    private static readonly SearchValues<byte> QuoteOrBackslash = SearchValues.Create("\"\\"u8);
    private static readonly SearchValues<byte> StringStops = SearchValues.Create(
        [.. Enumerable.Range(0, 0x20).Select(b => (byte)b), (byte)'"', (byte)'\\']);

    private static int SkipWhitespace(ReadOnlySpan<byte> s, int i)
    {
        while (i < s.Length && s[i] is (byte)' ' or (byte)'\t' or (byte)'\n' or (byte)'\r') i++;
        return i;
    }

    private static bool ParseValue(ReadOnlySpan<byte> s, ref int i, int depth, SearchValues<byte> stops)
    {
        if (i >= s.Length) return false;
        switch (s[i])
        {
            case (byte)'{':
            case (byte)'[':
                return ParseContainer(s, ref i, depth, stops);
            case (byte)'"':
                return ParseString(s, ref i, stops);
            case (byte)'t':
                return ParseLiteral(s, ref i, "true"u8);
            case (byte)'f':
                return ParseLiteral(s, ref i, "false"u8);
            case (byte)'n':
                return ParseLiteral(s, ref i, "null"u8);
            default:
                return ParseNumber(s, ref i);
        }
    }

    private static bool ParseContainer(ReadOnlySpan<byte> s, ref int i, int depth, SearchValues<byte> stops)
    {
        if (depth >= MaxDepth) return false;
        bool isObject = s[i] == (byte)'{';
        byte close = isObject ? (byte)'}' : (byte)']';
        i = SkipWhitespace(s, i + 1);
        if (i < s.Length && s[i] == close)
        {
            i++;
            return true;
        }
        while (true)
        {
            if (isObject)
            {
                if (i >= s.Length || s[i] != (byte)'"' || !ParseString(s, ref i, stops)) return false;
                i = SkipWhitespace(s, i);
                if (i >= s.Length || s[i] != (byte)':') return false;
                i = SkipWhitespace(s, i + 1);
            }
            if (!ParseValue(s, ref i, depth + 1, stops)) return false;
            i = SkipWhitespace(s, i);
            if (i >= s.Length) return false;
            if (s[i] == close)
            {
                i++;
                return true;
            }
            if (s[i] != (byte)',') return false;
            i = SkipWhitespace(s, i + 1);
        }
    }

    private static bool ParseString(ReadOnlySpan<byte> s, ref int i, SearchValues<byte> stops)
    {
        i++; // the opening quote
        while (true)
        {
            int k = s[i..].IndexOfAny(stops);
            if (k < 0) return false;
            i += k;
            byte b = s[i];
            if (b == (byte)'"')
            {
                i++;
                return true;
            }
            if (b != (byte)'\\' || i + 1 >= s.Length) return false; // a control character, or a backslash at the end
            switch (s[i + 1])
            {
                case (byte)'"' or (byte)'\\' or (byte)'/' or (byte)'b' or (byte)'f' or (byte)'n' or (byte)'r' or (byte)'t':
                    i += 2;
                    break;
                case (byte)'u':
                    if (i + 6 > s.Length || !IsHex(s[i + 2]) || !IsHex(s[i + 3]) || !IsHex(s[i + 4]) || !IsHex(s[i + 5])) return false;
                    i += 6;
                    break;
                default:
                    return false;
            }
        }
    }

    private static bool IsHex(byte b) => char.IsAsciiHexDigit((char)b);

    private static bool ParseLiteral(ReadOnlySpan<byte> s, ref int i, ReadOnlySpan<byte> literal)
    {
        if (!s[i..].StartsWith(literal)) return false;
        i += literal.Length;
        return true;
    }

    private static bool ParseNumber(ReadOnlySpan<byte> s, ref int i)
    {
        if (i < s.Length && s[i] == (byte)'-') i++;
        if (i >= s.Length) return false;
        if (s[i] == (byte)'0') i++;
        else if (!SkipDigits(s, ref i)) return false;
        if (i < s.Length && s[i] == (byte)'.')
        {
            i++;
            if (!SkipDigits(s, ref i)) return false;
        }
        if (i < s.Length && s[i] is (byte)'e' or (byte)'E')
        {
            i++;
            if (i < s.Length && s[i] is (byte)'+' or (byte)'-') i++;
            if (!SkipDigits(s, ref i)) return false;
        }
        return true;
    }

    /// <summary>Skips one or more digits; false when there is none.</summary>
    private static bool SkipDigits(ReadOnlySpan<byte> s, ref int i)
    {
        int start = i;
        while (i < s.Length && char.IsAsciiDigit((char)s[i])) i++;
        return i > start;
    }

    /// <summary>What ends a run of bytes that <see cref="Compact(ReadOnlySpan{byte}, Span{byte})"/> copies outside a string: a string's quote or whitespace.</summary>
    private static readonly SearchValues<byte> OutsideStringStops = SearchValues.Create("\" \t\r\n"u8);

    /// <summary>
    /// Copies JSON text (already validated) into <paramref name="into"/> without the whitespace outside its strings; returns
    /// the length. Runs of bytes between quotes, escapes and whitespace are found and copied a vector at a time (the API
    /// compacts every record the Python emulators send, whose JSON has a space after each comma and colon).
    /// </summary>
    public static int Compact(ReadOnlySpan<byte> json, Span<byte> into)
    {
        int n = 0, i = 0;
        while (i < json.Length)
        {
            int run = json[i..].IndexOfAny(OutsideStringStops);
            if (run < 0) run = json.Length - i;
            json.Slice(i, run).CopyTo(into[n..]);
            n += run;
            i += run;
            if (i == json.Length) break;
            if (json[i] != (byte)'"')
            {
                i++; // whitespace outside a string: left out
                continue;
            }
            int start = i++; // a string, from its opening quote through its closing one, as it is
            while (i < json.Length)
            {
                int inside = json[i..].IndexOfAny(QuoteOrBackslash);
                if (inside < 0)
                {
                    i = json.Length; // not closed (not in validated JSON): the rest as it is
                    break;
                }
                i += inside;
                if (json[i] == (byte)'"')
                {
                    i++;
                    break;
                }
                i = Math.Min(i + 2, json.Length); // an escape and the byte it escapes
            }
            json[start..i].CopyTo(into[n..]);
            n += i - start;
        }
        return n;
    }

    /// <summary>JSON text (already validated) without the whitespace outside its strings; the same memory when there is none.</summary>
    public static ReadOnlyMemory<byte> Compact(ReadOnlyMemory<byte> json)
    {
        var span = json.Span;
        if (span.IndexOfAny(" \t\r\n"u8) < 0) return json;
        byte[] scratch = ArrayPool<byte>.Shared.Rent(span.Length);
        try
        {
            int n = Compact(span, scratch);
            return n == span.Length ? json : scratch.AsSpan(0, n).ToArray();
        }
        finally
        {
            ArrayPool<byte>.Shared.Return(scratch);
        }
    }
}
