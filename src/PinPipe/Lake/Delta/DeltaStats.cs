using System.Globalization;
using System.Text;
using System.Text.Json;
using System.Text.RegularExpressions;
using DuckDB.NET.Data;
using PinPipe.DuckDb;

namespace PinPipe.Lake.Delta;

/// <summary>
/// Checks a Parquet data file against the table schema and computes its <c>add.stats</c> the way Spark does
/// (protocol §1.2 "Stats"): numRecords; minValues/maxValues for numeric, date, timestamp and string columns
/// (strings truncated to 32 characters, timestamps as ISO strings truncated to milliseconds, UTC);
/// nullCount for every leaf column; the first <c>delta.dataSkippingNumIndexedCols</c> (32) leaves only.
/// Values come from one DuckDB aggregate query over the file, so they are exact whatever the footer holds; for a file
/// DuckDB just wrote, the top-level columns whose statistics its writer kept exactly come from those instead, and the
/// aggregate reads only the other columns (<see cref="WriterStatsQuery"/>).
/// </summary>
internal static partial class DeltaStats
{
    internal const int StringPrefixLength = 32;

    /// <summary>What a data file holds: its stats JSON, row count and compression codec (lower case).</summary>
    internal sealed record FileFacts(string StatsJson, long NumRecords, string Codec);

    internal sealed record Leaf(IReadOnlyList<string> Path, DeltaType Type, string? Expression);

    /// <summary>A leaf's stats known without the aggregate: its null count and its min and max writers (null: none).</summary>
    internal sealed record LeafStats(long NullCount, Action<Utf8JsonWriter>? Min, Action<Utf8JsonWriter>? Max);

    /// <summary>The columns whose min/max a file's stats hold: the table property <c>delta.dataSkippingNumIndexedCols</c>, else Delta's default, 32.</summary>
    internal static int NumIndexedCols(IReadOnlyDictionary<string, string>? configuration) =>
        configuration?.TryGetValue("delta.dataSkippingNumIndexedCols", out var text) == true && int.TryParse(text, CultureInfo.InvariantCulture, out int n) ? n : 32;

    /// <summary>Validates each of <paramref name="paths"/> against <paramref name="schema"/> and computes its stats, in <paramref name="connection"/>.</summary>
    internal static List<FileFacts> ComputeAll(DuckDBConnection connection, IReadOnlyList<string> paths, DeltaSchema schema, int numIndexedCols, CancellationToken cancellationToken)
    {
        var canonical = DeltaDuckDb.CanonicalTypes(connection, schema.Fields.Select(f => f.Type).ToArray(), cancellationToken);
        return paths.Select(path => Compute(connection, path, null, schema, canonical, numIndexedCols, cancellationToken)).ToList();
    }

    /// <summary>
    /// Validates each of the files DuckDB just wrote (<see cref="DuckDbSession.CopyToParquetFiles"/>) against
    /// <paramref name="schema"/> and computes its stats: from the statistics its writer kept where they are exact
    /// (<see cref="FromWriter"/>), and from an aggregate over the file's other columns only, which reads no more of the
    /// file than those columns (none at all when the writer's statistics give every column). The same stats as
    /// <see cref="Compute"/> computes from the whole file.
    /// </summary>
    internal static List<FileFacts> ComputeAll(DuckDBConnection connection, IReadOnlyList<WrittenParquetFile> files, DeltaSchema schema, int numIndexedCols, CancellationToken cancellationToken)
    {
        var canonical = DeltaDuckDb.CanonicalTypes(connection, schema.Fields.Select(f => f.Type).ToArray(), cancellationToken);
        return files.Select(file => Compute(connection, file.Path, file, schema, canonical, numIndexedCols, cancellationToken)).ToList();
    }

    /// <summary>Validates <paramref name="path"/> against <paramref name="schema"/> and computes its stats.</summary>
    /// <param name="canonicalTypes">DuckDB's names of the schema's top-level types (from <see cref="DeltaDuckDb.CanonicalTypes"/>).</param>
    internal static FileFacts Compute(DuckDBConnection connection, string path, DeltaSchema schema, IReadOnlyList<string> canonicalTypes,
        int numIndexedCols, CancellationToken cancellationToken) =>
        Compute(connection, path, null, schema, canonicalTypes, numIndexedCols, cancellationToken);

