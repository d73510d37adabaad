using Spectre.Console;
using Spectre.Console.Rendering;

namespace PinPipe.Cli;

/// <summary>
/// Shows live figures while work runs: a table redrawn in place on a terminal, or a plain line every
/// few seconds on stderr when the output is redirected (CI logs, pipes).
/// </summary>
internal static class LiveDisplay
{
    /// <summary>Runs <paramref name="work"/> while redrawing <paramref name="render"/>; draws it once more at the end.</summary>
    public static async Task<T> RunAsync<T>(Func<Table> render, Func<string> line, Func<Task<T>> work)
    {
        if (!Console.IsErrorRedirected && !Console.IsOutputRedirected && AnsiConsole.Profile.Capabilities.Interactive)
        {
            T result = default!;
            await AnsiConsole.Live(render()).AutoClear(false).StartAsync(async ctx =>
            {
                var task = work();
                while (!task.IsCompleted)
                {
                    await Task.WhenAny(task, Task.Delay(250)).ConfigureAwait(false);
                    ctx.UpdateTarget(render());
                }
                result = await task.ConfigureAwait(false);
                ctx.UpdateTarget(render());
            }).ConfigureAwait(false);
            return result;
        }

        var running = work();
        while (!running.IsCompleted)
        {
            await Task.WhenAny(running, Task.Delay(TimeSpan.FromSeconds(2))).ConfigureAwait(false);
            await Console.Error.WriteLineAsync(line()).ConfigureAwait(false);
        }
        return await running.ConfigureAwait(false);
    }

    public static Table Table(params string[] columns)
    {
        var table = new Table().Border(TableBorder.Rounded);
        foreach (var c in columns) table.AddColumn(new TableColumn(c).RightAligned());
        table.Columns[0].LeftAligned();
        return table;
    }

    public static string N(double value) => value.ToString("N0", System.Globalization.CultureInfo.InvariantCulture);

    public static string Eta(TimeSpan? eta) => eta is { } e ? (e.TotalHours >= 1 ? e.ToString(@"h\:mm\:ss", System.Globalization.CultureInfo.InvariantCulture) : e.ToString(@"m\:ss", System.Globalization.CultureInfo.InvariantCulture)) : "-";
}
