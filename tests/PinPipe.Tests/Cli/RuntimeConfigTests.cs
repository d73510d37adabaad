using System.Text.Json;

namespace PinPipe.Tests.Cli;

/// <summary>
/// The runtime settings the <c>pinpipe</c> command is built with (its <c>PinPipe.Cli.runtimeconfig.json</c>, copied beside
/// the tests): each is a decision (README, BENCHMARKS.md), and a change to one should be one too, not an accident.
/// </summary>
public sealed class RuntimeConfigTests
{
    private static JsonElement ConfigProperties()
    {
        string path = Path.Combine(AppContext.BaseDirectory, "PinPipe.Cli.runtimeconfig.json");
        Assert.True(File.Exists(path), $"{path} is missing: the tests reference the CLI project, whose build writes it");
        using var doc = JsonDocument.Parse(File.ReadAllText(path));
        return doc.RootElement.GetProperty("runtimeOptions").GetProperty("configProperties").Clone();
    }

    [Fact]
    public void Dynamic_PGO_is_off_so_a_jobs_first_seconds_do_not_compile_every_hot_method_once_more() =>
        Assert.False(ConfigProperties().GetProperty("System.Runtime.TieredPGO").GetBoolean());

    [Fact]
    public void The_garbage_collector_is_the_concurrent_workstation_one() // a process among several on a few cores
    {
        var properties = ConfigProperties();
        Assert.False(properties.GetProperty("System.GC.Server").GetBoolean());
        Assert.True(properties.GetProperty("System.GC.Concurrent").GetBoolean());
    }

    [Fact]
    public void The_first_generation_is_at_most_16_MiB_whatever_cache_the_machine_reports() =>
        Assert.Equal(16L << 20, ConfigProperties().GetProperty("System.GC.Gen0MaxBudget").GetInt64());
}
