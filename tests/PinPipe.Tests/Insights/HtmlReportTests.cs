using System.Text.RegularExpressions;
using PinPipe.Insights;
using PinPipe.Tests.Support;

namespace PinPipe.Tests.Insights;

public sealed class HtmlReportTests
{
    private const string Evil = "<script>alert(\"x\")</script>";

    private static InsightResult Result(int number, params object?[][] rows)
    {
        var q = InsightQueries.All[number - 1];
        return new InsightResult(q.Number, q.Name, q.Title, q.Columns, rows);
    }

    /// <summary>Nine results shaped as the real ones; #1 has 250 countries, one of them named like a script tag.</summary>
    private static ReportModel Model()
    {
        var countries = Enumerable.Range(0, 249).Select(i => new object?[] { $"Country {i:000}", "art", (long)i })
            .Append([Evil, "beauty", 1_000L]).ToArray();
        IReadOnlyList<InsightResult> insights =
        [
            Result(1, countries),
            Result(2, [2018, "beauty", 20L], [2019, "art", 30L], [2022, "travel", 5L]),
            Result(3, ["Côte d'Ivoire", "Ann \"the\" Poster", 5_000L], ["Korea, Republic of", "Bo", 2_000_000L]),
            Result(4, ["Korea, Republic of", 2_000_000L]),
            Result(5, ["+50", "art", 4L], ["18-24", "beauty", 9L]),
            Result(6, ["+50", 120L], ["18-24", 80L], ["25-35", 0L], ["36-50", 15L]),
            Result(7, [2015, 100L], [2016, 120L]),
            Result(8, [2015, 50L], [2020, 75L]),
            Result(9, ["+50", 2015, 60L], ["18-24", 2015, 2L], ["18-24", 2020, 9L], ["25-35", 2018, 2L], ["36-50", 2016, 6L]),
        ];
        return new ReportModel(
            RunId: "run-20240101-000000",
            StartedAt: new DateTimeOffset(2024, 1, 1, 1, 2, 3, TimeSpan.FromHours(1)),
            Duration: TimeSpan.FromSeconds(12.5),
            Tables:
            [
                new TableFigures("pin", 1_200, 1_000, 150, 50),
                new TableFigures("geo", 1_000, 990, 10, 0),
                new TableFigures("user", 10, 5, 1, 1),
            ],
            Quality:
            [
                new QualityFigure("pin", "follower_count", "suffix_converted", 321),
                new QualityFigure("pin", "title", Evil, 7),
            ],
            Insights: insights,
            Figures: [new("Read MB/s", "87.5"), new("Bytes read", "1,234,567")]);
    }

    private static Dictionary<int, string> Sections(string html) =>
        Regex.Matches(html, "<section id=\"insight-(\\d+)\".*?</section>", RegexOptions.Singleline)
            .ToDictionary(m => int.Parse(m.Groups[1].Value, System.Globalization.CultureInfo.InvariantCulture), m => m.Value);

    private static int Count(string text, string what) => Regex.Count(text, Regex.Escape(what));

    [Fact]
    public void Every_insight_has_a_section_with_a_chart_and_its_table()
    {
        var html = HtmlReport.Render(Model());

        var sections = Sections(html);
        Assert.Equal(Enumerable.Range(1, 9), sections.Keys.Order());
        foreach (var (number, section) in sections)
        {
            Assert.True(Count(section, "<svg") == 1, $"insight #{number} has one chart");
            Assert.True(Count(section, "<table>") == 1, $"insight #{number} has one table");
            Assert.Contains(HtmlReport.E(InsightQueries.All[number - 1].Title), section, StringComparison.Ordinal);
            foreach (var column in InsightQueries.All[number - 1].Columns)
                Assert.Contains($"<th>{column}</th>", section, StringComparison.Ordinal);
        }
        Assert.Equal(Count(html, "<svg"), Count(html, "</svg>"));
        Assert.Equal(Count(html, "<table>") + Count(html, "<table class=\"kv\">"), Count(html, "</table>"));
        Assert.Equal(Count(html, "<section"), Count(html, "</section>"));
    }

