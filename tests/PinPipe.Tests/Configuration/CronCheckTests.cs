using PinPipe.Configuration;

namespace PinPipe.Tests.Configuration;

/// <summary>What is wrong with a cron expression, naming the field and its range.</summary>
public sealed class CronCheckTests
{
    [Theory]
    [InlineData("61 * * * *", "the minute 61 is out of range 0-59")]
    [InlineData("0 24 * * *", "the hour 24 is out of range 0-23")]
    [InlineData("0 0 0 * *", "the day of month 0 is out of range 1-31")]
    [InlineData("0 0 32 * *", "the day of month 32 is out of range 1-31")]
    [InlineData("0 0 * 13 *", "the month 13 is out of range 1-12")]
    [InlineData("0 0 * * 8", "the day of week 8 is out of range 0-6 (or 7 for Sunday)")]
    [InlineData("0-61 * * * *", "the minute 61 is out of range 0-59")]
    [InlineData("0,5,70 * * * *", "the minute 70 is out of range 0-59")]
    [InlineData("*/0 * * * *", "the minute field '*/0' has the step '0'")]
    [InlineData("x * * * *", "the minute field 'x' has 'x', which is not a number in 0-59")]
    [InlineData("0 0 * *", "has 4 fields; a cron expression has 5 fields: minute (0-59)")]
    [InlineData("0 0 0 * * *", "has 6 fields")]
    public void Names_the_field_and_its_range(string cron, string expected)
    {
        var problem = CronCheck.Problem(cron);
        Assert.NotNull(problem);
        Assert.StartsWith($"Schedule:Cron: '{cron}'", problem, StringComparison.Ordinal);
        Assert.Contains(expected, problem, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("0 0 * * *")]
    [InlineData("*/15 9-17 * JAN-MAR MON-FRI")]
    [InlineData("0 0 L * *")]
    [InlineData("0 0 * * 7")]
    public void A_valid_expression_has_no_problem(string cron) => Assert.Null(CronCheck.Problem(cron));
}
