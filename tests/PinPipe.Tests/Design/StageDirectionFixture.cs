// Two stages in miniature for StageDirectionTests: Early (first) uses Late (after it), which the check must report,
// naming this file and the lines marked "late use"; Late using Early is the allowed direction.

namespace PinPipe.Tests.Design.Fixture.Early
{
    internal sealed class EarlyThing
    {
        private Late.LateThing? _late; // late use: field

        [System.Diagnostics.CodeAnalysis.SuppressMessage("Performance", "CA1822", Justification = "A fixture for the stage checker: the instance members are the shape under test.")]
        public int Use() => new Late.LateThing().Value; // late use: body

        public int Keep(int x) => _late?.Value ?? x;

        public void Set(Late.LateThing? late) => _late = late; // late use: parameter
    }
}

namespace PinPipe.Tests.Design.Fixture.Late
{
    internal sealed class LateThing
    {
        [System.Diagnostics.CodeAnalysis.SuppressMessage("Performance", "CA1822", Justification = "A fixture for the stage checker: the instance members are the shape under test.")]
        public int Value => new Early.EarlyThing().Keep(1);
    }
}
