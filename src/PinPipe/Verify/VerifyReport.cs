using System.Text.Json;
using System.Text.Json.Serialization;

namespace PinPipe.Verify;

/// <summary>What <see cref="PipelineVerifier"/> found: one <see cref="VerifyCheck"/> per stage pair and table or topic.</summary>
public sealed record VerifyReport(IReadOnlyList<VerifyCheck> Checks)
{
    /// <summary>True when no check found a problem.</summary>
    public bool Consistent => Checks.All(c => c.Problems == 0);

    /// <summary>Problems found by every check.</summary>
    public long Problems => Checks.Sum(c => c.Problems);

    private static readonly JsonSerializerOptions Json = new()
    {
        WriteIndented = true,
        PropertyNamingPolicy = JsonNamingPolicy.CamelCase,
        Encoder = System.Text.Encodings.Web.JavaScriptEncoder.UnsafeRelaxedJsonEscaping,
    };

    /// <summary>The report as JSON (<c>pinpipe verify --json</c>): <c>consistent</c>, <c>problems</c> and the checks.</summary>
    public string ToJson() => JsonSerializer.Serialize(new { consistent = Consistent, problems = Problems, checks = Checks }, Json);
}

/// <summary>
/// One reconciliation of two stages for one topic or table: what it compared (<see cref="Checked"/>, <see cref="Figures"/>),
/// how many problems it found and the first of them (<see cref="Listed"/>), and notes on what it could not check.
/// </summary>
/// <param name="Check">Which stages: <c>log-bucket</c>, <c>stream-tables</c> or <c>bucket-batch</c>.</param>
/// <param name="Subject">The topic, stream or table.</param>
/// <param name="Checked">Records (or objects' lines) compared.</param>
/// <param name="Problems">Every problem found (gaps, duplicates, mismatches, ...); <see cref="Listed"/> holds the first ones.</param>
/// <param name="Listed">The first problems, up to the verifier's <see cref="VerifyOptions.MaxListed"/>.</param>
/// <param name="Figures">The figures the check reconciled (e.g. <c>clean</c>, <c>duplicates</c>, <c>rejects</c>).</param>
/// <param name="Notes">What the check could not look at, and why (retention removed records, another incarnation, ...).</param>
public sealed record VerifyCheck(
    string Check,
    string Subject,
    long Checked,
    long Problems,
    IReadOnlyList<VerifyProblem> Listed,
    IReadOnlyDictionary<string, long> Figures,
    IReadOnlyList<string> Notes);

/// <summary>One gap, duplicate or mismatch.</summary>
/// <param name="Kind">
/// <c>gap</c> (a record in no object or row), <c>duplicate</c> (in two), <c>mismatch</c> (an object's line is not the log's
/// value), <c>half-written</c> (an object that ends inside a line or holds records the log does not), <c>stale</c> (an
/// object outside the committed range), <c>extra</c> (a row no record explains), <c>counts</c> (a run's counts do not
/// reconcile).
/// </param>
/// <param name="Where">The place: <c>topic/partition/offset</c>, an object key, a table and key.</param>
/// <param name="Message">What is wrong, in a sentence.</param>
public sealed record VerifyProblem(
    [property: JsonPropertyName("kind")] string Kind,
    [property: JsonPropertyName("where")] string Where,
    [property: JsonPropertyName("message")] string Message);

/// <summary>Collects one check's figures, problems and notes.</summary>
internal sealed class CheckBuilder(string check, string subject, int maxListed)
{
    private readonly List<VerifyProblem> _listed = [];
    private readonly Dictionary<string, long> _figures = new(StringComparer.Ordinal);
    private readonly List<string> _notes = [];
    private long _problems;

    public long Checked { get; set; }

    public long Problems => _problems;

    public void Problem(string kind, string where, string message)
    {
        _problems++;
        if (_listed.Count < maxListed) _listed.Add(new VerifyProblem(kind, where, message));
    }

    /// <summary>Counts <paramref name="count"/> more problems described by the one just listed (the records of one gap).</summary>
    public void Gaps(long count) => _problems += count;

    public void Figure(string name, long value) => _figures[name] = value;

    public long TryFigure(string name) => _figures.TryGetValue(name, out long value) ? value : 0;

    public void Note(string note)
    {
        if (!_notes.Contains(note)) _notes.Add(note);
    }

    public VerifyCheck Build() => new(check, subject, Checked, _problems, _listed.ToArray(), new Dictionary<string, long>(_figures), _notes.ToArray());
}
