using System.Data.Common;
using DuckDB.NET.Data;

namespace PinPipe.Insights;

/// <summary>
/// Runs the insight queries of <see cref="InsightQueries"/> on a DuckDB connection that holds the clean tables
/// (<c>clean_pin</c>, <c>clean_geo</c>, <c>clean_user</c>).
/// </summary>
public static class InsightEngine
{
    /// <summary>Runs the nine insights in SPEC order; cancelling interrupts the running query.</summary>
    /// <exception cref="InvalidOperationException">A query failed (a clean table missing or of the wrong shape); the message names the insight.</exception>
    public static async Task<IReadOnlyList<InsightResult>> RunAllAsync(DuckDBConnection connection, CancellationToken cancellationToken = default)
    {
        var results = new List<InsightResult>(InsightQueries.All.Count);
        foreach (var query in InsightQueries.All)
            results.Add(await RunAsync(connection, query, cancellationToken).ConfigureAwait(false));
        return results;
    }

    /// <summary>
    /// Runs the nine insights in SPEC order as <see cref="RunAllAsync"/> does, with two joins instead of eight: one pass
    /// over pins ⋈ geo for #1–#4 and one over pins ⋈ users for #5, #6, #8 and #9, aggregated into small temporary
    /// tables that each insight then reads. Same results; the cost of the joins over large tables is paid twice, not
    /// eight times. <paramref name="timed"/>, when given, is called with each step's name and seconds.
    /// </summary>
    /// <exception cref="InvalidOperationException">A query failed (a clean table missing or of the wrong shape); the message names the step.</exception>
    public static async Task<IReadOnlyList<InsightResult>> RunAllWithSharedJoinsAsync(DuckDBConnection connection, Action<string, double>? timed = null,
        CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(connection);
        try
        {
            string[] steps = ["the pins ⋈ geo aggregates (#1–#4)", "the pins ⋈ users aggregates (#5, #6, #8, #9)"];
            for (int i = 0; i < InsightJoins.Prepare.Count; i++)
            {
                long start = System.Diagnostics.Stopwatch.GetTimestamp();
                await ExecuteAsync(connection, InsightJoins.Prepare[i], steps[i], cancellationToken).ConfigureAwait(false);
                timed?.Invoke(steps[i], System.Diagnostics.Stopwatch.GetElapsedTime(start).TotalSeconds);
            }
            var results = new List<InsightResult>(InsightQueries.All.Count);
            foreach (var query in InsightQueries.All)
            {
                long start = System.Diagnostics.Stopwatch.GetTimestamp();
                results.Add(await RunAsync(connection, query with { Sql = InsightJoins.Sql(query.Number) }, cancellationToken).ConfigureAwait(false));
                timed?.Invoke($"insight #{query.Number} ({query.Name})", System.Diagnostics.Stopwatch.GetElapsedTime(start).TotalSeconds);
            }
            return results;
        }
        finally
        {
            foreach (string sql in InsightJoins.CleanUp) await ExecuteAsync(connection, sql, "clean-up", CancellationToken.None).ConfigureAwait(false);
        }
    }

    private static async Task ExecuteAsync(DuckDBConnection connection, string sql, string step, CancellationToken cancellationToken)
    {
        cancellationToken.ThrowIfCancellationRequested();
        using var command = connection.CreateCommand();
#pragma warning disable CA2100 // the fixed queries of InsightJoins
        command.CommandText = sql;
#pragma warning restore CA2100
        using var registration = cancellationToken.Register(command.Cancel);
        try
        {
            await command.ExecuteNonQueryAsync(cancellationToken).ConfigureAwait(false);
        }
        catch (Exception ex) when (ex is DbException or OperationCanceledException && cancellationToken.IsCancellationRequested)
        {
            throw new OperationCanceledException($"Insights: {step} was cancelled.", ex, cancellationToken);
        }
        catch (DbException ex)
        {
            throw new InvalidOperationException($"Insights: {step} failed: {ex.Message}", ex);
        }
    }

    /// <summary>Runs one insight query and reads all its rows.</summary>
    /// <exception cref="InvalidOperationException">The query failed or returned other columns than <see cref="InsightQuery.Columns"/>.</exception>
    public static async Task<InsightResult> RunAsync(DuckDBConnection connection, InsightQuery query, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(connection);
        ArgumentNullException.ThrowIfNull(query);
        cancellationToken.ThrowIfCancellationRequested();

        using var command = connection.CreateCommand();
#pragma warning disable CA2100 // the fixed queries of InsightQueries
        command.CommandText = query.Sql;
#pragma warning restore CA2100
        // DuckDB.NET's async methods run synchronously; Cancel() interrupts the query from the token's thread.
        using var registration = cancellationToken.Register(command.Cancel);
        var rows = new List<object?[]>();
        try
        {
            using var reader = await command.ExecuteReaderAsync(cancellationToken).ConfigureAwait(false);
            CheckColumns(query, reader);
            while (await reader.ReadAsync(cancellationToken).ConfigureAwait(false))
            {
                var row = new object?[reader.FieldCount];
                for (var i = 0; i < row.Length; i++)
#pragma warning disable CA1849 // the row is already read (non-sequential reader): the async overload would only add a Task per column
                    row[i] = reader.IsDBNull(i) ? null : reader.GetValue(i);
#pragma warning restore CA1849
                rows.Add(row);
            }
        }
        catch (Exception ex) when (ex is DbException or OperationCanceledException && cancellationToken.IsCancellationRequested)
        {
            // DuckDB.NET reports an interrupted query as an OperationCanceledException without the token.
            throw new OperationCanceledException($"Insight #{query.Number} ({query.Name}) was cancelled.", ex, cancellationToken);
        }
        catch (DbException ex)
        {
            throw new InvalidOperationException($"Insight #{query.Number} ({query.Name}) failed: {ex.Message}", ex);
        }
        return new InsightResult(query.Number, query.Name, query.Title, query.Columns, rows);
    }

    private static void CheckColumns(InsightQuery query, DbDataReader reader)
    {
        var actual = Enumerable.Range(0, reader.FieldCount).Select(reader.GetName).ToArray();
        if (!actual.SequenceEqual(query.Columns, StringComparer.Ordinal))
            throw new InvalidOperationException(
                $"Insight #{query.Number} ({query.Name}) returned columns [{string.Join(", ", actual)}], expected [{string.Join(", ", query.Columns)}].");
    }
}
