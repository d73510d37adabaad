namespace PinPipe.Lake.Delta;

/// <summary>A fresh folder under the system temp folder, deleted (with its files) on dispose.</summary>
internal sealed class TempFolder : IDisposable
{
    internal TempFolder(string prefix = "pinpipe-delta-") => Path = System.IO.Directory.CreateTempSubdirectory(prefix).FullName;

    internal string Path { get; }

    internal string File(string name) => System.IO.Path.Combine(Path, name);

    public void Dispose()
    {
        try { System.IO.Directory.Delete(Path, recursive: true); } catch (IOException) { } catch (UnauthorizedAccessException) { }
    }
}
