using System.Globalization;
using System.Text.RegularExpressions;

namespace PinPipe.DuckDb;

/// <summary>
/// Quoting of SQL names and text for DuckDB statements, the one place every stage quotes what it cannot pass as a
/// parameter (table names, file paths in <c>COPY … TO</c> and <c>read_parquet</c>, <c>SET</c> values).
/// </summary>
/// <remarks>
/// DuckDB receives a statement as a NUL-terminated UTF-8 string: a NUL character would cut the statement short and an
/// unpaired UTF-16 surrogate would reach DuckDB as U+FFFD, so both are refused (<see cref="ArgumentException"/>)
/// rather than quoted into something other than what was meant.
/// </remarks>
[System.Diagnostics.CodeAnalysis.SuppressMessage("Naming", "CA1724:Type names should not match namespaces", Justification = "PinPipe.DuckDb.Sql is never used beside System.Data.Sql (a SQL Server namespace PinPipe does not use); the short name reads best at its many call sites.")]
public static partial class Sql
{
    /// <summary>A quoted identifier: <c>"name"</c>, inner double quotes doubled.</summary>
    /// <exception cref="ArgumentException"><paramref name="name"/> is empty or holds a NUL or an unpaired surrogate.</exception>
    public static string Identifier(string name)
    {
        ArgumentException.ThrowIfNullOrEmpty(name);
        RequireText(name, "identifier", nameof(name));
        return "\"" + name.Replace("\"", "\"\"", StringComparison.Ordinal) + "\"";
    }

    /// <summary>A string literal: <c>'text'</c>, inner single quotes doubled (DuckDB strings take no backslash escapes).</summary>
    /// <exception cref="ArgumentException"><paramref name="text"/> holds a NUL or an unpaired surrogate.</exception>
    public static string Literal(string text)
    {
        ArgumentNullException.ThrowIfNull(text);
        RequireText(text, "string literal", nameof(text));
        return "'" + text.Replace("'", "''", StringComparison.Ordinal) + "'";
    }

    /// <summary>A list literal of strings, <c>['a', 'b']</c> (e.g. the files of <c>read_parquet</c>).</summary>
    public static string List(IEnumerable<string> items)
    {
        ArgumentNullException.ThrowIfNull(items);
        return "[" + string.Join(", ", items.Select(Literal)) + "]";
    }

    /// <summary>
    /// A relation name given by a caller (<c>table</c>, <c>schema.table</c> or <c>catalog.schema.table</c>, each part
    /// letters, digits and underscores) as quoted SQL; throws <see cref="ArgumentException"/> for anything else.
    /// </summary>
    public static string Relation(string name, string paramName)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(name, paramName);
        if (!RelationName().IsMatch(name))
            throw new ArgumentException($"'{name}' is not a relation name: use table, schema.table or catalog.schema.table of letters, digits and underscores.", paramName);
        return string.Join(".", name.Split('.').Select(Identifier));
    }

    private static void RequireText(string text, string what, string paramName)
    {
        int nul = text.IndexOf('\0', StringComparison.Ordinal);
        if (nul >= 0)
            throw new ArgumentException($"A DuckDB {what} cannot hold a NUL character (at index {nul}): DuckDB would read the statement only up to it.", paramName);
        for (int i = 0; i < text.Length; i++)
        {
            if (!char.IsSurrogate(text[i])) continue;
            if (char.IsHighSurrogate(text[i]) && i + 1 < text.Length && char.IsLowSurrogate(text[i + 1]))
            {
                i++;
                continue;
            }
            throw new ArgumentException($"A DuckDB {what} cannot hold an unpaired UTF-16 surrogate (U+{((int)text[i]).ToString("X4", CultureInfo.InvariantCulture)} at index {i}): it has no UTF-8 form.", paramName);
        }
    }

    [GeneratedRegex(@"^[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*){0,2}\z")] // \z: $ would also match before a final newline
    private static partial Regex RelationName();
}
