using System.Globalization;
using System.Text.Unicode;
using DuckDB.NET.Data;
using PinPipe.DuckDb;
using PinPipe.Lake;
using PinPipe.Lake.Delta;

namespace PinPipe.Transform;

/// <summary>
/// Loads the raw objects of a topic (SPEC §1: <c>topics/&lt;topic&gt;/partition=&lt;p&gt;/&lt;topic&gt;+&lt;p&gt;+&lt;startOffset&gt;.json</c>,
/// one JSON value per line) into a DuckDB table <c>(seq BIGINT, origin VARCHAR, line VARCHAR)</c>, the input of
/// <see cref="Cleaner.CleanAsync"/>.
/// </summary>
/// <remarks>
/// Line <c>i</c> (from 0) of the object starting at offset <c>o</c> of partition <c>p</c> gets origin
/// <c>&lt;topic&gt;/&lt;p&gt;/&lt;o + i&gt;</c>. seq orders records by (partition, offset): it is
/// <c>(rank of the object by partition and start offset) × 2³² + i</c>, increasing but not contiguous. Every line
/// is a record (an empty one is rejected by the cleaner) except the empty piece after the last newline, so an
/// object whose last line lacks a newline loses nothing and an empty object has no records. When the store
/// has local files (<see cref="IObjectStore.LocalPath"/>) DuckDB reads them itself (<c>read_text</c>, in
/// parallel); otherwise the loader streams the objects into temporary files first (<see cref="IObjectStore.GetFileAsync"/>), never holding one in memory. An object that is not UTF-8
/// (written by an older sink or another writer) is split into lines here, each line that is not UTF-8 replaced by
/// the envelope of its bytes (<see cref="RecordLine"/>), which the cleaner rejects as <c>invalid_utf8</c>.
/// </remarks>
public static class RawLoader
{
    private const string ObjectsTable = "temp.main._pinpipe_raw_objects";
    private const string PathsVariable = "pinpipe_raw_paths";
    private const int Fetches = 8;

    /// <summary>
    /// Loads every object under <c>&lt;topicsDir&gt;/&lt;topic&gt;/</c> into <paramref name="table"/> (created or replaced).
    /// </summary>
    public static async Task<RawLoadResult> LoadTopicAsync(
        DuckDBConnection connection, IObjectStore store, string topic, string table,
        string topicsDir = "topics", CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(store);
        ArgumentException.ThrowIfNullOrWhiteSpace(topic);
        ArgumentException.ThrowIfNullOrWhiteSpace(topicsDir);
        var keys = new List<string>();
        await foreach (ObjectInfo info in store.ListAsync($"{topicsDir.TrimEnd('/')}/{topic}/", cancellationToken).ConfigureAwait(false))
            keys.Add(info.Key);
        return await LoadObjectsAsync(connection, store, topic, keys, table, cancellationToken).ConfigureAwait(false);
    }

    /// <summary>
    /// Loads the objects <paramref name="keys"/> (any order, a repeated key counts once; each must be an object of <paramref name="topic"/>)
    /// into <paramref name="table"/> (created or replaced).
    /// </summary>
    /// <exception cref="ArgumentException">A key is not <c>.../partition=&lt;p&gt;/&lt;topic&gt;+&lt;p&gt;+&lt;offset&gt;.json</c> of the topic.</exception>
    /// <exception cref="FileNotFoundException">An object does not exist.</exception>
    public static async Task<RawLoadResult> LoadObjectsAsync(
        DuckDBConnection connection, IObjectStore store, string topic, IEnumerable<string> keys, string table,
        CancellationToken cancellationToken = default)
    {
        string target = Sql.Relation(table, nameof(table));
        RawObject[] objects = Begin(connection, store, topic, keys, cancellationToken);
        TempFolder? downloads = null;
        try
        {
            long bytes;
            (bytes, downloads) = await StageObjectsAsync(connection, store, objects, cancellationToken).ConfigureAwait(false);
            bool loaded;
            try
            {
                LoadLines(connection, target, cancellationToken);
                loaded = true;
            }
            catch (DuckDBException)
            {
                // DuckDB's read_text refuses a whole file that is not UTF-8 (an object of an older sink or another
                // writer): such objects are split into lines here instead, each invalid line an envelope. Any
                // other failure is DuckDB's to report.
                if (StageInvalidLocalObjects(connection, cancellationToken) == 0) throw;
                loaded = false;
            }
            if (!loaded) LoadLines(connection, target, cancellationToken);
            long records = connection.QueryLongs($"SELECT count(*) FROM {target}", cancellationToken)[0];
            return new RawLoadResult(table, objects.Length, records, bytes);
        }
        finally
        {
            // Clean-up, also when cancelled.
            connection.Execute($"DROP TABLE IF EXISTS {ObjectsTable}", CancellationToken.None);
            connection.Execute($"RESET VARIABLE {PathsVariable}", CancellationToken.None);
            downloads?.Dispose();
        }
    }

