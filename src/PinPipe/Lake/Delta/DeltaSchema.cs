using System.Globalization;
using System.Text;
using System.Text.Json;
using System.Text.RegularExpressions;

namespace PinPipe.Lake.Delta;

/// <summary>
/// A column type as Delta (Spark) names it in the log's <c>schemaString</c>: the primitives <c>string</c>,
/// <c>long</c>, <c>integer</c>, <c>short</c>, <c>byte</c>, <c>float</c>, <c>double</c>, <c>boolean</c>,
/// <c>binary</c>, <c>date</c>, <c>timestamp</c>, <c>decimal(p,s)</c>, and the nested array, map and struct.
/// </summary>
public abstract record DeltaType
{
    private protected DeltaType() { }

#pragma warning disable CA1720 // the names are Delta's own type names (string, long, integer, ...), as written in schemaString
    public static DeltaPrimitiveType String { get; } = new("string");
    public static DeltaPrimitiveType Long { get; } = new("long");
    public static DeltaPrimitiveType Integer { get; } = new("integer");
    public static DeltaPrimitiveType Short { get; } = new("short");
    public static DeltaPrimitiveType Byte { get; } = new("byte");
    public static DeltaPrimitiveType Float { get; } = new("float");
    public static DeltaPrimitiveType Double { get; } = new("double");
#pragma warning restore CA1720
    public static DeltaPrimitiveType Boolean { get; } = new("boolean");
    public static DeltaPrimitiveType Binary { get; } = new("binary");
    public static DeltaPrimitiveType Date { get; } = new("date");
    /// <summary>An instant (UTC), stored as Parquet INT64 TIMESTAMP(isAdjustedToUTC=true, MICROS).</summary>
    public static DeltaPrimitiveType Timestamp { get; } = new("timestamp");

    /// <summary><c>decimal(precision, scale)</c>, 1 &lt;= precision &lt;= 38, 0 &lt;= scale &lt;= precision.</summary>
#pragma warning disable CA1720 // Delta's own type name decimal(p,s)
    public static DeltaDecimalType Decimal(int precision, int scale) => new(precision, scale);
#pragma warning restore CA1720

    /// <summary>An array of <paramref name="element"/>.</summary>
    public static DeltaArrayType Array(DeltaType element, bool containsNull = true) => new(element, containsNull);

    private static readonly Dictionary<string, DeltaPrimitiveType> Primitives = new[]
    {
        String, Long, Integer, Short, Byte, Float, Double, Boolean, Binary, Date, Timestamp,
    }.ToDictionary(t => t.Name, StringComparer.Ordinal);

    private static readonly Regex DecimalPattern = new(@"^decimal\(\s*(\d+)\s*,\s*(\d+)\s*\)$", RegexOptions.CultureInvariant);

    internal static DeltaType Parse(JsonElement element, string where)
    {
        if (element.ValueKind == JsonValueKind.String)
        {
            string name = element.GetString()!;
            if (Primitives.TryGetValue(name, out var primitive)) return primitive;
            if (name == "decimal") return Decimal(10, 0);
            var m = DecimalPattern.Match(name);
            if (m.Success) return Decimal(int.Parse(m.Groups[1].Value, CultureInfo.InvariantCulture), int.Parse(m.Groups[2].Value, CultureInfo.InvariantCulture));
            throw new DeltaException(DeltaErrorCode.Unsupported, $"Column {where} has type '{name}', which is not supported.");
        }
        if (element.ValueKind != JsonValueKind.Object || !element.TryGetProperty("type", out var kind) || kind.ValueKind != JsonValueKind.String)
            throw new DeltaException(DeltaErrorCode.Corrupt, $"Column {where} has an unreadable type: {element.GetRawText()}");
        return kind.GetString() switch
        {
            "array" => new DeltaArrayType(Parse(Required(element, "elementType", where), where + ".element"), OptionalBool(element, "containsNull", true)),
            "map" => new DeltaMapType(Parse(Required(element, "keyType", where), where + ".key"), Parse(Required(element, "valueType", where), where + ".value"),
                OptionalBool(element, "valueContainsNull", true)),
            "struct" => new DeltaStructType(DeltaSchema.ParseFields(Required(element, "fields", where), where + ".")),
            var other => throw new DeltaException(DeltaErrorCode.Unsupported, $"Column {where} has type '{other}', which is not supported."),
        };
    }

    private static JsonElement Required(JsonElement element, string name, string where) =>
        element.TryGetProperty(name, out var value) ? value
        : throw new DeltaException(DeltaErrorCode.Corrupt, $"Column {where}: the type has no '{name}'.");

    private static bool OptionalBool(JsonElement element, string name, bool fallback) =>
        element.TryGetProperty(name, out var value) && value.ValueKind is JsonValueKind.True or JsonValueKind.False ? value.GetBoolean() : fallback;

