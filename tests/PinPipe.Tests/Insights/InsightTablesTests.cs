using PinPipe.Cli;
using PinPipe.Insights;
using Spectre.Console;

namespace PinPipe.Tests.Insights;

public sealed class InsightTablesTests
{
    private static string Render(IReadOnlyList<InsightResult> results, int maxRows)
    {
        using var writer = new StringWriter();
        var console = AnsiConsole.Create(new AnsiConsoleSettings
        {
            Ansi = AnsiSupport.No,
            ColorSystem = ColorSystemSupport.NoColors,
            Interactive = InteractionSupport.No,
            Out = new AnsiConsoleOutput(writer),
        });
        console.Profile.Width = 160;
        InsightTables.Write(console, results, maxRows);
        return writer.ToString();
    }

    [Fact]
    public void Each_insight_is_a_titled_table_cut_to_max_rows_with_a_note_of_the_rest()
    {
        var q1 = InsightQueries.PopularCategoryPerCountry;
        var countries = new InsightResult(q1.Number, q1.Name, q1.Title, q1.Columns,
            Enumerable.Range(0, 25).Select(i => new object?[] { $"Country {i:00}", "art", 1_000L + i }).ToList());
        var q7 = InsightQueries.UsersJoinedPerYear;
        var years = new InsightResult(q7.Number, q7.Name, q7.Title, q7.Columns, [[2015, 12_345L], [2016, null]]);

        var text = Render([countries, years], maxRows: 20);

        Assert.Contains("#1 Most popular category per country", text, StringComparison.Ordinal);
        Assert.Contains("#7 Users joined per join year, 2015–2020", text, StringComparison.Ordinal);
        Assert.True(text.IndexOf("#1 ", StringComparison.Ordinal) < text.IndexOf("#7 ", StringComparison.Ordinal));
        foreach (var column in q1.Columns.Concat(q7.Columns)) Assert.Contains(column, text, StringComparison.Ordinal);
        Assert.Contains("Country 19", text, StringComparison.Ordinal);
        Assert.Contains("1,019", text, StringComparison.Ordinal);
        Assert.DoesNotContain("Country 20", text, StringComparison.Ordinal);
        Assert.Contains("… 5 more rows", text, StringComparison.Ordinal);
        Assert.Contains("2015", text, StringComparison.Ordinal);
        Assert.DoesNotContain("2,015", text, StringComparison.Ordinal);
        Assert.Contains("12,345", text, StringComparison.Ordinal);
        Assert.Contains("null", text, StringComparison.Ordinal);
        Assert.Single(System.Text.RegularExpressions.Regex.Matches(text, "more rows"));
    }

    [Fact]
    public void Values_that_look_like_markup_are_printed_as_they_are()
    {
        var q = InsightQueries.TopPosterCountry;
        var result = new InsightResult(q.Number, q.Name, q.Title, q.Columns, [["[red]Côte d'Ivoire[/]", 5L]]);

        var text = Render([result], maxRows: 20);

        Assert.Contains("[red]Côte d'Ivoire[/]", text, StringComparison.Ordinal);
    }

    [Fact]
    public void An_empty_result_says_no_rows()
    {
        var q = InsightQueries.TopPosterCountry;
        var text = Render([new InsightResult(q.Number, q.Name, q.Title, q.Columns, [])], maxRows: 20);

        Assert.Contains("#4 Country of the poster with the most followers overall", text, StringComparison.Ordinal);
        Assert.Contains("no rows", text, StringComparison.Ordinal);
    }
}
