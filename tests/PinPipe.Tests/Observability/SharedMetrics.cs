namespace PinPipe.Tests.Observability;

/// <summary>
/// Tests of metrics whose label sets every pipeline of the process shares (the batch job's, by table): they run alone,
/// after the parallel tests, so that no other test's runs move the figures they read.
/// </summary>
[CollectionDefinition(Name, DisableParallelization = true)]
public sealed class SharedMetrics
{
    public const string Name = "process-wide metrics";
}
