using System.Globalization;
using System.Text;
using PinPipe.Source;

namespace PinPipe.Emulation;

/// <summary>
/// Turns source rows into the raw record JSON of SPEC §3. The emulator only sees this seam, so the
/// shared encoder can replace <see cref="Default"/> with a one-line change.
/// </summary>
internal sealed record RecordEncoder(Func<PinRow, byte[]> Pin, Func<GeoRow, byte[]> Geo, Func<UserRow, byte[]> User)
{
    /// <summary>The encoder the emulator uses.</summary>
    public static RecordEncoder Default { get; } = new(PythonJson.Pin, PythonJson.Geo, PythonJson.User);
}

/// <summary>
/// Writes rows the way the original emulator's <c>json.dumps(row, default=str)</c> did: keys in column
/// order, <c>", "</c> and <c>": "</c> separators, datetimes as <c>YYYY-MM-DD HH:MM:SS</c>, floats as Python's
/// <c>repr</c>, and non-ASCII text as UTF-8 rather than <c>\u</c> escapes.
/// </summary>
internal static class PythonJson
{
    public static byte[] Pin(PinRow row)
    {
        var w = new Writer();
        w.Int("index", row.Index, first: true);
        w.Str("unique_id", row.UniqueId);
        w.Str("title", row.Title);
        w.Str("description", row.Description);
        w.Str("poster_name", row.PosterName);
        w.Str("follower_count", row.FollowerCount);
        w.Str("tag_list", row.TagList);
        w.Str("is_image_or_video", row.IsImageOrVideo);
        w.Str("image_src", row.ImageSrc);
        w.Int("downloaded", row.Downloaded);
        w.Str("save_location", row.SaveLocation);
        w.Str("category", row.Category);
        return w.Finish();
    }

    public static byte[] Geo(GeoRow row)
    {
        var w = new Writer();
        w.Int("ind", row.Ind, first: true);
        w.Date("timestamp", row.Timestamp);
        w.Double("latitude", row.Latitude);
        w.Double("longitude", row.Longitude);
        w.Str("country", row.Country);
        return w.Finish();
    }

    public static byte[] User(UserRow row)
    {
        var w = new Writer();
        w.Int("ind", row.Ind, first: true);
        w.Str("first_name", row.FirstName);
        w.Str("last_name", row.LastName);
        w.Int("age", row.Age);
        w.Date("date_joined", row.DateJoined);
        return w.Finish();
    }

    /// <summary>A JSON string literal, quotes included, escaped as Python's <c>json.dumps(ensure_ascii=False)</c> does.</summary>
    public static string Quote(string value)
    {
        var sb = new StringBuilder(value.Length + 2);
        AppendQuoted(sb, value);
        return sb.ToString();
    }

    /// <summary>A float as Python's <c>repr</c> writes it (<c>-89.9787</c>, <c>5.0</c>, <c>1e-05</c>, <c>1e+16</c>).</summary>
    public static string FormatDouble(double value)
    {
        if (double.IsNaN(value)) return "NaN";
        if (double.IsPositiveInfinity(value)) return "Infinity";
        if (double.IsNegativeInfinity(value)) return "-Infinity";

        // Shortest round-trip digits, then Python's layout rules (float_repr_style "short", mode 'r').
        var shortest = value.ToString("R", CultureInfo.InvariantCulture);
        var negative = shortest.StartsWith('-') || (value == 0 && double.IsNegative(value));
        var body = shortest.TrimStart('-');
        var exponent = 0;
        var e = body.IndexOfAny(['E', 'e']);
        if (e >= 0)
        {
            exponent = int.Parse(body.AsSpan(e + 1), NumberStyles.AllowLeadingSign, CultureInfo.InvariantCulture);
            body = body[..e];
        }

        var dot = body.IndexOf('.');
        var intPart = dot >= 0 ? body[..dot] : body;
        var fracPart = dot >= 0 ? body[(dot + 1)..] : "";
        var digits = (intPart + fracPart).TrimStart('0');
        // value = 0.digits × 10^decpt
        var decpt = intPart.TrimStart('0').Length > 0
            ? intPart.TrimStart('0').Length + exponent
            : exponent - (fracPart.Length - fracPart.TrimStart('0').Length);
        digits = digits.TrimEnd('0');
        if (digits.Length == 0)
        {
            return negative ? "-0.0" : "0.0";
        }

        var sb = new StringBuilder(24);
        if (negative) sb.Append('-');
        if (decpt <= -4 || decpt > 16)
        {
            sb.Append(digits[0]);
            if (digits.Length > 1) sb.Append('.').Append(digits, 1, digits.Length - 1);
            var exp = decpt - 1;
            sb.Append('e').Append(exp < 0 ? '-' : '+').Append(Math.Abs(exp).ToString("00", CultureInfo.InvariantCulture));
        }
        else if (decpt <= 0)
        {
            sb.Append("0.").Append('0', -decpt).Append(digits);
        }
        else if (decpt >= digits.Length)
        {
            sb.Append(digits).Append('0', decpt - digits.Length).Append(".0");
        }
        else
        {
            sb.Append(digits, 0, decpt).Append('.').Append(digits, decpt, digits.Length - decpt);
        }

        return sb.ToString();
    }

