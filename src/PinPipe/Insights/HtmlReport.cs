using System.Globalization;
using System.Text;
using PinPipe.Files;

namespace PinPipe.Insights;

/// <summary>
/// Renders a batch run as one self-contained HTML file: inline CSS and inline SVG charts, no scripts, fonts or
/// links to anything outside the file, so it opens the same from a bucket, a mail or a disk. One chart and one table
/// per insight, the quality counts per table and rule, and the run's figures. Every value is HTML-encoded.
/// </summary>
/// <remarks>
/// Charts: horizontal bars of an insight's last column (a count or median) labelled by its other columns; for
/// results longer than <see cref="TopBars"/> rows (e.g. ~250 countries) the top <see cref="TopBars"/> by value, with a note;
/// #9 (median per age group and join year) as grouped bars, one group per join year and one bar per age group.
/// </remarks>
public static class HtmlReport
{
    /// <summary>Most bars in one chart; longer results chart their top rows by value (the table still lists all).</summary>
    public const int TopBars = 20;

    private const int ScrollRows = 25;
    private const int MaxLabel = 44;
    private static readonly string[] Palette = ["#4e79a7", "#f28e2b", "#59a14f", "#e15759", "#76b7b2", "#edc948", "#b07aa1", "#9c755f"];
    private static readonly CultureInfo Inv = CultureInfo.InvariantCulture;

