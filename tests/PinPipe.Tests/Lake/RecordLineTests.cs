using System.Text;
using System.Text.Json;
using System.Text.Unicode;
using PinPipe.Lake;

namespace PinPipe.Tests.Lake;

/// <summary>
/// <see cref="RecordLine"/>'s own JSON validator decides which values the sink writes as they are: it must agree with
/// System.Text.Json's reader on every input, and every line it writes must be one line of valid JSON.
/// </summary>
public sealed class RecordLineTests
{
    private static readonly string[] Seeds =
    [
        """{"index":7528,"unique_id":"fbe53c66-3442-4773-b19e-d3ec6f54dddf","title":"No Title Data Available","description":"a \"quoted\" \\ text \u00e9 \ud83d\ude00","follower_count":"1.5k","tag_list":"a,b","is_image_or_video":"image","save_location":"Local save in /data/x","category":"diy-and-crafts","downloaded":1}""",
        """{"ind":1,"timestamp":"2020-01-01T00:00:00","latitude":-45.5e-3,"longitude":0.0,"country":"Ir\u00e9land","n":null,"t":true,"f":false}""",
        """[1,-0,0.5,1E+9,2e-2,[],{},[[{}]],"",{"a":[null,{"b":"\/\t\n\r\f\b"}]}]""",
        "  {\n  \"pretty\": [\n    1,\n    2\n  ],\n  \"s\": \"x y\"\n}\n",
        "\"just a string\"",
        "12345",
        "null",
    ];

    private static bool ReaderSaysJson(byte[] value)
    {
        if (!Utf8.IsValid(value)) return false;
        try
        {
            var reader = new Utf8JsonReader(value, new JsonReaderOptions { MaxDepth = RecordLine.MaxDepth, CommentHandling = JsonCommentHandling.Disallow });
            if (!reader.Read()) return false;
            reader.Skip();
            return !reader.Read();
        }
        catch (JsonException)
        {
            return false;
        }
    }

    private static List<(JsonTokenType, string)> Tokens(byte[] json)
    {
        var tokens = new List<(JsonTokenType, string)>();
        var reader = new Utf8JsonReader(json, new JsonReaderOptions { MaxDepth = RecordLine.MaxDepth });
        while (reader.Read()) tokens.Add((reader.TokenType, Convert.ToHexString(reader.ValueSpan)));
        return tokens;
    }

    public static TheoryData<string> Edges() =>
    [
        "", " ", "{", "}", "[", "[1,]", "{\"a\":1,}", "{\"a\" 1}", "{a:1}", "{\"a\":}", "[1 2]", "01", "-", "-01", "1.", ".5", "+1", "1e", "1e+",
        "0x1", "NaN", "Infinity", "tru", "truex", "nul", "\"unterminated", "\"bad \\x escape\"", "\"\\u12G4\"", "\"\\u12\"", "\"tab\tinside\"",
        "\"nl\ninside\"", "{\"a\":1} {\"b\":2}", "[1]x", "\"\\\"", "\"\\ud800\"", "[-]", "{\"a\":[1,{\"b\":]}}", "1 // comment", "/* c */ 1",
        "\u00a01", "[1,\u20282]", "\"\u0000\"", "{\"\":\"\"}", "[\"\\/\"]",
        new string('[', RecordLine.MaxDepth) + new string(']', RecordLine.MaxDepth),
        new string('[', RecordLine.MaxDepth + 1) + new string(']', RecordLine.MaxDepth + 1),
    ];

    [Theory]
    [MemberData(nameof(Edges))]
    public void Edge_cases_are_judged_as_System_Text_Json_judges_them(string text)
    {
        byte[] value = Encoding.UTF8.GetBytes(text);
        Assert.Equal(ReaderSaysJson(value), RecordLine.IsJson(value) && Utf8.IsValid(value));
    }

