using PinPipe.Transform;

namespace PinPipe.Tests.Transform;

/// <summary>The junk markers of SPEC §4 as Transform's list, and the cleaning rules applying exactly that list, against the real DuckDB.</summary>
public sealed class JunkMarkersTests : IDisposable
{
    private readonly TransformTestKit _kit = new();

    public void Dispose() => _kit.Dispose();

    /// <summary>Every (column, marker) pair of the list.</summary>
    public static TheoryData<string, string> Pairs => TheoryOf(JunkMarkers.ByColumn.SelectMany(c => c.Value.Select(m => (c.Key, m))));

    /// <summary>Every (column with markers, marker of another column that this column does not have).</summary>
    public static TheoryData<string, string> ForeignPairs => TheoryOf(
        from column in JunkMarkers.ByColumn.Keys
        from marker in JunkMarkers.ByColumn.Values.SelectMany(m => m).Distinct()
        where !JunkMarkers.ByColumn[column].Contains(marker)
        select (column, marker));

    private static TheoryData<string, string> TheoryOf(IEnumerable<(string Column, string Marker)> pairs)
    {
        var data = new TheoryData<string, string>();
        foreach (var (column, marker) in pairs) data.Add(column, marker);
        return data;
    }

    /// <summary>A valid pin record (<see cref="CleaningRulesTests"/>'s) with <paramref name="value"/> in <paramref name="column"/>.</summary>
    private static string Pin(long index, string column, string value) => CleaningRulesTests.Pin(index, o => o[column] = value);

    [Fact]
    public void The_list_is_SPEC_section_4s_pin_rule_2_column_by_column()
    {
        var spec = new Dictionary<string, string[]>
        {
            ["title"] = ["No Title Data Available"],
            ["description"] = ["No description available Story format", "No description available", "Untitled"],
            ["poster_name"] = ["User Info Error"],
            ["follower_count"] = ["User Info Error"],
            ["tag_list"] = ["N,o, ,T,a,g,s, ,A,v,a,i,l,a,b,l,e"],
            ["image_src"] = ["Image src error."],
        };
        Assert.Equal(spec.Keys.Order(StringComparer.Ordinal), JunkMarkers.ByColumn.Keys.Order(StringComparer.Ordinal));
        Assert.All(spec, c => Assert.Equal(c.Value, JunkMarkers.ByColumn[c.Key]));
    }

    [Fact]
    public void The_cleaning_rules_have_a_junk_rule_for_exactly_the_columns_of_the_list()
    {
        var columns = CleaningRules.QualityRulesOf(RecordKind.Pin).Where(q => q.Rule == QualityRules.JunkNulled).Select(q => q.Column);
        Assert.Equal(JunkMarkers.ByColumn.Keys.Order(StringComparer.Ordinal), columns.Order(StringComparer.Ordinal));
        Assert.All([RecordKind.Geo, RecordKind.User], kind => Assert.DoesNotContain(CleaningRules.QualityRulesOf(kind), q => q.Rule == QualityRules.JunkNulled));
    }

    [Theory]
    [MemberData(nameof(Pairs))]
    public async Task Cleaning_nulls_each_marker_of_the_list_in_its_column(string column, string marker)
    {
        var result = await _kit.CleanAsync(RecordKind.Pin, [Pin(1, column, marker), Pin(2, column, marker + " ")]);
        var rows = _kit.CleanRows(RecordKind.Pin);
        Assert.Null(rows[1][column]);
        Assert.Equal(1, result.QualityOf(column, QualityRules.JunkNulled)); // exact match only: not the second
        if (column == "follower_count") Assert.Equal(1, result.QualityOf(column, QualityRules.NotANumberNulled)); // but not a number
        else Assert.Equal(marker + " ", rows[2][column]);
    }

    [Theory]
    [MemberData(nameof(ForeignPairs))]
    public async Task A_marker_of_another_column_is_kept(string column, string marker)
    {
        var result = await _kit.CleanAsync(RecordKind.Pin, [Pin(1, column, marker)]);
        Assert.Equal(0, result.QualityOf(column, QualityRules.JunkNulled));
        if (column == "follower_count")
        {
            // Not junk there but not a number either (pin rule 3).
            Assert.Null(_kit.CleanRows(RecordKind.Pin)[1][column]);
            Assert.Equal(1, result.QualityOf(column, QualityRules.NotANumberNulled));
        }
        else
        {
            Assert.Equal(marker, _kit.CleanRows(RecordKind.Pin)[1][column]);
        }
    }
}
