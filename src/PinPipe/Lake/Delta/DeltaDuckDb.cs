using System.Globalization;
using System.Text;
using DuckDB.NET.Data;
using PinPipe.DuckDb;

namespace PinPipe.Lake.Delta;

/// <summary>The Delta reader's and writer's view of DuckDB: the DuckDB types of Delta types, and the columns of Parquet files.</summary>
internal static class DeltaDuckDb
{
    /// <summary>The DuckDB type a Delta type reads as (<c>timestamp</c> is <c>TIMESTAMPTZ</c>).</summary>
    internal static string TypeOf(DeltaType type) => type switch
    {
        DeltaPrimitiveType p => p.Name switch
        {
            "string" => "VARCHAR",
            "long" => "BIGINT",
            "integer" => "INTEGER",
            "short" => "SMALLINT",
            "byte" => "TINYINT",
            "float" => "FLOAT",
            "double" => "DOUBLE",
            "boolean" => "BOOLEAN",
            "binary" => "BLOB",
            "date" => "DATE",
            "timestamp" => "TIMESTAMP WITH TIME ZONE",
            _ => throw new DeltaException(DeltaErrorCode.Unsupported, $"Type '{p.Name}' has no DuckDB equivalent."),
        },
        DeltaDecimalType d => string.Create(CultureInfo.InvariantCulture, $"DECIMAL({d.Precision},{d.Scale})"),
        DeltaArrayType a => TypeOf(a.Element) + "[]",
        DeltaMapType m => $"MAP({TypeOf(m.Key)}, {TypeOf(m.Value)})",
        DeltaStructType s => "STRUCT(" + string.Join(", ", s.Fields.Select(f => Sql.Identifier(f.Name) + " " + TypeOf(f.Type))) + ")",
        _ => throw new DeltaException(DeltaErrorCode.Unsupported, $"Type '{type}' has no DuckDB equivalent."),
    };

    /// <summary>DuckDB's canonical names (as DESCRIBE prints them) of <paramref name="types"/>.</summary>
    internal static List<string> CanonicalTypes(DuckDBConnection connection, IReadOnlyList<DeltaType> types, CancellationToken cancellationToken)
    {
        if (types.Count == 0) return [];
        var sql = new StringBuilder("SELECT ");
        for (int i = 0; i < types.Count; i++)
        {
            if (i > 0) sql.Append(", ");
            sql.Append("typeof(CAST(NULL AS ").Append(TypeOf(types[i])).Append("))");
        }
        return connection.Query(sql.ToString(), r => Enumerable.Range(0, types.Count).Select(r.GetString).ToList(), cancellationToken)[0];
    }

    /// <summary>Columns (name, DuckDB type) of <c>read_parquet</c> over <paramref name="paths"/>.</summary>
    internal static List<(string Name, string Type)> Describe(DuckDBConnection connection, IReadOnlyList<string> paths, CancellationToken cancellationToken) =>
        connection.Query($"DESCRIBE SELECT * FROM read_parquet({Sql.List(paths)}, hive_partitioning = false, union_by_name = true)",
            r => (r.GetString(0), r.GetString(1)), cancellationToken);
}
