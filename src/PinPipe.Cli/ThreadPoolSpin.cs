using System.CommandLine;
using System.CommandLine.Parsing;

namespace PinPipe.Cli;

/// <summary>
/// Whether the thread pool's idle workers spin before they sleep. By default each idle .NET worker spins (calling
/// <c>sched_yield</c>) for a while before it blocks: that shortens the wait for the next work item on an idle machine,
/// and burns a core's share on a busy one. The long-running commands, whose work comes as a steady stream of small
/// asynchronous steps (requests, reads, micro-batches), run without it, so the cores go to the pipeline (figures in
/// BENCHMARKS.md, "Thread-pool spinning off").
/// </summary>
internal static class ThreadPoolSpin
{
    /// <summary>The runtime's setting: a runtimeconfig knob, <c>DOTNET_ThreadPool_UnfairSemaphoreSpinLimit</c> in the environment.</summary>
    internal const string Setting = "System.Threading.ThreadPool.UnfairSemaphoreSpinLimit";

    /// <summary>The commands that run with spinning off: the services and the emulator.</summary>
    internal static readonly string[] Commands = ["serve", "sink", "stream", "emulate", "up", "schedule"];

    /// <summary>
    /// Turns the spinning off for <see cref="Commands"/>, unless the runtime's configuration or the environment sets it.
    /// Runs before the thread pool starts its first worker, which reads the setting once.
    /// </summary>
    /// <param name="parse">The command line as parsed (parsing starts no thread-pool work).</param>
    public static void Apply(ParseResult parse)
    {
        if (TurnsOff(CommandPath(parse), AppContext.GetData(Setting), Environment.GetEnvironmentVariable)) AppContext.SetData(Setting, "0");
    }

    /// <summary>
    /// The parsed command's path below the root, its names joined by spaces (<c>serve</c>, <c>topics list</c>), so that a
    /// subcommand that shares a name with one of <see cref="Commands"/> is not taken for it.
    /// </summary>
    internal static string CommandPath(ParseResult parse)
    {
        var names = new List<string>();
        for (var result = parse.CommandResult; result.Parent is CommandResult parent; result = parent) names.Add(result.Command.Name);
        names.Reverse();
        return string.Join(' ', names);
    }

    /// <summary>Whether the command at <paramref name="command"/> (its path below the root) runs with spinning off, given what the runtime's configuration and the environment say.</summary>
    internal static bool TurnsOff(string command, object? configured, Func<string, string?> environment) =>
        configured is null
        && environment("DOTNET_ThreadPool_UnfairSemaphoreSpinLimit") is null
        && environment("COMPlus_ThreadPool_UnfairSemaphoreSpinLimit") is null
        && Commands.Contains(command, StringComparer.Ordinal);
}
