using System.Globalization;
using System.Text;
using System.Text.Json;
using System.Text.RegularExpressions;

namespace PinPipe.Ingest;

/// <summary>
/// Says in our words where and why a request body is not JSON, for the error answers of both route families:
/// <c>Malformed JSON at byte 24: trailing comma before ']'</c> (a body of one line), or <c>Malformed JSON at line 3,
/// column 8 (byte 20): ...</c> (a body spanning lines; line and column count from 1, the byte offset from 0). The reason
/// comes from the reader's error and the byte it stopped at; the reader's own text (its option names, its
/// <c>LineNumber</c>/<c>BytePositionInLine</c>) never reaches a client.
/// </summary>
internal static partial class JsonSyntax
{
    /// <summary>The error text for <paramref name="error"/>, thrown while reading <paramref name="body"/> from its start.</summary>
    public static string Describe(JsonException error, ReadOnlySpan<byte> body)
    {
        int offset = OffsetOf(body, error.LineNumber ?? 0, error.BytePositionInLine ?? 0);
        string reason = Reason(error.Message, body, ref offset);
        string where;
        if (body.IndexOf((byte)'\n') < 0) where = $"at byte {offset}";
        else
        {
            int lineStart = body[..offset].LastIndexOf((byte)'\n') + 1;
            where = $"at line {body[..offset].Count((byte)'\n') + 1}, column {offset - lineStart + 1} (byte {offset})";
        }
        return string.Create(CultureInfo.InvariantCulture, $"Malformed JSON {where}: {reason}.");
    }

    /// <summary>The byte offset of a line (counted by <c>\n</c>, from 0) and a byte in it.</summary>
    private static int OffsetOf(ReadOnlySpan<byte> body, long line, long column)
    {
        int start = 0;
        for (long l = 0; l < line; l++)
        {
            int next = body[start..].IndexOf((byte)'\n');
            if (next < 0) break;
            start += next + 1;
        }
        return (int)Math.Min(body.Length, start + column);
    }

    /// <summary>Why, from the reader's message; an error at the end of the body moves <paramref name="offset"/> there.</summary>
    private static string Reason(string message, ReadOnlySpan<byte> body, ref int offset)
    {
        bool Has(string part) => message.Contains(part, StringComparison.Ordinal);
        string found = Found(body, offset);
        if (Has("trailing comma")) return $"trailing comma before {found}";
        if (Has("Expected end of string") || Has("Expected depth to be zero") || Has("reached end of data") || Has("input ended"))
        {
            offset = body.TrimEnd(" \t\r\n"u8).Length;
            return Has("Expected end of string") ? "unterminated string (the body ends inside it)"
                : Has("Expected depth to be zero") ? "unexpected end of the body (an object or array is not closed)"
                : "unexpected end of the body";
        }
        if (Has("invalid escapable character")) return $"invalid escape '\\{Char(body, offset)}' in a string (valid: \\\" \\\\ \\/ \\b \\f \\n \\r \\t \\uXXXX)";
        if (Has("not a hex digit")) return $"invalid \\u escape in a string: {found} is not a hex digit";
        if (Has("invalid within a JSON string")) return $"{found} in a string must be escaped";
        if (Has("start of a property name")) return $"expected a property name in double quotes, found {found}";
        if (Has("after a property name")) return $"expected ':' after a property name, found {found}";
        if (ExpectedLiteral().Match(message) is { Success: true } literal) return $"invalid value (expected the literal {literal.Groups[1].Value})";
        if (Has("leading zero")) return "invalid number: a leading zero";
        if (Has("within a number") || Has("end of a number")) return $"invalid number: unexpected {found}";
        if (Has("invalid after a value")) return $"expected ',', '}}' or ']' after a value, found {found}";
        if (Has("without a matching open")) return $"{found} closes nothing (no matching opening bracket)";
        if (Has("after a single JSON value")) return $"data after the end of the JSON value, starting with {found}";
        if (Has("start of a value")) return $"invalid value starting with {found}";
        if (MaxDepth().Match(message) is { Success: true } depth) return $"nested more than {depth.Groups[1].Value} levels deep";
        if (Has("does not contain any JSON tokens")) return "the body is empty";
        return $"unexpected {found}";
    }

    /// <summary>The character at <paramref name="offset"/>, quoted, or its bytes when it is a control character or not UTF-8.</summary>
    private static string Found(ReadOnlySpan<byte> body, int offset)
    {
        if (offset >= body.Length) return "the end of the body";
        if (Rune.DecodeFromUtf8(body[offset..], out var rune, out _) != System.Buffers.OperationStatus.Done)
            return string.Create(CultureInfo.InvariantCulture, $"the byte 0x{body[offset]:X2} (not UTF-8)");
        if (Rune.IsControl(rune)) return string.Create(CultureInfo.InvariantCulture, $"the control character 0x{rune.Value:X2}");
        return rune.Value == '\'' ? "\"'\"" : $"'{rune}'";
    }

    private static string Char(ReadOnlySpan<byte> body, int offset) =>
        offset < body.Length && Rune.DecodeFromUtf8(body[offset..], out var rune, out _) == System.Buffers.OperationStatus.Done && !Rune.IsControl(rune)
            ? rune.ToString()
            : "?";

    [GeneratedRegex("Expected the literal ('[a-z]+')", RegexOptions.CultureInvariant)]
    private static partial Regex ExpectedLiteral();

    [GeneratedRegex("maximum configured depth of ([0-9]+)", RegexOptions.CultureInvariant)]
    private static partial Regex MaxDepth();
}
