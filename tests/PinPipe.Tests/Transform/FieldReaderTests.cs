using System.Text;
using PinPipe.Transform;

namespace PinPipe.Tests.Transform;

/// <summary>What our parser reads itself and what it leaves to DuckDB's JSON functions (<see cref="FieldReader"/>).</summary>
public sealed class FieldReaderTests
{
    private static Dictionary<string, string?>? Read(RecordKind kind, string line)
    {
        var reader = new FieldReader(kind);
        byte[] bytes = Encoding.UTF8.GetBytes(line);
        if (!reader.TryRead(bytes)) return null;
        return reader.Names.Select((n, i) => (n, i)).ToDictionary(x => x.n, x => reader.Value(x.i, bytes, out var v) ? Encoding.UTF8.GetString(v) : null);
    }

    [Fact]
    public void The_fields_are_the_key_then_the_rules_fields_then_those_only_counted()
    {
        Assert.Equal(["index", "unique_id", "title", "description", "poster_name", "follower_count", "tag_list", "is_image_or_video", "image_src", "save_location", "category", "downloaded"],
            new FieldReader(RecordKind.Pin).Names);
        Assert.Equal(["ind", "timestamp", "latitude", "longitude", "country"], new FieldReader(RecordKind.Geo).Names);
    }

    [Fact]
    public void A_flat_object_gives_each_field_the_text_from_json_gives()
    {
        var values = Read(RecordKind.User, "{\"ind\": 7, \"first_name\": \"Say \\\"hi\\\" caf\\u00e9 \\ud83d\\ude00\", \"last_name\": null, \"age\": \"41\", \"extra\": 5, \"date_joined\": true}");

        Assert.NotNull(values);
        Assert.Equal("7", values["ind"]);
        Assert.Equal("Say \"hi\" café 😀", values["first_name"]);
        Assert.Null(values["last_name"]);
        Assert.Equal("41", values["age"]);
        Assert.Equal("true", values["date_joined"]);
    }

    [Fact]
    public void A_missing_field_is_null_and_an_empty_string_is_empty()
    {
        var values = Read(RecordKind.Geo, "{\"ind\":1,\"country\":\"\"}");

        Assert.NotNull(values);
        Assert.Equal("", values["country"]);
        Assert.Null(values["timestamp"]);
    }

    [Theory]
    [InlineData("{\"ind\": 1, \"latitude\": -89.9787, \"longitude\": 1e3}", "-89.9787", "1e3")]
    [InlineData("{\"ind\": 1, \"latitude\": 12, \"longitude\": -0.5}", "12", "-0.5")]
    public void A_double_field_takes_any_finite_number_as_written(string line, string latitude, string longitude)
    {
        var values = Read(RecordKind.Geo, line);

        Assert.NotNull(values);
        Assert.Equal(latitude, values["latitude"]);
        Assert.Equal(longitude, values["longitude"]);
    }

    [Theory]
    [InlineData("{\"ind\": 1.5}")] // a non-integer in an integer field: DuckDB's path writes it its own way
    [InlineData("{\"ind\": 1, \"first_name\": 2.5}")]
    [InlineData("{\"ind\": 1234567890123456789}")] // 19 digits
    [InlineData("{\"ind\": -0}")]
    [InlineData("{\"ind\": 1, \"ind\": 2}")] // a key twice: the last value wins there
    [InlineData("{\"ind\": 1, \"x\": 1, \"x\": 2}")]
    [InlineData("{\"\\u0069nd\": 1}")] // an escaped key
    [InlineData("{\"pinpipe_binary_base64\": \"wyg=\"}")] // the envelope
    [InlineData("{\"ind\": 1, \"first_name\": \"a\\u0000b\"}")]
    [InlineData("{\"ind\": 1, \"first_name\": \"\\ud800\"}")] // a lone surrogate
    [InlineData("{\"ind\": 1, \"first_name\": [\"a\"]}")] // a nested value
    [InlineData("{\"ind\": 1, \"extra\": {}}")]
    [InlineData("{\"ind\": 1} x")]
    [InlineData("{\"ind\": 1}\r")]
    [InlineData(" {\"ind\": 1}")]
    [InlineData("{\"ind\": 1,}")]
    [InlineData("{\"ind\": 1")]
    [InlineData("[1, 2]")]
    [InlineData("")]
    [InlineData("not json")]
    [InlineData("{\"ind\": 1, \"latitude\": 1e400}")]
    public void Lines_it_cannot_read_exactly_are_left_to_duckdb(string line) =>
        Assert.Null(Read(line.Contains("latitude", StringComparison.Ordinal) ? RecordKind.Geo : RecordKind.User, line));

    [Fact]
    public void A_reader_reused_for_another_line_forgets_the_last_one()
    {
        var reader = new FieldReader(RecordKind.User);
        byte[] first = Encoding.UTF8.GetBytes("{\"ind\": 1, \"first_name\": \"caf\\u00e9\"}");
        byte[] second = Encoding.UTF8.GetBytes("{\"ind\": 2}");

        Assert.True(reader.TryRead(first));
        Assert.True(reader.TryRead(second));

        Assert.True(reader.Value(0, second, out var ind));
        Assert.Equal("2", Encoding.UTF8.GetString(ind));
        Assert.False(reader.Value(1, second, out _));
    }
}
