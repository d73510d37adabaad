using PinPipe.Observability;

namespace PinPipe.Batch;

/// <summary>Records a batch run's outcome, duration, records per table and quality counts (<see cref="PinPipeMetrics"/>).</summary>
internal static class BatchMetrics
{
    public static void Succeeded(BatchRunResult result, DateTimeOffset endedAt)
    {
        string outcome = result.NothingNew ? "nothing_new" : "success";
        Ended(outcome, result.Duration, endedAt);
        foreach (var t in result.Tables)
        {
            PinPipeMetrics.BatchRows.WithLabels(t.Table, "read").Set(t.Clean.Read);
            PinPipeMetrics.BatchRows.WithLabels(t.Table, "clean").Set(t.Clean.Clean);
            PinPipeMetrics.BatchRows.WithLabels(t.Table, "duplicates").Set(t.Clean.Duplicates);
            PinPipeMetrics.BatchRows.WithLabels(t.Table, "rejects").Set(t.Clean.Rejects);
            PinPipeMetrics.BatchTableRows.WithLabels(t.Table).Set(t.Rows);
            foreach (var q in t.Clean.Quality) PinPipeMetrics.BatchQuality.WithLabels(t.Table, q.Column, q.Rule).Set(q.Count);
            foreach (var r in t.Clean.RejectReasons) PinPipeMetrics.BatchRejects.WithLabels(t.Table, r.Kind).Set(r.Count);
        }
    }

    public static void Failed(TimeSpan duration, DateTimeOffset endedAt) => Ended("failed", duration, endedAt);

    private static void Ended(string outcome, TimeSpan duration, DateTimeOffset endedAt)
    {
        PinPipeMetrics.BatchRuns.WithLabels(outcome).Inc();
        PinPipeMetrics.BatchDuration.WithLabels(outcome).Observe(duration.TotalSeconds);
        PinPipeMetrics.BatchLastRun.WithLabels(outcome).Set(endedAt.ToUnixTimeMilliseconds() / 1000.0);
    }
}
