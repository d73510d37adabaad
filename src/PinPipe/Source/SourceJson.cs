using System.Buffers;
using System.Globalization;
using System.Text;

namespace PinPipe.Source;

/// <summary>
/// The raw records of SPEC §3: a source row as a JSON object, column names and order as in the
/// source, written the way Python's <c>json.dumps(row, ensure_ascii=False)</c> writes it
/// (<c>", "</c> and <c>": "</c> separators, floats as Python's repr, non-ASCII as UTF-8, datetimes
/// <c>"YYYY-MM-DD HH:MM:SS"</c>, nulls as <c>null</c>).
/// </summary>
public static class SourceJson
{
    /// <summary>The <c>pinterest_data</c> row as JSON (UTF-8).</summary>
    public static byte[] Pin(PinRow row) => ToArray(row, static (w, r) => WritePin(w, r));

    /// <summary>The <c>geolocation_data</c> row as JSON (UTF-8).</summary>
    public static byte[] Geo(GeoRow row) => ToArray(row, static (w, r) => WriteGeo(w, r));

    /// <summary>The <c>user_data</c> row as JSON (UTF-8).</summary>
    public static byte[] User(UserRow row) => ToArray(row, static (w, r) => WriteUser(w, r));

    /// <summary>Appends the <c>pinterest_data</c> row as JSON to <paramref name="output"/>.</summary>
    public static void WritePin(IBufferWriter<byte> output, PinRow row)
    {
        ArgumentNullException.ThrowIfNull(row);
        var w = new Writer(output);
        w.Long("{\"index\": "u8, row.Index);
        w.String(", \"unique_id\": "u8, row.UniqueId);
        w.String(", \"title\": "u8, row.Title);
        w.String(", \"description\": "u8, row.Description);
        w.String(", \"poster_name\": "u8, row.PosterName);
        w.String(", \"follower_count\": "u8, row.FollowerCount);
        w.String(", \"tag_list\": "u8, row.TagList);
        w.String(", \"is_image_or_video\": "u8, row.IsImageOrVideo);
        w.String(", \"image_src\": "u8, row.ImageSrc);
        w.Int(", \"downloaded\": "u8, row.Downloaded);
        w.String(", \"save_location\": "u8, row.SaveLocation);
        w.String(", \"category\": "u8, row.Category);
        w.Raw("}"u8);
    }

    /// <summary>Appends the <c>geolocation_data</c> row as JSON to <paramref name="output"/>.</summary>
    public static void WriteGeo(IBufferWriter<byte> output, GeoRow row)
    {
        ArgumentNullException.ThrowIfNull(row);
        var w = new Writer(output);
        w.Long("{\"ind\": "u8, row.Ind);
        w.DateTime(", \"timestamp\": "u8, row.Timestamp);
        w.Double(", \"latitude\": "u8, row.Latitude);
        w.Double(", \"longitude\": "u8, row.Longitude);
        w.String(", \"country\": "u8, row.Country);
        w.Raw("}"u8);
    }

    /// <summary>Appends the <c>user_data</c> row as JSON to <paramref name="output"/>.</summary>
    public static void WriteUser(IBufferWriter<byte> output, UserRow row)
    {
        ArgumentNullException.ThrowIfNull(row);
        var w = new Writer(output);
        w.Long("{\"ind\": "u8, row.Ind);
        w.String(", \"first_name\": "u8, row.FirstName);
        w.String(", \"last_name\": "u8, row.LastName);
        w.Int(", \"age\": "u8, row.Age);
        w.DateTime(", \"date_joined\": "u8, row.DateJoined);
        w.Raw("}"u8);
    }

    /// <summary>A double as Python's <c>repr</c> writes it: shortest round trip, <c>5.0</c>, <c>1e-05</c>, <c>1e+16</c>.</summary>
    public static string FormatDouble(double value)
    {
        if (double.IsNaN(value)) return "NaN";
        if (double.IsPositiveInfinity(value)) return "Infinity";
        if (double.IsNegativeInfinity(value)) return "-Infinity";
        if (value == 0) return double.IsNegative(value) ? "-0.0" : "0.0";

        // Shortest round-trip digits and decimal exponent, from .NET's "E" form of the "R" digits.
        var r = value.ToString("R", CultureInfo.InvariantCulture);
        var negative = r[0] == '-';
        if (negative) r = r[1..];
        string digits;
        int exponent; // value = 0.d1d2d3... × 10^(exponent+1), i.e. d1.d2d3 × 10^exponent
        var e = r.IndexOfAny(['E', 'e']);
        var mantissa = e >= 0 ? r[..e] : r;
        var exp10 = e >= 0 ? int.Parse(r[(e + 1)..], NumberStyles.AllowLeadingSign, CultureInfo.InvariantCulture) : 0;
        var dot = mantissa.IndexOf('.');
        var intPart = dot >= 0 ? mantissa[..dot] : mantissa;
        var fracPart = dot >= 0 ? mantissa[(dot + 1)..] : "";
        var all = (intPart + fracPart).TrimStart('0');
        var leadingZeros = (intPart + fracPart).Length - all.Length;
        digits = all.TrimEnd('0');
        if (digits.Length == 0) digits = "0";
        exponent = intPart.Length - 1 - leadingZeros + exp10;

        var sb = new StringBuilder(32);
        if (negative) sb.Append('-');
        if (exponent is >= -4 and < 16)
        {
            if (exponent < 0)
            {
                sb.Append("0.").Append('0', -exponent - 1).Append(digits);
            }
            else if (digits.Length <= exponent + 1)
            {
                sb.Append(digits).Append('0', exponent + 1 - digits.Length).Append(".0");
            }
            else
            {
                sb.Append(digits, 0, exponent + 1).Append('.').Append(digits, exponent + 1, digits.Length - exponent - 1);
            }
        }
        else
        {
            sb.Append(digits[0]);
            if (digits.Length > 1) sb.Append('.').Append(digits, 1, digits.Length - 1);
            sb.Append('e').Append(exponent < 0 ? '-' : '+').Append(Math.Abs(exponent).ToString("00", CultureInfo.InvariantCulture));
        }
        return sb.ToString();
    }

