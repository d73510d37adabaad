using DuckDB.NET.Data;
using PinPipe.DuckDb;

namespace PinPipe.Tests.DuckDb;

/// <summary>The quoting every stage uses, checked against a real DuckDB: what is quoted reaches DuckDB exactly as given.</summary>
public sealed class SqlTests : IDisposable
{
    private readonly DuckDBConnection _db = DuckDbSession.Open();

    public static TheoryData<string> Texts => new()
    {
        "",
        "plain",
        "it's",
        "''",
        "'; DROP TABLE t; --",
        "\"double\" quotes",
        @"back\slash \n not an escape",
        "line\nbreak\ttab\r",
        "$1 ? :name",
        "ünïcödé 日本語 ﷽",
        "emoji 😀 and 👩‍👩‍👧 (surrogate pairs, a ZWJ sequence)",
        "e\u0301 combining, \u200B zero width, \uFEFF BOM",
        "\u0001\u001F control",
    };

    [Theory]
    [MemberData(nameof(Texts))]
    public void A_literal_reads_back_as_the_same_text(string text)
    {
        string back = _db.Query($"SELECT {Sql.Literal(text)}", r => r.GetString(0)).Single();
        Assert.Equal(text, back);
    }

    [Theory]
    [MemberData(nameof(Texts))]
    public void An_identifier_names_the_same_column(string name)
    {
        if (name.Length == 0) return; // DuckDB has no empty names: see Empty_and_null_are_refused
        _db.Execute($"CREATE OR REPLACE TABLE t ({Sql.Identifier(name)} INTEGER)");
        Assert.Equal(name, _db.Query("SELECT column_name FROM information_schema.columns WHERE table_name = 't'", r => r.GetString(0)).Single());
        _db.Execute($"INSERT INTO t ({Sql.Identifier(name)}) VALUES (7)");
        Assert.Equal([7L], _db.QueryLongs($"SELECT {Sql.Identifier(name)} FROM t"));
    }

    [Fact]
    public void Quoting_doubles_the_quote_and_nothing_else()
    {
        Assert.Equal("'it''s'", Sql.Literal("it's"));
        Assert.Equal("'a\"b'", Sql.Literal("a\"b"));
        Assert.Equal("\"a\"\"b\"", Sql.Identifier("a\"b"));
        Assert.Equal("\"it's\"", Sql.Identifier("it's"));
        Assert.Equal("['a', 'b''c', '']", Sql.List(["a", "b'c", ""]));
        Assert.Equal("[]", Sql.List([]));
    }

    [Fact]
    public void A_list_reads_back_as_the_same_strings()
    {
        string[] items = ["x", "it's", "😀", "[1, 2]", ""];
        var back = _db.Query($"SELECT unnest({Sql.List(items)})", r => r.GetString(0));
        Assert.Equal(items, back);
    }

    [Theory]
    [InlineData("a\0b", "index 1")]
    [InlineData("\0", "index 0")]
    [InlineData("tail\0", "index 4")]
    public void A_NUL_is_refused_naming_where_it_is(string text, string where)
    {
        // DuckDB reads a statement up to its first NUL: quoted, "a\0b" would arrive as 'a and the rest be lost.
        var e = Assert.Throws<ArgumentException>(() => Sql.Literal(text));
        Assert.Contains("NUL", e.Message, StringComparison.Ordinal);
        Assert.Contains(where, e.Message, StringComparison.Ordinal);
        Assert.Equal("text", e.ParamName);
        e = Assert.Throws<ArgumentException>(() => Sql.Identifier(text));
        Assert.Contains("NUL", e.Message, StringComparison.Ordinal);
        Assert.Equal("name", e.ParamName);
        Assert.Throws<ArgumentException>(() => Sql.List(["ok", text]));
    }

    [Fact]
    public void An_unpaired_surrogate_is_refused_naming_where_it_is()
    {
        // Built here, not as theory data: attributes and the test runner's serialization would turn them into U+FFFD first.
        (string Text, string Where)[] cases =
        [
            ("\uD800", "U+D800 at index 0"),
            ("x\uDC00y", "U+DC00 at index 1"),
            ("ok \uD83D", "U+D83D at index 3"),
            ("\uDE00\uD83D", "U+DE00 at index 0"), // the halves of 😀 in the wrong order
        ];
        foreach (var (text, where) in cases)
        {
            // It has no UTF-8 form: DuckDB would get U+FFFD instead, a different string than the caller's.
            var e = Assert.Throws<ArgumentException>(() => Sql.Literal(text));
            Assert.Contains("surrogate", e.Message, StringComparison.Ordinal);
            Assert.Contains(where, e.Message, StringComparison.Ordinal);
            Assert.Throws<ArgumentException>(() => Sql.Identifier(text));
        }
        Assert.Equal("'\uD83D\uDE00'", Sql.Literal("\uD83D\uDE00")); // a pair is a character (😀)
    }

    [Fact]
    public void Empty_and_null_are_refused()
    {
        Assert.Throws<ArgumentException>(() => Sql.Identifier(""));
        Assert.Throws<ArgumentNullException>(() => Sql.Identifier(null!));
        Assert.Throws<ArgumentNullException>(() => Sql.Literal(null!));
        Assert.Throws<ArgumentNullException>(() => Sql.List(null!));
        Assert.Equal("''", Sql.Literal("")); // the empty string is a value
    }

    [Theory]
    [InlineData("t", "\"t\"")]
    [InlineData("_raw_1", "\"_raw_1\"")]
    [InlineData("main.t", "\"main\".\"t\"")]
    [InlineData("memory.main.t", "\"memory\".\"main\".\"t\"")]
    public void A_relation_name_is_quoted_part_by_part(string name, string sql)
    {
        Assert.Equal(sql, Sql.Relation(name, "table"));
    }

    [Theory]
    [InlineData("t; DROP TABLE t")]
    [InlineData("\"t\"")]
    [InlineData("a..b")]
    [InlineData(".t")]
    [InlineData("t.")]
    [InlineData("1t")]
    [InlineData("a.b.c.d")]
    [InlineData("t x")]
    [InlineData("tä")]
    [InlineData("t\0")]
    [InlineData("t\n")]
    public void Anything_else_is_not_a_relation_name(string name)
    {
        var e = Assert.Throws<ArgumentException>(() => Sql.Relation(name, "table"));
        Assert.Contains("is not a relation name", e.Message, StringComparison.Ordinal);
        Assert.Equal("table", e.ParamName);
    }

    [Theory]
    [InlineData("")]
    [InlineData("  ")]
    public void A_blank_relation_name_is_refused(string name)
    {
        var e = Assert.Throws<ArgumentException>(() => Sql.Relation(name, "table"));
        Assert.Equal("table", e.ParamName);
    }

    [Fact]
    public void A_quoted_relation_reads_the_table()
    {
        _db.Execute("CREATE TABLE main.r AS SELECT 42 AS v");
        Assert.Equal([42L], _db.QueryLongs($"SELECT v FROM {Sql.Relation("memory.main.r", "table")}"));
    }

    public void Dispose() => _db.Dispose();
}
