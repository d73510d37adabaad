using System.Text;
using System.Text.Json;
using PinPipe.Insights;
using PinPipe.Tests.Support;

namespace PinPipe.Tests.Insights;

public sealed class InsightFilesTests
{
    private static readonly InsightResult Countries = new(1, "popular-category-per-country", "Most popular category per country",
        ["country", "category", "category_count"],
        [
            ["Korea, Republic of", "art", 12L],
            ["Côte d'Ivoire", "say \"hi\"", 3L],
            ["Line\r\nbreak", null, 0L],
            ["", " padded ", 7L],
        ]);

    private static readonly InsightResult Years = new(7, "users-joined-per-year", "Users joined per join year, 2015–2020",
        ["post_year", "number_users_joined"], [[2015, 3L], [2020, long.MaxValue]]);

    [Fact]
    public void Csv_quotes_per_rfc_4180_and_writes_null_as_an_empty_field()
    {
        var csv = InsightFiles.ToCsv(Countries);

        Assert.Equal(
            "country,category,category_count\r\n" +
            "\"Korea, Republic of\",art,12\r\n" +
            "Côte d'Ivoire,\"say \"\"hi\"\"\",3\r\n" +
            "\"Line\r\nbreak\",,0\r\n" +
            "\"\", padded ,7\r\n",
            csv);
    }

    [Fact]
    public void Csv_prefixes_text_cells_a_spreadsheet_would_run_as_a_formula_but_leaves_numbers_alone()
    {
        var hostile = new InsightResult(3, "most-followed-per-country", "Most followed user per country",
            ["country", "poster_name", "follower_count"],
            [
                ["=HYPERLINK(\"http://evil\")", "+1", -5L],
                ["-2+3", "@SUM(A1)", -1.5],
                ["\tTab", "\rCR", -7],
                ["a=b", "-", 0L],
            ]);

        Assert.Equal(
            "country,poster_name,follower_count\r\n" +
            "\"'=HYPERLINK(\"\"http://evil\"\")\",'+1,-5\r\n" +
            "'-2+3,'@SUM(A1),-1.5\r\n" +
            "'\tTab,\"'\rCR\",-7\r\n" +
            "a=b,'-,0\r\n",
            InsightFiles.ToCsv(hostile));
        // JSON is data, not a spreadsheet: values stay as they are.
        using var doc = JsonDocument.Parse(InsightFiles.ToJson(hostile));
        Assert.Equal("=HYPERLINK(\"http://evil\")", doc.RootElement[0].GetProperty("country").GetString());
    }

    [Fact]
    public void Json_is_an_array_of_objects_with_numbers_as_numbers_and_nulls_as_null()
    {
        using var doc = JsonDocument.Parse(InsightFiles.ToJson(Countries));

        var rows = doc.RootElement.EnumerateArray().ToList();
        Assert.Equal(4, rows.Count);
        Assert.Equal(["country", "category", "category_count"], rows[0].EnumerateObject().Select(p => p.Name));
        Assert.Equal("Korea, Republic of", rows[0].GetProperty("country").GetString());
        Assert.Equal(JsonValueKind.Number, rows[0].GetProperty("category_count").ValueKind);
        Assert.Equal(12, rows[0].GetProperty("category_count").GetInt64());
        Assert.Equal("say \"hi\"", rows[1].GetProperty("category").GetString());
        Assert.Equal("Côte d'Ivoire", rows[1].GetProperty("country").GetString());
        Assert.Equal("Line\r\nbreak", rows[2].GetProperty("country").GetString());
        Assert.Equal(JsonValueKind.Null, rows[2].GetProperty("category").ValueKind);
        Assert.Equal("", rows[3].GetProperty("country").GetString());

        using var years = JsonDocument.Parse(InsightFiles.ToJson(Years));
        Assert.Equal(2015, years.RootElement[0].GetProperty("post_year").GetInt32());
        Assert.Equal(long.MaxValue, years.RootElement[1].GetProperty("number_users_joined").GetInt64());
    }

    [Fact]
    public async Task WriteAsync_writes_a_csv_and_a_json_per_insight_named_by_number_and_name()
    {
        using var dir = new TempDirectory("insight-files");
        var target = Path.Combine(dir.Path, "run-1", "insights");

        var paths = await InsightFiles.WriteAsync(target, [Countries, Years]);

        Assert.Equal(
            [
                Path.Combine(target, "01-popular-category-per-country.csv"),
                Path.Combine(target, "01-popular-category-per-country.json"),
                Path.Combine(target, "07-users-joined-per-year.csv"),
                Path.Combine(target, "07-users-joined-per-year.json"),
            ],
            paths);
        var bytes = await File.ReadAllBytesAsync(paths[0]);
        Assert.False(bytes.AsSpan().StartsWith(Encoding.UTF8.Preamble), "no byte order mark");
        Assert.Equal(InsightFiles.ToCsv(Countries), Encoding.UTF8.GetString(bytes));
        Assert.Equal(InsightFiles.ToJson(Countries), await File.ReadAllBytesAsync(paths[1]));
        Assert.Equal("post_year,number_users_joined\r\n2015,3\r\n2020,9223372036854775807\r\n", await File.ReadAllTextAsync(paths[2]));
        Assert.Equal(2, JsonDocument.Parse(await File.ReadAllBytesAsync(paths[3])).RootElement.GetArrayLength());
    }

    [Fact]
    public async Task An_empty_result_writes_a_header_only_csv_and_an_empty_json_array()
    {
        using var dir = new TempDirectory("insight-files");
        var empty = Years with { Rows = [] };

        var paths = await InsightFiles.WriteAsync(dir.Path, [empty]);

        Assert.Equal("post_year,number_users_joined\r\n", await File.ReadAllTextAsync(paths[0]));
        Assert.Equal("[]", await File.ReadAllTextAsync(paths[1]));
    }

    [Fact]
    public async Task A_row_with_the_wrong_number_of_values_is_refused_before_anything_is_written()
    {
        using var dir = new TempDirectory("insight-files");
        var bad = Years with { Rows = [[2015, 3L], [2016]] };

        var ex = await Assert.ThrowsAsync<ArgumentException>(() => InsightFiles.WriteAsync(dir.Path, [Countries, bad]));

        Assert.Contains("#7 (users-joined-per-year): row 1 has 1 values for 2 columns", ex.Message, StringComparison.Ordinal);
        Assert.Empty(Directory.EnumerateFiles(dir.Path));
    }
}