    /// <summary>
    /// The table <see cref="LoadObjectsParsedAsync"/> fills with the lines whose fields it read: <paramref name="table"/>
    /// with <c>_fields</c> appended.
    /// </summary>
    public static string FieldsTableOf(string table) => table + "_fields";

    /// <summary>
    /// Loads the objects <paramref name="keys"/> as <see cref="LoadObjectsAsync"/> does, but reads each line's fields for
    /// <paramref name="kind"/>'s rules with our own parser (<see cref="FieldReader"/>), an object per core at a time: the lines
    /// it reads go to <see cref="FieldsTableOf"/> (<c>seq, origin</c> and the text of each field, <c>f_&lt;name&gt;</c>; not the
    /// line, which <see cref="RawLoadResult.LinesOf"/> reads back for the few that are rejects),
    /// the others to <paramref name="table"/> (<c>seq, origin, line</c>), which DuckDB's JSON functions read. Both tables are
    /// created or replaced in the main schema; <see cref="Cleaner"/> takes them together and gives what it gives for the
    /// lines loaded by <see cref="LoadObjectsAsync"/>.
    /// </summary>
    /// <param name="table">A plain table name (no schema): the parser's connections share the main schema, not a temp one.</param>
    /// <param name="parallelism">Objects parsed at once; 0 = one per core.</param>
    public static async Task<RawLoadResult> LoadObjectsParsedAsync(
        DuckDBConnection connection, IObjectStore store, string topic, RecordKind kind, IEnumerable<string> keys, string table,
        int parallelism = 0, CancellationToken cancellationToken = default)
    {
        string lines = Sql.Identifier(table), fields = Sql.Identifier(FieldsTableOf(table));
        IReadOnlyList<string> names = new FieldReader(kind).Names;
        int columns = CleaningRules.Rules(kind).Fields.Count + 1; // the key and the rules' fields; the others are only counted
        RawObject[] objects = Begin(connection, store, topic, keys, cancellationToken);
        TempFolder? downloads = null;
        try
        {
            long bytes;
            (bytes, downloads) = await StageObjectsAsync(connection, store, objects, cancellationToken).ConfigureAwait(false);
            var staged = connection.Query($"SELECT ord, path, origin_prefix, start_offset FROM {ObjectsTable} ORDER BY ord",
                r => new StagedObject(r.GetInt32(0), r.GetString(1), r.GetString(2), r.GetInt64(3)), cancellationToken);
            connection.Execute($"CREATE OR REPLACE TABLE {lines} (seq BIGINT, origin VARCHAR, line VARCHAR)", cancellationToken);
            string fieldColumns = string.Join(", ", names.Take(columns).Select(n => Sql.Identifier("f_" + n) + " VARCHAR"));
            connection.Execute($"CREATE OR REPLACE TABLE {fields} (seq BIGINT, origin VARCHAR, {fieldColumns})", cancellationToken);

            long records = 0;
            int next = -1;
            int workers = Math.Max(1, Math.Min(parallelism > 0 ? parallelism : Environment.ProcessorCount, staged.Count));
            var parsing = Task.WhenAll(Enumerable.Range(0, workers).Select(_ => Task.Run(() =>
            {
                using var own = connection.Duplicate();
                if (own.State != System.Data.ConnectionState.Open) own.Open();
                using var fieldRows = own.CreateAppender(FieldsTableOf(table));
                using var lineRows = own.CreateAppender(table);
                var parser = new FieldReader(kind);
                int i;
                while ((i = Interlocked.Increment(ref next)) < staged.Count)
                {
                    cancellationToken.ThrowIfCancellationRequested();
                    Interlocked.Add(ref records, ParseObject(staged[i], parser, columns, fieldRows, lineRows));
                }
            }, cancellationToken)));
            try
            {
                await parsing.ConfigureAwait(false);
            }
            catch (DuckDBException) when (parsing.Exception?.InnerExceptions.OfType<DuckDBException>().FirstOrDefault(DuckDbSession.IsOutOfMemory) is { } outOfMemory)
            {
                // Every worker fails once memory runs out, some of them otherwise: the cause is the one to report.
                System.Runtime.ExceptionServices.ExceptionDispatchInfo.Throw(outOfMemory);
            }
            // The files stay until the result is disposed: the text of a line our parser read is read back from them, for a reject.
            var result = new RawLoadResult(table, objects.Length, records, bytes) { FieldsTable = FieldsTableOf(table), Files = staged.Select(o => o.Path).ToArray(), Owned = downloads };
            downloads = null;
            return result;
        }
        finally
        {
            connection.Execute($"DROP TABLE IF EXISTS {ObjectsTable}", CancellationToken.None);
            downloads?.Dispose();
        }
    }

