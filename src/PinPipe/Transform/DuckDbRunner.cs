using DuckDB.NET.Data;

namespace PinPipe.Transform;

/// <summary>Runs statements on a DuckDB connection with a cancellation token wired to <see cref="DuckDBCommand.Cancel"/>.</summary>
internal sealed class DuckDbRunner(DuckDBConnection connection, CancellationToken cancellationToken)
{
    /// <summary>Runs a statement; a cancelled token interrupts it and throws <see cref="OperationCanceledException"/>.</summary>
    public void Execute(string sql) => Run(sql, static cmd => cmd.ExecuteNonQuery());

    /// <summary>Runs a statement even when the token is cancelled (clean-up).</summary>
    public void ExecuteIgnoringCancellation(string sql)
    {
        using var command = connection.CreateCommand();
#pragma warning disable CA2100 // identifiers quoted by Sql.Identifier/values by Sql.Literal
        command.CommandText = sql;
#pragma warning restore CA2100
        command.ExecuteNonQuery();
    }

    /// <summary>The first row of a query, every column as a long (null as 0).</summary>
    public long[] QueryLongs(string sql) => Run(sql, static cmd =>
    {
        using var reader = cmd.ExecuteReader();
        if (!reader.Read()) throw new InvalidOperationException("The query returned no row.");
        var values = new long[reader.FieldCount];
        for (int i = 0; i < values.Length; i++) values[i] = reader.IsDBNull(i) ? 0 : Convert.ToInt64(reader.GetValue(i), System.Globalization.CultureInfo.InvariantCulture);
        return values;
    });

    /// <summary>Throws <see cref="ArgumentException"/> naming the relation when it lacks one of <paramref name="columns"/>.</summary>
    public void RequireColumns(string relationSql, string relationName, params string[] columns)
    {
        string[] present = Run($"SELECT * FROM {relationSql} LIMIT 0", cmd =>
        {
            using var reader = cmd.ExecuteReader();
            return Enumerable.Range(0, reader.FieldCount).Select(reader.GetName).ToArray();
        }, relationName);
        string[] missing = columns.Where(c => !present.Contains(c, StringComparer.OrdinalIgnoreCase)).ToArray();
        if (missing.Length > 0)
            throw new ArgumentException(
                $"Relation '{relationName}' lacks column(s) {string.Join(", ", missing)}; it has: {string.Join(", ", present)}.", nameof(relationName));
    }

    private T Run<T>(string sql, Func<DuckDBCommand, T> run, string? relationName = null)
    {
        cancellationToken.ThrowIfCancellationRequested();
        using var command = connection.CreateCommand();
#pragma warning disable CA2100 // identifiers quoted by Sql.Identifier/values by Sql.Literal
        command.CommandText = sql;
#pragma warning restore CA2100
        using var registration = cancellationToken.Register(static c => ((DuckDBCommand)c!).Cancel(), command);
        try
        {
            return run(command);
        }
        catch (DuckDBException) when (cancellationToken.IsCancellationRequested)
        {
            throw new OperationCanceledException("The DuckDB query was interrupted.", cancellationToken);
        }
        catch (DuckDBException e) when (relationName is not null)
        {
            throw new ArgumentException($"Cannot read relation '{relationName}': {e.Message}", nameof(relationName), e);
        }
    }
}