    [Fact]
    public void Values_are_html_encoded_and_no_script_gets_in()
    {
        var model = Model() with { RunId = "run <b>&" };

        var html = HtmlReport.Render(model);

        Assert.DoesNotContain("<script", html, StringComparison.OrdinalIgnoreCase);
        Assert.DoesNotContain("<b>", html, StringComparison.Ordinal);
        Assert.Contains("run &lt;b&gt;&amp;", html, StringComparison.Ordinal);
        var encoded = "&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt;";
        Assert.Contains($"<td>{encoded}</td>", Sections(html)[1], StringComparison.Ordinal);   // the country cell
        Assert.Contains($"<td>{encoded}</td>", html[html.IndexOf("id=\"quality\"", StringComparison.Ordinal)..], StringComparison.Ordinal);
        Assert.Contains("<td>Côte d&#39;Ivoire</td>", Sections(html)[3], StringComparison.Ordinal);
        Assert.Contains("<td>Ann &quot;the&quot; Poster</td>", Sections(html)[3], StringComparison.Ordinal);
        Assert.Contains("Korea, Republic of", Sections(html)[4], StringComparison.Ordinal);
    }

    [Fact]
    public void The_report_is_self_contained()
    {
        var html = HtmlReport.Render(Model());

        Assert.StartsWith("<!DOCTYPE html>", html, StringComparison.Ordinal);
        Assert.Contains("<style>", html, StringComparison.Ordinal);
        foreach (var outside in new[] { "src=", "href=\"http", "href=\"//", "<link", "<script", "@import", "url(", "http://", "https://", "<iframe", "<img" })
            Assert.DoesNotContain(outside, html, StringComparison.OrdinalIgnoreCase);
        // The only links are to the report's own sections.
        Assert.All(Regex.Matches(html, "href=\"([^\"]*)\"").Select(m => m.Groups[1].Value), href => Assert.StartsWith("#", href, StringComparison.Ordinal));
    }

    [Fact]
    public void A_long_result_charts_its_top_rows_with_a_note_and_tables_every_row()
    {
        var section = Sections(HtmlReport.Render(Model()))[1];

        Assert.Equal(HtmlReport.TopBars, Count(section, "<rect"));
        Assert.Contains("Chart: top 20 of 250 by category_count; the table lists all.", section, StringComparison.Ordinal);
        Assert.Equal(250 + 1, Count(section, "<tr>"));
        Assert.Contains("class=\"scroll\"", section, StringComparison.Ordinal);
        // The biggest value (1,000, the script-named country) is charted first; the smallest ones (0..229) are not.
        var svg = section[section.IndexOf("<svg", StringComparison.Ordinal)..section.IndexOf("</svg>", StringComparison.Ordinal)];
        Assert.Contains("&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt; · beauty: 1,000", svg, StringComparison.Ordinal);
        Assert.Contains("Country 248 · art: 248", svg, StringComparison.Ordinal);
        Assert.Contains("Country 230 · art: 230", svg, StringComparison.Ordinal);
        Assert.DoesNotContain("Country 229 ", svg, StringComparison.Ordinal);
        Assert.True(svg.IndexOf("beauty: 1,000", StringComparison.Ordinal) < svg.IndexOf("Country 248", StringComparison.Ordinal));
    }

    [Fact]
    public void Short_results_chart_one_bar_per_row_in_result_order()
    {
        var sections = Sections(HtmlReport.Render(Model()));

        var years = sections[2];
        Assert.Equal(3, Count(years, "<rect"));
        Assert.True(years.IndexOf("2018 · beauty: 20", StringComparison.Ordinal) < years.IndexOf("2019 · art: 30", StringComparison.Ordinal));
        Assert.True(years.IndexOf("2019 · art: 30", StringComparison.Ordinal) < years.IndexOf("2022 · travel: 5", StringComparison.Ordinal));
        Assert.Equal(4, Count(sections[6], "<rect"));
        Assert.Contains("<title>25-35: 0</title>", sections[6], StringComparison.Ordinal);
        Assert.Equal(1, Count(sections[4], "<rect"));
        Assert.Contains("Korea, Republic of: 2,000,000", sections[4], StringComparison.Ordinal);
        Assert.Contains("2,000,000", sections[3], StringComparison.Ordinal);
    }

