using PinPipe.DuckDb;

namespace PinPipe.Transform;

/// <summary>
/// What one cleaning run (a batch, or a streaming micro-batch) did with the records of one table.
/// <see cref="Read"/> = <see cref="Clean"/> + <see cref="Duplicates"/> + <see cref="Rejects"/> always holds.
/// </summary>
/// <param name="Kind">The table cleaned.</param>
/// <param name="Read">Raw records read.</param>
/// <param name="Clean">Rows written to the clean table (one per key, the first seen).</param>
/// <param name="Duplicates">Valid records dropped because their key was seen earlier in the run or is already in the target table.</param>
/// <param name="Rejects">Records written to the reject table (not a JSON object, bad or missing key, a value of the wrong type).</param>
/// <param name="Quality">Per column and rule, how many values of the clean rows the rule nulled or converted (SPEC §4, quality metrics); every rule of the table is listed, also at zero.</param>
/// <param name="RejectReasons">The <see cref="Rejects"/> by kind of reason, every kind of <see cref="RejectKinds"/> listed, also at zero; they add up to <see cref="Rejects"/>.</param>
public sealed record CleanResult(RecordKind Kind, long Read, long Clean, long Duplicates, long Rejects, IReadOnlyList<QualityCount> Quality, IReadOnlyList<RejectCount> RejectReasons)
{
    /// <summary>The rejects of one kind of reason; throws for an unknown kind.</summary>
    public long RejectsOf(string kind) =>
        RejectReasons.FirstOrDefault(r => r.Kind == kind)?.Count
        ?? throw new ArgumentException($"'{kind}' is not a kind of reject reason ({string.Join(", ", RejectKinds.All)}).", nameof(kind));

    /// <summary>The count of one rule; throws when the table has no such rule.</summary>
    public long QualityOf(string column, string rule) =>
        Quality.FirstOrDefault(q => q.Column == column && q.Rule == rule)?.Count
        ?? throw new ArgumentException($"Table {Kind} has no quality rule '{rule}' on column '{column}'.", nameof(rule));

    /// <summary>Files of the target Delta table whose <c>ind</c> column was read to find keys already there (<see cref="Cleaner.CleanAgainstAsync"/>).</summary>
    public int KeyFilesRead { get; init; }

    /// <summary>Files of the target Delta table its <c>ind</c> stats ruled out: not read.</summary>
    public int KeyFilesSkipped { get; init; }

    /// <summary>Files of the target Delta table whose keys a <see cref="Lake.Delta.DeltaKeyCache"/> held: not read (the stream job's micro-batches).</summary>
    public int KeyFilesCached { get; init; }
}

/// <summary>How many values of <paramref name="Column"/> the cleaning rule <paramref name="Rule"/> nulled or converted.</summary>
/// <param name="Column">The raw column the rule applies to (e.g. <c>title</c>, <c>first_name</c>).</param>
/// <param name="Rule">The rule, one of the <see cref="QualityRules"/> names.</param>
/// <param name="Count">Values of the clean rows the rule applied to.</param>
public sealed record QualityCount(string Column, string Rule, long Count);

/// <summary>How many records were rejected for a kind of reason (<see cref="RejectKinds"/>).</summary>
public sealed record RejectCount(string Kind, long Count);

/// <summary>The kinds of reject reasons counted in <see cref="CleanResult.RejectReasons"/>; a reject's own reason text says more.</summary>
public static class RejectKinds
{
    /// <summary>The record's bytes are not UTF-8 (reason <c>invalid_utf8</c>).</summary>
    public const string InvalidUtf8 = CleaningRules.InvalidUtf8;

    /// <summary>The record is text but not JSON (reason <c>not_json</c>).</summary>
    public const string NotJson = CleaningRules.NotJson;

    /// <summary>The record is JSON but not an object (reason <c>not a JSON object (...)</c>).</summary>
    public const string NotAnObject = "not_an_object";

    /// <summary>The record is an object whose key is missing or whose values do not coerce to their columns (reason naming the fields).</summary>
    public const string BadFields = "bad_fields";

    /// <summary>Every kind, in report order.</summary>
    public static IReadOnlyList<string> All { get; } = [InvalidUtf8, NotJson, NotAnObject, BadFields];

    /// <summary>SQL mapping a reject's <c>reason</c> column to its kind.</summary>
    internal static string KindSql(string reason) =>
        $"CASE WHEN {reason} = {Sql.Literal(InvalidUtf8)} THEN {Sql.Literal(InvalidUtf8)} WHEN {reason} = {Sql.Literal(NotJson)} THEN {Sql.Literal(NotJson)} " +
        $"WHEN prefix({reason}, 'not a JSON object') THEN {Sql.Literal(NotAnObject)} ELSE {Sql.Literal(BadFields)} END";
}

/// <summary>Names of the quality rules reported in <see cref="CleanResult.Quality"/>.</summary>
public static class QualityRules
{
    /// <summary>A value that carries no data (a <see cref="JunkMarkers"/> marker: <c>No Title Data Available</c>, <c>User Info Error</c>, ...) became null.</summary>
    public const string JunkNulled = "junk_marker_nulled";

    /// <summary>An empty or all-whitespace string became null.</summary>
    public const string BlankNulled = "blank_nulled";

    /// <summary>A follower count with a <c>k</c>, <c>M</c> or <c>B</c> suffix became a whole number.</summary>
    public const string SuffixConverted = "suffix_converted";

    /// <summary>A follower count that is not a number (nor a junk marker, nor blank) became null: a quality violation.</summary>
    public const string NotANumberNulled = "not_a_number_nulled";

    /// <summary><c>save_location</c> lost its leading <c>Local save in </c>.</summary>
    public const string PrefixStripped = "prefix_stripped";

    /// <summary><c>user_name</c> made from one name, the other being null.</summary>
    public const string OneNameOnly = "one_name_only";

    /// <summary><c>user_name</c> null because both names are null.</summary>
    public const string NoNameNulled = "no_name_nulled";
}
