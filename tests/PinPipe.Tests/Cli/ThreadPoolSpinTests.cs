using PinPipe.Cli;

namespace PinPipe.Tests.Cli;

/// <summary>Which commands run with the thread pool's spinning off, and that the runtime's own settings win.</summary>
public sealed class ThreadPoolSpinTests
{
    private static string? NoEnvironment(string name) => null;

    [Theory]
    [InlineData("serve")]
    [InlineData("sink")]
    [InlineData("stream")]
    [InlineData("emulate")]
    [InlineData("up")]
    [InlineData("schedule")]
    public void The_long_running_commands_turn_the_spinning_off(string command) =>
        Assert.True(ThreadPoolSpin.TurnsOff(command, configured: null, NoEnvironment));

    [Theory]
    [InlineData("batch")]
    [InlineData("verify")]
    [InlineData("seed")]
    [InlineData("topics")]
    [InlineData("pinpipe")]
    public void Other_commands_keep_the_runtime_default(string command) =>
        Assert.False(ThreadPoolSpin.TurnsOff(command, configured: null, NoEnvironment));

    [Theory]
    [InlineData("DOTNET_ThreadPool_UnfairSemaphoreSpinLimit")]
    [InlineData("COMPlus_ThreadPool_UnfairSemaphoreSpinLimit")]
    public void The_environment_s_setting_wins(string variable) =>
        Assert.False(ThreadPoolSpin.TurnsOff("serve", configured: null, name => name == variable ? "70" : null));

    [Fact]
    public void A_runtimeconfig_setting_wins() =>
        Assert.False(ThreadPoolSpin.TurnsOff("serve", configured: "70", NoEnvironment));

    [Fact]
    public void Every_command_named_is_a_command_of_the_cli()
    {
        var names = PinPipeCommandLine.Build().Subcommands.Select(c => c.Name).ToHashSet(StringComparer.Ordinal);
        Assert.All(ThreadPoolSpin.Commands, c => Assert.Contains(c, names));
    }

    [Fact]
    public void Parsing_a_command_line_names_the_command_the_spinning_is_decided_for() =>
        Assert.Equal("emulate", ThreadPoolSpin.CommandPath(PinPipeCommandLine.Build().Parse(["emulate", "--lane", "stream", "--rate", "10"])));

    [Fact]
    public void A_subcommand_is_named_by_its_whole_path_and_so_is_not_taken_for_a_long_running_command()
    {
        var topics = PinPipeCommandLine.Build().Subcommands.Single(c => c.Name == "topics");
        var sub = topics.Subcommands.First();
        string path = ThreadPoolSpin.CommandPath(PinPipeCommandLine.Build().Parse(["topics", sub.Name]));
        Assert.Equal("topics " + sub.Name, path);
        Assert.False(ThreadPoolSpin.TurnsOff(path, configured: null, NoEnvironment));
        Assert.False(ThreadPoolSpin.TurnsOff("topics serve", configured: null, NoEnvironment));
    }
}
