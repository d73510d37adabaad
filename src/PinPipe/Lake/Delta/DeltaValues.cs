using System.Collections;
using System.Globalization;
using System.Reflection;
using DuckDB.NET.Data;
using PinPipe.DuckDb;

namespace PinPipe.Lake.Delta;

/// <summary>Value conversions: partition strings to SQL literals, and DuckDB.NET values to the reader's .NET values.</summary>
internal static class DeltaValues
{
    internal const string HiveDefaultPartition = "__HIVE_DEFAULT_PARTITION__";

    private static readonly MethodInfo GetFieldValue = typeof(DuckDBDataReader).GetMethods()
        .Single(m => m.Name == nameof(DuckDBDataReader.GetFieldValue) && m.IsGenericMethodDefinition && m.GetParameters().Length == 1);

    /// <summary>A SQL literal of <paramref name="field"/>'s type for a partition value from the log.</summary>
    internal static string PartitionLiteral(string? value, DeltaField field, string file)
    {
        string type = DeltaDuckDb.TypeOf(field.Type);
        if (value is null || value.Length == 0 || value == HiveDefaultPartition) return $"CAST(NULL AS {type})";
        string Bad() => throw new DeltaException(DeltaErrorCode.Corrupt, $"File '{file}': partition value '{value}' of column '{field.Name}' is not a valid {field.Type}.");
        string Text()
        {
            try { return Sql.Literal(value); }
            catch (ArgumentException e) { throw new DeltaException(DeltaErrorCode.Unsupported, $"File '{file}': partition value of column '{field.Name}' cannot be read: {e.Message}", e); }
        }
        var inv = CultureInfo.InvariantCulture;
        switch (field.Type)
        {
            case DeltaPrimitiveType { Name: "string" }:
                return Text();
            case DeltaPrimitiveType { Name: "long" or "integer" or "short" or "byte" }:
                return long.TryParse(value, NumberStyles.AllowLeadingSign, inv, out long n) ? $"CAST({n.ToString(inv)} AS {type})" : Bad();
            case DeltaPrimitiveType { Name: "float" or "double" }:
                return double.TryParse(value, NumberStyles.Float, inv, out _) || value is "NaN" or "Infinity" or "-Infinity"
                    ? $"CAST({Sql.Literal(value)} AS {type})" : Bad();
            case DeltaPrimitiveType { Name: "boolean" }:
                return bool.TryParse(value, out bool b) ? (b ? "TRUE" : "FALSE") : Bad();
            case DeltaPrimitiveType { Name: "date" }:
                return DateOnly.TryParseExact(value, "yyyy-MM-dd", inv, DateTimeStyles.None, out var d) ? $"DATE '{d.ToString("yyyy-MM-dd", inv)}'" : Bad();
            case DeltaPrimitiveType { Name: "timestamp" }:
                return ParseTimestamp(value) is { } ts ? $"make_timestamptz(CAST({Micros(ts).ToString(inv)} AS BIGINT))" : Bad();
            case DeltaPrimitiveType { Name: "binary" }:
                return $"encode({Text()})";
            case DeltaDecimalType:
                return decimal.TryParse(value, NumberStyles.Number, inv, out _) ? $"CAST({Sql.Literal(value)} AS {type})" : Bad();
            default:
                throw new DeltaException(DeltaErrorCode.Unsupported, $"Partition column '{field.Name}' has type {field.Type}, which cannot be a partition column.");
        }
    }

    /// <summary>
    /// A timestamp partition value: Spark's <c>yyyy-MM-dd HH:mm:ss[.ffffff]</c> (taken as UTC) or ISO-8601 with
    /// <c>Z</c> or an offset.
    /// </summary>
    internal static DateTimeOffset? ParseTimestamp(string value) =>
        DateTimeOffset.TryParse(value, CultureInfo.InvariantCulture, DateTimeStyles.AssumeUniversal | DateTimeStyles.AdjustToUniversal, out var ts) ? ts : null;

    internal static long Micros(DateTimeOffset value) => (value.UtcTicks - DateTimeOffset.UnixEpoch.UtcTicks) / 10;

