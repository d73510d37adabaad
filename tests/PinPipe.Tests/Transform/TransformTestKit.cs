using System.Collections;
using System.Globalization;
using System.Text.Json;
using DuckDB.NET.Data;
using PinPipe.Tests.Support;
using PinPipe.Transform;

namespace PinPipe.Tests.Transform;

/// <summary>A real in-memory DuckDB and helpers to feed raw lines to the cleaner and read its tables back.</summary>
internal sealed class TransformTestKit : IDisposable
{
    public TransformTestKit()
    {
        Connection = new DuckDBConnection("DataSource=:memory:");
        Connection.Open();
    }

    public DuckDBConnection Connection { get; }

    public static string FixtureFile(string folder, RecordKind kind) =>
        Path.Combine(TestData.Fixtures, folder, CleaningRules.TableName(kind) + ".jsonl");

    public static string[] FixtureLines(string folder, RecordKind kind) =>
        File.ReadAllLines(FixtureFile(folder, kind)).Where(l => l.Length > 0).ToArray();

    /// <summary>Creates table <paramref name="name"/> (seq, origin, line): line i gets seq i and origin <c>test/i</c>.</summary>
    public void CreateRaw(string name, IEnumerable<string> lines)
    {
        Execute($"CREATE OR REPLACE TABLE {name} (seq BIGINT, origin VARCHAR, line VARCHAR)");
        using var appender = Connection.CreateAppender(name);
        long seq = 0;
        foreach (string line in lines)
        {
            appender.CreateRow().AppendValue(seq).AppendValue($"test/{seq}").AppendValue(line).EndRow();
            seq++;
        }
    }

    /// <summary>Cleans <paramref name="lines"/> as records of <paramref name="kind"/>.</summary>
    public Task<CleanResult> CleanAsync(RecordKind kind, IEnumerable<string> lines, string? existingKeys = null)
    {
        CreateRaw("raw_input", lines);
        return Cleaner.CleanAsync(Connection, kind, "raw_input", existingKeys, CancellationToken.None);
    }

    public void Execute(string sql)
    {
        using var command = Connection.CreateCommand();
#pragma warning disable CA2100 // SQL written by the tests themselves
        command.CommandText = sql;
#pragma warning restore CA2100
        command.ExecuteNonQuery();
    }

    /// <summary>Every row of a query as column name → canonical text (see <see cref="Canonical(object?)"/>).</summary>
    public List<Dictionary<string, string?>> Rows(string sql)
    {
        using var command = Connection.CreateCommand();
#pragma warning disable CA2100 // SQL written by the tests themselves
        command.CommandText = sql;
#pragma warning restore CA2100
        using var reader = command.ExecuteReader();
        var rows = new List<Dictionary<string, string?>>();
        while (reader.Read())
        {
            var row = new Dictionary<string, string?>();
            for (int i = 0; i < reader.FieldCount; i++)
            {
                // A DOUBLE[] may hold nulls, which GetValue's List<double> cannot.
                object? value = reader.IsDBNull(i) ? null
                    : reader.GetFieldType(i) == typeof(List<double>) ? reader.GetFieldValue<List<double?>>(i)
                    : reader.GetValue(i);
                row[reader.GetName(i)] = Canonical(value);
            }
            rows.Add(row);
        }
        return rows;
    }

    /// <summary>The clean table's rows keyed by ind.</summary>
    public Dictionary<long, Dictionary<string, string?>> CleanRows(RecordKind kind) =>
        Rows($"SELECT * FROM {CleaningRules.CleanTable(kind)}").ToDictionary(r => long.Parse(r["ind"]!, CultureInfo.InvariantCulture));

    /// <summary>The reject table's rows, in arrival order.</summary>
    public List<Dictionary<string, string?>> RejectRows(RecordKind kind) => Rows($"SELECT * FROM {CleaningRules.RejectTable(kind)}");

    /// <summary>(name, type) of a table's columns as DuckDB describes them.</summary>
    public List<(string Name, string Type)> Describe(string table) =>
        Rows($"SELECT column_name, data_type FROM information_schema.columns WHERE table_name = '{table}' ORDER BY ordinal_position")
            .Select(r => (r["column_name"]!, r["data_type"]!)).ToList();

    /// <summary>
    /// A value as text the fixtures can be compared with: numbers invariant (doubles round-trip), timestamps as
    /// UTC <c>yyyy-MM-dd HH:mm:ss</c> (fractions when present), lists as <c>[a, b]</c>.
    /// </summary>
    public static string? Canonical(object? value) => value switch
    {
        null or DBNull => null,
        string s => s,
        DateTime d => (d.Kind == DateTimeKind.Local ? d.ToUniversalTime() : d).ToString(d.Millisecond == 0 && d.Microsecond == 0 ? "yyyy-MM-dd HH:mm:ss" : "yyyy-MM-dd HH:mm:ss.ffffff", CultureInfo.InvariantCulture),
        DateTimeOffset o => Canonical(o.UtcDateTime),
        double d => d.ToString("R", CultureInfo.InvariantCulture),
        float f => ((double)f).ToString("R", CultureInfo.InvariantCulture),
        IFormattable f => f.ToString(null, CultureInfo.InvariantCulture),
        IEnumerable e => "[" + string.Join(", ", e.Cast<object?>().Select(x => Canonical(x) ?? "null")) + "]",
        _ => value.ToString(),
    };

    /// <summary>A JSON value of a fixture as the same canonical text.</summary>
    public static string? Canonical(JsonElement value) => value.ValueKind switch
    {
        JsonValueKind.Null => null,
        JsonValueKind.String => value.GetString(),
        JsonValueKind.Number => value.TryGetInt64(out long l) ? l.ToString(CultureInfo.InvariantCulture) : value.GetDouble().ToString("R", CultureInfo.InvariantCulture),
        JsonValueKind.Array => "[" + string.Join(", ", value.EnumerateArray().Select(x => Canonical(x) ?? "null")) + "]",
        _ => value.GetRawText(),
    };

    public void Dispose() => Connection.Dispose();
}
