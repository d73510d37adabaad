namespace PinPipe.Tests.Support;

/// <summary>Where the shared contract (../shared beside the repository) lives.</summary>
public static class SharedPaths
{
    /// <summary>The repository root: the nearest parent folder holding PinPipe.slnx.</summary>
    public static string RepoRoot { get; } = FindRepoRoot();

    /// <summary><c>../shared</c> beside the repository, or TEST_PINPIPE_SHARED when set.</summary>
    public static string Shared => Environment.GetEnvironmentVariable("TEST_PINPIPE_SHARED") is { Length: > 0 } s
        ? s : Path.GetFullPath(Path.Combine(RepoRoot, "..", "shared"));

    public static string Fixtures => Path.Combine(Shared, "fixtures");

    private static string FindRepoRoot()
    {
        var dir = new DirectoryInfo(AppContext.BaseDirectory);
        while (dir is not null && !File.Exists(Path.Combine(dir.FullName, "PinPipe.slnx"))) dir = dir.Parent;
        return dir?.FullName ?? throw new InvalidOperationException("PinPipe.slnx not found above " + AppContext.BaseDirectory);
    }
}