    /// <summary>A datetime as Python's <c>str(datetime)</c>: <c>YYYY-MM-DD HH:MM:SS</c>, with <c>.ffffff</c> only when it has microseconds.</summary>
    public static string FormatDate(DateTime value)
    {
        var text = value.ToString("yyyy-MM-dd HH:mm:ss", CultureInfo.InvariantCulture);
        var micros = value.Ticks % TimeSpan.TicksPerSecond / 10;
        return micros == 0 ? text : text + "." + micros.ToString("000000", CultureInfo.InvariantCulture);
    }

    private static void AppendQuoted(StringBuilder sb, string value)
    {
        sb.Append('"');
        for (var i = 0; i < value.Length; i++)
        {
            var c = value[i];
            switch (c)
            {
                case '"': sb.Append("\\\""); break;
                case '\\': sb.Append("\\\\"); break;
                case '\n': sb.Append("\\n"); break;
                case '\r': sb.Append("\\r"); break;
                case '\t': sb.Append("\\t"); break;
                case '\b': sb.Append("\\b"); break;
                case '\f': sb.Append("\\f"); break;
                default:
                    if (c < 0x20)
                    {
                        AppendUnicodeEscape(sb, c);
                    }
                    else if (char.IsSurrogate(c))
                    {
                        // A valid pair passes through as UTF-8; a lone surrogate cannot be UTF-8, so escape it.
                        if (char.IsHighSurrogate(c) && i + 1 < value.Length && char.IsLowSurrogate(value[i + 1]))
                        {
                            sb.Append(c).Append(value[++i]);
                        }
                        else
                        {
                            AppendUnicodeEscape(sb, c);
                        }
                    }
                    else
                    {
                        sb.Append(c);
                    }

                    break;
            }
        }

        sb.Append('"');
    }

    private static void AppendUnicodeEscape(StringBuilder sb, char c) =>
        sb.Append("\\u").Append(((int)c).ToString("x4", CultureInfo.InvariantCulture));

    private sealed class Writer
    {
        private readonly StringBuilder _sb = new(512);

        public Writer() => _sb.Append('{');

        public void Int(string key, long? value, bool first = false)
        {
            Key(key, first);
            if (value is { } v) _sb.Append(v.ToString(CultureInfo.InvariantCulture));
            else _sb.Append("null");
        }

        public void Str(string key, string? value)
        {
            Key(key, false);
            if (value is null) _sb.Append("null");
            else AppendQuoted(_sb, value);
        }

        public void Double(string key, double? value)
        {
            Key(key, false);
            _sb.Append(value is { } v ? FormatDouble(v) : "null");
        }

        public void Date(string key, DateTime? value)
        {
            Key(key, false);
            if (value is { } v) _sb.Append('"').Append(FormatDate(v)).Append('"');
            else _sb.Append("null");
        }

        public byte[] Finish()
        {
            _sb.Append('}');
            return Encoding.UTF8.GetBytes(_sb.ToString());
        }

        private void Key(string key, bool first)
        {
            if (!first) _sb.Append(", ");
            _sb.Append('"').Append(key).Append("\": ");
        }
    }
}
