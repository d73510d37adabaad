using System.Buffers;
using System.Globalization;
using System.Text;
using System.Text.Encodings.Web;
using System.Text.Json;
using PinPipe.Files;

namespace PinPipe.Insights;

/// <summary>Writes insight results as files: <c>&lt;nn&gt;-&lt;name&gt;.csv</c> and <c>&lt;nn&gt;-&lt;name&gt;.json</c> per insight.</summary>
/// <remarks>
/// CSV follows RFC 4180: a header row, CRLF line ends, a field quoted when it holds a comma, a quote, CR or LF (quotes
/// doubled); a null is an empty field and an empty string a quoted empty field (<c>""</c>), so the two stay apart.
/// A text cell starting with <c>=</c>, <c>+</c>, <c>-</c>, <c>@</c>, a tab or a CR is written with a leading <c>'</c>
/// so that a spreadsheet shows it as text instead of running it as a formula (OWASP's CSV injection advice); numeric
/// cells (a negative count) are numbers in the data and are written as they are.
/// JSON is an array of objects, one per row, keyed by column name; numbers as numbers, null as null. Both UTF-8
/// without a byte order mark.
/// </remarks>
public static class InsightFiles
{
    private static readonly UTF8Encoding Utf8 = new(encoderShouldEmitUTF8Identifier: false);
    /// <summary>First characters that make a spreadsheet read a cell as a formula (OWASP, CSV injection).</summary>
    private static readonly SearchValues<char> FormulaStarts = SearchValues.Create("=+-@\t\r");
    private static readonly JsonWriterOptions JsonOptions = new() { Indented = true, Encoder = JavaScriptEncoder.UnsafeRelaxedJsonEscaping };

    /// <summary>Writes the CSV and JSON files (0600) of every result into <paramref name="directory"/> (created 0700 if missing).</summary>
    /// <returns>The paths written, CSV then JSON for each insight in order.</returns>
    /// <exception cref="ArgumentException">A row does not have one value per column.</exception>
    public static async Task<IReadOnlyList<string>> WriteAsync(string directory, IReadOnlyList<InsightResult> results, CancellationToken cancellationToken = default)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(directory);
        ArgumentNullException.ThrowIfNull(results);
        foreach (var result in results) CheckShape(result);

        OwnerOnly.CreateDirectory(directory);
        var paths = new List<string>(results.Count * 2);
        foreach (var result in results)
        {
            var csv = Path.Combine(directory, result.FileStem + ".csv");
            await OwnerOnly.WriteAllTextAsync(csv, ToCsv(result), Utf8, cancellationToken).ConfigureAwait(false);
            paths.Add(csv);

            var json = Path.Combine(directory, result.FileStem + ".json");
            await OwnerOnly.WriteAllBytesAsync(json, ToJson(result), cancellationToken).ConfigureAwait(false);
            paths.Add(json);
        }
        return paths;
    }

    /// <summary>The CSV text of one result (header row first).</summary>
    public static string ToCsv(InsightResult result)
    {
        ArgumentNullException.ThrowIfNull(result);
        CheckShape(result);
        var sb = new StringBuilder();
        AppendCsvRow(sb, result.Columns.Cast<object?>());
        foreach (var row in result.Rows) AppendCsvRow(sb, row);
        return sb.ToString();
    }

    /// <summary>The JSON (UTF-8 bytes) of one result: an array of objects keyed by column name.</summary>
    public static byte[] ToJson(InsightResult result)
    {
        ArgumentNullException.ThrowIfNull(result);
        CheckShape(result);
        using var buffer = new MemoryStream();
        using (var writer = new Utf8JsonWriter(buffer, JsonOptions))
        {
            writer.WriteStartArray();
            foreach (var row in result.Rows)
            {
                writer.WriteStartObject();
                for (var i = 0; i < row.Length; i++)
                {
                    writer.WritePropertyName(result.Columns[i]);
                    WriteJsonValue(writer, row[i]);
                }
                writer.WriteEndObject();
            }
            writer.WriteEndArray();
        }
        return buffer.ToArray();
    }

    /// <summary>A value as text, culture-invariant: numbers in plain digits, times in ISO 8601.</summary>
    internal static string Format(object? value) => value switch
    {
        null => "",
        string s => s,
        double d => d.ToString("R", CultureInfo.InvariantCulture),
        float f => f.ToString("R", CultureInfo.InvariantCulture),
        DateTime t => t.ToString("yyyy-MM-dd'T'HH:mm:ss.FFFFFFF", CultureInfo.InvariantCulture),
        DateTimeOffset t => t.ToString("yyyy-MM-dd'T'HH:mm:ss.FFFFFFFzzz", CultureInfo.InvariantCulture),
        bool b => b ? "true" : "false",
        IFormattable f => f.ToString(null, CultureInfo.InvariantCulture),
        _ => value.ToString() ?? "",
    };

    private static void AppendCsvRow(StringBuilder sb, IEnumerable<object?> values)
    {
        var first = true;
        foreach (var value in values)
        {
            if (!first) sb.Append(',');
            first = false;
            if (value is null) continue;
            var text = Format(value);
            if (!IsNumber(value) && text.Length > 0 && FormulaStarts.Contains(text[0])) text = "'" + text;
            if (text.Length == 0 || text.AsSpan().IndexOfAny(",\"\r\n") >= 0)
                sb.Append('"').Append(text.Replace("\"", "\"\"", StringComparison.Ordinal)).Append('"');
            else
                sb.Append(text);
        }
        sb.Append("\r\n");
    }

    private static bool IsNumber(object value) =>
        value is sbyte or byte or short or ushort or int or uint or long or ulong or float or double or decimal;

    private static void WriteJsonValue(Utf8JsonWriter writer, object? value)
    {
        switch (value)
        {
            case null: writer.WriteNullValue(); break;
            case string s: writer.WriteStringValue(s); break;
            case bool b: writer.WriteBooleanValue(b); break;
            case int i: writer.WriteNumberValue(i); break;
            case long l: writer.WriteNumberValue(l); break;
            case short s: writer.WriteNumberValue(s); break;
            case byte b: writer.WriteNumberValue(b); break;
            case ulong u: writer.WriteNumberValue(u); break;
            case uint u: writer.WriteNumberValue(u); break;
            case double d when double.IsFinite(d): writer.WriteNumberValue(d); break;
            case float f when float.IsFinite(f): writer.WriteNumberValue(f); break;
            case decimal m: writer.WriteNumberValue(m); break;
            default: writer.WriteStringValue(Format(value)); break;
        }
    }

    private static void CheckShape(InsightResult result)
    {
        for (var r = 0; r < result.Rows.Count; r++)
            if (result.Rows[r].Length != result.Columns.Count)
                throw new ArgumentException(
                    $"Insight #{result.Number} ({result.Name}): row {r} has {result.Rows[r].Length} values for {result.Columns.Count} columns.", nameof(result));
    }
}
