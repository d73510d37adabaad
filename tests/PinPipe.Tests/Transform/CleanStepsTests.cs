using PinPipe.DuckDb;
using PinPipe.Transform;

namespace PinPipe.Tests.Transform;

/// <summary>
/// <see cref="CleanSteps.Result"/>'s checks of the duplicates, on a real DuckDB stage table: the counts of a stage whose
/// duplicates were removed reconcile; a stage whose duplicates were not removed, or whose held keys were kept, fails with
/// what is wrong, instead of passing a clean table with a key twice on to a commit.
/// </summary>
public sealed class CleanStepsTests : IDisposable
{
    private const string Stage = "temp.main.stage";
    private const string Held = "temp.main.held";

    private static readonly string[] Lines =
    [
        """{"ind": 1, "timestamp": "2020-01-01 00:00:00", "latitude": 1.5, "longitude": 2.5, "country": "Albania"}""",
        """{"ind": 2, "timestamp": "2020-01-02 00:00:00", "latitude": 1.5, "longitude": 2.5, "country": "Albania"}""",
        """{"ind": 1, "timestamp": "2020-01-03 00:00:00", "latitude": 1.5, "longitude": 2.5, "country": "Albania"}""",
        """{"ind": 3, "timestamp": "2020-01-04 00:00:00", "latitude": 1.5, "longitude": 2.5, "country": "Albania"}""",
        "not json",
    ];

    private readonly TransformTestKit _kit = new();

    // The stream job's form: the clean rows are the stage's rows without a reason, once the duplicates are deleted.
    private readonly CleanSteps _steps = new(RecordKind.Geo, Stage, $"(SELECT * FROM {Stage} WHERE reason IS NULL)", "rejects");

    public CleanStepsTests()
    {
        _kit.CreateRaw("raw", Lines);
        _kit.Execute(CleaningRules.StageSql(RecordKind.Geo, "raw", Stage));
        _kit.Execute($"CREATE TEMP TABLE {Held} (ind BIGINT)");
    }

    public void Dispose() => _kit.Dispose();

    private long[] Counts() => _kit.Connection.QueryLongs(_steps.CountsSql);

    [Fact]
    public void With_the_duplicates_deleted_the_counts_reconcile()
    {
        long deleted = _kit.Connection.ExecuteChanged(_steps.DeleteDuplicatesSql(null));

        var result = _steps.Result(Counts(), rejectsWritten: 1, keyFilesRead: 0, keyFilesSkipped: 0, deleted, newKeys: 3);

        Assert.Equal(1, deleted);
        Assert.Equal((5L, 3L, 1L, 1L), (result.Read, result.Clean, result.Duplicates, result.Rejects));
        Assert.Equal(1, result.RejectsOf(RejectKinds.NotJson));
    }

    [Fact]
    public void A_key_twice_among_the_clean_rows_fails_the_counts()
    {
        // The duplicates' delete did not run: the stage's valid rows hold key 1 twice. Read = clean + duplicates + rejects
        // still holds (4 valid, 4 "clean", 0 duplicates); the distinct keys do not.
        var error = Assert.Throws<InvalidOperationException>(() => _steps.Result(Counts(), 1, 0, 0));

        Assert.Equal("Cleaning Geo does not reconcile: 4 clean rows but 3 distinct keys among them (duplicates kept).", error.Message);
    }

    [Fact]
    public void A_held_key_kept_among_the_clean_rows_fails_the_counts_given_the_new_keys()
    {
        // The target holds key 2; a delete that did not look at the held keys keeps it: 3 distinct clean rows, where the
        // valid keys the target did not hold are 2 (1 and 3).
        _kit.Execute($"INSERT INTO {Held} VALUES (2)");
        long deleted = _kit.Connection.ExecuteChanged(_steps.DeleteDuplicatesSql(null));

        var error = Assert.Throws<InvalidOperationException>(() => _steps.Result(Counts(), 1, 0, 0, deleted, newKeys: 2));

        Assert.Equal("Cleaning Geo does not reconcile: 3 clean rows but 2 valid keys the table did not hold (held keys kept).", error.Message);
    }

    [Fact]
    public void With_the_held_keys_deleted_the_counts_reconcile_with_the_new_keys()
    {
        _kit.Execute($"INSERT INTO {Held} VALUES (2)");
        long deleted = _kit.Connection.ExecuteChanged(_steps.DeleteDuplicatesSql(Held));

        var result = _steps.Result(Counts(), 1, 0, 0, deleted, newKeys: 2);

        Assert.Equal(2, deleted);
        Assert.Equal((5L, 2L, 2L, 1L), (result.Read, result.Clean, result.Duplicates, result.Rejects));
    }

    [Fact]
    public void A_new_key_lost_fails_the_counts_given_the_new_keys()
    {
        // Key 3 deleted as if the target held it, which it does not: 2 clean rows where 3 keys were new.
        _kit.Execute($"INSERT INTO {Held} VALUES (3)");
        long deleted = _kit.Connection.ExecuteChanged(_steps.DeleteDuplicatesSql(Held));

        var error = Assert.Throws<InvalidOperationException>(() => _steps.Result(Counts(), 1, 0, 0, deleted, newKeys: 3));

        Assert.Equal("Cleaning Geo does not reconcile: 2 clean rows but 3 valid keys the table did not hold (new keys lost).", error.Message);
    }

    [Fact]
    public void Rejects_the_reject_table_did_not_receive_fail_the_counts()
    {
        long deleted = _kit.Connection.ExecuteChanged(_steps.DeleteDuplicatesSql(null));

        var error = Assert.Throws<InvalidOperationException>(() => _steps.Result(Counts(), rejectsWritten: 0, 0, 0, deleted));

        Assert.Equal("Cleaning Geo does not reconcile: 1 rejects, but the reject table received 0 rows.", error.Message);
    }
}
