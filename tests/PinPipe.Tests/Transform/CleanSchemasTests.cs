using PinPipe.Transform;

namespace PinPipe.Tests.Transform;

public sealed class CleanSchemasTests
{
    [Fact]
    public void The_Delta_schemas_are_the_clean_schemas_of_SPEC_4()
    {
        Assert.Equal(
            "ind:long unique_id:string title:string description:string follower_count:long poster_name:string tag_list:string is_image_or_video:string image_src:string save_location:string category:string",
            string.Join(' ', CleanSchemas.ToDelta(CleaningRules.Schema(RecordKind.Pin)).Fields.Select(f => $"{f.Name}:{f.Type}")));
        Assert.Equal("ind:long country:string coordinates:array<double> timestamp:timestamp",
            string.Join(' ', CleanSchemas.ToDelta(CleaningRules.Schema(RecordKind.Geo)).Fields.Select(f => $"{f.Name}:{f.Type}")));
        Assert.Equal("ind:long user_name:string age:integer date_joined:timestamp",
            string.Join(' ', CleanSchemas.ToDelta(CleaningRules.Schema(RecordKind.User)).Fields.Select(f => $"{f.Name}:{f.Type}")));
    }
}