    /// <summary>Checks a load's arguments, creates the objects table and returns the objects sorted by partition and offset.</summary>
    private static RawObject[] Begin(DuckDBConnection connection, IObjectStore store, string topic, IEnumerable<string> keys, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(connection);
        ArgumentNullException.ThrowIfNull(store);
        ArgumentException.ThrowIfNullOrWhiteSpace(topic);
        ArgumentNullException.ThrowIfNull(keys);
        if (connection.State != System.Data.ConnectionState.Open)
            throw new InvalidOperationException("The DuckDB connection must be open.");
        RawObject[] objects = keys.Distinct(StringComparer.Ordinal).Select(k => RawObject.Parse(k, topic)).Order().ToArray();
        connection.Execute($"CREATE OR REPLACE TEMP TABLE {ObjectsTable} (ord INTEGER, path VARCHAR, origin_prefix VARCHAR, start_offset BIGINT, content BLOB)", cancellationToken);
        return objects;
    }

    private sealed record StagedObject(int Ord, string Path, string OriginPrefix, long StartOffset);

    /// <summary>Splits one object into lines as <see cref="LoadLines"/> does and appends each to the fields or the lines table; returns its records.</summary>
    private static long ParseObject(StagedObject o, FieldReader parser, int columns, DuckDBAppender fieldRows, DuckDBAppender lineRows)
    {
        byte[] content = File.ReadAllBytes(o.Path);
        bool valid = Utf8.IsValid(content);
        Span<byte> origin = stackalloc byte[512];
        int prefix = System.Text.Encoding.UTF8.GetBytes(o.OriginPrefix, origin);
        long seqBase = (long)o.Ord << 32;
        long i = 0;
        int pos = 0;
        while (true)
        {
            int newline = content.AsSpan(pos).IndexOf((byte)'\n');
            int end = newline < 0 ? content.Length : pos + newline;
            if (newline < 0 && end == pos) break; // the empty piece after the last newline is no record
            Span<byte> line = content.AsSpan(pos, end - pos);
            if (!System.Buffers.Text.Utf8Formatter.TryFormat(o.StartOffset + i, origin[prefix..], out int digits))
                throw new InvalidOperationException("An origin does not fit its buffer.");
            Span<byte> originText = origin[..(prefix + digits)];
            long seq = seqBase + i;
            if (!valid && !Utf8.IsValid(line))
            {
                byte[] envelope = System.Text.Encoding.UTF8.GetBytes(RecordLine.ToText(line));
                lineRows.CreateRow().AppendValue(seq).AppendValue(originText).AppendValue(envelope.AsSpan()).EndRow();
            }
            else if (parser.TryRead(line))
            {
                var row = fieldRows.CreateRow().AppendValue(seq).AppendValue(originText);
                parser.AppendFields(row, line, columns);
                row.EndRow();
            }
            else
            {
                lineRows.CreateRow().AppendValue(seq).AppendValue(originText).AppendValue(line).EndRow();
            }
            i++;
            if (newline < 0) break;
            pos = end + 1;
        }
        return i;
    }

