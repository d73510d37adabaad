using DuckDB.NET.Data;
using PinPipe.Insights;

namespace PinPipe.Tests.Insights;

/// <summary>A fresh in-memory DuckDB holding empty clean tables (SPEC §4 schemas), with helpers to insert rows.</summary>
internal sealed class InsightDatabase : IDisposable
{
    public InsightDatabase(string timeZone = "UTC")
    {
        Connection = new DuckDBConnection("DataSource=:memory:");
        Connection.Open();
        Execute($"SET TimeZone = '{timeZone}'");
        Execute("""
            CREATE TABLE clean_pin (ind BIGINT, unique_id VARCHAR, title VARCHAR, description VARCHAR, follower_count BIGINT,
                poster_name VARCHAR, tag_list VARCHAR, is_image_or_video VARCHAR, image_src VARCHAR, save_location VARCHAR, category VARCHAR);
            CREATE TABLE clean_geo (ind BIGINT, country VARCHAR, coordinates DOUBLE[], "timestamp" TIMESTAMPTZ);
            CREATE TABLE clean_user (ind BIGINT, user_name VARCHAR, age INTEGER, date_joined TIMESTAMPTZ);
            """);
    }

    public DuckDBConnection Connection { get; }

    public void Execute(string sql, params object?[] parameters)
    {
        using var command = Connection.CreateCommand();
#pragma warning disable CA2100 // SQL written by the tests themselves
        command.CommandText = sql;
#pragma warning restore CA2100
        foreach (var p in parameters) command.Parameters.Add(new DuckDBParameter(p ?? DBNull.Value));
        command.ExecuteNonQuery();
    }

    public void Pin(long ind, string? category, string? poster = null, long? followers = null) =>
        Execute("INSERT INTO clean_pin VALUES (?, ?, 'title', 'description', CAST(? AS BIGINT), CAST(? AS VARCHAR), 'tags', 'image', 'https://i.example/x.jpg', '/data/' || coalesce(CAST(? AS VARCHAR), 'none'), CAST(? AS VARCHAR))",
            ind, Guid.NewGuid().ToString(), followers, poster, category, category);

    /// <summary>A geo row; <paramref name="timestamp"/> is DuckDB TIMESTAMPTZ text (no offset = UTC).</summary>
    public void Geo(long ind, string? country, string? timestamp = "2019-06-01 12:00:00") =>
        Execute("INSERT INTO clean_geo VALUES (?, CAST(? AS VARCHAR), [1.5, -2.5], CAST(CAST(? AS VARCHAR) AS TIMESTAMPTZ))", ind, country, timestamp);

    /// <summary>A user row; <paramref name="joined"/> is DuckDB TIMESTAMPTZ text (no offset = UTC).</summary>
    public void User(long ind, int? age, string? joined = "2017-06-01 12:00:00", string? name = "Ann Example") =>
        Execute("INSERT INTO clean_user VALUES (?, CAST(? AS VARCHAR), CAST(? AS INTEGER), CAST(CAST(? AS VARCHAR) AS TIMESTAMPTZ))", ind, name, age, joined);

    public Task<InsightResult> RunAsync(InsightQuery query) => InsightEngine.RunAsync(Connection, query);

    public void Dispose() => Connection.Dispose();
}
