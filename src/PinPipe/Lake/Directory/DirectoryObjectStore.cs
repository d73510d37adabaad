using System.IO.Enumeration;
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using PinPipe.Files;

namespace PinPipe.Lake.Directory;

/// <summary>
/// A bucket kept as a folder: the object <c>a/b.json</c> of bucket <c>B</c> is the file <c>root/B/a/b.json</c>.
/// </summary>
/// <remarks>
/// <see cref="PutAsync"/> writes a temporary file in the target's folder, fsyncs it, renames it over the
/// target (atomic) and fsyncs the folder, so a reader sees the old object or the new one and a completed put
/// survives a power loss. <see cref="PutIfAbsentAsync"/> publishes the temporary file with <c>link(2)</c>,
/// which fails atomically when the target exists, so of two concurrent writers exactly one wins.
/// Temporary files start with <c>.pinpipe-tmp-</c>, are never listed, and keys cannot name them.
/// A crash can leave a temporary file behind; it is invisible and harmless.
/// Folders are created 0700 and objects 0600 (<see cref="OwnerOnly"/>), whatever the umask.
/// </remarks>
public sealed class DirectoryObjectStore : IObjectStore
{
    private readonly string _bucketPath;

    /// <summary>Opens (and creates when missing) the folder <c>root/bucket</c>.</summary>
    public DirectoryObjectStore(string root, string bucket)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(root);
        ArgumentException.ThrowIfNullOrWhiteSpace(bucket);
        if (bucket.Contains('/', StringComparison.Ordinal) || bucket.Contains('\\', StringComparison.Ordinal) || bucket is "." or "..")
            throw new ArgumentException($"Invalid bucket name '{bucket}': it must be a single folder name.", nameof(bucket));
        _bucketPath = Path.GetFullPath(Path.Combine(root, bucket));
        OwnerOnly.CreateDirectory(_bucketPath);
    }

    /// <inheritdoc />
    public string Location => new Uri(_bucketPath).AbsoluteUri;

    /// <inheritdoc />
    public async ValueTask PutAsync(string key, ReadOnlyMemory<byte> content, CancellationToken cancellationToken = default)
    {
        string target = PathOf(key);
        string folder = Path.GetDirectoryName(target)!;
        string temp = await WriteTempAsync(folder, content, cancellationToken).ConfigureAwait(false);
        try
        {
            File.Move(temp, target, overwrite: true);
        }
        catch
        {
            TryDelete(temp);
            throw;
        }
        Native.FsyncDirectory(folder);
    }

    /// <inheritdoc />
    /// <remarks>
    /// Hard-links the file under a temporary name in the target's folder (a copy when the file is on another
    /// file system), fsyncs it, and renames it over the target: no bytes are copied when they can be shared.
    /// The caller must not change the file afterwards (it would change the object); deleting it is fine.
    /// </remarks>
    public async ValueTask PutFileAsync(string key, string localPath, CancellationToken cancellationToken = default)
    {
        string target = PathOf(key);
        string folder = Path.GetDirectoryName(target)!;
        OwnerOnly.CreateDirectory(folder);
        string temp = Path.Combine(folder, ObjectKeys.TempPrefix + Guid.NewGuid().ToString("N"));
        try
        {
            if (Native.TryLink(localPath, temp)) OwnerOnly.Restrict(temp); // a link has the writer's (DuckDB's) mode, made under the umask
            else await CopyAsync(localPath, temp, cancellationToken).ConfigureAwait(false);
            using (var handle = File.OpenHandle(temp, FileMode.Open, FileAccess.ReadWrite))
                RandomAccess.FlushToDisk(handle); // fsync
            File.Move(temp, target, overwrite: true);
        }
        catch
        {
            TryDelete(temp);
            throw;
        }
        Native.FsyncDirectory(folder);
    }

    private static async Task CopyAsync(string source, string destination, CancellationToken cancellationToken)
    {
        var input = new FileStream(source, FileMode.Open, FileAccess.Read, FileShare.Read, 1 << 16, FileOptions.Asynchronous | FileOptions.SequentialScan);
        await using (input.ConfigureAwait(false))
        {
            var options = OwnerOnly.Options(FileMode.CreateNew, FileAccess.Write, options: FileOptions.Asynchronous);
            options.BufferSize = 1 << 16;
            var output = new FileStream(destination, options);
            await using (output.ConfigureAwait(false))
                await input.CopyToAsync(output, cancellationToken).ConfigureAwait(false);
        }
    }

    /// <inheritdoc />
    /// <remarks>True: <c>link(2)</c> fails atomically when the target exists, for every process on a local file system.</remarks>
    public bool AtomicPutIfAbsent => true;

    /// <inheritdoc />
    public async ValueTask<bool> PutIfAbsentAsync(string key, ReadOnlyMemory<byte> content, CancellationToken cancellationToken = default)
    {
        string target = PathOf(key);
        if (File.Exists(target)) return false;
        string folder = Path.GetDirectoryName(target)!;
        string temp = await WriteTempAsync(folder, content, cancellationToken).ConfigureAwait(false);
        try
        {
            if (!Native.LinkNoReplace(temp, target)) return false;
        }
        finally
        {
            TryDelete(temp);
        }
        Native.FsyncDirectory(folder);
        return true;
    }

    /// <inheritdoc />
    public async ValueTask<byte[]?> GetAsync(string key, CancellationToken cancellationToken = default)
    {
        string path = PathOf(key);
        try
        {
            return await File.ReadAllBytesAsync(path, cancellationToken).ConfigureAwait(false);
        }
        catch (FileNotFoundException) { return null; }
        catch (DirectoryNotFoundException) { return null; }
    }

    /// <inheritdoc />
    /// <remarks>The object's file, opened for reading; a put that replaces the object meanwhile does not change what the stream reads.</remarks>
    public ValueTask<Stream?> OpenReadAsync(string key, CancellationToken cancellationToken = default)
    {
        string path = PathOf(key);
#pragma warning disable CA2000 // the caller disposes the stream
        return ValueTask.FromResult<Stream?>(TryOpenRead(path));
#pragma warning restore CA2000
    }

    private static FileStream? TryOpenRead(string path)
    {
        try
        {
            return new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.ReadWrite | FileShare.Delete, 1 << 16, FileOptions.Asynchronous | FileOptions.SequentialScan);
        }
        catch (FileNotFoundException) { return null; }
        catch (DirectoryNotFoundException) { return null; }
    }

    /// <inheritdoc />
    public ValueTask<bool> ExistsAsync(string key, CancellationToken cancellationToken = default) =>
        ValueTask.FromResult(File.Exists(PathOf(key)));

    /// <inheritdoc />
    public async IAsyncEnumerable<ObjectInfo> ListAsync(string prefix, [EnumeratorCancellation] CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(prefix);
        if (prefix.Contains('\\', StringComparison.Ordinal) || prefix.StartsWith('/'))
            throw new ArgumentException($"Invalid key prefix '{prefix}': use '/' as separator and no leading '/'.", nameof(prefix));
        // Walk only the deepest folder the prefix names entirely.
        int slash = prefix.LastIndexOf('/');
        string start = slash < 0 ? _bucketPath : Path.Combine(_bucketPath, prefix[..slash]);
        if (slash >= 0 && prefix[..slash].Split('/').Any(s => s is "" or "." or "..")) yield break;
        if (!System.IO.Directory.Exists(start)) yield break;

        var found = new List<ObjectInfo>();
        var options = new EnumerationOptions { RecurseSubdirectories = true, IgnoreInaccessible = false, AttributesToSkip = 0 };
        // The prefix's last part is a name prefix in that folder ("_delta_log/000000000000001234" of a log with a million
        // commits): entries of the folder itself whose names do not start with it are skipped where they are read, with no
        // path built, and their subfolders are not walked. Below a matching subfolder every entry matches.
        string namePrefix = prefix[(slash + 1)..];
        var files = new FileSystemEnumerable<string>(start, static (ref FileSystemEntry entry) => entry.ToFullPath(), options)
        {
            ShouldIncludePredicate = (ref FileSystemEntry entry) => !entry.IsDirectory && InPrefix(ref entry, namePrefix),
            ShouldRecursePredicate = (ref FileSystemEntry entry) => InPrefix(ref entry, namePrefix),
        };
        foreach (string file in files)
        {
            cancellationToken.ThrowIfCancellationRequested();
            if (Path.GetFileName(file).StartsWith(ObjectKeys.TempPrefix, StringComparison.Ordinal)) continue;
            string key = Path.GetRelativePath(_bucketPath, file).Replace(Path.DirectorySeparatorChar, '/');
            if (!key.StartsWith(prefix, StringComparison.Ordinal)) continue;
            var info = new FileInfo(file);
            if (!info.Exists) continue; // deleted while listing
            found.Add(new ObjectInfo(key, info.Length, new DateTimeOffset(info.LastWriteTimeUtc, TimeSpan.Zero)));
        }
        found.Sort(static (a, b) => string.CompareOrdinal(a.Key, b.Key));
        foreach (ObjectInfo info in found)
        {
            cancellationToken.ThrowIfCancellationRequested();
            yield return info;
        }
        await Task.CompletedTask.ConfigureAwait(false);
    }

    /// <summary>True for an entry below a subfolder (whose own name matched) or one of the listed folder's own whose name starts with <paramref name="namePrefix"/>.</summary>
    private static bool InPrefix(ref FileSystemEntry entry, string namePrefix) =>
        entry.Directory.Length != entry.RootDirectory.Length || entry.FileName.StartsWith(namePrefix, StringComparison.Ordinal);

    /// <inheritdoc />
    public ValueTask DeleteAsync(string key, CancellationToken cancellationToken = default)
    {
        string path = PathOf(key);
        try
        {
            File.Delete(path);
        }
        catch (DirectoryNotFoundException) { }
        return ValueTask.CompletedTask;
    }

    /// <inheritdoc />
    public string? LocalPath(string key) => PathOf(key);

    private string PathOf(string key)
    {
        ObjectKeys.Validate(key);
        return Path.Combine(_bucketPath, key.Replace('/', Path.DirectorySeparatorChar));
    }

    private static async Task<string> WriteTempAsync(string folder, ReadOnlyMemory<byte> content, CancellationToken cancellationToken)
    {
        OwnerOnly.CreateDirectory(folder);
        string temp = Path.Combine(folder, ObjectKeys.TempPrefix + Guid.NewGuid().ToString("N"));
        try
        {
            var stream = new FileStream(temp, OwnerOnly.Options(FileMode.CreateNew, FileAccess.Write, FileShare.None, FileOptions.Asynchronous, content.Length));
            await using (stream.ConfigureAwait(false))
            {
                await stream.WriteAsync(content, cancellationToken).ConfigureAwait(false);
#pragma warning disable CA1849 // Flush(flushToDisk: true) is the fsync; FlushAsync has no way to ask for it
                stream.Flush(flushToDisk: true); // fsync
#pragma warning restore CA1849
            }
            return temp;
        }
        catch
        {
            TryDelete(temp);
            throw;
        }
    }

    private static void TryDelete(string path)
    {
        try { File.Delete(path); } catch (IOException) { } catch (UnauthorizedAccessException) { }
    }

    /// <summary>The two POSIX calls .NET does not expose: fsync of a folder and link(2).</summary>
    private static class Native
    {
        private const int EEXIST = 17;

        [DllImport("libc", SetLastError = true, EntryPoint = "open")]
        [DefaultDllImportSearchPaths(DllImportSearchPath.System32)]
        private static extern int Open([MarshalAs(UnmanagedType.LPUTF8Str)] string path, int flags);

        [DllImport("libc", SetLastError = true, EntryPoint = "fsync")]
        [DefaultDllImportSearchPaths(DllImportSearchPath.System32)]
        private static extern int Fsync(int fd);

        [DllImport("libc", SetLastError = true, EntryPoint = "close")]
        [DefaultDllImportSearchPaths(DllImportSearchPath.System32)]
        private static extern int Close(int fd);

        [DllImport("libc", SetLastError = true, EntryPoint = "link")]
        [DefaultDllImportSearchPaths(DllImportSearchPath.System32)]
        private static extern int Link([MarshalAs(UnmanagedType.LPUTF8Str)] string oldPath, [MarshalAs(UnmanagedType.LPUTF8Str)] string newPath);

        /// <summary>Makes a rename or link in <paramref name="folder"/> durable (no-op on Windows, where NTFS journals it).</summary>
        internal static void FsyncDirectory(string folder)
        {
            if (OperatingSystem.IsWindows()) return;
            int fd = Open(folder, 0 /* O_RDONLY */);
            if (fd < 0) throw new IOException($"Cannot open folder '{folder}' to fsync it (errno {Marshal.GetLastPInvokeError()}).");
            try
            {
                if (Fsync(fd) != 0) throw new IOException($"fsync of folder '{folder}' failed (errno {Marshal.GetLastPInvokeError()}).");
            }
            finally
            {
                _ = Close(fd);
            }
        }

        /// <summary>Links <paramref name="source"/> as <paramref name="target"/>; false when it cannot (another file system, no permission).</summary>
        internal static bool TryLink(string source, string target)
        {
            if (OperatingSystem.IsWindows()) return false;
            if (!File.Exists(source)) throw new FileNotFoundException($"No file '{source}' to put.", source);
            return Link(source, target) == 0;
        }

        /// <summary>Publishes <paramref name="source"/> as <paramref name="target"/> unless it exists; false when it exists.</summary>
        internal static bool LinkNoReplace(string source, string target)
        {
            if (OperatingSystem.IsWindows())
            {
                try
                {
                    File.Move(source, target, overwrite: false); // MoveFileEx without REPLACE_EXISTING: atomic on NTFS
                    return true;
                }
                catch (IOException) when (File.Exists(target)) { return false; }
            }
            if (Link(source, target) == 0) return true;
            int errno = Marshal.GetLastPInvokeError();
            if (errno == EEXIST) return false;
            throw new IOException($"link('{source}', '{target}') failed (errno {errno}).");
        }
    }
}