    private static FileFacts Compute(DuckDBConnection connection, string path, WrittenParquetFile? written, DeltaSchema schema, IReadOnlyList<string> canonicalTypes,
        int numIndexedCols, CancellationToken cancellationToken)
    {
        List<(string Name, string Type)> columns;
        try
        {
            columns = DeltaDuckDb.Describe(connection, [path], cancellationToken);
        }
        catch (DuckDBException e)
        {
            throw new DeltaException(DeltaErrorCode.InvalidWrite, $"Data file '{path}' is not a readable Parquet file: {e.Message}", e);
        }
        var present = new HashSet<string>(StringComparer.OrdinalIgnoreCase);
        foreach (var (name, type) in columns)
        {
            int index = IndexOf(schema, name);
            if (index < 0)
                throw new DeltaException(DeltaErrorCode.SchemaMismatch, $"Data file '{path}' has column '{name}', which is not in the table schema ({schema}).");
            var field = schema.Fields[index];
            if (!string.Equals(type, canonicalTypes[index], StringComparison.OrdinalIgnoreCase))
            {
                string hint = field.Type == DeltaType.Timestamp && type.StartsWith("TIMESTAMP", StringComparison.OrdinalIgnoreCase)
                    ? " Delta timestamps must be Parquet INT64 TIMESTAMP(isAdjustedToUTC=true): in DuckDB write TIMESTAMPTZ."
                    : "";
                throw new DeltaException(DeltaErrorCode.SchemaMismatch,
                    $"Data file '{path}': column '{name}' is {type} but the table's type {field.Type} needs {canonicalTypes[index]}.{hint}");
            }
            present.Add(field.Name);
        }
        foreach (var field in schema.Fields)
        {
            if (!field.Nullable && !present.Contains(field.Name))
                throw new DeltaException(DeltaErrorCode.SchemaMismatch, $"Data file '{path}' has no column '{field.Name}', which the schema declares not null.");
        }

        if (written is { Rows: > 0, Columns: not null })
        {
            var query = WriterStatsQuery(connection, written, schema, present, numIndexedCols, cancellationToken);
            var (json, rows) = query.NeedsScan ? connection.Query(query.Sql, [path], query.Read, cancellationToken)[0] : query.ReadWithoutScan(written.Rows);
            return new FileFacts(json, rows, DuckDbSession.ParquetCompression);
        }
        var full = new Query(schema, present, numIndexedCols, "read_parquet($1, hive_partitioning = false)", $"Data file '{path}'");
        var (statsJson, numRecords) = connection.Query(full.Sql, [path], full.Read, cancellationToken)[0];
        string codec = connection.Query("SELECT compression FROM parquet_metadata($1) LIMIT 1", [path], r => r.IsDBNull(0) ? "" : r.GetString(0), cancellationToken)
            .FirstOrDefault() ?? "";
        return new FileFacts(statsJson, numRecords, codec.ToLowerInvariant());
    }

    /// <summary>
    /// The stats query of a file DuckDB wrote: the leaves whose stats its writer kept exactly (<see cref="FromWriter"/>) are
    /// known, and its aggregate (over <c>read_parquet($1)</c>) computes the others only (<see cref="Query.NeedsScan"/>: any).
    /// </summary>
    /// <param name="present">The schema's columns the file has (case-insensitive).</param>
    internal static Query WriterStatsQuery(DuckDBConnection connection, WrittenParquetFile written, DeltaSchema schema, IReadOnlySet<string> present,
        int numIndexedCols, CancellationToken cancellationToken)
    {
        // Whether each top-level column's min and max in the footer are its values (a string over 256 bytes is cut, its max raised).
        var exact = connection.Query("SELECT path_in_schema, bool_and(coalesce(min_is_exact, false) AND coalesce(max_is_exact, false)) FROM parquet_metadata($1) GROUP BY path_in_schema",
            [written.Path], r => (Path: r.GetString(0), Exact: !r.IsDBNull(1) && r.GetBoolean(1)), cancellationToken)
            .Where(c => c.Exact).Select(c => c.Path).ToHashSet(StringComparer.Ordinal);
        return new Query(schema, present, numIndexedCols, "read_parquet($1, hive_partitioning = false)", $"Data file '{written.Path}'", leaf => FromWriter(leaf, written, exact));
    }

