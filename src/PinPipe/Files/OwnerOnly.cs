using System.Text;

namespace PinPipe.Files;

/// <summary>
/// Creates files (0600) and folders (0700) that only their owner can read, whatever the umask: everything PinPipe
/// keeps under its data folder (the source database, the log, the bucket, the runs) goes through here. On Windows
/// files and folders get the default ACLs (inherited from the parent folder).
/// </summary>
/// <remarks>
/// The mode is given to <c>open(2)</c>/<c>mkdir(2)</c> at creation, so there is no moment when the file is readable by
/// others; a umask can only take bits away. Files and folders that already exist keep their mode. SQLite creates its
/// <c>-wal</c>, <c>-shm</c> and <c>-journal</c> files with the mode of the database file, which
/// <see cref="CreateFileIfMissing"/> creates first.
/// </remarks>
public static class OwnerOnly
{
    /// <summary>rw------- (0600).</summary>
    public const UnixFileMode FileMode = UnixFileMode.UserRead | UnixFileMode.UserWrite;

    /// <summary>rwx------ (0700).</summary>
    public const UnixFileMode FolderMode = UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute;

    /// <summary>Creates <paramref name="path"/> and every missing parent folder, each 0700.</summary>
    public static void CreateDirectory(string path)
    {
        if (OperatingSystem.IsWindows())
        {
            Directory.CreateDirectory(path);
            return;
        }
        var full = Path.TrimEndingDirectorySeparator(Path.GetFullPath(path));
        if (Directory.Exists(full)) return;
        // Directory.CreateDirectory(path, mode) gives the mode to the last folder only: parents are made one by one.
        var parent = Path.GetDirectoryName(full);
        if (!string.IsNullOrEmpty(parent)) CreateDirectory(parent);
        Directory.CreateDirectory(full, FolderMode);
    }

    /// <summary>Creates the folder that holds the file <paramref name="path"/> (and missing parents), each 0700.</summary>
    public static void CreateParentDirectory(string path)
    {
        var dir = Path.GetDirectoryName(Path.GetFullPath(path));
        if (!string.IsNullOrEmpty(dir)) CreateDirectory(dir);
    }

    /// <summary>Options for a <see cref="FileStream"/> that creates its file 0600 (<paramref name="mode"/> must be able to create).</summary>
    public static FileStreamOptions Options(System.IO.FileMode mode, FileAccess access, FileShare share = FileShare.None,
        FileOptions options = FileOptions.None, long preallocationSize = 0)
    {
        var o = new FileStreamOptions { Mode = mode, Access = access, Share = share, Options = options, PreallocationSize = preallocationSize };
        if (!OperatingSystem.IsWindows()) o.UnixCreateMode = FileMode;
        return o;
    }

    /// <summary>Creates (0600) or truncates <paramref name="path"/> and writes <paramref name="content"/>, as <see cref="File.WriteAllBytesAsync(string, byte[], CancellationToken)"/>.</summary>
    public static async Task WriteAllBytesAsync(string path, ReadOnlyMemory<byte> content, CancellationToken cancellationToken = default)
    {
        var stream = new FileStream(path, Options(System.IO.FileMode.Create, FileAccess.Write, options: FileOptions.Asynchronous));
        await using (stream.ConfigureAwait(false))
            await stream.WriteAsync(content, cancellationToken).ConfigureAwait(false);
    }

    /// <summary>
    /// Streams <paramref name="content"/> into <paramref name="path"/> (0600, created or replaced): written under a
    /// temporary name in the same folder and renamed when whole, so the path never holds a part; the temporary file is
    /// deleted when the copy fails or is cancelled.
    /// </summary>
    public static async Task WriteStreamAsync(string path, Stream content, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(content);
        string full = Path.GetFullPath(path);
        string temp = Path.Combine(Path.GetDirectoryName(full)!, $".{Path.GetFileName(full)}.{Guid.NewGuid():N}.part");
        try
        {
            var options = Options(System.IO.FileMode.CreateNew, FileAccess.Write, options: FileOptions.Asynchronous);
            options.BufferSize = 1 << 16;
            var output = new FileStream(temp, options);
            await using (output.ConfigureAwait(false))
                await content.CopyToAsync(output, 1 << 16, cancellationToken).ConfigureAwait(false);
            File.Move(temp, full, overwrite: true);
        }
        catch
        {
            try { File.Delete(temp); } catch (IOException) { } catch (UnauthorizedAccessException) { }
            throw;
        }
    }

    /// <summary>Creates (0600) or truncates <paramref name="path"/> and writes <paramref name="text"/> (no byte order mark).</summary>
    public static Task WriteAllTextAsync(string path, string text, Encoding encoding, CancellationToken cancellationToken = default) =>
        WriteAllBytesAsync(path, encoding.GetBytes(text), cancellationToken);

    /// <summary>
    /// Creates the empty file <paramref name="path"/> (0600) when it does not exist, so that a library that creates
    /// its files itself (SQLite) opens an owner-only file. An existing file is not opened at all (closing a second
    /// descriptor of a file would drop the POSIX locks SQLite holds on it).
    /// </summary>
    public static void CreateFileIfMissing(string path)
    {
        if (File.Exists(path)) return;
        try
        {
            using var _ = new FileStream(path, Options(System.IO.FileMode.CreateNew, FileAccess.Write, FileShare.ReadWrite));
        }
        catch (IOException) when (File.Exists(path)) { } // created meanwhile by someone else
    }

    /// <summary>Makes a file another library wrote (DuckDB's Parquet files) 0600.</summary>
    public static void Restrict(string path)
    {
        if (!OperatingSystem.IsWindows()) File.SetUnixFileMode(path, FileMode);
    }
}
