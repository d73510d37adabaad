using Microsoft.Data.Sqlite;
using PinPipe.Log;
using PinPipe.Log.Sqlite;
using PinPipe.Tests.Support;

namespace PinPipe.Tests.Log.Sqlite;

/// <summary>
/// The group member contract on the embedded log: the first log a test opens is the producer of the file (it creates the
/// topics), each further one a consumer of the same file, as a worker process beside it would be.
/// </summary>
public sealed class SqliteGroupMemberContractTests : GroupMemberContract, IDisposable
{
    private readonly TempDirectory _dir = new("group-contract");
    private int _opened;

    protected override TimeSpan HeartbeatInterval => TimeSpan.FromMilliseconds(200);

    protected override async Task<ILog> OpenLogAsync() =>
        await SqliteLog.OpenAsync(new LogOptions
        {
            Path = _dir.File("log.db"),
            RetentionTime = null,
            Access = Interlocked.Increment(ref _opened) == 1 ? LogAccess.Producer : LogAccess.Consumer,
        });

    public void Dispose()
    {
        SqliteConnection.ClearAllPools();
        _dir.Dispose();
    }
}
