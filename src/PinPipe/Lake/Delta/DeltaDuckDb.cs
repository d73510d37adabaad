using System.Globalization;
using System.Text;
using DuckDB.NET.Data;

namespace PinPipe.Lake.Delta;

/// <summary>DuckDB plumbing shared by the Delta reader and writer: connections, quoting, type names.</summary>
internal static class DeltaDuckDb
{
    /// <summary>An open in-memory DuckDB connection with the session time zone set to UTC.</summary>
    internal static DuckDBConnection Open()
    {
        var connection = new DuckDBConnection("DataSource=:memory:");
        try
        {
            connection.Open();
            Execute(connection, "SET TimeZone = 'UTC'", CancellationToken.None);
            return connection;
        }
        catch
        {
            connection.Dispose();
            throw;
        }
    }

    /// <summary>A command with positional parameters (<c>$1</c>, <c>$2</c>, ...).</summary>
    internal static DuckDBCommand Command(DuckDBConnection connection, string sql, params object?[] parameters)
    {
        var command = connection.CreateCommand();
#pragma warning disable CA2100 // identifiers quoted by Sql.Identifier/values by Sql.Literal
        command.CommandText = sql;
#pragma warning restore CA2100
        foreach (object? p in parameters) command.Parameters.Add(new DuckDBParameter(p ?? DBNull.Value));
        return command;
    }

    internal static void Execute(DuckDBConnection connection, string sql, CancellationToken cancellationToken, params object?[] parameters)
    {
        using var command = Command(connection, sql, parameters);
        using var cancel = cancellationToken.Register(command.Cancel);
        command.ExecuteNonQuery();
        cancellationToken.ThrowIfCancellationRequested();
    }

    /// <summary>Runs a query and maps each row.</summary>
    internal static List<T> Query<T>(DuckDBConnection connection, string sql, Func<DuckDBDataReader, T> map, CancellationToken cancellationToken, params object?[] parameters)
    {
        using var command = Command(connection, sql, parameters);
        using var cancel = cancellationToken.Register(command.Cancel);
        using var reader = (DuckDBDataReader)command.ExecuteReader();
        var rows = new List<T>();
        while (reader.Read()) rows.Add(map(reader));
        cancellationToken.ThrowIfCancellationRequested();
        return rows;
    }

    /// <summary>A SQL string literal: single quotes doubled.</summary>
    internal static string Literal(string value) => "'" + value.Replace("'", "''", StringComparison.Ordinal) + "'";

    /// <summary>A quoted identifier: double quotes doubled.</summary>
    internal static string Ident(string name) => "\"" + name.Replace("\"", "\"\"", StringComparison.Ordinal) + "\"";

    /// <summary>A list literal of file paths for <c>read_parquet</c>.</summary>
    internal static string PathList(IEnumerable<string> paths) => "[" + string.Join(", ", paths.Select(Literal)) + "]";

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
        DeltaStructType s => "STRUCT(" + string.Join(", ", s.Fields.Select(f => Ident(f.Name) + " " + TypeOf(f.Type))) + ")",
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
        return Query(connection, sql.ToString(), r => Enumerable.Range(0, types.Count).Select(r.GetString).ToList(), cancellationToken)[0];
    }

    /// <summary>Columns (name, DuckDB type) of <c>read_parquet</c> over <paramref name="paths"/>.</summary>
    internal static List<(string Name, string Type)> Describe(DuckDBConnection connection, IReadOnlyList<string> paths, CancellationToken cancellationToken) =>
        Query(connection, $"DESCRIBE SELECT * FROM read_parquet({PathList(paths)}, hive_partitioning = false, union_by_name = true)",
            r => (r.GetString(0), r.GetString(1)), cancellationToken);
}