    /// <summary>
    /// A leaf's stats from the statistics DuckDB's Parquet writer kept (<see cref="WrittenParquetFile.Columns"/>), when they are
    /// what the aggregate over the file would give: a top-level column's null count, and its min and max when they are
    /// exact (strings only when the footer says so), with no NaN among the values and neither of them a floating zero
    /// (whose sign the writer and the aggregate may pick differently). Null: the aggregate computes the leaf, as for an
    /// array or map column, whose own null count the writer does not keep (only its elements'), and a struct's fields.
    /// </summary>
    private static LeafStats? FromWriter(Leaf leaf, WrittenParquetFile written, HashSet<string> exactFooterColumns)
    {
        // A struct's fields are left to the aggregate: whether the writer counts a null struct as a null of each field is
        // the writer's detail (DuckDB 1.5 does), and no clean table has a struct.
        if (leaf.Type is not (DeltaPrimitiveType or DeltaDecimalType) || leaf.Path.Count > 1) return null;
        // The writer's statistics name a top-level column as SQL does: quoted.
        if (written.Columns is null || !written.Columns.TryGetValue(DuckDb.Sql.Identifier(leaf.Path[0]), out var stats)) return null;
        if (!stats.TryGetValue("null_count", out var text) || !long.TryParse(text, NumberStyles.None, CultureInfo.InvariantCulture, out long nulls)) return null;
        if (MinMaxKind(leaf.Type) is not { } kind || nulls == written.Rows) return new LeafStats(nulls, null, null);
        if (stats.TryGetValue("has_nan", out var nan) && nan != "false") return null;
        if (!stats.TryGetValue("min", out var min) || !stats.TryGetValue("max", out var max)) return null;
        switch (kind)
        {
            case ValueKind.Timestamp:
                return TryParseMicros(min, out long low) && TryParseMicros(max, out long high) ? new LeafStats(nulls, TimestampWriter(low), TimestampWriter(high)) : null;
            case ValueKind.String:
                return exactFooterColumns.Contains(leaf.Path[0]) ? new LeafStats(nulls, StringWriter(TruncateMin(min)), StringWriter(TruncateMax(max))) : null;
            case ValueKind.Date:
                return new LeafStats(nulls, StringWriter(min), StringWriter(max));
            default:
                if (leaf.Type is DeltaPrimitiveType { Name: "float" or "double" } && (IsZero(min) || IsZero(max))) return null;
                return new LeafStats(nulls, NumberWriter(min), NumberWriter(max));
        }

        static bool IsZero(string number) => number is "0.0" or "-0.0" or "0" or "-0";
    }

    /// <summary>
    /// Microseconds since the epoch of a timestamp with a time zone as DuckDB prints it (<c>2020-01-01 00:01:40.098999+00</c>,
    /// <c>… 10:00:00-05:30</c>); false for anything else (years before 1, after 9999, BC).
    /// </summary>
    internal static bool TryParseMicros(string text, out long micros)
    {
        micros = 0;
        var m = DuckDbTimestamp().Match(text);
        if (!m.Success) return false;
        int Part(int group) => int.Parse(m.Groups[group].ValueSpan, NumberStyles.None, CultureInfo.InvariantCulture);
        DateTime time;
        try
        {
            time = new DateTime(Part(1), Part(2), Part(3), Part(4), Part(5), Part(6), DateTimeKind.Utc);
        }
        catch (ArgumentOutOfRangeException)
        {
            return false;
        }
        long fraction = m.Groups[7].Success ? long.Parse(m.Groups[7].Value.PadRight(6, '0'), NumberStyles.None, CultureInfo.InvariantCulture) : 0;
        long offset = (Part(9) * 3600L + (m.Groups[10].Success ? Part(10) : 0) * 60L + (m.Groups[11].Success ? Part(11) : 0)) * (m.Groups[8].Value == "-" ? -1 : 1);
        micros = (time - DateTime.UnixEpoch).Ticks / 10 + fraction - offset * 1_000_000;
        return true;
    }

    [GeneratedRegex(@"^(\d{4})-(\d{2})-(\d{2}) (\d{2}):(\d{2}):(\d{2})(?:\.(\d{1,6}))?([+-])(\d{2})(?::(\d{2}))?(?::(\d{2}))?$", RegexOptions.CultureInvariant)]
    private static partial Regex DuckDbTimestamp();

