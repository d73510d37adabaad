using System.CommandLine;
using Microsoft.Extensions.DependencyInjection;
using System.Runtime.InteropServices;
using Microsoft.Extensions.Logging;
using PinPipe.Configuration;
using PinPipe.Errors;
using PinPipe.Hosting;

namespace PinPipe.Cli;

/// <summary>What a command's body receives: the resolved settings, logging and the Ctrl-C token.</summary>
internal sealed record CliContext(PinPipeSettings Settings, ILoggerFactory LoggerFactory, TextWriter Out, TextWriter Error);

/// <summary>Exit codes of the CLI.</summary>
internal static class ExitCodes
{
    public const int Ok = 0;
    /// <summary>The command ran but failed (records lost, a part could not start, a run failed).</summary>
    public const int Failed = 1;
    /// <summary>The settings or flags are invalid; nothing was done.</summary>
    public const int BadSettings = 2;
    /// <summary>A dependency (a broker, a database, the object store, a port) cannot be reached or used now.</summary>
    public const int Unavailable = 3;
    /// <summary>Cancelled by Ctrl-C / SIGTERM before finishing.</summary>
    public const int Cancelled = 130;
}

/// <summary>Loads settings, sets up logging and turns exceptions into messages and exit codes, for every command.</summary>
internal static class CliRunner
{
    public static async Task<int> RunAsync(ParseResult parse, GlobalOptions global, ConfigFlags flags,
        Func<CliContext, CancellationToken, Task<int>> body, CancellationToken cancellationToken)
    {
        var error = Console.Error;
        PinPipeSettings settings;
        try
        {
            var overrides = flags.Overrides(parse);
            foreach (var (k, v) in global.Overrides(parse)) overrides[k] = v;
            settings = SettingsLoader.Load(parse.GetValue(global.Config), overrides, flagNames: flags.FlagNames().Concat(GlobalOptions.FlagNames).ToDictionary()).Resolve();
        }
        catch (SettingsException ex)
        {
            await error.WriteLineAsync(ex.Message).ConfigureAwait(false);
            return ExitCodes.BadSettings;
        }

        var level = parse.GetValue(global.Verbose) ? LogLevel.Debug : LogLevel.Information;
        using var loggerFactory = LoggerFactory.Create(b =>
        {
            b.SetMinimumLevel(level).AddFilter("Microsoft", LogLevel.Warning);
            // The host logs a failed start (a port in use) with its stack trace; the error line below says it once.
            b.AddFilter("Microsoft.Extensions.Hosting", level <= LogLevel.Debug ? LogLevel.Warning : LogLevel.None);
            b.AddSimpleConsole(o => { o.SingleLine = true; o.TimestampFormat = "HH:mm:ss "; });
            // Logs go to stderr: stdout carries results (tables, summaries) that users pipe.
            b.Services.Configure<Microsoft.Extensions.Logging.Console.ConsoleLoggerOptions>(o => o.LogToStandardErrorThreshold = LogLevel.Trace);
        });
        // Ctrl-C (SIGINT) and SIGTERM cancel the command; it stops cleanly (in-flight requests answered,
        // the log closed). A second signal is not caught: it ends the process at once.
        using var stop = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        PosixSignalRegistration? sigint = null, sigterm = null;
        void OnSignal(PosixSignalContext context)
        {
            context.Cancel = true;
            sigint?.Dispose();
            sigterm?.Dispose();
            stop.Cancel();
        }
        sigint = PosixSignalRegistration.Create(PosixSignal.SIGINT, OnSignal);
        sigterm = PosixSignalRegistration.Create(PosixSignal.SIGTERM, OnSignal);
        try
        {
            return await body(new CliContext(settings, loggerFactory, Console.Out, error), stop.Token).ConfigureAwait(false);
        }
        catch (OperationCanceledException) when (stop.IsCancellationRequested)
        {
            await error.WriteLineAsync("Cancelled.").ConfigureAwait(false);
            return ExitCodes.Cancelled;
        }
        catch (Exception ex) when (CliErrors.Describe(ex, settings) is { } failure)
        {
            // One line; the stack trace only with --verbose.
            await error.WriteLineAsync(failure.Line).ConfigureAwait(false);
            if (level <= LogLevel.Debug) await error.WriteLineAsync(ex.ToString()).ConfigureAwait(false);
            return failure.ExitCode;
        }
        finally
        {
            sigint.Dispose();
            sigterm.Dispose();
        }
    }
}

/// <summary>Options every command takes.</summary>
internal sealed class GlobalOptions
{
    public Option<string?> Config { get; } = new("--config") { Description = $"JSON settings file (default: ./{SettingsLoader.DefaultFileName} when present).", Recursive = true };
    public Option<string?> UserId { get; } = new("--user-id") { Description = "The pipeline's user id; topic, stream and bucket names derive from it. [config: UserId]", Recursive = true };
    public Option<string?> DataDir { get; } = new("--data-dir") { Description = "Folder for the embedded parts' files (default .pinpipe). [config: DataDir]", Recursive = true };
    public Option<bool> Verbose { get; } = new("--verbose", "-v") { Description = "Debug logging and full error details.", Recursive = true };

    public void AddTo(Command root)
    {
        root.Options.Add(Config);
        root.Options.Add(UserId);
        root.Options.Add(DataDir);
        root.Options.Add(Verbose);
    }

    /// <summary>The flag of each settings key these options set, named in settings problems.</summary>
    public static IReadOnlyDictionary<string, string> FlagNames { get; } = new Dictionary<string, string> { ["UserId"] = "--user-id", ["DataDir"] = "--data-dir" };

    public Dictionary<string, string?> Overrides(ParseResult parse)
    {
        var o = new Dictionary<string, string?>();
        if (parse.GetValue(UserId) is { } u) o["UserId"] = u;
        if (parse.GetValue(DataDir) is { } d) o["DataDir"] = d;
        return o;
    }
}
