namespace PinPipe.Insights;

/// <summary>The rows one insight query returned, with what is needed to name, write and show them.</summary>
/// <param name="Number">1 to 9, as numbered in SPEC §5.</param>
/// <param name="Name">File-friendly name (<c>popular-category-per-country</c>).</param>
/// <param name="Title">Human title (<c>Most popular category per country</c>).</param>
/// <param name="Columns">Column names, as SPEC §5's table.</param>
/// <param name="Rows">One array per row, one value per column: <see cref="string"/>, <see cref="int"/> (years),
/// <see cref="long"/> (counts, follower counts) or null.</param>
public sealed record InsightResult(int Number, string Name, string Title, IReadOnlyList<string> Columns, IReadOnlyList<object?[]> Rows)
{
    /// <summary><c>&lt;nn&gt;-&lt;name&gt;</c>, the base name of this insight's output files (<c>01-popular-category-per-country</c>).</summary>
    public string FileStem => $"{Number:00}-{Name}";
}
