namespace PinPipe.Transform;

/// <summary>
/// Who reads the raw records' JSON before the cleaning rules (<c>Batch:Parser</c>, <c>Stream:Parser</c>). Either way the
/// same rules run on the same field texts (<see cref="CleaningRules.StageSql"/>), so the results are the same.
/// </summary>
public enum RecordParser
{
    /// <summary>Our own parser (<see cref="FieldReader"/>) for the lines it can read exactly (flat objects), DuckDB's JSON functions for the others.</summary>
    PinPipe,

    /// <summary>DuckDB's JSON functions for every line.</summary>
    DuckDb,
}