    /// <summary>
    /// The stats of rows still in DuckDB, about to be written to a data file with the table's schema (the stream job's
    /// micro-batch, before its <c>COPY</c>): the same aggregate as <see cref="Compute"/>, over <paramref name="relation"/>
    /// instead of the file, so the file need not be read back. Prepare <see cref="Query.Sql"/> once and read each execution with
    /// <see cref="Query.Read"/>; the facts' codec is <see cref="DuckDbSession.ParquetCompression"/>.
    /// </summary>
    /// <param name="relation">A table or parenthesized query whose columns are the schema's, with its types (<see cref="DeltaDuckDb.TypeOf"/>).</param>
    /// <param name="what">How an error names the rows.</param>
    internal static Query RowsQuery(DeltaSchema schema, string relation, string what, int numIndexedCols = 32) =>
        new(schema, null, numIndexedCols, relation, what);

    /// <summary>One stats aggregate: its SQL (over a Parquet file, <c>$1</c>, or over rows) and how to read its one row.</summary>
    internal sealed class Query
    {
        private readonly List<Leaf> _leaves = [];
        private readonly LeafStats?[] _known; // by leaf: its stats when known without the aggregate
        private readonly List<(DeltaField Field, long? Nulls)> _notNull; // the not-null fields, with their null count when known
        private readonly string _what;

        /// <param name="present">The schema's columns the source has (case-insensitive); null: all of them.</param>
        /// <param name="known">A leaf's stats when known without the aggregate (see <see cref="FromWriter"/>); null: none is.</param>
        internal Query(DeltaSchema schema, IReadOnlySet<string>? present, int numIndexedCols, string from, string what, Func<Leaf, LeafStats?>? known = null)
        {
            _what = what;
            foreach (var field in schema.Fields)
                CollectLeaves(field, [], present is null || present.Contains(field.Name) ? DuckDb.Sql.Identifier(field.Name) : null, _leaves);
            if (numIndexedCols >= 0 && _leaves.Count > numIndexedCols) _leaves.RemoveRange(numIndexedCols, _leaves.Count - numIndexedCols);
            _known = _leaves.Select(l => l.Expression is null || known is null ? null : known(l)).ToArray();

            var sql = new StringBuilder("SELECT count(*)");
            int aggregates = 0;
            for (int i = 0; i < _leaves.Count; i++)
            {
                var leaf = _leaves[i];
                if (leaf.Expression is null || _known[i] is not null) continue;
                sql.Append(", count(*) - count(").Append(leaf.Expression).Append(')');
                aggregates++;
                if (MinMaxKind(leaf.Type) is { } kind)
                {
                    sql.Append(", ").Append(Aggregate("min", leaf.Expression!, kind));
                    sql.Append(", ").Append(Aggregate("max", leaf.Expression!, kind));
                }
            }
            _notNull = schema.Fields.Where(f => !f.Nullable)
                .Select(f => (f, _leaves.Select((l, i) => l.Path.Count == 1 && l.Path[0] == f.Name ? _known[i]?.NullCount : null).FirstOrDefault(n => n is not null)))
                .ToList();
            foreach (var (field, nulls) in _notNull)
            {
                if (nulls is not null) continue;
                sql.Append(", count(*) - count(").Append(DuckDb.Sql.Identifier(field.Name)).Append(')');
                aggregates++;
            }
            NeedsScan = aggregates > 0;
            sql.Append(" FROM ").Append(from);
            Sql = sql.ToString();
        }

        /// <summary>The aggregate: one row.</summary>
        internal string Sql { get; }

        /// <summary>Whether a leaf or a not-null check needs the aggregate; if not, <see cref="ReadWithoutScan"/> gives the stats.</summary>
        internal bool NeedsScan { get; }

        /// <summary>The stats JSON (<c>add.stats</c>) and the row count from the aggregate's row.</summary>
        /// <exception cref="DeltaException">A column the schema declares not null holds nulls.</exception>
        internal (string StatsJson, long NumRecords) Read(DuckDBDataReader r) => Build(r.GetInt64(0), r);

        /// <summary>The stats JSON when every leaf is known (<see cref="NeedsScan"/> false) and the source holds <paramref name="rows"/> rows.</summary>
        internal (string StatsJson, long NumRecords) ReadWithoutScan(long rows) =>
            NeedsScan ? throw new InvalidOperationException("The stats need the aggregate over the rows.") : Build(rows, null);

