namespace PinPipe.Emulation;

/// <summary>Which source rows the emulator posts, in which order (<c>Emulator:Order</c>; settings and flags name it in any case: <c>random</c>, <c>sequential</c>).</summary>
public enum EmulatorOrder
{
    /// <summary>
    /// Rows drawn at random, with repeats, as the original <c>user_posting_emulation.py</c> did (default): a long run posts
    /// the same posts again, which the cleaning drops as duplicates. <see cref="EmulatorOptions.Seed"/> repeats a run's draw.
    /// </summary>
    Random,

    /// <summary>
    /// Every row once, in the order of its index, from the lowest: a replay of the source, each post new to the pipeline
    /// (a backfill, or a load whose tables grow). The run ends after the last row, or before at <see cref="EmulatorOptions.Count"/>
    /// or <see cref="EmulatorOptions.Duration"/>.
    /// </summary>
    Sequential,
}