    /// <summary>Fills <paramref name="target"/> with one row per line of the staged objects (local files read by DuckDB, in parallel).</summary>
    private static void LoadLines(DuckDBConnection connection, string target, CancellationToken cancellationToken)
    {
        bool anyLocal = connection.QueryLongs($"SELECT count(*) FROM {ObjectsTable} WHERE path IS NOT NULL", cancellationToken)[0] > 0;
        if (anyLocal)
            connection.Execute($"SET VARIABLE {PathsVariable} = (SELECT list(path ORDER BY ord) FROM {ObjectsTable} WHERE path IS NOT NULL)", cancellationToken);
        string localFiles = $"""
            SELECT o.ord, o.origin_prefix, o.start_offset, t.content
            FROM read_text(getvariable('{PathsVariable}')) t JOIN {ObjectsTable} o ON o.path = t.filename
            UNION ALL
            """;
        // One record per line; the piece after the last newline is a record only when it is not empty.
        connection.Execute($"""
            CREATE OR REPLACE TABLE {target} AS
            WITH files AS (
                {(anyLocal ? localFiles : "")}
                SELECT ord, origin_prefix, start_offset, decode(content) AS content FROM {ObjectsTable} WHERE content IS NOT NULL
            ), lines AS (
                SELECT ord, origin_prefix, start_offset, unnest(parts) AS line, unnest(range(len(parts))) AS i, len(parts) AS n
                FROM (SELECT ord, origin_prefix, start_offset, string_split(content, chr(10)) AS parts FROM files)
            )
            SELECT (CAST(ord AS BIGINT) << 32) + i AS seq, origin_prefix || CAST(start_offset + i AS VARCHAR) AS origin, line
            FROM lines
            WHERE i < n - 1 OR line <> ''
            """, cancellationToken);
    }

    /// <summary>
    /// Finds the local objects that are not UTF-8 and stages their lines instead (<see cref="Utf8Lines"/>), as
    /// fetched content; returns how many there were.
    /// </summary>
    private static int StageInvalidLocalObjects(DuckDBConnection connection, CancellationToken cancellationToken)
    {
        var local = connection.Query($"SELECT ord, path FROM {ObjectsTable} WHERE path IS NOT NULL ORDER BY ord", r => (Ord: r.GetInt32(0), Path: r.GetString(1)), cancellationToken);
        var invalid = new System.Collections.Concurrent.ConcurrentBag<(int Ord, byte[] Content)>();
        Parallel.ForEach(local, new ParallelOptions { CancellationToken = cancellationToken }, o =>
        {
            byte[] content = File.ReadAllBytes(o.Path);
            if (!Utf8.IsValid(content)) invalid.Add((o.Ord, Utf8Lines(content)));
        });
        foreach (var (ord, content) in invalid)
            connection.Execute($"UPDATE {ObjectsTable} SET path = NULL, content = $1 WHERE ord = $2", [content, ord], cancellationToken);
        connection.Execute($"RESET VARIABLE {PathsVariable}", CancellationToken.None);
        return invalid.Count;
    }

    /// <summary>
    /// An object's content with every line that is not UTF-8 replaced by the envelope of its bytes
    /// (<see cref="RecordLine.ToText"/>, which the cleaning rules reject as <c>invalid_utf8</c>); the lines stay where they were.
    /// </summary>
    internal static byte[] Utf8Lines(ReadOnlySpan<byte> content)
    {
        using var result = new MemoryStream(content.Length + 64);
        bool first = true;
        foreach (var range in content.Split((byte)'\n'))
        {
            if (!first) result.WriteByte((byte)'\n');
            first = false;
            var line = content[range];
            if (Utf8.IsValid(line)) result.Write(line);
            else result.Write(System.Text.Encoding.UTF8.GetBytes(RecordLine.ToText(line)));
        }
        return result.ToArray();
    }

