using System.CommandLine;
using PinPipe.Cli;
using PinPipe.Tests.Support;

namespace PinPipe.Tests.Cli;

/// <summary>
/// The flags that set a setting (<see cref="ConfigFlags"/>): a switch (<c>--full</c>, <c>--create-bucket</c>) is true alone and
/// takes <c>true</c>/<c>false</c> after it, help shows it without a value; other flags pass their text to the settings as typed.
/// </summary>
public sealed class ConfigFlagsTests
{
    private static (Command Command, ConfigFlags Flags) NewCommand()
    {
        var command = new Command("demo");
        var flags = new ConfigFlags();
        flags.Add<bool>(command, "--create-bucket", "ObjectStore:CreateBucket", "Create the bucket.");
        flags.Add<int>(command, "--threads", "Batch:Threads", "Threads.");
        return (command, flags);
    }

    [Theory]
    [InlineData(new[] { "--create-bucket" }, "true")]
    [InlineData(new[] { "--create-bucket", "false" }, "false")]
    [InlineData(new[] { "--create-bucket", "true" }, "true")]
    [InlineData(new[] { "--create-bucket", "False" }, "false")]
    public void A_switch_alone_is_true_and_takes_true_or_false_after_it(string[] args, string expected)
    {
        var (command, flags) = NewCommand();
        var result = command.Parse(args);

        Assert.Empty(result.Errors);
        var overrides = flags.Overrides(result);
        Assert.Equal(expected, overrides["ObjectStore:CreateBucket"]);
        Assert.False(overrides.ContainsKey("Batch:Threads"));
    }

    [Fact]
    public void A_switch_not_given_overrides_nothing_and_other_flags_pass_their_text_as_typed()
    {
        var (command, flags) = NewCommand();
        var result = command.Parse(["--threads", "abc"]);

        Assert.Empty(result.Errors);
        var overrides = flags.Overrides(result);
        Assert.Equal("abc", overrides["Batch:Threads"]);
        Assert.False(overrides.ContainsKey("ObjectStore:CreateBucket"));
    }

    [Fact]
    public void A_word_after_a_switch_that_is_not_true_or_false_is_not_taken_as_its_value()
    {
        var (command, flags) = NewCommand();
        var result = command.Parse(["--create-bucket", "maybe"]);

        Assert.Contains(result.Errors, e => e.Message.Contains("maybe", StringComparison.Ordinal));
        Assert.Equal("true", flags.Overrides(result)["ObjectStore:CreateBucket"]);
    }

    [Theory]
    [InlineData("batch", "--full")]
    [InlineData("serve", "--allow-anonymous")]
    [InlineData("sink", "--create-bucket")]
    public async Task Help_shows_a_switch_without_a_value(string commandName, string flag)
    {
        using var dir = new TempDirectory("cli");
        var (code, help) = await CliProcess.RunAsync(dir.Path, TimeSpan.FromSeconds(60), commandName, "--help");

        Assert.Equal(0, code);
        Assert.Contains($"  {flag}  ", help, StringComparison.Ordinal);
        Assert.DoesNotContain($"{flag} <", help, StringComparison.Ordinal);
    }
}
