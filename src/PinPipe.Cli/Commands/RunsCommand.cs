using System.CommandLine;
using System.Globalization;
using PinPipe.Scheduling;
using Spectre.Console;

namespace PinPipe.Cli.Commands;

/// <summary><c>pinpipe runs</c>: the latest attempts of batch runs, scheduled and manual, newest first, as a table.</summary>
internal static class RunsCommand
{
    public static Command Create(GlobalOptions global)
    {
        var command = new Command("runs", "Show the latest batch runs, newest first: scheduled runs (`pinpipe schedule`: run id scheduled__<time>, one row per attempt) and manual runs (`pinpipe batch` and the batch job of `pinpipe up`: run id manual__<time>), with their outcome and error.");
        var flags = new ConfigFlags();
        ScheduleCommand.AddHistoryFlag(command, flags);
        var limit = WholeNumberOption.Create("--limit", "How many attempts to show.", 20, 1, "at least 1", "-n");
        command.Options.Add(limit);
        command.SetAction((parse, ct) => CliRunner.RunAsync(parse, global, flags, async (ctx, token) =>
        {
            var path = ctx.Settings.Schedule.HistoryPath;
            IReadOnlyList<RunRecord> runs = [];
            // Reading must not create the history (or the data folder).
            if (File.Exists(path))
            {
                using var history = RunHistory.Open(path);
                runs = history.Latest(parse.GetValue(limit));
            }
            if (runs.Count == 0)
            {
                await ctx.Out.WriteLineAsync($"No runs recorded yet in {path}.").ConfigureAwait(false);
                return ExitCodes.Ok;
            }
            Print(ctx.Out, runs);
            return ExitCodes.Ok;
        }, ct));
        return command;
    }

    private static void Print(TextWriter output, IReadOnlyList<RunRecord> runs)
    {
        var console = AnsiConsole.Create(new AnsiConsoleSettings { Out = new AnsiConsoleOutput(output) });
        // Piped output keeps one row per line rather than wrapping at 80 columns.
        if (Console.IsOutputRedirected) console.Profile.Width = 240;
        var table = new Table().Border(TableBorder.Rounded);
        foreach (var c in new[] { "run id", "scheduled (UTC)", "attempt", "started (UTC)", "duration", "outcome", "error" }) table.AddColumn(c);
        table.Columns[2].RightAligned();
        table.Columns[4].RightAligned();
        foreach (var r in runs)
        {
            table.AddRow(
                new Text(r.RunId),
                new Text(Time(r.ScheduledAt)),
                new Text(r.Attempt.ToString(CultureInfo.InvariantCulture)),
                new Text(Time(r.StartedAt)),
                new Text(r.EndedAt is { } end ? Duration(end - r.StartedAt) : "-"),
                new Text(r.Outcome.ToString().ToLowerInvariant(), new Style(Colour(r.Outcome))),
                new Text(r.Error ?? ""));
        }
        console.Write(table);
    }

    private static string Time(DateTimeOffset t) => t.UtcDateTime.ToString("yyyy-MM-dd HH:mm:ss", CultureInfo.InvariantCulture);

    private static string Duration(TimeSpan d) =>
        d.TotalHours >= 1 ? d.ToString(@"h\:mm\:ss", CultureInfo.InvariantCulture)
        : d.TotalMinutes >= 1 ? d.ToString(@"m\:ss", CultureInfo.InvariantCulture)
        : d.TotalSeconds.ToString("0.0", CultureInfo.InvariantCulture) + " s";

    private static Color Colour(RunOutcome outcome) => outcome switch
    {
        RunOutcome.Succeeded => Color.Green,
        RunOutcome.Failed or RunOutcome.Interrupted => Color.Red,
        RunOutcome.Cancelled => Color.Yellow,
        _ => Color.Default,
    };
}
