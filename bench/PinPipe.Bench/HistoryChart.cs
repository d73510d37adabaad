using System.Globalization;
using System.Net;
using System.Text;

namespace PinPipe.Bench;

/// <summary>A curve of the history chart: its points, (day, seconds).</summary>
internal sealed record ChartSeries(string Name, string Color, IReadOnlyList<(int Day, double Seconds)> Points);

/// <summary>A line chart as standalone SVG: days 1..D on x, seconds on y from 0, a polyline and dots per series, a legend below.</summary>
internal static class HistoryChart
{
    private const int Width = 800, Height = 440, Left = 70, Right = 20, Top = 40, Bottom = 80;

    public static string Svg(string title, int days, IReadOnlyList<ChartSeries> series)
    {
        double max = series.SelectMany(s => s.Points).Select(p => p.Seconds).DefaultIfEmpty(1).Max();
        double step = NiceStep(max / 5);
        double top = Math.Max(step, Math.Ceiling(max / step) * step);
        double plotW = Width - Left - Right, plotH = Height - Top - Bottom;
        double X(int day) => Left + (days <= 1 ? plotW / 2 : (day - 1) * plotW / (days - 1));
        double Y(double seconds) => Top + plotH - seconds / top * plotH;
        string F(double v) => v.ToString("0.#", CultureInfo.InvariantCulture);

        var svg = new StringBuilder();
        svg.Append(CultureInfo.InvariantCulture, $"""<svg xmlns="http://www.w3.org/2000/svg" width="{Width}" height="{Height}" viewBox="0 0 {Width} {Height}" font-family="sans-serif" font-size="12">""").Append('\n');
        svg.Append(CultureInfo.InvariantCulture, $"""<rect width="{Width}" height="{Height}" fill="white"/>""").Append('\n');
        svg.Append(CultureInfo.InvariantCulture, $"""<text x="{Width / 2}" y="22" text-anchor="middle" font-size="15">{WebUtility.HtmlEncode(title)}</text>""").Append('\n');
        for (double v = 0; v <= top + step / 2; v += step)
        {
            svg.Append(CultureInfo.InvariantCulture, $"""<line x1="{Left}" y1="{F(Y(v))}" x2="{Width - Right}" y2="{F(Y(v))}" stroke="#ddd"/>""");
            svg.Append(CultureInfo.InvariantCulture, $"""<text x="{Left - 6}" y="{F(Y(v) + 4)}" text-anchor="end">{v.ToString("0.##", CultureInfo.InvariantCulture)}</text>""").Append('\n');
        }
        int dayStep = Math.Max(1, (int)Math.Ceiling(days / 15.0));
        for (int d = 1; d <= days; d++)
        {
            if (d != 1 && d != days && d % dayStep != 0) continue;
            svg.Append(CultureInfo.InvariantCulture, $"""<text x="{F(X(d))}" y="{Top + plotH + 18}" text-anchor="middle">{d}</text>""").Append('\n');
        }
        svg.Append(CultureInfo.InvariantCulture, $"""<line x1="{Left}" y1="{Top + plotH}" x2="{Width - Right}" y2="{Top + plotH}" stroke="black"/><line x1="{Left}" y1="{Top}" x2="{Left}" y2="{Top + plotH}" stroke="black"/>""").Append('\n');
        svg.Append(CultureInfo.InvariantCulture, $"""<text x="{Left + plotW / 2}" y="{Top + plotH + 36}" text-anchor="middle">day</text>""");
        svg.Append(CultureInfo.InvariantCulture, $"""<text x="16" y="{Top + plotH / 2}" text-anchor="middle" transform="rotate(-90 16 {Top + plotH / 2})">seconds</text>""").Append('\n');

        for (int i = 0; i < series.Count; i++)
        {
            var s = series[i];
            var points = s.Points.OrderBy(p => p.Day).ToArray();
            if (points.Length > 1)
                svg.Append(CultureInfo.InvariantCulture, $"""<polyline fill="none" stroke="{s.Color}" stroke-width="2" points="{string.Join(' ', points.Select(p => $"{F(X(p.Day))},{F(Y(p.Seconds))}"))}"/>""").Append('\n');
            foreach (var p in points)
                svg.Append(CultureInfo.InvariantCulture, $"""<circle cx="{F(X(p.Day))}" cy="{F(Y(p.Seconds))}" r="3.5" fill="{s.Color}"><title>{WebUtility.HtmlEncode(s.Name)}, day {p.Day}: {p.Seconds.ToString("0.0", CultureInfo.InvariantCulture)} s</title></circle>""").Append('\n');
            double lx = Left + i * plotW / series.Count, ly = Height - 16;
            svg.Append(CultureInfo.InvariantCulture, $"""<line x1="{F(lx)}" y1="{F(ly)}" x2="{F(lx + 24)}" y2="{F(ly)}" stroke="{s.Color}" stroke-width="2"/><text x="{F(lx + 30)}" y="{F(ly + 4)}">{WebUtility.HtmlEncode(s.Name)}{(points.Length == 0 ? " (not run)" : "")}</text>""").Append('\n');
        }
        svg.Append("</svg>\n");
        return svg.ToString();
    }

    /// <summary>1, 2 or 5 times a power of ten, at least <paramref name="rough"/>.</summary>
    private static double NiceStep(double rough)
    {
        if (!(rough > 0)) return 1;
        double power = Math.Pow(10, Math.Floor(Math.Log10(rough)));
        foreach (double m in new[] { 1.0, 2.0, 5.0, 10.0 })
            if (m * power >= rough) return m * power;
        return 10 * power;
    }
}
