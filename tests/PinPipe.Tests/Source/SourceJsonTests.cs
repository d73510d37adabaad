using System.Buffers;
using System.Text;
using PinPipe.Source;

namespace PinPipe.Tests.Source;

public sealed class SourceJsonTests
{
    private static DateTime Utc(int y, int mo, int d, int h, int mi, int s) => new(y, mo, d, h, mi, s, DateTimeKind.Utc);

    [Fact]
    public void The_spec_pin_example_is_reproduced_byte_for_byte()
    {
        var row = new PinRow(7528, "fbe53c66-3442-4773-b19e-d3ec6f54dddf", "No Title Data Available", "No description available Story format",
            "User Info Error", "User Info Error", "N,o, ,T,a,g,s, ,A,v,a,i,l,a,b,l,e", "multi-video(story page format)", "Image src error.", 0,
            "Local save in /data/mens-fashion", "mens-fashion");
        const string expected = """{"index": 7528, "unique_id": "fbe53c66-3442-4773-b19e-d3ec6f54dddf", "title": "No Title Data Available", "description": "No description available Story format", "poster_name": "User Info Error", "follower_count": "User Info Error", "tag_list": "N,o, ,T,a,g,s, ,A,v,a,i,l,a,b,l,e", "is_image_or_video": "multi-video(story page format)", "image_src": "Image src error.", "downloaded": 0, "save_location": "Local save in /data/mens-fashion", "category": "mens-fashion"}""";
        Assert.Equal(Encoding.UTF8.GetBytes(expected), SourceJson.Pin(row));
    }

    [Fact]
    public void The_spec_geo_example_is_reproduced_byte_for_byte()
    {
        var row = new GeoRow(7528, Utc(2020, 8, 28, 3, 52, 47), -89.9787, -173.293, "Albania");
        const string expected = """{"ind": 7528, "timestamp": "2020-08-28 03:52:47", "latitude": -89.9787, "longitude": -173.293, "country": "Albania"}""";
        Assert.Equal(Encoding.UTF8.GetBytes(expected), SourceJson.Geo(row));
    }

    [Fact]
    public void The_spec_user_example_is_reproduced_byte_for_byte()
    {
        var row = new UserRow(7528, "Abigail", "Ali", 20, Utc(2015, 10, 24, 11, 23, 51));
        const string expected = """{"ind": 7528, "first_name": "Abigail", "last_name": "Ali", "age": 20, "date_joined": "2015-10-24 11:23:51"}""";
        Assert.Equal(Encoding.UTF8.GetBytes(expected), SourceJson.User(row));
    }

    [Fact]
    public void Non_ascii_is_written_as_utf8_and_specials_are_escaped_like_python()
    {
        var row = new GeoRow(1, null, null, 5.0, "Côte d'Ivoire \"q\" \\ \n\t\u0001 日本 😀");
        var json = Encoding.UTF8.GetString(SourceJson.Geo(row));
        Assert.Equal("{\"ind\": 1, \"timestamp\": null, \"latitude\": null, \"longitude\": 5.0, \"country\": \"Côte d'Ivoire \\\"q\\\" \\\\ \\n\\t\\u0001 日本 😀\"}", json);
    }

    [Fact]
    public void Nulls_are_written_as_null()
    {
        var json = Encoding.UTF8.GetString(SourceJson.User(new UserRow(3, null, "Ali", null, null)));
        Assert.Equal("""{"ind": 3, "first_name": null, "last_name": "Ali", "age": null, "date_joined": null}""", json);
    }

    [Theory]
    [InlineData(5.0, "5.0")]
    [InlineData(-89.9787, "-89.9787")]
    [InlineData(-173.293, "-173.293")]
    [InlineData(0.1, "0.1")]
    [InlineData(0.0001, "0.0001")]
    [InlineData(0.00001, "1e-05")]
    [InlineData(1.5e-7, "1.5e-07")]
    [InlineData(123456789012345.0, "123456789012345.0")]
    [InlineData(1e15, "1000000000000000.0")]
    [InlineData(1e16, "1e+16")]
    [InlineData(1.2345e20, "1.2345e+20")]
    [InlineData(0.0, "0.0")]
    [InlineData(-0.0, "-0.0")]
    [InlineData(100.0, "100.0")]
    [InlineData(1.7976931348623157e308, "1.7976931348623157e+308")]
    [InlineData(double.NaN, "NaN")]
    [InlineData(double.NegativeInfinity, "-Infinity")]
    public void Doubles_are_printed_as_python_repr(double value, string expected)
    {
        Assert.Equal(expected, SourceJson.FormatDouble(value));
    }

    [Fact]
    public void Writing_into_a_buffer_writer_appends_the_same_bytes()
    {
        var post = SyntheticData.Post(42, 17);
        var buffer = new ArrayBufferWriter<byte>();
        SourceJson.WritePin(buffer, post.Pin);
        SourceJson.WriteGeo(buffer, post.Geo!);
        SourceJson.WriteUser(buffer, post.User!);
        Assert.Equal(SourceJson.Pin(post.Pin).Concat(SourceJson.Geo(post.Geo!)).Concat(SourceJson.User(post.User!)).ToArray(), buffer.WrittenSpan.ToArray());
    }

    [Fact]
    public void Generated_records_parse_back_as_json_with_the_source_values()
    {
        foreach (var post in SyntheticData.Generate(42, 1, 2_000))
        {
            using var pin = System.Text.Json.JsonDocument.Parse(SourceJson.Pin(post.Pin));
            Assert.Equal(post.Pin.Title, pin.RootElement.GetProperty("title").GetString());
            Assert.Equal(post.Pin.Description, pin.RootElement.GetProperty("description").GetString());
            using var geo = System.Text.Json.JsonDocument.Parse(SourceJson.Geo(post.Geo!));
            Assert.Equal(post.Geo!.Latitude, geo.RootElement.GetProperty("latitude").GetDouble());
            Assert.Equal(post.Geo.Country, geo.RootElement.GetProperty("country").GetString());
        }
    }
}