        private (string StatsJson, long NumRecords) Build(long n, DuckDBDataReader? r)
        {
            var min = new JsonNode();
            var max = new JsonNode();
            var nulls = new JsonNode();
            int ordinal = 1;
            for (int i = 0; i < _leaves.Count; i++)
            {
                var leaf = _leaves[i];
                if (leaf.Expression is null)
                {
                    nulls.Set(leaf.Path, w => w.WriteNumberValue(n)); // a column missing from the file is all nulls
                    continue;
                }
                if (_known[i] is { } known)
                {
                    nulls.Set(leaf.Path, w => w.WriteNumberValue(known.NullCount));
                    if (known.Min is not null) min.Set(leaf.Path, known.Min);
                    if (known.Max is not null) max.Set(leaf.Path, known.Max);
                    continue;
                }
                long nullCount = r!.GetInt64(ordinal++);
                nulls.Set(leaf.Path, w => w.WriteNumberValue(nullCount));
                if (MinMaxKind(leaf.Type) is not { } kind) continue;
                for (int side = 0; side < 2; side++, ordinal++)
                {
                    if (r.IsDBNull(ordinal)) continue;
                    var write = kind switch
                    {
                        ValueKind.Timestamp => TimestampWriter(r.GetInt64(ordinal)),
                        ValueKind.String => StringWriter(side == 0 ? TruncateMin(r.GetString(ordinal)) : TruncateMax(r.GetString(ordinal))),
                        ValueKind.Date => StringWriter(r.GetString(ordinal)),
                        _ => NumberWriter(r.GetString(ordinal)),
                    };
                    if (write is not null) (side == 0 ? min : max).Set(leaf.Path, write);
                }
            }
            foreach (var (field, known) in _notNull)
            {
                long count = known ?? r!.GetInt64(ordinal++);
                if (count > 0)
                    throw new DeltaException(DeltaErrorCode.SchemaMismatch, $"{_what} has {count} null(s) in column '{field.Name}', which the schema declares not null.");
            }

            using var buffer = new MemoryStream();
            using (var w = new Utf8JsonWriter(buffer, DeltaCheckpoint.JsonOptions))
            {
                w.WriteStartObject();
                w.WriteNumber("numRecords", n);
                w.WritePropertyName("minValues");
                min.Write(w);
                w.WritePropertyName("maxValues");
                max.Write(w);
                w.WritePropertyName("nullCount");
                nulls.Write(w);
                w.WriteEndObject();
            }
            return (Encoding.UTF8.GetString(buffer.ToArray()), n);
        }
    }

    /// <summary>The codec part of Spark's file name (<c>part-…-c000.snappy.parquet</c>); empty when uncompressed.</summary>
    internal static string CodecExtension(string codec) => codec switch
    {
        "snappy" => ".snappy",
        "gzip" => ".gz",
        "zstd" => ".zstd",
        "lz4_raw" => ".lz4raw",
        "lz4" => ".lz4hadoop",
        "brotli" => ".br",
        "lzo" => ".lzo",
        _ => "",
    };

    /// <summary>Spark's <c>truncateMinStringAgg</c>: a 32-character prefix, not splitting a surrogate pair.</summary>
    internal static string TruncateMin(string value, int prefix = StringPrefixLength)
    {
        if (value.Length <= prefix) return value;
        return char.IsHighSurrogate(value[prefix - 1]) && char.IsLowSurrogate(value[prefix]) ? value[..(prefix + 1)] : value[..prefix];
    }

    /// <summary>
    /// Spark's <c>truncateMaxStringAgg</c>: a prefix followed by a tie-breaker (U+007F when the next character is
    /// below it, else U+10FFFF) so the result is still an upper bound in UTF-8 order; null when no bound fits in
    /// twice the prefix length.
    /// </summary>
    internal static string? TruncateMax(string value, int prefix = StringPrefixLength)
    {
        const string utf8Max = "\uDBFF\uDFFF";
        if (value.Length <= prefix) return value;
        int length = TruncateMin(value, prefix).Length;
        while (length <= 2 * prefix)
        {
            if (length >= value.Length) return value;
            if (length + 1 < value.Length && value.AsSpan(length, 2).SequenceEqual(utf8Max)) length += 2;
            else if (value[length] < '\u007F') return value[..length] + '\u007F';
            else return value[..length] + utf8Max;
        }
        return null;
    }

