using PinPipe.Maintenance;

namespace PinPipe.Tests.Maintenance;

/// <summary>The <c>Maintenance</c> settings: the defaults and what is refused, naming the key.</summary>
public sealed class MaintenanceOptionsTests
{
    [Fact]
    public void The_defaults_are_a_daily_cron_and_a_week_of_retention_and_are_valid()
    {
        var options = new MaintenanceOptions();
        Assert.Equal("30 3 * * *", options.Cron);
        Assert.Equal(TimeSpan.FromDays(7), options.Retention);
        Assert.True(options.Optimize);
        Assert.Empty(options.Validate());
    }

    [Fact]
    public void A_bad_cron_and_a_retention_under_an_hour_are_refused_naming_their_keys()
    {
        var problems = new MaintenanceOptions { Cron = "61 * * * *", Retention = TimeSpan.FromMinutes(30) }.Validate();
        Assert.Equal(2, problems.Count);
        Assert.Equal("Maintenance:Cron: '61 * * * *': the minute 61 is out of range 0-59.", problems[0]);
        Assert.StartsWith("Maintenance:Retention: 30m must be at least 1 hour", problems[1], StringComparison.Ordinal);
        Assert.Empty(new MaintenanceOptions { Retention = TimeSpan.FromHours(1) }.Validate());
    }
}