    [Fact]
    public void Insight_9_is_a_grouped_bar_chart_with_a_legend_per_age_group()
    {
        var section = Sections(HtmlReport.Render(Model()))[9];

        // Four legend swatches (+50, 18-24, 25-35, 36-50) and five bars (one per row).
        Assert.Equal(4 + 5, Count(section, "<rect"));
        foreach (var group in new[] { "+50", "18-24", "25-35", "36-50" })
            Assert.Contains($"\">{group}</text>", section, StringComparison.Ordinal);
        foreach (var year in new[] { "2015", "2016", "2018", "2020" })
            Assert.Contains($"text-anchor=\"middle\">{year}</text>", section, StringComparison.Ordinal);
        Assert.Contains("<title>18-24 · 2020: 9</title>", section, StringComparison.Ordinal);
        Assert.Contains("<title>+50 · 2015: 60</title>", section, StringComparison.Ordinal);
    }

    [Fact]
    public void The_run_figures_and_quality_counts_are_shown()
    {
        var html = HtmlReport.Render(Model());

        var run = html[html.IndexOf("<section id=\"run\"", StringComparison.Ordinal)..html.IndexOf("<section id=\"quality\"", StringComparison.Ordinal)];
        Assert.Contains("<tr><th>Run id</th><td>run-20240101-000000</td></tr>", run, StringComparison.Ordinal);
        Assert.Contains("<tr><th>Started</th><td>2024-01-01 00:02:03.000 UTC</td></tr>", run, StringComparison.Ordinal);
        Assert.Contains("<tr><th>Duration</th><td>12.500 s</td></tr>", run, StringComparison.Ordinal);
        Assert.Contains("<tr><th>Read MB/s</th><td>87.5</td></tr>", run, StringComparison.Ordinal);
        Assert.Contains("<tr><td>pin</td><td class=\"num\">1,200</td><td class=\"num\">1,000</td><td class=\"num\">150</td><td class=\"num\">50</td><td class=\"ok\">yes</td></tr>", run, StringComparison.Ordinal);
        Assert.Contains("<tr><td>user</td><td class=\"num\">10</td><td class=\"num\">5</td><td class=\"num\">1</td><td class=\"num\">1</td><td class=\"bad\">NO</td></tr>", run, StringComparison.Ordinal);

        var quality = html[html.IndexOf("<section id=\"quality\"", StringComparison.Ordinal)..html.IndexOf("<section id=\"insight-1\"", StringComparison.Ordinal)];
        Assert.Contains("<tr><td>pin</td><td>follower_count</td><td>suffix_converted</td><td class=\"num\">321</td></tr>", quality, StringComparison.Ordinal);
    }

    [Fact]
    public void Empty_results_still_get_a_chart_saying_so()
    {
        var model = Model() with { Insights = InsightQueries.All.Select(q => new InsightResult(q.Number, q.Name, q.Title, q.Columns, [])).ToList() };

        var sections = Sections(HtmlReport.Render(model));

        Assert.Equal(9, sections.Count);
        Assert.All(sections.Values, s => Assert.Contains("no rows</text></svg>", s, StringComparison.Ordinal));
    }

    [Fact]
    public async Task WriteAsync_writes_the_rendered_report_creating_its_folder()
    {
        using var dir = new TempDirectory("html-report");
        var path = Path.Combine(dir.Path, "run-1", "report.html");
        var model = Model();

        await HtmlReport.WriteAsync(path, model);

        Assert.Equal(HtmlReport.Render(model), await File.ReadAllTextAsync(path));
    }
}
