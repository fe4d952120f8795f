using ElasticTrain.Pipeline;

namespace ElasticTrain.Tests.Pipeline;

public class PipelineScheduleTests
{
    [Theory]
    [InlineData(ScheduleKind.GPipe)]
    [InlineData(ScheduleKind.OneFOneB)]
    public void Every_stage_forwards_then_backwards_each_micro_batch_exactly_once_in_micro_batch_order(ScheduleKind kind)
    {
        for (int stages = 1; stages <= 6; stages++)
            for (int microBatches = 1; microBatches <= 12; microBatches++)
            {
                var table = PipelineSchedule.Table(kind, stages, microBatches);
                for (int s = 0; s < stages; s++)
                {
                    var row = table[s].ToList();
                    var why = $"{kind} P={stages} M={microBatches}, stage {s}:\n{PipelineSchedule.Format(table)}";
                    Assert.True(row.Count == 2 * microBatches, why);
                    var forwards = row.Where(a => a.Kind == PipelineActionKind.Forward).Select(a => a.MicroBatch);
                    var backwards = row.Where(a => a.Kind == PipelineActionKind.Backward).Select(a => a.MicroBatch);
                    Assert.True(forwards.SequenceEqual(Enumerable.Range(0, microBatches)), why);
                    Assert.True(backwards.SequenceEqual(Enumerable.Range(0, microBatches)), why);
                    for (int m = 0; m < microBatches; m++)
                        Assert.True(row.IndexOf(PipelineAction.Forward(m)) < row.IndexOf(PipelineAction.Backward(m)), why);
                }
            }
    }

    [Fact]
    public void GPipe_runs_every_forward_before_the_first_backward_on_every_stage() =>
        Assert.Equal(
            "stage 0: F0 F1 F2 B0 B1 B2\n" +
            "stage 1: F0 F1 F2 B0 B1 B2\n",
            PipelineSchedule.Format(PipelineSchedule.Table(ScheduleKind.GPipe, stages: 2, microBatches: 3)));

    [Fact]
    public void OneFOneB_warms_up_with_one_forward_fewer_per_stage_down_the_pipeline_then_alternates() =>
        Assert.Equal(
            "stage 0: F0 F1 F2 F3 B0 F4 B1 F5 B2 B3 B4 B5\n" +
            "stage 1: F0 F1 F2 B0 F3 B1 F4 B2 F5 B3 B4 B5\n" +
            "stage 2: F0 F1 B0 F2 B1 F3 B2 F4 B3 F5 B4 B5\n" +
            "stage 3: F0 B0 F1 B1 F2 B2 F3 B3 F4 B4 F5 B5\n",
            PipelineSchedule.Format(PipelineSchedule.Table(ScheduleKind.OneFOneB, stages: 4, microBatches: 6)));

    [Fact]
    public void With_fewer_micro_batches_than_stages_OneFOneB_runs_the_early_stages_as_GPipe() =>
        Assert.Equal(
            "stage 0: F0 F1 B0 B1\n" +
            "stage 1: F0 F1 B0 B1\n" +
            "stage 2: F0 F1 B0 B1\n" +
            "stage 3: F0 B0 F1 B1\n",
            PipelineSchedule.Format(PipelineSchedule.Table(ScheduleKind.OneFOneB, stages: 4, microBatches: 2)));

    [Fact]
    public void Format_aligns_actions_in_columns_when_micro_batch_numbers_differ_in_width()
    {
        var lines = PipelineSchedule.Format(PipelineSchedule.Table(ScheduleKind.OneFOneB, stages: 11, microBatches: 11)).Split('\n');
        Assert.StartsWith("stage 0 : F0  F1  F2  F3  F4  F5  F6  F7  F8  F9  F10 B0  B1 ", lines[0]);
        Assert.StartsWith("stage 10: F0  B0  F1  B1 ", lines[10]);
    }

    [Theory]
    [InlineData(0, 4, 0, "stages")]
    [InlineData(2, 0, 0, "microBatches")]
    [InlineData(2, 4, -1, "stage")]
    [InlineData(2, 4, 2, "stage")]
    public void A_schedule_needs_a_stage_a_micro_batch_and_a_stage_index_inside_the_pipeline(int stages, int microBatches, int stage, string parameter)
    {
        var error = Assert.Throws<ArgumentOutOfRangeException>(() => PipelineSchedule.For(ScheduleKind.OneFOneB, stages, microBatches, stage));
        Assert.Equal(parameter, error.ParamName);
    }

    [Theory]
    [InlineData(1, 4, 0.0)]
    [InlineData(2, 8, 1.0 / 9)]
    [InlineData(4, 4, 3.0 / 7)]
    public void The_ideal_bubble_is_the_ramp_of_P_minus_1_slots_out_of_M_plus_P_minus_1(int stages, int microBatches, double expected) =>
        Assert.Equal(expected, PipelineSchedule.IdealBubble(stages, microBatches), 12);

    [Fact]
    public void Actions_print_in_the_table_notation_and_need_a_micro_batch_index()
    {
        Assert.Equal("F3", PipelineAction.Forward(3).ToString());
        Assert.Equal("B12", PipelineAction.Backward(12).ToString());
        Assert.Throws<ArgumentOutOfRangeException>(() => PipelineAction.Forward(-1));
    }
}