    /// <summary>
    /// Fills the objects table with each object's local file: the store's own (DuckDB reads it in place) or, for
    /// stores without local files, a download streamed into a temporary folder (a few at a time), which the caller
    /// deletes once the lines are loaded. Returns the bytes staged and that folder (null when nothing was downloaded).
    /// </summary>
    private static async Task<(long Bytes, TempFolder? Downloads)> StageObjectsAsync(DuckDBConnection connection, IObjectStore store, RawObject[] objects,
        CancellationToken cancellationToken)
    {
        long bytes = 0;
        var remote = new List<int>();
        TempFolder? downloads = null;
        try
        {
            using var appender = connection.CreateAppender("temp", "main", "_pinpipe_raw_objects");
            for (int ord = 0; ord < objects.Length; ord++)
            {
                RawObject o = objects[ord];
                string? path = store.LocalPath(o.Key);
                if (path is null || path.AsSpan().IndexOfAny("*?[{") >= 0) // read_text would take those as a glob
                {
                    remote.Add(ord);
                    continue;
                }
                var file = new FileInfo(path);
                if (!file.Exists) throw new FileNotFoundException($"Raw object '{o.Key}' does not exist in {store.Location}.", path);
                bytes += file.Length;
                appender.CreateRow().AppendValue(ord).AppendValue(path).AppendValue(o.OriginPrefix).AppendValue(o.StartOffset).AppendNullValue().EndRow();
            }

#pragma warning disable CA2000 // returned to the caller, who deletes it; deleted here on failure
            if (remote.Count > 0) downloads = new TempFolder();
#pragma warning restore CA2000
            for (int start = 0; start < remote.Count; start += Fetches)
            {
                int[] window = remote.Skip(start).Take(Fetches).ToArray();
                string[] paths = window.Select(i => downloads!.File(i.ToString("D8", CultureInfo.InvariantCulture) + ".json")).ToArray();
                bool[] found = await Task.WhenAll(window.Select((i, j) => store.GetFileAsync(objects[i].Key, paths[j], cancellationToken).AsTask())).ConfigureAwait(false);
                for (int j = 0; j < window.Length; j++)
                {
                    RawObject o = objects[window[j]];
                    if (!found[j]) throw new FileNotFoundException($"Raw object '{o.Key}' does not exist in {store.Location}.", o.Key);
                    bytes += new FileInfo(paths[j]).Length;
                    appender.CreateRow().AppendValue(window[j]).AppendValue(paths[j]).AppendValue(o.OriginPrefix).AppendValue(o.StartOffset).AppendNullValue().EndRow();
                }
            }
            return (bytes, downloads);
        }
        catch
        {
            downloads?.Dispose();
            throw;
        }
    }

    /// <summary>A raw object's key, partition and start offset; ordered by (partition, start offset).</summary>
    /// <summary>
    /// Lists a topic's raw objects: every key under <c>&lt;topicsDir&gt;/&lt;topic&gt;/</c> (<c>&lt;topic&gt;/</c> when
    /// <paramref name="topicsDir"/> is empty), the raw objects sorted by partition and start offset with their sizes, and
    /// the keys there that are not raw objects of the topic, each with why.
    /// </summary>
    internal static async Task<RawListing> ListTopicAsync(IObjectStore store, string? topicsDir, string topic, CancellationToken cancellationToken)
    {
        string prefix = string.IsNullOrWhiteSpace(topicsDir) ? $"{topic}/" : $"{topicsDir.TrimEnd('/')}/{topic}/";
        var listing = new RawListing();
        await foreach (ObjectInfo info in store.ListAsync(prefix, cancellationToken).ConfigureAwait(false))
        {
            try
            {
                listing.Objects.Add(RawObject.Parse(info.Key, topic));
                listing.Sizes[info.Key] = info.Size;
            }
            catch (ArgumentException ex)
            {
                listing.Strays.Add((info.Key, ex.Message));
            }
        }
        listing.Objects.Sort();
        return listing;
    }

    /// <summary>What <see cref="ListTopicAsync"/> found.</summary>
    internal sealed class RawListing
    {
        /// <summary>The raw objects, by partition and start offset.</summary>
        public List<RawObject> Objects { get; } = [];

        /// <summary>Each raw object's size in bytes, by key.</summary>
        public Dictionary<string, long> Sizes { get; } = new(StringComparer.Ordinal);

