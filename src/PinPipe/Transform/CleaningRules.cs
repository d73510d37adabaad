using System.Text;
using PinPipe.DuckDb;
using PinPipe.Lake;

namespace PinPipe.Transform;

/// <summary>A column of a clean or reject table: its name and DuckDB type (for mapping to a Delta schema).</summary>
public sealed record CleanColumn(string Name, string DuckDbType);

/// <summary>
/// The cleaning rules of SPEC §4, written once as DuckDB SQL and used by both lanes: the batch lane cleans a
/// whole topic, the streaming lane each micro-batch (<see cref="Cleaner.CleanAsync"/> runs them).
/// </summary>
/// <remarks>
/// The schema is explicit, never inferred: every raw field is read as text with <c>from_json</c> and a fixed
/// structure, then coerced to its column type by the rules below. Each rule applies to every value.
/// Decisions where SPEC is silent:
/// <list type="bullet">
/// <item>A key or integer value may be a JSON integer or a string of one (<c>"12"</c>, <c>"50"</c>, optional <c>-</c>);
/// <c>12.5</c>, <c>"1e3"</c>, <c>"abc"</c> or <c>true</c> are rejects. JSON <c>null</c> and a missing field are the same (null).</item>
/// <item>A string column takes a string, number or boolean (as its JSON text); an array or object is a reject.</item>
/// <item>Junk markers (<see cref="JunkMarkers"/>) match exactly (case and spaces); blank means empty or only ASCII whitespace.</item>
/// <item>follower_count: digits, or up to 9 digits with an optional decimal part of up to 9 digits followed by
/// exactly <c>k</c>, <c>M</c> or <c>B</c>, rounded half away from zero; a decimal without a suffix is a violation.</item>
/// <item>Timestamps: <c>YYYY-MM-DD HH:MM:SS</c> or <c>YYYY-MM-DDTHH:MM:SS</c>, optional fraction, optional <c>Z</c> or
/// offset (<c>+02:00</c>, <c>+0200</c>, <c>+02</c>); without a zone the time is UTC. Anything else is a reject.</item>
/// <item>geo coordinates are <c>[latitude, longitude]</c> as in Spark's <c>array()</c>, so a null value stays a null element.</item>
/// <item>Fields that are not cleaned into a column (<c>downloaded</c>, unknown fields) are ignored.</item>
/// <item>A key that appears twice in a record takes its last value (as Python's json and Spark; DuckDB's from_json keeps the first).</item>
/// <item>A line that is not JSON is a reject <see cref="NotJson"/>; the envelope of <see cref="RecordLine"/> (bytes the sink could not
/// write as JSON, or a line a reader found not UTF-8) is a reject <see cref="InvalidUtf8"/> or <see cref="NotJson"/> by its bytes.</item>
/// </list>
/// </remarks>
public static class CleaningRules
{
    /// <summary>Reject reason of a record whose bytes are not UTF-8 (an envelope of the sink, or a line a reader found invalid).</summary>
    public const string InvalidUtf8 = "invalid_utf8";

    /// <summary>Reject reason of a record that is UTF-8 text but not JSON.</summary>
    public const string NotJson = "not_json";

    /// <summary>Prefix that save_location loses (SPEC §4 pin rule 4).</summary>
    public const string SaveLocationPrefix = "Local save in ";

    /// <summary>Columns of the reject tables: where the record came from, its raw text, why, and its key when known.</summary>
    public static IReadOnlyList<CleanColumn> RejectSchema { get; } =
        [new("origin", "VARCHAR"), new("raw", "VARCHAR"), new("reason", "VARCHAR"), new("ind", "BIGINT")];

    /// <summary>The clean table's columns, in order (SPEC §4).</summary>
    public static IReadOnlyList<CleanColumn> Schema(RecordKind kind) => Rules(kind).Schema;

    /// <summary>The table's short name: <c>pin</c>, <c>geo</c> or <c>user</c>.</summary>
    public static string TableName(RecordKind kind) => kind switch
    {
        RecordKind.Pin => "pin",
        RecordKind.Geo => "geo",
        RecordKind.User => "user",
        _ => throw new ArgumentOutOfRangeException(nameof(kind), kind, "Unknown record kind."),
    };