    internal abstract void Write(Utf8JsonWriter writer);
}

/// <summary>A primitive type; <see cref="Name"/> is Spark's name (<c>long</c>, <c>timestamp</c>, ...).</summary>
public sealed record DeltaPrimitiveType : DeltaType
{
    internal DeltaPrimitiveType(string name) => Name = name;

    public string Name { get; }

    public override string ToString() => Name;

    internal override void Write(Utf8JsonWriter writer) => writer.WriteStringValue(Name);
}

/// <summary><c>decimal(Precision, Scale)</c>.</summary>
public sealed record DeltaDecimalType : DeltaType
{
    internal DeltaDecimalType(int precision, int scale)
    {
        if (precision is < 1 or > 38 || scale < 0 || scale > precision)
            throw new ArgumentOutOfRangeException(nameof(precision), $"decimal({precision},{scale}) is not valid: precision 1..38, scale 0..precision.");
        Precision = precision;
        Scale = scale;
    }

    public int Precision { get; }

    public int Scale { get; }

    public override string ToString() => $"decimal({Precision},{Scale})";

    internal override void Write(Utf8JsonWriter writer) => writer.WriteStringValue(ToString());
}

/// <summary><c>array&lt;Element&gt;</c>.</summary>
public sealed record DeltaArrayType(DeltaType Element, bool ContainsNull = true) : DeltaType
{
    public override string ToString() => $"array<{Element}>";

    internal override void Write(Utf8JsonWriter writer)
    {
        writer.WriteStartObject();
        writer.WriteString("type", "array");
        writer.WritePropertyName("elementType");
        Element.Write(writer);
        writer.WriteBoolean("containsNull", ContainsNull);
        writer.WriteEndObject();
    }
}

/// <summary><c>map&lt;Key, Value&gt;</c>.</summary>
public sealed record DeltaMapType(DeltaType Key, DeltaType Value, bool ValueContainsNull = true) : DeltaType
{
    public override string ToString() => $"map<{Key},{Value}>";

    internal override void Write(Utf8JsonWriter writer)
    {
        writer.WriteStartObject();
        writer.WriteString("type", "map");
        writer.WritePropertyName("keyType");
        Key.Write(writer);
        writer.WritePropertyName("valueType");
        Value.Write(writer);
        writer.WriteBoolean("valueContainsNull", ValueContainsNull);
        writer.WriteEndObject();
    }
}

/// <summary><c>struct&lt;...&gt;</c>: named fields.</summary>
public sealed record DeltaStructType(IReadOnlyList<DeltaField> Fields) : DeltaType
{
    public bool Equals(DeltaStructType? other) => other is not null && Fields.SequenceEqual(other.Fields);

    public override int GetHashCode() => Fields.Aggregate(17, (h, f) => HashCode.Combine(h, f));

    public override string ToString() => $"struct<{string.Join(",", Fields.Select(f => $"{f.Name}:{f.Type}"))}>";

    internal override void Write(Utf8JsonWriter writer) => DeltaSchema.WriteStruct(writer, Fields);
}

/// <summary>A column: name, type and whether it may hold nulls.</summary>
/// <remarks>Equality compares name, type and nullability; the column's metadata (kept as read, for the
/// writer's checks) is not compared.</remarks>
public sealed record DeltaField(string Name, DeltaType Type, bool Nullable = true)
{
    /// <summary>The field's <c>metadata</c> object as JSON text (<c>{}</c> for none).</summary>
    internal string MetadataJson { get; init; } = "{}";

    public bool Equals(DeltaField? other) =>
        other is not null && Name == other.Name && Type.Equals(other.Type) && Nullable == other.Nullable;

    public override int GetHashCode() => HashCode.Combine(Name, Type, Nullable);
}

/// <summary>
/// A table's schema (a top-level struct), serialized to and from Spark's JSON <c>schemaString</c>.
/// Column names are unique ignoring case. A table's schema may be empty (Spark's default for a table whose
/// metadata has no <c>schemaString</c>); such a table has no rows to read and cannot be written.
/// </summary>
public sealed class DeltaSchema : IEquatable<DeltaSchema>
{
    public DeltaSchema(IReadOnlyList<DeltaField> fields)
    {
        ArgumentNullException.ThrowIfNull(fields);
        CheckNames(fields, "");
        Fields = fields.ToArray();
    }

    public DeltaSchema(params DeltaField[] fields) : this((IReadOnlyList<DeltaField>)fields) { }

    public IReadOnlyList<DeltaField> Fields { get; }