    private enum ValueKind { Number, Date, Timestamp, String }

    private static ValueKind? MinMaxKind(DeltaType type) => type switch
    {
        DeltaDecimalType => ValueKind.Number,
        DeltaPrimitiveType { Name: "long" or "integer" or "short" or "byte" or "float" or "double" } => ValueKind.Number,
        DeltaPrimitiveType { Name: "date" } => ValueKind.Date,
        DeltaPrimitiveType { Name: "timestamp" } => ValueKind.Timestamp,
        DeltaPrimitiveType { Name: "string" } => ValueKind.String,
        _ => null,
    };

    private static string Aggregate(string function, string expression, ValueKind kind) => kind switch
    {
        ValueKind.Timestamp => $"epoch_us({function}({expression}))",
        ValueKind.String => $"{function}({expression})",
        _ => $"CAST({function}({expression}) AS VARCHAR)",
    };

    private static void CollectLeaves(DeltaField field, IReadOnlyList<string> parent, string? expression, List<Leaf> leaves)
    {
        var path = parent.Append(field.Name).ToArray();
        if (field.Type is DeltaStructType s)
        {
            foreach (var child in s.Fields)
                CollectLeaves(child, path, expression is null ? null : $"struct_extract({expression}, {Sql.Literal(child.Name)})", leaves);
        }
        else
        {
            leaves.Add(new Leaf(path, field.Type, expression));
        }
    }

    private static int IndexOf(DeltaSchema schema, string name)
    {
        for (int i = 0; i < schema.Fields.Count; i++)
        {
            if (string.Equals(schema.Fields[i].Name, name, StringComparison.OrdinalIgnoreCase)) return i;
        }
        return -1;
    }

    /// <summary>A timestamp's ISO text, truncated to milliseconds; null (no stat) outside years 1 to 9999, which ISO text without a sign cannot hold.</summary>
    private static Action<Utf8JsonWriter>? TimestampWriter(long micros)
    {
        long millis = Math.DivRem(micros, 1000, out long rest);
        if (rest < 0) millis--; // truncate down, also before 1970
        if (millis < DateTimeOffset.MinValue.ToUnixTimeMilliseconds() || millis > DateTimeOffset.MaxValue.ToUnixTimeMilliseconds()) return null;
        string text = DateTimeOffset.FromUnixTimeMilliseconds(millis).UtcDateTime.ToString("yyyy-MM-dd'T'HH:mm:ss.fff'Z'", CultureInfo.InvariantCulture);
        return w => w.WriteStringValue(text);
    }

    private static Action<Utf8JsonWriter>? StringWriter(string? value) => value is null ? null : w => w.WriteStringValue(value);

    private static Action<Utf8JsonWriter>? NumberWriter(string text) =>
        JsonNumber().IsMatch(text) ? w => w.WriteRawValue(text, skipInputValidation: true) : null; // NaN and infinities have no JSON form

    [GeneratedRegex(@"^-?(0|[1-9]\d*)(\.\d+)?([eE][+-]?\d+)?$", RegexOptions.CultureInvariant)]
    private static partial Regex JsonNumber();

    /// <summary>A JSON object mirroring the schema's nesting, filled leaf by leaf in schema order.</summary>
    private sealed class JsonNode
    {
        private readonly List<(string Name, object Value)> _members = [];

        internal void Set(IReadOnlyList<string> path, Action<Utf8JsonWriter> value)
        {
            var node = this;
            for (int i = 0; i < path.Count - 1; i++)
            {
                var child = node._members.FirstOrDefault(m => m.Name == path[i]).Value as JsonNode;
                if (child is null)
                {
                    child = new JsonNode();
                    node._members.Add((path[i], child));
                }
                node = child;
            }
            node._members.Add((path[^1], value));
        }

        internal void Write(Utf8JsonWriter w)
        {
            w.WriteStartObject();
            foreach (var (name, value) in _members)
            {
                w.WritePropertyName(name);
                if (value is JsonNode node) node.Write(w);
                else ((Action<Utf8JsonWriter>)value)(w);
            }
            w.WriteEndObject();
        }
    }
}