    /// <summary>The DuckDB table <see cref="Cleaner"/> writes the clean rows to: <c>clean_pin</c>, <c>clean_geo</c>, <c>clean_user</c>.</summary>
    public static string CleanTable(RecordKind kind) => "clean_" + TableName(kind);

    /// <summary>The DuckDB table <see cref="Cleaner"/> writes the rejects to: <c>rejects_pin</c>, ...</summary>
    public static string RejectTable(RecordKind kind) => "rejects_" + TableName(kind);

    /// <summary>The key's name in the raw record: <c>index</c> for pin, <c>ind</c> for geo and user.</summary>
    public static string KeyField(RecordKind kind) => Rules(kind).Key.Name;

    /// <summary>Every (column, rule) pair whose count <see cref="CleanResult.Quality"/> reports, in report order.</summary>
    public static IReadOnlyList<(string Column, string Rule)> QualityRulesOf(RecordKind kind) =>
        Rules(kind).Quality.Select(q => (q.Column, q.Rule)).ToArray();

    // ---------------------------------------------------------------- the rules, per table

    // SPEC §4 pin: index renamed ind (rule 1); junk markers and blanks nulled (rule 2); follower_count a whole
    // number (rule 3); save_location without "Local save in " (rule 4); downloaded dropped.
    private static readonly TableRules Pin = new(
        RecordKind.Pin,
        Key: Field.BigInt("index"),
        Fields:
        [
            Field.Text("unique_id"),
            Field.Text("title", JunkMarkers.NoTitle),
            Field.Text("description", JunkMarkers.NoDescriptionStory, JunkMarkers.NoDescription, JunkMarkers.Untitled),
            Field.Text("poster_name", JunkMarkers.UserInfoError),
            Field.Text("follower_count", JunkMarkers.UserInfoError),
            Field.Text("tag_list", JunkMarkers.NoTags),
            Field.Text("is_image_or_video"),
            Field.Text("image_src", JunkMarkers.ImageSrcError),
            Field.Text("save_location") with { StripPrefix = SaveLocationPrefix },
            Field.Text("category"),
        ],
        Derived:
        [
            ("follower_value", FollowerCountSql("\"v_follower_count\"")),
        ],
        Columns:
        [
            new("ind", "BIGINT", "\"v_index\""),
            new("unique_id", "VARCHAR", "\"v_unique_id\""),
            new("title", "VARCHAR", "\"v_title\""),
            new("description", "VARCHAR", "\"v_description\""),
            new("follower_count", "BIGINT", "\"follower_value\""),
            new("poster_name", "VARCHAR", "\"v_poster_name\""),
            new("tag_list", "VARCHAR", "\"v_tag_list\""),
            new("is_image_or_video", "VARCHAR", "\"v_is_image_or_video\""),
            new("image_src", "VARCHAR", "\"v_image_src\""),
            new("save_location", "VARCHAR", "\"v_save_location\""),
            new("category", "VARCHAR", "\"v_category\""),
        ],
        ExtraQuality:
        [
            new("follower_count", QualityRules.SuffixConverted,
                "right(\"v_follower_count\", 1) IN ('k', 'M', 'B') AND \"follower_value\" IS NOT NULL"),
            new("follower_count", QualityRules.NotANumberNulled,
                "\"v_follower_count\" IS NOT NULL AND \"follower_value\" IS NULL"),
        ])
    {
        Unread = ["downloaded"],
    };

    // SPEC §4 geo: coordinates = [latitude, longitude] (both dropped), timestamp parsed as UTC.
    private static readonly TableRules Geo = new(
        RecordKind.Geo,
        Key: Field.BigInt("ind"),
        Fields:
        [
            Field.Timestamp("timestamp"),
            Field.Double("latitude"),
            Field.Double("longitude"),
            Field.Text("country"),
        ],
        Derived: [],
        Columns:
        [
            new("ind", "BIGINT", "\"v_ind\""),
            new("country", "VARCHAR", "\"v_country\""),
            new("coordinates", "DOUBLE[]", "[\"v_latitude\", \"v_longitude\"]"),
            new("timestamp", "TIMESTAMPTZ", "\"v_timestamp\""),
        ],
        ExtraQuality: []);

