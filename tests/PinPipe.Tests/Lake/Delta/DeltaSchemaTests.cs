using PinPipe.Lake.Delta;

namespace PinPipe.Tests.Lake.Delta;

public sealed class DeltaSchemaTests
{
    [Fact]
    public void The_interop_example_schema_parses_and_serializes_to_sparks_json()
    {
        const string json = """{"type":"struct","fields":[{"name":"event_id","type":"string","nullable":true,"metadata":{}},{"name":"user_id","type":"long","nullable":true,"metadata":{}},{"name":"qty","type":"integer","nullable":true,"metadata":{}},{"name":"amount","type":"double","nullable":true,"metadata":{}},{"name":"event_time","type":"timestamp","nullable":true,"metadata":{}},{"name":"samples","type":{"type":"array","elementType":"double","containsNull":true},"nullable":true,"metadata":{}}]}""";
        var schema = DeltaSchema.FromJson(json);
        Assert.Equal(DeltaTableWriteTests.EventSchema, schema);
        Assert.Equal(json, DeltaTableWriteTests.EventSchema.ToJson());
    }

    [Fact]
    public void Every_type_round_trips()
    {
        var schema = new DeltaSchema(
            new DeltaField("s", DeltaType.String, Nullable: false),
            new DeltaField("l", DeltaType.Long), new DeltaField("i", DeltaType.Integer), new DeltaField("sh", DeltaType.Short),
            new DeltaField("b", DeltaType.Byte), new DeltaField("f", DeltaType.Float), new DeltaField("d", DeltaType.Double),
            new DeltaField("bo", DeltaType.Boolean), new DeltaField("bi", DeltaType.Binary), new DeltaField("da", DeltaType.Date),
            new DeltaField("ts", DeltaType.Timestamp), new DeltaField("dec", DeltaType.Decimal(10, 2)),
            new DeltaField("arr", DeltaType.Array(DeltaType.Array(DeltaType.Integer, containsNull: false))),
            new DeltaField("m", new DeltaMapType(DeltaType.String, DeltaType.Long, ValueContainsNull: false)),
            new DeltaField("st", new DeltaStructType([new DeltaField("x", DeltaType.Double), new DeltaField("y", DeltaType.Timestamp, Nullable: false)])));
        string json = schema.ToJson();
        Assert.Contains("\"decimal(10,2)\"", json, StringComparison.Ordinal);
        Assert.Contains("""{"type":"map","keyType":"string","valueType":"long","valueContainsNull":false}""", json, StringComparison.Ordinal);
        Assert.Contains("""{"name":"s","type":"string","nullable":false,"metadata":{}}""", json, StringComparison.Ordinal);
        var parsed = DeltaSchema.FromJson(json);
        Assert.Equal(schema, parsed);
        Assert.Equal(json, parsed.ToJson());
        Assert.NotEqual(schema, new DeltaSchema(schema.Fields.Take(3).ToArray()));
        Assert.Equal(DeltaType.Decimal(10, 2), parsed.Find("DEC")!.Type);
    }

    [Fact]
    public void Field_metadata_is_kept_but_not_compared()
    {
        var parsed = DeltaSchema.FromJson("""{"type":"struct","fields":[{"name":"a","type":"integer","nullable":true,"metadata":{"comment":"x"}}]}""");
        Assert.Equal(new DeltaSchema(new DeltaField("a", DeltaType.Integer)), parsed);
        Assert.Contains("\"metadata\":{\"comment\":\"x\"}", parsed.ToJson(), StringComparison.Ordinal);
    }

    [Fact]
    public void Bad_schemas_are_refused_with_the_column_named()
    {
        var ntz = Assert.Throws<DeltaException>(() => DeltaSchema.FromJson("""{"type":"struct","fields":[{"name":"t","type":"timestamp_ntz","nullable":true,"metadata":{}}]}"""));
        Assert.Equal(DeltaErrorCode.Unsupported, ntz.Code);
        Assert.Contains("'t'", ntz.Message, StringComparison.Ordinal);
        Assert.Contains("timestamp_ntz", ntz.Message, StringComparison.Ordinal);
        Assert.Equal(DeltaErrorCode.Corrupt, Assert.Throws<DeltaException>(() => DeltaSchema.FromJson("not json")).Code);
        Assert.Equal(DeltaErrorCode.Corrupt, Assert.Throws<DeltaException>(() => DeltaSchema.FromJson("""{"type":"array"}""")).Code);
        var dup = Assert.Throws<ArgumentException>(() => new DeltaSchema(new DeltaField("a", DeltaType.Long), new DeltaField("A", DeltaType.Long)));
        Assert.Contains("'A' appears twice", dup.Message, StringComparison.Ordinal);
        Assert.Throws<ArgumentOutOfRangeException>(() => DeltaType.Decimal(39, 0));
    }
}
