using System.Text;
using PinPipe.Transform;

namespace PinPipe.Tests.Transform;

/// <summary>
/// <see cref="KeptText"/>, where a micro-batch keeps the text of the records our parser read: each record's text comes
/// back by sequence, whatever page it landed on or however large it is, and a micro-batch reuses the pages of the last
/// one instead of allocating new ones.
/// </summary>
public sealed class MicroBatchRowsTests
{
    [Fact]
    public void Each_kept_record_comes_back_by_sequence_across_pages_and_beyond_a_page()
    {
        var kept = new KeptText();
        var texts = new Dictionary<long, string>();
        // Records of 1 to 3,000 bytes (several per page, so some pages end with room a record does not fit), one larger than a page, every third sequence skipped.
        for (long seq = 0; seq < 300; seq++)
        {
            if (seq % 3 == 1) continue;
            string text = seq == 150 ? new string('z', KeptText.PageBytes + 5) : $"{{\"ind\": {seq}, \"x\": \"{new string('a', (int)(seq * 10 % 3000))}é\"}}";
            kept.Add(seq, Encoding.UTF8.GetBytes(text));
            texts[seq] = text;
        }

        long[] asked = [0, 1, 2, 149, 150, 151, 152, 298, 299, 400];
        var back = kept.LinesOf(asked).ToList();

        Assert.Equal(asked.Where(texts.ContainsKey).ToArray(), back.Select(b => b.Seq).ToArray());
        foreach (var (seq, line) in back) Assert.Equal(texts[seq], line);
        Assert.Equal(texts.Count, kept.Count);
        Assert.True(kept.Pages > 5, $"{kept.Pages} pages for {texts.Values.Sum(t => t.Length):N0} bytes");
    }

    [Fact]
    public void A_micro_batch_reuses_the_last_ones_pages_and_at_most_the_kept_number_stays()
    {
        var kept = new KeptText();
        byte[] record = new byte[1000];
        Array.Fill(record, (byte)'a');
        for (int i = 0; i < 3_000; i++) kept.Add(i, record); // about 3 MB: 94 pages
        int pages = kept.Pages;

        kept.Clear();
        Assert.Equal(0, kept.Count);
        Assert.Empty(kept.LinesOf([0, 1]));
        for (int i = 0; i < 3_000; i++) kept.Add(i, record);
        Assert.Equal(pages, kept.Pages); // the same pages again, none added

        // A micro-batch beyond what is kept: its extra pages go at the next clear.
        kept.Clear();
        for (int i = 0; i < 20_000; i++) kept.Add(i, record);
        Assert.True(kept.Pages > KeptText.KeepPages, $"{kept.Pages} pages");
        kept.Clear();
        Assert.Equal(KeptText.KeepPages, kept.Pages);
    }
}