    // SPEC §4 user: user_name = first_name + " " + last_name (one null: the other alone; both null: null; a blank
    // name counts as null, as in every string column); both names dropped; date_joined parsed as UTC.
    private static readonly TableRules User = new(
        RecordKind.User,
        Key: Field.BigInt("ind"),
        Fields:
        [
            Field.Text("first_name"),
            Field.Text("last_name"),
            Field.Integer("age"),
            Field.Timestamp("date_joined"),
        ],
        Derived: [],
        Columns:
        [
            new("ind", "BIGINT", "\"v_ind\""),
            new("user_name", "VARCHAR", """
                CASE
                    WHEN "v_first_name" IS NULL THEN "v_last_name"
                    WHEN "v_last_name" IS NULL THEN "v_first_name"
                    ELSE "v_first_name" || ' ' || "v_last_name"
                END
                """),
            new("age", "INTEGER", "\"v_age\""),
            new("date_joined", "TIMESTAMPTZ", "\"v_date_joined\""),
        ],
        ExtraQuality:
        [
            new("user_name", QualityRules.OneNameOnly, "(\"v_first_name\" IS NULL) <> (\"v_last_name\" IS NULL)"),
            new("user_name", QualityRules.NoNameNulled, "\"v_first_name\" IS NULL AND \"v_last_name\" IS NULL"),
        ]);

    // SPEC §4 pin rule 3: digits as they are; k ×1,000, M ×1,000,000, B ×1,000,000,000 with an optional decimal
    // part (1.5k → 1500, rounded half away from zero to a whole number); anything else null (counted as a
    // violation). With a suffix, up to 9 digits before and after the point: exact DECIMAL(18, 9) arithmetic on
    // the whole part and the fraction apart, and a result well inside BIGINT.
    private static string FollowerCountSql(string x)
    {
        string number = $"CAST(substr({x}, 1, length({x}) - 1) AS DECIMAL(18, 9))";
        string unit = $"(CASE right({x}, 1) WHEN 'k' THEN 1000 WHEN 'M' THEN 1000000 ELSE 1000000000 END)";
        return $$"""
            CASE
                WHEN {{x}} IS NULL THEN NULL
                WHEN regexp_full_match({{x}}, '[0-9]+') THEN TRY_CAST({{x}} AS BIGINT)
                WHEN regexp_full_match({{x}}, '[0-9]{1,9}(\.[0-9]{1,9})?[kMB]') THEN
                    CAST(floor({{number}}) AS BIGINT) * {{unit}} + CAST(round(({{number}} - floor({{number}})) * {{unit}}) AS BIGINT)
            END
            """;
    }

    internal static TableRules Rules(RecordKind kind) => kind switch
    {
        RecordKind.Pin => Pin,
        RecordKind.Geo => Geo,
        RecordKind.User => User,
        _ => throw new ArgumentOutOfRangeException(nameof(kind), kind, "Unknown record kind."),
    };

    // ---------------------------------------------------------------- coercion of one raw value

    // Blank (SPEC §4 pin rule 2, applied to every string column): empty or only ASCII whitespace. Every such
    // string sorts before '!', so the regex runs only on the rare candidates.
    private static string Blank(string x) => $"(CASE WHEN {x} < '!' THEN regexp_full_match({x}, '[\\t\\n\\v\\f\\r ]*') ELSE false END)";

    private const string IntegerPattern = "-?[0-9]+";
    private const string NumberPattern = "[+-]?([0-9]+(\\.[0-9]*)?|\\.[0-9]+)([eE][+-]?[0-9]+)?";
    private const string TimestampPattern =
        "[0-9]{4}-[0-9]{2}-[0-9]{2}[T ][0-9]{2}:[0-9]{2}:[0-9]{2}(\\.[0-9]{1,9})?(Z|[+-][0-9]{2}(:?[0-9]{2})?)?";