    private static byte[] ToArray<T>(T row, Action<IBufferWriter<byte>, T> write)
    {
        var buffer = new ArrayBufferWriter<byte>(512);
        write(buffer, row);
        return buffer.WrittenSpan.ToArray();
    }

    private readonly ref struct Writer(IBufferWriter<byte> output)
    {
        private readonly IBufferWriter<byte> _output = output;

        public void Raw(ReadOnlySpan<byte> bytes)
        {
            bytes.CopyTo(_output.GetSpan(bytes.Length));
            _output.Advance(bytes.Length);
        }

        public void Long(ReadOnlySpan<byte> key, long value)
        {
            Raw(key);
            var span = _output.GetSpan(20);
            value.TryFormat(span, out var n, default, CultureInfo.InvariantCulture);
            _output.Advance(n);
        }

        public void Int(ReadOnlySpan<byte> key, int? value)
        {
            if (value is { } v) Long(key, v); else Null(key);
        }

        public void Double(ReadOnlySpan<byte> key, double? value)
        {
            if (value is not { } v) { Null(key); return; }
            Raw(key);
            var text = FormatDouble(v);
            var span = _output.GetSpan(text.Length);
            for (var i = 0; i < text.Length; i++) span[i] = (byte)text[i];
            _output.Advance(text.Length);
        }

        public void DateTime(ReadOnlySpan<byte> key, DateTime? value)
        {
            if (value is not { } v) { Null(key); return; }
            Raw(key);
            var span = _output.GetSpan(21);
            span[0] = (byte)'"';
            v.TryFormat(span[1..], out var n, "yyyy-MM-dd HH:mm:ss", CultureInfo.InvariantCulture);
            span[n + 1] = (byte)'"';
            _output.Advance(n + 2);
        }

        public void String(ReadOnlySpan<byte> key, string? value)
        {
            if (value is null) { Null(key); return; }
            Raw(key);
            var span = _output.GetSpan(Encoding.UTF8.GetMaxByteCount(value.Length) + value.Length * 6 + 2);
            var pos = 0;
            span[pos++] = (byte)'"';
            for (var i = 0; i < value.Length; i++)
            {
                var c = value[i];
                switch (c)
                {
                    case '"': span[pos++] = (byte)'\\'; span[pos++] = (byte)'"'; break;
                    case '\\': span[pos++] = (byte)'\\'; span[pos++] = (byte)'\\'; break;
                    case '\n': span[pos++] = (byte)'\\'; span[pos++] = (byte)'n'; break;
                    case '\r': span[pos++] = (byte)'\\'; span[pos++] = (byte)'r'; break;
                    case '\t': span[pos++] = (byte)'\\'; span[pos++] = (byte)'t'; break;
                    case '\b': span[pos++] = (byte)'\\'; span[pos++] = (byte)'b'; break;
                    case '\f': span[pos++] = (byte)'\\'; span[pos++] = (byte)'f'; break;
                    default:
                        if (c < 0x20)
                        {
                            pos += Escape(span[pos..], c);
                        }
                        else if (c < 0x80)
                        {
                            span[pos++] = (byte)c;
                        }
                        else if (char.IsHighSurrogate(c) && i + 1 < value.Length && char.IsLowSurrogate(value[i + 1]))
                        {
                            pos += Encoding.UTF8.GetBytes(value.AsSpan(i, 2), span[pos..]);
                            i++;
                        }
                        else if (char.IsSurrogate(c))
                        {
                            pos += Escape(span[pos..], c); // a lone surrogate has no UTF-8 form
                        }
                        else
                        {
                            pos += Encoding.UTF8.GetBytes(value.AsSpan(i, 1), span[pos..]);
                        }
                        break;
                }
            }
            span[pos++] = (byte)'"';
            _output.Advance(pos);
        }

        private void Null(ReadOnlySpan<byte> key)
        {
            Raw(key);
            Raw("null"u8);
        }

        private static int Escape(Span<byte> span, char c)
        {
            const string hex = "0123456789abcdef";
            span[0] = (byte)'\\'; span[1] = (byte)'u';
            span[2] = (byte)hex[c >> 12]; span[3] = (byte)hex[(c >> 8) & 0xF];
            span[4] = (byte)hex[(c >> 4) & 0xF]; span[5] = (byte)hex[c & 0xF];
            return 6;
        }
    }
}
