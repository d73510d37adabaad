using PinPipe.Source;

namespace PinPipe.Emulation;

/// <summary>
/// Turns source rows into the raw record JSON of SPEC §3; the emulator only sees this seam, and tests
/// may swap it. The default is the one encoder of the raw record shape, <see cref="SourceJson"/>.
/// </summary>
internal sealed record RecordEncoder(Func<PinRow, byte[]> Pin, Func<GeoRow, byte[]> Geo, Func<UserRow, byte[]> User)
{
    /// <summary>The encoder the emulator uses.</summary>
    public static RecordEncoder Default { get; } = new(SourceJson.Pin, SourceJson.Geo, SourceJson.User);
}