    /// <summary>A short, quoted excerpt of a raw value for a reject reason.</summary>
    private static string Excerpt(string f) => $"' (\"' || left({f}, 60) || '\")'";

    internal enum FieldType { Text, Integer, BigInt, Double, Timestamp }

    /// <summary>A field of the raw record with its coercion: text (with junk markers and an optional prefix) or a typed value.</summary>
    internal sealed record Field(string Name, FieldType Type, IReadOnlyList<string> Junk)
    {
        public string? StripPrefix { get; init; }

        public static Field Text(string name, params string[] junk) => new(name, FieldType.Text, junk);
        public static Field Integer(string name) => new(name, FieldType.Integer, []);
        public static Field BigInt(string name) => new(name, FieldType.BigInt, []);
        public static Field Double(string name) => new(name, FieldType.Double, []);
        public static Field Timestamp(string name) => new(name, FieldType.Timestamp, []);

        /// <summary>The raw text (SQL column of the <c>texts</c> step).</summary>
        public string F => Sql.Identifier("f_" + Name);

        /// <summary>The coerced value (SQL column of the <c>typed</c> step).</summary>
        public string V => Sql.Identifier("v_" + Name);

        /// <summary>The problem that makes the record a reject, or null (SQL column of the <c>typed</c> step).</summary>
        public string P => Sql.Identifier("p_" + Name);

        /// <summary>The text with the prefix stripped (SPEC §4 pin rule 4).</summary>
        private string Stripped => StripPrefix is null
            ? F
            : $"(CASE WHEN prefix({F}, {Sql.Literal(StripPrefix)}) THEN substr({F}, {StripPrefix.Length + 1}) ELSE {F} END)";

        private string JunkTest => $"{F} IN ({string.Join(", ", Junk.Select(Sql.Literal))})";

        /// <summary>SQL of the coerced value.</summary>
        public string ValueSql() => Type switch
        {
            // SPEC §4 pin rule 2: junk markers and blank strings become null (every marker, every value).
            FieldType.Text => Junk.Count > 0
                ? $"CASE WHEN {JunkTest} THEN NULL WHEN {Blank(Stripped)} THEN NULL ELSE {Stripped} END"
                : $"CASE WHEN {Blank(Stripped)} THEN NULL ELSE {Stripped} END",
            // SPEC §4 rejects: a value that cannot be coerced to its column type. "50" coerces, "1.5" does not.
            FieldType.Integer => $"CASE WHEN regexp_full_match({F}, '{IntegerPattern}') THEN TRY_CAST({F} AS INTEGER) END",
            FieldType.BigInt => $"CASE WHEN regexp_full_match({F}, '{IntegerPattern}') THEN TRY_CAST({F} AS BIGINT) END",
            FieldType.Double => $"CASE WHEN regexp_full_match({F}, '{NumberPattern}') THEN TRY_CAST({F} AS DOUBLE) END",
            // SPEC §4 geo/user: timestamps parsed as UTC (the session's TimeZone is UTC; an offset converts).
            FieldType.Timestamp => $"CASE WHEN regexp_full_match({F}, '{TimestampPattern}') THEN TRY_CAST({F} AS TIMESTAMPTZ) END",
            _ => throw new InvalidOperationException($"Unknown field type {Type}."),
        };

