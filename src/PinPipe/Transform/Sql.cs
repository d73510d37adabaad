using System.Text.RegularExpressions;

namespace PinPipe.Transform;

/// <summary>Quoting of SQL names and text for the DuckDB statements of the transform stage.</summary>
internal static partial class Sql
{
    /// <summary>A quoted identifier: <c>"name"</c>, inner quotes doubled.</summary>
    internal static string Identifier(string name) => "\"" + name.Replace("\"", "\"\"", StringComparison.Ordinal) + "\"";

    /// <summary>A string literal: <c>'text'</c>, inner quotes doubled (DuckDB strings take no backslash escapes).</summary>
    internal static string Literal(string text) => "'" + text.Replace("'", "''", StringComparison.Ordinal) + "'";

    /// <summary>
    /// A relation name given by a caller (<c>table</c>, <c>schema.table</c> or <c>catalog.schema.table</c>, each part
    /// letters, digits and underscores) as quoted SQL; throws <see cref="ArgumentException"/> for anything else.
    /// </summary>
    internal static string Relation(string name, string paramName)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(name, paramName);
        if (!RelationName().IsMatch(name))
            throw new ArgumentException($"'{name}' is not a relation name: use table, schema.table or catalog.schema.table of letters, digits and underscores.", paramName);
        return string.Join(".", name.Split('.').Select(Identifier));
    }

    [GeneratedRegex(@"^[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*){0,2}$")]
    private static partial Regex RelationName();
}