    [Fact]
    public void Ten_thousand_mutated_records_are_judged_as_System_Text_Json_judges_them_and_each_writes_one_valid_JSON_line()
    {
        var random = new Random(20261130);
        byte[] alphabet = "{}[]\":,\\ \n\r\t0123456789-+.eEtrufalsn/xu\u00e9"u8.ToArray();
        int json = 0, binary = 0;
        for (int round = 0; round < 10_000; round++)
        {
            byte[] value = Encoding.UTF8.GetBytes(Seeds[random.Next(Seeds.Length)]);
            int mutations = random.Next(0, 4);
            var bytes = value.ToList();
            for (int m = 0; m < mutations && bytes.Count > 0; m++)
            {
                int at = random.Next(bytes.Count);
                switch (random.Next(4))
                {
                    case 0: bytes.RemoveAt(at); break;
                    case 1: bytes.Insert(at, alphabet[random.Next(alphabet.Length)]); break;
                    case 2: bytes[at] = alphabet[random.Next(alphabet.Length)]; break;
                    default: bytes[at] = (byte)random.Next(256); break; // also bytes that are not UTF-8
                }
            }
            value = bytes.ToArray();
            bool expected = ReaderSaysJson(value);
            Assert.True(expected == (RecordLine.Classify(value) != RecordLine.Shape.Binary),
                $"'{Encoding.UTF8.GetString(value)}' ({Convert.ToHexString(value)}): System.Text.Json says {(expected ? "" : "not ")}JSON");

            byte[] line = RecordLine.ToLine(value);
            Assert.DoesNotContain((byte)'\n', line);
            Assert.DoesNotContain((byte)'\r', line);
            Assert.True(ReaderSaysJson(line), $"the line of '{Convert.ToHexString(value)}' is not JSON: {Encoding.UTF8.GetString(line)}");
            if (expected)
            {
                json++;
                // Compacting keeps every token byte for byte (escapes included, also those a parser would refuse to unescape).
                Assert.Equal(Tokens(value), Tokens(line));
            }
            else
            {
                binary++;
                using var envelope = JsonDocument.Parse(line);
                Assert.Equal(value, envelope.RootElement.GetProperty(RecordLine.EnvelopeField).GetBytesFromBase64());
            }
        }
        // Both kinds were exercised in volume.
        Assert.True(json > 1_000 && binary > 1_000, $"json {json}, binary {binary}");
    }

    /// <summary>The definition of compacting, byte by byte: every byte but whitespace outside strings, strings as they are.</summary>
    private static byte[] CompactByteByByte(byte[] json)
    {
        var kept = new List<byte>(json.Length);
        bool inString = false, escaped = false;
        foreach (byte b in json)
        {
            if (inString)
            {
                if (escaped) escaped = false;
                else if (b == (byte)'\\') escaped = true;
                else if (b == (byte)'"') inString = false;
            }
            else if (b == (byte)'"') inString = true;
            else if (b is (byte)' ' or (byte)'\t' or (byte)'\n' or (byte)'\r') continue;
            kept.Add(b);
        }
        return [.. kept];
    }

    [Fact]
    public void Compacting_keeps_every_byte_but_whitespace_outside_strings_on_any_input()
    {
        // Valid and mutated records, long runs (past a vector), escapes at the end, unclosed strings and arbitrary bytes: the
        // copy by runs must give the byte-by-byte definition's bytes on all of them, validated or not.
        var random = new Random(20261206);
        byte[] alphabet = " \t\n\r\"\\{}[]:,a0"u8.ToArray();
        var inputs = Seeds.Select(Encoding.UTF8.GetBytes).ToList();
        inputs.Add(Encoding.UTF8.GetBytes("{ \"long\" : \"" + new string('x', 300) + "\\\"" + new string(' ', 70) + "\" ,  \"n\" :   " + new string('9', 100) + " }"));
        inputs.Add("\"ends in an escape \\"u8.ToArray());
        inputs.Add("{\"unclosed\": \"a b  c"u8.ToArray());
        inputs.Add([]);
        for (int round = 0; round < 5_000; round++)
        {
            var bytes = Encoding.UTF8.GetBytes(Seeds[random.Next(Seeds.Length)]).ToList();
            for (int m = random.Next(0, 8); m > 0 && bytes.Count > 0; m--)
            {
                int at = random.Next(bytes.Count);
                if (random.Next(3) == 0) bytes[at] = (byte)random.Next(256);
                else bytes.Insert(at, alphabet[random.Next(alphabet.Length)]);
            }
            inputs.Add([.. bytes]);
        }
        int changed = 0;
        foreach (byte[] input in inputs)
        {
            byte[] expected = CompactByteByByte(input);
            byte[] into = new byte[input.Length];
            int n = RecordLine.Compact(input, into);
            Assert.True(expected.AsSpan().SequenceEqual(into.AsSpan(0, n)), $"'{Convert.ToHexString(input)}' compacted to '{Convert.ToHexString(into.AsSpan(0, n))}', not '{Convert.ToHexString(expected)}'");
            var memory = RecordLine.Compact(input.AsMemory());
            Assert.Equal(expected, memory.ToArray());
            if (expected.Length < input.Length) changed++;
        }
        Assert.True(changed > 1_000, $"only {changed} inputs had whitespace to leave out");
    }
}