        /// <summary>SQL of the problem text (names the column), null when the value coerces.</summary>
        public string ProblemSql(string lineColumn, bool required) => Type switch
        {
            // A string column takes any scalar; only an array or object (JSON text starting with [ or {) is a reject.
            FieldType.Text => $"""
                CASE WHEN prefix({F}, '[') OR prefix({F}, {Sql.Literal("{")}) THEN
                    CASE json_type({lineColumn}, {Sql.Literal("$.\"" + Name + "\"")})
                        WHEN 'ARRAY' THEN {Sql.Literal(Name + ": a JSON array, not a string")}
                        WHEN 'OBJECT' THEN {Sql.Literal(Name + ": a JSON object, not a string")}
                    END
                END
                """,
            FieldType.Integer or FieldType.BigInt => $"""
                CASE
                    WHEN {F} IS NULL THEN {(required ? Sql.Literal(Name + ": missing or null") : "NULL")}
                    WHEN NOT regexp_full_match({F}, '{IntegerPattern}') THEN {Sql.Literal(Name + ": not an integer")} || {Excerpt(F)}
                    WHEN {V} IS NULL THEN {Sql.Literal(Name + ": out of range for " + (Type == FieldType.Integer ? "INTEGER" : "BIGINT"))} || {Excerpt(F)}
                END
                """,
            FieldType.Double => $"""
                CASE
                    WHEN {F} IS NULL THEN NULL
                    WHEN {V} IS NULL OR NOT isfinite({V}) THEN {Sql.Literal(Name + ": not a finite number")} || {Excerpt(F)}
                END
                """,
            FieldType.Timestamp => $"""
                CASE
                    WHEN {F} IS NULL THEN NULL
                    WHEN {V} IS NULL THEN {Sql.Literal(Name + ": not a timestamp (YYYY-MM-DD HH:MM:SS or ISO 8601)")} || {Excerpt(F)}
                END
                """,
            _ => throw new InvalidOperationException($"Unknown field type {Type}."),
        };

        /// <summary>The quality flags of a text field: junk nulled, blank nulled, prefix stripped.</summary>
        public IEnumerable<QualityFlag> Flags()
        {
            if (Type != FieldType.Text) yield break;
            if (Junk.Count > 0) yield return new(Name, QualityRules.JunkNulled, JunkTest);
            yield return new(Name, QualityRules.BlankNulled, Blank(Stripped));
            if (StripPrefix is not null) yield return new(Name, QualityRules.PrefixStripped, $"prefix({F}, {Sql.Literal(StripPrefix)})");
        }
    }

    /// <summary>An output column with the SQL that computes it from the coerced values.</summary>
    internal sealed record OutputColumn(string Name, string DuckDbType, string Sql);

    /// <summary>A quality rule: a SQL predicate, true when the rule nulled or converted the row's value.</summary>
    internal sealed record QualityFlag(string Column, string Rule, string Sql);

    /// <summary>The rules of one table.</summary>
    internal sealed record TableRules(
        RecordKind Kind,
        Field Key,
        IReadOnlyList<Field> Fields,
        IReadOnlyList<(string Name, string Sql)> Derived,
        IReadOnlyList<OutputColumn> Columns,
        IReadOnlyList<QualityFlag> ExtraQuality)
    {
        /// <summary>Fields of the raw record that no column takes (read only to count a record's keys; see <see cref="StageSql"/>).</summary>
        public IReadOnlyList<string> Unread { get; init; } = [];

        public IReadOnlyList<CleanColumn> Schema { get; } = Columns.Select(c => new CleanColumn(c.Name, c.DuckDbType)).ToArray();

        public IReadOnlyList<QualityFlag> Quality { get; } = Fields.SelectMany(f => f.Flags()).Concat(ExtraQuality).ToArray();
    }

    // ---------------------------------------------------------------- the SQL

    /// <summary>Name of the stage column holding the rule flags of a row (bit i = <see cref="QualityRulesOf"/>[i] applied).</summary>
    internal const string QualityColumn = "_quality";

    /// <summary>
    /// SQL that creates the temporary stage table: one row per raw record with seq, origin, reason (null when
    /// the record is valid), raw (the text, for rejects only), the clean columns and the quality bits.
    /// </summary>
    /// <param name="kind">The table whose rules apply.</param>
    /// <param name="rawRelationSql">The lines DuckDB's JSON functions read (<c>seq, origin, line</c>).</param>
    /// <param name="stageTable">The table to create.</param>
    /// <param name="fieldsRelationSql">Optional: lines whose fields our parser read (<c>seq, origin</c> and <c>f_&lt;name&gt;</c>
    /// for the key and each field, the text from_json gives; <see cref="FieldReader"/>); they join the others before the
    /// rules, which are the same for both. Their text is not there: a reject of theirs gets a null <c>raw</c>, which the
    /// cleaner fills in (the batch job from the objects, the stream job from the micro-batch's <see cref="MicroBatchRows"/>).</param>
    internal static string StageSql(RecordKind kind, string rawRelationSql, string stageTable, string? fieldsRelationSql = null) =>
        $"CREATE OR REPLACE TEMP TABLE {stageTable} AS\n{StageQuerySql(kind, rawRelationSql, fieldsRelationSql)}";

