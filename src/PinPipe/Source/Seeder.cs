using System.Diagnostics;
using System.Threading.Channels;

namespace PinPipe.Source;

/// <summary>Progress of <see cref="Seeder.SeedAsync"/>.</summary>
/// <param name="RowsWritten">Posts written so far.</param>
/// <param name="TotalRows">Posts to write.</param>
/// <param name="Elapsed">Time since the start.</param>
/// <param name="RowsPerSecond">Posts written per second so far.</param>
/// <param name="Eta">Estimated time left, null before the first batch.</param>
public sealed record SeedProgress(long RowsWritten, long TotalRows, TimeSpan Elapsed, double RowsPerSecond, TimeSpan? Eta);

/// <summary>Fills a source database with <see cref="SyntheticData"/>.</summary>
public static class Seeder
{
    /// <summary>Posts per insert transaction.</summary>
    public const int BatchSize = 10_000;

    /// <summary>
    /// Replaces the database's data with posts 1..<paramref name="rows"/> of <paramref name="seed"/>: drops
    /// and creates the schema, then inserts in batches, generating them in parallel while earlier
    /// batches are written (a bounded channel keeps a few batches ahead). Returns the final progress.
    /// </summary>
    public static async ValueTask<SeedProgress> SeedAsync(ISourceDatabase db, long rows, int seed,
        IProgress<SeedProgress>? progress = null, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(db);
        ArgumentOutOfRangeException.ThrowIfNegative(rows);
        var clock = Stopwatch.StartNew();
        await db.DropSchemaAsync(cancellationToken).ConfigureAwait(false);
        await db.CreateSchemaAsync(cancellationToken).ConfigureAwait(false);

        var batches = Channel.CreateBounded<SourcePost[]>(new BoundedChannelOptions(4) { SingleReader = true, SingleWriter = true });
        using var stop = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        var producer = Task.Run(async () =>
        {
            try
            {
                await foreach (var batch in SyntheticData.GenerateBatchesAsync(seed, SyntheticData.FirstIndex, rows, BatchSize, stop.Token).ConfigureAwait(false))
                    await batches.Writer.WriteAsync(batch, stop.Token).ConfigureAwait(false);
                batches.Writer.Complete();
            }
#pragma warning disable CA1031 // the error completes the channel, so the reader rethrows it
            catch (Exception ex)
#pragma warning restore CA1031
            {
                batches.Writer.TryComplete(ex);
            }
        }, CancellationToken.None);

        var written = 0L;
        var last = new SeedProgress(0, rows, TimeSpan.Zero, 0, null);
        try
        {
            await foreach (var batch in batches.Reader.ReadAllAsync(cancellationToken).ConfigureAwait(false))
            {
                await db.InsertAsync(batch, cancellationToken).ConfigureAwait(false);
                written += batch.Length;
                var elapsed = clock.Elapsed;
                var rate = written / Math.Max(elapsed.TotalSeconds, 1e-9);
                last = new SeedProgress(written, rows, elapsed, rate, TimeSpan.FromSeconds((rows - written) / rate));
                progress?.Report(last);
            }
        }
        finally
        {
            await stop.CancelAsync().ConfigureAwait(false);
            await producer.ConfigureAwait(false);
        }
        if (rows == 0)
        {
            last = new SeedProgress(0, 0, clock.Elapsed, 0, TimeSpan.Zero);
            progress?.Report(last);
        }
        return last;
    }
}
