namespace PinPipe.DuckDb;

/// <summary>
/// Where CPU-bound DuckDB work runs when its caller hands it off: e.g. the threads of a lower CPU priority of the stream
/// job's compactions (<c>LowPriorityScheduler</c>). The caller awaits the result and goes on where the runner says.
/// </summary>
public interface IWorkRunner
{
    /// <summary>
    /// Runs <paramref name="work"/>; the task ends with its result or its failure, or cancelled when <paramref name="cancellationToken"/>
    /// is cancelled before the work starts or the work throws an <see cref="OperationCanceledException"/> for that token.
    /// </summary>
    Task<T> Run<T>(Func<T> work, CancellationToken cancellationToken = default);
}