    /// <summary>The query of <see cref="StageSql"/>: the stage's rows, for a statement that creates the table or inserts into one.</summary>
    internal static string StageQuerySql(RecordKind kind, string rawRelationSql, string? fieldsRelationSql = null)
    {
        TableRules rules = Rules(kind);
        Field[] all = [rules.Key, .. rules.Fields];
        if (rules.Quality.Count > 62) throw new InvalidOperationException("Too many quality rules for one BIGINT.");

        var sql = new StringBuilder();

        // SPEC §4 rejects: a record that is not JSON, or JSON but not an object. The keys of an object are read
        // once (json_keys fails on text that is not JSON, so it also validates the lines that start with '{');
        // only the other lines need json_valid and json_type.
        sql.Append("WITH src AS (\n    SELECT seq, origin, CAST(line AS VARCHAR) AS src,\n")
           .Append("        CASE WHEN prefix(line, '{') THEN try(json_keys(line)) WHEN json_valid(line) AND json_type(line) = 'OBJECT' THEN json_keys(line) END AS keys\n")
           .Append("    FROM ").Append(rawRelationSql).Append("\n),\n");
        sql.Append("parsed AS (\n    SELECT *, CASE WHEN keys IS NOT NULL THEN 'OBJECT' WHEN NOT prefix(src, '{') AND json_valid(src) THEN json_type(src) END AS root FROM src\n),\n");

        // The explicit schema: every field read as text, by name; the JSON is parsed once. A key that appears twice
        // in a record: the last value wins, as in Python's json and Spark (from_json keeps the first). A record can
        // hold a duplicate only when it has more keys than the fields read found non-null values; only those few
        // records have their keys checked, and a record with a duplicate is rewritten with each key once, at its last value.
        string[] read = [.. all.Select(f => f.Name), .. rules.Unread];
        string structure = "{" + string.Join(",", read.Select(n => $"\"{n}\":\"VARCHAR\"")) + "}";
        string present = string.Join(" + ", read.Select(n => $"(r0.{Sql.Identifier(n)} IS NOT NULL)::INTEGER"));
        sql.Append("fields0 AS (\n    SELECT *, CASE WHEN root = 'OBJECT' THEN from_json(src, ").Append(Sql.Literal(structure)).Append(") END AS r0 FROM parsed\n),\n");
        sql.Append("deduplicated AS (\n    SELECT *, coalesce(len(keys) > ").Append(present).Append(" AND len(keys) > list_unique(keys), false) AS has_duplicate_key FROM fields0\n),\n");
        sql.Append("fields AS (\n    SELECT * EXCLUDE (r0), CASE WHEN has_duplicate_key THEN from_json(line, ").Append(Sql.Literal(structure)).Append(") ELSE r0 END AS r\n")
           .Append("    FROM (SELECT *, CASE WHEN has_duplicate_key THEN ").Append(LastValueWinsSql("src", "keys")).Append(" ELSE src END AS line FROM deduplicated)\n),\n");
        sql.Append("texts AS (\n    SELECT seq, origin, src, line, keys, root");
        foreach (Field f in all) sql.Append(",\n        r.").Append(Sql.Identifier(f.Name)).Append(" AS ").Append(f.F);
        sql.Append("\n    FROM fields");
        if (fieldsRelationSql is not null)
        {
            // A line our parser read is a flat JSON object with each key once, so it needs neither its keys nor the line
            // (the cleaner reads back the text of those that are rejects).
            sql.Append("\n    UNION ALL\n    SELECT seq, origin, CAST(NULL AS VARCHAR), CAST(NULL AS VARCHAR), CAST(NULL AS VARCHAR[]), 'OBJECT'");
            foreach (Field f in all) sql.Append(", ").Append(f.F);
            sql.Append("\n    FROM ").Append(fieldsRelationSql);
        }
        sql.Append("\n),\n");

        // Coercion of each field to its type, and the problem when it does not coerce.
        sql.Append("typed AS (\n    SELECT *");
        foreach (Field f in all)
        {
            sql.Append(",\n        ").Append(Indent(f.ValueSql())).Append(" AS ").Append(f.V);
            sql.Append(",\n        ").Append(Indent(f.ProblemSql("line", required: ReferenceEquals(f, rules.Key)))).Append(" AS ").Append(f.P);
        }
        sql.Append("\n    FROM texts\n),\n");

        sql.Append("derived AS (\n    SELECT *");
        foreach ((string name, string expression) in rules.Derived) sql.Append(",\n        ").Append(Indent(expression)).Append(" AS ").Append(Sql.Identifier(name));
        sql.Append("\n    FROM typed\n),\n");

        // The reject reason: the first failing check of the record, or every failing field joined with "; ". A value
        // the sink could not write as JSON arrives as the envelope (RecordLine): invalid_utf8 or not_json by its bytes.
        string envelope = Sql.Literal(RecordLine.EnvelopeField);
        sql.Append("checked AS (\n    SELECT *, CASE\n")
           .Append("        WHEN root IS NULL THEN ").Append(Sql.Literal(NotJson)).Append('\n')
           .Append("        WHEN len(keys) = 1 AND keys[1] = ").Append(envelope).Append(" THEN CASE WHEN try(decode(from_base64(json_extract_string(src, ")
           .Append(Sql.Literal("$." + RecordLine.EnvelopeField)).Append(")))) IS NULL THEN ").Append(Sql.Literal(InvalidUtf8)).Append(" ELSE ").Append(Sql.Literal(NotJson)).Append(" END\n")
           .Append("        WHEN root <> 'OBJECT' THEN 'not a JSON object (' || CASE root WHEN 'ARRAY' THEN 'an array' WHEN 'VARCHAR' THEN 'a string' ")
           .Append("WHEN 'BOOLEAN' THEN 'a boolean' WHEN 'NULL' THEN 'null' ELSE 'a number' END || ')'\n")
           .Append("        ELSE nullif(concat_ws('; ', ").Append(string.Join(", ", all.Select(f => f.P))).Append("), '')\n")
           .Append("    END AS reason\n    FROM derived\n)\n");

        sql.Append("SELECT seq, origin, reason, CASE WHEN reason IS NOT NULL THEN src END AS raw");
        foreach (OutputColumn c in rules.Columns)
            sql.Append(",\n    CAST(").Append(Indent(c.Sql, "    ")).Append(" AS ").Append(c.DuckDbType).Append(") AS ").Append(Sql.Identifier(c.Name));
        sql.Append(",\n    CAST(0 AS BIGINT)");
        for (int i = 0; i < rules.Quality.Count; i++)
            sql.Append("\n        + CASE WHEN ").Append(rules.Quality[i].Sql).Append(" THEN ").Append(1L << i).Append(" ELSE 0 END");
        sql.Append(" AS ").Append(QualityColumn).Append("\nFROM checked");
        return sql.ToString();
    }

    /// <summary>
    /// SQL of the object text <paramref name="text"/> with each of its keys (<paramref name="keys"/>, from json_keys)
    /// once, at its last value, in the order of those last occurrences.
    /// </summary>
    private static string LastValueWinsSql(string text, string keys) =>
        $"'{{' || array_to_string(list_transform(list_filter(range(1, len({keys}) + 1), i -> NOT list_contains({keys}[i + 1:], {keys}[i])), " +
        $"i -> to_json({keys}[i]) || ':' || json_extract({text}, '$.*')[i]), ',') || '}}'";

    /// <summary>Indents the second and later lines of a multi-line SQL fragment to sit under its first.</summary>
    private static string Indent(string fragment, string by = "        ") => fragment.Replace("\n", "\n" + by, StringComparison.Ordinal);
}