    /// <summary>The column named <paramref name="name"/> (ignoring case), or null.</summary>
    public DeltaField? Find(string name) => Fields.FirstOrDefault(f => string.Equals(f.Name, name, StringComparison.OrdinalIgnoreCase));

    /// <summary>Spark's JSON form, on one line (the log's <c>schemaString</c>).</summary>
    public string ToJson()
    {
        using var buffer = new MemoryStream();
        using (var writer = new Utf8JsonWriter(buffer)) WriteStruct(writer, Fields);
        return Encoding.UTF8.GetString(buffer.ToArray());
    }

    /// <summary>Parses Spark's JSON schema.</summary>
    /// <exception cref="DeltaException">The text is not a Spark struct schema, or uses an unsupported type.</exception>
    public static DeltaSchema FromJson(string json)
    {
        ArgumentNullException.ThrowIfNull(json);
        try
        {
            using var doc = JsonDocument.Parse(json);
            var root = doc.RootElement;
            if (root.ValueKind != JsonValueKind.Object || !root.TryGetProperty("type", out var t) || t.GetString() != "struct" || !root.TryGetProperty("fields", out var fields))
                throw new DeltaException(DeltaErrorCode.Corrupt, $"The schema is not a Spark struct: {Shorten(json)}");
            return new DeltaSchema(ParseFields(fields, ""));
        }
        catch (JsonException e)
        {
            throw new DeltaException(DeltaErrorCode.Corrupt, $"The schema is not valid JSON ({e.Message}): {Shorten(json)}", e);
        }
        catch (ArgumentException e)
        {
            throw new DeltaException(DeltaErrorCode.Corrupt, $"The schema is not valid: {e.Message}", e);
        }
    }

    public bool Equals(DeltaSchema? other) => other is not null && Fields.SequenceEqual(other.Fields);

    public override bool Equals(object? obj) => Equals(obj as DeltaSchema);

    public override int GetHashCode() => Fields.Aggregate(17, (h, f) => HashCode.Combine(h, f));

    public override string ToString() => string.Join(", ", Fields.Select(f => $"{f.Name} {f.Type}{(f.Nullable ? "" : " not null")}"));

    internal static IReadOnlyList<DeltaField> ParseFields(JsonElement fields, string parent)
    {
        if (fields.ValueKind != JsonValueKind.Array)
            throw new DeltaException(DeltaErrorCode.Corrupt, $"The schema's fields{(parent.Length > 0 ? " of " + parent.TrimEnd('.') : "")} are not an array.");
        var result = new List<DeltaField>();
        foreach (var f in fields.EnumerateArray())
        {
            if (!f.TryGetProperty("name", out var name) || name.ValueKind != JsonValueKind.String || !f.TryGetProperty("type", out var type))
                throw new DeltaException(DeltaErrorCode.Corrupt, $"A schema field has no name or type: {f.GetRawText()}");
            string fieldName = name.GetString()!;
            bool nullable = !f.TryGetProperty("nullable", out var n) || n.ValueKind != JsonValueKind.False;
            string metadata = f.TryGetProperty("metadata", out var m) && m.ValueKind == JsonValueKind.Object ? m.GetRawText() : "{}";
            result.Add(new DeltaField(fieldName, DeltaType.Parse(type, "'" + parent + fieldName + "'"), nullable) { MetadataJson = metadata });
        }
        CheckNames(result, parent);
        return result;
    }

    internal static void WriteStruct(Utf8JsonWriter writer, IReadOnlyList<DeltaField> fields)
    {
        writer.WriteStartObject();
        writer.WriteString("type", "struct");
        writer.WriteStartArray("fields");
        foreach (var f in fields)
        {
            writer.WriteStartObject();
            writer.WriteString("name", f.Name);
            writer.WritePropertyName("type");
            f.Type.Write(writer);
            writer.WriteBoolean("nullable", f.Nullable);
            writer.WritePropertyName("metadata");
            writer.WriteRawValue(f.MetadataJson);
            writer.WriteEndObject();
        }
        writer.WriteEndArray();
        writer.WriteEndObject();
    }

    private static void CheckNames(IReadOnlyList<DeltaField> fields, string parent)
    {
        var seen = new HashSet<string>(StringComparer.OrdinalIgnoreCase);
        foreach (var f in fields)
        {
            ArgumentNullException.ThrowIfNull(f, nameof(fields));
            if (string.IsNullOrEmpty(f.Name)) throw new ArgumentException($"A column{(parent.Length > 0 ? " of " + parent.TrimEnd('.') : "")} has an empty name.", nameof(fields));
            if (!seen.Add(f.Name)) throw new ArgumentException($"Column name '{parent}{f.Name}' appears twice (names are unique ignoring case).", nameof(fields));
        }
    }

    private static string Shorten(string s) => s.Length <= 200 ? s : s[..200] + "...";
}
