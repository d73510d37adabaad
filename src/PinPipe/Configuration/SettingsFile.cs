using System.Globalization;
using System.Text;
using System.Text.Json;

namespace PinPipe.Configuration;

/// <summary>One setting as a layer gives it: its key (<c>Sink:FlushSize</c>), its text, and where it came from (<c>pinpipe.json:7</c>,
/// <c>environment PINPIPE_Sink__FlushSize</c>, <c>flag --flush-size</c>; null for a value given in code).</summary>
public sealed record SettingValue(string Key, string? Value, string? Source);

/// <summary>
/// Reads a JSON settings file into keys as .NET's JSON configuration does (<c>{"Sink": {"FlushSize": 5}}</c> is
/// <c>Sink:FlushSize</c> = <c>5</c>, arrays give <c>:0</c>, <c>:1</c>, ..., <c>null</c> gives an empty value; comments and
/// trailing commas are allowed), remembering each key's line, and reports a malformed file by its line and column.
/// </summary>
public static class SettingsFile
{
    private static readonly JsonReaderOptions Options = new() { CommentHandling = JsonCommentHandling.Skip, AllowTrailingCommas = true };

    /// <summary>
    /// The settings of the file at <paramref name="path"/>, each with its source <c>&lt;name&gt;:&lt;line&gt;</c>; a key given twice is a
    /// problem added to <paramref name="problems"/>.
    /// </summary>
    /// <exception cref="SettingsException">The file cannot be read, is not JSON (its line and column named), or does not hold one JSON object.</exception>
    public static IReadOnlyList<SettingValue> Read(string path, string name, ICollection<string> problems)
    {
        ArgumentNullException.ThrowIfNull(problems);
        byte[] bytes;
        try
        {
            bytes = File.ReadAllBytes(path);
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
        {
            throw new SettingsException([$"{name}: cannot read the settings file: {ex.Message}"], ex);
        }
        return Parse(bytes, name, problems);
    }

    /// <inheritdoc cref="Read"/>
    public static IReadOnlyList<SettingValue> Parse(ReadOnlySpan<byte> json, string name, ICollection<string> problems)
    {
        ArgumentNullException.ThrowIfNull(problems);
        if (json.StartsWith("\uFEFF"u8)) json = json[3..];
        var lines = new Lines(json);
        var reader = new Utf8JsonReader(json, Options);
        var values = new List<SettingValue>();
        try
        {
            if (!reader.Read())
                throw new SettingsException([$"{name}: the file is empty; it must hold one JSON object ({{\"Sink\": {{\"FlushSize\": 500}}}})."]);
            if (reader.TokenType != JsonTokenType.StartObject)
                throw new SettingsException([$"{name}:{lines.Of(reader.TokenStartIndex)}: the file must hold one JSON object ({{\"Sink\": {{\"FlushSize\": 500}}}}), not {Describe(reader.TokenType)}."]);
            var firstLines = new Dictionary<string, int>(StringComparer.OrdinalIgnoreCase);
            ReadObject(ref reader, null, lines.Of(reader.TokenStartIndex), new Context(name, lines, values, firstLines, problems));
            reader.Read(); // anything after the object is an error of the reader's
        }
        catch (JsonException ex)
        {
            throw new SettingsException([Malformed(json, name, ex)], ex);
        }
        return values;
    }

    private sealed record Context(string Name, Lines Lines, List<SettingValue> Values, Dictionary<string, int> FirstLines, ICollection<string> Problems)
    {
        public void Add(string key, string? value, int line)
        {
            if (value is not null && FirstLines.TryGetValue(key, out var first))
            {
                Problems.Add($"{Name}:{line}: {key}: given twice (also on line {first}); keep one.");
                return;
            }
            if (value is not null) FirstLines[key] = line;
            Values.Add(new SettingValue(key, value, $"{Name}:{line}"));
        }
    }

    private static void ReadObject(ref Utf8JsonReader reader, string? prefix, int line, Context context)
    {
        bool empty = true;
        while (reader.Read() && reader.TokenType != JsonTokenType.EndObject)
        {
            empty = false;
            string name = reader.GetString()!;
            int nameLine = context.Lines.Of(reader.TokenStartIndex);
            reader.Read();
            ReadValue(ref reader, prefix is null ? name : $"{prefix}:{name}", nameLine, context);
        }
        if (empty && prefix is not null) context.Add(prefix, null, line);
    }

    private static void ReadValue(ref Utf8JsonReader reader, string key, int line, Context context)
    {
        switch (reader.TokenType)
        {
            case JsonTokenType.StartObject:
                ReadObject(ref reader, key, line, context);
                break;
            case JsonTokenType.StartArray:
                int index = 0;
                while (reader.Read() && reader.TokenType != JsonTokenType.EndArray)
                    ReadValue(ref reader, $"{key}:{index++.ToString(CultureInfo.InvariantCulture)}", context.Lines.Of(reader.TokenStartIndex), context);
                break;
            case JsonTokenType.String:
                context.Add(key, reader.GetString(), line);
                break;
            case JsonTokenType.Number:
                context.Add(key, Encoding.UTF8.GetString(reader.ValueSpan), line);
                break;
            case JsonTokenType.True:
            case JsonTokenType.False:
                context.Add(key, reader.GetBoolean() ? "True" : "False", line);
                break;
            default:
                context.Add(key, "", line); // null
                break;
        }
    }

    private static string Describe(JsonTokenType token) => token switch
    {
        JsonTokenType.StartArray => "an array",
        JsonTokenType.String => "a string",
        JsonTokenType.Number => "a number",
        JsonTokenType.True or JsonTokenType.False => "true or false",
        _ => "null",
    };

    /// <summary><c>pinpipe.json:3:15: not valid JSON: unexpected 'x'; expected ',' or '}' after a value.</c></summary>
    private static string Malformed(ReadOnlySpan<byte> json, string name, JsonException ex)
    {
        int line = (int)(ex.LineNumber ?? 0);
        int lineStart = 0;
        for (int l = 0; l < line && lineStart < json.Length; l++)
        {
            int next = json[lineStart..].IndexOf((byte)'\n');
            lineStart = next < 0 ? json.Length : lineStart + next + 1;
        }
        int at = (int)Math.Min(json.Length, lineStart + (ex.BytePositionInLine ?? 0));
        int column = Encoding.UTF8.GetCharCount(json[lineStart..at]) + 1;
        string message = ex.Message;
        string reason;
        if (at >= json.Length || json[at..].Trim(" \t\r\n"u8).IsEmpty || message.Contains("depth", StringComparison.Ordinal))
            reason = "the file ends before the JSON does (a '}' or ']' missing?)";
        else
        {
            var rest = json[at..];
            int length = 1;
            while (length < rest.Length && length < 20 && (char.IsAsciiLetterOrDigit((char)rest[length - 1]) || rest[length - 1] >= 0x80) && (char.IsAsciiLetterOrDigit((char)rest[length]) || rest[length] >= 0x80)) length++;
            reason = $"unexpected '{Encoding.UTF8.GetString(rest[..length])}'";
            if (message.Contains("property name", StringComparison.Ordinal) && message.Contains("Expected a '\"'", StringComparison.Ordinal))
                reason += "; a name must be in double quotes (\"FlushSize\")";
            else if (message.Contains("Expected a ':'", StringComparison.Ordinal))
                reason += "; expected ':' after a name";
            else if (message.Contains("Expected a ','", StringComparison.Ordinal) || message.Contains("Expected either ','", StringComparison.Ordinal))
                reason += "; expected ',' between values, or the closing '}' or ']'";
            else if (message.Contains("after a single JSON value", StringComparison.Ordinal))
                reason += " after the end of the settings object";
            else if (message.Contains("invalid start of a value", StringComparison.Ordinal))
                reason += "; a value is a \"string\", a number, true, false, null, an object or an array";
        }
        return $"{name}:{(line + 1).ToString(CultureInfo.InvariantCulture)}:{column.ToString(CultureInfo.InvariantCulture)}: not valid JSON: {reason}.";
    }

    /// <summary>The 1-based line of a byte offset.</summary>
    private sealed class Lines
    {
        private readonly List<long> _starts = [0];

        public Lines(ReadOnlySpan<byte> json)
        {
            for (int i = 0; i < json.Length; i++)
                if (json[i] == (byte)'\n') _starts.Add(i + 1);
        }

        public int Of(long offset)
        {
            int index = _starts.BinarySearch(offset);
            return (index >= 0 ? index : ~index - 1) + 1;
        }
    }
}
