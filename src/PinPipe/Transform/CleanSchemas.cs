using PinPipe.Lake.Delta;

namespace PinPipe.Transform;

/// <summary>The clean and reject tables' schemas as Delta schemas: what the batch and the stream jobs commit.</summary>
public static class CleanSchemas
{
    /// <summary>The Delta schema of a clean or reject table, from its DuckDB column types.</summary>
    public static DeltaSchema ToDelta(IReadOnlyList<CleanColumn> columns) =>
        new(columns.Select(c => new DeltaField(c.Name, TypeOf(c.DuckDbType))).ToArray());

    private static DeltaType TypeOf(string duckDbType) => duckDbType.ToUpperInvariant() switch
    {
        "VARCHAR" => DeltaType.String,
        "BIGINT" => DeltaType.Long,
        "INTEGER" => DeltaType.Integer,
        "DOUBLE" => DeltaType.Double,
        "BOOLEAN" => DeltaType.Boolean,
        "TIMESTAMPTZ" or "TIMESTAMP WITH TIME ZONE" => DeltaType.Timestamp,
        "DOUBLE[]" => DeltaType.Array(DeltaType.Double),
        var other => throw new InvalidOperationException($"No Delta type for the DuckDB type '{other}'."),
    };
}