    /// <summary>Writes the report to <paramref name="path"/> (UTF-8, 0600; its folder is created 0700 if missing).</summary>
    public static async Task WriteAsync(string path, ReportModel model, CancellationToken cancellationToken = default)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(path);
        var html = Render(model);
        OwnerOnly.CreateParentDirectory(path);
        await OwnerOnly.WriteAllTextAsync(path, html, new UTF8Encoding(false), cancellationToken).ConfigureAwait(false);
    }

    /// <summary>The report's HTML text.</summary>
    public static string Render(ReportModel model)
    {
        ArgumentNullException.ThrowIfNull(model);
        ArgumentNullException.ThrowIfNull(model.Tables);
        ArgumentNullException.ThrowIfNull(model.Quality);
        ArgumentNullException.ThrowIfNull(model.Insights);
        ArgumentNullException.ThrowIfNull(model.Figures);

        var h = new StringBuilder(64 * 1024);
        h.Append("<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n")
         .Append("<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n")
         .Append("<title>PinPipe run ").Append(E(model.RunId)).Append("</title>\n<style>").Append(Css).Append("</style>\n</head>\n<body>\n");
        h.Append("<header><h1>PinPipe batch run <code>").Append(E(model.RunId)).Append("</code></h1>\n<p>Started ")
         .Append(E(model.StartedAt.ToUniversalTime().ToString("yyyy-MM-dd HH:mm:ss 'UTC'", Inv)))
         .Append(", took ").Append(E(FormatDuration(model.Duration))).Append(".</p>\n");
        h.Append("<nav><a href=\"#run\">Run</a> · <a href=\"#quality\">Quality</a>");
        foreach (var r in model.Insights)
            h.Append(" · <a href=\"#insight-").Append(r.Number.ToString(Inv)).Append("\">#").Append(r.Number.ToString(Inv)).Append("</a>");
        h.Append("</nav></header>\n<main>\n");

        AppendRun(h, model);
        AppendQuality(h, model.Quality);
        foreach (var r in model.Insights) AppendInsight(h, r);

        h.Append("</main>\n</body>\n</html>\n");
        return h.ToString();
    }

    private static void AppendRun(StringBuilder h, ReportModel model)
    {
        h.Append("<section id=\"run\"><h2>Run</h2>\n<table class=\"kv\"><tbody>\n");
        Kv(h, "Run id", model.RunId);
        Kv(h, "Started", model.StartedAt.ToUniversalTime().ToString("yyyy-MM-dd HH:mm:ss.fff 'UTC'", Inv));
        Kv(h, "Duration", FormatDuration(model.Duration));
        foreach (var (key, value) in model.Figures) Kv(h, key, value);
        h.Append("</tbody></table>\n");

        h.Append("<h3>Tables</h3>\n<table><thead><tr><th>table</th><th>read</th><th>clean</th><th>duplicates</th><th>rejects</th><th>read = clean + duplicates + rejects</th></tr></thead><tbody>\n");
        foreach (var t in model.Tables)
        {
            h.Append("<tr><td>").Append(E(t.Table)).Append("</td>");
            foreach (var n in new[] { t.Read, t.Clean, t.Duplicates, t.Rejects })
                h.Append("<td class=\"num\">").Append(E(n.ToString("N0", Inv))).Append("</td>");
            h.Append(t.Reconciles ? "<td class=\"ok\">yes</td>" : "<td class=\"bad\">NO</td>").Append("</tr>\n");
        }
        if (model.Tables.Count == 0) h.Append("<tr><td colspan=\"6\">no tables</td></tr>\n");
        h.Append("</tbody></table></section>\n");
    }

    private static void Kv(StringBuilder h, string key, string? value) =>
        h.Append("<tr><th>").Append(E(key)).Append("</th><td>").Append(E(value)).Append("</td></tr>\n");

    private static void AppendQuality(StringBuilder h, IReadOnlyList<QualityFigure> quality)
    {
        h.Append("<section id=\"quality\"><h2>Quality</h2>\n<p>Values each cleaning rule nulled or converted, per table and column; rows <code>(record)</code> count the records rejected, by kind of reason (the reject tables hold each one with its reason and origin).</p>\n")
         .Append("<table><thead><tr><th>table</th><th>column</th><th>rule</th><th>count</th></tr></thead><tbody>\n");
        foreach (var q in quality)
            h.Append("<tr><td>").Append(E(q.Table)).Append("</td><td>").Append(E(q.Column)).Append("</td><td>").Append(E(q.Rule))
             .Append("</td><td class=\"num\">").Append(E(q.Count.ToString("N0", Inv))).Append("</td></tr>\n");
        if (quality.Count == 0) h.Append("<tr><td colspan=\"4\">no quality figures</td></tr>\n");
        h.Append("</tbody></table></section>\n");
    }

    private static void AppendInsight(StringBuilder h, InsightResult r)
    {
        h.Append("<section id=\"insight-").Append(r.Number.ToString(Inv)).Append("\" class=\"insight\"><h2>#")
         .Append(r.Number.ToString(Inv)).Append(' ').Append(E(r.Title)).Append("</h2>\n");
        h.Append("<p class=\"note\">").Append(E(r.Rows.Count.ToString("N0", Inv))).Append(r.Rows.Count == 1 ? " row" : " rows")
         .Append(" · files <code>").Append(E(r.FileStem)).Append(".csv</code>, <code>").Append(E(r.FileStem)).Append(".json</code></p>\n");

        if (r.Number == 9 && r.Columns.Count == 3 && r.Rows.Count > 0 && r.Rows.All(row => Number(row[2]) is not null))
            AppendGroupedChart(h, r);
        else
            AppendBarChart(h, r);

        h.Append(r.Rows.Count > ScrollRows ? "<div class=\"scroll\">" : "<div>")
         .Append("<table><thead><tr>");
        foreach (var c in r.Columns) h.Append("<th>").Append(E(c)).Append("</th>");
        h.Append("</tr></thead><tbody>\n");
        foreach (var row in r.Rows)
        {
            h.Append("<tr>");
            foreach (var v in row)
                h.Append(v is string or null ? "<td>" : "<td class=\"num\">").Append(v is null ? "<span class=\"null\">null</span>" : E(CellText(v))).Append("</td>");
            h.Append("</tr>\n");
        }
        if (r.Rows.Count == 0) h.Append("<tr><td colspan=\"").Append(Math.Max(1, r.Columns.Count).ToString(Inv)).Append("\">no rows</td></tr>\n");
        h.Append("</tbody></table></div></section>\n");
    }

    /// <summary>Horizontal bars: value = the last column, label = the other columns.</summary>
    private static void AppendBarChart(StringBuilder h, InsightResult r)
    {
        var valueIndex = r.Columns.Count - 1;
        var bars = r.Rows
            .Select(row => (Label: string.Join(" · ", row.Take(valueIndex).Select(v => v is null ? "null" : CellText(v))), Value: valueIndex >= 0 ? Number(row[valueIndex]) : null))
            .Where(b => b.Value is not null)
            .Select(b => (b.Label, Value: b.Value!.Value))
            .ToList();

        if (bars.Count == 0)
        {
            h.Append("<svg class=\"chart\" width=\"760\" height=\"40\" viewBox=\"0 0 760 40\" role=\"img\" aria-label=\"no data\"><text x=\"10\" y=\"25\" class=\"muted\">")
             .Append(r.Rows.Count == 0 ? "no rows" : "no numeric values to chart").Append("</text></svg>\n");
            return;
        }
        if (bars.Count > TopBars)
        {
            h.Append("<p class=\"note\">Chart: top ").Append(TopBars.ToString(Inv)).Append(" of ").Append(E(bars.Count.ToString("N0", Inv)))
             .Append(" by ").Append(E(r.Columns[valueIndex])).Append("; the table lists all.</p>\n");
            bars = bars.OrderByDescending(b => b.Value).ThenBy(b => b.Label, StringComparer.Ordinal).Take(TopBars).ToList();
        }

        const int width = 760, labelWidth = 320, barX = 330, barMax = 330, rowH = 22, top = 6;
        var height = top * 2 + bars.Count * rowH;
        var max = bars.Max(b => b.Value);
        h.Append("<svg class=\"chart\" width=\"").Append(width.ToString(Inv)).Append("\" height=\"").Append(height.ToString(Inv))
         .Append("\" viewBox=\"0 0 ").Append(width.ToString(Inv)).Append(' ').Append(height.ToString(Inv))
         .Append("\" role=\"img\" aria-label=\"").Append(E(r.Title)).Append("\">\n");
        for (var i = 0; i < bars.Count; i++)
        {
            var (label, value) = bars[i];
            var y = top + i * rowH;
            var w = max > 0 ? Math.Max(0, value) / max * barMax : 0;
            h.Append("<g><title>").Append(E(label)).Append(": ").Append(E(ChartNumber(value))).Append("</title>")
             .Append("<text x=\"").Append((labelWidth).ToString(Inv)).Append("\" y=\"").Append(F(y + 15)).Append("\" text-anchor=\"end\">").Append(E(Truncate(label))).Append("</text>")
             .Append("<rect x=\"").Append(barX.ToString(Inv)).Append("\" y=\"").Append(F(y + 3)).Append("\" width=\"").Append(F(w)).Append("\" height=\"16\" fill=\"").Append(Palette[0]).Append("\"/>")
             .Append("<text x=\"").Append(F(barX + w + 5)).Append("\" y=\"").Append(F(y + 15)).Append("\">").Append(E(ChartNumber(value))).Append("</text></g>\n");
        }
        h.Append("</svg>\n");
    }

    /// <summary>Vertical grouped bars for #9: one group per join year (second column), one bar per age group (first column).</summary>
    private static void AppendGroupedChart(StringBuilder h, InsightResult r)
    {
        var series = r.Rows.Select(row => CellOrNull(row[0])).Distinct().ToList();
        var groups = r.Rows.Select(row => CellOrNull(row[1])).Distinct().Order(StringComparer.Ordinal).ToList();
        var values = r.Rows.ToDictionary(row => (CellOrNull(row[0]), CellOrNull(row[1])), row => Number(row[2])!.Value);
        var max = values.Values.Max();

        const int width = 760, left = 70, right = 10, top = 34, plotH = 220, bottom = 30;
        var height = top + plotH + bottom;
        var groupW = (double)(width - left - right) / groups.Count;
        var barW = Math.Min(28, (groupW - 12) / series.Count);
        h.Append("<svg class=\"chart\" width=\"").Append(width.ToString(Inv)).Append("\" height=\"").Append(height.ToString(Inv))
         .Append("\" viewBox=\"0 0 ").Append(width.ToString(Inv)).Append(' ').Append(height.ToString(Inv))
         .Append("\" role=\"img\" aria-label=\"").Append(E(r.Title)).Append("\">\n");

        // Legend: one swatch per series (age group).
        for (var s = 0; s < series.Count; s++)
        {
            var x = left + s * 110;
            h.Append("<rect x=\"").Append(F(x)).Append("\" y=\"8\" width=\"12\" height=\"12\" fill=\"").Append(Palette[s % Palette.Length]).Append("\"/>")
             .Append("<text x=\"").Append(F(x + 16)).Append("\" y=\"19\">").Append(E(Truncate(series[s], 14))).Append("</text>\n");
        }
        // Axis: zero line and the maximum.
        h.Append("<line x1=\"").Append(F(left)).Append("\" y1=\"").Append(F(top + plotH)).Append("\" x2=\"").Append(F(width - right)).Append("\" y2=\"").Append(F(top + plotH)).Append("\" class=\"axis\"/>")
         .Append("<text x=\"").Append(F(left - 6)).Append("\" y=\"").Append(F(top + 10)).Append("\" text-anchor=\"end\" class=\"muted\">").Append(E(ChartNumber(max))).Append("</text>")
         .Append("<text x=\"").Append(F(left - 6)).Append("\" y=\"").Append(F(top + plotH)).Append("\" text-anchor=\"end\" class=\"muted\">0</text>\n");

        for (var g = 0; g < groups.Count; g++)
        {
            var gx = left + g * groupW;
            var startX = gx + (groupW - barW * series.Count) / 2;
            for (var s = 0; s < series.Count; s++)
            {
                if (!values.TryGetValue((series[s], groups[g]), out var v)) continue;
                var bh = max > 0 ? Math.Max(0, v) / max * plotH : 0;
                var x = startX + s * barW;
                h.Append("<g><title>").Append(E(series[s])).Append(" · ").Append(E(groups[g])).Append(": ").Append(E(ChartNumber(v))).Append("</title>")
                 .Append("<rect x=\"").Append(F(x)).Append("\" y=\"").Append(F(top + plotH - bh)).Append("\" width=\"").Append(F(barW - 2)).Append("\" height=\"").Append(F(bh))
                 .Append("\" fill=\"").Append(Palette[s % Palette.Length]).Append("\"/>")
                 .Append("<text x=\"").Append(F(x + (barW - 2) / 2)).Append("\" y=\"").Append(F(top + plotH - bh - 3)).Append("\" text-anchor=\"middle\" class=\"small\">")
                 .Append(E(ChartNumber(v))).Append("</text></g>\n");
            }
            h.Append("<text x=\"").Append(F(gx + groupW / 2)).Append("\" y=\"").Append(F(top + plotH + 18)).Append("\" text-anchor=\"middle\">").Append(E(groups[g])).Append("</text>\n");
        }
        h.Append("</svg>\n");
    }

    private static string CellOrNull(object? v) => v is null ? "null" : CellText(v);

    /// <summary>Table cell text: years (int) plain, other numbers with thousands separators.</summary>
    private static string CellText(object v) => v switch
    {
        int i => i.ToString(Inv),
        long or short or byte or uint or ulong or decimal => ((IFormattable)v).ToString("N0", Inv),
        _ => InsightFiles.Format(v),
    };

    private static double? Number(object? v) => v switch
    {
        int i => i,
        long l => l,
        short s => s,
        byte b => b,
        uint u => u,
        ulong u => u,
        double d when double.IsFinite(d) => d,
        float f when float.IsFinite(f) => f,
        decimal m => (double)m,
        _ => null,
    };

    private static string ChartNumber(double v) =>
        v == Math.Floor(v) && Math.Abs(v) < 1e15 ? v.ToString("N0", Inv) : v.ToString("N2", Inv);

    private static string F(double v) => Math.Round(v, 1).ToString("0.#", Inv);

    private static string Truncate(string s, int max = MaxLabel)
    {
        if (s.Length <= max) return s;
        var cut = max - 1;
        if (char.IsHighSurrogate(s[cut - 1])) cut--;
        return string.Concat(s.AsSpan(0, cut), "…");
    }

    private static string FormatDuration(TimeSpan d) =>
        d.TotalHours >= 1 ? d.ToString(@"h\:mm\:ss", Inv)
        : d.TotalMinutes >= 1 ? d.ToString(@"m\:ss", Inv)
        : d.TotalSeconds.ToString("0.000", Inv) + " s";

    /// <summary>Encodes the five characters that matter in HTML text and quoted attributes; other text (UTF-8) stays as is.</summary>
    internal static string E(string? s)
    {
        if (string.IsNullOrEmpty(s)) return "";
        if (s.AsSpan().IndexOfAny("<>&\"'") < 0) return s;
        var sb = new StringBuilder(s.Length + 16);
        foreach (var c in s)
        {
            switch (c)
            {
                case '<': sb.Append("&lt;"); break;
                case '>': sb.Append("&gt;"); break;
                case '&': sb.Append("&amp;"); break;
                case '"': sb.Append("&quot;"); break;
                case '\'': sb.Append("&#39;"); break;
                default: sb.Append(c); break;
            }
        }
        return sb.ToString();
    }

    private const string Css = """

        body{font:14px/1.4 system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;margin:0;color:#222;background:#fafafa}
        header{background:#20303f;color:#fff;padding:12px 24px}
        header h1{margin:0 0 4px;font-size:20px}
        header a{color:#cde}
        main{padding:8px 24px 40px;max-width:1000px}
        section{background:#fff;border:1px solid #ddd;border-radius:6px;padding:8px 16px 16px;margin:16px 0}
        h2{font-size:17px;margin:8px 0}
        h3{font-size:15px;margin:12px 0 6px}
        table{border-collapse:collapse;margin-top:8px}
        th,td{border-bottom:1px solid #eee;padding:3px 10px;text-align:left;vertical-align:top}
        thead th{background:#f0f3f6;position:sticky;top:0}
        td.num{text-align:right;font-variant-numeric:tabular-nums}
        td.ok{color:#2a7a2a}
        td.bad{color:#b00020;font-weight:bold}
        .kv th{font-weight:normal;color:#555}
        .scroll{max-height:420px;overflow:auto;border:1px solid #eee}
        .note,.muted{color:#666;fill:#666;font-size:12px}
        .null{color:#999;font-style:italic}
        svg.chart{display:block;max-width:100%;height:auto;font-size:12px;margin:6px 0}
        svg.chart text{fill:#333}
        svg.chart .axis{stroke:#999}
        svg.chart .small{font-size:10px}

        """;
}