        /// <summary>Keys under the topic's folder that are not raw objects of it, with why.</summary>
        public List<(string Key, string Why)> Strays { get; } = [];
    }

    internal sealed record RawObject(string Key, int Partition, long StartOffset, string OriginPrefix) : IComparable<RawObject>
    {
        public int CompareTo(RawObject? other) =>
            other is null ? 1
            : Partition != other.Partition ? Partition.CompareTo(other.Partition)
            : StartOffset != other.StartOffset ? StartOffset.CompareTo(other.StartOffset)
            : string.CompareOrdinal(Key, other.Key);

        /// <summary>Parses <c>.../&lt;topic&gt;/partition=&lt;p&gt;/&lt;topic&gt;+&lt;p&gt;+&lt;startOffset&gt;.json</c>.</summary>
        public static RawObject Parse(string key, string topic)
        {
            ArgumentNullException.ThrowIfNull(key);
            string[] segments = key.Split('/');
            string? problem = null;
            int partition = -1;
            long start = -1;
            if (segments.Length < 3) problem = "it has fewer than three segments";
            else if (segments[^3] != topic) problem = $"its topic folder is '{segments[^3]}', not '{topic}'";
            else if (!segments[^2].StartsWith("partition=", StringComparison.Ordinal)
                     || !int.TryParse(segments[^2].AsSpan("partition=".Length), NumberStyles.None, CultureInfo.InvariantCulture, out partition))
                problem = $"its folder '{segments[^2]}' is not partition=<number>";
            else
            {
                string name = segments[^1];
                string head = $"{topic}+{partition}+";
                if (!name.StartsWith(head, StringComparison.Ordinal) || !name.EndsWith(".json", StringComparison.Ordinal)
                    || !long.TryParse(name.AsSpan(head.Length, name.Length - head.Length - ".json".Length), NumberStyles.None, CultureInfo.InvariantCulture, out start))
                    problem = $"its file name is not {head}<startOffset>.json";
            }
            if (problem is not null)
                throw new ArgumentException($"'{key}' is not a raw object key of topic '{topic}' (<topic>/partition=<p>/<topic>+<p>+<startOffset>.json): {problem}.", nameof(key));
            return new RawObject(key, partition, start, $"{topic}/{partition}/");
        }
    }
}

/// <summary>
/// What <see cref="RawLoader"/> loaded: the table, how many objects, records (lines) and bytes of raw JSON. Dispose it when
/// the records are cleaned: it may hold the downloaded objects its lines are read back from.
/// </summary>
public sealed record RawLoadResult(string Table, int Objects, long Records, long Bytes) : IDisposable
{
    /// <summary>Each object's file, by its rank (the high 32 bits of a record's seq); null when every line's text is in <see cref="Table"/>.</summary>
    internal IReadOnlyList<string>? Files { get; init; }

    /// <summary>What the result deletes when disposed (the downloaded objects).</summary>
    internal IDisposable? Owned { get; init; }

    /// <summary>
    /// The text of the records <paramref name="seqs"/> (lines our parser read, whose text no table holds), read back from
    /// their objects, each object once.
    /// </summary>
    internal IReadOnlyDictionary<long, string> LinesOf(IEnumerable<long> seqs)
    {
        var lines = new Dictionary<long, string>();
        if (Files is null) return lines;
        foreach (var byObject in seqs.Distinct().GroupBy(s => (int)(s >> 32)))
        {
            byte[] content = File.ReadAllBytes(Files[byObject.Key]);
            var wanted = byObject.ToDictionary(s => s & 0xFFFF_FFFFL);
            long i = 0;
            foreach (var range in content.AsSpan().Split((byte)'\n'))
            {
                if (wanted.TryGetValue(i++, out long seq)) lines[seq] = System.Text.Encoding.UTF8.GetString(content.AsSpan()[range]);
            }
        }
        return lines;
    }

    /// <inheritdoc />
    public void Dispose() => Owned?.Dispose();

    /// <summary>The table of the lines whose fields our parser read (<see cref="RawLoader.LoadObjectsParsedAsync"/>), null when DuckDB reads every line.</summary>
    public string? FieldsTable { get; init; }
}
