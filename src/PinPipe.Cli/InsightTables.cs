using System.Globalization;
using PinPipe.Insights;
using Spectre.Console;

namespace PinPipe.Cli;

/// <summary>Prints insight results on the terminal, one table each, the longest cut to a number of rows.</summary>
internal static class InsightTables
{
    /// <summary>Writes each insight as a line <c>#n title</c> and a table; beyond <paramref name="maxRows"/> rows a note says how many more there are.</summary>
    public static void Write(IAnsiConsole console, IReadOnlyList<InsightResult> results, int maxRows = 20)
    {
        ArgumentNullException.ThrowIfNull(console);
        ArgumentNullException.ThrowIfNull(results);
        ArgumentOutOfRangeException.ThrowIfNegative(maxRows);

        foreach (var result in results)
        {
            // The title goes on its own line: as a table title it would wrap to the width of a narrow table.
            console.WriteLine();
            console.Write(new Text($"#{result.Number} {result.Title}", new Style(decoration: Decoration.Bold)));
            console.WriteLine();
            var table = new Table().Border(TableBorder.Rounded);
            for (var c = 0; c < result.Columns.Count; c++)
            {
                var column = new TableColumn(new Text(result.Columns[c]));
                if (result.Rows.Count > 0 && result.Rows.All(r => c < r.Length && r[c] is not (string or null))) column.RightAligned();
                table.AddColumn(column);
            }
            foreach (var row in result.Rows.Take(maxRows))
                table.AddRow(row.Select(v => v is null ? new Text("null", new Style(decoration: Decoration.Dim)) : new Text(Cell(v))).ToArray());

            var more = result.Rows.Count - maxRows;
            if (result.Rows.Count == 0) table.Caption(new TableTitle("no rows"));
            else if (more > 0) table.Caption(new TableTitle(Markup.Escape($"… {more.ToString("N0", CultureInfo.InvariantCulture)} more rows")));
            console.Write(table);
        }
    }

    private static string Cell(object v) => v switch
    {
        int i => i.ToString(CultureInfo.InvariantCulture),
        long l => l.ToString("N0", CultureInfo.InvariantCulture),
        IFormattable f => f.ToString(null, CultureInfo.InvariantCulture),
        _ => v.ToString() ?? "",
    };
}
