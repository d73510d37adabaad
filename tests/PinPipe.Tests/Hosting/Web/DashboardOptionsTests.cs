using PinPipe.Configuration;
using PinPipe.Hosting;

namespace PinPipe.Tests.Hosting.Web;

/// <summary><c>Dashboard:Enabled</c>: on by default, a setting like any other (file, environment, flags), checked as a switch.</summary>
public sealed class DashboardOptionsTests
{
    private static readonly Dictionary<string, string?> None = [];

    [Fact]
    public void The_dashboard_is_on_by_default_and_the_environment_turns_it_off()
    {
        Assert.True(SettingsLoader.Load(null, None, None).Dashboard.Enabled);
        Assert.Contains("Dashboard:Enabled", new SettingsSchema(typeof(PinPipeSettings)).Keys);

        var off = SettingsLoader.Load(null, None, new Dictionary<string, string?> { ["PINPIPE_Dashboard__Enabled"] = "false" });

        Assert.False(off.Dashboard.Enabled);
    }

    [Fact]
    public void A_value_that_is_not_a_switch_or_a_misspelt_key_is_named()
    {
        var bad = Assert.Throws<SettingsException>(() => SettingsLoader.Load(null, new Dictionary<string, string?> { ["Dashboard:Enabled"] = "maybe" }, None));
        Assert.Contains("Dashboard:Enabled", bad.Message, StringComparison.Ordinal);

        var typo = Assert.Throws<SettingsException>(() => SettingsLoader.Load(null, new Dictionary<string, string?> { ["Dashboard:Enable"] = "false" }, None));
        Assert.Contains("did you mean Dashboard:Enabled?", typo.Message, StringComparison.Ordinal);
    }
}
