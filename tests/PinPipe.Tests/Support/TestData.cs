namespace PinPipe.Tests.Support;

/// <summary>Where the repository and the test data (tests/PinPipe.Tests/Data, copied to the output folder) are.</summary>
public static class TestData
{
    /// <summary>The repository root: the nearest parent folder holding PinPipe.slnx.</summary>
    public static string RepoRoot { get; } = FindRepoRoot();

    /// <summary><c>Data/</c> beside the test assembly; throws when the build did not copy it there.</summary>
    public static string Root => Directory.Exists(Path.Combine(AppContext.BaseDirectory, "Data", "fixtures"))
        && Directory.Exists(Path.Combine(AppContext.BaseDirectory, "Data", "delta"))
        ? Path.Combine(AppContext.BaseDirectory, "Data")
        : throw new InvalidOperationException(
            $"The test data is missing from {Path.Combine(AppContext.BaseDirectory, "Data")}: build tests/PinPipe.Tests, which copies tests/PinPipe.Tests/Data there.");

    /// <summary>The record fixtures: raw/, clean/, counts.json.</summary>
    public static string Fixtures => Path.Combine(Root, "fixtures");

    private static string FindRepoRoot()
    {
        var dir = new DirectoryInfo(AppContext.BaseDirectory);
        while (dir is not null && !File.Exists(Path.Combine(dir.FullName, "PinPipe.slnx"))) dir = dir.Parent;
        return dir?.FullName ?? throw new InvalidOperationException("PinPipe.slnx not found above " + AppContext.BaseDirectory);
    }
}