    /// <summary>A function reading column <c>i</c> of a row (not null) as the reader's .NET value for <paramref name="type"/>.</summary>
    internal static Func<DuckDBDataReader, int, object?> ReaderFor(DeltaType type)
    {
        if (type is DeltaArrayType && ClrType(type) is { } listType)
        {
            // GetValue cannot build a list holding nulls; GetFieldValue<List<T?>> can.
            var method = GetFieldValue.MakeGenericMethod(listType);
            return (r, i) => Normalize(method.Invoke(r, [i]), type);
        }
        return (r, i) => Normalize(r.GetValue(i), type);
    }

    /// <summary>The type DuckDB.NET builds for a (nested) array of primitives, or null for other types.</summary>
    private static Type? ClrType(DeltaType type) => type switch
    {
        DeltaPrimitiveType { Name: "string" } => typeof(string),
        DeltaPrimitiveType { Name: "long" } => typeof(long?),
        DeltaPrimitiveType { Name: "integer" } => typeof(int?),
        DeltaPrimitiveType { Name: "short" } => typeof(short?),
        DeltaPrimitiveType { Name: "byte" } => typeof(sbyte?),
        DeltaPrimitiveType { Name: "float" } => typeof(float?),
        DeltaPrimitiveType { Name: "double" } => typeof(double?),
        DeltaPrimitiveType { Name: "boolean" } => typeof(bool?),
        DeltaPrimitiveType { Name: "binary" } => typeof(Stream),
        DeltaPrimitiveType { Name: "date" } => typeof(DateOnly?),
        DeltaPrimitiveType { Name: "timestamp" } => typeof(DateTime?),
        DeltaDecimalType => typeof(decimal?),
        DeltaArrayType a when ClrType(a.Element) is { } element => typeof(List<>).MakeGenericType(element),
        _ => null,
    };

    /// <summary>Turns a DuckDB.NET value into the reader's value: UTC timestamps, byte[] blobs, normalized nesting.</summary>
    internal static object? Normalize(object? value, DeltaType type)
    {
        if (value is null or DBNull) return null;
        switch (type)
        {
            case DeltaPrimitiveType { Name: "timestamp" }:
                return value switch
                {
                    DateTime dt => new DateTimeOffset(DateTime.SpecifyKind(dt, DateTimeKind.Utc)),
                    DateTimeOffset dto => dto.ToUniversalTime(),
                    _ => value,
                };
            case DeltaPrimitiveType { Name: "binary" }:
                if (value is Stream stream)
                {
                    using var copy = new MemoryStream();
                    stream.CopyTo(copy);
                    return copy.ToArray();
                }
                return value;
            case DeltaPrimitiveType { Name: "date" }:
                return value is DateTime date ? DateOnly.FromDateTime(date) : value;
            case DeltaArrayType a when value is IList list:
                if (!NeedsNormalizing(a.Element)) return value;
                IList result = a.Element switch
                {
                    DeltaPrimitiveType { Name: "timestamp" } => new List<DateTimeOffset?>(list.Count),
                    DeltaPrimitiveType { Name: "binary" } => new List<byte[]?>(list.Count),
                    _ => new List<object?>(list.Count),
                };
                foreach (object? item in list) result.Add(Normalize(item, a.Element));
                return result;
            case DeltaMapType m when value is IDictionary map:
                if (!NeedsNormalizing(m.Key) && !NeedsNormalizing(m.Value)) return value;
                var normalized = new Dictionary<object, object?>();
                foreach (DictionaryEntry e in map) normalized[Normalize(e.Key, m.Key)!] = Normalize(e.Value, m.Value);
                return normalized;
            case DeltaStructType s when value is IDictionary<string, object?> fields:
                var row = new Dictionary<string, object?>(StringComparer.Ordinal);
                foreach (var f in s.Fields) row[f.Name] = fields.TryGetValue(f.Name, out var v) ? Normalize(v, f.Type) : null;
                return row;
            default:
                return value;
        }
    }

    private static bool NeedsNormalizing(DeltaType type) => type switch
    {
        DeltaPrimitiveType { Name: "timestamp" or "binary" } => true,
        DeltaPrimitiveType or DeltaDecimalType => false,
        _ => true,
    };
}
