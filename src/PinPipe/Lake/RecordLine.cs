using System.Buffers;
using System.Buffers.Text;
using System.Text;
using System.Text.Json;
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
    private static readonly JsonReaderOptions ReaderOptions = new() { MaxDepth = 64, CommentHandling = JsonCommentHandling.Disallow };

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
        if (!IsJson(value) || !Utf8.IsValid(value)) return Shape.Binary;
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

    /// <summary>True when <paramref name="value"/> is exactly one JSON value (optionally surrounded by whitespace).</summary>
    private static bool IsJson(ReadOnlySpan<byte> value)
    {
        if (value.IsEmpty) return false;
        var reader = new Utf8JsonReader(value, ReaderOptions);
        try
        {
            if (!reader.Read()) return false;
            reader.Skip();
            return !reader.Read();
        }
        catch (JsonException)
        {
            return false;
        }
    }

    /// <summary>Copies JSON text (already validated) into <paramref name="into"/> without the whitespace outside its strings; returns the length.</summary>
    public static int Compact(ReadOnlySpan<byte> json, Span<byte> into)
    {
        int n = 0;
        bool inString = false, escaped = false;
        foreach (byte b in json)
        {
            if (inString)
            {
                if (escaped) escaped = false;
                else if (b == (byte)'\\') escaped = true;
                else if (b == (byte)'"') inString = false;
            }
            else if (b == (byte)'"')
            {
                inString = true;
            }
            else if (b is (byte)' ' or (byte)'\t' or (byte)'\n' or (byte)'\r')
            {
                continue;
            }
            into[n++] = b;
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
