using ElasticTrain.Pipeline;

namespace ElasticTrain.Tests.Pipeline;

public class ScheduleKindTests
{
    [Theory]
    [InlineData("gpipe", ScheduleKind.GPipe)]
    [InlineData("GPipe", ScheduleKind.GPipe)]
    [InlineData("1f1b", ScheduleKind.OneFOneB)]
    [InlineData(" 1F1B ", ScheduleKind.OneFOneB)]
    public void Schedule_names_are_read_whatever_their_case(string text, ScheduleKind expected) =>
        Assert.Equal(expected, ScheduleKinds.Parse(text));

    [Fact]
    public void An_unknown_schedule_name_is_refused_with_the_names_that_exist()
    {
        var error = Assert.Throws<ArgumentException>(() => ScheduleKinds.Parse("interleaved"));
        Assert.Contains("'interleaved'", error.Message);
        Assert.Contains("'gpipe' or '1f1b'", error.Message);
    }

    [Theory]
    [InlineData(ScheduleKind.GPipe, "gpipe")]
    [InlineData(ScheduleKind.OneFOneB, "1f1b")]
    public void A_schedules_name_reads_back_as_the_schedule(ScheduleKind kind, string name)
    {
        Assert.Equal(name, ScheduleKinds.Name(kind));
        Assert.Equal(kind, ScheduleKinds.Parse(ScheduleKinds.Name(kind)));
    }
}
