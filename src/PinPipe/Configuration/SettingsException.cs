using PinPipe.Errors;

namespace PinPipe.Configuration;

/// <summary>Settings that cannot be used; <see cref="Errors"/> names every problem.</summary>
public sealed class SettingsException(IReadOnlyList<string> errors, Exception? inner = null)
    : PinPipeException("settings.invalid", ErrorKind.BadInput,
        "Invalid settings:" + Environment.NewLine + string.Join(Environment.NewLine, errors.Select(e => "  " + e)), inner)
{
    public IReadOnlyList<string> Errors { get; } = errors;
}
