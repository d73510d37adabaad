using PinPipe.Source;

namespace PinPipe.Tests.Emulation;

/// <summary>
/// An <see cref="ISourceDatabase"/> over a list in memory: the one accepted fake, used only by the
/// emulator's tests until the real source databases are merged. Keeps the interface's ordering rules.
/// </summary>
internal sealed class InMemorySourceDatabase(IEnumerable<SourcePost> posts) : ISourceDatabase
{
    private readonly Dictionary<long, SourcePost> _posts = posts.ToDictionary(p => p.Pin.Index);
    private int _getCalls;

    public string Provider => "memory";

    /// <summary>Calls of <see cref="GetPostsAsync"/> so far.</summary>
    public int GetCalls => Volatile.Read(ref _getCalls);

    /// <summary>Posts 1..<paramref name="count"/> (or only the indexes <paramref name="keep"/> accepts), every row filled in.</summary>
    public static InMemorySourceDatabase Generate(int count, Func<long, bool>? keep = null) =>
        new(Enumerable.Range(1, count).Select(i => (long)i).Where(i => keep?.Invoke(i) ?? true).Select(Post));

    public static SourcePost Post(long i) => new(
        new PinRow(i, $"uid-{i:D4}", i % 7 == 0 ? "Say \"hi\" — naïve café" : $"Title {i}", $"Description {i}\nline two", $"Poster {i % 13}",
            $"{i}k", "a,b,c", "image", $"https://example.test/{i}.jpg", (int)(i % 2), "Local save in /data/art", "art"),
        new GeoRow(i, new DateTime(2020, 1, 1, 0, 0, 0, DateTimeKind.Utc).AddMinutes(i), -89.9787 + i * 0.5, 10.0 + i, i % 5 == 0 ? "Côte d'Ivoire" : "Albania"),
        new UserRow(i, "Ann", i % 3 == 0 ? null : "Ali", 18 + (int)(i % 50), new DateTime(2015, 10, 24, 11, 23, 51, DateTimeKind.Utc)));

    public SourcePost this[long index] => _posts[index];

    public ValueTask CreateSchemaAsync(CancellationToken cancellationToken = default) => ValueTask.CompletedTask;

    public ValueTask DropSchemaAsync(CancellationToken cancellationToken = default)
    {
        _posts.Clear();
        return ValueTask.CompletedTask;
    }

    public ValueTask<long> CountPostsAsync(CancellationToken cancellationToken = default) => ValueTask.FromResult((long)_posts.Count);

    public ValueTask<(long Min, long Max)?> GetIndexRangeAsync(CancellationToken cancellationToken = default) =>
        ValueTask.FromResult<(long, long)?>(_posts.Count == 0 ? null : (_posts.Keys.Min(), _posts.Keys.Max()));

    public ValueTask InsertAsync(IReadOnlyList<SourcePost> posts, CancellationToken cancellationToken = default)
    {
        foreach (var p in posts) _posts[p.Pin.Index] = p;
        return ValueTask.CompletedTask;
    }

    public ValueTask<IReadOnlyList<SourcePost>> GetPostsAsync(IReadOnlyList<long> indexes, CancellationToken cancellationToken = default)
    {
        cancellationToken.ThrowIfCancellationRequested();
        Interlocked.Increment(ref _getCalls);
        IReadOnlyList<SourcePost> found = [.. indexes.Where(_posts.ContainsKey).Select(i => _posts[i])];
        return ValueTask.FromResult(found);
    }

    public ValueTask DisposeAsync() => ValueTask.CompletedTask;
}
