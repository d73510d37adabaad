namespace PinPipe.Configuration;

/// <summary>
/// The thread pool's floor of worker threads, for the stages whose work holds pool threads in synchronous calls (DuckDB's
/// statements, fsyncs). Below its floor the pool adds a thread only every half second or so once its queue stops moving,
/// so while the threads it has are held, work that would take a millisecond waits that long: the sink's flushes and their
/// offset commits, the stream job's micro-batches and compactions (BENCHMARKS.md).
/// </summary>
internal static class ThreadPoolFloor
{
    /// <summary>The most worker threads <see cref="Raise"/> asks for, however many pieces of work.</summary>
    internal const int Max = 64;

    /// <summary>The floor for <paramref name="pieces"/> pieces of work that each may hold two pool threads at once: the cores plus two a piece, at most <see cref="Max"/>.</summary>
    internal static int For(int pieces) => Math.Min(Max, Environment.ProcessorCount + 2 * Math.Max(0, pieces));

    /// <summary>Raises the pool's floor of worker threads to <see cref="For"/> <paramref name="pieces"/>; never lowers it.</summary>
    internal static void Raise(int pieces)
    {
        int wanted = For(pieces);
        ThreadPool.GetMinThreads(out int workers, out int completionPorts);
        if (workers < wanted) ThreadPool.SetMinThreads(wanted, completionPorts);
    }
}
