namespace PinPipe.Insights;

/// <summary>What the HTML report of one batch run shows (see <see cref="HtmlReport"/>).</summary>
/// <param name="RunId">The run's id.</param>
/// <param name="StartedAt">When the run started.</param>
/// <param name="Duration">How long it took.</param>
/// <param name="Tables">Per clean table: records read, clean rows, duplicates dropped, rejects.</param>
/// <param name="Quality">Per table, column and cleaning rule: how many values the rule nulled or converted.</param>
/// <param name="Insights">The insight results, in order.</param>
/// <param name="Figures">Further figures of the run, shown as given (e.g. <c>Read MB/s</c>, <c>Bytes read</c>, <c>Objects read</c>).</param>
public sealed record ReportModel(
    string RunId,
    DateTimeOffset StartedAt,
    TimeSpan Duration,
    IReadOnlyList<TableFigures> Tables,
    IReadOnlyList<QualityFigure> Quality,
    IReadOnlyList<InsightResult> Insights,
    IReadOnlyList<KeyValuePair<string, string>> Figures);

/// <summary>How one table's records reconcile in a run: <c>Read = Clean + Duplicates + Rejects</c> (SPEC §4).</summary>
public sealed record TableFigures(string Table, long Read, long Clean, long Duplicates, long Rejects)
{
    /// <summary>Whether the counts add up.</summary>
    public bool Reconciles => Read == Clean + Duplicates + Rejects;
}

/// <summary>How many values one cleaning rule nulled or converted in one column of one table during a run.</summary>
public sealed record QualityFigure(string Table, string Column, string Rule, long Count);
